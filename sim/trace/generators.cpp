// Workload generators (traces/FORMAT.md, "Generators").
#include "odf/trace/generators.hpp"

#include "odf/trace/format.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <iterator>
#include <map>
#include <stdexcept>
#include <unordered_map>

namespace odf::trace {

namespace {

__extension__ using u128 = unsigned __int128;

// splitmix64: small, fast and identical on every platform (std distributions are not).
class Rng {
  public:
    explicit Rng(std::uint64_t seed) : s_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    // Uniform in [0, n); n > 0.
    std::uint64_t below(std::uint64_t n) { return static_cast<std::uint64_t>((static_cast<u128>(next()) * n) >> 64); }
    // Uniform in [lo, hi].
    std::uint64_t range(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
    double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    bool chance(double p) { return unit() < p; }

  private:
    std::uint64_t s_;
};

class Builder {
  public:
    // The thread of the ops pushed from now on (0: the main thread).
    void set_tid(std::uint32_t tid) { tid_ = tid; }
    [[nodiscard]] std::uint32_t tid() const { return tid_; }
    void set_version(std::uint32_t v) { t_.version = v; }

    Op& push(OpKind kind, std::uint32_t pid) {
        Op op;
        op.kind = kind;
        op.pid = pid;
        op.tid = tid_;
        op.line = static_cast<std::uint32_t>(t_.ops.size() + 2);
        t_.ops.push_back(op);
        return t_.ops.back();
    }
    void mmap(std::uint32_t pid, std::uint64_t addr, std::uint64_t len, std::uint8_t prot, std::uint8_t flags) {
        Op& op = push(OpKind::Mmap, pid);
        op.addr = addr;
        op.len = len;
        op.prot = prot;
        op.flags = flags;
    }
    void range(OpKind kind, std::uint32_t pid, std::uint64_t addr, std::uint64_t len) {
        Op& op = push(kind, pid);
        op.addr = addr;
        op.len = len;
    }
    void mprotect(std::uint32_t pid, std::uint64_t addr, std::uint64_t len, std::uint8_t prot) {
        Op& op = push(OpKind::Mprotect, pid);
        op.addr = addr;
        op.len = len;
        op.prot = prot;
    }
    void mremap(std::uint32_t pid, std::uint64_t a, std::uint64_t l, std::uint64_t a2, std::uint64_t l2) {
        Op& op = push(OpKind::Mremap, pid);
        op.addr = a;
        op.len = l;
        op.addr2 = a2;
        op.len2 = l2;
    }
    void brk(std::uint32_t pid, std::uint64_t addr) { push(OpKind::Brk, pid).addr = addr; }
    void fork(std::uint32_t pid, std::uint32_t child) { push(OpKind::Fork, pid).child = child; }
    void exit(std::uint32_t pid) { push(OpKind::Exit, pid); }
    void getref(std::uint32_t pid, std::uint64_t addr, std::uint64_t len, bool pin) {
        Op& op = push(OpKind::Getref, pid);
        op.addr = addr;
        op.len = len;
        op.flags = pin ? kRefPin : kRefGet;
    }
    void exec(std::uint32_t pid) { push(OpKind::Exec, pid); }
    std::uint32_t intern(const std::string& label) {
        auto it = index_.find(label);
        if (it != index_.end()) {
            return it->second;
        }
        auto idx = static_cast<std::uint32_t>(t_.labels.size());
        t_.labels.push_back(label);
        index_.emplace(label, idx);
        return idx;
    }
    void mark(std::uint32_t pid, const std::string& label) { push(OpKind::Mark, pid).label = intern(label); }
    Trace finish(const std::string& source) {
        t_.source = source;
        validate(t_);
        return std::move(t_);
    }

