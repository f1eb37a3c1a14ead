#include "odf/replay.hpp"

#include "observe.hpp"
#include "odf/progress.hpp"
#include "odf/trace/io.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unistd.h>

namespace odf {

namespace {

// Fans observer calls out to the JSONL log and the mark collector.
class Tee final : public Observer {
  public:
    Tee(Observer* log, std::vector<MarkRow>* marks, const trace::Trace& t, const CostModel& m)
        : log_(log != nullptr ? log : &none_), marks_(marks), t_(t), m_(m) {}
    void on_op(const trace::Op& op, std::uint64_t minflt) override { log_->on_op(op, minflt); }
    void on_read(const trace::Op& op, std::uint64_t hash, std::uint64_t pages) override {
        log_->on_read(op, hash, pages);
    }
    void on_segv(const trace::Op& op, std::uint64_t addr) override { log_->on_segv(op, addr); }
    void on_sigbus(const trace::Op& op, std::uint64_t addr) override { log_->on_sigbus(op, addr); }
    void on_pinfail(const trace::Op& op, std::uint64_t addr) override { log_->on_pinfail(op, addr); }
    void on_reffail(const trace::Op& op, std::uint64_t addr) override { log_->on_reffail(op, addr); }
    void on_readref(const trace::Op& op, std::uint64_t hash, std::uint64_t pages) override {
        log_->on_readref(op, hash, pages);
    }
    void on_noref(const trace::Op& op, std::uint64_t addr) override { log_->on_noref(op, addr); }
    void on_mark(const trace::Op& op, std::uint32_t pid, const Mm& mm) override {
        log_->on_mark(op, pid, mm);
        if (marks_ != nullptr) {
            marks_->push_back(MarkRow{op.label < t_.labels.size() ? t_.labels[op.label] : std::string(), op.line, pid,
                                      mm.pgtables_bytes / 1024, mm.rss_anon * 4, mm.stats.minflt, mm.stats.cycles(m_)});
        }
    }
    void on_exit(const trace::Op& op, const Mm& mm) override { log_->on_exit(op, mm); }

