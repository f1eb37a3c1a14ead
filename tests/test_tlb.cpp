#include "odf/tlb.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <vector>

using namespace odf;

TEST_CASE("a_tlb_entry_is_found_after_insert_and_gone_after_flush", "[tlb]") {
    Tlb t(TlbGeometry{});
    TlbEntry e;
    CHECK(t.lookup(PageNumber{100}, e) == TlbHit::Miss);
    t.insert(PageNumber{100}, TlbEntry{Pfn{7}, true, true}, false);
    REQUIRE(t.lookup(PageNumber{100}, e) == TlbHit::L1);
    CHECK(e.pfn == Pfn{7});
    CHECK(e.writable);
    t.flush_page(PageNumber{100});
    CHECK(t.lookup(PageNumber{100}, e) == TlbHit::Miss);
    t.insert(PageNumber{100}, TlbEntry{Pfn{7}, false, false}, false);
    t.flush_all();
    CHECK(t.lookup(PageNumber{100}, e) == TlbHit::Miss);
}

TEST_CASE("l1_evictions_are_lru_and_evicted_entries_hit_in_l2", "[tlb]") {
    TlbGeometry g;
    g.l1_entries = 4;
    g.l1_ways = 4;
    g.l2_entries = 64;
    g.l2_ways = 4;
    Tlb t(g);
    TlbEntry e;
    for (std::uint64_t v = 0; v < 4; ++v) {
        t.insert(PageNumber{v}, TlbEntry{Pfn{v + 10}, false, false}, false);
    }
    CHECK(t.lookup(PageNumber{0}, e) == TlbHit::L1); // 0 is now most recent; 1 is the LRU
    t.insert(PageNumber{4}, TlbEntry{Pfn{14}, false, false}, false);
    CHECK(t.lookup(PageNumber{1}, e) == TlbHit::L2);
    CHECK(e.pfn == Pfn{11});
    CHECK(t.lookup(PageNumber{0}, e) != TlbHit::Miss);
}

TEST_CASE("a_huge_entry_covers_its_512_pages", "[tlb]") {
    Tlb t(TlbGeometry{});
    TlbEntry e;
    t.insert(PageNumber{512 * 3 + 7}, TlbEntry{Pfn{4096 + 7}, true, true}, true);
    REQUIRE(t.lookup(PageNumber{512 * 3 + 100}, e) == TlbHit::L1);
    CHECK(e.pfn == Pfn{4096 + 100});
    CHECK(t.lookup(PageNumber{512 * 4}, e) == TlbHit::Miss);
}

TEST_CASE("page_walk_caches_skip_cached_upper_levels", "[tlb]") {
    Tlb t(TlbGeometry{});
    CHECK(t.pwc_lookup(VirtAddr{0x40000000}) == 0);
    t.pwc_fill(VirtAddr{0x40000000}, false);
    CHECK(t.pwc_lookup(VirtAddr{0x40001000}) == 3);
    CHECK(t.pwc_lookup(VirtAddr{0x40200000}) == 2);
    CHECK(t.pwc_lookup(VirtAddr{0x80000000}) == 1);
}

namespace {

// A plain model of the TLB's contract, written for clarity: each set is a list of ways, most recently used first.
// Tlb must agree with it on every lookup (level and translation) whatever its internal structure.
class RefTlb {
  public:
    explicit RefTlb(const TlbGeometry& g) : l1_(g.l1_entries, g.l1_ways), l2_(g.l2_entries, g.l2_ways) {}

    TlbHit lookup(std::uint64_t vpn, TlbEntry& out) {
        bool huge = false;
        if (find(l1_, vpn, out, huge)) {
            return TlbHit::L1;
        }
        if (find(l2_, vpn, out, huge)) {
            const std::uint64_t base = huge ? out.pfn.value - (vpn & 511) : out.pfn.value;
            put(l1_, huge ? k2m(vpn) : k4k(vpn), base, out.writable, out.dirty);
            return TlbHit::L2;
        }
        return TlbHit::Miss;
    }
    void insert(std::uint64_t vpn, const TlbEntry& e, bool huge) {
        any_huge_ = any_huge_ || huge;
        const std::uint64_t k = huge ? k2m(vpn) : k4k(vpn);
        const std::uint64_t pfn = huge ? e.pfn.value - (vpn & 511) : e.pfn.value;
        put(l1_, k, pfn, e.writable, e.dirty);
        put(l2_, k, pfn, e.writable, e.dirty);
    }
    void set_dirty(std::uint64_t vpn) {
        for (Level* l : {&l1_, &l2_}) {
            for (const std::uint64_t k : {k4k(vpn), k2m(vpn)}) {
                for (Way& w : l->sets[l->set(k)]) {
                    if (w.key == k) {
                        w.dirty = true;
                    }
                }
            }
        }
    }
    void flush_page(std::uint64_t vpn) {
        for (Level* l : {&l1_, &l2_}) {
            for (const std::uint64_t k : {k4k(vpn), k2m(vpn)}) {
                auto& s = l->sets[l->set(k)];
                for (auto it = s.begin(); it != s.end(); ++it) {
                    if (it->key == k) {
                        Way w = *it;
                        w.key = 0;
                        s.erase(it);
                        s.push_back(w); // invalid: least recently used
                        break;
                    }
                }
            }
        }
    }
    void flush_all() {
        for (Level* l : {&l1_, &l2_}) {
            for (auto& s : l->sets) {
                for (Way& w : s) {
                    w.key = 0; // the order of the ways is kept
                }
            }
        }
        any_huge_ = false;
    }

