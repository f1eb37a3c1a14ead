// `odf-sim inspect`: the modelled state after a prefix of a trace, as text (odf::describe), JSON, or a Graphviz
// picture of the processes, their PMD entries and the PTE tables they point to (docs/INSPECT.md).
#include "odf/inspect.hpp"

#include "cli.hpp"
#include "odf/pgtable_walk.hpp"
#include "odf/simulator.hpp"
#include "odf/trace/io.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <vector>

namespace odf::cli {

namespace {

// One PMD entry of a process: a PTE table or a huge page.
struct PmdEntry {
    VirtAddr va;
    Pfn pfn; // the PTE table, or the huge page
    bool huge;
    bool writable;
};

struct ProcessView {
    std::uint32_t pid;
    std::uint32_t mm_id;
    std::int64_t rss_anon_kb;
    std::int64_t vmpte_kb;
    std::size_t vmas;
    std::vector<PmdEntry> pmds;
};

// A PTE table as the model keeps it: the frame's own counts, and the PMD entries seen pointing to it.
struct TableView {
    std::int32_t refcount;
    std::uint64_t owner; // mm id; 0: none
    bool exclusive;
    int present = 0;
    int anon = 0;
    std::vector<std::uint32_t> mapped_by; // pids, one per PMD entry
};

struct Snapshot {
    std::vector<ProcessView> procs;  // by pid
    std::map<Pfn, TableView> tables; // by pfn
};

Snapshot snapshot(const Kernel& k) {
    Snapshot s;
    std::vector<std::uint32_t> pids;
    for (const auto& [p, m] : k.processes()) {
        pids.push_back(p);
    }
    std::sort(pids.begin(), pids.end());
    const PhysMem& pm = k.phys();
    for (std::uint32_t pid : pids) {
        const Mm& mm = *k.mm(pid);
        ProcessView pv{pid, mm.id, mm.rss_anon * 4, mm.pgtables_bytes / 1024, mm.vmas.size(), {}};
        walk_pmd_entries(pm, mm.pgd, [&](VirtAddr va, const Pte& pmd) {
            pv.pmds.push_back({va, pmd.pfn(), pmd.huge(), pmd.writable()});
            if (pmd.huge()) {
                return;
            }
            const Frame& f = pm.frame(pmd.pfn());
            auto [it, fresh] = s.tables.try_emplace(
                pmd.pfn(), TableView{f.refcount, f.tbl.owner, (f.flags & kTableExclusive) != 0, 0, 0, {}});
            if (fresh) {
                for (const Pte& e : pm.table(pmd.pfn())) {
                    if (e.present()) {
                        ++it->second.present;
                        it->second.anon += !e.special() && pm.frame(e.pfn()).kind == FrameKind::Anon ? 1 : 0;
                    }
                }
            }
            it->second.mapped_by.push_back(pid);
        });
        s.procs.push_back(std::move(pv));
    }
    return s;
}

// A table is shared when more than one PMD entry points to it (ODF, COW PTE): its refcount says how many.
bool shared(const TableView& t) {
    return t.refcount > 1;
}

std::string to_json(const Snapshot& s, ForkMode mode) {
    using nlohmann::json;
    json j;
    j["mode"] = mode_name(mode);
    std::size_t shared_tables = 0;
    std::int64_t shared_refs = 0;
    std::size_t pmd_entries = 0;
    for (const auto& p : s.procs) {
        json pj{{"pid", p.pid},           {"mm", p.mm_id},  {"rss_anon_kb", p.rss_anon_kb},
                {"vmpte_kb", p.vmpte_kb}, {"vmas", p.vmas}, {"pmd_entries", json::array()}};
        for (const auto& e : p.pmds) {
            pj["pmd_entries"].push_back({{"va", fmt::format("{:#x}", e.va.value)},
                                         {e.huge ? "huge_page" : "pte_table", e.pfn.value},
                                         {"writable", e.writable}});
        }
        pmd_entries += p.pmds.size();
        j["processes"].push_back(pj);
    }
    j["pte_tables"] = json::array();
    for (const auto& [pfn, t] : s.tables) {
        j["pte_tables"].push_back({{"pfn", pfn.value},
                                   {"refcount", t.refcount},
                                   {"owner", t.owner},
                                   {"exclusive", t.exclusive},
                                   {"present", t.present},
                                   {"anon", t.anon},
                                   {"mapped_by", t.mapped_by}});
        if (shared(t)) {
            ++shared_tables;
            shared_refs += t.refcount;
        }
    }
    // The model's counts: shared tables and the sum of their refcounts (the PMD entries pointing to them).
    j["counts"] = {{"processes", s.procs.size()},
                   {"pmd_entries", pmd_entries},
                   {"pte_tables", s.tables.size()},
                   {"shared_pte_tables", shared_tables},
                   {"shared_pte_table_refs", shared_refs}};
    return j.dump(2) + "\n";
}

// Graphviz: a cluster per process (its PMD entries), one node per PTE table (class "table"); tables with refcount > 1
// and the edges to them have class "shared" (SVG output keeps classes: "node table shared", "edge shared"), and the
// owner's edge to a shared table is bold.
std::string to_dot(const Snapshot& s, ForkMode mode, const std::string& title) {
    std::string d = "digraph odf {\n";
    d += fmt::format("  label=\"{} ({} mode)\";\n  labelloc=t;\n  rankdir=LR;\n  ranksep=1.2;\n", title,
                     mode_name(mode));
    d += "  node [fontname=\"monospace\", fontsize=10];\n  edge [arrowsize=0.6];\n";
    std::map<std::uint32_t, std::uint32_t> pid_of_mm;
    for (const auto& p : s.procs) {
        pid_of_mm[p.mm_id] = p.pid;
        d += fmt::format(
            "  subgraph cluster_pid{} {{\n    label=\"pid {} (mm {})\\nRssAnon {} kB, VmPTE {} kB, {} VMAs\";"
            "\n    style=rounded;\n",
            p.pid, p.pid, p.mm_id, p.rss_anon_kb, p.vmpte_kb, p.vmas);
        for (const auto& e : p.pmds) {
            d += fmt::format("    pmd_{}_{:x} [shape=box, class=\"pmd\", label=\"PMD {:#014x}\\n{}{}\"];\n", p.pid,
                             e.va.value, e.va.value, e.writable ? "rw" : "ro", e.huge ? ", huge page" : "");
        }
        d += "  }\n";
    }
    for (const auto& [pfn, t] : s.tables) {
        const bool sh = shared(t);
        const auto owner = pid_of_mm.find(static_cast<std::uint32_t>(t.owner));
        const std::string owner_s = t.owner == 0               ? "none"
                                    : owner != pid_of_mm.end() ? fmt::format("mm {} (pid {})", t.owner, owner->second)
                                                               : fmt::format("mm {} (exited)", t.owner);
        d += fmt::format("  pte_{} [shape=component, class=\"{}\", style=filled, fillcolor=\"{}\", "
                         "label=\"PTE table {}\\nrefcount {}, owner {}{}\\npresent {} (anon {})\"];\n",
                         pfn.value, sh ? "table shared" : "table", sh ? "#ffd27f" : "#e8e8e8", pfn.value, t.refcount,
                         owner_s, t.exclusive ? "\\nexclusive" : "", t.present, t.anon);
    }
    for (const auto& p : s.procs) {
        for (const auto& e : p.pmds) {
            if (e.huge) {
                continue;
            }
            const TableView& t = s.tables.at(e.pfn);
            const bool own = t.owner == p.mm_id;
            d += fmt::format("  pmd_{}_{:x} -> pte_{} [class=\"{}\"{}];\n", p.pid, e.va.value, e.pfn.value,
                             shared(t) ? "shared" : "private", own && shared(t) ? ", style=bold" : "");
        }
    }
    d += "}\n";
    return d;
}

} // namespace

void add_inspect_command(CLI::App& app) {
    struct Opts {
        std::string trace;
        std::string mode = "odf";
        std::uint32_t line = 0;
        bool dot = false;
        bool json = false;
    };
    auto o = std::make_shared<Opts>();
    CLI::App* c = app.add_subcommand("inspect", "replay a trace up to a line and print every process's VMAs and "
                                                "page tables (sharing, owners, refcounts)");
    c->add_option("trace", o->trace, "trace file")->required();
    c->add_option("--line", o->line, "stop after the op on this line (default: the whole trace)");
    c->add_option("--mode", o->mode, "fork mode")->capture_default_str();
    auto* dot = c->add_flag("--dot", o->dot,
                            "print Graphviz DOT: processes, PMD entries, the PTE tables they point to (refcount, "
                            "owner, exclusive, present pages); render with scripts/inspect-graph");
    c->add_flag("--json", o->json, "print JSON, with the counts of PTE tables and shared tables")->excludes(dot);
    c->callback([o] {
        const trace::Trace t = trace::load_trace(o->trace);
        SimConfig cfg;
        cfg.kernel.mode = parse_mode_list(o->mode).at(0);
        cfg.check = true;
        Simulator sim(cfg);
        std::uint32_t last = 0;
        for (const auto& op : t.ops) {
            if (o->line != 0 && op.line > o->line) {
                break;
            }
            sim.apply(op, t);
            last = op.line;
        }
        spdlog::debug("odf-sim: inspect {} after line {} in {} mode", o->trace, last, mode_name(cfg.kernel.mode));
        if (o->dot) {
            std::cout << to_dot(snapshot(sim.kernel()), cfg.kernel.mode,
                                fmt::format("{} after line {}", o->trace, last));
        } else if (o->json) {
            std::cout << to_json(snapshot(sim.kernel()), cfg.kernel.mode);
        } else {
            std::cout << describe(sim.kernel());
        }
    });
}

} // namespace odf::cli
