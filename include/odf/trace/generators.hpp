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

// ---------------------------------------------------------------------------------------------------------------
// Real-world workloads of the paper and the seeds, in odf-trace v2 (threads, CPUs, time; traces/FORMAT.md,
// "Generators"). Each one interleaves its threads' ops in the order of an *estimated* simulated time (the ops'
// `run` times plus a fixed per-page allowance); the model then times them for real. Memory effects follow the trace
// order, so the estimate decides e.g. which parent writes come before a child's exit.

// (f) Redis snapshotting (Table 4): pid 1's main thread (CPU 0) serves requests arriving as a Poisson process of
// `rate` per second from `start` on, for `duration_s`: `begin req AT`, one single-page `r` (GET) or `w` (SET, with
// probability write_fraction) at a uniformly random page of the dataset, `run service_ns`, `end req`. It BGSAVEs
// repeatedly: `fork` a child (CPU 1) that reads the dataset chunk by chunk, each chunk followed by a `run` of
// chunk / save_mib_per_s (serialisation), then exits; the main thread `wait`s for it at the first 100 ms server-cron
// tick after its estimated exit (+ 100 ms), and the next BGSAVE starts bgsave_gap_s after that. `bg_threads`
// background threads (CPUs 2, 3, ...) run `bg_job_ns` every 100 ms (`begin bio AT`, `run`, `end bio`).
struct RedisSnapshotParams {
    double dataset_gib = 1475.0 / 1024.0; // Table 5's sizing: classic fork 7.40 ms under the paper cost model
    double rate = 20000;                  // requests per second (the paper: 1.5 M/s; scaled down)
    double duration_s = 20;               // of requests (the paper: 135 s)
    double write_fraction = 0.5;
    std::uint64_t service_ns = 2000;      // user time per request
    double first_bgsave_s = 1;            // after the first request
    double bgsave_gap_s = 1;              // from reaping a child to the next BGSAVE
    double save_mib_per_s = 300;          // the child's serialisation rate
    std::uint64_t chunk_bytes = 4 * kMiB; // the child's read per r op
    unsigned bg_threads = 3;
    std::uint64_t bg_job_ns = 20000;
    std::uint64_t seed = 1;
    std::uint64_t base = 0x100000000000ULL;
};
[[nodiscard]] Trace gen_redis_snapshot(const RedisSnapshotParams& p);

// (g) AFL fork server (Fig. 9): pid 1 holds the target's memory (target_gib, populated), then per exec:
// `begin exec`, `run fuzzer_ns` (the fuzzer's mutation and bookkeeping), `fork C`; C reads `reads` and writes
// `writes` random pages of the target's memory, `run target_ns`, `exit`; `wait C`, `end exec`. A `campaign`
// interval spans all execs: executions per second = execs / its latency. Everything on CPU 0 (AFL binds a core).
struct AflParams {
    double target_gib = 1.0;
    unsigned execs = 200;
    unsigned reads = 64;
    unsigned writes = 16;
    std::uint64_t target_ns = 1000000; // the target's own compute per exec
    std::uint64_t fuzzer_ns = 50000;
    std::uint64_t seed = 1;
    std::uint64_t base = 0x100000000000ULL;
};
[[nodiscard]] Trace gen_afl(const AflParams& p);

// (h) The Q&A seed (COW after the child exits): pid 1 maps and fills an array and a checkpoint area of array_gib
// each, forks child 2 (unless no_fork), then `writers` threads (CPUs 0..W-1) each write every batch of the array in
// order (the question's interleaved elements touch every page), each batch `begin LABEL`, `w BATCH`, `run` of
// batch/8/W stores x store_ns, `end LABEL`, LABEL = `alive` while the child lives, `after` once it has exited
// (`nofork` without a fork). The child's `snapshotters` threads (CPUs W..) copy batch i (i = s mod S): `r` it,
// `w` the same batch of the checkpoint area, `run` batch / copy_gbps, `munmap` it; then the child exits; the
// parent's main thread `wait`s for it.
struct CowAfterExitParams {
    double array_gib = 0.25; // the question: 1 GiB
    unsigned writers = 8;    // the question: 28
    unsigned snapshotters = 4;
    std::uint64_t batch_bytes = 2 * kMiB;
    double store_ns = 10; // per 8-byte store of a writer
    double copy_gbps = 5; // the child's memcpy rate
    bool no_fork = false;
    std::uint64_t base = 0x100000000000ULL;
};
[[nodiscard]] Trace gen_cow_after_exit(const CowAfterExitParams& p);

// (i) The blog seed: a growing fuzzer-like process launching a small target. pid 1 maps max(sizes) and, per size S
// (ascending), populates up to S (the first `density` of every 2 MiB: sparse population keeps replays fast), then
// per method (fork, vfork, spawn, pool) a `tput-METHOD-S` interval of `launches` launches, each: `parent_writes`
// random single-page writes and `run fuzzer_ns`, then `begin METHOD-S`, the launch, `end METHOD-S`. fork: `fork C`
// (C: exec); vfork: `vfork C` (C: exec, which releases the parent); spawn: `spawn C`; pool: `run ipc_ns` (a pipe
// write to a worker forked before the parent grew, which then execs). Every target (CPU 1) maps and writes
// target_mib, runs target_ns and exits; the parent waits for them after each interval.
struct LauncherParams {
    std::vector<double> sizes_gib = {0.0625, 0.25, 1, 4, 16};
    std::vector<std::string> methods = {"fork", "vfork", "spawn", "pool"};
    unsigned launches = 8;
    double density = 1.0; // fraction of every 2 MiB populated (a prefix), (0, 1]
    unsigned parent_writes = 16;
    std::uint64_t fuzzer_ns = 20000;
    std::uint64_t ipc_ns = 5000;
    double target_mib = 1;
    std::uint64_t target_ns = 200000;
    std::uint64_t seed = 1;
    std::uint64_t base = 0x100000000000ULL;
};
[[nodiscard]] Trace gen_launcher(const LauncherParams& p);

