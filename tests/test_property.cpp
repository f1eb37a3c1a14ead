// Property test: seeded random multi-process programs (every op of the format) run in every fork mode with the
// oracle and the invariant checker on; all modes must return identical read values and SIGSEGV events. The
// programs take read-only GUP references (getref get/pin, readref, putref): the oracle checks what each getref
// references, but what a reference reads later depends on 6.1's COW decisions (AnonExclusive, refcounts), which a
// flat oracle does not model; so every mode's readref values are compared with classic's (6.1) instead, and no
// mode may report a leak event. thp is compared for everything but readref values: a page of a huge page is a real
// anon page even where classic maps the zero page, so a reference to it sees the process's own later writes.
// ODF_PROPERTY_SEEDS / ODF_PROPERTY_OPS / ODF_PROPERTY_FIRST_SEED override the default 1000 programs of 300 ops
// (the long run: ctest -L long, registered when ODF_LONG_PROPERTY_TESTS=ON).
#include "odf/checker.hpp"
#include "odf/simulator.hpp"
#include "odf/trace/generators.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fmt/format.h>
#include <vector>

using namespace odf;

namespace {

std::uint64_t env_or(const char* name, std::uint64_t dflt) {
    const char* v = std::getenv(name);
    return v != nullptr ? std::strtoull(v, nullptr, 10) : dflt;
}

struct Recorder final : Observer {
    std::vector<std::uint64_t> events;   // read hashes, segv, pinfail, reffail, noref addresses, in order
    std::vector<std::uint64_t> refreads; // readref hashes
    void on_read(const trace::Op& op, std::uint64_t hash, std::uint64_t pages) override {
        events.push_back(op.line);
        events.push_back(hash);
        events.push_back(pages);
    }
    void on_segv(const trace::Op& op, std::uint64_t addr) override {
        events.push_back(op.line);
        events.push_back(addr ^ 0x5e6e5e6e);
    }
    void on_sigbus(const trace::Op& op, std::uint64_t addr) override {
        events.push_back(op.line);
        events.push_back(addr ^ 0xb05);
    }
    void on_pinfail(const trace::Op& op, std::uint64_t addr) override {
        events.push_back(op.line);
        events.push_back(addr ^ 0x9177);
    }
    void on_readref(const trace::Op& op, std::uint64_t hash, std::uint64_t pages) override {
        refreads.push_back(op.line);
        refreads.push_back(hash);
        refreads.push_back(pages);
        ++readrefs;
    }
    void on_reffail(const trace::Op& op, std::uint64_t addr) override {
        events.push_back(op.line);
        events.push_back(addr ^ 0x4eff);
    }
    void on_noref(const trace::Op& op, std::uint64_t addr) override {
        events.push_back(op.line);
        events.push_back(addr ^ 0x404ef);
        ++norefs;
    }
    std::uint64_t readrefs = 0;
    std::uint64_t norefs = 0;
};

// Every thread's time splits exactly into its categories (odf-trace v2).
void check_timeline(const TimelineReport& tl) {
    for (const ThreadReport& th : tl.threads) {
        const ThreadTime& t = th.time;
        const double parts = t.user + t.kernel + t.lock_wait + t.runq + t.blocked + t.irq + t.idle;
        INFO(fmt::format("thread {}.{}", th.pid, th.tid));
        REQUIRE(t.user >= 0);
        REQUIRE(t.kernel >= 0);
        REQUIRE(t.lock_wait >= 0);
        REQUIRE(parts == Approx(th.end_ns - th.start_ns).margin(1e-6 * (1 + th.end_ns)));
        REQUIRE(th.end_ns <= tl.makespan_ns);
    }
}

void run_programs(bool v2, std::uint64_t default_seeds) {
    const std::uint64_t seeds = env_or(v2 ? "ODF_PROPERTY_V2_SEEDS" : "ODF_PROPERTY_SEEDS", default_seeds);
    const std::uint64_t first = env_or("ODF_PROPERTY_FIRST_SEED", 1);
    const auto ops = static_cast<unsigned>(env_or("ODF_PROPERTY_OPS", 300));
    std::uint64_t total_ops = 0;
    std::uint64_t forks = 0;
    std::uint64_t shared = 0;
    std::uint64_t readrefs = 0;
    for (std::uint64_t seed = first; seed < first + seeds; ++seed) {
        trace::RandomParams p;
        p.seed = seed;
        p.ops = ops;
        p.v2 = v2;
        const trace::Trace t = trace::gen_random(p);
        std::vector<std::uint64_t> reference;
        std::vector<std::uint64_t> reference_refs;
        for (int m = 0; m < kForkModeCount; ++m) {
            SimConfig cfg;
            cfg.kernel.mode = static_cast<ForkMode>(m);
            cfg.kernel.phys_frames = (1ULL << 30) >> kPageShift;
            cfg.check = true;
            cfg.check_every = 5;
            Simulator sim(cfg);
            Recorder rec;
            sim.set_observer(&rec);
            INFO(fmt::format("seed {} mode {}", seed, mode_name(cfg.kernel.mode)));
            try {
                sim.run(t);
                sim.finish(t);
            } catch (const SimError& e) {
                FAIL(e.what());
            }
            if (v2) {
                const TimelineReport tl = sim.timeline();
                REQUIRE(tl.enabled);
                check_timeline(tl);
            }
            const std::string leak = InvariantChecker::check_no_leak(sim.kernel());
            REQUIRE(leak.empty());
            REQUIRE(sim.leaks().empty()); // with the fix no mode leaks data through a GUP reference
            REQUIRE(rec.norefs == 0);     // the generator only reads and drops references a process holds
            readrefs += rec.readrefs;
            if (m == 0) {
                reference = rec.events;
                reference_refs = rec.refreads;
                forks += sim.totals().forks;
            } else {
                REQUIRE(rec.events == reference);
                if (cfg.kernel.mode != ForkMode::Thp) {
                    REQUIRE(rec.refreads == reference_refs);
                }
            }
            shared += sim.totals().tables_shared;
            total_ops += t.ops.size();
        }
    }
    CHECK(forks > seeds);  // the programs do fork
    CHECK(shared > seeds); // and ODF modes do share tables
    CHECK(readrefs > seeds);
    WARN(fmt::format("{} {} programs, {} ops replayed in {} modes, {} forks, {} tables shared, {} readrefs", seeds,
                     v2 ? "v2" : "v1", total_ops, kForkModeCount, forks, shared, readrefs));
}

} // namespace

TEST_CASE("random_programs_keep_every_invariant_and_read_the_same_in_every_mode", "[property]") {
    run_programs(false, 1000);
}

// odf-trace v2: threads, CPUs, clone/texit, wait, vfork, spawn, run, begin/end mixed into the same programs; the
// oracle and the invariants hold, every mode reads the same, and every thread's time adds up.
TEST_CASE("random_v2_programs_with_threads_keep_every_invariant_in_every_mode", "[property][threads]") {
    run_programs(true, 1000);
}
