// odf-trace v2: threads, CPUs and simulated time (docs/SEMANTICS.md, "Threads, CPUs and time").
//
// Memory effects happen in trace order, exactly as for v1 traces (so the oracle, the invariant checker and the
// kernel difftest apply unchanged). Time is layered on top: every thread has a clock; an op starts when its thread
// and its CPU are free, and, if it takes the mm's mmap_lock, when the holds before it in trace order allow; it
// lasts the cycles the model charged for it (user part: accesses and walks; kernel part: the rest) or `run NS`.
#include "odf/simulator.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace odf {

using trace::OpKind;

namespace {

enum class LockMode : std::uint8_t { None, Read, Write };

// mmap_lock as Linux 6.1 takes it: fork holds the parent's for write over the whole dup_mmap; mmap, munmap,
// mprotect, mremap and brk for write, and exit_mmap ends under it; faults, madvise(MADV_DONTNEED) and GUP (pin,
// getref) for read. A read or write that took no fault does not take it.
LockMode lock_mode(const trace::Op& op, bool faulted) {
    switch (op.kind) {
    case OpKind::Fork:
    case OpKind::Mmap:
    case OpKind::Munmap:
    case OpKind::Mprotect:
    case OpKind::Mremap:
    case OpKind::Brk:
    case OpKind::Exit:
        return LockMode::Write;
    case OpKind::Madvise:
    case OpKind::Pin:
    case OpKind::Getref:
        return LockMode::Read;
    case OpKind::Read:
    case OpKind::Write:
        return faulted ? LockMode::Read : LockMode::None;
    default:
        return LockMode::None;
    }
}

// Cycles spent in user mode: loads and stores, TLB refills and page walks done by the MMU.
double user_cycles(const Counters& c, const CostModel& m) {
    return c.cycles(m, Cost::MemAccess) + c.cycles(m, Cost::TlbL2Hit) + c.cycles(m, Cost::WalkStepHit) +
           c.cycles(m, Cost::WalkStepMiss);
}

} // namespace

double quantile(const std::vector<double>& sorted, double q) {
    if (sorted.empty()) {
        return 0;
    }
    const double rank = std::ceil(q * static_cast<double>(sorted.size()));
    const auto i = static_cast<std::size_t>(std::max(1.0, rank)) - 1;
    return sorted[std::min(i, sorted.size() - 1)];
}

std::uint32_t Simulator::mm_pid(std::uint32_t pid) const {
    auto it = procs_.find(pid);
    return it == procs_.end() ? pid : it->second.mm_pid;
}

Simulator::ThreadState& Simulator::thread_of(const trace::Op& op, const trace::Trace& t) {
    auto it = threads_.find(key(op.pid, op.tid));
    if (it == threads_.end() || !it->second.alive) {
        diverge(op, t, fmt::format("thread {}.{} does not exist or has ended", op.pid, op.tid));
    }
    if (it->second.blocked) {
        diverge(op, t, fmt::format("thread {}.{} is blocked (wait or vfork)", op.pid, op.tid));
    }
    return it->second;
}

// mm_cpumask: a runnable thread counts on its CPU in the mm it runs in.
void Simulator::set_runnable(ThreadState& th, bool runnable) {
    Mm* mm = kernel_.mm(mm_pid(th.pid));
    if (mm == nullptr) {
        return;
    }
    auto& n = mm->cpu_threads;
    if (n.size() <= static_cast<std::size_t>(th.cpu)) {
        n.resize(static_cast<std::size_t>(th.cpu) + 1, 0);
    }
    if (runnable) {
        ++n[static_cast<std::size_t>(th.cpu)];
    } else {
        --n[static_cast<std::size_t>(th.cpu)];
    }
}

Simulator::ThreadState& Simulator::new_thread(std::uint32_t pid, std::uint32_t tid, int cpu, double at) {
    ThreadState& th = threads_[key(pid, tid)];
    th = ThreadState{};
    th.pid = pid;
    th.tid = tid;
    th.cpu = cpu;
    th.start = at;
    th.clock = at;
    set_runnable(th, true);
    return th;
}

