// A per-process two-level data TLB (L1 dTLB, L2 STLB) with LRU sets, and page-walk caches for the upper levels.
// Entries hold the combined permission of the walk (RW and D), as the hardware does.
#pragma once

#include "odf/cost_model.hpp"
#include "odf/types.hpp"

#include <cstdint>
#include <vector>

namespace odf {

struct TlbEntry {
    Pfn pfn; // the 4 KiB frame (for a huge entry: the frame of the accessed 4 KiB page)
    bool writable = false;
    bool dirty = false;
};

enum class TlbHit : std::uint8_t { L1, L2, Miss };

class Tlb {
  public:
    explicit Tlb(const TlbGeometry& g);

    // Looks `vpn` up in L1 then L2 (4 KiB and 2 MiB entries); an L2 hit is copied into L1.
    TlbHit lookup(PageNumber vpn, TlbEntry& out);
    void insert(PageNumber vpn, const TlbEntry& e, bool huge);
    void set_dirty(PageNumber vpn);
    void flush_all();
    void flush_page(PageNumber vpn);
    // Page-walk caches: how many of the three upper levels (PML4E, PDPTE, PDE) a walk of `va` can skip.
    [[nodiscard]] int pwc_lookup(VirtAddr va) const;
    void pwc_fill(VirtAddr va, bool pde_is_leaf);

  private:
    // One TLB level: `sets` sets of `ways` entries, exact LRU kept as a doubly linked list per set, so that a hit,
    // a fill and choosing a victim are O(1) whatever the associativity.
    struct Array {
        int sets = 1;
        int ways = 1;
        std::vector<std::uint64_t> key; // 0: invalid; else (vpn << 1 | huge) + 1
        std::vector<std::uint64_t> pfn; // Pfn::value (raw: the arrays are the hot path's storage)
        std::vector<std::uint8_t> bits; // 1: writable, 2: dirty
        std::vector<std::int32_t> prev;
        std::vector<std::int32_t> next;
        std::vector<std::int32_t> head; // most recently used way of each set
        std::vector<std::int32_t> tail; // least recently used
        void init(int entries, int ways_);
        [[nodiscard]] int set_of(std::uint64_t k) const {
            return static_cast<int>((k >> 1) % static_cast<std::uint64_t>(sets));
        }
        [[nodiscard]] int find(std::uint64_t k) const;
        void touch(int i);                    // make i the most recently used of its set
        void demote(int i);                   // make i the least recently used (after invalidation)
        void set_key(int i, std::uint64_t k); // replace the key of slot i, keeping the index exact

        // Highly associative arrays (more than kScanWays ways) keep an exact open-addressing index key -> slot,
        // so that a lookup is one probe instead of a scan of every way.
        static constexpr int kScanWays = 16;
        std::vector<std::uint64_t> idx_key; // 0: empty
        std::vector<std::int32_t> idx_slot;
        std::uint64_t idx_mask = 0;
        [[nodiscard]] bool indexed() const { return ways > kScanWays; }
        [[nodiscard]] std::uint64_t home(std::uint64_t k) const { return (k * 0x9e3779b97f4a7c15ULL) >> 40 & idx_mask; }
        void idx_insert(std::uint64_t k, int slot);
        void idx_erase(std::uint64_t k);
    };
    static std::uint64_t key4k(std::uint64_t vpn) { return (vpn << 1) + 1; }
    static std::uint64_t key2m(std::uint64_t vpn) { return (((vpn >> 9) << 1) | 1) + 1; }
    bool find_in(Array& a, std::uint64_t vpn, TlbEntry& out, bool& huge);
    void put(Array& a, std::uint64_t k, std::uint64_t pfn, std::uint8_t bits);

    static constexpr std::uint64_t kHugeSpan = kHugePages;
    Array l1_;
    Array l2_;
    bool any_huge_ = false;
    std::vector<std::uint64_t> pwc_[3]; // keys: va >> 39, va >> 30, va >> 21 (+1, 0 invalid)
};

} // namespace odf
