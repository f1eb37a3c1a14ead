#include "fixtures.hpp"

using namespace odf;
using odf::test::Run;

namespace {
// Two full 2 MiB tables of written memory at 1 GiB.
constexpr const char* kTwoTables = "1 mmap 0x40000000 0x400000 rw private\n1 w 0x40000000 0x400000\n";
} // namespace

SCENARIO("odf_fork_shares_pte_tables_and_touches_no_data_page", "[odf]") {
    auto mode = GENERATE(ForkMode::Odf, ForkMode::OdfPaper);
    Run r(mode);
    r(kTwoTables);
    r("1 fork 2\n");
    THEN("both PMD entries point at the parent's tables, read-only, refcount 2") {
        CHECK(r.pmd(1, 0x40000000).pfn() == r.pmd(2, 0x40000000).pfn());
        CHECK_FALSE(r.pmd(1, 0x40000000).writable());
        CHECK(r.k().phys().frame(r.pmd(1, 0x40000000).pfn()).refcount == 2);
        CHECK(r.stats(1).tables_shared == 2);
        CHECK(r.stats(1).ptes_copied == 0);
        const Frame& f = r.frame_at(1, 0x40000000);
        CHECK(f.refcount == 1);
        CHECK((f.flags & kAnonExclusive) != 0);
        CHECK(r.pte(1, 0x40000000)->writable());
    }
    THEN("the owner carries VmPTE and RssAnon; the child is charged only its upper tables") {
        CHECK(r.mm(1).rss_anon == 1024);
        CHECK(r.mm(2).rss_anon == 0);
        CHECK(r.mm(1).pgtables_bytes == 4 * 4096); // PUD + PMD + 2 PTE tables
        CHECK(r.mm(2).pgtables_bytes == 2 * 4096); // PUD + PMD
    }
}

SCENARIO("a_child_that_only_reads_takes_no_fault_under_odf", "[odf]") {
    auto mode = GENERATE(ForkMode::Odf, ForkMode::OdfPaper, ForkMode::CowPteV3);
    Run r(mode);
    r(kTwoTables);
    r("1 fork 2\n2 r 0x40000000 0x400000\n");
    CHECK(r.stats(2).minflt == 0);
    r("2 exit\n1 exit\n");
    r.finish();
}

SCENARIO("the_first_write_in_a_shared_2mib_range_copies_exactly_one_table", "[odf]") {
    auto mode = GENERATE(ForkMode::Odf, ForkMode::OdfPaper);
    Run r(mode);
    r(kTwoTables);
    r("1 fork 2\n2 w 0x40001000\n");
    CHECK(r.stats(2).tables_copied_on_demand == 1);
    CHECK(r.stats(2).minflt == 1); // the child's first fault // table copy and page COW in one exception
    CHECK(r.faults(2, FaultKind::CowPteCopy) == 1);
    CHECK(r.faults(2, FaultKind::WpCopy) == 1);
    CHECK(r.pmd(2, 0x40000000).writable());
    CHECK(r.pmd(2, 0x40000000).pfn() != r.pmd(1, 0x40000000).pfn());
    CHECK(r.pmd(2, 0x40200000).pfn() == r.pmd(1, 0x40200000).pfn()); // the other table stays shared
    CHECK(r.mm(2).rss_anon == 512);
    CHECK(r.mm(2).pgtables_bytes == 3 * 4096);
    r("2 w 0x40002000\n"); // same table: no further table copy
    CHECK(r.stats(2).tables_copied_on_demand == 1);
}

