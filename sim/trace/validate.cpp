// Validity rules shared by the text parser, the binary reader and validate().
#include "odf/trace/format.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace odf::trace {

namespace {
constexpr std::uint32_t kSmallPids = 1U << 16;
} // namespace

std::string_view op_name(OpKind kind) {
    switch (kind) {
    case OpKind::Mmap:
        return "mmap";
    case OpKind::Munmap:
        return "munmap";
    case OpKind::Mprotect:
        return "mprotect";
    case OpKind::Madvise:
        return "madvise";
    case OpKind::Mremap:
        return "mremap";
    case OpKind::Brk:
        return "brk";
    case OpKind::Pin:
        return "pin";
    case OpKind::Unpin:
        return "unpin";
    case OpKind::Read:
        return "r";
    case OpKind::Write:
        return "w";
    case OpKind::Fork:
        return "fork";
    case OpKind::Exec:
        return "exec";
    case OpKind::Exit:
        return "exit";
    case OpKind::Mark:
        return "mark";
    case OpKind::Getref:
        return "getref";
    case OpKind::Readref:
        return "readref";
    case OpKind::Putref:
        return "putref";
    case OpKind::Clone:
        return "clone";
    case OpKind::Texit:
        return "texit";
    case OpKind::Cpu:
        return "cpu";
    case OpKind::Run:
        return "run";
    case OpKind::Wait:
        return "wait";
    case OpKind::Vfork:
        return "vfork";
    case OpKind::Spawn:
        return "spawn";
    case OpKind::Begin:
        return "begin";
    case OpKind::End:
        return "end";
    }
    return "?";
}

std::string prot_string(std::uint8_t prot) {
    if (prot == 0) {
        return "none";
    }
    std::string s;
    if ((prot & kProtRead) != 0) {
        s += 'r';
    }
    if ((prot & kProtWrite) != 0) {
        s += 'w';
    }
    if ((prot & kProtExec) != 0) {
        s += 'x';
    }
    return s;
}

Validator::Proc* Validator::find(std::uint32_t pid) {
    if (pid < small_.size()) {
        return &small_[pid];
    }
    if (pid < kSmallPids) {
        return nullptr;
    }
    auto it = std::lower_bound(big_.begin(), big_.end(), pid,
                               [](const std::pair<std::uint32_t, Proc>& a, std::uint32_t b) { return a.first < b; });
    if (it != big_.end() && it->first == pid) {
        return &it->second;
    }
    return nullptr;
}

// The record of `pid`, created (kUnused) if needed. Invalidates pointers returned by find() and slot().
Validator::Proc& Validator::slot(std::uint32_t pid) {
    if (pid < kSmallPids) {
        if (pid >= small_.size()) {
            small_.resize(std::max<std::size_t>(pid + 1, small_.size() * 2));
        }
        return small_[pid];
    }
    auto it = std::lower_bound(big_.begin(), big_.end(), pid,
                               [](const std::pair<std::uint32_t, Proc>& a, std::uint32_t b) { return a.first < b; });
    if (it == big_.end() || it->first != pid) {
        it = big_.insert(it, {pid, Proc{}});
    }
    return it->second;
}

Validator::Threads& Validator::threads_of(std::uint32_t pid, Proc& p) {
    auto [it, fresh] = threads_.try_emplace(pid);
    if (fresh) {
        it->second.list.push_back(Thread{}); // the main thread
        p.flags = static_cast<std::uint8_t>(p.flags | kThreads);
    }
    return it->second;
}

Validator::Thread* Validator::find_thread(Threads& ts, std::uint32_t tid) {
    auto it = std::lower_bound(ts.list.begin(), ts.list.end(), tid,
                               [](const Thread& a, std::uint32_t b) { return a.tid < b; });
    return it != ts.list.end() && it->tid == tid ? &*it : nullptr;
}

bool Validator::Threads::has_ended(std::uint32_t tid) const {
    auto it =
        std::upper_bound(ended.begin(), ended.end(), tid,
                         [](std::uint32_t a, const std::pair<std::uint32_t, std::uint32_t>& b) { return a < b.first; });
    return it != ended.begin() && tid <= std::prev(it)->second;
}

void Validator::Threads::add_ended(std::uint32_t tid) {
    auto it =
        std::upper_bound(ended.begin(), ended.end(), tid,
                         [](std::uint32_t a, const std::pair<std::uint32_t, std::uint32_t>& b) { return a < b.first; });
    const bool join_prev = it != ended.begin() && std::prev(it)->second + 1 == tid;
    const bool join_next = it != ended.end() && it->first == tid + 1;
    if (join_prev && join_next) {
        std::prev(it)->second = it->second;
        ended.erase(it);
    } else if (join_prev) {
        std::prev(it)->second = tid;
    } else if (join_next) {
        it->first = tid;
    } else {
        ended.insert(it, {tid, tid});
    }
}

