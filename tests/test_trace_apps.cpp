// The real-world workload generators (odf-trace v2): redis-snapshot, afl, cow-after-exit, launcher, triforce,
// apache (traces/FORMAT.md, "Generators"): valid, deterministic, replayable with the oracle in every mode, and one
// scenario each that asserts what the workload is about.
#include "odf/replay.hpp"
#include "odf/simulator.hpp"
#include "odf/trace/format.hpp"
#include "odf/trace/generators.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <fmt/format.h>

using namespace odf;
using namespace odf::trace;

namespace {

SimConfig config(ForkMode mode, bool check) {
    SimConfig c;
    c.kernel.mode = mode;
    c.kernel.phys_frames = (8ULL << 30) >> kPageShift;
    c.check = check;
    c.check_every = 64;
    return c;
}

struct Result {
    TimelineReport tl;
    Counters totals;
};

Result replay_mode(const Trace& t, ForkMode mode, bool check = false) {
    Simulator sim(config(mode, check));
    sim.run(t);
    sim.finish(t);
    return {sim.timeline(), sim.totals()};
}

std::uint64_t fault(const Result& r, FaultKind k) {
    return r.totals.faults[static_cast<std::size_t>(k)];
}

const LabelReport& label(const TimelineReport& tl, const std::string& name) {
    auto it = std::find_if(tl.labels.begin(), tl.labels.end(), [&](const LabelReport& l) { return l.label == name; });
    REQUIRE(it != tl.labels.end());
    return *it;
}

// Small instances of each generator.
RedisSnapshotParams small_redis() {
    RedisSnapshotParams p;
    p.dataset_gib = 64.0 / 1024;
    p.rate = 20000;
    p.duration_s = 0.5;
    p.first_bgsave_s = 0.05;
    p.bgsave_gap_s = 0.05;
    p.save_mib_per_s = 1000;
    p.chunk_bytes = 1 << 20;
    p.bg_threads = 2;
    return p;
}
AflParams small_afl() {
    AflParams p;
    p.target_gib = 32.0 / 1024;
    p.execs = 20;
    return p;
}
CowAfterExitParams small_cow() {
    CowAfterExitParams p;
    p.array_gib = 16.0 / 1024;
    p.writers = 3;
    p.snapshotters = 2;
    return p;
}
LauncherParams small_launcher() {
    LauncherParams p;
    p.sizes_gib = {8.0 / 1024, 64.0 / 1024};
    p.launches = 3;
    p.density = 0.25;
    return p;
}

TriforceParams small_triforce() {
    TriforceParams p;
    p.ram_gib = 64.0 / 1024;
    p.populated_gib = 32.0 / 1024;
    p.jit_mib = 16;
    p.jit_used_mib = 4;
    p.qemu_mib = 8;
    p.hot_mib = 4;
    p.execs = 12;
    p.window = 5;
    p.target_ns = 200000;
    p.long_fraction = 0.25;
    return p;
}
ApacheParams small_apache() {
    ApacheParams p;
    p.heap_mib = 8;
    p.ro_mib = 4;
    p.workers = 3;
    p.requests = 60;
    p.start_ms = 100;
    return p;
}

std::vector<std::pair<std::string, Trace>> small_traces() {
    CowAfterExitParams nofork = small_cow();
    nofork.no_fork = true;
    return {{"redis-snapshot", gen_redis_snapshot(small_redis())},
            {"afl", gen_afl(small_afl())},
            {"cow-after-exit", gen_cow_after_exit(small_cow())},
            {"cow-after-exit --no-fork", gen_cow_after_exit(nofork)},
            {"launcher", gen_launcher(small_launcher())},
            {"triforce", gen_triforce(small_triforce())},
            {"apache", gen_apache(small_apache())}};
}

} // namespace

