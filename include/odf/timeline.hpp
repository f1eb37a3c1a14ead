// Threads, CPUs and simulated time (odf-trace v2, docs/SEMANTICS.md "Threads, CPUs and time"): what a replay
// reports per thread and per request label. The memory effects of a trace stay in trace order; time only couples
// threads through the CPUs they share, mmap_lock, wait/vfork/spawn and request arrival times.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace odf {

// Where a thread's simulated time went, in nanoseconds. user + kernel + lock_wait + runq + blocked + irq + idle is
// the thread's end time minus its start time.
struct ThreadTime {
    double user = 0;      // `run`, and memory accesses that hit the TLB or walk the page tables
    double kernel = 0;    // faults, system calls, fork/vfork/spawn/clone/exec/exit, TLB shootdowns it waited for
    double lock_wait = 0; // waiting for mmap_lock (a fault during a fork, an mmap during a fault, ...)
    double runq = 0;      // runnable, but its CPU was busy with another thread
    double blocked = 0;   // in wait, or in vfork until the child's exec or exit
    double irq = 0;       // TLB invalidations other CPUs asked for (shootdown IPI handlers)
    double idle = 0;      // waiting for a request to arrive (`begin LABEL AT` with AT in the future)
};

struct ThreadReport {
    std::uint32_t pid = 0;
    std::uint32_t tid = 0;
    double start_ns = 0;
    double end_ns = 0;
    ThreadTime time;
};

// Latencies of one request label (`begin`/`end` intervals): from the arrival time AT (or the `begin`) to the `end`.
struct LabelReport {
    std::string label;
    std::vector<double> latency_ns; // sorted ascending
};

struct TimelineReport {
    bool enabled = false; // a v2 trace: the rest is meaningful
    int cpus = 1;
    double makespan_ns = 0;            // the latest end time of any thread
    std::vector<ThreadReport> threads; // by (pid, tid), threads of processes that exec'd or were reused: each life
    std::vector<LabelReport> labels;   // in order of the trace's label table
};

// The value at quantile q (0..1) of sorted values, nearest rank; 0 for an empty vector.
[[nodiscard]] double quantile(const std::vector<double>& sorted, double q);

} // namespace odf