SCENARIO("a_shared_table_with_refcount_1_is_reused_not_copied", "[odf]") {
    Run r(ForkMode::Odf);
    r(kTwoTables);
    r("1 fork 2\n2 w 0x40001000\n");
    WHEN("the parent writes to the table the child copied away") {
        const auto before = r.stats(1).minflt;
        r("1 w 0x40003000\n");
        THEN("the parent reuses its table: one fault, no table copy, no page copy") {
            CHECK(r.stats(1).tables_reused == 1);
            CHECK(r.stats(1).tables_copied_on_demand == 0);
            CHECK(r.stats(1).minflt == before + 1);
            CHECK(r.pmd(1, 0x40000000).writable());
        }
        THEN("the pages the child's copy shares are COW for the parent") {
            r("1 w 0x40005000\n");
            CHECK(r.faults(1, FaultKind::WpCopy) == 2);
        }
    }
}

SCENARIO("the_seed_question_under_odf_parent_writes_after_child_exit", "[odf][seed]") {
    auto mode = GENERATE(ForkMode::Odf, ForkMode::OdfPaper, ForkMode::CowPteV3);
    Run r(mode);
    r(kTwoTables);
    r("1 fork 2\n2 r 0x40000000 0x400000\n2 exit\n1 w 0x40000000 0x400000\n");
    CHECK(r.stats(1).pages_copied == 0);
    CHECK(r.stats(1).tables_copied_on_demand == 0);
    CHECK(r.stats(1).tables_reused == 2);
    r.finish();
}

SCENARIO("tables_holding_pinned_pages_are_copied_at_fork", "[odf][pin]") {
    auto mode = GENERATE(ForkMode::Odf, ForkMode::OdfPaper, ForkMode::CowPteV3);
    Run r(mode);
    r(kTwoTables);
    r("1 pin 0x40000000 0x1000\n1 fork 2\n");
    CHECK(r.stats(1).tables_shared == 1);
    CHECK(r.stats(1).tables_copied_at_fork == 1);
    CHECK(r.pmd(1, 0x40000000).pfn() != r.pmd(2, 0x40000000).pfn());
    CHECK(r.stats(1).pages_copied == 1); // the pinned page itself
    r("2 r 0x40000000\n1 unpin 0x40000000 0x1000\n2 exit\n1 exit\n");
    r.finish();
}

SCENARIO("pinning_inside_a_shared_table_breaks_it_first", "[odf][pin]") {
    Run r(ForkMode::Odf);
    r(kTwoTables);
    r("1 fork 2\n2 pin 0x40000000 0x1000\n");
    CHECK(r.stats(2).tables_copied_on_demand == 1);
    CHECK((r.k().phys().frame(r.pmd(2, 0x40000000).pfn()).flags & kTableExclusive) != 0);
    r("2 unpin 0x40000000 0x1000\n");
}

SCENARIO("munmap_across_a_shared_table_drops_whole_tables_and_breaks_partial_ones", "[odf][munmap]") {
    Run r(ForkMode::Odf);
    r(kTwoTables);
    r("1 fork 2\n");
    const Pfn first = r.pmd(1, 0x40000000).pfn();
    WHEN("the child unmaps the first table's range and half of the second") {
        r("2 munmap 0x40000000 0x300000\n");
        THEN("the first table loses a reference without a copy; the second is copied then trimmed") {
            CHECK(r.k().phys().frame(first).refcount == 1);
            CHECK(r.stats(2).tables_copied_on_demand == 1);
            CHECK(r.mm(2).rss_anon == 256);
            r("1 r 0x40000000 0x400000\n2 r 0x40300000 0x100000\n");
        }
    }
    WHEN("the parent unmaps everything while the child keeps the tables") {
        r("1 munmap 0x40000000 0x400000\n");
        THEN("the parent passes the charge for both tables on to the child, which reuses them") {
            CHECK(r.k().phys().frame(first).refcount == 1);
            CHECK(r.k().phys().frame(first).tbl.owner == r.mm(2).id);
            CHECK(r.stats(1).owner_passes == 2);
            CHECK(r.stats(1).charges[static_cast<int>(Cost::OwnerSearch)] == 2);
            CHECK(r.mm(1).rss_anon == 0);
            CHECK(r.mm(1).pgtables_bytes < r.mm(2).pgtables_bytes);
            CHECK(r.mm(2).rss_anon == 1024);
            r("2 w 0x40000000\n");
            CHECK(r.stats(2).tables_reused == 1);
            CHECK(r.mm(2).rss_anon == 1024);
            CHECK(r.stats(2).pages_copied == 0);
        }
    }
}