TEST_CASE("app_generators_are_valid_v2_deterministic_and_seeded", "[trace][gen][apps]") {
    const auto a = small_traces();
    const auto b = small_traces();
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        INFO(a[i].first);
        CHECK_NOTHROW(validate(a[i].second));
        CHECK(needs_v2(a[i].second));
        CHECK(write_text_string(a[i].second) == write_text_string(b[i].second));
        // The canonical text parses back to the same trace.
        CHECK(write_text_string(parse_text_string(write_text_string(a[i].second), "gen")) ==
              write_text_string(a[i].second));
    }
    RedisSnapshotParams r = small_redis();
    r.seed = 2;
    CHECK(write_text_string(gen_redis_snapshot(r)) != write_text_string(a[0].second));
    AflParams f = small_afl();
    f.seed = 2;
    CHECK(write_text_string(gen_afl(f)) != write_text_string(a[1].second));
    TriforceParams tf = small_triforce();
    tf.seed = 2;
    CHECK(write_text_string(gen_triforce(tf)) != write_text_string(a[5].second));
    ApacheParams ap = small_apache();
    ap.seed = 2;
    CHECK(write_text_string(gen_apache(ap)) != write_text_string(a[6].second));
}

namespace {

std::size_t count_ops(const Trace& t, OpKind kind, std::uint32_t pid = 0) {
    return static_cast<std::size_t>(std::count_if(
        t.ops.begin(), t.ops.end(), [&](const Op& op) { return op.kind == kind && (pid == 0 || op.pid == pid); }));
}

std::size_t count_label(const Trace& t, OpKind kind, const std::string& prefix) {
    return static_cast<std::size_t>(std::count_if(t.ops.begin(), t.ops.end(), [&](const Op& op) {
        return op.kind == kind && t.labels[op.label].rfind(prefix, 0) == 0;
    }));
}

} // namespace

TEST_CASE("triforce_trace_clones_the_vm_per_test_case", "[trace][gen][apps]") {
    const TriforceParams p = small_triforce();
    const Trace t = gen_triforce(p);
    // One fork, wait and exit per test case; the parent's windows cover them all (12 = 5 + 5 + 2).
    CHECK(count_ops(t, OpKind::Fork) == p.execs);
    CHECK(count_ops(t, OpKind::Wait, 1) == p.execs);
    CHECK(count_ops(t, OpKind::Exit) == p.execs + 1);
    CHECK(count_label(t, OpKind::Begin, "win-") == 3);
    CHECK(count_label(t, OpKind::End, "win-") == 3);
    CHECK(count_label(t, OpKind::Begin, "exec") == p.execs);
    // The parent maps guest RAM, the rwx JIT cache, QEMU's heap and the shared bitmap, and never writes after the
    // first fork (TriforceAFL's parent does not mirror the child's translations).
    const auto first_fork =
        std::find_if(t.ops.begin(), t.ops.end(), [](const Op& op) { return op.kind == OpKind::Fork; });
    CHECK(std::count_if(t.ops.begin(), first_fork, [](const Op& op) { return op.kind == OpKind::Mmap; }) == 4);
    CHECK(std::any_of(t.ops.begin(), first_fork, [](const Op& op) {
        return op.kind == OpKind::Mmap && op.prot == (kProtRead | kProtWrite | kProtExec);
    }));
    CHECK(std::any_of(t.ops.begin(), first_fork,
                      [](const Op& op) { return op.kind == OpKind::Mmap && op.flags == kMapShared; }));
    CHECK(std::none_of(first_fork, t.ops.end(), [](const Op& op) { return op.pid == 1 && op.kind == OpKind::Write; }));
    // Every child access stays inside what the parent mapped; guest RAM writes inside the hot region.
    const std::uint64_t hot_lo = p.base + gib_to_bytes(p.populated_gib) - gib_to_bytes(p.hot_mib / 1024);
    const std::uint64_t ram_end = p.base + gib_to_bytes(p.ram_gib);
    for (const Op& op : t.ops) {
        if (op.pid != 1 && op.kind == OpKind::Write && op.addr < ram_end) {
            CHECK(op.addr >= hot_lo);
            CHECK(op.addr < p.base + gib_to_bytes(p.populated_gib));
        }
    }
    // The long test cases (Fig. 10's dips): runs of target_ns x long_factor.
    const auto long_runs = std::count_if(t.ops.begin(), t.ops.end(), [&](const Op& op) {
        return op.kind == OpKind::Run && op.pid != 1 && op.len > p.target_ns;
    });
    CHECK(long_runs > 0);
    CHECK(long_runs < static_cast<long>(p.execs));
}

