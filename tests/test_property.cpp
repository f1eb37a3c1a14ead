// Property test: seeded random multi-process programs (every op of the format) run in every fork mode with the
// oracle and the invariant checker on; all modes must return identical read values and SIGSEGV events.
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
    std::vector<std::uint64_t> events; // read hashes, segv and pinfail addresses, in order
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
};

} // namespace

TEST_CASE("random_programs_keep_every_invariant_and_read_the_same_in_every_mode", "[property]") {
    const std::uint64_t seeds = env_or("ODF_PROPERTY_SEEDS", 1000);
    const std::uint64_t first = env_or("ODF_PROPERTY_FIRST_SEED", 1);
    const auto ops = static_cast<unsigned>(env_or("ODF_PROPERTY_OPS", 300));
    std::uint64_t total_ops = 0;
    std::uint64_t forks = 0;
    std::uint64_t shared = 0;
    for (std::uint64_t seed = first; seed < first + seeds; ++seed) {
        trace::RandomParams p;
        p.seed = seed;
        p.ops = ops;
        const trace::Trace t = trace::gen_random(p);
        std::vector<std::uint64_t> reference;
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
            const std::string leak = InvariantChecker::check_no_leak(sim.kernel());
            REQUIRE(leak.empty());
            if (m == 0) {
                reference = rec.events;
                forks += sim.totals().forks;
            } else {
                REQUIRE(rec.events == reference);
            }
            shared += sim.totals().tables_shared;
            total_ops += t.ops.size();
        }
    }
    CHECK(forks > seeds);  // the programs do fork
    CHECK(shared > seeds); // and ODF modes do share tables
    WARN(fmt::format("{} programs, {} ops replayed in {} modes, {} forks, {} tables shared", seeds, total_ops,
                     kForkModeCount, forks, shared));
}
