// odf-sim: replay traces under classic fork and the ODF variants side by side; generate, convert and check traces.
#include "cli.hpp"
#include "odf/inspect.hpp"
#include "odf/replay.hpp"
#include "odf/trace/builder.hpp"
#include "odf/trace/io.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <iostream>
#include <spdlog/spdlog.h>
#include <string>
#include <thread>
#include <vector>

namespace {

using odf::ForkMode;

// The built-in demo: a 1 GiB parent forks a child that reads 64 MiB and writes 16 pages, then the parent writes
// 1 MiB after the child exited (the seed question: no copy).
odf::trace::Trace demo_trace() {
    constexpr std::uint64_t base = 0x7f0000000000ULL;
    odf::trace::Builder b;
    b.populate(1, base, 1ULL << 30);
    b.fork(1, 2);
    b.mark(1, "after-fork");
    b.read(2, base, 64ULL << 20);
    b.write(2, base + (512ULL << 20), 16 * 4096);
    b.exit(2);
    b.write(1, base, 1ULL << 20);
    b.mark(1, "end");
    b.exit(1);
    return b.finish("built-in demo");
}

struct ReplayArgs {
    std::vector<std::string> traces;
    std::string modes = odf::cli::all_mode_names(",");
    std::string cost_model;
    std::string observe;
    bool check = false;
    std::uint64_t check_every = 1;
    bool json = false;
    bool csv = false;
    bool per_process = false;
    bool marks = false;
    double phys_gib = 64;
    std::vector<std::string> bugs;
    int cpus = 0;
    unsigned jobs = std::max(1U, std::thread::hardware_concurrency());
};

// Replays `demo` if given, else every trace file of `a` (streamed when large: odf::replay_file).
int run_replay(const ReplayArgs& a, const odf::trace::Trace* demo) {
    odf::ReplayOptions opt;
    opt.modes = odf::cli::parse_mode_list(a.modes);
    opt.sim.check = a.check;
    opt.sim.check_every = a.check_every == 0 ? 1 : a.check_every;
    opt.sim.kernel.phys_frames = static_cast<std::uint64_t>(a.phys_gib * double(1ULL << 30)) >> odf::kPageShift;
    if (!a.cost_model.empty()) {
        opt.sim.kernel.costs = odf::CostModel::load(a.cost_model);
    }
    for (const auto& b : a.bugs) {
        if (b != "odf-gup-leak") {
            throw std::runtime_error("unknown --bug '" + b + "' (known: odf-gup-leak)");
        }
        opt.sim.kernel.bug_odf_gup_leak = true;
    }
    opt.progress = true;
    opt.marks = a.marks;
    opt.sim.cpus = a.cpus;
    opt.jobs = a.jobs;
    const std::size_t count = demo != nullptr ? 1 : a.traces.size();
    for (std::size_t i = 0; i < count; ++i) {
        const std::string source = demo != nullptr ? demo->source : a.traces[i];
        opt.observe_dir = a.observe;
        if (!a.observe.empty() && count > 1) {
            opt.observe_dir = a.observe + "/" + std::to_string(i);
        }
        spdlog::debug("odf-sim: replaying {} in {} modes, {} jobs", source, opt.modes.size(), opt.jobs);
        const auto results = demo != nullptr ? odf::replay(*demo, opt) : odf::replay_file(source, opt);
        if (a.json) {
            std::cout << odf::format_json(source, results, opt.sim.kernel.costs);
        } else if (a.csv) {
            std::cout << odf::format_csv(source, results, opt.sim.kernel.costs);
        } else {
            std::cout << odf::format_table(source, results, opt.sim.kernel.costs, a.per_process) << "\n";
            if (!results.empty() && results.front().timeline.enabled) {
                std::cout << odf::format_threads(results) << "\n";
            }
            if (a.marks) {
                std::cout << odf::format_marks(results) << "\n";
            }
        }
        if (a.check) {
            spdlog::info("{}: oracle and invariants held in every mode ({} ops)", source,
                         results.empty() ? 0 : results.front().ops);
        }
    }
    return 0;
}

void add_replay_options(CLI::App* c, ReplayArgs& a) {
    c->add_option("--modes", a.modes, "comma-separated fork modes, or 'all'")->capture_default_str();
    c->add_option("--cost-model", a.cost_model, "cost-model JSON file (docs/COSTMODEL.md)");
    c->add_flag("--check", a.check, "check every read against the oracle and the invariants after every op");
    c->add_option("--check-every", a.check_every, "with --check: run the invariant checker every N ops");
    c->add_flag("--json", a.json, "print JSON");
    c->add_flag("--csv", a.csv, "print CSV");
    c->add_flag("--per-process", a.per_process, "also print per-process results");
    c->add_flag("--marks", a.marks, "also print every process's VmPTE, RssAnon, faults and cycles at every mark");
    c->add_option("--observe", a.observe, "write observation logs <DIR>/<mode>.jsonl (docs/DIFFTEST.md)");
    c->add_option("--phys-gib", a.phys_gib, "simulated physical memory in GiB")->capture_default_str();
    c->add_option("--jobs,-j", a.jobs,
                  "modes replayed at once, each on its own thread and kernel; results are identical to --jobs 1 "
                  "(default: the number of cores)")
        ->check(CLI::Range(1, 1024));
    c->add_option("--cpus", a.cpus,
                  "CPUs of the simulated machine for odf-trace v2 (default: the highest CPU the trace names + 1); "
                  "a `cpu N` with N >= this is an error")
        ->check(CLI::Range(1, 4096));
    c->add_option("--bug", a.bugs,
                  "reproduce a known bug instead of the fixed behaviour: odf-gup-leak (docs/SEMANTICS.md, "
                  "\"Read-only GUP references\")");
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"odf-sim: fork, On-Demand-Fork and COW PTE tables on a modelled x86_64 MMU"};
    app.require_subcommand(1);