  private:
    Trace t_;
    std::unordered_map<std::string, std::uint32_t> index_;
    std::uint32_t tid_ = 0;
};

constexpr std::uint8_t kRW = kProtRead | kProtWrite;

std::string size_label(double gib) {
    return fmt::format("{}G", gib);
}

std::uint64_t check_base(std::uint64_t base, std::uint64_t len) {
    if (base % kPageSize != 0 || base >= kUserSpaceEnd || len > kUserSpaceEnd - base) {
        throw std::invalid_argument(fmt::format("base {:#x} + {:#x} not page aligned or beyond user space", base, len));
    }
    return base;
}

} // namespace

std::uint64_t gib_to_bytes(double gib) {
    if (!(gib > 0) || gib > 65536) {
        throw std::invalid_argument(fmt::format("size {} GiB out of range (0, 65536]", gib));
    }
    auto bytes = static_cast<std::uint64_t>(std::ceil(gib * static_cast<double>(kGiB)));
    return (bytes + kPageSize - 1) / kPageSize * kPageSize;
}

Trace gen_fork_sweep(const ForkSweepParams& p) {
    if (p.sizes_gib.empty() || p.repeat == 0) {
        throw std::invalid_argument("fork-sweep: need at least one size and repeat >= 1");
    }
    Builder b;
    std::uint32_t child = 2;
    for (double gib : p.sizes_gib) {
        std::uint64_t len = gib_to_bytes(gib);
        check_base(p.base, len);
        for (unsigned r = 0; r < p.repeat; ++r) {
            b.mmap(1, p.base, len, kRW, kMapPrivate);
            b.range(OpKind::Write, 1, p.base, len);
            b.mark(1, fmt::format("fork-{}-pre", size_label(gib)));
            b.fork(1, child);
            b.mark(1, fmt::format("fork-{}-post", size_label(gib)));
            b.exit(child);
            b.range(OpKind::Munmap, 1, p.base, len);
            ++child;
        }
    }
    return b.finish("fork-sweep");
}

Trace gen_snapshot(const SnapshotParams& p) {
    std::uint64_t len = gib_to_bytes(p.dataset_gib);
    check_base(p.base, len);
    if (p.chunk_bytes == 0 || p.chunk_bytes % kPageSize != 0) {
        throw std::invalid_argument("snapshot: chunk size must be a non-zero multiple of 4 KiB");
    }
    Rng rng(p.seed);
    Builder b;
    const std::uint64_t pages = len / kPageSize;
    b.mmap(1, p.base, len, kRW, kMapPrivate);
    b.range(OpKind::Write, 1, p.base, len);
    b.mark(1, "snapshot-start");
    b.fork(1, 2);
    for (std::uint64_t off = 0; off < len; off += p.chunk_bytes) {
        b.range(OpKind::Read, 2, p.base + off, std::min(p.chunk_bytes, len - off));
        for (unsigned w = 0; w < p.writes_per_chunk; ++w) {
            b.range(OpKind::Write, 1, p.base + rng.below(pages) * kPageSize, kPageSize);
        }
    }
    b.mark(1, "snapshot-scanned");
    b.exit(2);
    b.mark(1, "snapshot-done");
    return b.finish("snapshot");
}

Trace gen_fuzz_loop(const FuzzLoopParams& p) {
    std::uint64_t len = gib_to_bytes(p.parent_gib);
    check_base(p.base, len);
    Rng rng(p.seed);
    Builder b;
    const std::uint64_t pages = len / kPageSize;
    b.mmap(1, p.base, len, kRW, kMapPrivate);
    b.range(OpKind::Write, 1, p.base, len);
    b.mark(1, "fuzz-start");
    for (unsigned i = 0; i < p.iterations; ++i) {
        auto child = static_cast<std::uint32_t>(i + 2);
        b.fork(1, child);
        for (unsigned k = 0; k < p.pages; ++k) {
            OpKind kind = rng.chance(p.write_fraction) ? OpKind::Write : OpKind::Read;
            b.range(kind, child, p.base + rng.below(pages) * kPageSize, kPageSize);
        }
        b.exit(child);
    }
    b.mark(1, "fuzz-done");
    return b.finish("fuzz-loop");
}

Trace gen_unit_test(const UnitTestParams& p) {
    std::uint64_t len = gib_to_bytes(p.parent_gib);
    check_base(p.base, len);
    const std::uint64_t pages = len / kPageSize;
    if (p.working_set_pages == 0 || p.working_set_pages > pages) {
        throw std::invalid_argument("unit-test: working set must be 1 page to the dataset size");
    }
    const std::uint64_t scratch = std::uint64_t{p.scratch_pages} * kPageSize;
    if (scratch > p.base) {
        throw std::invalid_argument("unit-test: scratch area does not fit below base");
    }
    Rng rng(p.seed);
    Builder b;
    b.mmap(1, p.base, len, kRW, kMapPrivate);
    b.range(OpKind::Write, 1, p.base, len);
    b.mark(1, "tests-start");
    for (unsigned i = 0; i < p.tests; ++i) {
        auto child = static_cast<std::uint32_t>(i + 2);
        b.fork(1, child);
        if (scratch != 0) {
            b.mmap(child, p.base - scratch, scratch, kRW, kMapPrivate);
            b.range(OpKind::Write, child, p.base - scratch, scratch);
        }
        std::uint64_t ws = rng.below(pages - p.working_set_pages + 1);
        b.range(OpKind::Read, child, p.base + ws * kPageSize, std::uint64_t{p.working_set_pages} * kPageSize);
        for (unsigned w = 0; w < p.writes; ++w) {
            b.range(OpKind::Write, child, p.base + (ws + rng.below(p.working_set_pages)) * kPageSize, kPageSize);
        }
        b.exit(child);
    }
    b.mark(1, "tests-done");
    return b.finish("unit-test");
}

// ---------------------------------------------------------------------------------------------------------------
// Random programs

namespace {

struct PageState {
    std::uint32_t vma = 0; // 0: unmapped; otherwise an id that changes whenever the kernel may split the VMA
    std::uint8_t prot = 0;
    std::uint8_t shared = 0;
};

struct Pin {
    std::uint64_t addr;
    std::uint64_t len;
};

// A thread of a process (v2): runnable unless blocked in `wait` for a live child.
struct Thr {
    std::uint32_t tid = 0;
    std::uint32_t blocked_on = 0;    // child pid (wait), 0: runnable
    std::vector<std::uint32_t> open; // labels of open begin/end intervals
};

struct Kid {
    std::uint32_t pid = 0;
    bool waited = false;
};

struct Proc {
    std::uint32_t pid = 0;
    std::vector<Thr> threads = std::vector<Thr>(1); // the main thread first (v2 only)
    std::uint32_t next_tid = 1;
    std::vector<Kid> kids;        // children of fork, vfork and spawn (v2 only)
    std::vector<PageState> pages; // the mmap window
    bool heap_set = false;
    std::uint64_t brk = 0;
    std::vector<Pin> pins;
    std::map<std::uint64_t, unsigned> refs; // window page -> read-only GUP references held (getref)
};

class RandomGen {
  public:
    explicit RandomGen(const RandomParams& p) : p_(p), rng_(p.seed) {
        if (p.window_bytes == 0 || p.window_bytes % kPageSize != 0 || p.window_base % kPageSize != 0 ||
            p.heap_bytes == 0 || p.heap_bytes % kPageSize != 0 || p.heap_base % kPageSize != 0) {
            throw std::invalid_argument("random: windows must be non-empty and 4 KiB aligned");
        }
        check_base(p.window_base, p.window_bytes + 64 * kPageSize);
        check_base(p.heap_base, p.heap_bytes);
        if (p.heap_base < p.window_base + p.window_bytes + 64 * kPageSize &&
            p.window_base < p.heap_base + p.heap_bytes) {
            throw std::invalid_argument("random: heap window overlaps the mmap window");
        }
        if (p.max_live == 0 || p.max_procs == 0 || p.max_map_pages == 0 || p.max_access_pages == 0 ||
            p.max_threads == 0 || p.cpus == 0) {
            throw std::invalid_argument("random: limits must be >= 1");
        }
        if (p.cpus > kMaxCpu + 1) {
            throw std::invalid_argument(fmt::format("random: at most {} CPUs", kMaxCpu + 1));
        }
        npages_ = p.window_bytes / kPageSize;
        Proc init;
        init.pid = 1;
        init.pages.resize(npages_);
        procs_.push_back(std::move(init));
    }

