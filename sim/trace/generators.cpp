// Workload generators (traces/FORMAT.md, "Generators").
#include "odf/trace/generators.hpp"

#include "odf/trace/builder.hpp"
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
            b.populate(1, p.base, len);
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
    b.populate(1, p.base, len);
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
    b.populate(1, p.base, len);
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
    b.populate(1, p.base, len);
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

// ---------------------------------------------------------------------------------------------------------------
// Real-world workloads (odf-trace v2)

namespace {

// Ops stamped with an estimated simulated time (ns), emitted in time order (ties: in the order they were added).
// Each thread's ops must be added with non-decreasing times.
class Timed {
  public:
    explicit Timed(Builder& b) : b_(b) {}
    Op& at(double t, OpKind kind, std::uint32_t pid, std::uint32_t tid = 0) {
        Ev& e = evs_.emplace_back();
        e.t = t;
        e.seq = evs_.size();
        e.op.kind = kind;
        e.op.pid = pid;
        e.op.tid = tid;
        return e.op;
    }
    void access(double t, OpKind kind, std::uint32_t pid, std::uint32_t tid, std::uint64_t addr, std::uint64_t len) {
        Op& op = at(t, kind, pid, tid);
        op.addr = addr;
        op.len = len;
    }
    void run(double t, std::uint32_t pid, std::uint32_t tid, std::uint64_t ns) {
        at(t, OpKind::Run, pid, tid).len = ns;
    }
    void child_op(double t, OpKind kind, std::uint32_t pid, std::uint32_t tid, std::uint32_t child) {
        at(t, kind, pid, tid).child = child;
    }
    void begin(double t, std::uint32_t pid, std::uint32_t tid, const std::string& label, const double* arrival) {
        Op& op = at(t, OpKind::Begin, pid, tid);
        op.label = b_.intern(label);
        if (arrival != nullptr) {
            op.flags = kBeginAt;
            op.addr = static_cast<std::uint64_t>(*arrival);
        }
    }
    void end(double t, std::uint32_t pid, std::uint32_t tid, const std::string& label) {
        at(t, OpKind::End, pid, tid).label = b_.intern(label);
    }
    // Emits everything added so far, in time order.
    void flush() {
        std::stable_sort(evs_.begin(), evs_.end(), [](const Ev& a, const Ev& b) { return a.t < b.t; });
        for (const Ev& e : evs_) {
            b_.append(e.op);
        }
        evs_.clear();
    }

  private:
    struct Ev {
        double t = 0;
        std::size_t seq = 0;
        Op op;
    };
    Builder& b_;
    std::vector<Ev> evs_;
};

constexpr double kMs = 1e6;
constexpr double kS = 1e9;

void check_positive(double v, const char* what) {
    if (!(v > 0) || !std::isfinite(v)) {
        throw std::invalid_argument(fmt::format("{} must be > 0", what));
    }
}

void check_chunk(std::uint64_t bytes, const char* what) {
    if (bytes == 0 || bytes % kPageSize != 0) {
        throw std::invalid_argument(fmt::format("{} must be a non-zero multiple of 4 KiB", what));
    }
}

// "64M", "1G", "0.5G".
std::string size_name(double gib) {
    if (gib < 1.0) {
        return fmt::format("{}M", gib * 1024.0);
    }
    return fmt::format("{}G", gib);
}

} // namespace

