// libFuzzer target: bytes become a valid odf-trace program, which is replayed in every fork mode with the oracle on
// every read and the invariant checker after every op. A finding is a divergence (SimError), any other exception,
// a sanitizer report or a crash.
//
// The bytes are read as a sequence of ops: one byte picks the kind, the next ones the process, the thread and the
// arguments. Addresses fall in a 4 MiB window that straddles a 1 GiB boundary (two PTE tables, two PMD tables) and
// a brk window, so that few pages give every kind of sharing. An op the trace format rejects (the validator of
// traces/FORMAT.md: a dead pid, a blocked thread, an unaligned range, ...) is dropped, so the program stays valid
// by construction while the semantic errors the model must handle (unmapped memory, bad mremap sources, unpins of
// unpinned pages) stay in.
#include "odf/phys_mem.hpp"
#include "odf/replay.hpp"
#include "odf/trace/format.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <vector>

using namespace odf::trace;

namespace {

constexpr std::uint64_t kWindow = (1ULL << 30) - (2ULL << 20); // 2 MiB below 1 GiB
constexpr std::uint64_t kWindowPages = 1024;                   // 4 MiB
constexpr std::uint64_t kHeapBase = 0x100000000ULL;
constexpr std::uint64_t kHeapPages = 1024;
constexpr unsigned kMaxOps = 256;

class Bytes {
  public:
    Bytes(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
    [[nodiscard]] bool empty() const { return n_ == 0; }
    std::uint8_t u8() {
        if (n_ == 0) {
            return 0;
        }
        --n_;
        return *p_++;
    }
    std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8U)); }

  private:
    const std::uint8_t* p_;
    std::size_t n_;
};

struct Program {
    std::vector<std::uint32_t> pids{1}; // created, not known to have exited
    std::map<std::uint32_t, std::vector<std::uint32_t>> tids{{1, {0}}};
    std::map<std::uint32_t, std::uint32_t> next_tid;
    std::uint32_t next_pid = 2;
};

// A page-aligned range of the window: a start page and 1-64 pages, or (flag bit) whole 2 MiB-aligned tables.
void range(Bytes& in, std::uint64_t& addr, std::uint64_t& len) {
    const std::uint8_t shape = in.u8();
    std::uint64_t first = in.u16() % kWindowPages;
    std::uint64_t pages = 1 + (shape & 63U);
    if ((shape & 0x80U) != 0) { // table-sized and table-aligned: THP and whole-table sharing
        first &= ~std::uint64_t{511};
        pages = 512 * (1 + ((shape >> 6U) & 1U));
    }
    pages = std::min(pages, kWindowPages - first);
    addr = kWindow + first * kPageSize;
    len = pages * kPageSize;
}