    Trace run() {
        b_.set_version(p_.v2 ? 2 : 1);
        for (unsigned i = 0; i < p_.ops; ++i) {
            step();
        }
        if (p_.exit_all) {
            // Children first: a child comes after its parent in procs_, so every wait is over when its parent exits.
            while (!procs_.empty()) {
                b_.set_tid(0);
                exit_proc(procs_.size() - 1);
            }
        }
        return b_.finish(fmt::format("random-{}", p_.seed));
    }

  private:
    std::uint64_t page_addr(std::uint64_t i) const { return p_.window_base + i * kPageSize; }
    std::uint64_t heap_end() const { return p_.heap_base + p_.heap_bytes; }

    std::uint8_t random_prot() {
        static constexpr std::uint8_t kProts[] = {kRW, kRW, kRW, kProtRead, 0, kRW | kProtExec, kProtWrite, kProtExec};
        return kProts[rng_.below(sizeof kProts)];
    }

    // Emits unpins for every pin of `pr` that overlaps page range [first, first + n).
    void unpin_overlapping(Proc& pr, std::uint64_t first, std::uint64_t n) {
        const std::uint64_t lo = page_addr(first);
        const std::uint64_t hi = page_addr(first + n);
        auto it = pr.pins.begin();
        while (it != pr.pins.end()) {
            if (it->addr < hi && lo < it->addr + it->len) {
                b_.range(OpKind::Unpin, pr.pid, it->addr, it->len);
                it = pr.pins.erase(it);
            } else {
                ++it;
            }
        }
    }