  private:
    Observer none_; // the observer's no-op defaults, when there is no log
    Observer* log_;
    std::vector<MarkRow>* marks_;
    const trace::Trace& t_;
    const CostModel& m_;
};

double us(const CostModel& m, double cyc) {
    return m.to_us(cyc);
}

// The latency quantiles every report shows (Redis's latency report and the paper's Table 4 use these).
constexpr std::pair<double, const char*> kLatencyQuantiles[] = {{0.5, "p50"},     {0.9, "p90"},       {0.99, "p99"},
                                                                {0.999, "p99.9"}, {0.9999, "p99.99"}, {1.0, "max"}};

struct Row {
    std::string name;
    std::vector<double> values;
    bool lower_is_better = true;
    bool show_ratio = true;
};

std::vector<Row> rows(const std::vector<ModeResult>& r, const CostModel& m) {
    std::vector<Row> out;
    auto add = [&](std::string name, auto f, bool ratio = true) {
        Row row{std::move(name), {}, true, ratio};
        for (const auto& x : r) {
            row.values.push_back(static_cast<double>(f(x)));
        }
        out.push_back(std::move(row));
    };
    add(
        "forks", [](const ModeResult& x) { return x.totals.forks; }, false);
    add("fork latency p50 (us)", [&](const ModeResult& x) { return us(m, percentiles(x.fork_cycles).p50); });
    add("fork latency p99 (us)", [&](const ModeResult& x) { return us(m, percentiles(x.fork_cycles).p99); });
    add("fork latency max (us)", [&](const ModeResult& x) { return us(m, percentiles(x.fork_cycles).max); });
    add("fork latency p50 (cycles)", [&](const ModeResult& x) { return percentiles(x.fork_cycles).p50; });
    add("fork latency p99 (cycles)", [&](const ModeResult& x) { return percentiles(x.fork_cycles).p99; });
    add("fork latency max (cycles)", [&](const ModeResult& x) { return percentiles(x.fork_cycles).max; });
    add("page faults (minflt)", [](const ModeResult& x) { return x.totals.minflt; });
    for (int k = 0; k < kFaultKindCount; ++k) {
        add(
            fmt::format("  faults {}", fault_kind_name(static_cast<FaultKind>(k))),
            [k](const ModeResult& x) { return x.totals.faults[static_cast<std::size_t>(k)]; }, false);
    }
    add(
        "SIGSEGV events", [](const ModeResult& x) { return x.totals.segv; }, false);
    add(
        "leaks", [](const ModeResult& x) { return x.totals.leaks; }, false);
    add("PTEs copied", [](const ModeResult& x) { return x.totals.ptes_copied; });
    add(
        "PTE tables shared at fork", [](const ModeResult& x) { return x.totals.tables_shared; }, false);
    add("PTE tables copied at fork", [](const ModeResult& x) { return x.totals.tables_copied_at_fork; });
    add(
        "shared tables copied on demand", [](const ModeResult& x) { return x.totals.tables_copied_on_demand; }, false);
    add(
        "shared tables reused", [](const ModeResult& x) { return x.totals.tables_reused; }, false);
    add(
        "table charges passed on", [](const ModeResult& x) { return x.totals.owner_passes; }, false);
    add("data pages copied", [](const ModeResult& x) { return x.totals.pages_copied; });
    add(
        "page accesses", [](const ModeResult& x) { return x.totals.accesses; }, false);
    add("TLB misses (walks)", [](const ModeResult& x) { return x.totals.tlb_misses; });
    add("TLB flushes", [](const ModeResult& x) { return x.totals.tlb_flushes; });
    add("peak page-table bytes", [](const ModeResult& x) { return x.peak_pgtable_bytes; });
    add("peak RSS (MiB)",
        [](const ModeResult& x) { return static_cast<double>(x.peak_rss_pages) * 4096.0 / (1 << 20); });
    add("total cycles", [&](const ModeResult& x) { return x.totals.cycles(m); });
    add("total time (ms)", [&](const ModeResult& x) { return us(m, x.totals.cycles(m)) / 1000.0; });
    if (!r.empty() && r.front().timeline.enabled) {
        add("makespan (ms)", [](const ModeResult& x) { return x.timeline.makespan_ns / 1e6; });
        add("TLB shootdown IPIs", [](const ModeResult& x) { return x.totals.ipis; });
        add("remote TLB flushes", [](const ModeResult& x) { return x.totals.remote_flushes; });
        for (std::size_t l = 0; l < r.front().timeline.labels.size(); ++l) {
            const std::string& name = r.front().timeline.labels[l].label;
            auto lat = [l](const ModeResult& x) -> const std::vector<double>& {
                static const std::vector<double> none;
                return l < x.timeline.labels.size() ? x.timeline.labels[l].latency_ns : none;
            };
            add(
                fmt::format("{} requests", name), [lat](const ModeResult& x) { return lat(x).size(); }, false);
            add(fmt::format("{} throughput (/s)", name), [lat](const ModeResult& x) {
                return x.timeline.makespan_ns > 0 ? static_cast<double>(lat(x).size()) * 1e9 / x.timeline.makespan_ns
                                                  : 0.0;
            });
            for (const auto& [q, qn] : kLatencyQuantiles) {
                add(fmt::format("{} latency {} (us)", name, qn),
                    [lat, q = q](const ModeResult& x) { return quantile(lat(x), q) / 1000.0; });
            }
        }
    }
    for (int c = 0; c < kCostCount; ++c) {
        const auto cost = static_cast<Cost>(c);
        const bool any = std::any_of(r.begin(), r.end(), [&](const ModeResult& x) { return x.totals.charges[c] != 0; });
        if (any) {
            add(fmt::format("  cycles {}", cost_name(cost)),
                [&, cost](const ModeResult& x) { return x.totals.cycles(m, cost); });
        }
    }
    return out;
}

std::string num(double v) {
    if (v == static_cast<double>(static_cast<long long>(v)) && v < 1e15) {
        return fmt::format("{}", static_cast<long long>(v));
    }
    return fmt::format("{:.3f}", v);
}

} // namespace

Percentiles percentiles(std::vector<double> v) {
    Percentiles p;
    if (v.empty()) {
        return p;
    }
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
        const auto i = static_cast<std::size_t>(std::floor(q * static_cast<double>(v.size() - 1) + 0.5));
        return v[std::min(i, v.size() - 1)];
    };
    p.p50 = at(0.5);
    p.p99 = at(0.99);
    p.max = v.back();
    return p;
}