TEST_CASE("apache_trace_forks_workers_at_start_and_serves_requests", "[trace][gen][apps]") {
    const ApacheParams p = small_apache();
    const Trace t = gen_apache(p);
    CHECK(count_ops(t, OpKind::Fork, 1) == p.workers);
    CHECK(count_label(t, OpKind::Begin, "req") == p.requests);
    CHECK(count_label(t, OpKind::End, "req") == p.requests);
    // Requests are spread over the workers, each on its own CPU; the parent serves none.
    for (std::uint32_t w = 2; w <= p.workers + 1; ++w) {
        CHECK(count_ops(t, OpKind::Begin, w) == p.requests / p.workers);
        CHECK(count_ops(t, OpKind::Cpu, w) == 1);
    }
    CHECK(count_ops(t, OpKind::Begin, 1) == 1); // the `start` interval
    // Arrival times increase and start at start_ms.
    double last = 0;
    for (const Op& op : t.ops) {
        if (op.kind == OpKind::Begin && op.pid != 1) {
            REQUIRE(op.flags == kBeginAt);
            CHECK(static_cast<double>(op.addr) >= p.start_ms * 1e6);
            CHECK(static_cast<double>(op.addr) >= last);
            last = static_cast<double>(op.addr);
        }
    }
    // The read-only data is write-protected before the forks and nobody writes it.
    CHECK(count_ops(t, OpKind::Mprotect, 1) == 1);
}

TEST_CASE("app_generators_reject_bad_parameters", "[trace][gen][apps]") {
    RedisSnapshotParams r = small_redis();
    r.rate = 0;
    CHECK_THROWS_AS(gen_redis_snapshot(r), std::invalid_argument);
    AflParams f = small_afl();
    f.execs = 0;
    CHECK_THROWS_AS(gen_afl(f), std::invalid_argument);
    CowAfterExitParams c = small_cow();
    c.batch_bytes = 3 << 20; // 16 MiB is not whole 3 MiB batches
    CHECK_THROWS_AS(gen_cow_after_exit(c), std::invalid_argument);
    LauncherParams l = small_launcher();
    l.methods = {"clone3"};
    CHECK_THROWS_AS(gen_launcher(l), std::invalid_argument);
    l = small_launcher();
    l.density = 0;
    CHECK_THROWS_AS(gen_launcher(l), std::invalid_argument);
    TriforceParams tf = small_triforce();
    tf.populated_gib = 2 * tf.ram_gib; // more touched than the guest has
    CHECK_THROWS_AS(gen_triforce(tf), std::invalid_argument);
    tf = small_triforce();
    tf.hot_mib = 64; // a hot region larger than the populated RAM
    CHECK_THROWS_AS(gen_triforce(tf), std::invalid_argument);
    tf = small_triforce();
    tf.long_factor = 0.5;
    CHECK_THROWS_AS(gen_triforce(tf), std::invalid_argument);
    tf = small_triforce();
    tf.window = 0;
    CHECK_THROWS_AS(gen_triforce(tf), std::invalid_argument);
    ApacheParams ap = small_apache();
    ap.workers = 0;
    CHECK_THROWS_AS(gen_apache(ap), std::invalid_argument);
    ap = small_apache();
    ap.hot_kib = 2 * 1024 * ap.heap_mib;
    CHECK_THROWS_AS(gen_apache(ap), std::invalid_argument);
    ap = small_apache();
    ap.rate = -1;
    CHECK_THROWS_AS(gen_apache(ap), std::invalid_argument);
}

TEST_CASE("app_generators_replay_with_the_oracle_in_every_mode", "[trace][gen][apps][slow]") {
    for (const auto& [name, t] : small_traces()) {
        for (int m = 0; m < kForkModeCount; ++m) {
            const auto mode = static_cast<ForkMode>(m);
            INFO(fmt::format("{} in {}", name, mode_name(mode)));
            Result r;
            REQUIRE_NOTHROW(r = replay_mode(t, mode, true));
            CHECK(r.tl.enabled);
            CHECK(r.tl.makespan_ns > 0);
        }
    }
}

