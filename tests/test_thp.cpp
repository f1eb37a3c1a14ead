#include "fixtures.hpp"

using namespace odf;
using odf::test::Run;

SCENARIO("thp_faults_map_2mib_pages_and_cow_copies_2mib", "[thp]") {
    Run r(ForkMode::Thp);
    r("1 mmap 0x40000000 0x400000 rw private\n1 r 0x40000000\n");
    CHECK(r.faults(1, FaultKind::HugeZero) == 1);
    r("1 w 0x40000000 0x400000\n");
    CHECK(r.faults(1, FaultKind::HugeAlloc) == 2);
    CHECK(r.stats(1).minflt == 3);
    CHECK(r.pmd(1, 0x40000000).huge());
    CHECK(r.mm(1).rss_anon == 1024);
    r("1 fork 2\n");
    CHECK(r.stats(1).ptes_copied == 2);
    r("2 w 0x40001000\n");
    CHECK(r.faults(2, FaultKind::HugeWpCopy) == 1);
    CHECK(r.stats(2).pages_copied == 512);
    r("2 exit\n1 w 0x40200000\n");
    CHECK(r.faults(1, FaultKind::HugeWpReuse) == 1);
}

SCENARIO("thp_splits_a_huge_page_before_a_partial_mprotect_or_munmap", "[thp]") {
    Run r(ForkMode::Thp);
    r("1 mmap 0x40000000 0x200000 rw private\n1 w 0x40000000 0x200000\n1 mprotect 0x40000000 0x1000 r\n");
    CHECK_FALSE(r.pmd(1, 0x40000000).huge());
    CHECK_FALSE(r.pte(1, 0x40000000)->writable());
    CHECK(r.pte(1, 0x40001000)->writable());
    r("1 r 0x40000000 0x200000\n1 munmap 0x40100000 0x1000\n1 r 0x40100000\n");
    CHECK(r.stats(1).segv == 1);
    r("1 fork 2\n2 w 0x40002000\n2 exit\n1 exit\n");
    r.finish();
}
