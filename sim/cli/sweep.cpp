// The `odf-sim sweep` command line (docs/SWEEPS.md). Progress and diagnostics go to stderr; stdout carries only
// what a command is asked for (the task list, the status report, submitted job ids).
#include "odf/sweep.hpp"

#include "cli.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <memory>
#include <sys/file.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#ifndef ODF_SWEEP_PLOT_SCRIPT
#define ODF_SWEEP_PLOT_SCRIPT "scripts/sweep-plot"
#endif

namespace odf::cli {

using namespace odf::sweep;

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Runs `fn` and ends the command with its status (Exit, returned by main()); a bad spec is status 2 with
// "file:line: field: reason", other errors 1.
template <class F>
[[noreturn]] void run_sweep_command(F&& fn) {
    int rc = 1;
    try {
        rc = fn();
    } catch (const SpecError& e) {
        std::cerr << e.what() << "\n";
        rc = 2;
    } catch (const std::exception& e) {
        std::cerr << "sweep: error: " << e.what() << "\n";
        rc = 1;
    }
    std::cout.flush();
    throw Exit{rc};
}

std::string out_dir(const Spec& s, const std::string& cli) {
    if (!cli.empty()) {
        return fs::absolute(cli).lexically_normal().string();
    }
    if (!s.output.empty()) {
        return s.output;
    }
    return (fs::current_path() / "sweeps-out" / s.name).string();
}

struct Counts {
    std::map<State, std::size_t> n;
    [[nodiscard]] std::string text(std::size_t total) const {
        std::string s = fmt::format("{} tasks", total);
        for (const State st :
             {State::Done, State::Failed, State::Lost, State::Running, State::Queued, State::Pending}) {
            if (const auto it = n.find(st); it != n.end() && it->second > 0) {
                s += fmt::format(", {} {}", it->second, state_name(st));
            }
        }
        return s;
    }
    [[nodiscard]] std::size_t get(State s) const {
        const auto it = n.find(s);
        return it == n.end() ? 0 : it->second;
    }
};

Counts count(const std::vector<TaskStatus>& st) {
    Counts c;
    for (const auto& s : st) {
        ++c.n[s.state];
    }
    return c;
}

// Queue state, or nothing (with a warning) when the queue cannot be read and `strict` is false.
std::map<std::string, std::string> active_of(const Store& store, bool strict) {
    try {
        return slurm_active(store);
    } catch (const std::exception& e) {
        if (strict) {
            throw;
        }
        std::cerr << "sweep: warning: " << e.what() << "\n";
        return {};
    }
}

// Waits until none of the spec's tasks is queued or running in Slurm; progress on stderr.
void wait_queue(const Spec& spec, const Store& store, double poll_s) {
    const bool tty = ::isatty(STDERR_FILENO) != 0;
    std::string last;
    while (true) {
        const auto active = slurm_active(store);
        const auto st = scan(spec, store, active, slurm_submitted(store));
        const Counts c = count(st);
        const std::string line = c.text(spec.tasks.size());
        if (c.get(State::Queued) + c.get(State::Running) == 0) {
            if (tty) {
                std::cerr << "\r\033[K";
            }
            return;
        }
        if (tty) {
            std::cerr << "\r\033[Ksweep: waiting for Slurm: " << line << std::flush;
        } else if (line != last) {
            std::cerr << "sweep: waiting for Slurm: " << line << "\n";
        }
        last = line;
        std::this_thread::sleep_for(std::chrono::duration<double>(poll_s));
    }
}

json status_json(const Spec& spec, const Store& store, const std::vector<TaskStatus>& st) {
    json j;
    j["sweep"] = spec.name;
    j["out"] = store.dir();
    json counts = json::object();
    for (const auto& [s, n] : count(st).n) {
        counts[state_name(s)] = n;
    }
    j["counts"] = counts;
    j["tasks"] = json::array();
    for (const auto& s : st) {
        json t = {{"id", s.task->id}, {"label", s.task->label()}, {"state", state_name(s.state)}};
        if (!s.failure.is_null()) {
            t["failure"] = s.failure;
        }
        j["tasks"].push_back(std::move(t));
    }
    return j;
}

std::string status_text(const Spec& spec, const Store& store, const std::vector<TaskStatus>& st, bool all) {
    std::string s = fmt::format("sweep {}: {}\nout: {}\n", spec.name, count(st).text(st.size()), store.dir());
    bool header = false;
    for (const auto& t : st) {
        if (t.state != State::Failed && t.state != State::Lost) {
            continue;
        }
        if (!header) {
            s += "failed (rerun them alone with `odf-sim sweep run SPEC --only-failed`):\n";
            header = true;
        }
        s += fmt::format("  {}  {}  [{}]\n", t.task->id, t.task->label(), state_name(t.state));
        s += fmt::format("      {}\n", t.failure.value("reason", std::string("?")));
        s += fmt::format("      log: {}\n", t.failure.value("log", store.log_path(t.task->id)));
        const std::string tail = t.failure.value("log_tail", std::string());
        std::size_t start = 0;
        std::vector<std::string> lines;
        while (start < tail.size()) {
            const std::size_t nl = std::min(tail.find('\n', start), tail.size());
            lines.push_back(tail.substr(start, nl - start));
            start = nl + 1;
        }
        for (std::size_t i = lines.size() > 5 ? lines.size() - 5 : 0; i < lines.size(); ++i) {
            s += "      | " + lines[i] + "\n";
        }
    }
    if (all) {
        s += "tasks:\n";
        for (const auto& t : st) {
            s += fmt::format("  {}  {:<8} {}\n", t.task->id, state_name(t.state), t.task->label());
        }
    }
    return s;
}

struct Common {
    std::string spec;
    std::string out;
};

void add_common(CLI::App* c, Common& o) {
    c->add_option("SPEC", o.spec, "sweep spec (JSON, docs/SWEEPS.md)")->required();
    c->add_option("--out", o.out,
                  "output directory (default: the spec's \"output\", else sweeps-out/<name> in the current "
                  "directory); on a cluster, a directory every node sees");
}

} // namespace