    // A random mapped page, or npages_ if none found.
    std::uint64_t random_mapped_page(const Proc& pr) {
        for (int tries = 0; tries < 64; ++tries) {
            std::uint64_t i = rng_.below(npages_);
            if (pr.pages[i].vma != 0) {
                return i;
            }
        }
        for (std::uint64_t i = 0; i < npages_; ++i) {
            if (pr.pages[i].vma != 0) {
                return i;
            }
        }
        return npages_;
    }

    // Extends from mapped page `first` over up to max pages that are mapped (and of the same VMA if same_vma).
    std::uint64_t extent(const Proc& pr, std::uint64_t first, std::uint64_t max, bool same_vma) {
        std::uint64_t n = 1;
        while (n < max && first + n < npages_ && pr.pages[first + n].vma != 0 &&
               (!same_vma || pr.pages[first + n].vma == pr.pages[first].vma)) {
            ++n;
        }
        return n;
    }

    Proc& random_proc() { return procs_[rng_.below(procs_.size())]; }

    void step() {
        if (p_.v2) {
            return step_v2();
        }
        Proc& pr = random_proc();
        dispatch(pr, rng_.below(100));
    }

    void dispatch(Proc& pr, std::uint64_t roll) {
        if (roll < 40) {
            access(pr);
        } else if (roll < 50) {
            do_mmap(pr);
        } else if (roll < 54) {
            do_munmap(pr);
        } else if (roll < 60) {
            do_mprotect(pr);
        } else if (roll < 64) {
            do_madvise(pr);
        } else if (roll < 68) {
            do_mremap(pr);
        } else if (roll < 72) {
            do_brk(pr);
        } else if (roll < 77) {
            do_pin(pr);
        } else if (roll < 80) {
            do_unpin(pr);
        } else if (roll < 86) {
            do_fork(pr);
        } else if (roll < 90) {
            do_exit(pr);
        } else if (roll < 92) {
            do_exec(pr);
        } else if (roll < 94) {
            b_.mark(pr.pid, fmt::format("m{}", marks_++ % 8));
        } else if (!p_.refs) {
            access(pr);
        } else if (roll < 97) {
            do_getref(pr);
        } else if (roll < 99) {
            do_ref_op(pr, OpKind::Readref);
        } else {
            do_ref_op(pr, OpKind::Putref);
        }
    }

    void access(Proc& pr) {
        OpKind kind = rng_.chance(0.5) ? OpKind::Write : OpKind::Read;
        std::uint64_t addr = 0;
        std::uint64_t len = rng_.range(1, p_.max_access_pages) * kPageSize;
        std::uint64_t where = rng_.below(100);
        if (where < 60) {
            std::uint64_t i = random_mapped_page(pr);
            addr = page_addr(i < npages_ ? i : rng_.below(npages_));
        } else if (where < 75) {
            addr = p_.heap_base + rng_.below(p_.heap_bytes / kPageSize) * kPageSize;
        } else if (where < 90) {
            addr = page_addr(rng_.below(npages_));
        } else if (where < 98) {
            // Never mapped: the gap just above the window.
            addr = p_.window_base + p_.window_bytes + rng_.below(32) * kPageSize;
            len = std::min<std::uint64_t>(len, 32 * kPageSize);
        } else {
            addr = p_.window_base;
            len = p_.window_bytes;
        }
        if (rng_.chance(0.25)) {
            // The one-page form "r ADDR": the page that contains ADDR, ADDR aligned or not.
            if (rng_.chance(0.5)) {
                addr += rng_.below(kPageSize);
            }
            len = default_access_len(addr);
        } else if (rng_.chance(0.3)) {
            // Unaligned: byte offset in the first page, and sometimes a byte-granular length.
            addr += rng_.below(kPageSize);
            if (rng_.chance(0.5)) {
                len = rng_.range(1, len);
            }
        }
        b_.range(kind, pr.pid, addr, len);
    }