SCENARIO("an_owner_that_leaves_a_shared_table_passes_its_charge_to_the_oldest_other_user", "[odf][owner]") {
    auto mode = GENERATE(ForkMode::Odf, ForkMode::OdfPaper);
    Run r(mode);
    r(kTwoTables);
    r("1 fork 2\n1 fork 3\n2 fork 4\n");
    const Pfn t = r.pmd(4, 0x40000000).pfn();
    const Frame& f = r.k().phys().frame(t);
    REQUIRE(f.refcount == 4);
    REQUIRE(f.tbl.owner == r.mm(1).id);
    r("1 w 0x40000000\n");
    THEN("a copying owner keeps its charge for the copy and the oldest other user, 2, takes the shared table's") {
        CHECK(f.refcount == 3);
        CHECK(f.tbl.owner == r.mm(2).id);
        CHECK(r.stats(1).owner_passes == 1);
        CHECK(r.mm(1).rss_anon == 1024);
        CHECK(r.mm(2).rss_anon == 512);
        CHECK(r.mm(3).rss_anon == 0);
        CHECK(r.mm(4).rss_anon == 0);
    }
    r("2 exit\n");
    THEN("an exiting owner passes it on: 3 is older than 4") {
        CHECK(f.tbl.owner == r.mm(3).id);
        CHECK(r.mm(3).rss_anon == 512);
        CHECK(r.mm(4).rss_anon == 0);
    }
    r("3 munmap 0x40000000 0x400000\n");
    THEN("an owner unmapping the whole table passes it to the last user, which then reuses it") {
        CHECK(f.refcount == 1);
        CHECK(f.tbl.owner == r.mm(4).id);
        CHECK(r.mm(3).rss_anon == 0);
        CHECK(r.mm(4).rss_anon == 512);
        r("4 w 0x40000000\n");
        CHECK(r.stats(4).tables_reused == 1);
        CHECK(r.stats(4).tables_copied_on_demand == 0);
        CHECK(r.mm(4).rss_anon == 512);
    }
    r("4 exit\n3 exit\n1 exit\n");
    r.finish();
}

SCENARIO("mprotect_across_a_shared_table_breaks_sharing_first", "[odf][mprotect]") {
    Run r(ForkMode::Odf);
    r(kTwoTables);
    r("1 fork 2\n1 mprotect 0x40100000 0x200000 r\n");
    CHECK(r.stats(1).tables_copied_on_demand == 2);
    r("1 r 0x40000000 0x400000\n2 w 0x40100000 0x200000\n1 r 0x40000000 0x400000\n");
    r("1 w 0x40100000\n"); // SIGSEGV: now read-only
    CHECK(r.stats(1).segv == 1);
}

SCENARIO("the_parent_exiting_before_the_child_leaves_the_child_a_working_address_space", "[odf][exit]") {
    auto mode = GENERATE(ForkMode::Odf, ForkMode::OdfPaper, ForkMode::CowPteV3, ForkMode::Classic);
    Run r(mode);
    r(kTwoTables);
    r("1 fork 2\n2 fork 3\n1 exit\n2 r 0x40000000 0x400000\n3 w 0x40000000 0x1000\n2 exit\n3 r 0x40000000 0x400000\n");
    r("3 w 0x40000000 0x400000\n3 exit\n");
    r.finish();
}

