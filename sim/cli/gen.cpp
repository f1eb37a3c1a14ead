// `odf-sim gen NAME`: the workload generators of the trace library, one table entry each (traces/FORMAT.md,
// "Generators"). A new generator is a function in the trace library plus one entry in generators() below.
#include "cli.hpp"
#include "odf/trace/format.hpp"
#include "odf/trace/generators.hpp"

#include <fmt/format.h>
#include <functional>
#include <memory>
#include <type_traits>
#include <vector>

namespace odf::cli {

namespace {

using trace::kMiB;
using trace::kPageSize;
using trace::Trace;

// One option of a generator over its parameter struct P: adds itself to the subcommand, bound to the parameters
// (whose values before parsing are the defaults shown in --help), and may leave a step that turns what was parsed
// into the parameter (MiB into bytes, a hex string into an address).
template <class P>
using Param = std::function<std::function<void(P&)>(CLI::App& cmd, P& p)>;

template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};

// --flag VALUE into a field (a vector takes a comma-separated list); `check` validates the value.
template <class P, class T>
Param<P> opt(T P::*field, std::string flag, std::string help, CLI::Validator check = {}) {
    return [=](CLI::App& cmd, P& p) {
        CLI::Option* o = cmd.add_option(flag, p.*field, help)->capture_default_str();
        if constexpr (IsVector<T>::value) {
            o->delimiter(',');
        }
        if (!check.get_description().empty()) {
            o->check(check);
        }
        return std::function<void(P&)>{};
    };
}

// A field of bytes given in MiB (fractional); `whole_pages` rounds down to a multiple of 4 KiB.
template <class P>
Param<P> mib(std::uint64_t P::*field, std::string flag, std::string help, bool whole_pages = false) {
    return [=](CLI::App& cmd, P& p) {
        auto v = std::make_shared<double>(static_cast<double>(p.*field) / static_cast<double>(kMiB));
        cmd.add_option(flag, *v, help)->capture_default_str();
        return std::function<void(P&)>([=](P& q) {
            auto bytes = static_cast<std::uint64_t>(*v * static_cast<double>(kMiB));
            q.*field = whole_pages ? bytes / kPageSize * kPageSize : bytes;
        });
    };
}

// A bool field set by --flag, or (`inverted`) cleared by --no-flag.
template <class P>
Param<P> flag(bool P::*field, std::string name, std::string help, bool inverted = false) {
    return [=](CLI::App& cmd, P& /*p*/) {
        auto v = std::make_shared<bool>(false);
        cmd.add_flag(name, *v, help);
        return std::function<void(P&)>([=](P& q) {
            if (*v) {
                q.*field = !inverted;
            }
        });
    };
}

// --base ADDRESS (hex or decimal).
template <class P>
Param<P> base(std::uint64_t P::*field = &P::base) {
    return [=](CLI::App& cmd, P& p) {
        auto v = std::make_shared<std::string>(fmt::format("{:#x}", p.*field));
        cmd.add_option("--base", *v, "Base address")->capture_default_str();
        return std::function<void(P&)>([=](P& q) {
            if (!trace::parse_number(*v, q.*field)) {
                throw std::invalid_argument(fmt::format("bad base '{}'", *v));
            }
        });
    };
}

struct Generator {
    std::string name;
    std::function<void(CLI::App& gen)> install;
};

// A table entry: `gen NAME` with `help`, the options `params`, then -o/--binary/--zstd; it writes fn(P) after
// `adjust` (for parameters that depend on others) has run.
template <class P>
Generator generator(std::string name, std::string help, Trace (*fn)(const P&), std::vector<Param<P>> params,
                    std::function<void(P&, const CLI::App&)> adjust = {}) {
    auto install = [=](CLI::App& gen) {
        struct State {
            P p;
            OutputOpts out;
            std::vector<std::function<void(P&)>> finish;
        };
        auto s = std::make_shared<State>();
        CLI::App* cmd = gen.add_subcommand(name, help);
        for (const Param<P>& param : params) {
            if (auto f = param(*cmd, s->p)) {
                s->finish.push_back(std::move(f));
            }
        }
        add_output(cmd, s->out);
        cmd->callback([s, cmd, fn, adjust] {
            guarded([&] {
                for (const auto& f : s->finish) {
                    f(s->p);
                }
                if (adjust) {
                    adjust(s->p, *cmd);
                }
                save(s->out, fn(s->p));
            });
        });
    };
    return {name, install};
}

const CLI::Range kFraction(0.0, 1.0);

using trace::AflParams;
using trace::ApacheParams;
using trace::CowAfterExitParams;
using trace::ForkSweepParams;
using trace::FuzzLoopParams;
using trace::LauncherParams;
using trace::RandomParams;
using trace::RedisSnapshotParams;
using trace::SnapshotParams;
using trace::TriforceParams;
using trace::UnitTestParams;

std::vector<Generator> generators() {
    using F = ForkSweepParams;
    using S = SnapshotParams;
    using L = FuzzLoopParams;
    using U = UnitTestParams;
    using R = RandomParams;
    using RS = RedisSnapshotParams;
    using A = AflParams;
    using C = CowAfterExitParams;
    using LA = LauncherParams;
    using T = TriforceParams;
    using AP = ApacheParams;
    return {
        generator<F>("fork-sweep", "Fork latency sweep: populate N GiB, fork, child exits, munmap",
                     trace::gen_fork_sweep,
                     {opt(&F::sizes_gib, "--sizes", "Sizes in GiB, comma separated (0.5 to 50, fractional ok)"),
                      opt(&F::repeat, "--repeat", "Forks per size"), base<F>()}),
        generator<S>("snapshot", "Redis-style snapshot: child scans, parent keeps writing", trace::gen_snapshot,
                     {opt(&S::dataset_gib, "--dataset", "Dataset size in GiB"),
                      mib(&S::chunk_bytes, "--chunk-mib", "Bytes the child reads per r op, in MiB (4 KiB multiple)"),
                      opt(&S::writes_per_chunk, "--writes-per-chunk", "Parent page writes per chunk scanned"),
                      opt(&S::seed, "--seed", "Random seed"), base<S>()}),
        generator<L>("fuzz-loop", "Fuzzing loop: fork, child touches K random pages, exit", trace::gen_fuzz_loop,
                     {opt(&L::parent_gib, "--parent", "Populated parent memory in GiB"),
                      opt(&L::iterations, "--iterations", "Forks"),
                      opt(&L::pages, "--pages", "Random page accesses per child"),
                      opt(&L::write_fraction, "--write-fraction", "Fraction of accesses that write", kFraction),
                      opt(&L::seed, "--seed", "Random seed"), base<L>()}),
        generator<U>("unit-test", "Unit tests in forked children over a populated parent", trace::gen_unit_test,
                     {opt(&U::parent_gib, "--parent", "Populated parent memory in GiB"),
                      opt(&U::tests, "--tests", "Tests (forks)"),
                      opt(&U::working_set_pages, "--working-set", "Pages each test reads"),
                      opt(&U::writes, "--writes", "Page writes per test in its working set"),
                      opt(&U::scratch_pages, "--scratch", "Pages each test maps and writes (below base)"),
                      opt(&U::seed, "--seed", "Random seed"), base<U>()}),
        generator<R>(
            "random", "Random multi-process program using every op", trace::gen_random,
            {opt(&R::seed, "--seed", "Random seed"), opt(&R::ops, "--ops", "Ops before the final exits"),
             opt(&R::max_live, "--max-live", "Live processes at once"),
             opt(&R::max_procs, "--max-procs", "Processes ever created"),
             mib(&R::window_bytes, "--window-mib", "mmap window in MiB", true),
             mib(&R::heap_bytes, "--heap-mib", "brk heap window in MiB", true),
             opt(&R::max_map_pages, "--max-map-pages", "Largest mapping op in pages"),
             opt(&R::max_access_pages, "--max-access-pages", "Largest r/w op in pages"),
             flag(&R::exit_all, "--no-exit", "Do not end with every process exiting", true),
             flag(&R::refs, "--no-refs", "No read-only GUP references (getref, readref, putref)", true),
             flag(&R::v2, "--v2",
                  "odf-trace v2: threads, CPUs and time (clone, texit, cpu, run, wait, vfork, spawn, begin, end)"),
             opt(&R::max_threads, "--threads", "v2: live threads per process at most (implies --v2)"),
             opt(&R::cpus, "--cpus", "v2: `cpu N` names CPUs 0 to N-1 (implies --v2)")},
            [](R& p, const CLI::App& cmd) {
                if (cmd.count("--threads") + cmd.count("--cpus") != 0) {
                    p.v2 = true;
                }
            }),
        // The real-world workloads (odf-trace v2): Table 4, Fig. 9, Fig. 10, Tables 6/7 and the two seed scenarios.
        generator<RS>("redis-snapshot", "Redis serving GET/SET requests while it BGSAVEs repeatedly (Table 4; v2)",
                      trace::gen_redis_snapshot,
                      {opt(&RS::dataset_gib, "--dataset", "Dataset in GiB"),
                       opt(&RS::rate, "--rate", "Requests per second (Poisson arrivals)"),
                       opt(&RS::duration_s, "--duration", "Seconds of requests"),
                       opt(&RS::write_fraction, "--write-fraction", "Fraction of requests that are SETs", kFraction),
                       opt(&RS::service_ns, "--service-ns", "User time per request (ns)"),
                       opt(&RS::first_bgsave_s, "--first-bgsave", "Seconds from the first request to the first BGSAVE"),
                       opt(&RS::bgsave_gap_s, "--bgsave-gap", "Seconds from reaping a child to the next BGSAVE"),
                       opt(&RS::save_mib_per_s, "--save-mib-per-s", "The child's serialisation rate (MiB/s)"),
                       mib(&RS::chunk_bytes, "--chunk-mib", "The child's read per r op (MiB, 4 KiB multiple)"),
                       opt(&RS::bg_threads, "--bg-threads", "Background threads"),
                       opt(&RS::bg_job_ns, "--bg-job-ns", "Each background thread's job every 100 ms (ns)"),
                       opt(&RS::seed, "--seed", "Random seed"), base<RS>()}),
        generator<A>("afl", "AFL fork server: a fork per execution (Fig. 9; v2)", trace::gen_afl,
                     {opt(&A::target_gib, "--target", "The target's populated memory in GiB"),
                      opt(&A::execs, "--execs", "Executions (forks)"),
                      opt(&A::reads, "--reads", "Random page reads per execution"),
                      opt(&A::writes, "--writes", "Random page writes per execution"),
                      opt(&A::target_ns, "--target-ns", "The target's compute per execution (ns)"),
                      opt(&A::fuzzer_ns, "--fuzzer-ns", "The fuzzer's work per execution (ns)"),
                      opt(&A::seed, "--seed", "Random seed"), base<A>()}),
        generator<C>(
            "cow-after-exit", "Writer threads over an array while a child's threads snapshot it (the Q&A seed; v2)",
            trace::gen_cow_after_exit,
            {opt(&C::array_gib, "--array", "Array size in GiB (and as much checkpoint space)"),
             opt(&C::writers, "--writers", "Writer threads of the parent"),
             opt(&C::snapshotters, "--snapshotters", "Snapshot threads of the child"),
             mib(&C::batch_bytes, "--batch-mib", "Batch size in MiB"),
             opt(&C::store_ns, "--store-ns", "A writer's time per 8-byte store (ns)"),
             opt(&C::copy_gbps, "--copy-gbps", "A snapshot thread's memcpy rate (GB/s)"),
             flag(&C::no_fork, "--no-fork", "No child: the writers alone (the question's baseline)"), base<C>()}),
        generator<LA>("launcher",
                      "A growing process launching a small target: fork, vfork, spawn, pool (the blog seed; v2)",
                      trace::gen_launcher,
                      {opt(&LA::sizes_gib, "--sizes", "Parent sizes in GiB, comma separated"),
                       opt(&LA::methods, "--methods", "Launch methods, comma separated (fork, vfork, spawn, pool)"),
                       opt(&LA::launches, "--launches", "Launches per size and method"),
                       opt(&LA::density, "--density", "Populated fraction of every 2 MiB of the parent (0, 1]"),
                       opt(&LA::parent_writes, "--parent-writes", "The parent's random page writes per launch"),
                       opt(&LA::fuzzer_ns, "--fuzzer-ns", "The parent's work per launch (ns)"),
                       opt(&LA::ipc_ns, "--ipc-ns", "Pool: handing a launch to a worker (ns)"),
                       opt(&LA::target_mib, "--target-mib", "The target's memory (MiB)"),
                       opt(&LA::target_ns, "--target-ns", "The target's run (ns)"),
                       opt(&LA::seed, "--seed", "Random seed"), base<LA>()}),
        generator<T>("triforce", "TriforceAFL: a QEMU fork server clones the VM per test case (Fig. 10; v2)",
                     trace::gen_triforce,
                     {opt(&T::ram_gib, "--ram", "Guest RAM in GiB"),
                      opt(&T::populated_gib, "--populated", "Guest RAM the booted guest has touched (GiB)"),
                      opt(&T::jit_mib, "--jit-mib", "JIT code cache (MiB)"),
                      opt(&T::jit_used_mib, "--jit-used-mib", "Used part of the JIT cache (MiB)"),
                      opt(&T::qemu_mib, "--qemu-mib", "QEMU's own heap (MiB)"),
                      opt(&T::hot_mib, "--hot-mib", "The guest's working set of a test case (MiB)"),
                      opt(&T::execs, "--execs", "Test cases (forks)"),
                      opt(&T::window, "--window", "Test cases per win-NNNN interval"),
                      opt(&T::qemu_writes, "--qemu-writes", "QEMU heap pages written per test case"),
                      opt(&T::guest_reads, "--guest-reads", "Hot guest pages read per test case"),
                      opt(&T::guest_writes, "--guest-writes", "Hot guest pages written per test case"),
                      opt(&T::cold_reads, "--cold-reads", "Populated guest pages read per test case"),
                      opt(&T::jit_reads, "--jit-reads", "JIT cache pages read per test case"),
                      opt(&T::jit_writes, "--jit-writes", "New translation pages per test case"),
                      opt(&T::bitmap_writes, "--bitmap-writes", "Coverage bitmap pages written per test case"),
                      opt(&T::target_ns, "--target-ns", "The emulated kernel's run per test case (ns)"),
                      opt(&T::fuzzer_ns, "--fuzzer-ns", "The fuzzer's work per test case (ns)"),
                      opt(&T::long_fraction, "--long-fraction", "Fraction of test cases with a long system call"),
                      opt(&T::long_factor, "--long-factor", "Their run is target-ns times this"),
                      opt(&T::seed, "--seed", "Random seed"),
                      base<T>()}),
        generator<AP>("apache", "Apache prefork right after start: workers serve requests (Tables 6 and 7; v2)",
                      trace::gen_apache,
                      {opt(&AP::heap_mib, "--heap-mib", "The parent's writable memory (MiB)"),
                       opt(&AP::ro_mib, "--ro-mib", "Read-only data inherited by the workers (MiB)"),
                       opt(&AP::workers, "--workers", "Workers forked at start (StartServers)"),
                       opt(&AP::requests, "--requests", "Requests"),
                       opt(&AP::rate, "--rate", "Requests per second (Poisson arrivals)"),
                       opt(&AP::start_ms, "--start-ms", "The first request arrives after this (ms)"),
                       opt(&AP::init_writes, "--init-writes", "Inherited heap pages a worker writes at its start"),
                       opt(&AP::ro_reads, "--ro-reads", "Read-only pages read per request"),
                       opt(&AP::heap_reads, "--heap-reads", "Inherited heap pages read per request"),
                       opt(&AP::heap_writes, "--heap-writes", "Hot inherited heap pages written per request"),
                       opt(&AP::hot_kib, "--hot-kib", "The hot part of the parent's heap (KiB)"),
                       opt(&AP::own_writes, "--own-writes", "Worker heap pages written per request"),
                       opt(&AP::worker_heap_mib, "--worker-heap-mib", "Each worker's own heap (MiB)"),
                       opt(&AP::service_ns, "--service-ns", "User time per request (ns)"),
                       opt(&AP::seed, "--seed", "Random seed"), base<AP>()}),
    };
}

} // namespace

void add_gen_commands(CLI::App& app) {
    CLI::App* gen = app.add_subcommand("gen", "Generate a workload trace");
    gen->require_subcommand(1);
    for (const Generator& g : generators()) {
        g.install(*gen);
    }
}

} // namespace odf::cli
