#include "odf/tlb.hpp"

#include <catch2/catch.hpp>

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
