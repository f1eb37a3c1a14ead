#include "fixtures.hpp"

using namespace odf;
using odf::test::Run;

SCENARIO("shared_anonymous_memory_is_shared_across_fork_and_refaulted_by_the_child", "[shmem]") {
    auto mode = GENERATE(ForkMode::Classic, ForkMode::Odf);
    Run r(mode);
    r("1 mmap 0x40000000 0x10000 rw shared\n1 w 0x40000000 0x10000\n1 fork 2\n");
    CHECK(r.stats(1).ptes_copied == 0);
    CHECK(r.mm(1).rss_shmem == 16);
    CHECK(r.mm(1).rss_anon == 0);
    r("2 r 0x40000000\n");
    THEN("one read fault maps the cached pages around it (fault-around, 64 KiB)") {
        CHECK(r.stats(2).minflt == 1);
        CHECK(r.mm(2).rss_shmem == 16);
    }
    r("2 w 0x40001000\n1 r 0x40001000\n"); // the parent sees the child's write
    r("1 exit\n2 r 0x40000000 0x10000\n2 exit\n");
    r.finish();
}