    void do_mmap(Proc& pr) {
        std::uint64_t n = rng_.range(1, std::min<std::uint64_t>(p_.max_map_pages, npages_));
        std::uint64_t first = rng_.below(npages_ - n + 1);
        unpin_overlapping(pr, first, n);
        std::uint8_t prot = random_prot();
        std::uint8_t shared = rng_.chance(0.25) ? 1 : 0;
        b_.mmap(pr.pid, page_addr(first), n * kPageSize, prot, shared);
        std::uint32_t id = next_vma_++;
        for (std::uint64_t i = first; i < first + n; ++i) {
            pr.pages[i] = PageState{id, prot, shared};
        }
    }

    void do_munmap(Proc& pr) {
        std::uint64_t first = 0;
        std::uint64_t n = 0;
        std::uint64_t i = random_mapped_page(pr);
        if (i < npages_ && rng_.chance(0.7)) {
            first = i;
            n = extent(pr, i, rng_.range(1, p_.max_map_pages), false);
        } else {
            n = rng_.range(1, std::min<std::uint64_t>(p_.max_map_pages, npages_));
            first = rng_.below(npages_ - n + 1);
        }
        unpin_overlapping(pr, first, n);
        b_.range(OpKind::Munmap, pr.pid, page_addr(first), n * kPageSize);
        for (std::uint64_t k = first; k < first + n; ++k) {
            pr.pages[k] = PageState{};
        }
    }

    void do_mprotect(Proc& pr) {
        std::uint64_t i = random_mapped_page(pr);
        if (i >= npages_) {
            return do_mmap(pr);
        }
        std::uint64_t n = extent(pr, i, rng_.range(1, p_.max_map_pages), false);
        unpin_overlapping(pr, i, n);
        // mprotect to none and back: a page that is none mostly goes back to rw.
        std::uint8_t prot = pr.pages[i].prot == 0 && rng_.chance(0.7) ? kRW : random_prot();
        b_.mprotect(pr.pid, page_addr(i), n * kPageSize, prot);
        std::unordered_map<std::uint32_t, std::uint32_t> renamed;
        for (std::uint64_t k = i; k < i + n; ++k) {
            auto [it, fresh] = renamed.try_emplace(pr.pages[k].vma, next_vma_);
            if (fresh) {
                ++next_vma_;
            }
            pr.pages[k].vma = it->second;
            pr.pages[k].prot = prot;
        }
    }

    void do_madvise(Proc& pr) {
        std::uint64_t i = random_mapped_page(pr);
        if (i >= npages_) {
            return access(pr);
        }
        std::uint64_t n = extent(pr, i, rng_.range(1, p_.max_map_pages), false);
        unpin_overlapping(pr, i, n);
        b_.range(OpKind::Madvise, pr.pid, page_addr(i), n * kPageSize);
    }

    void do_mremap(Proc& pr) {
        std::uint64_t i = random_mapped_page(pr);
        if (i >= npages_) {
            return do_mmap(pr);
        }
        // Start anywhere in the VMA run that contains i.
        std::uint64_t n = extent(pr, i, rng_.range(1, p_.max_map_pages), true);
        const PageState src = pr.pages[i];
        std::uint64_t n2 =
            src.shared != 0 ? rng_.range(1, n) : rng_.range(1, std::min<std::uint64_t>(p_.max_map_pages, npages_));
        if (n2 > npages_) {
            return;
        }
        std::uint64_t dst = 0;
        bool found = false;
        for (int tries = 0; tries < 16 && !found; ++tries) {
            dst = rng_.below(npages_ - n2 + 1);
            found = dst + n2 <= i || i + n <= dst;
        }
        if (!found) {
            return;
        }
        unpin_overlapping(pr, i, n);
        unpin_overlapping(pr, dst, n2);
        b_.mremap(pr.pid, page_addr(i), n * kPageSize, page_addr(dst), n2 * kPageSize);
        std::uint32_t id = next_vma_++;
        for (std::uint64_t k = i; k < i + n; ++k) {
            pr.pages[k] = PageState{};
        }
        for (std::uint64_t k = dst; k < dst + n2; ++k) {
            pr.pages[k] = PageState{id, src.prot, src.shared};
        }
    }