namespace {

// Where one mode's ops come from: the whole trace in memory (`whole`), or the file `path` read in batches by a
// reader of the mode's own (`head` then holds the trace's source, version and labels; ops are never all in memory).
struct OpSource {
    const trace::Trace* whole = nullptr;
    std::string path;
    trace::Trace head;
    std::uint64_t ops = 0; // ops in the trace if known (the progress bar), else 0
    int max_cpu = -1;      // the highest CPU the trace names (v2), or -1
};

// One mode of a replay: its own Simulator (kernel, oracle, observers), nothing shared with the other modes.
ModeResult replay_mode(const OpSource& src, const ReplayOptions& opt, ForkMode mode, bool bar_on) {
    // A streamed trace: the observers see a shell with the whole file's labels (from the first pass) and no ops.
    trace::Trace shell;
    if (src.whole == nullptr) {
        shell = src.head;
    }
    const trace::Trace& t = src.whole != nullptr ? *src.whole : shell;
    SimConfig cfg = opt.sim;
    cfg.kernel.mode = mode;
    if (cfg.cpus == 0 && t.version >= 2) {
        cfg.cpus = std::max(1, src.max_cpu + 1);
    }
    Simulator sim(cfg);
    std::unique_ptr<JsonlObserver> obs;
    if (!opt.observe_dir.empty()) {
        std::filesystem::create_directories(opt.observe_dir);
        obs = std::make_unique<JsonlObserver>(
            (std::filesystem::path(opt.observe_dir) / fmt::format("{}.jsonl", mode_name(mode))).string(), t);
    }
    ModeResult r;
    Tee tee(obs.get(), opt.marks ? &r.marks : nullptr, t, cfg.kernel.costs);
    if (obs || opt.marks) {
        sim.set_observer(&tee);
    }
    Progress bar(std::string(mode_name(mode)), src.ops, "ops", bar_on && src.ops > 100000);
    std::size_t i = 0;
    auto run = [&](const std::vector<trace::Op>& ops) {
        for (const trace::Op& op : ops) {
            sim.apply(op, t);
            if ((++i & 0xfff) == 0) {
                bar.update(i);
            }
        }
    };
    if (src.whole != nullptr) {
        run(src.whole->ops);
    } else {
        trace::TraceReader reader(src.path);
        std::vector<trace::Op> batch;
        while (reader.next(batch)) {
            run(batch);
        }
    }
    bar.finish();
    r.mode = mode;
    r.ops = i;
    r.fork_cycles = sim.fork_cycles();
    r.peak_pgtable_bytes = sim.peak_pgtable_bytes();
    r.peak_rss_pages = sim.peak_rss_pages();
    r.leaks = sim.leaks();
    sim.finish(t);
    r.totals = sim.totals();
    r.processes = sim.summaries();
    r.timeline = sim.timeline();
    return r;
}

std::vector<ModeResult> replay_modes(const OpSource& src, const ReplayOptions& opt) {
    const std::size_t n = opt.modes.size();
    const std::size_t jobs = std::min<std::size_t>(std::max(1U, opt.jobs), n);
    std::vector<ModeResult> out(n);
    if (jobs <= 1) {
        for (std::size_t m = 0; m < n; ++m) {
            out[m] = replay_mode(src, opt, opt.modes[m], opt.progress);
        }
        return out;
    }
    // The modes on `jobs` threads, each mode its own Simulator; results in mode order, identical to a sequential
    // run. One bar per mode would interleave: one line counts the modes done.
    Progress bar("replay", n, "modes", opt.progress && src.ops > 100000);
    const std::string jobs_note = fmt::format("{} jobs", jobs);
    std::vector<std::exception_ptr> errors(n);
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> done{0};
    std::mutex print;
    auto worker = [&] {
        for (std::size_t m = next++; m < n; m = next++) {
            try {
                out[m] = replay_mode(src, opt, opt.modes[m], false);
            } catch (...) {
                errors[m] = std::current_exception();
            }
            const std::size_t d = ++done;
            const std::lock_guard<std::mutex> lock(print);
            bar.update(d, jobs_note);
        }
    };
    std::vector<std::thread> pool;
    for (std::size_t j = 0; j < jobs; ++j) {
        pool.emplace_back(worker);
    }
    for (std::thread& th : pool) {
        th.join();
    }
    bar.finish(jobs_note);
    for (const std::exception_ptr& e : errors) { // the first failing mode in mode order, as sequentially
        if (e) {
            std::rethrow_exception(e);
        }
    }
    return out;
}

} // namespace

