// Simulator speed: host time of simulated forks and faults (items = simulated pages), with the modelled cost of each
// as counters (sim_cycles, sim_us, sim_ms: per operation, under --cost-model, default the paper's machine).
#include <memory>

#include "common.hpp"

namespace odf::bench {
namespace {

// Populating 50 GiB takes seconds of host time and Google Benchmark calls a benchmark function several times while it
// sizes the iteration count: the populated parent is kept between calls with the same key.
struct Fixture {
    ForkMode mode{};
    std::uint64_t bytes = 0;
    std::unique_ptr<Simulator> sim;
    std::unique_ptr<Driver> drv;
    std::uint32_t next_pid = 2;
};

Fixture& fixture(ForkMode mode, std::uint64_t bytes) {
    static Fixture f;
    if (!f.sim || f.mode != mode || f.bytes != bytes) {
        f.drv.reset();
        f.sim.reset(); // free the old one first: two 50 GiB parents would not fit
        f.mode = mode;
        f.bytes = bytes;
        f.sim = std::make_unique<Simulator>(config_for(mode, double(bytes) / double(kGiB)));
        f.drv = std::make_unique<Driver>(*f.sim);
        f.drv->populate(bytes);
        f.next_pid = 2;
    }
    return f;
}

// Fork of a parent with `gib` GiB populated (4 KiB pages, one VMA); the child exits outside the timed region.
void BM_SimFork(benchmark::State& state, ForkMode mode) {
    const std::uint64_t bytes = std::uint64_t(state.range(0)) * kGiB;
    Fixture& f = fixture(mode, bytes);
    double cycles = 0;
    for (auto _ : state) {
        const std::uint32_t child = f.next_pid++;
        cycles += f.drv->fork(1, child);
        state.PauseTiming();
        f.drv->exit(child);
        state.ResumeTiming();
    }
    const auto it = static_cast<std::int64_t>(state.iterations());
    state.SetItemsProcessed(it * std::int64_t(bytes / kPageSize));
    state.SetBytesProcessed(it * std::int64_t(bytes));
    set_sim_counters(state, cycles / double(it));
    // Peak host memory of this process so far: run one size alone for a per-GiB figure (scripts/perf-targets).
    state.counters["host_vmhwm_mib"] = host_peak_rss_mib();
    state.counters["host_vmhwm_mib_per_gib"] = host_peak_rss_mib() / double(state.range(0));
}
BENCHMARK_CAPTURE(BM_SimFork, classic, ForkMode::Classic)->Arg(1)->Arg(4)->Arg(16)->Arg(50)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SimFork, odf, ForkMode::Odf)->Arg(1)->Arg(4)->Arg(16)->Arg(50)->Unit(benchmark::kMillisecond);

// After a fork, each iteration writes one page of the parent: `mode` odf breaks a shared table (copy: the child still
// maps it) and then copies the page; classic takes a COW fault. A new child is forked (untimed) when every table or
// page of the range has been written once.
void fault_loop(benchmark::State& state, ForkMode mode, std::uint64_t bytes, std::uint64_t stride) {
    Fixture& f = fixture(mode, bytes);
    const std::uint64_t n = bytes / stride;
    std::uint32_t child = f.next_pid++;
    f.drv->fork(1, child);
    std::uint64_t i = 0;
    double cycles = 0;
    double before = total_cycles(*f.sim);
    for (auto _ : state) {
        if (i == n) {
            state.PauseTiming();
            cycles += total_cycles(*f.sim) - before;
            f.drv->exit(child);
            child = f.next_pid++;
            f.drv->fork(1, child);
            before = total_cycles(*f.sim);
            i = 0;
            state.ResumeTiming();
        }
        f.drv->write(1, kBase + i * stride, 1);
        ++i;
    }
    cycles += total_cycles(*f.sim) - before;
    f.drv->exit(child);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    set_sim_counters(state, cycles / double(state.iterations()));
}

void BM_SimWriteFaultSharedTable(benchmark::State& state) { fault_loop(state, ForkMode::Odf, kGiB, 2ULL << 20); }
BENCHMARK(BM_SimWriteFaultSharedTable)->Unit(benchmark::kMicrosecond);

void BM_SimCowFault(benchmark::State& state) { fault_loop(state, ForkMode::Classic, 64ULL << 20, kPageSize); }
BENCHMARK(BM_SimCowFault);

} // namespace
} // namespace odf::bench

int main(int argc, char** argv) {
    if (!odf::bench::init(&argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
