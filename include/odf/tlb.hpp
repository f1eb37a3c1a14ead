// A per-process two-level data TLB (L1 dTLB, L2 STLB) with LRU sets, and page-walk caches for the upper levels.
// Entries hold the combined permission of the walk (RW and D), as the hardware does.
#pragma once

#include <cstdint>
#include <vector>

#include "odf/cost_model.hpp"
#include "odf/types.hpp"

namespace odf {

struct TlbEntry {
    std::uint64_t pfn = 0; // the 4 KiB frame (for a huge entry: the frame of the accessed 4 KiB page)
    bool writable = false;
    bool dirty = false;
};

enum class TlbHit : std::uint8_t { L1, L2, Miss };

class Tlb {
  public:
    explicit Tlb(const TlbGeometry& g);

    // Looks `vpn` up in L1 then L2 (4 KiB and 2 MiB entries); an L2 hit is copied into L1.
    TlbHit lookup(std::uint64_t vpn, TlbEntry& out);
    void insert(std::uint64_t vpn, const TlbEntry& e, bool huge);
    void set_dirty(std::uint64_t vpn);
    void flush_all();
    void flush_page(std::uint64_t vpn);
    // Page-walk caches: how many of the three upper levels (PML4E, PDPTE, PDE) a walk of `va` can skip.
    int pwc_lookup(std::uint64_t va) const;
    void pwc_fill(std::uint64_t va, bool pde_is_leaf);

  private:
    struct Array {
        int sets = 1;
        int ways = 1;
        std::vector<std::uint64_t> key; // 0: invalid; else (vpn << 1 | huge) + 1
        std::vector<std::uint64_t> pfn;
        std::vector<std::uint32_t> stamp;
        std::vector<std::uint8_t> bits; // 1: writable, 2: dirty
        void init(int entries, int ways_);
        int find(std::uint64_t k) const;
        int victim(std::uint64_t k) const;
    };
    static std::uint64_t key4k(std::uint64_t vpn) { return (vpn << 1) + 1; }
    static std::uint64_t key2m(std::uint64_t vpn) { return (((vpn >> 9) << 1) | 1) + 1; }
    bool find_in(Array& a, std::uint64_t vpn, TlbEntry& out, bool& huge);
    void put(Array& a, std::uint64_t k, std::uint64_t pfn, std::uint8_t bits);

    static constexpr std::uint64_t kHugeSpan = kHugePages;
    Array l1_;
    Array l2_;
    std::uint32_t clock_ = 0;
    bool any_huge_ = false;
    std::vector<std::uint64_t> pwc_[3]; // keys: va >> 39, va >> 30, va >> 21 (+1, 0 invalid)
    std::vector<std::uint32_t> pwc_next_;
};

} // namespace odf