void Simulator::report_thread(const ThreadState& th) {
    thread_reports_.push_back(ThreadReport{th.pid, th.tid, th.start, th.clock, th.time});
    makespan_ = std::max(makespan_, th.clock);
}

void Simulator::end_thread(ThreadState& th) {
    if (!th.alive) {
        return;
    }
    if (!th.blocked) {
        set_runnable(th, false);
    }
    th.alive = false;
    report_thread(th);
}

// A thread blocked in wait or vfork resumes at `at`.
void Simulator::unblock(std::uint64_t k, double at) {
    auto it = threads_.find(k);
    if (it == threads_.end() || !it->second.alive || !it->second.blocked) {
        return;
    }
    ThreadState& th = it->second;
    if (at > th.clock) {
        th.time.blocked += at - th.clock;
        th.clock = at;
    }
    th.blocked = false;
    set_runnable(th, true);
}

void Simulator::timed_apply(const trace::Op& op, const trace::Trace& t) {
    if (!timed_) { // the first op of a v2 trace: pid 1's main thread, and every other first process, start at 0
        timed_ = true;
        procs_[1] = ProcState{1, 0, 0, true, 0, {}};
        new_thread(1, 0, 0, 0);
    }
    ThreadState* th = &thread_of(op, t);
    const CostModel& m = kernel_.costs();
    const std::uint32_t mp = mm_pid(op.pid);
    const bool vfork_child = mp != op.pid;
    ProcState& proc = procs_[op.pid];

    if (op.kind == OpKind::Cpu && cfg_.cpus > 0 && static_cast<int>(op.child) >= cfg_.cpus) {
        throw trace::TraceError(
            t.source, op.line,
            fmt::format("cpu {} is out of range: the machine has {} CPUs (--cpus)", op.child, cfg_.cpus));
    }

    // When the thread can start: its clock, its CPU, the shootdown handlers its CPU owes.
    const auto cpu = static_cast<std::size_t>(th->cpu);
    if (cpu_free_.size() <= cpu) {
        cpu_free_.resize(cpu + 1, 0.0);
    }
    {
        const std::vector<double> owed = kernel_.take_remote_cycles();
        if (cpu_irq_.size() < owed.size()) {
            cpu_irq_.resize(owed.size(), 0.0);
        }
        for (std::size_t c = 0; c < owed.size(); ++c) {
            cpu_irq_[c] += owed[c];
        }
    }
    double start = th->clock;
    if (cpu_free_[cpu] > start) {
        th->time.runq += cpu_free_[cpu] - start;
        start = cpu_free_[cpu];
    }
    if (cpu < cpu_irq_.size() && cpu_irq_[cpu] > 0) {
        const double irq = to_ns(cpu_irq_[cpu]);
        cpu_irq_[cpu] = 0;
        th->time.irq += irq;
        start += irq;
    }
    kernel_.set_cpu(th->cpu);

    Mm* mm = kernel_.mm(mp);
    const std::uint32_t lock_id = mm->id;
    const Counters before = mm->stats;
    const Counters retired_before = op.kind == OpKind::Exit && !vfork_child ? kernel_.retired() : Counters{};
    double user_ns = 0;
    double kernel_cycles_extra = 0; // costs of v2 ops that no mm's counters carry
    bool observed = false;          // effect() wrote the op record

    switch (op.kind) {
    case OpKind::Clone:
        kernel_.charge_to(mp, Cost::TaskCreate);
        break;
    case OpKind::Vfork:
        kernel_.charge_to(mp, Cost::TaskCreate);
        ++kernel_.mm(mp)->stats.forks;
        break;
    case OpKind::Spawn:
        // posix_spawn: clone(CLONE_VM | CLONE_VFORK), the child execs at once; the caller is blocked until the
        // child's exec releases it (exec_mmap), charged to the caller as its wait.
        kernel_.charge_to(mp, Cost::TaskCreate);
        kernel_cycles_extra += m[Cost::ExecBase];
        ++kernel_.mm(mp)->stats.forks;
        break;
    case OpKind::Run:
        user_ns = static_cast<double>(op.len);
        break;
    case OpKind::Exec:
        if (vfork_child) { // the child leaves the borrowed mm for a new one
            set_runnable(*th, false);
            proc.mm_pid = op.pid;
            kernel_.create_process(op.pid);
            kernel_.charge_to(op.pid, Cost::ExecBase);
            if (oracle_) {
                oracle_->create(op.pid);
            }
        } else {
            for (auto& [k, other] : threads_) { // de_thread(): the other threads end
                if (other.pid == op.pid && other.alive && &other != th) {
                    end_thread(other);
                }
            }
            effect(op, t, mp); // the old mm and its cpumask are gone
            observed = true;
        }
        break;
    case OpKind::Exit:
        if (vfork_child) { // _exit of a vfork child: the borrowed mm stays with its parent
            if (observer_ != nullptr) {
                observer_->on_exit(op, *mm);
            }
        } else {
            effect(op, t, mp);
            observed = true;
        }
        break;
    case OpKind::Texit:
    case OpKind::Cpu:
    case OpKind::Wait:
    case OpKind::Begin:
    case OpKind::End:
        break;
    default:
        effect(op, t, mp);
        observed = true;
        break;
    }

    // The op's cost, split into user and kernel time.
    double cycles = 0;
    double ucycles = 0;
    std::uint64_t faults = 0;
    if (op.kind == OpKind::Exit && !vfork_child) {
        const Counters& r = kernel_.retired();
        cycles = r.cycles(m) - retired_before.cycles(m) - before.cycles(m);
        ucycles = user_cycles(r, m) - user_cycles(retired_before, m) - user_cycles(before, m);
    } else if (op.kind == OpKind::Exec && vfork_child) { // a new mm with its own counters
        cycles = kernel_.mm(op.pid)->stats.cycles(m);
    } else {
        const Mm* now = kernel_.mm(op.kind == OpKind::Exec ? op.pid : mp);
        cycles = now->stats.cycles(m) - before.cycles(m);
        ucycles = user_cycles(now->stats, m) - user_cycles(before, m);
        faults = now->stats.minflt - before.minflt;
    }
    const double kernel_ns = to_ns(cycles - ucycles + kernel_cycles_extra);
    user_ns += to_ns(ucycles);

    // mmap_lock: holds are granted in trace order.
    const LockMode lm = lock_mode(op, faults > 0);
    if (lm != LockMode::None) {
        MmLock& l = locks_[lock_id];
        const double ready = lm == LockMode::Write ? std::max(l.write_end, l.read_end) : l.write_end;
        if (ready > start) {
            th->time.lock_wait += ready - start;
            start = ready;
        }
    }
    if (op.kind == OpKind::Begin) {
        const double at = (op.flags & trace::kBeginAt) != 0 ? static_cast<double>(op.addr) : start;
        if (at > start) { // the thread waits for the request
            th->time.idle += at - start;
            start = at;
        }
        th->open.emplace_back(op.label, at);
    }
    const double end = start + user_ns + kernel_ns;
    if (lm == LockMode::Write) {
        locks_[lock_id].write_end = end;
    } else if (lm == LockMode::Read) {
        MmLock& l = locks_[lock_id];
        l.read_end = std::max(l.read_end, end);
    }
    th->time.user += user_ns;
    th->time.kernel += kernel_ns;
    th->clock = end;
    cpu_free_[cpu] = end;
    makespan_ = std::max(makespan_, end);

    // What the op does to threads and processes.
    switch (op.kind) {
    case OpKind::Clone:
        new_thread(op.pid, op.child, th->cpu, end);
        break;
    case OpKind::Texit:
        end_thread(*th);
        break;
    case OpKind::Cpu:
        set_runnable(*th, false);
        th->cpu = static_cast<int>(op.child);
        set_runnable(*th, true);
        break;
    case OpKind::Fork:
        procs_[op.child] = ProcState{op.child, op.pid, 0, true, 0, {}};
        new_thread(op.child, 0, th->cpu, end);
        break;
    case OpKind::Vfork: // (references into the unordered_maps stay valid when they grow)
        procs_[op.child] = ProcState{mp, op.pid, key(op.pid, op.tid), true, 0, {}};
        set_runnable(*th, false);
        th->blocked = true;
        new_thread(op.child, 0, th->cpu, end);
        break;
    case OpKind::Spawn:
        kernel_.create_process(op.child);
        kernel_.charge_to(op.child, Cost::ExecBase);
        if (oracle_) {
            oracle_->create(op.child);
        }
        procs_[op.child] = ProcState{op.child, op.pid, 0, true, 0, {}};
        new_thread(op.child, 0, th->cpu, end);
        break;
    case OpKind::Wait: {
        auto c = procs_.find(op.child);
        if (c == procs_.end() || c->second.parent != op.pid) {
            diverge(op, t, fmt::format("wait for {}, which is not a child of {}", op.child, op.pid));
        }
        if (!c->second.alive) {
            if (c->second.exit_ns > th->clock) {
                th->time.blocked += c->second.exit_ns - th->clock;
                th->clock = c->second.exit_ns;
            }
        } else {
            set_runnable(*th, false);
            th->blocked = true;
            c->second.waiters.push_back(key(op.pid, op.tid));
        }
        c->second.parent = 0; // reaped
        break;
    }
    case OpKind::End: {
        auto it = std::find_if(th->open.begin(), th->open.end(), [&](const auto& o) { return o.first == op.label; });
        if (it == th->open.end()) {
            diverge(op, t, fmt::format("end of label {} that is not open in this thread", op.label));
        }
        latencies_[op.label].push_back(end - it->second);
        th->open.erase(it);
        break;
    }
    case OpKind::Exec:
        if (op.tid != 0) { // the process continues as its main thread (the old mm's cpumask is gone)
            const ThreadState moved = *th;
            th->alive = false;
            report_thread(*th);
            ThreadState& main = threads_[key(op.pid, 0)];
            main = moved;
            main.tid = 0;
            main.alive = true;
            main.start = end;
            main.time = ThreadTime{};
            th = &main;
        }
        th->open.clear();        // exec drops the open intervals (traces/FORMAT.md)
        set_runnable(*th, true); // counted in its new mm
        if (proc.vforker != 0) {
            unblock(proc.vforker, end);
            proc.vforker = 0;
        }
        break;
    case OpKind::Exit: {
        proc.alive = false;
        proc.exit_ns = end;
        for (auto& [k, other] : threads_) { // exit_group (a gone mm has no cpumask to update)
            if (other.pid == op.pid && other.alive) {
                end_thread(other);
            }
        }
        if (proc.vforker != 0) {
            unblock(proc.vforker, end);
            proc.vforker = 0;
        }
        for (std::uint64_t w : proc.waiters) {
            unblock(w, end);
        }
        proc.waiters.clear();
        break;
    }
    default:
        break;
    }

    if (!observed && observer_ != nullptr) {
        observer_->on_op(op, 0);
    }
}