    void do_brk(Proc& pr) {
        if (!pr.heap_set) {
            pr.heap_set = true;
            pr.brk = p_.heap_base;
        } else {
            pr.brk = p_.heap_base + rng_.below(p_.heap_bytes / kPageSize + 1) * kPageSize;
        }
        b_.brk(pr.pid, pr.brk);
    }

    void do_pin(Proc& pr) {
        std::uint64_t i = random_mapped_page(pr);
        if (i >= npages_) {
            return access(pr);
        }
        std::uint64_t max = rng_.range(1, 32);
        std::uint64_t n = 0;
        if (rng_.chance(0.85)) {
            // A range that pins completely: writable private pages.
            while (n < max && i + n < npages_ && pr.pages[i + n].vma != 0 && pr.pages[i + n].shared == 0 &&
                   (pr.pages[i + n].prot & kProtWrite) != 0) {
                ++n;
            }
            if (n == 0) {
                return access(pr);
            }
        } else {
            n = std::min<std::uint64_t>(max, npages_ - i);
        }
        b_.range(OpKind::Pin, pr.pid, page_addr(i), n * kPageSize);
        // Pages before the first one that cannot be pinned stay pinned (docs/SEMANTICS.md).
        std::uint64_t ok = 0;
        while (ok < n && pr.pages[i + ok].vma != 0 && pr.pages[i + ok].shared == 0 &&
               (pr.pages[i + ok].prot & kProtWrite) != 0) {
            ++ok;
        }
        if (ok > 0) {
            pr.pins.push_back(Pin{page_addr(i), ok * kPageSize});
        }
    }

    void do_unpin(Proc& pr) {
        if (pr.pins.empty()) {
            return do_pin(pr);
        }
        std::uint64_t k = rng_.below(pr.pins.size());
        b_.range(OpKind::Unpin, pr.pid, pr.pins[k].addr, pr.pins[k].len);
        pr.pins.erase(pr.pins.begin() + static_cast<std::ptrdiff_t>(k));
    }

    // A page a read-only GUP can reference: mapped with PROT_READ. Pages mapped without it (w or x only) are
    // avoided: 6.1's GUP-fast takes their present pages, the slow path refuses them (docs/SEMANTICS.md).
    static bool ref_ok(const PageState& s) { return s.vma != 0 && (s.prot & kProtRead) != 0; }
    static bool ref_fails(const PageState& s) { return s.vma == 0 || s.prot == 0; }

    void do_getref(Proc& pr) {
        std::uint64_t i = random_mapped_page(pr);
        if (i >= npages_ || !ref_ok(pr.pages[i])) {
            return access(pr);
        }
        const std::uint64_t max = rng_.range(1, 16);
        std::uint64_t n = 0;
        if (rng_.chance(0.85)) {
            while (n < max && i + n < npages_ && ref_ok(pr.pages[i + n])) {
                ++n;
            }
        } else {
            n = std::min<std::uint64_t>(max, npages_ - i);
        }
        std::uint64_t ok = 0;
        while (ok < n && ref_ok(pr.pages[i + ok])) {
            ++ok;
        }
        if (ok < n && !ref_fails(pr.pages[i + ok])) {
            n = ok; // never stop at a page without PROT_READ that is mapped
        }
        const bool pin = rng_.chance(0.3);
        b_.getref(pr.pid, page_addr(i), n * kPageSize, pin);
        for (std::uint64_t k = i; k < i + ok; ++k) {
            ++pr.refs[k];
        }
    }

    // readref or putref of a run of pages this process holds references to.
    void do_ref_op(Proc& pr, OpKind kind) {
        if (pr.refs.empty()) {
            return do_getref(pr);
        }
        auto it = pr.refs.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(rng_.below(pr.refs.size())));
        const std::uint64_t first = it->first;
        const std::uint64_t max = rng_.range(1, 16);
        std::uint64_t n = 1;
        while (n < max && pr.refs.contains(first + n)) {
            ++n;
        }
        b_.range(kind, pr.pid, page_addr(first), n * kPageSize);
        if (kind == OpKind::Putref) {
            for (std::uint64_t k = first; k < first + n; ++k) {
                if (--pr.refs[k] == 0) {
                    pr.refs.erase(k);
                }
            }
        }
    }

