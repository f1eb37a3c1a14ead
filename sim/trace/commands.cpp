// odf-sim subcommands for traces (traces/FORMAT.md, "Command line").
#include "odf/trace/commands.hpp"

#include "detail.hpp"
#include "odf/trace/format.hpp"
#include "odf/trace/generators.hpp"
#include "odf/trace/io.hpp"
#include "odf/trace/lackey.hpp"

#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <memory>

namespace odf::trace {

namespace {

struct OutputOpts {
    std::string path;
    bool binary = false;
    bool zstd = false;
};

void add_output(CLI::App* cmd, OutputOpts& o) {
    cmd->add_option("-o,--output", o.path, "Output file")->required();
    cmd->add_flag("--binary", o.binary, "Write the binary form (default: text)");
    cmd->add_flag("--zstd", o.zstd, "Compress with zstd");
}

// Runs `fn`; on an error prints it ("file:line: reason" for trace errors) and exits with status 2.
template <class F>
void guarded(F&& fn) {
    try {
        fn();
    } catch (const TraceError& e) {
        std::cerr << e.what() << '\n';
        std::exit(2);
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << '\n';
        std::exit(2);
    }
}

void save(const OutputOpts& o, const Trace& t) {
    save_trace(o.path, t, o.binary ? Format::Binary : Format::Text, o.zstd);
}

std::uint64_t parse_addr(const std::string& s, const char* what) {
    std::uint64_t v = 0;
    if (!detail::parse_u64(s, v)) {
        throw std::invalid_argument(fmt::format("bad {} '{}'", what, s));
    }
    return v;
}

// The real-world workloads (odf-trace v2): Table 4, Fig. 9, Fig. 10, Tables 6/7 and the two seed scenarios.
void add_gen_apps(CLI::App* gen) {
    {
        struct Opts {
            RedisSnapshotParams p;
            double chunk_mib = 4;
            std::string base = "0x100000000000";
            OutputOpts out;
        };
        auto o = std::make_shared<Opts>();
        auto* c = gen->add_subcommand("redis-snapshot",
                                      "Redis serving GET/SET requests while it BGSAVEs repeatedly (Table 4; v2)");
        c->add_option("--dataset", o->p.dataset_gib, "Dataset in GiB")->capture_default_str();
        c->add_option("--rate", o->p.rate, "Requests per second (Poisson arrivals)")->capture_default_str();
        c->add_option("--duration", o->p.duration_s, "Seconds of requests")->capture_default_str();
        c->add_option("--write-fraction", o->p.write_fraction, "Fraction of requests that are SETs")
            ->check(CLI::Range(0.0, 1.0))
            ->capture_default_str();
        c->add_option("--service-ns", o->p.service_ns, "User time per request (ns)")->capture_default_str();
        c->add_option("--first-bgsave", o->p.first_bgsave_s, "Seconds from the first request to the first BGSAVE")
            ->capture_default_str();
        c->add_option("--bgsave-gap", o->p.bgsave_gap_s, "Seconds from reaping a child to the next BGSAVE")
            ->capture_default_str();
        c->add_option("--save-mib-per-s", o->p.save_mib_per_s, "The child's serialisation rate (MiB/s)")
            ->capture_default_str();
        c->add_option("--chunk-mib", o->chunk_mib, "The child's read per r op (MiB, 4 KiB multiple)")
            ->capture_default_str();
        c->add_option("--bg-threads", o->p.bg_threads, "Background threads")->capture_default_str();
        c->add_option("--bg-job-ns", o->p.bg_job_ns, "Each background thread's job every 100 ms (ns)")
            ->capture_default_str();
        c->add_option("--seed", o->p.seed, "Random seed")->capture_default_str();
        c->add_option("--base", o->base, "Base address")->capture_default_str();
        add_output(c, o->out);
        c->callback([o] {
            guarded([&] {
                o->p.base = parse_addr(o->base, "base");
                o->p.chunk_bytes = static_cast<std::uint64_t>(o->chunk_mib * static_cast<double>(kMiB));
                save(o->out, gen_redis_snapshot(o->p));
            });
        });
    }
    {
        struct Opts {
            AflParams p;
            std::string base = "0x100000000000";
            OutputOpts out;
        };
        auto o = std::make_shared<Opts>();
        auto* c = gen->add_subcommand("afl", "AFL fork server: a fork per execution (Fig. 9; v2)");
        c->add_option("--target", o->p.target_gib, "The target's populated memory in GiB")->capture_default_str();
        c->add_option("--execs", o->p.execs, "Executions (forks)")->capture_default_str();
        c->add_option("--reads", o->p.reads, "Random page reads per execution")->capture_default_str();
        c->add_option("--writes", o->p.writes, "Random page writes per execution")->capture_default_str();
        c->add_option("--target-ns", o->p.target_ns, "The target's compute per execution (ns)")->capture_default_str();
        c->add_option("--fuzzer-ns", o->p.fuzzer_ns, "The fuzzer's work per execution (ns)")->capture_default_str();
        c->add_option("--seed", o->p.seed, "Random seed")->capture_default_str();
        c->add_option("--base", o->base, "Base address")->capture_default_str();
        add_output(c, o->out);
        c->callback([o] {
            guarded([&] {
                o->p.base = parse_addr(o->base, "base");
                save(o->out, gen_afl(o->p));
            });
        });
    }
    {
        struct Opts {
            CowAfterExitParams p;
            double batch_mib = 2;
            std::string base = "0x100000000000";
            OutputOpts out;
        };
        auto o = std::make_shared<Opts>();
        auto* c = gen->add_subcommand(
            "cow-after-exit", "Writer threads over an array while a child's threads snapshot it (the Q&A seed; v2)");
        c->add_option("--array", o->p.array_gib, "Array size in GiB (and as much checkpoint space)")
            ->capture_default_str();
        c->add_option("--writers", o->p.writers, "Writer threads of the parent")->capture_default_str();
        c->add_option("--snapshotters", o->p.snapshotters, "Snapshot threads of the child")->capture_default_str();
        c->add_option("--batch-mib", o->batch_mib, "Batch size in MiB")->capture_default_str();
        c->add_option("--store-ns", o->p.store_ns, "A writer's time per 8-byte store (ns)")->capture_default_str();
        c->add_option("--copy-gbps", o->p.copy_gbps, "A snapshot thread's memcpy rate (GB/s)")->capture_default_str();
        c->add_flag("--no-fork", o->p.no_fork, "No child: the writers alone (the question's baseline)");
        c->add_option("--base", o->base, "Base address")->capture_default_str();
        add_output(c, o->out);
        c->callback([o] {
            guarded([&] {
                o->p.base = parse_addr(o->base, "base");
                o->p.batch_bytes = static_cast<std::uint64_t>(o->batch_mib * static_cast<double>(kMiB));
                save(o->out, gen_cow_after_exit(o->p));
            });
        });
    }
    {
        struct Opts {
            LauncherParams p;
            std::string base = "0x100000000000";
            OutputOpts out;
        };
        auto o = std::make_shared<Opts>();
        auto* c = gen->add_subcommand(
            "launcher", "A growing process launching a small target: fork, vfork, spawn, pool (the blog seed; v2)");
        c->add_option("--sizes", o->p.sizes_gib, "Parent sizes in GiB, comma separated")
            ->delimiter(',')
            ->capture_default_str();
        c->add_option("--methods", o->p.methods, "Launch methods, comma separated (fork, vfork, spawn, pool)")
            ->delimiter(',')
            ->capture_default_str();
        c->add_option("--launches", o->p.launches, "Launches per size and method")->capture_default_str();
        c->add_option("--density", o->p.density, "Populated fraction of every 2 MiB of the parent (0, 1]")
            ->capture_default_str();
        c->add_option("--parent-writes", o->p.parent_writes, "The parent's random page writes per launch")
            ->capture_default_str();
        c->add_option("--fuzzer-ns", o->p.fuzzer_ns, "The parent's work per launch (ns)")->capture_default_str();
        c->add_option("--ipc-ns", o->p.ipc_ns, "Pool: handing a launch to a worker (ns)")->capture_default_str();
        c->add_option("--target-mib", o->p.target_mib, "The target's memory (MiB)")->capture_default_str();
        c->add_option("--target-ns", o->p.target_ns, "The target's run (ns)")->capture_default_str();
        c->add_option("--seed", o->p.seed, "Random seed")->capture_default_str();
        c->add_option("--base", o->base, "Base address")->capture_default_str();
        add_output(c, o->out);
        c->callback([o] {
            guarded([&] {
                o->p.base = parse_addr(o->base, "base");
                save(o->out, gen_launcher(o->p));
            });
        });
    }
    {
        struct Opts {
            TriforceParams p;
            std::string base = "0x100000000000";
            OutputOpts out;
        };
        auto o = std::make_shared<Opts>();
        auto* c = gen->add_subcommand("triforce",
                                      "TriforceAFL: a QEMU fork server clones the VM per test case (Fig. 10; v2)");
        c->add_option("--ram", o->p.ram_gib, "Guest RAM in GiB")->capture_default_str();
        c->add_option("--populated", o->p.populated_gib, "Guest RAM the booted guest has touched (GiB)")
            ->capture_default_str();
        c->add_option("--jit-mib", o->p.jit_mib, "JIT code cache (MiB)")->capture_default_str();
        c->add_option("--jit-used-mib", o->p.jit_used_mib, "Used part of the JIT cache (MiB)")->capture_default_str();
        c->add_option("--qemu-mib", o->p.qemu_mib, "QEMU's own heap (MiB)")->capture_default_str();
        c->add_option("--hot-mib", o->p.hot_mib, "The guest's working set of a test case (MiB)")->capture_default_str();
        c->add_option("--execs", o->p.execs, "Test cases (forks)")->capture_default_str();
        c->add_option("--window", o->p.window, "Test cases per win-NNNN interval")->capture_default_str();
        c->add_option("--qemu-writes", o->p.qemu_writes, "QEMU heap pages written per test case")
            ->capture_default_str();
        c->add_option("--guest-reads", o->p.guest_reads, "Hot guest pages read per test case")->capture_default_str();
        c->add_option("--guest-writes", o->p.guest_writes, "Hot guest pages written per test case")
            ->capture_default_str();
        c->add_option("--cold-reads", o->p.cold_reads, "Populated guest pages read per test case")
            ->capture_default_str();
        c->add_option("--jit-reads", o->p.jit_reads, "JIT cache pages read per test case")->capture_default_str();
        c->add_option("--jit-writes", o->p.jit_writes, "New translation pages per test case")->capture_default_str();
        c->add_option("--bitmap-writes", o->p.bitmap_writes, "Coverage bitmap pages written per test case")
            ->capture_default_str();
        c->add_option("--target-ns", o->p.target_ns, "The emulated kernel's run per test case (ns)")
            ->capture_default_str();
        c->add_option("--fuzzer-ns", o->p.fuzzer_ns, "The fuzzer's work per test case (ns)")->capture_default_str();
        c->add_option("--long-fraction", o->p.long_fraction, "Fraction of test cases with a long system call")
            ->capture_default_str();
        c->add_option("--long-factor", o->p.long_factor, "Their run is target-ns times this")->capture_default_str();
        c->add_option("--seed", o->p.seed, "Random seed")->capture_default_str();
        c->add_option("--base", o->base, "Base address")->capture_default_str();
        add_output(c, o->out);
        c->callback([o] {
            guarded([&] {
                o->p.base = parse_addr(o->base, "base");
                save(o->out, gen_triforce(o->p));
            });
        });
    }
    {
        struct Opts {
            ApacheParams p;
            std::string base = "0x100000000000";
            OutputOpts out;
        };
        auto o = std::make_shared<Opts>();
        auto* c = gen->add_subcommand("apache",
                                      "Apache prefork right after start: workers serve requests (Tables 6 and 7; v2)");
        c->add_option("--heap-mib", o->p.heap_mib, "The parent's writable memory (MiB)")->capture_default_str();
        c->add_option("--ro-mib", o->p.ro_mib, "Read-only data inherited by the workers (MiB)")->capture_default_str();
        c->add_option("--workers", o->p.workers, "Workers forked at start (StartServers)")->capture_default_str();
        c->add_option("--requests", o->p.requests, "Requests")->capture_default_str();
        c->add_option("--rate", o->p.rate, "Requests per second (Poisson arrivals)")->capture_default_str();
        c->add_option("--start-ms", o->p.start_ms, "The first request arrives after this (ms)")->capture_default_str();
        c->add_option("--init-writes", o->p.init_writes, "Inherited heap pages a worker writes at its start")
            ->capture_default_str();
        c->add_option("--ro-reads", o->p.ro_reads, "Read-only pages read per request")->capture_default_str();
        c->add_option("--heap-reads", o->p.heap_reads, "Inherited heap pages read per request")->capture_default_str();
        c->add_option("--heap-writes", o->p.heap_writes, "Hot inherited heap pages written per request")
            ->capture_default_str();
        c->add_option("--hot-kib", o->p.hot_kib, "The hot part of the parent's heap (KiB)")->capture_default_str();
        c->add_option("--own-writes", o->p.own_writes, "Worker heap pages written per request")->capture_default_str();
        c->add_option("--worker-heap-mib", o->p.worker_heap_mib, "Each worker's own heap (MiB)")->capture_default_str();
        c->add_option("--service-ns", o->p.service_ns, "User time per request (ns)")->capture_default_str();
        c->add_option("--seed", o->p.seed, "Random seed")->capture_default_str();
        c->add_option("--base", o->base, "Base address")->capture_default_str();
        add_output(c, o->out);
        c->callback([o] {
            guarded([&] {
                o->p.base = parse_addr(o->base, "base");
                save(o->out, gen_apache(o->p));
            });
        });
    }
}

void add_gen(CLI::App& app) {
    auto* gen = app.add_subcommand("gen", "Generate a workload trace");
    gen->require_subcommand(1);

    {
        struct Opts {
            ForkSweepParams p;
            std::string base = "0x100000000000";
            OutputOpts out;
        };
        auto o = std::make_shared<Opts>();
        auto* c = gen->add_subcommand("fork-sweep", "Fork latency sweep: populate N GiB, fork, child exits, munmap");
        c->add_option("--sizes", o->p.sizes_gib, "Sizes in GiB, comma separated (0.5 to 50, fractional ok)")
            ->delimiter(',')
            ->capture_default_str();
        c->add_option("--repeat", o->p.repeat, "Forks per size")->capture_default_str();
        c->add_option("--base", o->base, "Base address")->capture_default_str();
        add_output(c, o->out);
        c->callback([o] {
            guarded([&] {
                o->p.base = parse_addr(o->base, "base");
                save(o->out, gen_fork_sweep(o->p));
            });
        });
    }
    {
        struct Opts {
            SnapshotParams p;
            double chunk_mib = 1.0;
            std::string base = "0x100000000000";
            OutputOpts out;
        };
        auto o = std::make_shared<Opts>();
        auto* c = gen->add_subcommand("snapshot", "Redis-style snapshot: child scans, parent keeps writing");
        c->add_option("--dataset", o->p.dataset_gib, "Dataset size in GiB")->capture_default_str();
        c->add_option("--chunk-mib", o->chunk_mib, "Bytes the child reads per r op, in MiB (4 KiB multiple)")
            ->capture_default_str();
        c->add_option("--writes-per-chunk", o->p.writes_per_chunk, "Parent page writes per chunk scanned")
            ->capture_default_str();
        c->add_option("--seed", o->p.seed, "Random seed")->capture_default_str();
        c->add_option("--base", o->base, "Base address")->capture_default_str();
        add_output(c, o->out);
        c->callback([o] {
            guarded([&] {
                o->p.base = parse_addr(o->base, "base");
                o->p.chunk_bytes = static_cast<std::uint64_t>(o->chunk_mib * static_cast<double>(kMiB));
                save(o->out, gen_snapshot(o->p));
            });
        });
    }
    {
        struct Opts {
            FuzzLoopParams p;
            std::string base = "0x100000000000";
            OutputOpts out;
        };
        auto o = std::make_shared<Opts>();
        auto* c = gen->add_subcommand("fuzz-loop", "Fuzzing loop: fork, child touches K random pages, exit");
        c->add_option("--parent", o->p.parent_gib, "Populated parent memory in GiB")->capture_default_str();
        c->add_option("--iterations", o->p.iterations, "Forks")->capture_default_str();
        c->add_option("--pages", o->p.pages, "Random page accesses per child")->capture_default_str();
        c->add_option("--write-fraction", o->p.write_fraction, "Fraction of accesses that write")
            ->check(CLI::Range(0.0, 1.0))
            ->capture_default_str();
        c->add_option("--seed", o->p.seed, "Random seed")->capture_default_str();
        c->add_option("--base", o->base, "Base address")->capture_default_str();
        add_output(c, o->out);
        c->callback([o] {
            guarded([&] {
                o->p.base = parse_addr(o->base, "base");
                save(o->out, gen_fuzz_loop(o->p));
            });
        });
    }
    {
        struct Opts {
            UnitTestParams p;
            std::string base = "0x100000000000";
            OutputOpts out;
        };
        auto o = std::make_shared<Opts>();
        auto* c = gen->add_subcommand("unit-test", "Unit tests in forked children over a populated parent");
        c->add_option("--parent", o->p.parent_gib, "Populated parent memory in GiB")->capture_default_str();
        c->add_option("--tests", o->p.tests, "Tests (forks)")->capture_default_str();
        c->add_option("--working-set", o->p.working_set_pages, "Pages each test reads")->capture_default_str();
        c->add_option("--writes", o->p.writes, "Page writes per test in its working set")->capture_default_str();
        c->add_option("--scratch", o->p.scratch_pages, "Pages each test maps and writes (below base)")
            ->capture_default_str();
        c->add_option("--seed", o->p.seed, "Random seed")->capture_default_str();
        c->add_option("--base", o->base, "Base address")->capture_default_str();
        add_output(c, o->out);
        c->callback([o] {
            guarded([&] {
                o->p.base = parse_addr(o->base, "base");
                save(o->out, gen_unit_test(o->p));
            });
        });
    }
    {
        struct Opts {
            RandomParams p;
            double window_mib = 64;
            double heap_mib = 4;
            bool no_exit = false;
            bool no_refs = false;
            OutputOpts out;
        };
        auto o = std::make_shared<Opts>();
        auto* c = gen->add_subcommand("random", "Random multi-process program using every op");
        c->add_option("--seed", o->p.seed, "Random seed")->capture_default_str();
        c->add_option("--ops", o->p.ops, "Ops before the final exits")->capture_default_str();
        c->add_option("--max-live", o->p.max_live, "Live processes at once")->capture_default_str();
        c->add_option("--max-procs", o->p.max_procs, "Processes ever created")->capture_default_str();
        c->add_option("--window-mib", o->window_mib, "mmap window in MiB")->capture_default_str();
        c->add_option("--heap-mib", o->heap_mib, "brk heap window in MiB")->capture_default_str();
        c->add_option("--max-map-pages", o->p.max_map_pages, "Largest mapping op in pages")->capture_default_str();
        c->add_option("--max-access-pages", o->p.max_access_pages, "Largest r/w op in pages")->capture_default_str();
        c->add_flag("--no-exit", o->no_exit, "Do not end with every process exiting");
        c->add_flag("--no-refs", o->no_refs, "No read-only GUP references (getref, readref, putref)");
        c->add_flag("--v2", o->p.v2,
                    "odf-trace v2: threads, CPUs and time (clone, texit, cpu, run, wait, vfork, spawn, begin, end)");
        c->add_option("--threads", o->p.max_threads, "v2: live threads per process at most (implies --v2)")
            ->capture_default_str();
        c->add_option("--cpus", o->p.cpus, "v2: `cpu N` names CPUs 0 to N-1 (implies --v2)")->capture_default_str();
        add_output(c, o->out);
        c->callback([o, c] {
            guarded([&] {
                auto pages = [](double mib) {
                    return static_cast<std::uint64_t>(mib * static_cast<double>(kMiB)) / kPageSize * kPageSize;
                };
                o->p.window_bytes = pages(o->window_mib);
                o->p.heap_bytes = pages(o->heap_mib);
                o->p.exit_all = !o->no_exit;
                o->p.refs = !o->no_refs;
                if (c->count("--threads") + c->count("--cpus") != 0) {
                    o->p.v2 = true;
                }
                save(o->out, gen_random(o->p));
            });
        });
    }
    add_gen_apps(gen);
}

void add_convert(CLI::App& app) {
    struct Opts {
        std::string in;
        std::string out;
        std::string to = "binary";
        bool zstd = false;
    };
    auto o = std::make_shared<Opts>();
    auto* c = app.add_subcommand("convert", "Convert a trace between text and binary, with or without zstd");
    c->add_option("IN", o->in, "Input trace (any form)")->required();
    c->add_option("-o,--output", o->out, "Output file")->required();
    c->add_option("--to", o->to, "Output form")->check(CLI::IsMember({"text", "binary"}))->capture_default_str();
    c->add_flag("--zstd", o->zstd, "Compress the output with zstd");
    c->callback([o] {
        guarded([&] {
            Trace t = load_trace(o->in);
            save_trace(o->out, t, o->to == "text" ? Format::Text : Format::Binary, o->zstd);
        });
    });
}

void add_check(CLI::App& app) {
    auto files = std::make_shared<std::vector<std::string>>();
    auto* c = app.add_subcommand("check", "Parse and validate traces, print op counts");
    c->add_option("TRACE", *files, "Traces (any form)")->required();
    c->callback([files] {
        bool failed = false;
        for (const auto& f : *files) {
            try {
                TraceReader r(f);
                Trace t;
                std::vector<Op> batch;
                OpCounts total;
                total.processes = 1;
                std::uint64_t nops = 0;
                while (r.next(batch)) {
                    t.ops = std::move(batch);
                    OpCounts c1 = count_ops(t);
                    for (int k = 0; k < kOpKindCount; ++k) {
                        total.by_kind[k] += c1.by_kind[k];
                    }
                    total.pages_read += c1.pages_read;
                    total.pages_written += c1.pages_written;
                    total.processes += c1.processes - 1;
                    nops += t.ops.size();
                    batch = std::move(t.ops);
                }
                std::string kinds;
                for (int k = 0; k < kOpKindCount; ++k) {
                    if (total.by_kind[k] != 0) {
                        kinds += fmt::format(" {}={}", op_name(static_cast<OpKind>(k)), total.by_kind[k]);
                    }
                }
                // v2: the version, threads and the highest CPU after the processes (v1 output is unchanged).
                const std::string v2 = r.version() >= 2
                                           ? fmt::format(", {} threads, max cpu {}", r.threads(), r.max_cpu())
                                           : std::string();
                std::cout << fmt::format(
                    "{}: ok, {}{}{}, {} ops, {} processes{}, {} labels, pages read {}, written {};{}\n", f,
                    r.format() == Format::Binary ? "binary" : "text", r.compressed() ? "+zstd" : "",
                    r.version() >= 2 ? " v2" : "", nops, total.processes, v2, r.labels().size(), total.pages_read,
                    total.pages_written, kinds);
            } catch (const TraceError& e) {
                std::cerr << e.what() << '\n';
                failed = true;
            } catch (const std::exception& e) {
                std::cerr << f << ": error: " << e.what() << '\n';
                failed = true;
            }
        }
        if (failed) {
            std::exit(2);
        }
    });
}

void add_import(CLI::App& app) {
    auto* imp = app.add_subcommand("import", "Import traces from other tools");
    imp->require_subcommand(1);
    struct Opts {
        std::string log;
        LackeyOptions lo;
        OutputOpts out;
    };
    auto o = std::make_shared<Opts>();
    auto* c = imp->add_subcommand("lackey", "Convert a valgrind --tool=lackey --trace-mem=yes log (pid 1)");
    c->add_option("LOG", o->log, "Lackey log file")->required();
    c->add_flag("--instructions", o->lo.instructions_as_reads, "Treat I (instruction fetch) lines as reads");
    c->add_flag("--lenient", o->lo.lenient, "Skip lines that are not lackey records instead of failing");
    add_output(c, o->out);
    c->callback([o] {
        guarded([&] {
            std::ifstream in(o->log);
            if (!in) {
                throw TraceError(o->log, 0, "cannot open");
            }
            Trace t = import_lackey(in, o->log, o->lo);
            save(o->out, t);
        });
    });
}

} // namespace

void add_trace_commands(CLI::App& app) {
    add_gen(app);
    add_convert(app);
    add_check(app);
    add_import(app);
}

} // namespace odf::trace