std::string thread_name(std::uint32_t pid, std::uint32_t tid) {
    return tid == 0 ? fmt::format("{}", pid) : fmt::format("{}.{}", pid, tid);
}

std::string Validator::label_name(std::uint32_t label) const {
    if (labels_ != nullptr && label < labels_->size()) {
        return (*labels_)[label];
    }
    return fmt::format("#{}", label);
}

// The thread of `op` exists, has not ended and is not blocked. Only for processes with a thread table or ops of a
// thread other than the main thread.
Validator::Thread& Validator::thread_check(const Op& op, Proc& p) {
    if ((p.flags & kThreads) == 0) {
        // op.tid != 0: no thread but the main thread was ever created.
        fail(op, fmt::format("unknown thread {} (no clone created it)", thread_name(op.pid, op.tid)));
    }
    Threads& ts = threads_.find(op.pid)->second;
    Thread* t = find_thread(ts, op.tid);
    if (t == nullptr) {
        if (ts.has_ended(op.tid)) {
            fail(op, fmt::format("thread {} has ended", thread_name(op.pid, op.tid)));
        }
        fail(op, fmt::format("unknown thread {} (no clone created it)", thread_name(op.pid, op.tid)));
    }
    switch (t->state) {
    case kBlockedVfork:
        fail(op, fmt::format("thread {} is blocked in vfork until {} execs or exits", thread_name(op.pid, op.tid),
                             t->blocked_on));
    case kBlockedWait:
        fail(op,
             fmt::format("thread {} is blocked in wait until {} exits", thread_name(op.pid, op.tid), t->blocked_on));
    default:
        break;
    }
    return *t;
}

// The thread of `parent` blocked (`how`) on `child` continues.
void Validator::unblock(std::uint32_t parent, std::uint32_t child, std::uint8_t how) {
    auto it = threads_.find(parent);
    if (it == threads_.end()) {
        return; // the parent has exited or exec'd since (its blocked thread ended)
    }
    for (auto& t : it->second.list) {
        if (t.state == how && t.blocked_on == child) {
            t.state = kRunnable;
            t.blocked_on = 0;
            if (how == kBlockedVfork) {
                it->second.in_vfork--;
            }
            return;
        }
    }
}

// exit (exec = false) or exec of the process of `op`.
void Validator::end_process(const Op& op, Proc& p, bool exec) {
    const std::uint32_t pid = op.pid;
    if ((p.flags & kThreads) != 0) {
        auto it = threads_.find(pid);
        Threads& ts = it->second;
        if (ts.in_vfork != 0) {
            for (const auto& t : ts.list) {
                if (t.state == kBlockedVfork) {
                    fail(op, fmt::format("process {} cannot {} while its thread {} is blocked in vfork until {} execs "
                                         "or exits",
                                         pid, exec ? "exec" : "exit", thread_name(pid, t.tid), t.blocked_on));
                }
            }
        }
        if (exec) {
            // Every other thread ends; the process continues as its main thread (runnable, no open interval).
            for (std::size_t i = 1; i < ts.list.size(); ++i) {
                ts.add_ended(ts.list[i].tid);
            }
            ts.list.resize(1);
            ts.list[0].state = kRunnable;
            ts.list[0].blocked_on = 0;
            ts.list[0].open.clear();
        } else {
            threads_.erase(it);
            p.flags = static_cast<std::uint8_t>(p.flags & ~kThreads);
        }
    }
    const std::uint8_t flags = p.flags;
    const std::uint32_t parent = p.parent;
    if ((flags & kInVfork) != 0) {
        p.flags = static_cast<std::uint8_t>(p.flags & ~kInVfork);
        unblock(parent, pid, kBlockedVfork);
    }
    if (!exec) {
        p.state = kDead;
        if ((flags & kWaitPending) != 0) {
            p.flags = static_cast<std::uint8_t>(p.flags & ~kWaitPending);
            unblock(parent, pid, kBlockedWait);
        }
    }
}

void Validator::fail(const Op& op, const std::string& reason) const {
    throw TraceError(file_, op.line, reason);
}

void Validator::check_range(const Op& op, std::uint64_t addr, std::uint64_t len, bool aligned) const {
    if (aligned && addr % kPageSize != 0) {
        fail(op, fmt::format("address {:#x} not 4 KiB aligned", addr));
    }
    if (len == 0) {
        fail(op, "zero length");
    }
    if (aligned && len % kPageSize != 0) {
        fail(op, fmt::format("length {:#x} not 4 KiB aligned", len));
    }
    if (addr >= kUserSpaceEnd || len > kUserSpaceEnd - addr) {
        fail(op, fmt::format("range {:#x}+{:#x} beyond user space (0x800000000000)", addr, len));
    }
}