Trace gen_redis_snapshot(const RedisSnapshotParams& p) {
    const std::uint64_t len = gib_to_bytes(p.dataset_gib);
    check_base(p.base, len);
    check_positive(p.rate, "redis-snapshot: rate");
    check_positive(p.duration_s, "redis-snapshot: duration");
    check_positive(p.save_mib_per_s, "redis-snapshot: save rate");
    check_chunk(p.chunk_bytes, "redis-snapshot: chunk size");
    if (p.bg_threads > 64 || !(p.first_bgsave_s >= 0) || !(p.bgsave_gap_s >= 0) || !(p.write_fraction >= 0) ||
        p.write_fraction > 1) {
        throw std::invalid_argument("redis-snapshot: bad parameters (bg threads <= 64, times >= 0, fraction 0..1)");
    }
    Rng rng(p.seed);
    Builder b;
    b.set_version(2);
    const std::uint64_t pages = len / kPageSize;
    b.populate(1, p.base, len);
    for (unsigned k = 1; k <= p.bg_threads; ++k) {
        b.push(OpKind::Clone, 1).child = k;
    }
    for (unsigned k = 1; k <= p.bg_threads; ++k) {
        b.set_tid(k);
        b.push(OpKind::Cpu, 1).child = k + 1;
    }
    b.set_tid(0);
    b.mark(1, "loaded");

    Timed T(b);
    // Requests start once the dataset is loaded (the model populates well under 1 s per GiB).
    const double start = (0.5 + p.dataset_gib) * kS;
    const double end = start + p.duration_s * kS;
    const std::uint64_t chunk_pages = p.chunk_bytes / kPageSize;
    // BGSAVEs: fork, the child's scan, its exit, and the lazy wait at a server-cron tick.
    std::uint32_t child = 2;
    double last = end;
    const double save_ns =
        static_cast<double>(len) / (p.save_mib_per_s * kMiB) * kS + static_cast<double>(len / kPageSize) * 200.0;
    // Only BGSAVEs whose child is done before the requests stop: every snapshot is under load.
    for (double save = start + p.first_bgsave_s * kS; save + save_ns < end; ++child) {
        T.child_op(save, OpKind::Fork, 1, 0, child);
        T.child_op(save, OpKind::Cpu, child, 0, 1);
        double t = save;
        for (std::uint64_t off = 0; off < len; off += p.chunk_bytes) {
            const std::uint64_t n = std::min(p.chunk_bytes, len - off);
            T.access(t, OpKind::Read, child, 0, p.base + off, n);
            t += static_cast<double>(chunk_pages) * 200.0; // allowance for the reads (ns per page)
            const auto ser = static_cast<std::uint64_t>(static_cast<double>(n) / (p.save_mib_per_s * kMiB) * kS);
            T.run(t, child, 0, ser);
            t += static_cast<double>(ser);
        }
        T.at(t, OpKind::Exit, child);
        const double tick = 100 * kMs;
        const double reap = std::ceil((t + tick) / tick) * tick;
        T.child_op(reap, OpKind::Wait, 1, 0, child);
        last = std::max(last, reap);
        save = reap + p.bgsave_gap_s * kS;
    }
    // Requests: Poisson arrivals on the main thread.
    for (double t = start;;) {
        t += -std::log(1.0 - rng.unit()) / p.rate * kS;
        if (t >= end) {
            break;
        }
        T.begin(t, 1, 0, "req", &t);
        const bool set = rng.chance(p.write_fraction);
        T.access(t, set ? OpKind::Write : OpKind::Read, 1, 0, p.base + rng.below(pages) * kPageSize, kPageSize);
        T.run(t, 1, 0, p.service_ns);
        T.end(t, 1, 0, "req");
    }
    // Background threads: a short job every 100 ms each.
    for (double t = start; t < end; t += 100 * kMs) {
        for (unsigned k = 1; k <= p.bg_threads; ++k) {
            const double at = t + k * 1000.0;
            T.begin(at, 1, k, "bio", &at);
            T.run(at, 1, k, p.bg_job_ns);
            T.end(at, 1, k, "bio");
        }
    }
    T.at(last + 1, OpKind::Exit, 1);
    T.flush();
    return b.finish("redis-snapshot");
}