TimelineReport Simulator::timeline() const {
    TimelineReport r;
    r.enabled = timed_;
    if (!timed_) {
        return r;
    }
    int cpus = static_cast<int>(cpu_free_.size());
    for (const auto& [k, th] : threads_) {
        cpus = std::max(cpus, th.cpu + 1);
    }
    r.cpus = cfg_.cpus > 0 ? cfg_.cpus : std::max(1, cpus);
    r.threads = thread_reports_;
    double makespan = makespan_;
    for (const auto& [k, th] : threads_) {
        if (th.alive) {
            r.threads.push_back(ThreadReport{th.pid, th.tid, th.start, th.clock, th.time});
            makespan = std::max(makespan, th.clock);
        }
    }
    std::stable_sort(r.threads.begin(), r.threads.end(), [](const ThreadReport& a, const ThreadReport& b) {
        return a.pid != b.pid ? a.pid < b.pid : a.tid < b.tid;
    });
    r.makespan_ns = makespan;
    for (const auto& [label, v] : latencies_) {
        LabelReport l;
        l.label = cur_trace_ != nullptr && label < cur_trace_->labels.size() ? cur_trace_->labels[label]
                                                                             : fmt::format("label{}", label);
        l.latency_ns = v;
        std::sort(l.latency_ns.begin(), l.latency_ns.end());
        r.labels.push_back(std::move(l));
    }
    return r;
}

} // namespace odf