// (j) TriforceAFL (Fig. 10: fuzzing a kernel in QEMU full-system emulation, VM cloning by fork). Pid 1 is the QEMU
// fork server (CPU 0): it maps guest RAM (`ram_gib`, the first `populated_gib` of it written: what the booted guest
// has touched), a JIT code cache of `jit_mib` (rwx, the first `jit_used_mib` written: the translations made while
// booting), QEMU's own heap (`qemu_mib`, written) and AFL's shared coverage bitmap (2 MiB, TriforceAFL's MAP_SIZE
// 2^21, shared), `mark fuzz-start`, `begin campaign`; then per test case: `begin exec`, `run fuzzer_ns`, `fork C`.
// C (the cloned VM) writes `qemu_writes` pages of the first 4 MiB of QEMU's heap (CPU state, softmmu TLB), reads
// `guest_reads` and writes `guest_writes` random pages of the guest's hot region (the last `hot_mib` of the
// populated RAM: kernel stacks, slab, page cache a syscall touches), reads `cold_reads` random pages of all the
// populated RAM, reads `jit_reads` random pages of the used JIT cache, writes `jit_writes` pages at the cache's fill
// pointer (new translations, lost when C exits: TriforceAFL's parent does not mirror them), writes `bitmap_writes`
// random bitmap pages, `run target_ns` (x `long_factor` for a fraction `long_fraction` of the test cases: inputs
// with long system calls, Fig. 10's dips), exits; pid 1 `wait`s, `end exec`. Every `window` test cases form an
// interval `win-NNNN` (its latency: the window's duration, so execs/s over time). Executions per second =
// execs / the campaign's latency.
struct TriforceParams {
    double ram_gib = 1.0;              // TriforceLinuxSyscallFuzzer's runFuzz: qemu -m 1G
    double populated_gib = 0.25;       // of guest RAM, touched by the booted guest (a guess)
    double jit_mib = 256;              // QEMU 2.x system mode: code_gen_buffer = guest RAM / 4
    double jit_used_mib = 32;          // translations made while booting (a guess)
    double qemu_mib = 64;              // QEMU's own heap (devices, TB metadata, glib)
    double hot_mib = 16;               // the guest's working set of a test case, within the populated RAM
    unsigned execs = 300;              // test cases
    unsigned window = 20;              // test cases per `win-NNNN` interval
    unsigned qemu_writes = 16;         // per test case, in the first 4 MiB of QEMU's heap
    unsigned guest_reads = 256;        // in the hot region
    unsigned guest_writes = 64;        // in the hot region
    unsigned cold_reads = 32;          // anywhere in the populated RAM
    unsigned jit_reads = 128;          // in the used JIT cache
    unsigned jit_writes = 8;           // new translations at the fill pointer
    unsigned bitmap_writes = 32;       // coverage bitmap pages
    std::uint64_t target_ns = 5000000; // the emulated kernel's run per test case (TCG)
    std::uint64_t fuzzer_ns = 100000;  // afl-fuzz's mutation and bookkeeping per test case
    double long_fraction = 0.02;       // test cases with a long system call
    double long_factor = 10;           // their run is target_ns x this
    std::uint64_t seed = 1;
    std::uint64_t base = 0x100000000000ULL; // guest RAM; the JIT cache, QEMU's heap and the bitmap follow
};
[[nodiscard]] Trace gen_triforce(const TriforceParams& p);

// (k) Apache httpd (prefork MPM) right after it starts (Tables 6 and 7). Pid 1 (the parent, CPU 0) writes its heap
// (`heap_mib`: configuration pools, modules' data) and read-only data (`ro_mib`: written, then mprotect r: library
// text and constant data, which the model treats as anonymous memory), maps the scoreboard (shared, 1 MiB),
// `begin start`, forks `workers` children, `end start`. Worker w (CPU w) starts with `init_writes` writes to
// inherited heap pages (child_init) and maps its own heap (`worker_heap_mib`, private, untouched). From `start_ms`
// on, `requests` requests arrive as a Poisson process of `rate` per second, dispatched to the workers in turn; each
// is `begin req AT`, `ro_reads` random reads of the read-only data, `heap_reads` random reads of the inherited heap,
// `heap_writes` random writes to the inherited heap's hot part (the first `hot_kib`: the allocator's free lists and
// pools every request reuses), `own_writes` writes to the worker's heap (one request's pool, reused by the next),
// a write of the worker's scoreboard slot, `run service_ns`, `end req`. Then the workers and the parent exit.
struct ApacheParams {
    double heap_mib = 24; // the parent's writable memory
    double ro_mib = 16;   // read-only data inherited by the workers
    unsigned workers = 5; // Debian's mpm_prefork StartServers
    unsigned requests = 2000;
    double rate = 10000;       // requests per second (Poisson)
    double start_ms = 200;     // the first request may arrive from here on (after the workers exist)
    unsigned init_writes = 32; // child_init: inherited heap pages a worker writes before serving
    unsigned ro_reads = 32;
    unsigned heap_reads = 32;
    unsigned heap_writes = 8;
    double hot_kib = 1024; // the hot part of the parent's heap the requests write
    unsigned own_writes = 4;
    double worker_heap_mib = 4;
    std::uint64_t service_ns = 30000; // user time per request
    std::uint64_t seed = 1;
    std::uint64_t base = 0x100000000000ULL;
};
[[nodiscard]] Trace gen_apache(const ApacheParams& p);

} // namespace odf::trace