Trace gen_afl(const AflParams& p) {
    const std::uint64_t len = gib_to_bytes(p.target_gib);
    check_base(p.base, len);
    if (p.execs == 0) {
        throw std::invalid_argument("afl: need at least one exec");
    }
    Rng rng(p.seed);
    Builder b;
    b.set_version(2);
    const std::uint64_t pages = len / kPageSize;
    b.populate(1, p.base, len);
    b.mark(1, "fuzz-start");
    const std::uint32_t campaign = b.intern("campaign");
    const std::uint32_t exec = b.intern("exec");
    b.push(OpKind::Begin, 1).label = campaign;
    for (unsigned i = 0; i < p.execs; ++i) {
        const auto child = static_cast<std::uint32_t>(i + 2);
        b.push(OpKind::Begin, 1).label = exec;
        b.push(OpKind::Run, 1).len = p.fuzzer_ns;
        b.fork(1, child);
        for (unsigned k = 0; k < p.reads; ++k) {
            b.range(OpKind::Read, child, p.base + rng.below(pages) * kPageSize, kPageSize);
        }
        for (unsigned k = 0; k < p.writes; ++k) {
            b.range(OpKind::Write, child, p.base + rng.below(pages) * kPageSize, kPageSize);
        }
        b.push(OpKind::Run, child).len = p.target_ns;
        b.exit(child);
        b.push(OpKind::Wait, 1).child = child;
        b.push(OpKind::End, 1).label = exec;
    }
    b.push(OpKind::End, 1).label = campaign;
    b.mark(1, "fuzz-done");
    b.exit(1);
    return b.finish("afl");
}

Trace gen_cow_after_exit(const CowAfterExitParams& p) {
    const std::uint64_t len = gib_to_bytes(p.array_gib);
    check_chunk(p.batch_bytes, "cow-after-exit: batch");
    if (len % p.batch_bytes != 0 || p.writers == 0 || p.snapshotters == 0 || p.writers + p.snapshotters > 4096) {
        throw std::invalid_argument(
            "cow-after-exit: the array must be whole batches; 1+ writers and snapshotters, 4096 CPUs at most");
    }
    check_positive(p.store_ns, "cow-after-exit: store time");
    check_positive(p.copy_gbps, "cow-after-exit: copy rate");
    const std::uint64_t array = p.base;
    const std::uint64_t cp = p.base + len;
    check_base(p.base, 2 * len);
    const std::uint64_t batches = len / p.batch_bytes;
    const unsigned W = p.writers;
    const unsigned S = p.snapshotters;
    Builder b;
    b.set_version(2);
    b.mmap(1, array, len, kRW, kMapPrivate);
    b.mmap(1, cp, len, kRW, kMapPrivate);
    b.range(OpKind::Write, 1, array, len);
    b.range(OpKind::Write, 1, cp, len);
    b.mark(1, "filled");
    if (!p.no_fork) {
        b.fork(1, 2);
    }
    for (unsigned w = 1; w <= W; ++w) {
        b.push(OpKind::Clone, 1).child = w;
        b.set_tid(w);
        b.push(OpKind::Cpu, 1).child = w - 1;
        b.set_tid(0);
    }
    Timed T(b);
    double child_exit = 1e300;
    if (!p.no_fork) {
        T.child_op(0, OpKind::Cpu, 2, 0, W);
        for (unsigned s = 1; s <= S; ++s) {
            T.child_op(0, OpKind::Clone, 2, 0, s);
            T.child_op(0, OpKind::Cpu, 2, s, W + s - 1);
        }
        T.child_op(0, OpKind::Wait, 1, 0, 2); // the parent's waiter
        const double copy_ns = static_cast<double>(p.batch_bytes) / p.copy_gbps;
        child_exit = 0;
        for (unsigned s = 1; s <= S; ++s) {
            double t = 0;
            for (std::uint64_t i = s - 1; i < batches; i += S) {
                const std::uint64_t off = i * p.batch_bytes;
                T.access(t, OpKind::Read, 2, s, array + off, p.batch_bytes);
                T.access(t, OpKind::Write, 2, s, cp + off, p.batch_bytes);
                T.run(t, 2, s, static_cast<std::uint64_t>(copy_ns));
                t += copy_ns;
                T.access(t, OpKind::Munmap, 2, s, array + off, p.batch_bytes);
            }
            T.at(t, OpKind::Texit, 2, s);
            child_exit = std::max(child_exit, t);
        }
        T.at(child_exit, OpKind::Exit, 2);
    }
    const double batch_ns = static_cast<double>(p.batch_bytes) / 8.0 / W * p.store_ns;
    for (std::uint64_t i = 0; i < batches; ++i) {
        for (unsigned w = 1; w <= W; ++w) {
            // The writer that reaches a batch first rotates with the batch.
            const double t = static_cast<double>(i) * batch_ns + static_cast<double>((w - 1 + W - i % W) % W) * 1e-3;
            const char* label = p.no_fork ? "nofork" : (t < child_exit ? "alive" : "after");
            T.begin(t, 1, w, label, nullptr);
            T.access(t, OpKind::Write, 1, w, array + i * p.batch_bytes, p.batch_bytes);
            T.run(t, 1, w, static_cast<std::uint64_t>(batch_ns));
            T.end(t, 1, w, label);
        }
    }
    const double done = static_cast<double>(batches) * batch_ns + 1;
    for (unsigned w = 1; w <= W; ++w) {
        T.at(done, OpKind::Texit, 1, w);
    }
    T.at(done, OpKind::Exit, 1);
    T.flush();
    return b.finish(p.no_fork ? "cow-after-exit (no fork)" : "cow-after-exit");
}