SCENARIO("redis_tail_latency_under_classic_fork_exceeds_odf", "[trace][gen][apps][scenario]") {
    RedisSnapshotParams p = small_redis();
    p.dataset_gib = 0.25;
    p.duration_s = 2;
    p.first_bgsave_s = 0.2;
    p.save_mib_per_s = 2000;
    const Trace t = gen_redis_snapshot(p);
    const Result classic = replay_mode(t, ForkMode::Classic);
    const Result odf = replay_mode(t, ForkMode::Odf);
    const auto& lc = label(classic.tl, "req").latency_ns;
    const auto& lo = label(odf.tl, "req").latency_ns;
    REQUIRE(lc.size() == lo.size());
    REQUIRE(lc.size() > 30000);
    // A request that arrives during a classic fork of 256 MiB waits for it (about a millisecond); ODF's fork is
    // two orders of magnitude shorter.
    CHECK(quantile(lc, 0.9999) > 2 * quantile(lo, 0.9999));
    CHECK(lc.back() > 500e3);
    CHECK(lo.back() < 500e3);
    // The median request sees no fork in either mode.
    CHECK(quantile(lc, 0.5) == Approx(quantile(lo, 0.5)).epsilon(0.2));
}

SCENARIO("afl_executes_faster_with_odf_than_with_classic_fork", "[trace][gen][apps][scenario]") {
    AflParams p = small_afl();
    p.target_gib = 0.5;
    p.execs = 30;
    const Trace t = gen_afl(p);
    const Result classic = replay_mode(t, ForkMode::Classic);
    const Result odf = replay_mode(t, ForkMode::Odf);
    const double c = label(classic.tl, "campaign").latency_ns.at(0);
    const double o = label(odf.tl, "campaign").latency_ns.at(0);
    CHECK(label(classic.tl, "exec").latency_ns.size() == 30);
    CHECK(c > 1.5 * o); // execs/s = 30 / campaign: ODF at least 1.5x
}

SCENARIO("after_the_snapshot_child_exits_the_writers_fault_but_copy_nothing", "[trace][gen][apps][scenario]") {
    CowAfterExitParams p = small_cow();
    p.array_gib = 64.0 / 1024;
    const Trace t = gen_cow_after_exit(p);
    GIVEN("classic fork") {
        const Result r = replay_mode(t, ForkMode::Classic);
        REQUIRE(label(r.tl, "after").latency_ns.size() > 0);
        // The child copies every page of the checkpoint area it writes (COW of the parent's zero-filled array);
        // the parent copies only pages it wrote while the child still mapped them: the rest are one fault each
        // and no copy (the answer to the question).
        const std::uint64_t pages = gib_to_bytes(p.array_gib) / trace::kPageSize;
        CHECK(r.totals.pages_copied < 2 * pages);
        CHECK(fault(r, FaultKind::WpReuse) > pages / 2);
    }
    GIVEN("ODF") {
        const Result r = replay_mode(t, ForkMode::Odf);
        // One fault per 2 MiB table instead of one per page.
        CHECK(fault(r, FaultKind::WpReuse) == 0);
        const std::uint64_t tables = 2 * gib_to_bytes(p.array_gib) / (2 << 20);
        CHECK(fault(r, FaultKind::CowPteReuse) + fault(r, FaultKind::CowPteCopy) <= tables);
    }
}

SCENARIO("launcher_vfork_and_spawn_copy_no_page_table_and_the_pool_launches_fastest", "[trace][gen][apps][scenario]") {
    LauncherParams p = small_launcher();
    p.sizes_gib = {0.5};
    p.methods = {"vfork", "spawn"};
    const Result vs = replay_mode(gen_launcher(p), ForkMode::Classic);
    CHECK(vs.totals.ptes_copied == 0);
    CHECK(vs.totals.tables_copied_at_fork == 0);
    p.methods = {"fork", "vfork", "spawn", "pool"};
    for (ForkMode mode : {ForkMode::Classic, ForkMode::Odf}) {
        INFO(mode_name(mode));
        const Result r = replay_mode(gen_launcher(p), mode);
        CHECK((r.totals.ptes_copied > 0 || mode != ForkMode::Classic));
        const double pool = quantile(label(r.tl, "pool-512M").latency_ns, 0.5);
        for (const char* m : {"fork-512M", "vfork-512M", "spawn-512M"}) {
            CHECK(pool < quantile(label(r.tl, m).latency_ns, 0.5));
        }
        // Classic fork of a 512 MiB parent is the slowest launch.
        if (mode == ForkMode::Classic) {
            CHECK(quantile(label(r.tl, "fork-512M").latency_ns, 0.5) >
                  10 * quantile(label(r.tl, "spawn-512M").latency_ns, 0.5));
        }
    }
}