    ReplayArgs ra;
    auto* replay = app.add_subcommand("replay", "replay traces under several fork modes side by side");
    replay->add_option("traces", ra.traces, "trace files (text, binary, or zstd of either)")->required();
    add_replay_options(replay, ra);

    ReplayArgs da;
    auto* demo = app.add_subcommand("demo", "replay the built-in demo scenario in every mode");
    add_replay_options(demo, da);

    auto* costs = app.add_subcommand("cost-model", "print the default cost model as JSON");

    odf::cli::add_inspect_command(app);
    odf::cli::add_gen_commands(app);
    odf::cli::add_trace_commands(app);
    odf::cli::add_sweep_commands(app);
    odf::cli::setup_logging();
    odf::cli::add_log_flags(app);

    // The error of a command as a message on stderr and an exit status: 2 bad input (a trace error names file and
    // line), 3 a divergence of the model from the oracle or an invariant, 1 anything else.
    auto fail = []() -> int {
        try {
            throw;
        } catch (const odf::cli::Exit& e) {
            return e.status;
        } catch (const odf::trace::TraceError& e) {
            spdlog::error("{}", e.what());
            return 2;
        } catch (const odf::SimError& e) {
            spdlog::error("divergence: {}", e.what());
            return 3;
        } catch (const std::exception& e) {
            spdlog::error("odf-sim: {}", e.what());
            return 1;
        }
    };
    // Subcommands registered by add_*_command() run in app.parse(); replay, demo and cost-model run below.
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (...) {
        return fail();
    }
    try {
        if (*replay) {
            return run_replay(ra, nullptr);
        }
        if (*demo) {
            const odf::trace::Trace t = demo_trace();
            return run_replay(da, &t);
        }
        if (*costs) {
            std::cout << odf::CostModel::defaults().to_json() << "\n";
            return 0;
        }
    } catch (...) {
        return fail();
    }
    return 0;
}