Trace gen_launcher(const LauncherParams& p) {
    if (p.sizes_gib.empty() || p.methods.empty() || p.launches == 0) {
        throw std::invalid_argument("launcher: need sizes, methods and launches >= 1");
    }
    std::vector<double> sizes = p.sizes_gib;
    std::sort(sizes.begin(), sizes.end());
    for (const std::string& m : p.methods) {
        if (m != "fork" && m != "vfork" && m != "spawn" && m != "pool") {
            throw std::invalid_argument(fmt::format("launcher: unknown method '{}' (fork, vfork, spawn, pool)", m));
        }
    }
    if (!(p.density > 0) || p.density > 1) {
        throw std::invalid_argument("launcher: density must be in (0, 1]");
    }
    const std::uint64_t maxlen = gib_to_bytes(sizes.back());
    check_base(p.base, maxlen);
    const std::uint64_t tlen = gib_to_bytes(p.target_mib / 1024.0);
    const std::uint64_t tbase = 0x400000;
    Rng rng(p.seed);
    Builder b;
    b.set_version(2);
    std::uint32_t next_pid = 2;
    // The pool: one worker per pooled launch, forked before the parent grows.
    std::vector<std::uint32_t> pool;
    if (std::find(p.methods.begin(), p.methods.end(), "pool") != p.methods.end()) {
        for (std::size_t i = 0; i < sizes.size() * p.launches; ++i) {
            pool.push_back(next_pid);
            b.fork(1, next_pid++);
        }
    }
    std::size_t pool_next = 0;
    b.mmap(1, p.base, maxlen, kRW, kMapPrivate);
    auto target = [&](std::uint32_t pid) {
        b.mmap(pid, tbase, tlen, kRW, kMapPrivate);
        b.range(OpKind::Write, pid, tbase, tlen);
        b.push(OpKind::Run, pid).len = p.target_ns;
        b.exit(pid);
    };
    std::uint64_t populated = 0;
    constexpr std::uint64_t kBlock = 2 * kMiB;
    const std::uint64_t prefix =
        std::max<std::uint64_t>(kPageSize, static_cast<std::uint64_t>(p.density * kBlock) / kPageSize * kPageSize);
    for (double gib : sizes) {
        const std::uint64_t len = gib_to_bytes(gib);
        if (len > populated) {
            if (prefix >= kBlock) {
                b.range(OpKind::Write, 1, p.base + populated, len - populated);
            } else {
                for (std::uint64_t off = populated; off < len; off += kBlock) {
                    b.range(OpKind::Write, 1, p.base + off, std::min(prefix, len - off));
                }
            }
            populated = len;
        }
        const std::string sz = size_name(gib);
        b.mark(1, "grown-" + sz);
        const std::uint64_t pages = len / kPageSize;
        const std::uint64_t block_pages = kBlock / kPageSize;
        const std::uint64_t prefix_pages = prefix / kPageSize;
        for (const std::string& m : p.methods) {
            const std::uint32_t tput = b.intern("tput-" + m + "-" + sz);
            const std::uint32_t lat = b.intern(m + "-" + sz);
            std::vector<std::uint32_t> kids;
            b.push(OpKind::Begin, 1).label = tput;
            for (unsigned i = 0; i < p.launches; ++i) {
                for (unsigned k = 0; k < p.parent_writes; ++k) {
                    // A populated page (of the prefix of its 2 MiB block).
                    const std::uint64_t pg = rng.below(pages);
                    const std::uint64_t page = pg / block_pages * block_pages + pg % block_pages % prefix_pages;
                    b.range(OpKind::Write, 1, p.base + std::min(page, pages - 1) * kPageSize, kPageSize);
                }
                b.push(OpKind::Run, 1).len = p.fuzzer_ns;
                b.push(OpKind::Begin, 1).label = lat;
                if (m == "pool") {
                    b.push(OpKind::Run, 1).len = p.ipc_ns;
                    b.push(OpKind::End, 1).label = lat;
                    const std::uint32_t w = pool[pool_next++];
                    kids.push_back(w);
                    b.push(OpKind::Cpu, w).child = 1;
                    b.exec(w);
                    target(w);
                    continue;
                }
                const std::uint32_t c = next_pid++;
                kids.push_back(c);
                if (m == "fork") {
                    b.fork(1, c);
                    b.push(OpKind::End, 1).label = lat;
                    b.push(OpKind::Cpu, c).child = 1;
                    b.exec(c);
                } else if (m == "vfork") {
                    b.push(OpKind::Vfork, 1).child = c;
                    b.exec(c);
                    b.push(OpKind::End, 1).label = lat;
                    b.push(OpKind::Cpu, c).child = 1;
                } else {
                    b.push(OpKind::Spawn, 1).child = c;
                    b.push(OpKind::End, 1).label = lat;
                    b.push(OpKind::Cpu, c).child = 1;
                }
                target(c);
            }
            b.push(OpKind::End, 1).label = tput;
            for (std::uint32_t c : kids) {
                b.push(OpKind::Wait, 1).child = c;
            }
        }
    }
    // Pool workers left over (methods without pool use none).
    for (; pool_next < pool.size(); ++pool_next) {
        b.exit(pool[pool_next]);
        b.push(OpKind::Wait, 1).child = pool[pool_next];
    }
    b.exit(1);
    return b.finish("launcher");
}

