#include "fixtures.hpp"

using namespace odf;
using odf::test::Run;

SCENARIO("classic_fork_write_protects_both_sides_and_shares_pages", "[fork][classic]") {
    GIVEN("a parent with 4 written pages") {
        Run r(ForkMode::Classic);
        r("1 mmap 0x40000000 0x4000 rw private\n1 w 0x40000000 0x4000\n");
        REQUIRE(r.frame_at(1, 0x40000000).refcount == 1);
        WHEN("it forks") {
            r("1 fork 2\n");
            THEN("both PTEs are read-only, the page has two references and is no longer exclusive") {
                CHECK_FALSE(r.pte(1, 0x40000000)->writable());
                CHECK_FALSE(r.pte(2, 0x40000000)->writable());
                CHECK(r.pte(1, 0x40000000)->pfn() == r.pte(2, 0x40000000)->pfn());
                const Frame& f = r.frame_at(1, 0x40000000);
                CHECK(f.refcount == 2);
                CHECK(f.mapcount == 2);
                CHECK((f.flags & kAnonExclusive) == 0);
                CHECK(r.mm(2).rss_anon == 4);
                CHECK(r.stats(1).ptes_copied == 4);
            }
            AND_WHEN("the child reads") {
                r("2 r 0x40000000 0x4000\n");
                THEN("it takes no fault") {
                    CHECK(r.stats(2).minflt == 0);
                }
            }
            AND_WHEN("the child writes one page") {
                r("2 w 0x40001000\n");
                THEN("that page is copied once and the parent's copy keeps its content") {
                    CHECK(r.faults(2, FaultKind::WpCopy) == 1);
                    CHECK(r.stats(2).pages_copied == 1);
                    CHECK(r.frame_at(1, 0x40001000).refcount == 1);
                    r("1 r 0x40001000\n"); // the oracle checks the value
                }
            }
        }
    }
}

SCENARIO("a_parent_writing_after_its_only_child_exited_does_not_copy", "[fork][classic][seed]") {
    Run r(ForkMode::Classic);
    r("1 mmap 0x40000000 0x10000 rw private\n1 w 0x40000000 0x10000\n1 fork 2\n2 r 0x40000000 0x10000\n2 exit\n");
    r("1 w 0x40000000 0x10000\n");
    CHECK(r.stats(1).pages_copied == 0);
    CHECK(r.faults(1, FaultKind::WpReuse) == 16);
    CHECK(r.faults(1, FaultKind::WpCopy) == 0);
    CHECK((r.frame_at(1, 0x40000000).flags & kAnonExclusive) != 0);
    r.finish();
}

SCENARIO("classic_fork_copies_pinned_pages_at_fork", "[fork][classic][pin]") {
    Run r(ForkMode::Classic);
    r("1 mmap 0x40000000 0x2000 rw private\n1 w 0x40000000 0x2000\n1 pin 0x40000000 0x1000\n1 fork 2\n");
    THEN("the pinned page is copied for the child, the other is shared") {
        CHECK(r.stats(1).pages_copied == 1);
        CHECK(r.pte(1, 0x40000000)->pfn() != r.pte(2, 0x40000000)->pfn());
        CHECK(r.pte(1, 0x40000000)->writable());
        CHECK(r.pte(1, 0x40001000)->pfn() == r.pte(2, 0x40001000)->pfn());
    }
    r("2 r 0x40000000\n1 w 0x40000000\n2 r 0x40000000\n1 unpin 0x40000000 0x1000\n");
    r.finish();
}

SCENARIO("classic_fork_skips_vmas_without_anon_pages", "[fork][classic]") {
    Run r(ForkMode::Classic);
    // Only read: zero-page mappings, no anon_vma; vma_needs_copy() says no.
    r("1 mmap 0x40000000 0x4000 r private\n1 r 0x40000000 0x4000\n1 fork 2\n");
    CHECK(r.stats(1).ptes_copied == 0);
    CHECK(r.pte(2, 0x40000000) == nullptr);
    r("2 r 0x40000000 0x4000\n");
    CHECK(r.faults(2, FaultKind::AnonZeroPage) == 4);
    r.finish();
}

SCENARIO("reads_of_untouched_memory_map_the_zero_page_and_writes_replace_it", "[fault]") {
    Run r(ForkMode::Classic);
    r("1 mmap 0x40000000 0x2000 rw private\n1 r 0x40000000\n");
    CHECK(r.faults(1, FaultKind::AnonZeroPage) == 1);
    CHECK(r.mm(1).rss_anon == 0);
    CHECK(r.pte(1, 0x40000000)->special());
    r("1 w 0x40000000\n");
    CHECK(r.faults(1, FaultKind::WpZeroCopy) == 1);
    CHECK(r.mm(1).rss_anon == 1);
    r.finish();
}
