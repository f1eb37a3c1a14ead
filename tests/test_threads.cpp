// odf-trace v2 in the model: per-CPU TLBs and shootdowns, simulated time, mmap_lock, wait/vfork/spawn and request
// latencies (docs/SEMANTICS.md, "Threads, CPUs and time").
#include "fixtures.hpp"

#include <algorithm>

using namespace odf;
using namespace odf::test;

namespace {

SimConfig config(ForkMode mode) {
    SimConfig c = Run::config(mode, 4096);
    return c;
}

const ThreadReport& thread(const TimelineReport& r, std::uint32_t pid, std::uint32_t tid) {
    auto it = std::find_if(r.threads.begin(), r.threads.end(),
                           [&](const ThreadReport& t) { return t.pid == pid && t.tid == tid; });
    REQUIRE(it != r.threads.end());
    return *it;
}

// 4 MiB populated, three more threads, each on its own CPU.
constexpr const char* kFourThreads = "1 mmap 0x40000000 0x400000 rw private\n"
                                     "1 w 0x40000000 0x400000\n"
                                     "1 clone 1\n1 clone 2\n1 clone 3\n"
                                     "1.1 cpu 1\n1.2 cpu 2\n1.3 cpu 3\n";

} // namespace

SCENARIO("four_threads_on_four_cpus_writing_after_a_classic_fork_send_three_ipis_per_cow_copy", "[threads][tlb]") {
    Run r(config(ForkMode::Classic), 2);
    r(kFourThreads);
    r("1 fork 2\n");
    const std::uint64_t ipis0 = r.stats(1).ipis;
    const std::uint64_t copies0 = r.stats(1).pages_copied;
    r("1 w 0x40000000\n1.1 w 0x40001000\n1.2 w 0x40002000\n1.3 w 0x40003000\n");
    CHECK(r.stats(1).pages_copied - copies0 == 4);
    CHECK(r.stats(1).ipis - ipis0 == 4 * 3);
    CHECK(r.stats(1).remote_flushes >= 4 * 3);
    WHEN("the threads share one CPU") {
        r("1.1 cpu 0\n1.2 cpu 0\n1.3 cpu 0\n");
        const std::uint64_t ipis1 = r.stats(1).ipis;
        r("1.1 w 0x40005000\n1.2 w 0x40006000\n");
        THEN("no IPI is needed") {
            CHECK(r.stats(1).ipis == ipis1);
        }
    }
    WHEN("one thread is blocked in wait") {
        r("1.3 wait 2\n");
        const std::uint64_t ipis1 = r.stats(1).ipis;
        r("1 w 0x40007000\n");
        THEN("its CPU gets no IPI") {
            CHECK(r.stats(1).ipis - ipis1 == 2);
        }
    }
    r("2 exit\n1.1 texit\n");
    r.finish();
}

SCENARIO("each_cpu_has_its_own_tlb", "[threads][tlb]") {
    Run r(config(ForkMode::Classic), 2);
    r("1 mmap 0x40000000 0x1000 rw private\n1 w 0x40000000\n1 clone 1\n1.1 cpu 1\n");
    const std::uint64_t misses = r.stats(1).tlb_misses;
    r("1 r 0x40000000\n");
    CHECK(r.stats(1).tlb_misses == misses); // CPU 0 cached it
    r("1.1 r 0x40000000\n");
    CHECK(r.stats(1).tlb_misses == misses + 1); // CPU 1 walks
    r("1.1 r 0x40000000\n");
    CHECK(r.stats(1).tlb_misses == misses + 1);
    r.finish();
}

SCENARIO("a_thread_that_faults_during_a_fork_waits_for_the_forks_mmap_lock", "[threads][time]") {
    Run r(config(ForkMode::Classic), 2);
    r("1 mmap 0x40000000 0x4000000 rw private\n1 w 0x40000000 0x4000000\n1 clone 1\n1.1 cpu 1\n");
    r("1.1 run 1000\n1 fork 2\n");
    const TimelineReport before = r.sim.timeline();
    const double fork_end = thread(before, 1, 0).end_ns;
    const double t1 = thread(before, 1, 1).end_ns;
    REQUIRE(t1 < fork_end); // thread 1.1 is ready long before the fork ends
    r("1.1 w 0x40000000\n");
    const TimelineReport after = r.sim.timeline();
    const ThreadReport& w = thread(after, 1, 1);
    // It first handles the fork's shootdown IPI, then waits for the lock until the fork ends.
    CHECK(w.time.irq > 0);
    CHECK(w.time.lock_wait + w.time.irq == Approx(fork_end - t1));
    CHECK(w.end_ns > fork_end);
    WHEN("the write does not fault") {
        r("1.1 w 0x40000000\n"); // the copy is writable now: no fault, no lock
        CHECK(thread(r.sim.timeline(), 1, 1).time.lock_wait == Approx(w.time.lock_wait));
    }
    r("2 exit\n");
    r.finish();
}

