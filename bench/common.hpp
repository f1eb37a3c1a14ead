// Shared helpers of the benchmark suites: the cost model flag, simulator set-up, and op builders.
#pragma once

#include "odf/cost_model.hpp"
#include "odf/mm.hpp"
#include "odf/simulator.hpp"
#include "odf/trace.hpp"
#include "odf/trace/builder.hpp"

#include <benchmark/benchmark.h>
#include <cstdint>
#include <string>

namespace odf::bench {

inline constexpr std::uint64_t kGiB = 1ULL << 30;
inline constexpr std::uint64_t kBase = 0x100000000000ULL; // 16 TiB, 1 GiB aligned (as the trace generators use)

// The cost model of this run: --cost-model=FILE, removed from argv by init(); default the paper's machine.
const CostModel& cost_model();
// Parses and removes our own flags, then initialises Google Benchmark. Returns false on a usage error.
bool init(int* argc, char** argv);

// A simulator in `mode` with enough simulated physical memory for `populated_gib` plus its copies.
SimConfig config_for(ForkMode mode, double populated_gib);

// Builds ops (trace::Builder) and applies each to the simulator as it is built.
class Driver {
  public:
    explicit Driver(Simulator& sim) : sim_(sim), b_("bench") {}
    void mmap(std::uint32_t pid, std::uint64_t addr, std::uint64_t len);
    void munmap(std::uint32_t pid, std::uint64_t addr, std::uint64_t len);
    void write(std::uint32_t pid, std::uint64_t addr, std::uint64_t len);
    void read(std::uint32_t pid, std::uint64_t addr, std::uint64_t len);
    // Returns the modelled cycles of the fork (Simulator::fork_cycles()).
    double fork(std::uint32_t parent, std::uint32_t child);
    void exit(std::uint32_t pid);
    // mmap + write of `bytes` at kBase in pid 1.
    void populate(std::uint64_t bytes);
    [[nodiscard]] Simulator& sim() { return sim_; }

  private:
    void apply(); // the ops built since the last apply
    Simulator& sim_;
    trace::Builder b_;
};

// Modelled cycles of everything charged so far, all processes.
double total_cycles(const Simulator& sim);

// Sets sim_cycles / sim_us / sim_ms counters (per iteration averages are the caller's business).
void set_sim_counters(benchmark::State& state, double cycles);

std::string mode_label(ForkMode m);

// The host process's peak resident set (VmHWM of /proc/self/status), in MiB.
double host_peak_rss_mib();

} // namespace odf::bench