SCENARIO("odf_paper_shares_only_tables_one_non_heap_vma_covers", "[odf-paper]") {
    const std::string layout = "1 mmap 0x40000000 0x100000 rw private\n1 mmap 0x40100000 0x100000 r private\n"
                               "1 w 0x40000000 0x100000\n1 brk 0x80000000\n1 brk 0x80200000\n1 w 0x80000000 0x200000\n";
    WHEN("the patch-set version forks") {
        Run r(ForkMode::Odf);
        r(layout + "1 fork 2\n");
        THEN("the table two VMAs overlap and the heap table are shared") {
            CHECK(r.stats(1).tables_shared == 2);
        }
    }
    WHEN("the paper version forks") {
        Run r(ForkMode::OdfPaper);
        r(layout + "1 fork 2\n");
        THEN("neither is shared") {
            CHECK(r.stats(1).tables_shared == 0);
            CHECK(r.stats(1).tables_copied_at_fork == 2);
        }
    }
}

SCENARIO("cow_pte_v3_does_the_per_page_work_at_fork", "[cow-pte-v3]") {
    Run r(ForkMode::CowPteV3);
    r(kTwoTables);
    r("1 fork 2\n");
    CHECK(r.stats(1).tables_shared == 2);
    CHECK(r.stats(1).charges[static_cast<int>(Cost::PageRefUpdate)] == 1024);
    CHECK(r.frame_at(1, 0x40000000).refcount == 2);
    CHECK(r.mm(2).rss_anon == 1024);
    r("2 w 0x40000000\n1 w 0x40001000\n2 exit\n1 exit\n");
    r.finish();
}

SCENARIO("tables_shared_with_vmas_that_are_shared_mappings_are_copied", "[odf][shmem]") {
    Run r(ForkMode::Odf);
    r("1 mmap 0x40000000 0x100000 rw private\n1 mmap 0x40100000 0x100000 rw shared\n"
      "1 w 0x40000000 0x200000\n1 fork 2\n");
    CHECK(r.stats(1).tables_shared == 0);
    r("2 r 0x40000000 0x200000\n1 w 0x40100000\n2 r 0x40100000\n2 exit\n1 exit\n");
    r.finish();
}

SCENARIO("munmap_breaks_a_partly_covered_shared_table_even_without_a_vma_in_that_part", "[odf][munmap]") {
    Run r(ForkMode::Odf);
    // One VMA in the first MiB of a table; the munmap range covers the (empty) second MiB and beyond.
    r("1 mmap 0x40000000 0x100000 rw private\n1 w 0x40000000 0x100000\n1 mmap 0x40300000 0x100000 rw private\n"
      "1 fork 2\n2 munmap 0x40100000 0x300000\n");
    CHECK(r.stats(2).tables_copied_on_demand == 1); // the table at 0x40000000: broken though no removed VMA touches it
    CHECK(r.mm(2).rss_anon == 256);
    r("2 r 0x40000000 0x100000\n1 w 0x40000000 0x100000\n2 r 0x40000000 0x100000\n");
}

SCENARIO("a_break_during_munmap_leaves_the_removed_entries_to_the_other_users", "[odf][munmap]") {
    Run r(ForkMode::Odf);
    r(kTwoTables);
    r("1 fork 2\n2 munmap 0x40000000 0x100000\n");
    THEN("the child's copy holds only the entries it still maps, and the pages it unmapped stay exclusive") {
        CHECK(r.mm(2).rss_anon == 256 + 0); // second table still shared and owned by the parent
        CHECK((r.frame_at(1, 0x40000000).flags & kAnonExclusive) != 0);
        CHECK(r.frame_at(1, 0x40000000).refcount == 1);
        CHECK((r.frame_at(1, 0x40100000).flags & kAnonExclusive) == 0);
    }
    r("1 mprotect 0x40000000 0x200000 r\n1 mprotect 0x40000000 0x200000 rw\n");
    THEN("mprotect can make the exclusive pages writable again without a fault") {
        CHECK(r.pte(1, 0x40000000)->writable());
    }
}
