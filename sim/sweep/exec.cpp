// Running sweep tasks: one replay per task in a child process, N at a time, with time-outs, failure records and a
// progress display on stderr (docs/SWEEPS.md).
#include "odf/progress.hpp"
#include "odf/replay.hpp"
#include "odf/sweep.hpp"
#include "odf/trace/generators.hpp"
#include "odf/trace/io.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

namespace odf::sweep {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

trace::Trace generate(const std::string& gen, const json& p) {
    using namespace odf::trace;
    auto d = [&](const char* k) { return p.at(k).get<double>(); };
    auto u = [&](const char* k) { return static_cast<unsigned>(p.at(k).get<std::uint64_t>()); };
    auto u64 = [&](const char* k) { return p.at(k).get<std::uint64_t>(); };
    auto addr = [&](const char* k) { return std::stoull(p.at(k).get<std::string>(), nullptr, 0); };
    auto mib = [](double m) { return static_cast<std::uint64_t>(m * static_cast<double>(kMiB)) / 4096 * 4096; };
    if (gen == "fork-sweep") {
        ForkSweepParams x;
        x.sizes_gib = {d("size")};
        x.repeat = u("repeat");
        x.base = addr("base");
        return gen_fork_sweep(x);
    }
    if (gen == "snapshot") {
        SnapshotParams x;
        x.dataset_gib = d("dataset");
        x.chunk_bytes = static_cast<std::uint64_t>(d("chunk-mib") * static_cast<double>(kMiB));
        x.writes_per_chunk = u("writes-per-chunk");
        x.seed = u64("seed");
        x.base = addr("base");
        return gen_snapshot(x);
    }
    if (gen == "fuzz-loop") {
        FuzzLoopParams x;
        x.parent_gib = d("parent");
        x.iterations = u("iterations");
        x.pages = u("pages");
        x.write_fraction = d("write-fraction");
        x.seed = u64("seed");
        x.base = addr("base");
        return gen_fuzz_loop(x);
    }
    if (gen == "unit-test") {
        UnitTestParams x;
        x.parent_gib = d("parent");
        x.tests = u("tests");
        x.working_set_pages = u("working-set");
        x.writes = u("writes");
        x.scratch_pages = u("scratch");
        x.seed = u64("seed");
        x.base = addr("base");
        return gen_unit_test(x);
    }
    if (gen == "random") {
        RandomParams x;
        x.seed = u64("seed");
        x.ops = u("ops");
        x.max_live = u("max-live");
        x.max_procs = u("max-procs");
        x.window_bytes = mib(d("window-mib"));
        x.heap_bytes = mib(d("heap-mib"));
        x.max_map_pages = u("max-map-pages");
        x.max_access_pages = u("max-access-pages");
        x.exit_all = p.at("exit").get<bool>();
        x.refs = p.at("refs").get<bool>();
        return gen_random(x);
    }
    throw std::invalid_argument("unknown generator '" + gen + "'");
}

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop(int) {
    g_stop = 1;
}

std::string hostname() {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    return host;
}

std::string now_iso() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string log_tail(const std::string& path, std::size_t lines) {
    std::ifstream in(path);
    std::deque<std::string> q;
    std::string l;
    while (std::getline(in, l)) {
        q.push_back(l.size() > 400 ? l.substr(0, 400) + "..." : l);
        if (q.size() > lines) {
            q.pop_front();
        }
    }
    std::string out;
    for (const auto& x : q) {
        out += x + "\n";
    }
    return out;
}

json slurm_env() {
    json j = json::object();
    for (const char* k : {"SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURMD_NODENAME"}) {
        if (const char* v = std::getenv(k)) {
            j[k] = v;
        }
    }
    return j;
}

int default_body(const Task& t, const Store& store) {
    std::cerr << "task " << t.id << ": " << t.label() << "\n";
    try {
        const json r = run_task(t);
        store.write_result(t.id, r);
        std::cerr << "task " << t.id << ": done\n";
        return 0;
    } catch (const trace::TraceError& e) {
        std::cerr << e.what() << "\n";
        return 2;
    } catch (const SimError& e) {
        std::cerr << "divergence: " << e.what() << "\n";
        return 3;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
}

// Tasks done of the sweep, with rate and ETA (odf::Progress); a failed task is always reported with its log, and on
// a non-TTY every finished task gets a line.
class SweepProgress {
  public:
    SweepProgress(std::size_t n, bool on) : n_(n), on_(on), bar_("sweep", n, "tasks", on) {}
    void finished(const Task& t, const Outcome& o, const std::string& log) {
        ++done_;
        failed_ += o.ok ? 0 : 1;
        if (!on_) {
            return;
        }
        bar_.clear();
        if (!o.ok) {
            spdlog::warn("sweep: [{}/{}] FAILED {} {}: {} (log: {})", done_, n_, t.id, t.label(), o.reason, log);
        } else if (::isatty(STDERR_FILENO) == 0) {
            spdlog::info("sweep: [{}/{}] done {} {} ({:.1f} s)", done_, n_, t.id, t.label(), o.wall_s);
        }
        draw(running_);
    }
    void draw(std::size_t running) {
        running_ = running;
        bar_.update(done_, fmt::format("{} failed, {} running", failed_, running));
    }
    void finish() { bar_.finish(fmt::format("{} failed", failed_)); }

  private:
    std::size_t n_;
    bool on_;
    odf::Progress bar_;
    std::size_t done_ = 0;
    std::size_t failed_ = 0;
    std::size_t running_ = 0;
};

} // namespace

json run_task(const Task& t) {
    const json& in = t.key.at("input");
    trace::Trace tr;
    std::string title;
    if (in.contains("trace")) {
        tr = trace::load_trace(t.trace_file);
        title = in["trace"].get<std::string>();
    } else {
        tr = generate(in.at("generator").get<std::string>(), in.at("params"));
        title = t.label().substr(0, t.label().find(" | "));
    }
    ReplayOptions opt;
    opt.modes = {*parse_mode(t.key.at("mode").get<std::string>())};
    const json& r = t.key.at("replay");
    opt.sim.check = r.at("check").get<bool>();
    opt.sim.check_every = std::max<std::uint64_t>(1, r.at("check_every").get<std::uint64_t>());
    opt.sim.kernel.phys_frames =
        static_cast<std::uint64_t>(r.at("phys_gib").get<double>() * double(1ULL << 30)) >> kPageShift;
    for (const auto& b : r.at("bugs")) {
        if (b == "odf-gup-leak") {
            opt.sim.kernel.bug_odf_gup_leak = true;
        }
    }
    if (!t.cost_model_file.empty()) {
        opt.sim.kernel.costs = CostModel::load(t.cost_model_file);
    }
    // The model's name as the spec knows it, not a path of this machine.
    opt.sim.kernel.costs.name = t.key.at("cost_model").at("name").get<std::string>();
    opt.progress = false;
    const auto results = replay(tr, opt);
    const json full = json::parse(format_json(title, results, opt.sim.kernel.costs));
    return {{"id", t.id},
            {"key", t.key},
            {"label", t.label()},
            {"cost_model", full.at("cost_model")},
            {"clock_ghz", full.at("clock_ghz")},
            {"result", full.at("modes").at(0)}};
}

std::vector<Outcome> execute(const std::vector<const Task*>& tasks, const Store& store, const ExecOptions& opt) {
    const auto body = opt.body ? opt.body : default_body;
    const unsigned jobs = std::max(1U, opt.jobs);
    std::vector<Outcome> out(tasks.size());
    struct Running {
        std::size_t idx;
        pid_t pid;
        std::chrono::steady_clock::time_point start;
        bool timed_out = false;
    };
    std::vector<Running> running;
    SweepProgress progress(tasks.size(), opt.progress);
    const std::string host = hostname();

    g_stop = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    struct sigaction old_int {};
    struct sigaction old_term {};
    ::sigaction(SIGINT, &sa, &old_int);
    ::sigaction(SIGTERM, &sa, &old_term);

    auto finish = [&](const Running& r, int status) {
        const Task& t = *tasks[r.idx];
        Outcome& o = out[r.idx];
        o.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - r.start).count();
        bool interrupted = false;
        if (r.timed_out) {
            o.timed_out = true;
            o.signal = SIGKILL;
            o.reason =
                fmt::format("time-out: still running after {:.0f} s (resources.time_limit_min), killed", opt.timeout_s);
        } else if (WIFSIGNALED(status)) {
            o.signal = WTERMSIG(status);
            interrupted = g_stop != 0;
            o.reason = fmt::format("killed by signal {} ({})", o.signal, ::strsignal(o.signal));
        } else {
            o.exit_code = WEXITSTATUS(status);
            if (o.exit_code == 0) {
                if (store.result(t.id)) {
                    o.ok = true;
                } else {
                    o.reason = "exited 0 but left no valid result";
                }
            } else {
                const char* what = o.exit_code == 2   ? "bad input: trace or generator"
                                   : o.exit_code == 3 ? "simulator divergence"
                                                      : "error";
                o.reason = fmt::format("exit status {} ({})", o.exit_code, what);
            }
        }
        json meta = {{"host", host}, {"backend", opt.backend},   {"when", now_iso()},  {"wall_s", o.wall_s},
                     {"ok", o.ok},   {"exit_code", o.exit_code}, {"signal", o.signal}, {"slurm", slurm_env()}};
        write_file_atomic(store.meta_path(t.id), meta.dump(1) + "\n");
        if (o.ok) {
            store.clear_failure(t.id);
        } else if (interrupted) {
            o.reason = "interrupted";
        } else {
            const std::string tail = log_tail(store.log_path(t.id), 20);
            // The last line of the log usually says what went wrong ("file:line: reason").
            std::string last = tail;
            while (!last.empty() && last.back() == '\n') {
                last.pop_back();
            }
            last = last.substr(last.rfind('\n') == std::string::npos ? 0 : last.rfind('\n') + 1);
            if (!last.empty() && o.exit_code > 0) {
                o.reason += ": " + last;
            }
            store.write_failure(t.id, {{"id", t.id},
                                       {"label", t.label()},
                                       {"reason", o.reason},
                                       {"exit_code", o.exit_code},
                                       {"signal", o.signal},
                                       {"timed_out", o.timed_out},
                                       {"host", host},
                                       {"backend", opt.backend},
                                       {"when", now_iso()},
                                       {"wall_s", o.wall_s},
                                       {"log", store.log_path(t.id)},
                                       {"log_tail", tail},
                                       {"slurm", slurm_env()}});
        }
        progress.finished(t, o, store.log_path(t.id));
    };