SCENARIO("a_request_arriving_during_a_50_ms_fork_waits_for_it", "[threads][time]") {
    SimConfig c = config(ForkMode::Classic);
    c.kernel.costs.cycles[static_cast<int>(Cost::ForkBase)] = 50e6 * c.kernel.costs.clock_ghz; // 50 ms
    Run r(c, 2);
    r("1 mmap 0x40000000 0x200000 rw private\n1 w 0x40000000 0x200000\n1 clone 1\n1.1 cpu 1\n");
    const double fork_start = thread(r.sim.timeline(), 1, 0).end_ns;
    r("1 fork 2\n");
    const double fork_end = thread(r.sim.timeline(), 1, 0).end_ns;
    REQUIRE(fork_end - fork_start >= 50e6);
    const auto at = static_cast<std::uint64_t>(fork_start + 10e6);
    r(fmt::format("1.1 begin get {}\n1.1 w 0x40000000\n1.1 end get\n", at));
    const TimelineReport tl = r.sim.timeline();
    REQUIRE(tl.labels.size() == 1);
    REQUIRE(tl.labels[0].latency_ns.size() == 1);
    CHECK(tl.labels[0].label == "get");
    CHECK(tl.labels[0].latency_ns[0] >= fork_end - static_cast<double>(at));
    CHECK(thread(tl, 1, 1).time.idle > 0); // the thread was free before the request came
    r("2 exit\n");
    r.finish();
}

SCENARIO("vfork_and_spawn_from_a_16_gib_parent_copy_no_page_table_and_no_page", "[threads][vfork]") {
    SimConfig c = config(ForkMode::Classic);
    c.check_every = 100000; // the invariant walk over 8192 tables after every op would be quadratic
    Run r(c, 2);
    std::string populate = "1 mmap 0x100000000 0x400000000 rw private\n"; // 16 GiB
    for (std::uint64_t a = 0x100000000; a < 0x500000000; a += 0x200000) {
        populate += fmt::format("1 w {:#x}\n", a); // one page per PTE table: 8192 tables
    }
    r(populate);
    const Counters c0 = r.stats(1);
    r("1 vfork 2\n2 w 0x100000000\n2 exec\n");
    r("1 spawn 3\n");
    const Counters c1 = r.stats(1);
    CHECK(c1.ptes_copied == c0.ptes_copied);
    CHECK(c1.tables_copied_at_fork == c0.tables_copied_at_fork);
    CHECK(c1.pages_copied == c0.pages_copied);
    CHECK(r.mm(2).pgtables_bytes <= 4 * 4096); // only its own new (empty) address space
    CHECK(r.mm(3).rss_anon == 0);
    THEN("the vfork child wrote into the parent's memory") {
        r("1 r 0x100000000\n"); // the oracle checks that the parent reads the child's write
        CHECK(r.faults(1, FaultKind::WpCopy) == 0);
    }
    r("1 fork 4\n");
    CHECK(r.stats(1).tables_copied_at_fork - c1.tables_copied_at_fork == 8192); // a real fork copies them all
    r("4 exit\n2 exit\n3 exit\n");
    r.finish();
}

SCENARIO("the_vfork_caller_is_blocked_until_the_child_execs_or_exits", "[threads][vfork]") {
    Run r(config(ForkMode::Odf), 2);
    r("1 mmap 0x40000000 0x200000 rw private\n1 w 0x40000000\n1 vfork 2\n2 run 5000000\n2 exit\n");
    const TimelineReport tl = r.sim.timeline();
    const ThreadReport& parent = thread(tl, 1, 0);
    CHECK(parent.time.blocked >= 5e6);
    CHECK(r.stats(1).ptes_copied == 0);
    r("1 w 0x40000000\n");
    CHECK(r.faults(1, FaultKind::WpCopy) == 0); // the mm was never shared by fork: no COW
    r("1 wait 2\n");
    r.finish();
}

SCENARIO("wait_blocks_until_the_child_exits_and_exec_ends_the_other_threads", "[threads][time]") {
    Run r(config(ForkMode::Odf), 2);
    r("1 clone 1\n1.1 fork 2\n2 run 3000000\n");
    r("1 wait 2\n"); // blocked: 2 still runs
    r("2 exit\n");
    const TimelineReport tl = r.sim.timeline();
    CHECK(thread(tl, 1, 0).end_ns >= thread(tl, 2, 0).end_ns);
    CHECK(thread(tl, 1, 0).time.blocked > 0);
    r("1.1 exec\n1 run 10\n"); // the process goes on as its main thread
    r.finish();
}

SCENARIO("v2_misuse_the_validator_does_not_see_is_an_error_with_file_and_line", "[threads]") {
    SimConfig c = config(ForkMode::Classic);
    c.cpus = 2;
    Run r(c, 2);
    CHECK_THROWS_WITH(r("1 cpu 2\n"), Catch::Contains("test:2: cpu 2 is out of range"));
}

SCENARIO("a_v1_trace_has_no_timeline_and_replays_as_before", "[threads]") {
    Run r(ForkMode::Odf);
    r("1 mmap 0x40000000 0x200000 rw private\n1 w 0x40000000\n1 fork 2\n2 w 0x40000000\n");
    CHECK_FALSE(r.sim.timeline().enabled);
    CHECK(r.stats(1).ipis == 0);
    r.finish();
}
