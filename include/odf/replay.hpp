// Side-by-side replay of one trace under several fork modes, and the report formats.
#pragma once

#include "odf/simulator.hpp"

#include <map>
#include <string>
#include <vector>

namespace odf {

// What one process looked like at one mark op.
struct MarkRow {
    std::string label;
    std::uint32_t line = 0;
    std::uint32_t pid = 0;
    std::int64_t vmpte_kb = 0;
    std::int64_t rss_anon_kb = 0;
    std::uint64_t minflt = 0; // faults of the process so far
    double cycles = 0;        // cycles charged to the process so far
};

struct ModeResult {
    ForkMode mode = ForkMode::Classic;
    std::uint64_t ops = 0; // trace ops replayed
    Counters totals;
    std::vector<double> fork_cycles;
    std::uint64_t peak_pgtable_bytes = 0;
    std::uint64_t peak_rss_pages = 0;
    std::map<std::uint32_t, ProcessSummary> processes;
    std::vector<MarkRow> marks; // filled when ReplayOptions::marks is set
    std::vector<LeakEvent> leaks;
    TimelineReport timeline; // odf-trace v2: threads, CPUs and time
};

struct ReplayOptions {
    std::vector<ForkMode> modes;
    SimConfig sim;           // mode is overwritten per run
    std::string observe_dir; // non-empty: write <dir>/<mode>.jsonl observation logs (docs/DIFFTEST.md)
    bool progress = false;   // a progress bar on stderr
    bool marks = false;      // record per-mark observables of every live process
    unsigned jobs = 1;       // modes replayed at once, each on its own thread with its own kernel (results identical)
    // replay_file: a trace whose ops take more host memory than this is streamed (each mode reads the file in
    // batches) instead of loaded once and shared.
    std::uint64_t whole_trace_bytes = 64ULL << 20;
};

// Throws SimError (divergence) and std::runtime_error (I/O).
[[nodiscard]] std::vector<ModeResult> replay(const trace::Trace& t, const ReplayOptions& opt);
// The same for a trace file of any form. A large trace is never held in memory: after a validating first pass, each
// mode reads the file in batches (host memory bounded whatever the trace's size); a small one is loaded once.
// Results are identical either way. Throws trace::TraceError for a malformed file, before anything is replayed.
[[nodiscard]] std::vector<ModeResult> replay_file(const std::string& path, const ReplayOptions& opt);

struct Percentiles {
    double p50 = 0;
    double p99 = 0;
    double max = 0;
};
[[nodiscard]] Percentiles percentiles(std::vector<double> v);

[[nodiscard]] std::string format_table(const std::string& title, const std::vector<ModeResult>& r, const CostModel& m,
                                       bool per_process);
[[nodiscard]] std::string format_marks(const std::vector<ModeResult>& r);
[[nodiscard]] std::string format_json(const std::string& title, const std::vector<ModeResult>& r, const CostModel& m);
[[nodiscard]] std::string format_csv(const std::string& title, const std::vector<ModeResult>& r, const CostModel& m);
// Per thread of each mode (v2 traces): where its time went.
[[nodiscard]] std::string format_threads(const std::vector<ModeResult>& r);
// The highest CPU a trace names (`cpu N`), or -1.
[[nodiscard]] int max_cpu_named(const trace::Trace& t);

} // namespace odf