void add_sweep_commands(CLI::App& app) {
    auto* sweep = app.add_subcommand("sweep", "Sweeps: traces x parameters x modes x cost models, locally or on "
                                              "Slurm (docs/SWEEPS.md)");
    sweep->require_subcommand(1);

    {
        struct Opts {
            Common c;
            bool json = false;
        };
        auto o = std::make_shared<Opts>();
        auto* c = sweep->add_subcommand("plan", "List the tasks of a spec: id (stable, derived from the task's "
                                                "inputs) and what it replays");
        add_common(c, o->c);
        c->add_flag("--json", o->json, "print the tasks as JSON");
        c->callback([o] {
            run_sweep_command([&] {
                const Spec s = load_spec(o->c.spec);
                if (o->json) {
                    json j = json::array();
                    for (const Task& t : s.tasks) {
                        j.push_back(t.to_json());
                    }
                    std::cout << j.dump(1) << "\n";
                } else {
                    for (const Task& t : s.tasks) {
                        std::cout << t.id << "\t" << t.label() << "\n";
                    }
                }
                std::cerr << fmt::format("sweep {}: {} tasks{}\n", s.name, s.tasks.size(),
                                         s.duplicates ? fmt::format(" ({} duplicates dropped)", s.duplicates) : "");
                return 0;
            });
        });
    }
    {
        struct Opts {
            Common c;
            std::string backend = "local";
            unsigned jobs = 0;
            bool only_failed = false;
            bool no_progress = false;
            bool wait = false;
            double poll = 5;
            SubmitOptions submit;
        };
        auto o = std::make_shared<Opts>();
        auto* c = sweep->add_subcommand("run", "Run the tasks that have no result yet: here, N at a time (local), or "
                                               "as a Slurm job array (slurm)");
        add_common(c, o->c);
        c->add_option("--backend", o->backend, "local or slurm")
            ->check(CLI::IsMember({"local", "slurm"}))
            ->capture_default_str();
        c->add_option("-j,--jobs", o->jobs, "local: tasks at once (default: CPUs / resources.cpus)");
        c->add_flag("--only-failed", o->only_failed,
                    "run only the tasks whose last attempt failed (or, on Slurm, was lost)");
        c->add_flag("--no-progress", o->no_progress, "local: no progress display");
        c->add_option("--partition", o->submit.partition, "slurm: partition (overrides the spec)");
        c->add_option("--account", o->submit.account, "slurm: account (overrides the spec)");
        c->add_option("--sbatch-arg", o->submit.sbatch_args, "slurm: one more sbatch option, e.g. --qos=long");
        c->add_option("--odf-sim", o->submit.odf_sim,
                      "slurm: odf-sim as the compute nodes see it (default: this executable)");
        c->add_flag("--dry-run", o->submit.dry_run, "slurm: write the job scripts, submit nothing");
        c->add_flag("--wait", o->wait, "slurm: wait until the submitted tasks have left the queue");
        c->add_option("--poll", o->poll, "slurm: seconds between queue polls with --wait")->capture_default_str();
        c->callback([o] {
            run_sweep_command([&] {
                const Spec spec = load_spec(o->c.spec);
                const Store store(out_dir(spec, o->c.out));
                fs::create_directories(store.dir());
                const bool slurm = o->backend == "slurm";
                // One `sweep run` per output directory at a time.
                const int lock = ::open((store.dir() + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
                if (lock < 0 || ::flock(lock, LOCK_EX | LOCK_NB) != 0) {
                    throw std::runtime_error("another `odf-sim sweep run` is using " + store.dir());
                }
                const auto active = active_of(store, slurm);
                const auto st = scan(spec, store, active, slurm_submitted(store));
                const std::vector<const Task*> todo = select_tasks(st, o->only_failed);
                std::cerr << fmt::format("sweep {}: {}; {} to run{} in {}\n", spec.name,
                                         count(st).text(spec.tasks.size()), todo.size(),
                                         o->only_failed ? " (only failed)" : "", store.dir());
                if (todo.empty()) {
                    if (slurm && o->wait) {
                        wait_queue(spec, store, o->poll);
                    }
                    const auto now = scan(spec, store, active_of(store, slurm), slurm_submitted(store));
                    return count(now).get(State::Done) == spec.tasks.size() ? 0 : 1;
                }
                store.write_plan(spec);
                if (slurm) {
                    const auto jobs = slurm_submit(spec, store, todo, o->submit);
                    for (const auto& j : jobs) {
                        std::cout << j << "\n";
                    }
                    std::cout.flush();
                    if (!jobs.empty()) {
                        std::cerr << fmt::format("sweep {}: submitted {} tasks as job{} {}\n", spec.name, todo.size(),
                                                 jobs.size() > 1 ? "s" : "", fmt::join(jobs, ", "));
                    }
                    if (!o->wait || o->submit.dry_run) {
                        return 0;
                    }
                    wait_queue(spec, store, o->poll);
                    const auto after = scan(spec, store, slurm_active(store), slurm_submitted(store));
                    std::cerr << fmt::format("sweep {}: {}\n", spec.name, count(after).text(spec.tasks.size()));
                    return count(after).get(State::Done) == spec.tasks.size() ? 0 : 1;
                }
                ExecOptions eo;
                const unsigned cpus = std::max(1U, std::thread::hardware_concurrency());
                eo.jobs = o->jobs > 0 ? o->jobs : std::max(1U, cpus / spec.resources.cpus);
                eo.timeout_s = spec.resources.time_limit_min * 60;
                eo.progress = !o->no_progress;
                const auto t0 = std::chrono::steady_clock::now();
                const auto res = execute(todo, store, eo);
                const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                const auto failed = static_cast<std::size_t>(
                    std::count_if(res.begin(), res.end(), [](const Outcome& x) { return !x.ok; }));
                const auto after = scan(spec, store, active, slurm_submitted(store));
                std::cerr << fmt::format("sweep {}: ran {} tasks in {:.1f} s ({} at a time), {} failed; now {}\n",
                                         spec.name, todo.size(), secs, eo.jobs, failed,
                                         count(after).text(spec.tasks.size()));
                if (failed > 0) {
                    std::cerr << fmt::format("sweep {}: see `odf-sim sweep status {}`\n", spec.name, o->c.spec);
                }
                return count(after).get(State::Done) == spec.tasks.size() ? 0 : 1;
            });
        });
    }
    {
        struct Opts {
            Common c;
            bool json = false;
            bool all = false;
            bool wait = false;
            double poll = 5;
        };
        auto o = std::make_shared<Opts>();
        auto* c = sweep->add_subcommand("status", "Count done, failed, queued and pending tasks; show each failed "
                                                  "task's reason and log. Exit 0 when every task is done");
        add_common(c, o->c);
        c->add_flag("--json", o->json, "print JSON");
        c->add_flag("--all", o->all, "also list every task with its state");
        c->add_flag("--wait", o->wait, "first wait until no task of the sweep is queued or running in Slurm");
        c->add_option("--poll", o->poll, "seconds between queue polls with --wait")->capture_default_str();
        c->callback([o] {
            run_sweep_command([&] {
                const Spec spec = load_spec(o->c.spec);
                const Store store(out_dir(spec, o->c.out));
                if (o->wait) {
                    wait_queue(spec, store, o->poll);
                }
                const auto st = scan(spec, store, slurm_active(store), slurm_submitted(store));
                if (o->json) {
                    std::cout << status_json(spec, store, st).dump(1) << "\n";
                } else {
                    std::cout << status_text(spec, store, st, o->all);
                }
                return count(st).get(State::Done) == spec.tasks.size() ? 0 : 1;
            });
        });
    }
    {
        struct Opts {
            Common c;
            std::string csv;
            std::string json;
            bool plot = false;
            std::string plot_dir;
            bool allow_missing = false;
        };
        auto o = std::make_shared<Opts>();
        auto* c = sweep->add_subcommand("collect", "Merge the per-task results into one CSV and one JSON, and plot "
                                                   "them (scripts/sweep-plot)");
        add_common(c, o->c);
        c->add_option("--csv", o->csv, "CSV file (default: OUT/results.csv)");
        c->add_option("--json", o->json, "JSON file (default: OUT/results.json)");
        c->add_flag("--plot", o->plot, "plot the spec's \"plots\" with scripts/sweep-plot (python3 and gnuplot)");
        c->add_option("--plot-dir", o->plot_dir, "where the plots go (default: OUT/plots)");
        c->add_flag("--allow-missing", o->allow_missing, "exit 0 even if some tasks have no result");
        c->callback([o] {
            run_sweep_command([&] {
                const Spec spec = load_spec(o->c.spec);
                const Store store(out_dir(spec, o->c.out));
                const Collected col = collect(spec, store);
                const std::string csv = o->csv.empty() ? store.dir() + "/results.csv" : o->csv;
                const std::string js = o->json.empty() ? store.dir() + "/results.json" : o->json;
                write_file_atomic(csv, col.csv);
                write_file_atomic(js, col.json.dump(1) + "\n");
                std::cerr << fmt::format("sweep {}: {} of {} tasks collected into {} and {}\n", spec.name, col.done,
                                         spec.tasks.size(), csv, js);
                if (col.missing > 0) {
                    std::cerr << fmt::format("sweep {}: {} tasks have no result (`odf-sim sweep status {}`)\n",
                                             spec.name, col.missing, o->c.spec);
                }
                if (o->plot) {
                    const char* env = std::getenv("ODF_SWEEP_PLOT");
                    const std::string script = env != nullptr && *env != 0 ? env : ODF_SWEEP_PLOT_SCRIPT;
                    const std::string dir = o->plot_dir.empty() ? store.dir() + "/plots" : o->plot_dir;
                    const ProgramRun r = run_program({script, js, dir}, ProgramStdout::ToStderr);
                    if (r.status < 0) {
                        throw std::runtime_error(fmt::format("cannot run {}", script));
                    }
                    if (r.status != 0) {
                        throw std::runtime_error(fmt::format("{} exited with {}", script, r.status));
                    }
                }
                return col.missing == 0 || o->allow_missing ? 0 : 1;
            });
        });
    }
    {
        struct Opts {
            std::string out;
            std::string plan;
            std::string id;
        };
        auto o = std::make_shared<Opts>();
        auto* c = sweep->add_subcommand("task", "Run one task of OUT/plan.json under supervision (what each Slurm "
                                                "array task runs)");
        c->add_option("OUT", o->out, "the sweep's output directory")->required();
        c->add_option("--id", o->id, "task id")->required();
        c->add_option("--plan", o->plan, "the plan to find it in (default: OUT/plan.json)");
        c->callback([o] {
            run_sweep_command([&] {
                const Store store(o->out);
                const Spec plan = store.read_plan(o->plan);
                const auto it =
                    std::find_if(plan.tasks.begin(), plan.tasks.end(), [&](const Task& t) { return t.id == o->id; });
                if (it == plan.tasks.end()) {
                    throw std::runtime_error("no task " + o->id + " in " +
                                             (o->plan.empty() ? store.plan_path() : o->plan));
                }
                if (store.result(it->id)) {
                    std::cerr << "sweep: task " << it->id << " already has a result\n";
                    return 0;
                }
                ExecOptions eo;
                eo.jobs = 1;
                eo.timeout_s = plan.resources.time_limit_min * 60;
                eo.backend = std::getenv("SLURM_JOB_ID") != nullptr ? "slurm" : "task";
                const auto res = execute({&*it}, store, eo);
                return res.at(0).ok ? 0 : 1;
            });
        });
    }
}

} // namespace odf::cli