  private:
    struct Way {
        std::uint64_t key = 0;
        std::uint64_t pfn = 0;
        bool writable = false;
        bool dirty = false;
    };
    struct Level {
        Level(int entries, int ways) {
            ways = std::max(1, std::min(ways, entries));
            const int n = std::max(1, entries / ways);
            sets.assign(static_cast<std::size_t>(n), std::vector<Way>(static_cast<std::size_t>(ways)));
        }
        std::size_t set(std::uint64_t k) const { return (k >> 1) % sets.size(); }
        std::vector<std::vector<Way>> sets; // each: most recently used first
    };
    static std::uint64_t k4k(std::uint64_t vpn) { return (vpn << 1) + 1; }
    static std::uint64_t k2m(std::uint64_t vpn) { return (((vpn >> 9) << 1) | 1) + 1; }
    bool find(Level& l, std::uint64_t vpn, TlbEntry& out, bool& huge) const {
        for (int h = 0; h < (any_huge_ ? 2 : 1); ++h) {
            const std::uint64_t k = h == 0 ? k4k(vpn) : k2m(vpn);
            auto& s = l.sets[l.set(k)];
            for (auto it = s.begin(); it != s.end(); ++it) {
                if (it->key == k) {
                    const Way w = *it;
                    s.erase(it);
                    s.insert(s.begin(), w);
                    huge = h == 1;
                    out = TlbEntry{Pfn{huge ? w.pfn + (vpn & 511) : w.pfn}, w.writable, w.dirty};
                    return true;
                }
            }
        }
        return false;
    }
    static void put(Level& l, std::uint64_t k, std::uint64_t pfn, bool writable, bool dirty) {
        auto& s = l.sets[l.set(k)];
        auto it = std::find_if(s.begin(), s.end(), [&](const Way& w) { return w.key == k; });
        if (it == s.end()) {
            it = s.end() - 1; // the least recently used way
        }
        s.erase(it);
        s.insert(s.begin(), Way{k, pfn, writable, dirty});
    }
    Level l1_;
    Level l2_;
    bool any_huge_ = false;
};

} // namespace

TEST_CASE("the_tlb_is_exact_lru_at_every_geometry", "[tlb]") {
    // Fully associative (indexed or scanned), set-associative with power-of-two and other way and set counts.
    const std::vector<TlbGeometry> geometries = {
        TlbGeometry{},                     // 64-way L1, 2048-entry 8-way L2
        TlbGeometry{4, 4, 64, 4, 4},       // the small one of the LRU test above
        TlbGeometry{48, 12, 96, 6, 8},     // 12 and 6 ways: not powers of two
        TlbGeometry{40, 40, 160, 16, 8},   // 40-way L1, 16-way L2 with 10 sets
        TlbGeometry{16, 2, 1536, 12, 8},   // 8 sets of 2, 128 sets of 12
        TlbGeometry{100, 20, 3000, 24, 8}, // 5 sets of 20 ways, 125 sets of 24 ways
        TlbGeometry{1, 1, 2, 1, 1},        // direct-mapped
    };
    for (const TlbGeometry& g : geometries) {
        INFO("l1 " << g.l1_entries << "/" << g.l1_ways << " l2 " << g.l2_entries << "/" << g.l2_ways);
        Tlb t(g);
        RefTlb ref(g);
        std::uint64_t x = 12345;
        const auto rnd = [&x](std::uint64_t n) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            return (x >> 33) % n;
        };
        int hits[3] = {0, 0, 0};
        for (int step = 0; step < 200000; ++step) {
            // Pages from a few hot regions (so that every level hits, misses and evicts) and a few huge ones.
            const std::uint64_t region = rnd(4);
            const std::uint64_t vpn = region * 0x40000 + rnd(region == 0 ? 48 : region == 1 ? 700 : 5000);
            const std::uint64_t op = rnd(100);
            if (op < 70) {
                TlbEntry got;
                TlbEntry want;
                const TlbHit h = t.lookup(PageNumber{vpn}, got);
                REQUIRE(h == ref.lookup(vpn, want));
                ++hits[static_cast<int>(h)];
                if (h != TlbHit::Miss) {
                    REQUIRE(got.pfn == want.pfn);
                    REQUIRE(got.writable == want.writable);
                    REQUIRE(got.dirty == want.dirty);
                } else {
                    // As the MMU does: a true miss is followed by the insert of the walked entry.
                    const bool huge = region == 3 && rnd(4) == 0;
                    const TlbEntry e{Pfn{vpn * 3 + 1}, rnd(2) == 0, rnd(2) == 0};
                    t.insert(PageNumber{vpn}, e, huge, true);
                    ref.insert(vpn, e, huge);
                }
            } else if (op < 90) {
                const bool huge = region == 3 && rnd(4) == 0;
                const TlbEntry e{Pfn{vpn * 5 + 2}, rnd(2) == 0, rnd(2) == 0};
                t.insert(PageNumber{vpn}, e, huge);
                ref.insert(vpn, e, huge);
            } else if (op < 96) {
                t.set_dirty(PageNumber{vpn});
                ref.set_dirty(vpn);
            } else if (op < 99 || rnd(20) != 0) {
                t.flush_page(PageNumber{vpn});
                ref.flush_page(vpn);
            } else {
                t.flush_all();
                ref.flush_all();
            }
        }
        // The sequence exercised every outcome at this geometry.
        CHECK(hits[0] > 100);
        CHECK(hits[1] > 100);
        CHECK(hits[2] > 100);
    }
}
