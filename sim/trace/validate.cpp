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

std::uint8_t Validator::state(std::uint32_t pid) const {
    if (pid < small_.size()) {
        return small_[pid];
    }
    if (pid < kSmallPids) {
        return kUnused;
    }
    auto it = std::lower_bound(big_.begin(), big_.end(), std::pair<std::uint32_t, std::uint8_t>{pid, 0},
                               [](const auto& a, const auto& b) { return a.first < b.first; });
    if (it != big_.end() && it->first == pid) {
        return it->second;
    }
    return kUnused;
}

void Validator::set_state(std::uint32_t pid, std::uint8_t s) {
    if (pid < kSmallPids) {
        if (pid >= small_.size()) {
            small_.resize(std::max<std::size_t>(pid + 1, small_.size() * 2), kUnused);
        }
        small_[pid] = s;
        return;
    }
    auto it = std::lower_bound(big_.begin(), big_.end(), std::pair<std::uint32_t, std::uint8_t>{pid, 0},
                               [](const auto& a, const auto& b) { return a.first < b.first; });
    if (it != big_.end() && it->first == pid) {
        it->second = s;
    } else {
        big_.insert(it, {pid, s});
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
        set_state(1, kLive);
    }
    if (static_cast<unsigned>(op.kind) >= static_cast<unsigned>(kOpKindCount)) {
        fail(op, fmt::format("bad op kind {}", static_cast<unsigned>(op.kind)));
    }
    if (op.pid == 0) {
        fail(op, "bad pid 0");
    }
    auto st = state(op.pid);
    if (st == kUnused) {
        fail(op, fmt::format("unknown pid {}", op.pid));
    }
    if (st == kDead) {
        fail(op, fmt::format("dead pid {} (it has exited)", op.pid));
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
        if (op.child == 0) {
            fail(op, "bad child pid 0");
        }
        if (state(op.child) != kUnused) {
            fail(op, fmt::format("reused child pid {}", op.child));
        }
        set_state(op.child, kLive);
        break;
    case OpKind::Exit:
        set_state(op.pid, kDead);
        break;
    case OpKind::Exec:
        break;
    case OpKind::Mark:
        if (op.label >= label_count) {
            fail(op, fmt::format("bad label index {}", op.label));
        }
        break;
    }
}

void validate(const Trace& trace) {
    Validator v(trace.source);
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
    for (const auto& op : trace.ops) {
        c.by_kind[static_cast<int>(op.kind)]++;
        if (op.kind == OpKind::Read) {
            c.pages_read += page_count(op);
        } else if (op.kind == OpKind::Write) {
            c.pages_written += page_count(op);
        } else if (op.kind == OpKind::Fork) {
            c.processes++;
        }
    }
    return c;
}

} // namespace odf::trace