std::vector<ModeResult> replay(const trace::Trace& t, const ReplayOptions& opt) {
    OpSource src;
    src.whole = &t;
    src.ops = t.ops.size();
    if (t.version >= 2) {
        src.max_cpu = max_cpu_named(t);
    }
    return replay_modes(src, opt);
}

std::vector<ModeResult> replay_file(const std::string& path, const ReplayOptions& opt) {
    // A first pass validates the whole file before any mode starts (a malformed trace fails as a whole-file load
    // would, naming file, line and reason, before anything is replayed) and learns what the modes need up front: the
    // op count, the version, the highest CPU, the labels. It holds one batch of ops at a time.
    OpSource src;
    src.path = path;
    {
        trace::TraceReader reader(path);
        std::vector<trace::Op> batch;
        while (reader.next(batch)) {
            src.ops += batch.size();
        }
        src.head.source = path;
        src.head.version = reader.version();
        src.head.labels = reader.labels();
        src.max_cpu = static_cast<int>(reader.max_cpu());
    }
    if (src.ops * sizeof(trace::Op) <= opt.whole_trace_bytes) {
        const trace::Trace t = trace::load_trace(path); // small: decoded once, shared by the modes
        return replay(t, opt);
    }
    return replay_modes(src, opt);
}

std::string format_table(const std::string& title, const std::vector<ModeResult>& r, const CostModel& m,
                         bool per_process) {
    std::string s = fmt::format("{}  (cost model: {}, {:.2f} GHz)\n", title, m.name, m.clock_ghz);
    const auto rs = rows(r, m);
    std::size_t w0 = 0;
    for (const auto& row : rs) {
        w0 = std::max(w0, row.name.size());
    }
    s += fmt::format("{:<{}}", "", w0);
    for (const auto& x : r) {
        s += fmt::format(" {:>16}", mode_name(x.mode));
    }
    s += "\n";
    const auto classic =
        std::find_if(r.begin(), r.end(), [](const ModeResult& x) { return x.mode == ForkMode::Classic; });
    const std::size_t ci = classic == r.end() ? r.size() : static_cast<std::size_t>(classic - r.begin());
    for (const auto& row : rs) {
        s += fmt::format("{:<{}}", row.name, w0);
        for (std::size_t i = 0; i < row.values.size(); ++i) {
            std::string cell = num(row.values[i]);
            if (row.show_ratio && ci < r.size() && i != ci && row.values[ci] != 0) {
                const double ratio = row.values[i] / row.values[ci];
                cell += ratio < 0.1 ? fmt::format(" ({:.4f}x)", ratio) : fmt::format(" ({:.2f}x)", ratio);
            }
            s += fmt::format(" {:>16}", cell);
        }
        s += "\n";
    }
    if (ci < r.size()) {
        s += "(Nx): the mode's value divided by classic's.\n";
    }
    if (per_process) {
        for (const auto& x : r) {
            s += fmt::format("\n{} per process:\n  {:>6} {:>10} {:>10} {:>12} {:>12} {:>14}\n", mode_name(x.mode),
                             "pid", "minflt", "forks", "RssAnon kB", "VmPTE kB", "cycles");
            for (const auto& [pid, p] : x.processes) {
                s += fmt::format("  {:>6} {:>10} {:>10} {:>12} {:>12} {:>14.0f}\n", pid, p.stats.minflt, p.stats.forks,
                                 p.rss_anon_pages * 4, p.vmpte_bytes / 1024, p.stats.cycles(m));
            }
        }
    }
    return s;
}

std::string format_marks(const std::vector<ModeResult>& r) {
    std::string s = fmt::format("{:<12} {:<20} {:>7} {:>6} {:>10} {:>12} {:>10} {:>14}\n", "mode", "mark", "line",
                                "pid", "VmPTE kB", "RssAnon kB", "minflt", "cycles");
    for (const auto& x : r) {
        for (const auto& m : x.marks) {
            s += fmt::format("{:<12} {:<20} {:>7} {:>6} {:>10} {:>12} {:>10} {:>14.0f}\n", mode_name(x.mode), m.label,
                             m.line, m.pid, m.vmpte_kb, m.rss_anon_kb, m.minflt, m.cycles);
        }
    }
    return s;
}

