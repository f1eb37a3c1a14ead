// Replay throughput: simulated page accesses per host second (items_per_second) over binary-form traces, with the
// TLB model on (it always is). Target: >= 30 M accesses/s (scripts/perf-targets).
//
//   scan                 one process, 64 MiB populated, then 64 passes of 64-page reads with one write per pass:
//                        every access misses the L2 TLB (16384 pages > 2048 entries): the walk path
//   hot                  the same over 4 MiB (1024 pages): L2 TLB hits, the fast path of traces with locality
//   snapshot             the Redis-style snapshot generator, 256 MiB: population faults, child scan, parent COWs
//   fuzz                 the fuzzing-loop generator: 128 MiB parent, 200 forked children of 256 accesses each
// The "File" variants include decoding the binary file (load_trace); the others replay a trace already in memory.
#include "common.hpp"
#include "odf/trace/format.hpp"
#include "odf/trace/generators.hpp"
#include "odf/trace/io.hpp"

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <system_error>
#include <unistd.h>

namespace odf::bench {
namespace {

// `bytes` populated, then 64 passes of 64-page reads over it with one write per pass.
trace::Trace gen_scan(std::uint64_t bytes) {
    trace::Builder b;
    const std::uint64_t chunk = 64 * kPageSize;
    b.populate(1, kBase, bytes);
    for (int pass = 0; pass < 64; ++pass) {
        for (std::uint64_t o = 0; o < bytes; o += chunk) {
            b.read(1, kBase + o, chunk);
        }
        b.write(1, kBase + std::uint64_t(pass) * kPageSize, kPageSize);
    }
    b.exit(1);
    return b.finish("scan");
}

trace::Trace make(const std::string& name) {
    if (name == "scan") {
        return gen_scan(64ULL << 20);
    }
    if (name == "hot") {
        return gen_scan(4ULL << 20);
    }
    if (name == "snapshot") {
        trace::SnapshotParams p;
        p.dataset_gib = 0.25;
        return trace::gen_snapshot(p);
    }
    trace::FuzzLoopParams p;
    p.parent_gib = 0.125;
    p.iterations = 200;
    p.pages = 256;
    return trace::gen_fuzz_loop(p);
}

// The binary file of each workload, written once per process run into the temp directory.
struct TempFiles {
    std::map<std::string, std::string> files;
    ~TempFiles() {
        for (const auto& [name, path] : files) {
            std::error_code ec;
            std::filesystem::remove(path, ec);
        }
    }
};

const std::string& binary_file(const std::string& name) {
    static TempFiles tmp;
    auto& files = tmp.files;
    auto it = files.find(name);
    if (it == files.end()) {
        const auto path = std::filesystem::temp_directory_path() /
                          ("odf-bench-replay-" + name + "-" + std::to_string(::getpid()) + ".odft");
        trace::save_trace(path.string(), make(name), trace::Format::Binary, false);
        it = files.emplace(name, path.string()).first;
    }
    return it->second;
}

void replay_once(benchmark::State& state, const trace::Trace& t, ForkMode mode, std::uint64_t& accesses,
                 double& cycles) {
    state.PauseTiming(); // setting the simulator up and tearing it down is not replay
    auto sim = std::make_unique<Simulator>(config_for(mode, 1.0));
    state.ResumeTiming();
    sim->run(t);
    state.PauseTiming();
    const Counters c = sim->totals();
    accesses += c.accesses;
    cycles += c.cycles(sim->kernel().costs());
    sim.reset();
    state.ResumeTiming();
}

void BM_Replay(benchmark::State& state, const std::string& name, ForkMode mode, bool from_file) {
    const trace::Trace mem = trace::load_trace(binary_file(name));
    std::uint64_t accesses = 0;
    double cycles = 0;
    for (auto _ : state) {
        if (from_file) {
            const trace::Trace t = trace::load_trace(binary_file(name));
            replay_once(state, t, mode, accesses, cycles);
        } else {
            replay_once(state, mem, mode, accesses, cycles);
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(accesses));
    state.counters["accesses"] = double(accesses) / double(state.iterations());
    set_sim_counters(state, cycles / double(state.iterations()));
}

BENCHMARK_CAPTURE(BM_Replay, scan_classic, std::string("scan"), ForkMode::Classic, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Replay, scan_classic_file, std::string("scan"), ForkMode::Classic, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Replay, hot_classic, std::string("hot"), ForkMode::Classic, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Replay, hot_classic_file, std::string("hot"), ForkMode::Classic, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Replay, snapshot_classic, std::string("snapshot"), ForkMode::Classic, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Replay, snapshot_odf, std::string("snapshot"), ForkMode::Odf, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Replay, snapshot_odf_file, std::string("snapshot"), ForkMode::Odf, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Replay, fuzz_classic, std::string("fuzz"), ForkMode::Classic, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Replay, fuzz_odf, std::string("fuzz"), ForkMode::Odf, false)->Unit(benchmark::kMillisecond);

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
