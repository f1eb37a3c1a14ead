// The real-world workload generators (odf-trace v2): redis-snapshot, afl, cow-after-exit, launcher
// (traces/FORMAT.md, "Generators"): valid, deterministic, replayable with the oracle in every mode, and one scenario
// each that asserts what the workload is about.
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

std::vector<std::pair<std::string, Trace>> small_traces() {
    CowAfterExitParams nofork = small_cow();
    nofork.no_fork = true;
    return {{"redis-snapshot", gen_redis_snapshot(small_redis())},
            {"afl", gen_afl(small_afl())},
            {"cow-after-exit", gen_cow_after_exit(small_cow())},
            {"cow-after-exit --no-fork", gen_cow_after_exit(nofork)},
            {"launcher", gen_launcher(small_launcher())}};
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
    CHECK(vs.totals.tables_copied_fork == 0);
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