    void do_fork(Proc& pr) {
        if (procs_.size() >= p_.max_live || next_pid_ > p_.max_procs) {
            return access(pr);
        }
        Proc child;
        child.pid = next_pid_++;
        child.pages = pr.pages; // references are not inherited
        child.heap_set = pr.heap_set;
        child.brk = pr.brk;
        b_.fork(pr.pid, child.pid);
        pr.kids.push_back(Kid{child.pid, false});
        procs_.push_back(std::move(child)); // invalidates pr
    }

    void do_exit(Proc& pr) {
        if (procs_.size() <= 1) {
            return access(pr);
        }
        std::uint32_t pid = pr.pid;
        exit_proc(static_cast<std::size_t>(
            std::find_if(procs_.begin(), procs_.end(), [pid](const Proc& q) { return q.pid == pid; }) -
            procs_.begin()));
    }

    // `exit` of procs_[i] by the current thread; threads waiting for it continue.
    void exit_proc(std::size_t i) {
        const std::uint32_t pid = procs_[i].pid;
        b_.exit(pid);
        procs_.erase(procs_.begin() + static_cast<std::ptrdiff_t>(i));
        for (auto& q : procs_) {
            for (auto& t : q.threads) {
                if (t.blocked_on == pid) {
                    t.blocked_on = 0;
                }
            }
        }
    }

    void do_exec(Proc& pr) {
        unpin_overlapping(pr, 0, npages_);
        b_.exec(pr.pid);
        std::fill(pr.pages.begin(), pr.pages.end(), PageState{});
        pr.refs.clear();
        pr.heap_set = false;
        pr.brk = 0;
        // Every other thread ends; the process continues as its main thread.
        pr.threads.resize(1);
        pr.threads[0].blocked_on = 0;
        pr.threads[0].open.clear();
    }

    // ---- odf-trace v2: threads, CPUs, time (RandomParams::v2)

    Proc* find_proc(std::uint32_t pid) {
        for (auto& q : procs_) {
            if (q.pid == pid) {
                return &q;
            }
        }
        return nullptr;
    }

    bool may_create() const { return procs_.size() < p_.max_live && next_pid_ <= p_.max_procs; }

    void step_v2() {
        // A runnable thread: one always exists (a process without live children has no blocked thread).
        std::vector<std::pair<std::uint32_t, std::uint32_t>> cands; // (proc index, thread index)
        for (std::size_t i = 0; i < procs_.size(); ++i) {
            for (std::size_t k = 0; k < procs_[i].threads.size(); ++k) {
                if (procs_[i].threads[k].blocked_on == 0) {
                    cands.emplace_back(static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(k));
                }
            }
        }
        const auto [pi, ti] = cands[rng_.below(cands.size())];
        b_.set_tid(procs_[pi].threads[ti].tid);
        std::uint64_t roll = rng_.below(130);
        if (roll < 100) {
            dispatch(procs_[pi], roll);
        } else {
            v2_op(pi, ti, roll - 100);
        }
        b_.set_tid(0);
    }

    void v2_op(std::size_t pi, std::size_t ti, std::uint64_t roll) {
        Proc& pr = procs_[pi];
        Thr& t = pr.threads[ti];
        if (roll < 4) {
            if (pr.threads.size() >= p_.max_threads) {
                return do_run(pr);
            }
            Thr n;
            n.tid = pr.next_tid++;
            b_.push(OpKind::Clone, pr.pid).child = n.tid;
            pr.threads.push_back(std::move(n)); // invalidates t
        } else if (roll < 7) {
            if (t.tid == 0) {
                return do_cpu(pr);
            }
            b_.push(OpKind::Texit, pr.pid);
            pr.threads.erase(pr.threads.begin() + static_cast<std::ptrdiff_t>(ti));
        } else if (roll < 11) {
            do_cpu(pr);
        } else if (roll < 15) {
            do_run(pr);
        } else if (roll < 19) {
            do_wait(pr, t);
        } else if (roll < 22) {
            do_vfork(pi);
        } else if (roll < 24) {
            do_spawn(pi);
        } else if (roll < 27) {
            do_begin(pr, t);
        } else {
            do_end(pr, t);
        }
    }

    void do_cpu(Proc& pr) { b_.push(OpKind::Cpu, pr.pid).child = static_cast<std::uint32_t>(rng_.below(p_.cpus)); }
    void do_run(Proc& pr) { b_.push(OpKind::Run, pr.pid).len = rng_.range(1000, 1000000); }