SCENARIO("triforce_executes_faster_with_odf_for_a_large_guest_and_alike_for_a_tiny_one",
         "[trace][gen][apps][scenario]") {
    TriforceParams p = small_triforce();
    p.ram_gib = 1;
    p.populated_gib = 0.5;
    p.jit_mib = 64;
    p.jit_used_mib = 16;
    p.qemu_mib = 16;
    p.hot_mib = 8;
    p.execs = 16;
    p.target_ns = 5000000;
    p.long_fraction = 0;
    auto campaign = [](const Trace& t, ForkMode mode) {
        const Result r = replay_mode(t, mode);
        REQUIRE(label(r.tl, "exec").latency_ns.size() == 16);
        return label(r.tl, "campaign").latency_ns.at(0);
    };
    GIVEN("half a GiB of guest RAM touched") {
        const Trace t = gen_triforce(p);
        // Classic fork copies the PTEs of 0.5 GiB + the JIT cache + QEMU's heap per test case and the child's exit
        // drops them (about 16 ms under the built-in cost model, against 5 ms of emulation); ODF's fork and its
        // table copies on the child's writes are far cheaper (about 0.6 ms).
        const double c = campaign(t, ForkMode::Classic);
        const double o = campaign(t, ForkMode::Odf);
        CHECK(c > 1.5 * o);
        CHECK(c < 10 * o);
    }
    GIVEN("a guest of a few MiB") {
        p.ram_gib = 8.0 / 1024;
        p.populated_gib = 4.0 / 1024;
        p.hot_mib = 2;
        p.jit_mib = 2;
        p.jit_used_mib = 1;
        p.qemu_mib = 4;
        const Trace t = gen_triforce(p);
        // Nothing to gain: the emulation dominates, and ODF's table copies on the child's writes cost about what
        // classic fork's PTE copies saved.
        const double c = campaign(t, ForkMode::Classic);
        const double o = campaign(t, ForkMode::Odf);
        CHECK(c == Approx(o).epsilon(0.05));
    }
}

SCENARIO("apache_right_after_start_gains_nothing_from_odf", "[trace][gen][apps][scenario]") {
    ApacheParams p = small_apache();
    p.requests = 400;
    auto mean = [](const std::vector<double>& v) {
        double s = 0;
        for (double x : v) {
            s += x;
        }
        return s / static_cast<double>(v.size());
    };
    GIVEN("workers that write inherited memory in child_init") {
        const Trace t = gen_apache(p);
        const Result classic = replay_mode(t, ForkMode::Classic);
        const Result odf = replay_mode(t, ForkMode::Odf);
        const auto& lc = label(classic.tl, "req").latency_ns;
        const auto& lo = label(odf.tl, "req").latency_ns;
        REQUIRE(lc.size() == 400);
        REQUIRE(lo.size() == 400);
        // ODF forks the small parent faster...
        CHECK(label(classic.tl, "start").latency_ns.at(0) > label(odf.tl, "start").latency_ns.at(0));
        // ...but the requests do not see the fork: mean and median are the same within 5 %, and the slowest request
        // is no faster.
        CHECK(mean(lo) == Approx(mean(lc)).epsilon(0.05));
        CHECK(quantile(lo, 0.5) == Approx(quantile(lc, 0.5)).epsilon(0.05));
        CHECK(lo.back() >= lc.back());
        // The warm-up shows in the tail of both: the slowest request pays COW faults the median one does not.
        CHECK(lc.back() > 1.2 * quantile(lc, 0.5));
    }
    GIVEN("workers whose first writes to inherited memory fall in their first requests") {
        p.init_writes = 0;
        const Trace t = gen_apache(p);
        const Result classic = replay_mode(t, ForkMode::Classic);
        const Result odf = replay_mode(t, ForkMode::Odf);
        const auto& lc = label(classic.tl, "req").latency_ns;
        const auto& lo = label(odf.tl, "req").latency_ns;
        // A worker's first write to a shared table copies it (512 entries) before the COW: ODF's slowest request
        // is slower by about a table copy; the mean barely moves.
        CHECK(odf.totals.tables_copied_on_demand > 0);
        CHECK(lo.back() > lc.back() + 3000);
        CHECK(mean(lo) == Approx(mean(lc)).epsilon(0.05));
    }
}
