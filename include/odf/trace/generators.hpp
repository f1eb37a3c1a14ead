// Workload generators: the paper's workloads and a random program generator (traces/FORMAT.md, "Generators").
// Every generator returns a valid trace (validate() passes) with labels interned in order of first use and
// Op::line = 2, 3, 4, ... (the lines of the canonical text form), and is deterministic for its parameters.
#pragma once

#include "odf/trace.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace odf::trace {

inline constexpr std::uint64_t kGiB = 1ULL << 30;
inline constexpr std::uint64_t kMiB = 1ULL << 20;

// Size in GiB (fractional) to bytes, rounded up to a multiple of 4 KiB; throws std::invalid_argument if not > 0 or
// larger than 64 TiB.
[[nodiscard]] std::uint64_t gib_to_bytes(double gib);

// (a) Fork latency sweep. Per size S, in order, `repeat` times:
//   1 mmap BASE S rw private; 1 w BASE S; 1 mark fork-<S>G-pre; 1 fork C; 1 mark fork-<S>G-post; C exit;
//   1 munmap BASE S
struct ForkSweepParams {
    std::vector<double> sizes_gib = {1.0};
    unsigned repeat = 1;
    std::uint64_t base = 0x100000000000ULL; // 16 TiB, 1 GiB aligned
};
[[nodiscard]] Trace gen_fork_sweep(const ForkSweepParams& p);

// (b) Redis-style snapshot (BGSAVE): the parent maps and populates the dataset, marks, forks child 2, which reads
// the dataset chunk by chunk; after each chunk the parent writes `writes_per_chunk` single pages chosen uniformly at
// random over the dataset. Then: mark snapshot-scanned, 2 exit, mark snapshot-done.
struct SnapshotParams {
    double dataset_gib = 1.0;
    std::uint64_t chunk_bytes = 1 * kMiB; // multiple of 4 KiB
    unsigned writes_per_chunk = 4;
    std::uint64_t seed = 1;
    std::uint64_t base = 0x100000000000ULL;
};
[[nodiscard]] Trace gen_snapshot(const SnapshotParams& p);

// (c) Fuzzing loop (AFL-style fork server): parent populates P GiB, mark fuzz-start; then per iteration i:
//   1 fork C; `pages` accesses by C to random pages of the populated range (write with probability
//   write_fraction, else read); C exit. Finally mark fuzz-done.
struct FuzzLoopParams {
    double parent_gib = 1.0;
    unsigned iterations = 100;
    unsigned pages = 64;
    double write_fraction = 0.5;
    std::uint64_t seed = 1;
    std::uint64_t base = 0x100000000000ULL;
};
[[nodiscard]] Trace gen_fuzz_loop(const FuzzLoopParams& p);

// (d) Unit test in a forked child: parent populates S GiB, mark tests-start; per test: 1 fork C; C mmaps a scratch
// area of `scratch_pages` (rw private, just below BASE) and writes it; C reads its working set (a contiguous run of
// `working_set_pages` at a random page-aligned offset in the dataset) with one r op, then writes `writes` random
// pages of it; C exit. Finally mark tests-done.
struct UnitTestParams {
    double parent_gib = 1.0;
    unsigned tests = 100;
    unsigned working_set_pages = 256;
    unsigned writes = 32;
    unsigned scratch_pages = 16;
    std::uint64_t seed = 1;
    std::uint64_t base = 0x100000000000ULL;
};
[[nodiscard]] Trace gen_unit_test(const UnitTestParams& p);

// (e) Random multi-process program, for property tests and the kernel differential test. Uses every op of the
// format; accesses may hit unmapped or protected memory (SIGSEGV events). The generator keeps a page-level model of
// each process so that: every unpin undoes exactly an earlier pin (or the part of it that succeeded), ranges are
// unpinned before they are unmapped, remapped, reprotected or advised, and before exec; mremap sources lie in one
// mapping; brk stays in the heap window.
struct RandomParams {
    std::uint64_t seed = 1;
    unsigned ops = 1000;                        // ops before the final exits
    unsigned max_live = 4;                      // live processes at once
    unsigned max_procs = 16;                    // processes ever created (incl. pid 1)
    std::uint64_t window_base = 0x7ff000000ULL; // mmap window, crosses the 32 GiB (1 GiB-aligned) boundary
    std::uint64_t window_bytes = 64 * kMiB;     // mmap window size
    std::uint64_t heap_base = 0x100000000ULL;   // brk heap window
    std::uint64_t heap_bytes = 4 * kMiB;        // heap window size
    unsigned max_map_pages = 1024;              // largest mmap
    unsigned max_access_pages = 64;             // largest r/w
    bool exit_all = true;                       // every process exits at the end (children first)
    bool refs = true;                           // getref (get and pin), readref, putref
    // odf-trace v2 (traces/FORMAT.md): threads, CPUs and time. Off: the v1 program of the seed, unchanged. On: a
    // random runnable thread issues each op, and about 23% of the ops are clone, texit, cpu, run, wait, vfork,
    // spawn, begin or end. vfork children do 0-3 clean accesses (mapped pages with the needed protection, so no
    // fault event in the caller's address space) or runs, then exec or exit; `wait` is only for an unwaited child
    // (blocking the thread until that child exits); every generated program runs in the guest player.
    bool v2 = false;
    unsigned max_threads = 4; // live threads per process (incl. the main thread)
    unsigned cpus = 4;        // `cpu N` names CPUs 0 to cpus - 1
};
[[nodiscard]] Trace gen_random(const RandomParams& p);

} // namespace odf::trace
