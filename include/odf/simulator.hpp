// Replays odf-trace operations on the modelled kernel, with the oracle and the invariant checker on request.
#pragma once

#include "odf/kernel.hpp"
#include "odf/oracle.hpp"
#include "odf/timeline.hpp"
#include "odf/trace.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace odf {

// The model diverged from the oracle or broke an invariant: names the operation, process, address and values.
class SimError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Receives what a run observes (docs/DIFFTEST.md). Default implementations ignore everything.
class Observer {
  public:
    virtual ~Observer() = default;
    virtual void on_op(const trace::Op& /*op*/, std::uint64_t /*minflt*/) {}
    virtual void on_read(const trace::Op& /*op*/, std::uint64_t /*hash*/, std::uint64_t /*pages*/) {}
    virtual void on_segv(const trace::Op& /*op*/, std::uint64_t /*addr*/) {}
    virtual void on_sigbus(const trace::Op& /*op*/, std::uint64_t /*addr*/) {}
    virtual void on_pinfail(const trace::Op& /*op*/, std::uint64_t /*addr*/) {}
    virtual void on_reffail(const trace::Op& /*op*/, std::uint64_t /*addr*/) {}
    virtual void on_readref(const trace::Op& /*op*/, std::uint64_t /*hash*/, std::uint64_t /*pages*/) {}
    virtual void on_noref(const trace::Op& /*op*/, std::uint64_t /*addr*/) {}
    virtual void on_mark(const trace::Op& /*op*/, std::uint32_t /*pid*/, const Mm& /*mm*/) {}
    virtual void on_exit(const trace::Op& /*op*/, const Mm& /*mm*/) {}
};

struct SimConfig {
    KernelConfig kernel;
    bool check = false;            // oracle on every read, invariants every `check_every` ops and at the end
    std::uint64_t check_every = 1; // with check: run the invariant checker after every N-th op
    // odf-trace v2: CPUs of the machine; a `cpu N` with N >= cpus is an error. 0: no limit (replay sets it to the
    // highest CPU the trace names + 1 unless --cpus is given).
    int cpus = 0;
};

// A readref that returned private anonymous data another process wrote after the reference was taken
// (docs/SEMANTICS.md, "Read-only GUP references"). Not part of the observation log.
struct LeakEvent {
    std::uint32_t pid = 0;    // the reference's holder (the process doing the readref)
    std::uint32_t line = 0;   // the readref's line
    std::uint64_t addr = 0;   // the page address
    std::uint32_t writer = 0; // the process whose data it read
    friend bool operator==(const LeakEvent&, const LeakEvent&) = default;
};

// A process's totals, kept when it exits.
struct ProcessSummary {
    std::uint32_t pid = 0;
    Counters stats;
    std::int64_t rss_anon_pages = 0; // at exit (or at the end of the trace)
    std::int64_t vmpte_bytes = 0;
};

class Simulator {
  public:
    explicit Simulator(SimConfig cfg);

    // Contract: ops come from a validated trace (pids alive, child pids new). Throws SimError on divergence.
    void apply(const trace::Op& op, const trace::Trace& t);
    void run(const trace::Trace& t);
    // Exit every live process (recording their summaries) and check that nothing leaked.
    void finish(const trace::Trace& t);

    void set_observer(Observer* o) { observer_ = o; }
    [[nodiscard]] Kernel& kernel() { return kernel_; }
    [[nodiscard]] const Kernel& kernel() const { return kernel_; }
    [[nodiscard]] const std::vector<double>& fork_cycles() const { return fork_cycles_; }
    [[nodiscard]] const std::map<std::uint32_t, ProcessSummary>& summaries() const { return summaries_; }
    [[nodiscard]] std::uint64_t peak_pgtable_bytes() const { return kernel_.phys().peak_table_frames() * kPageSize; }
    [[nodiscard]] std::uint64_t peak_rss_pages() const { return peak_rss_; }
    // Every leak event so far, in order.
    [[nodiscard]] const std::vector<LeakEvent>& leaks() const { return leaks_; }
    // Totals over all processes, live and exited.
    [[nodiscard]] Counters totals() const;
    // Threads, CPUs and time of a v2 trace (enabled = false for v1 traces). Complete after finish().
    [[nodiscard]] TimelineReport timeline() const;