std::string format_json(const std::string& title, const std::vector<ModeResult>& r, const CostModel& m) {
    nlohmann::json j;
    j["trace"] = title;
    j["cost_model"] = m.name;
    j["clock_ghz"] = m.clock_ghz;
    for (const auto& x : r) {
        nlohmann::json mj;
        mj["mode"] = mode_name(x.mode);
        const Percentiles p = percentiles(x.fork_cycles);
        mj["fork_latency_cycles"] = {{"p50", p.p50}, {"p99", p.p99}, {"max", p.max}, {"all", x.fork_cycles}};
        mj["fork_latency_us"] = {{"p50", m.to_us(p.p50)}, {"p99", m.to_us(p.p99)}, {"max", m.to_us(p.max)}};
        mj["minflt"] = x.totals.minflt;
        for (int k = 0; k < kFaultKindCount; ++k) {
            mj["faults"][std::string(fault_kind_name(static_cast<FaultKind>(k)))] =
                x.totals.faults[static_cast<std::size_t>(k)];
        }
        for (int c = 0; c < kCostCount; ++c) {
            mj["cycles_by_category"][std::string(cost_name(static_cast<Cost>(c)))] =
                x.totals.cycles(m, static_cast<Cost>(c));
        }
        mj["segv"] = x.totals.segv;
        mj["leaks"] = x.totals.leaks;
        mj["leak_events"] = nlohmann::json::array();
        for (const LeakEvent& e : x.leaks) {
            mj["leak_events"].push_back({{"pid", e.pid}, {"line", e.line}, {"addr", e.addr}, {"writer", e.writer}});
        }
        mj["ptes_copied"] = x.totals.ptes_copied;
        mj["tables_shared"] = x.totals.tables_shared;
        mj["tables_copied_at_fork"] = x.totals.tables_copied_at_fork;
        mj["tables_copied_on_demand"] = x.totals.tables_copied_on_demand;
        mj["tables_reused"] = x.totals.tables_reused;
        mj["owner_passes"] = x.totals.owner_passes;
        mj["pages_copied"] = x.totals.pages_copied;
        mj["accesses"] = x.totals.accesses;
        mj["tlb"] = {{"l1_hits", x.totals.tlb_l1_hits},
                     {"l2_hits", x.totals.tlb_l2_hits},
                     {"misses", x.totals.tlb_misses},
                     {"flushes", x.totals.tlb_flushes},
                     {"ipis", x.totals.ipis}};
        mj["peak_pgtable_bytes"] = x.peak_pgtable_bytes;
        mj["peak_rss_bytes"] = x.peak_rss_pages * 4096;
        mj["total_cycles"] = x.totals.cycles(m);
        mj["total_us"] = m.to_us(x.totals.cycles(m));
        for (const auto& [pid, proc] : x.processes) {
            mj["processes"].push_back({{"pid", pid},
                                       {"minflt", proc.stats.minflt},
                                       {"forks", proc.stats.forks},
                                       {"rss_anon_kb", proc.rss_anon_pages * 4},
                                       {"vmpte_kb", proc.vmpte_bytes / 1024},
                                       {"cycles", proc.stats.cycles(m)}});
        }
        if (x.timeline.enabled) {
            const TimelineReport& tl = x.timeline;
            nlohmann::json tj;
            tj["cpus"] = tl.cpus;
            tj["makespan_ns"] = tl.makespan_ns;
            tj["remote_flushes"] = x.totals.remote_flushes;
            tj["threads"] = nlohmann::json::array();
            for (const ThreadReport& th : tl.threads) {
                tj["threads"].push_back({{"pid", th.pid},
                                         {"tid", th.tid},
                                         {"start_ns", th.start_ns},
                                         {"end_ns", th.end_ns},
                                         {"user_ns", th.time.user},
                                         {"kernel_ns", th.time.kernel},
                                         {"lock_wait_ns", th.time.lock_wait},
                                         {"runq_ns", th.time.runq},
                                         {"blocked_ns", th.time.blocked},
                                         {"irq_ns", th.time.irq},
                                         {"idle_ns", th.time.idle}});
            }
            tj["labels"] = nlohmann::json::object();
            for (const LabelReport& l : tl.labels) {
                nlohmann::json lj;
                lj["count"] = l.latency_ns.size();
                lj["throughput_per_s"] =
                    tl.makespan_ns > 0 ? static_cast<double>(l.latency_ns.size()) * 1e9 / tl.makespan_ns : 0.0;
                for (const auto& [q, qn] : kLatencyQuantiles) {
                    lj["latency_ns"][qn] = quantile(l.latency_ns, q);
                }
                double sum = 0;
                for (double v : l.latency_ns) {
                    sum += v;
                }
                lj["mean_ns"] = l.latency_ns.empty() ? 0.0 : sum / static_cast<double>(l.latency_ns.size());
                // The CDF for plots: the latency at every percent, and the tail quantiles above.
                for (int pct = 0; pct <= 100; ++pct) {
                    lj["cdf_ns"].push_back(quantile(l.latency_ns, pct / 100.0));
                }
                tj["labels"][l.label] = lj;
            }
            mj["timeline"] = tj;
        }
        j["modes"].push_back(mj);
    }
    return j.dump(2) + "\n";
}