namespace {

std::uint64_t mib_to_bytes(double mib, const char* what) {
    if (!(mib > 0) || !std::isfinite(mib)) {
        throw std::invalid_argument(fmt::format("{} must be > 0 MiB", what));
    }
    return gib_to_bytes(mib / 1024.0);
}

std::uint64_t align_gib(std::uint64_t bytes) {
    return (bytes + kGiB - 1) / kGiB * kGiB;
}

} // namespace

Trace gen_triforce(const TriforceParams& p) {
    const std::uint64_t ram = gib_to_bytes(p.ram_gib);
    const std::uint64_t pop = gib_to_bytes(p.populated_gib);
    const std::uint64_t jit = mib_to_bytes(p.jit_mib, "triforce: JIT cache");
    const std::uint64_t jit_used = mib_to_bytes(p.jit_used_mib, "triforce: used JIT cache");
    const std::uint64_t qemu = mib_to_bytes(p.qemu_mib, "triforce: QEMU heap");
    const std::uint64_t hot = mib_to_bytes(p.hot_mib, "triforce: hot region");
    constexpr std::uint64_t kBitmap = 2 * kMiB; // TriforceAFL's MAP_SIZE (2^21)
    if (pop > ram || hot > pop || jit_used + std::uint64_t{p.jit_writes} * kPageSize > jit) {
        throw std::invalid_argument("triforce: need hot <= populated <= guest RAM, and used JIT + JIT writes <= JIT");
    }
    if (p.execs == 0 || p.window == 0) {
        throw std::invalid_argument("triforce: need at least one test case and a window of >= 1");
    }
    if (!(p.long_fraction >= 0) || p.long_fraction > 1 || !(p.long_factor >= 1) || !std::isfinite(p.long_factor)) {
        throw std::invalid_argument("triforce: long fraction must be in [0, 1] and long factor >= 1");
    }
    const std::uint64_t jit_base = p.base + align_gib(ram);
    const std::uint64_t qemu_base = jit_base + align_gib(jit);
    const std::uint64_t bitmap = qemu_base + align_gib(qemu);
    check_base(p.base, bitmap + kBitmap - p.base);
    Rng rng(p.seed);
    Builder b;
    b.set_version(2);
    // The booted VM: guest RAM (its touched part), the JIT cache (its used part), QEMU's heap, the bitmap.
    b.mmap(1, p.base, ram, kRW, kMapPrivate);
    b.range(OpKind::Write, 1, p.base, pop);
    b.mmap(1, jit_base, jit, kRW | kProtExec, kMapPrivate);
    b.range(OpKind::Write, 1, jit_base, jit_used);
    b.populate(1, qemu_base, qemu);
    b.mmap(1, bitmap, kBitmap, kRW, kMapShared);
    b.range(OpKind::Write, 1, bitmap, kBitmap);
    b.mark(1, "fuzz-start");
    const std::uint32_t campaign = b.intern("campaign");
    const std::uint32_t exec = b.intern("exec");
    auto page = [&](std::uint64_t start, std::uint64_t len) { return start + rng.below(len / kPageSize) * kPageSize; };
    const std::uint64_t hot_base = p.base + pop - hot;
    const std::uint64_t cpu_state = std::min<std::uint64_t>(qemu, 4 * kMiB);
    b.push(OpKind::Begin, 1).label = campaign;
    std::uint32_t win = 0;
    for (unsigned i = 0; i < p.execs; ++i) {
        if (i % p.window == 0) {
            win = b.intern(fmt::format("win-{:04}", i / p.window));
            b.push(OpKind::Begin, 1).label = win;
        }
        const auto child = static_cast<std::uint32_t>(i + 2);
        b.push(OpKind::Begin, 1).label = exec;
        b.push(OpKind::Run, 1).len = p.fuzzer_ns;
        b.fork(1, child);
        for (unsigned k = 0; k < p.qemu_writes; ++k) {
            b.range(OpKind::Write, child, page(qemu_base, cpu_state), kPageSize);
        }
        for (unsigned k = 0; k < p.jit_reads; ++k) {
            b.range(OpKind::Read, child, page(jit_base, jit_used), kPageSize);
        }
        for (unsigned k = 0; k < p.guest_reads; ++k) {
            b.range(OpKind::Read, child, page(hot_base, hot), kPageSize);
        }
        for (unsigned k = 0; k < p.cold_reads; ++k) {
            b.range(OpKind::Read, child, page(p.base, pop), kPageSize);
        }
        for (unsigned k = 0; k < p.guest_writes; ++k) {
            b.range(OpKind::Write, child, page(hot_base, hot), kPageSize);
        }
        if (p.jit_writes != 0) {
            b.range(OpKind::Write, child, jit_base + jit_used, std::uint64_t{p.jit_writes} * kPageSize);
        }
        for (unsigned k = 0; k < p.bitmap_writes; ++k) {
            b.range(OpKind::Write, child, page(bitmap, kBitmap), kPageSize);
        }
        const bool slow = rng.chance(p.long_fraction);
        b.push(OpKind::Run, child).len =
            slow ? static_cast<std::uint64_t>(static_cast<double>(p.target_ns) * p.long_factor) : p.target_ns;
        b.exit(child);
        b.push(OpKind::Wait, 1).child = child;
        b.push(OpKind::End, 1).label = exec;
        if ((i + 1) % p.window == 0 || i + 1 == p.execs) {
            b.push(OpKind::End, 1).label = win;
        }
    }
    b.push(OpKind::End, 1).label = campaign;
    b.mark(1, "fuzz-done");
    b.exit(1);
    return b.finish("triforce");
}