  private:
    // The memory effect of one op, in the address space of process `mp` (op.pid, or the vfork parent whose mm a
    // vfork child borrows), with its observations.
    void effect(const trace::Op& op, const trace::Trace& t, std::uint32_t mp);
    void access_range(const trace::Op& op, std::uint32_t mp, bool write);
    void getref(const trace::Op& op, std::uint32_t mp);
    void ref_range(const trace::Op& op, std::uint32_t mp, bool read);

    // --- odf-trace v2: threads, CPUs and simulated time (sim/threads.cpp)
    struct ThreadState {
        std::uint32_t pid = 0;
        std::uint32_t tid = 0;
        int cpu = 0;
        double start = 0; // ns
        double clock = 0; // ns: when its last op ended
        ThreadTime time;
        bool alive = true;
        bool blocked = false;                               // in wait or vfork
        std::vector<std::pair<std::uint32_t, double>> open; // begin label -> arrival time
    };
    struct ProcState {
        std::uint32_t mm_pid = 0;  // whose mm it runs in: itself, or the vfork parent until its exec or exit
        std::uint32_t parent = 0;  // 0: a first process
        std::uint64_t vforker = 0; // the thread blocked in vfork for it (key), 0: none
        bool alive = true;
        double exit_ns = 0;
        std::vector<std::uint64_t> waiters; // threads blocked in wait for it (keys)
    };
    struct MmLock {
        double write_end = 0; // when the last write hold ends
        double read_end = 0;  // when the last read hold ends
    };
    static std::uint64_t key(std::uint32_t pid, std::uint32_t tid) { return (std::uint64_t{pid} << 32) | tid; }
    void timed_apply(const trace::Op& op, const trace::Trace& t);
    ThreadState& thread_of(const trace::Op& op, const trace::Trace& t);
    ThreadState& new_thread(std::uint32_t pid, std::uint32_t tid, int cpu, double at);
    void set_runnable(ThreadState& th, bool runnable);
    void end_thread(ThreadState& th);
    void unblock(std::uint64_t k, double at);
    [[nodiscard]] std::uint32_t mm_pid(std::uint32_t pid) const;
    [[nodiscard]] double to_ns(double cycles) const { return cycles / kernel_.costs().clock_ghz; }
    void report_thread(const ThreadState& th);

    std::unordered_map<std::uint64_t, ThreadState> threads_;
    std::unordered_map<std::uint32_t, ProcState> procs_;
    std::unordered_map<std::uint32_t, MmLock> locks_;        // by Mm::id
    std::vector<double> cpu_free_;                           // per CPU: when its current op ends
    std::vector<double> cpu_irq_;                            // per CPU: shootdown handler cycles not yet charged
    std::map<std::uint32_t, std::vector<double>> latencies_; // label -> ns
    std::vector<ThreadReport> thread_reports_;
    double makespan_ = 0;
    bool timed_ = false;
    void check_now(const trace::Op& op, const trace::Trace& t);
    void summarize(const Mm& mm);
    [[noreturn]] void diverge(const trace::Op& op, const trace::Trace& t, const std::string& what) const;

    SimConfig cfg_;
    Kernel kernel_;
    std::optional<Oracle> oracle_;
    Observer* observer_ = nullptr;
    std::vector<double> fork_cycles_;
    std::vector<LeakEvent> leaks_;
    std::map<std::uint32_t, ProcessSummary> summaries_;
    std::uint64_t ops_ = 0;
    std::uint64_t peak_rss_ = 0;
    const trace::Trace* cur_trace_ = nullptr;
};

} // namespace odf