    void do_wait(Proc& pr, Thr& t) {
        std::vector<std::size_t> open;
        for (std::size_t k = 0; k < pr.kids.size(); ++k) {
            if (!pr.kids[k].waited) {
                open.push_back(k);
            }
        }
        if (open.empty()) {
            return do_run(pr);
        }
        Kid& kid = pr.kids[open[rng_.below(open.size())]];
        kid.waited = true;
        b_.push(OpKind::Wait, pr.pid).child = kid.pid;
        if (find_proc(kid.pid) != nullptr) {
            t.blocked_on = kid.pid; // until the child exits
        }
    }

    // A page of `pr` that an access of `write` kind can touch without a fault event (vfork children stay clean).
    bool clean_page(const Proc& pr, std::uint64_t i, bool write) const {
        const PageState& s = pr.pages[i];
        return s.vma != 0 && (s.prot & kProtRead) != 0 && (!write || (s.prot & kProtWrite) != 0);
    }

    // vfork: the child runs in the caller's address space (a few accesses to mapped pages, a `run`), then execs
    // (continuing as a process with an empty address space) or exits; the calling thread is blocked meanwhile.
    void do_vfork(std::size_t pi) {
        if (!may_create()) {
            return do_run(procs_[pi]);
        }
        const std::uint32_t caller_tid = b_.tid();
        const std::uint32_t child = next_pid_++;
        b_.push(OpKind::Vfork, procs_[pi].pid).child = child;
        procs_[pi].kids.push_back(Kid{child, false});
        b_.set_tid(0);
        const Proc& pr = procs_[pi];
        const std::uint64_t n = rng_.below(4);
        for (std::uint64_t k = 0; k < n; ++k) {
            const bool write = rng_.chance(0.5);
            std::uint64_t i = random_mapped_page(pr);
            if (i >= npages_ || !clean_page(pr, i, write) || rng_.chance(0.2)) {
                b_.push(OpKind::Run, child).len = rng_.range(1000, 100000);
                continue;
            }
            std::uint64_t len = 1;
            const std::uint64_t max = rng_.range(1, 8);
            while (len < max && i + len < npages_ && clean_page(pr, i + len, write)) {
                ++len;
            }
            b_.range(write ? OpKind::Write : OpKind::Read, child, page_addr(i), len * kPageSize);
        }
        if (rng_.chance(0.5)) {
            b_.exec(child);
            Proc c;
            c.pid = child;
            c.pages.resize(npages_);
            procs_.push_back(std::move(c)); // invalidates pr
        } else {
            b_.exit(child);
        }
        b_.set_tid(caller_tid);
    }

    void do_spawn(std::size_t pi) {
        if (!may_create()) {
            return do_run(procs_[pi]);
        }
        const std::uint32_t child = next_pid_++;
        b_.push(OpKind::Spawn, procs_[pi].pid).child = child;
        procs_[pi].kids.push_back(Kid{child, false});
        Proc c;
        c.pid = child;
        c.pages.resize(npages_);
        procs_.push_back(std::move(c));
    }

    void do_begin(Proc& pr, Thr& t) {
        const std::uint32_t label = b_.intern(fmt::format("req{}", rng_.below(3)));
        if (std::find(t.open.begin(), t.open.end(), label) != t.open.end()) {
            return do_end(pr, t);
        }
        Op& op = b_.push(OpKind::Begin, pr.pid);
        op.label = label;
        if (rng_.chance(0.5)) {
            at_ += rng_.range(0, 500000);
            op.addr = at_;
            op.flags = kBeginAt;
        }
        t.open.push_back(label);
    }

    void do_end(Proc& pr, Thr& t) {
        if (t.open.empty()) {
            return do_begin(pr, t);
        }
        const std::size_t k = rng_.below(t.open.size());
        b_.push(OpKind::End, pr.pid).label = t.open[k];
        t.open.erase(t.open.begin() + static_cast<std::ptrdiff_t>(k));
    }

    RandomParams p_;
    Rng rng_;
    Builder b_;
    std::uint64_t npages_ = 0;
    std::vector<Proc> procs_;
    std::uint32_t next_pid_ = 2;
    std::uint32_t next_vma_ = 1;
    unsigned marks_ = 0;
    std::uint64_t at_ = 0; // the last AT of a begin
};

} // namespace

Trace gen_random(const RandomParams& p) {
    return RandomGen(p).run();
}

} // namespace odf::trace
