#include "odf/simulator.hpp"

#include "odf/checker.hpp"
#include "odf/tag.h"

#include <algorithm>
#include <fmt/format.h>

namespace odf {

// Trace prot bits are passed to the kernel as VMA protection bits.
static_assert(int{trace::kProtRead} == int{kVmRead} && int{trace::kProtWrite} == int{kVmWrite} &&
              int{trace::kProtExec} == int{kVmExec});

using trace::OpKind;

Simulator::Simulator(SimConfig cfg) : cfg_(std::move(cfg)), kernel_(cfg_.kernel) {
    if (cfg_.check) {
        oracle_.emplace();
        oracle_->create(1);
    }
    kernel_.create_process(1);
}

void Simulator::diverge(const trace::Op& op, const trace::Trace& t, const std::string& what) const {
    throw SimError(
        fmt::format("{}:{}: pid {} ({} mode): {}", t.source, op.line, op.pid, mode_name(kernel_.mode()), what));
}

Counters Simulator::totals() const {
    Counters c = kernel_.retired();
    for (const auto& [pid, mm] : kernel_.processes()) {
        c += mm->stats;
    }
    return c;
}

void Simulator::summarize(const Mm& mm) {
    ProcessSummary& s = summaries_[mm.pid];
    s.pid = mm.pid;
    s.stats += mm.stats;
    s.rss_anon_pages = mm.rss_anon;
    s.vmpte_bytes = mm.pgtables_bytes;
}

void Simulator::access_range(const trace::Op& op, std::uint32_t mp, bool write) {
    Mm& mm = *kernel_.mm(mp);
    const std::uint64_t first = op.addr & ~(kPageSize - 1);
    const std::uint64_t len = op.len == 0 ? 1 : op.len;
    const std::uint64_t last = (op.addr + len - 1) & ~(kPageSize - 1);
    std::uint64_t hash = 0;
    std::uint64_t pages = 0;
    for (std::uint64_t va = first;; va += kPageSize) {
        const std::uint64_t tag = write ? odf_tag(op.line, op.pid, va) : 0;
        const AccessResult r = kernel_.access(mm, VirtAddr{va}, write, tag);
        if (!r.ok) {
            if (observer_ != nullptr) {
                if (r.sigbus) {
                    observer_->on_sigbus(op, va);
                } else {
                    observer_->on_segv(op, va);
                }
            }
            break;
        }
        ++pages;
        if (oracle_) {
            if (write) {
                oracle_->write(mp, VirtAddr{va}, tag);
            } else {
                const std::uint64_t want = oracle_->read(mp, VirtAddr{va});
                if (want != r.value) {
                    diverge(op, *cur_trace_,
                            fmt::format("read of {:#x} returned {:#x}, the oracle says {:#x}", va, r.value, want));
                }
            }
        }
        if (!write) {
            hash = odf_fold(hash, r.value);
        }
        if (va == last) {
            break;
        }
    }
    if (!write && observer_ != nullptr) {
        observer_->on_read(op, hash, pages);
    }
}

void Simulator::getref(const trace::Op& op, std::uint32_t mp) {
    const auto fail = kernel_.getref(mp, VirtAddr{op.addr}, op.len, op.flags == trace::kRefPin);
    if (fail && observer_ != nullptr) {
        observer_->on_reffail(op, fail->value);
    }
    if (!oracle_) {
        return;
    }
    // Each reference points at the page the process sees: its content is what a read returns now.
    const Mm& mm = *kernel_.mm(mp);
    const std::uint64_t end = fail ? fail->value : op.addr + op.len;
    for (std::uint64_t va = op.addr; va < end; va += kPageSize) {
        const Frame& f = kernel_.phys().frame(mm.refs.at(VirtAddr{va}.page()).back().pfn);
        const std::uint64_t got = f.kind == FrameKind::ZeroPage ? 0 : f.content;
        const std::uint64_t want = oracle_->read(mp, VirtAddr{va});
        if (got != want) {
            diverge(
                op, *cur_trace_,
                fmt::format("getref of {:#x} referenced a page holding {:#x}, the oracle says {:#x}", va, got, want));
        }
    }
}

// readref (read) or putref: page by page through this process's references; a page without one ends the op.
void Simulator::ref_range(const trace::Op& op, std::uint32_t mp, bool read) {
    std::uint64_t hash = 0;
    std::uint64_t pages = 0;
    for (std::uint64_t va = op.addr; va < op.addr + op.len; va += kPageSize) {
        if (read) {
            const auto r = kernel_.readref(mp, VirtAddr{va});
            if (!r) {
                if (observer_ != nullptr) {
                    observer_->on_noref(op, va);
                }
                break;
            }
            if (r->leak) {
                leaks_.push_back(LeakEvent{op.pid, op.line, va, r->writer});
            }
            hash = odf_fold(hash, r->value);
            ++pages;
        } else if (!kernel_.putref(mp, VirtAddr{va})) {
            if (observer_ != nullptr) {
                observer_->on_noref(op, va);
            }
            break;
        }
    }
    if (read && observer_ != nullptr) {
        observer_->on_readref(op, hash, pages);
    }
}

void Simulator::apply(const trace::Op& op, const trace::Trace& t) {
    cur_trace_ = &t;
    if (t.version >= 2) {
        timed_apply(op, t);
        return;
    }
    effect(op, t, op.pid);
}

void Simulator::effect(const trace::Op& op, const trace::Trace& t, std::uint32_t mp) {
    Mm* mm = kernel_.mm(mp);
    if (mm == nullptr) {
        diverge(op, t, "operation by a process that does not exist");
    }
    const std::uint64_t minflt_before = mm->stats.minflt;
    const std::uint32_t pid = mp;
    try {
        switch (op.kind) {
        case OpKind::Mmap:
            kernel_.mmap(pid, VirtAddr{op.addr}, op.len, op.prot, op.flags == trace::kMapShared);
            if (oracle_) {
                oracle_->mmap(pid, VirtAddr{op.addr}, op.len, op.flags == trace::kMapShared);
            }
            break;
        case OpKind::Munmap:
            kernel_.munmap(pid, VirtAddr{op.addr}, op.len);
            if (oracle_) {
                oracle_->munmap(pid, VirtAddr{op.addr}, op.len);
            }
            break;
        case OpKind::Mprotect:
            kernel_.mprotect(pid, VirtAddr{op.addr}, op.len, op.prot);
            break;
        case OpKind::Madvise:
            kernel_.madvise_dontneed(pid, VirtAddr{op.addr}, op.len);
            if (oracle_) {
                oracle_->dontneed(pid, VirtAddr{op.addr}, op.len);
            }
            break;
        case OpKind::Mremap:
            if (kernel_.mremap(pid, VirtAddr{op.addr}, op.len, VirtAddr{op.addr2}, op.len2) && oracle_) {
                oracle_->mremap(pid, VirtAddr{op.addr}, op.len, VirtAddr{op.addr2}, op.len2);
            }
            break;
        case OpKind::Brk: {
            const VirtAddr old_top = mm->brk.align_up(kPageSize);
            const bool had = mm->has_heap;
            if (kernel_.brk(pid, VirtAddr{op.addr}) && had && oracle_) {
                const VirtAddr new_top = VirtAddr{op.addr}.align_up(kPageSize);
                if (new_top < old_top) {
                    oracle_->munmap(pid, new_top, old_top - new_top);
                } else if (new_top > old_top) {
                    oracle_->mmap(pid, old_top, new_top - old_top, false);
                }
            }
            break;
        }
        case OpKind::Pin:
            if (auto fail = kernel_.pin(pid, VirtAddr{op.addr}, op.len); fail && observer_ != nullptr) {
                observer_->on_pinfail(op, fail->value);
            }
            break;
        case OpKind::Unpin:
            kernel_.unpin(pid, VirtAddr{op.addr}, op.len);
            break;
        case OpKind::Getref:
            getref(op, pid);
            break;
        case OpKind::Readref:
            ref_range(op, pid, true);
            break;
        case OpKind::Putref:
            ref_range(op, pid, false);
            break;
        case OpKind::Read:
            access_range(op, pid, false);
            break;
        case OpKind::Write:
            access_range(op, pid, true);
            break;
        case OpKind::Fork: {
            const double before = mm->stats.cycles(kernel_.costs());
            kernel_.fork(pid, op.child);
            mm = kernel_.mm(pid);
            fork_cycles_.push_back(mm->stats.cycles(kernel_.costs()) - before);
            if (oracle_) {
                oracle_->fork(pid, op.child);
            }
            break;
        }
        case OpKind::Exec:
            kernel_.exec(pid);
            mm = kernel_.mm(pid);
            if (oracle_) {
                oracle_->exec(pid);
            }
            break;
        case OpKind::Exit:
            if (observer_ != nullptr) {
                observer_->on_exit(op, *mm);
            }
            summarize(*mm);
            kernel_.exit(pid);
            mm = nullptr;
            if (oracle_) {
                oracle_->exit(pid);
            }
            break;
        case OpKind::Mark:
            if (observer_ != nullptr) {
                std::vector<std::uint32_t> pids;
                for (const auto& [p, m] : kernel_.processes()) {
                    pids.push_back(p);
                }
                for (const auto& [p, s] : procs_) { // vfork children borrowing their parent's mm
                    if (s.alive && s.mm_pid != p) {
                        pids.push_back(p);
                    }
                }
                std::sort(pids.begin(), pids.end());
                for (std::uint32_t p : pids) {
                    observer_->on_mark(op, p, *kernel_.mm(mm_pid(p)));
                }
            }
            break;
        default: // the v2 ops without a memory effect are handled by timed_apply()
            break;
        }
    } catch (const OutOfMemory& e) {
        diverge(op, t, fmt::format("{} (raise --phys-gib)", e.what()));
    }
    const std::uint64_t minflt = mm != nullptr ? mm->stats.minflt - minflt_before : 0;
    if (observer_ != nullptr) {
        observer_->on_op(op, op.kind == OpKind::Exit ? 0 : minflt);
    }
    std::uint64_t rss = 0;
    {
        for (const auto& [p, m] : kernel_.processes()) {
            rss += static_cast<std::uint64_t>(m->rss_anon + m->rss_shmem);
        }
        peak_rss_ = std::max(peak_rss_, rss);
    }
    ++ops_;
    if (cfg_.check && ops_ % cfg_.check_every == 0) {
        check_now(op, t);
    }
}

void Simulator::check_now(const trace::Op& op, const trace::Trace& t) {
    const std::string err = InvariantChecker::check(kernel_);
    if (!err.empty()) {
        diverge(op, t, "invariant violated after this operation: " + err);
    }
}

void Simulator::run(const trace::Trace& t) {
    for (const trace::Op& op : t.ops) {
        apply(op, t);
    }
}

void Simulator::finish(const trace::Trace& t) {
    std::vector<std::uint32_t> pids;
    for (const auto& [p, m] : kernel_.processes()) {
        pids.push_back(p);
    }
    std::sort(pids.begin(), pids.end());
    for (std::uint32_t p : pids) {
        summarize(*kernel_.mm(p));
        kernel_.exit(p);
    }
    if (cfg_.check) {
        const std::string err = InvariantChecker::check_no_leak(kernel_);
        if (!err.empty()) {
            throw SimError(fmt::format("{}: at the end ({} mode): {}", t.source, mode_name(kernel_.mode()), err));
        }
    }
}

} // namespace odf