int max_cpu_named(const trace::Trace& t) {
    int n = -1;
    for (const trace::Op& op : t.ops) {
        if (op.kind == trace::OpKind::Cpu) {
            n = std::max(n, static_cast<int>(op.child));
        }
    }
    return n;
}

std::string format_threads(const std::vector<ModeResult>& r) {
    std::string s;
    for (const auto& x : r) {
        if (!x.timeline.enabled) {
            continue;
        }
        s += fmt::format("\n{} threads ({} CPUs, makespan {:.3f} ms), ms:\n", mode_name(x.mode), x.timeline.cpus,
                         x.timeline.makespan_ns / 1e6);
        s += fmt::format("  {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n", "thread", "end", "user",
                         "kernel", "mmap_lock", "runqueue", "blocked", "irq", "idle");
        for (const ThreadReport& th : x.timeline.threads) {
            const ThreadTime& tt = th.time;
            s += fmt::format(
                "  {:>10} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f}\n",
                fmt::format("{}.{}", th.pid, th.tid), th.end_ns / 1e6, tt.user / 1e6, tt.kernel / 1e6,
                tt.lock_wait / 1e6, tt.runq / 1e6, tt.blocked / 1e6, tt.irq / 1e6, tt.idle / 1e6);
        }
    }
    return s;
}

std::string format_csv(const std::string& title, const std::vector<ModeResult>& r, const CostModel& m) {
    std::string s = "trace,metric";
    for (const auto& x : r) {
        s += fmt::format(",{}", mode_name(x.mode));
    }
    s += "\n";
    for (const auto& row : rows(r, m)) {
        std::string name = row.name;
        name.erase(0, name.find_first_not_of(' '));
        s += fmt::format("{},{}", title, name);
        for (double v : row.values) {
            s += "," + num(v);
        }
        s += "\n";
    }
    // v2: where each thread's time went (ns), one row per thread and category; a thread a mode does not have is
    // empty there.
    if (!r.empty() && r.front().timeline.enabled) {
        std::map<std::pair<std::uint32_t, std::uint32_t>, std::vector<const ThreadReport*>> threads;
        for (std::size_t i = 0; i < r.size(); ++i) {
            for (const ThreadReport& th : r[i].timeline.threads) {
                auto& v = threads[{th.pid, th.tid}];
                v.resize(r.size(), nullptr);
                v[i] = &th; // the last life of a pid.tid (a tid is never reused; exec restarts the main thread)
            }
        }
        const std::pair<const char*, double ThreadTime::*> parts[] = {
            {"user", &ThreadTime::user},     {"kernel", &ThreadTime::kernel},   {"mmap_lock", &ThreadTime::lock_wait},
            {"runqueue", &ThreadTime::runq}, {"blocked", &ThreadTime::blocked}, {"irq", &ThreadTime::irq},
            {"idle", &ThreadTime::idle}};
        for (const auto& [id, v] : threads) {
            for (const auto& [pname, field] : parts) {
                s += fmt::format("{},thread {}.{} {} (ns)", title, id.first, id.second, pname);
                for (const ThreadReport* th : v) {
                    s += th != nullptr ? "," + num(th->time.*field) : ",";
                }
                s += "\n";
            }
        }
    }
    return s;
}

} // namespace odf