Trace gen_apache(const ApacheParams& p) {
    const std::uint64_t heap = mib_to_bytes(p.heap_mib, "apache: heap");
    const std::uint64_t ro = mib_to_bytes(p.ro_mib, "apache: read-only data");
    const std::uint64_t hot = mib_to_bytes(p.hot_kib / 1024.0, "apache: hot part");
    const std::uint64_t own = mib_to_bytes(p.worker_heap_mib, "apache: worker heap");
    constexpr std::uint64_t kScoreboard = kMiB;
    if (hot > heap || std::uint64_t{p.own_writes} * kPageSize > own) {
        throw std::invalid_argument("apache: need hot part <= heap and own writes <= worker heap");
    }
    if (p.workers == 0 || p.workers > kScoreboard / kPageSize || p.requests == 0) {
        throw std::invalid_argument("apache: need 1 to 256 workers and at least one request");
    }
    check_positive(p.rate, "apache: rate");
    check_positive(p.start_ms, "apache: start");
    const std::uint64_t ro_base = p.base + align_gib(heap);
    const std::uint64_t sb = ro_base + align_gib(ro);
    const std::uint64_t own_base = sb + kGiB; // each worker's heap, at the same address in every worker
    check_base(p.base, own_base + own - p.base);
    Rng rng(p.seed);
    Builder b;
    b.set_version(2);
    b.populate(1, p.base, heap);
    b.populate(1, ro_base, ro);
    b.mprotect(1, ro_base, ro, kProtRead);
    b.mmap(1, sb, kScoreboard, kRW, kMapShared);
    b.range(OpKind::Write, 1, sb, kScoreboard);
    auto page = [&](std::uint64_t start, std::uint64_t len) { return start + rng.below(len / kPageSize) * kPageSize; };
    const std::uint32_t start = b.intern("start");
    b.push(OpKind::Begin, 1).label = start;
    for (unsigned w = 1; w <= p.workers; ++w) {
        b.fork(1, w + 1);
    }
    b.push(OpKind::End, 1).label = start;
    b.mark(1, "started");
    for (unsigned w = 1; w <= p.workers; ++w) {
        const std::uint32_t pid = w + 1;
        b.push(OpKind::Cpu, pid).child = w;
        for (unsigned k = 0; k < p.init_writes; ++k) {
            b.range(OpKind::Write, pid, page(p.base, heap), kPageSize);
        }
        b.mmap(pid, own_base, own, kRW, kMapPrivate);
    }
    Timed T(b);
    double t = p.start_ms * kMs;
    for (unsigned i = 0; i < p.requests; ++i) {
        t += -std::log(1.0 - rng.unit()) / p.rate * kS;
        const std::uint32_t w = i % p.workers + 1;
        const std::uint32_t pid = w + 1;
        T.begin(t, pid, 0, "req", &t);
        for (unsigned k = 0; k < p.ro_reads; ++k) {
            T.access(t, OpKind::Read, pid, 0, page(ro_base, ro), kPageSize);
        }
        for (unsigned k = 0; k < p.heap_reads; ++k) {
            T.access(t, OpKind::Read, pid, 0, page(p.base, heap), kPageSize);
        }
        for (unsigned k = 0; k < p.heap_writes; ++k) {
            T.access(t, OpKind::Write, pid, 0, page(p.base, hot), kPageSize);
        }
        if (p.own_writes != 0) {
            T.access(t, OpKind::Write, pid, 0, own_base, std::uint64_t{p.own_writes} * kPageSize);
        }
        T.access(t, OpKind::Write, pid, 0, sb + (w - 1) * kPageSize, kPageSize);
        T.run(t, pid, 0, p.service_ns);
        T.end(t, pid, 0, "req");
    }
    T.flush();
    for (unsigned w = 1; w <= p.workers; ++w) {
        b.exit(w + 1);
        b.push(OpKind::Wait, 1).child = w + 1;
    }
    b.exit(1);
    return b.finish("apache");
}

} // namespace odf::trace