    std::size_t next = 0;
    bool stopping = false;
    while (true) {
        while (g_stop == 0 && running.size() < jobs && next < tasks.size()) {
            const Task& t = *tasks[next];
            fs::create_directories(store.task_dir(t.id));
            std::cout.flush();
            std::cerr.flush();
            std::fflush(nullptr);
            const pid_t pid = ::fork();
            if (pid < 0) {
                throw std::runtime_error(fmt::format("fork failed: {}", std::strerror(errno)));
            }
            if (pid == 0) {
                ::setpgid(0, 0); // its own process group: a time-out kills everything it started
                ::signal(SIGINT, SIG_DFL);
                ::signal(SIGTERM, SIG_DFL);
                const int fd = ::open(store.log_path(t.id).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
                if (fd >= 0) {
                    ::dup2(fd, STDOUT_FILENO);
                    ::dup2(fd, STDERR_FILENO);
                    ::close(fd);
                }
                int rc = 1;
                try {
                    rc = body(t, store);
                } catch (const std::exception& e) {
                    std::cerr << "error: " << e.what() << "\n";
                } catch (...) {
                    std::cerr << "error: unknown exception\n";
                }
                std::cout.flush();
                std::cerr.flush();
                std::fflush(nullptr);
                ::_exit(rc);
            }
            ::setpgid(pid, pid);
            running.push_back({next, pid, std::chrono::steady_clock::now()});
            ++next;
        }
        if (running.empty()) {
            break;
        }
        if (g_stop != 0 && !stopping) {
            stopping = true;
            for (const auto& r : running) {
                ::kill(-r.pid, SIGTERM);
            }
        }
        for (std::size_t i = 0; i < running.size();) {
            int status = 0;
            const pid_t p = ::waitpid(running[i].pid, &status, WNOHANG);
            if (p == running[i].pid) {
                finish(running[i], status);
                running.erase(running.begin() + static_cast<long>(i));
                continue;
            }
            if (opt.timeout_s > 0 && !running[i].timed_out &&
                std::chrono::steady_clock::now() - running[i].start > std::chrono::duration<double>(opt.timeout_s)) {
                running[i].timed_out = true;
                ::kill(-running[i].pid, SIGKILL);
            }
            ++i;
        }
        progress.draw(running.size());
        ::usleep(20000);
    }
    progress.finish();
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    return out;
}

const char* state_name(State s) {
    switch (s) {
    case State::Done:
        return "done";
    case State::Failed:
        return "failed";
    case State::Pending:
        return "pending";
    case State::Queued:
        return "queued";
    case State::Running:
        return "running";
    case State::Lost:
        return "lost";
    }
    return "?";
}

std::vector<TaskStatus> scan(const Spec& spec, const Store& store, const std::map<std::string, std::string>& active,
                             const std::map<std::string, std::string>& submitted) {
    std::vector<TaskStatus> out;
    for (const Task& t : spec.tasks) {
        TaskStatus s;
        s.task = &t;
        if (store.result(t.id)) {
            s.state = State::Done;
        } else if (const auto a = active.find(t.id); a != active.end()) {
            s.state = a->second == "RUNNING" || a->second == "COMPLETING" ? State::Running : State::Queued;
        } else if (auto f = store.failure(t.id)) {
            s.state = State::Failed;
            s.failure = std::move(*f);
        } else if (const auto sub = submitted.find(t.id); sub != submitted.end()) {
            s.state = State::Lost;
            s.failure = {{"reason", "no result and no failure record, and no longer in the Slurm queue (a killed "
                                    "node, Slurm's time limit, scancel, or a supervisor that could not start)"},
                         {"log", sub->second}};
        } else {
            s.state = State::Pending;
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<const Task*> select_tasks(const std::vector<TaskStatus>& st, bool only_failed) {
    std::vector<const Task*> out;
    for (const auto& s : st) {
        const bool failed = s.state == State::Failed || s.state == State::Lost;
        if (failed || (!only_failed && s.state == State::Pending)) {
            out.push_back(s.task);
        }
    }
    return out;
}

} // namespace odf::sweep