Op next_op(Bytes& in, Program& prog, std::uint32_t line) {
    Op op;
    op.line = line;
    const std::uint8_t k = in.u8();
    op.kind = static_cast<OpKind>(k % kOpKindCount);
    op.pid = prog.pids[in.u8() % prog.pids.size()];
    const auto& tids = prog.tids[op.pid];
    op.tid = (k & 0x80U) != 0 && !tids.empty() ? tids[in.u8() % tids.size()] : 0;
    switch (op.kind) {
    case OpKind::Mmap:
        range(in, op.addr, op.len);
        op.prot = in.u8() & 7U;
        op.flags = in.u8() & 1U; // private or shared
        break;
    case OpKind::Mprotect:
        range(in, op.addr, op.len);
        op.prot = in.u8() & 7U;
        break;
    case OpKind::Munmap:
    case OpKind::Madvise:
    case OpKind::Pin:
    case OpKind::Unpin:
    case OpKind::Readref:
    case OpKind::Putref:
        range(in, op.addr, op.len);
        break;
    case OpKind::Getref:
        range(in, op.addr, op.len);
        op.flags = in.u8() & 1U; // get or pin
        break;
    case OpKind::Read:
    case OpKind::Write: {
        range(in, op.addr, op.len);
        const std::uint8_t sub = in.u8(); // unaligned start and length within the range
        op.addr += sub & 0xfffU;
        op.len = std::max<std::uint64_t>(1, op.len - (sub & 0xfffU));
        break;
    }
    case OpKind::Mremap:
        range(in, op.addr, op.len);
        range(in, op.addr2, op.len2);
        break;
    case OpKind::Brk:
        op.addr = kHeapBase + (in.u16() % kHeapPages) * kPageSize;
        break;
    case OpKind::Fork:
    case OpKind::Vfork:
    case OpKind::Spawn:
        op.child = prog.next_pid;
        break;
    case OpKind::Wait:
        op.child = 2 + in.u8() % std::max<std::uint32_t>(1, prog.next_pid - 2);
        break;
    case OpKind::Clone:
        op.child = prog.next_tid[op.pid] + 1;
        break;
    case OpKind::Cpu:
        op.child = in.u8() % 4U;
        break;
    case OpKind::Run:
        op.len = std::uint64_t{in.u16()} * 100;
        break;
    case OpKind::Mark:
        op.label = in.u8() % 2U;
        break;
    case OpKind::Begin:
        op.label = in.u8() % 2U;
        if ((k & 0x40U) != 0) {
            op.flags = kBeginAt;
            op.addr = std::uint64_t{in.u16()} * 1000;
        }
        break;
    case OpKind::End:
        op.label = in.u8() % 2U;
        break;
    case OpKind::Exec:
    case OpKind::Exit:
    case OpKind::Texit:
        break;
    }
    return op;
}

// Records what an accepted op changed in the program's process and thread lists.
void accept(const Op& op, Program& prog) {
    switch (op.kind) {
    case OpKind::Fork:
    case OpKind::Vfork:
    case OpKind::Spawn:
        prog.pids.push_back(op.child);
        prog.tids[op.child] = {0};
        ++prog.next_pid;
        break;
    case OpKind::Clone:
        prog.tids[op.pid].push_back(op.child);
        prog.next_tid[op.pid] = op.child;
        break;
    case OpKind::Texit:
        std::erase(prog.tids[op.pid], op.tid);
        break;
    case OpKind::Exit:
        if (prog.pids.size() > 1) { // keep one pid to pick from; ops of a dead one are dropped
            std::erase(prog.pids, op.pid);
        }
        prog.tids[op.pid].clear();
        break;
    default:
        break;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Bytes in(data, size);
    Trace t;
    t.source = "fuzz-ops";
    t.labels = {"a", "b"};
    t.version = 2;
    Program prog;
    Validator validator(t.source, 2);
    validator.set_labels(&t.labels);
    while (!in.empty() && t.ops.size() < kMaxOps) {
        const Op op = next_op(in, prog, static_cast<std::uint32_t>(t.ops.size() + 2));
        Validator trial = validator; // check() may have updated its state before it threw
        try {
            trial.check(op, t.labels.size());
        } catch (const TraceError&) {
            continue;
        }
        validator = std::move(trial);
        validator.set_labels(&t.labels);
        accept(op, prog);
        t.ops.push_back(op);
    }
    if (t.ops.empty()) {
        return 0;
    }
    t.version = std::any_of(t.ops.begin(), t.ops.end(), [](const Op& op) { return needs_v2(op); }) ? 2 : 1;
    try {
        validate(t); // the whole-trace check agrees with the op-by-op one
        odf::ReplayOptions options;
        options.modes = {odf::ForkMode::Classic, odf::ForkMode::Odf, odf::ForkMode::OdfPaper, odf::ForkMode::CowPteV3,
                         odf::ForkMode::Thp};
        options.sim.check = true;
        options.sim.check_every = 1;
        // 1 GiB of simulated memory instead of 64 GiB: allocating (and, under ASan, poisoning) the frame array of
        // each mode's kernel would otherwise take most of an execution. A program that outgrows it is no finding.
        options.sim.kernel.phys_frames = (1ULL << 30) / kPageSize;
        (void)odf::replay(t, options);
    } catch (const odf::OutOfMemory&) {
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fuzz_ops: %s\n", e.what());
        std::abort();
    }
    return 0;
}