void Validator::check(const Op& op, std::size_t label_count) {
    if (!started_) {
        started_ = true;
        slot(1).state = kLive;
        threads_created_ = 1;
    }
    if (static_cast<unsigned>(op.kind) >= static_cast<unsigned>(kOpKindCount)) {
        fail(op, fmt::format("bad op kind {}", static_cast<unsigned>(op.kind)));
    }
    if (op.pid == 0) {
        fail(op, "bad pid 0");
    }
    if (version_ < 2 && needs_v2(op)) {
        if (op.tid != 0) {
            fail(op,
                 fmt::format("thread {} needs odf-trace v2 (header '{}')", thread_name(op.pid, op.tid), kTextHeaderV2));
        }
        fail(op, fmt::format("op '{}' needs odf-trace v2 (header '{}')", op_name(op.kind), kTextHeaderV2));
    }
    Proc* p = find(op.pid);
    if (p == nullptr || p->state == kUnused) {
        fail(op, fmt::format("unknown pid {}", op.pid));
    }
    if (p->state == kDead) {
        fail(op, fmt::format("dead pid {} (it has exited)", op.pid));
    }
    Thread* thread = nullptr;
    if (op.tid != 0 || (p->flags & kThreads) != 0) {
        thread = &thread_check(op, *p);
    }
    switch (op.kind) {
    case OpKind::Mmap:
        if (op.prot > 7) {
            fail(op, fmt::format("bad prot {}", op.prot));
        }
        if (op.flags > 1) {
            fail(op, fmt::format("bad flags {}", op.flags));
        }
        check_range(op, op.addr, op.len, true);
        break;
    case OpKind::Mprotect:
        if (op.prot > 7) {
            fail(op, fmt::format("bad prot {}", op.prot));
        }
        check_range(op, op.addr, op.len, true);
        break;
    case OpKind::Munmap:
    case OpKind::Madvise:
    case OpKind::Pin:
    case OpKind::Unpin:
    case OpKind::Readref:
    case OpKind::Putref:
        check_range(op, op.addr, op.len, true);
        break;
    case OpKind::Getref:
        if (op.flags > kRefPin) {
            fail(op, fmt::format("bad getref kind {}", op.flags));
        }
        check_range(op, op.addr, op.len, true);
        break;
    case OpKind::Mremap:
        check_range(op, op.addr, op.len, true);
        check_range(op, op.addr2, op.len2, true);
        if (op.addr < op.addr2 + op.len2 && op.addr2 < op.addr + op.len) {
            fail(op, "mremap ranges overlap");
        }
        break;
    case OpKind::Brk:
        if (op.addr % kPageSize != 0) {
            fail(op, fmt::format("address {:#x} not 4 KiB aligned", op.addr));
        }
        if (op.addr > kUserSpaceEnd) {
            fail(op, fmt::format("address {:#x} beyond user space (0x800000000000)", op.addr));
        }
        break;
    case OpKind::Read:
    case OpKind::Write:
        check_range(op, op.addr, op.len, false);
        break;
    case OpKind::Fork:
    case OpKind::Vfork:
    case OpKind::Spawn: {
        if (op.child == 0) {
            fail(op, "bad child pid 0");
        }
        Proc& c = slot(op.child); // invalidates p
        if (c.state != kUnused) {
            fail(op, fmt::format("reused child pid {}", op.child));
        }
        c.state = kLive;
        c.parent = op.pid;
        ++threads_created_;
        if (op.kind == OpKind::Vfork) {
            c.flags = kInVfork;
            Proc& self = *find(op.pid);
            Threads& ts = threads_of(op.pid, self);
            Thread* t = find_thread(ts, op.tid);
            t->state = kBlockedVfork;
            t->blocked_on = op.child;
            ts.in_vfork++;
        }
        break;
    }
    case OpKind::Exit:
        end_process(op, *p, false);
        break;
    case OpKind::Exec:
        end_process(op, *p, true);
        break;
    case OpKind::Mark:
        if (op.label >= label_count) {
            fail(op, fmt::format("bad label index {}", op.label));
        }
        break;
    case OpKind::Clone: {
        if (op.child == 0) {
            fail(op, "bad tid 0 (the main thread is not cloned)");
        }
        Threads& ts = threads_of(op.pid, *p);
        auto it = std::lower_bound(ts.list.begin(), ts.list.end(), op.child,
                                   [](const Thread& a, std::uint32_t b) { return a.tid < b; });
        if ((it != ts.list.end() && it->tid == op.child) || ts.has_ended(op.child)) {
            fail(op, fmt::format("reused tid {} (a TID is never reused in a process)", thread_name(op.pid, op.child)));
        }
        Thread t;
        t.tid = op.child;
        ts.list.insert(it, std::move(t));
        ++threads_created_;
        break;
    }
    case OpKind::Texit:
        if (op.tid == 0) {
            fail(op, fmt::format("texit of the main thread of {} (exit ends the process)", op.pid));
        }
        {
            Threads& ts = threads_.find(op.pid)->second;
            ts.add_ended(op.tid);
            ts.list.erase(ts.list.begin() + (thread - ts.list.data()));
            break;
        }
    case OpKind::Cpu:
        if (op.child > kMaxCpu) {
            fail(op, fmt::format("bad cpu {} (0 to {})", op.child, kMaxCpu));
        }
        max_cpu_ = std::max(max_cpu_, op.child);
        break;
    case OpKind::Run:
        break;
    case OpKind::Wait: {
        Proc* c = find(op.child);
        if (c == nullptr || c->state == kUnused || c->parent != op.pid) {
            fail(op, fmt::format("wait for {}, which is not a child of {}", op.child, op.pid));
        }
        if ((c->flags & kWaited) != 0) {
            fail(op, fmt::format("wait for {}, which was already waited for", op.child));
        }
        c->flags = static_cast<std::uint8_t>(c->flags | kWaited);
        if (c->state == kLive) {
            c->flags = static_cast<std::uint8_t>(c->flags | kWaitPending);
            Threads& ts = threads_of(op.pid, *p);
            Thread* t = find_thread(ts, op.tid);
            t->state = kBlockedWait;
            t->blocked_on = op.child;
        }
        break;
    }
    case OpKind::Begin:
    case OpKind::End: {
        if (op.label >= label_count) {
            fail(op, fmt::format("bad label index {}", op.label));
        }
        if (op.kind == OpKind::Begin ? op.flags > kBeginAt || ((op.flags & kBeginAt) == 0 && op.addr != 0)
                                     : op.flags != 0) {
            fail(op, fmt::format("bad {} flags {}", op_name(op.kind), op.flags));
        }
        Threads& ts = threads_of(op.pid, *p);
        Thread* t = find_thread(ts, op.tid);
        auto it = std::find(t->open.begin(), t->open.end(), op.label);
        if (op.kind == OpKind::Begin) {
            if (it != t->open.end()) {
                fail(op, fmt::format("begin {}: already open in thread {} (intervals of one label do not nest)",
                                     label_name(op.label), thread_name(op.pid, op.tid)));
            }
            t->open.push_back(op.label);
        } else {
            if (it == t->open.end()) {
                fail(op, fmt::format("end {} without begin in thread {}", label_name(op.label),
                                     thread_name(op.pid, op.tid)));
            }
            *it = t->open.back();
            t->open.pop_back();
        }
        break;
    }
    }
}

