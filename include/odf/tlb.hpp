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

    // Looks `page` up in L1 then L2 (4 KiB and 2 MiB entries); an L2 hit is copied into L1. Inline: it is the
    // replay's hot path (every simulated access).
    TlbHit lookup(PageNumber page, TlbEntry& out) {
        const std::uint64_t vpn = page.value;
        bool huge = false;
        if (find_in(l1_, vpn, out, huge)) {
            return TlbHit::L1;
        }
        if (find_in(l2_, vpn, out, huge)) {
            const std::uint64_t base = huge ? out.pfn.value - (vpn & (kHugeSpan - 1)) : out.pfn.value;
            // not in L1 (just looked): the LRU way of its set takes it
            fill(l1_, huge ? key2m(vpn) : key4k(vpn), base,
                 static_cast<std::uint8_t>((out.writable ? 1 : 0) | (out.dirty ? 2 : 0)));
            return TlbHit::L2;
        }
        return TlbHit::Miss;
    }
    // `absent`: the caller knows neither L1 nor L2 holds the entry (lookup() missed and nothing was inserted
    // since), so the LRU ways take it without a search.
    void insert(PageNumber page, const TlbEntry& e, bool huge, bool absent = false);
    void set_dirty(PageNumber page);
    void flush_all();
    void flush_page(PageNumber page);
    // Page-walk caches: how many of the three upper levels (PML4E, PDPTE, PDE) a walk of `va` can skip.
    // Inline and unrolled: every TLB miss does both.
    [[nodiscard]] int pwc_lookup(VirtAddr va) const {
        const std::uint64_t k0 = (va.value >> 39) + 1;
        const std::uint64_t k1 = (va.value >> 30) + 1;
        const std::uint64_t k2 = (va.value >> 21) + 1;
        const std::uint64_t* c = pwc_.data();
        if (c[pwc_slot(k0)] != k0) {
            return 0;
        }
        if (c[pwc_n_ + pwc_slot(k1)] != k1) {
            return 1;
        }
        if (c[2 * pwc_n_ + pwc_slot(k2)] != k2) {
            return 2;
        }
        return 3;
    }
    void pwc_fill(VirtAddr va, bool pde_is_leaf) {
        const std::uint64_t k0 = (va.value >> 39) + 1;
        const std::uint64_t k1 = (va.value >> 30) + 1;
        std::uint64_t* c = pwc_.data();
        c[pwc_slot(k0)] = k0;
        c[pwc_n_ + pwc_slot(k1)] = k1;
        if (!pde_is_leaf) {
            const std::uint64_t k2 = (va.value >> 21) + 1;
            c[2 * pwc_n_ + pwc_slot(k2)] = k2;
        }
    }

  private:
    // One TLB level: `sets` sets of `ways` entries, exact LRU kept as a doubly linked list per set, so that a hit,
    // a fill and choosing a victim are O(1) whatever the associativity.
    struct Array {
        int sets = 1;
        int ways = 1;
        // Geometry as shifts and masks when sets and ways are powers of two (the usual case): no division on the
        // hot path. Otherwise set_mask is 0 and the divisions are used.
        std::uint64_t set_mask = 0;     // sets - 1
        int way_shift = -1;             // log2(ways)
        std::vector<std::uint64_t> key; // 0: invalid; else (vpn << 1 | huge) + 1
        std::vector<std::uint64_t> pfn; // Pfn::value (raw: the arrays are the hot path's storage)
        std::vector<std::uint8_t> bits; // 1: writable, 2: dirty
        std::vector<std::int32_t> prev;
        std::vector<std::int32_t> next;
        std::vector<std::int32_t> head; // most recently used way of each set
        std::vector<std::int32_t> tail; // least recently used
        void init(int entries, int ways_);
        [[nodiscard]] int set_of(std::uint64_t k) const {
            return set_mask != 0 || sets == 1 ? static_cast<int>((k >> 1) & set_mask)
                                              : static_cast<int>((k >> 1) % static_cast<std::uint64_t>(sets));
        }
        [[nodiscard]] std::size_t set_of_slot(int i) const {
            return static_cast<std::size_t>(way_shift >= 0 ? i >> way_shift : i / ways);
        }
        [[nodiscard]] [[gnu::always_inline]] int find(std::uint64_t k) const {
            if (indexed()) {
                for (std::uint64_t h = home(k);; h = (h + 1) & idx_mask) {
                    if (idx_key[h] == k) {
                        return idx_slot[h];
                    }
                    if (idx_key[h] == 0) {
                        return -1;
                    }
                }
            }
            const int base = set_of(k) * ways;
            const std::uint64_t* p = key.data() + base;
            for (int i = 0; i < ways; ++i) {
                if (p[i] == k) {
                    return base + i;
                }
            }
            return -1;
        }
        // Make i the most recently used of its set.
        [[gnu::always_inline]] void touch(int i) {
            const std::size_t s = set_of_slot(i);
            if (head[s] == i) {
                return;
            }
            const auto u = static_cast<std::size_t>(i);
            // unlink (i is not the head, so it has a predecessor)
            next[static_cast<std::size_t>(prev[u])] = next[u];
            if (next[u] >= 0) {
                prev[static_cast<std::size_t>(next[u])] = prev[u];
            } else {
                tail[s] = prev[u];
            }
            prev[u] = -1;
            next[u] = head[s];
            prev[static_cast<std::size_t>(head[s])] = i;
            head[s] = i;
        }
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
    [[gnu::always_inline]] bool find_in(Array& a, std::uint64_t vpn, TlbEntry& out, bool& huge) {
        int i = a.find(key4k(vpn));
        huge = false;
        if (i < 0 && any_huge_) {
            i = a.find(key2m(vpn));
            huge = i >= 0;
        }
        if (i < 0) {
            return false;
        }
        const auto s = static_cast<std::size_t>(i);
        a.touch(i);
        out.pfn = Pfn{huge ? a.pfn[s] + (vpn & (kHugeSpan - 1)) : a.pfn[s]};
        out.writable = (a.bits[s] & 1) != 0;
        out.dirty = (a.bits[s] & 2) != 0;
        return true;
    }
    // Key k into a, replacing its entry if present, else the LRU way of its set.
    void put(Array& a, std::uint64_t k, std::uint64_t pfn, std::uint8_t bits);
    // The same for a key known not to be in a.
    void fill(Array& a, std::uint64_t k, std::uint64_t pfn, std::uint8_t bits) {
        const int i = a.tail[static_cast<std::size_t>(a.set_of(k))];
        a.set_key(i, k);
        a.pfn[static_cast<std::size_t>(i)] = pfn;
        a.bits[static_cast<std::size_t>(i)] = bits;
        a.touch(i);
    }

    static constexpr std::uint64_t kHugeSpan = kHugePages;
    Array l1_;
    Array l2_;
    bool any_huge_ = false;
    // The page-walk caches, direct-mapped (slot = key mod entries): one probe per level. Level l (0: PML4E keyed
    // by va >> 39, 1: PDPTE by va >> 30, 2: PDE by va >> 21; key + 1, 0 invalid) is [l * pwc_n_, (l + 1) * pwc_n_).
    std::vector<std::uint64_t> pwc_;
    std::size_t pwc_n_ = 1;
    std::uint64_t pwc_mask_ = 0; // entries - 1 when a power of two, else 0 (then: modulo)
    [[nodiscard]] std::size_t pwc_slot(std::uint64_t k) const {
        return static_cast<std::size_t>(pwc_mask_ != 0 ? k & pwc_mask_ : k % pwc_n_);
    }
};