bool needs_v2(const Trace& trace) {
    if (trace.version >= 2) {
        return true;
    }
    return std::any_of(trace.ops.begin(), trace.ops.end(), [](const Op& op) { return needs_v2(op); });
}

std::uint32_t max_cpu(const Trace& trace) {
    std::uint32_t m = 0;
    for (const auto& op : trace.ops) {
        if (op.kind == OpKind::Cpu) {
            m = std::max(m, op.child);
        }
    }
    return m;
}

void validate(const Trace& trace) {
    Validator v(trace.source);
    v.set_labels(&trace.labels);
    for (const auto& op : trace.ops) {
        v.check(op, trace.labels.size());
    }
    for (const auto& l : trace.labels) {
        if (l.empty() || l.find_first_of(" \t\r\n\v\f#") != std::string::npos) {
            throw TraceError(trace.source, 0, fmt::format("bad label '{}'", l));
        }
    }
}

OpCounts count_ops(const Trace& trace) {
    OpCounts c;
    c.processes = 1;
    c.threads = 1;
    for (const auto& op : trace.ops) {
        c.by_kind[static_cast<int>(op.kind)]++;
        if (op.kind == OpKind::Read) {
            c.pages_read += page_count(op);
        } else if (op.kind == OpKind::Write) {
            c.pages_written += page_count(op);
        } else if (op.kind == OpKind::Fork || op.kind == OpKind::Vfork || op.kind == OpKind::Spawn) {
            c.processes++;
            c.threads++;
        } else if (op.kind == OpKind::Clone) {
            c.threads++;
        } else if (op.kind == OpKind::Cpu) {
            c.max_cpu = std::max(c.max_cpu, op.child);
        }
    }
    return c;
}

} // namespace odf::trace