// The index and key updates of Tlb::Array: inline, as every TLB fill does them.
inline void Tlb::Array::idx_insert(std::uint64_t k, int slot) {
    std::uint64_t h = home(k);
    while (idx_key[h] != 0 && idx_key[h] != k) {
        h = (h + 1) & idx_mask;
    }
    idx_key[h] = k;
    idx_slot[h] = slot;
}

// Linear-probing deletion with backward shift: the table never holds tombstones.
inline void Tlb::Array::idx_erase(std::uint64_t k) {
    std::uint64_t h = home(k);
    while (idx_key[h] != k) {
        if (idx_key[h] == 0) {
            return;
        }
        h = (h + 1) & idx_mask;
    }
    std::uint64_t hole = h;
    for (std::uint64_t j = (hole + 1) & idx_mask; idx_key[j] != 0; j = (j + 1) & idx_mask) {
        const std::uint64_t want = home(idx_key[j]);
        // move j into the hole unless its home lies cyclically in (hole, j]
        const bool stays = hole <= j ? (want > hole && want <= j) : (want > hole || want <= j);
        if (!stays) {
            idx_key[hole] = idx_key[j];
            idx_slot[hole] = idx_slot[j];
            hole = j;
        }
    }
    idx_key[hole] = 0;
    idx_slot[hole] = -1;
}

inline void Tlb::Array::set_key(int i, std::uint64_t k) {
    const auto u = static_cast<std::size_t>(i);
    if (indexed()) {
        if (key[u] != 0) {
            idx_erase(key[u]);
        }
        if (k != 0) {
            idx_insert(k, i);
        }
    }
    key[u] = k;
}

} // namespace odf
