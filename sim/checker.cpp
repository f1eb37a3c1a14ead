// The invariant checker: a census of what the page tables, pins, GUP references and shmem objects say about every
// frame and every mm, then one function per invariant comparing the census with the counts the model keeps.
#include "odf/checker.hpp"

#include "odf/pgtable_walk.hpp"

#include <fmt/format.h>
#include <unordered_map>
#include <vector>

namespace odf {

namespace {

// What the references found say a data frame's counts must be.
struct Expect {
    std::int64_t map = 0;
    std::int64_t pins = 0; // FOLL_PIN references: pin, getref pin (each holds a refcount too)
    std::int64_t gets = 0; // getref get references
    std::int64_t cache = 0;
};

// What the page tables say an mm's counters must be.
struct PerMm {
    std::int64_t rss_anon = 0;
    std::int64_t rss_shmem = 0;
    std::int64_t pgtables = 0;
};

// One PMD entry pointing at a PTE table.
struct PteTableUser {
    const Mm* mm = nullptr;
    VirtAddr va;     // the first address the entry maps
    bool rw = false; // the PMD entry is writable (not a shared ODF table)
};

struct PteTableUse {
    std::vector<PteTableUser> users;
    std::int64_t anon = 0;  // present entries mapping anonymous pages
    std::int64_t shmem = 0; // present entries mapping shmem pages
};

// Everything the checks compare against, gathered in one walk of every process's tables.
struct Census {
    std::unordered_map<Pfn, Expect> data;             // data frame -> expected counts
    std::unordered_map<Pfn, std::int64_t> table_refs; // table frame -> upper entries pointing at it
    std::unordered_map<Pfn, PteTableUse> pte_tables;  // PTE table frame -> its users and contents
    std::unordered_map<const Mm*, PerMm> per_mm;
    std::string structure; // the first upper-level entry that points at the wrong kind of frame (not walked)
};

void note(std::string& err, const std::string& m) {
    if (err.empty()) {
        err = m;
    }
}

// References held by processes (pins, GUP references) and by shmem objects (the page cache).
void count_references(const Kernel& k, Census& c) {
    const PhysMem& pm = k.phys();
    for (const auto& [pid, mp] : k.processes()) {
        for (const auto& [vpn, pfn] : mp->pins) {
            c.data[pfn].pins += 1;
        }
        for (const auto& [vpn, stack] : mp->refs) {
            for (const Mm::GupRef& r : stack) {
                if (pm.frame(r.pfn).kind == FrameKind::ZeroPage) {
                    continue; // the model keeps no count on the zero page
                }
                if (r.pin) {
                    c.data[r.pfn].pins += 1;
                } else {
                    c.data[r.pfn].gets += 1;
                }
            }
        }
    }
    for (const auto& [id, obj] : k.shmem_objects()) {
        for (const Pfn p : obj.pages) {
            if (!p.is_none()) {
                c.data[p].cache += 1;
            }
        }
    }
}

// The upper levels of every process: table references, VmPTE of the upper tables, huge mappings, PTE table users.
void count_tables(const Kernel& k, Census& c) {
    const PhysMem& pm = k.phys();
    for (const auto& [pid, mp] : k.processes()) {
        const Mm& mm = *mp;
        PerMm& pc = c.per_mm[&mm];
        c.table_refs[mm.pgd] += 1;
        if (pm.frame(mm.pgd).kind != FrameKind::PgdTable) {
            note(c.structure, fmt::format("pid {}: pgd frame {} is not a PGD table", mm.pid, mm.pgd.value));
            continue;
        }
        struct UpperTables {
            const PhysMem& pm;
            Census& c;
            const Mm& mm;
            PerMm& pc;
            bool enter(Level level, VirtAddr va, const Pte& e) {
                c.table_refs[e.pfn()] += 1;
                pc.pgtables += kPageSize;
                const FrameKind want = level == Level::Pgd ? FrameKind::PudTable : FrameKind::PmdTable;
                if (pm.frame(e.pfn()).kind != want) {
                    note(c.structure,
                         fmt::format("pid {} va {:#x}: {} entry does not point at a {} table", mm.pid, va.value,
                                     level == Level::Pgd ? "PGD" : "PUD", level == Level::Pgd ? "PUD" : "PMD"));
                    return false;
                }
                return true;
            }
            void leave(Level /*level*/, VirtAddr /*va*/, const Pte& /*e*/) {}
        };
        walk_pmd_entries(
            pm, mm.pgd,
            [&](VirtAddr va, const Pte& pmd) {
                if (pmd.huge()) {
                    pc.pgtables += kPageSize; // deposited table
                    const Frame& f = pm.frame(pmd.pfn());
                    if (f.kind == FrameKind::AnonHuge) {
                        c.data[pmd.pfn()].map += 1;
                        pc.rss_anon += kHugePages;
                    } else if (f.kind != FrameKind::HugeZero) {
                        note(c.structure, fmt::format("pid {} va {:#x}: huge PMD maps a frame of kind {}", mm.pid,
                                                      va.value, int(f.kind)));
                    }
                    return;
                }
                c.table_refs[pmd.pfn()] += 1;
                if (pm.frame(pmd.pfn()).kind != FrameKind::PteTable) {
                    note(c.structure,
                         fmt::format("pid {} va {:#x}: PMD entry does not point at a PTE table", mm.pid, va.value));
                    return;
                }
                c.pte_tables[pmd.pfn()].users.push_back(PteTableUser{&mm, va, pmd.writable()});
            },
            UpperTables{pm, c, mm, pc});
    }
}

// The PTE tables' contents: mappings of data frames (a shared table's entries count once, once per user in
// cow-pte-v3) and the RSS and VmPTE they charge to their users.
void count_pte_tables(const Kernel& k, Census& c) {
    const PhysMem& pm = k.phys();
    const bool v3 = k.mode() == ForkMode::CowPteV3;
    for (auto& [tpfn, use] : c.pte_tables) {
        const Frame& t = pm.frame(tpfn);
        const auto weight = v3 ? static_cast<std::int64_t>(use.users.size()) : 1;
        for (const Pte& e : pm.table(tpfn)) {
            if (!e.present() || e.special()) {
                continue;
            }
            const FrameKind kind = pm.frame(e.pfn()).kind;
            c.data[e.pfn()].map += weight;
            use.anon += kind == FrameKind::Anon ? 1 : 0;
            use.shmem += kind == FrameKind::Shmem ? 1 : 0;
        }
        for (const PteTableUser& u : use.users) {
            PerMm& pc = c.per_mm[u.mm];
            if (v3 || u.rw || t.tbl.owner == u.mm->id) {
                pc.rss_anon += use.anon;
                pc.rss_shmem += use.shmem;
            }
            if (u.rw || t.tbl.owner == u.mm->id) {
                pc.pgtables += kPageSize;
            }
        }
    }
}

Census take_census(const Kernel& k) {
    Census c;
    count_references(k, c);
    count_tables(k, c);
    count_pte_tables(k, c);
    return c;
}

// Every upper-level entry points at a table of the next level; a huge PMD maps a huge page.
std::string check_table_structure(const Census& c) {
    return c.structure;
}

// A PTE table mapped by several PMD entries is mapped read-only by all of them (ODF), and outside the modes that
// share tables no PMD entry is read-only.
std::string check_pte_table_sharing(const Kernel& k, const Census& c) {
    const bool sharing = shares_tables(k.mode());
    std::string err;
    for (const auto& [tpfn, use] : c.pte_tables) {
        for (const PteTableUser& u : use.users) {
            if (use.users.size() > 1 && u.rw) {
                note(err, fmt::format("PTE table {} is shared by {} PMD entries but pid {} maps it writable",
                                      tpfn.value, use.users.size(), u.mm->pid));
            }
            if (!sharing && !u.rw) {
                note(err, fmt::format("pid {} va {:#x}: read-only PMD entry outside ODF", u.mm->pid, u.va.value));
            }
        }
    }
    return err;
}

// A PTE table's owner (Frame::tag) is one of the mms that map it; a table with no owner is mapped writable by its
// only user (an owner that leaves a table others still map passes the charge on: Kernel::cow_pte_pass_on).
std::string check_pte_table_owners(const Kernel& k, const Census& c) {
    std::string err;
    for (const auto& [tpfn, use] : c.pte_tables) {
        const Frame& t = k.phys().frame(tpfn);
        if (t.tbl.owner != 0) {
            const Mm* owner = k.mm_by_id(t.tbl.owner);
            bool found = false;
            for (const PteTableUser& u : use.users) {
                found = found || u.mm == owner;
            }
            if (!found) {
                note(err, fmt::format("PTE table {}: owner mm {} does not map it", tpfn.value, t.tbl.owner));
            }
            continue;
        }
        for (const PteTableUser& u : use.users) {
            if (!u.rw) {
                note(err, fmt::format("PTE table {}: shared by {} PMD entries but charged to nobody", tpfn.value,
                                      use.users.size()));
                break;
            }
        }
    }
    return err;
}

// PTE entries: a special entry maps the zero page; others map anonymous or shmem pages; an AnonExclusive page in
// a table of one user is mapped once; a writable entry maps a page nothing else maps.
std::string check_pte_entries(const Kernel& k, const Census& c) {
    const PhysMem& pm = k.phys();
    const bool sharing = shares_tables(k.mode());
    std::string err;
    for (const auto& [tpfn, use] : c.pte_tables) {
        const bool shared = use.users.size() > 1;
        for (const Pte& e : pm.table(tpfn)) {
            if (!e.present() || e.special()) {
                if (e.special() && e.pfn() != pm.zero_page()) {
                    note(err, fmt::format("PTE table {}: special entry not mapping the zero page", tpfn.value));
                }
                continue;
            }
            const Frame& f = pm.frame(e.pfn());
            if (f.kind == FrameKind::Shmem) {
                continue;
            }
            if (f.kind != FrameKind::Anon) {
                note(err, fmt::format("PTE table {}: entry maps frame {} of kind {}", tpfn.value, e.pfn().value,
                                      int(f.kind)));
                continue;
            }
            if ((!sharing || !shared) && (f.flags & kAnonExclusive) != 0 && f.mapcount != 1) {
                note(err, fmt::format("frame {}: AnonExclusive with mapcount {}", e.pfn().value, int{f.mapcount}));
            }
            const auto it = c.data.find(e.pfn());
            const std::int64_t gets = it == c.data.end() ? 0 : it->second.gets;
            const std::int64_t mapped = f.refcount - std::int64_t{pm.pincount(e.pfn())} - gets;
            if (e.writable() && mapped > 1 && !shared) {
                note(err, fmt::format("frame {}: writable PTE to a page mapped {} times", e.pfn().value, mapped));
            }
        }
    }
    return err;
}

// Each mm's RssAnon, RssShmem and VmPTE equal what its page tables charge it.
std::string check_mm_counters(const Kernel& k, const Census& c) {
    std::string err;
    for (const auto& [pid, mp] : k.processes()) {
        const auto it = c.per_mm.find(mp.get());
        const PerMm pc = it == c.per_mm.end() ? PerMm{} : it->second;
        if (pc.rss_anon != mp->rss_anon) {
            note(err, fmt::format("pid {}: RssAnon {} pages, page tables say {}", pid, mp->rss_anon, pc.rss_anon));
        }
        if (pc.rss_shmem != mp->rss_shmem) {
            note(err, fmt::format("pid {}: RssShmem {} pages, page tables say {}", pid, mp->rss_shmem, pc.rss_shmem));
        }
        if (pc.pgtables != mp->pgtables_bytes) {
            note(err, fmt::format("pid {}: VmPTE {} bytes, page tables say {}", pid, mp->pgtables_bytes, pc.pgtables));
        }
    }
    return err;
}

// A page table's refcount is the number of entries pointing at it; no table is allocated that nothing reaches.
std::string check_table_refcounts(const Kernel& k, const Census& c) {
    std::string err;
    k.phys().for_each_used([&](Pfn pfn, const Frame& f) {
        if (!is_table(f.kind)) {
            return;
        }
        const auto it = c.table_refs.find(pfn);
        const std::int64_t refs = it == c.table_refs.end() ? 0 : it->second;
        if (refs == 0) {
            note(err, fmt::format("table frame {} (level {}) is allocated but unreachable (leak)", pfn.value,
                                  int(f.kind) - int(FrameKind::PteTable) + 1));
        } else if (refs != f.refcount) {
            note(err,
                 fmt::format("table frame {}: refcount {} but {} entries point at it", pfn.value, f.refcount, refs));
        }
    });
    return err;
}

// A data frame's mapcount, pincount and refcount equal the mappings, pins, GUP references and page-cache
// references found; no data frame is allocated that nothing references.
std::string check_frame_counts(const Kernel& k, const Census& c) {
    std::string err;
    k.phys().for_each_used([&](Pfn pfn, const Frame& f) {
        if (f.kind == FrameKind::ZeroPage || f.kind == FrameKind::HugeZero || is_table(f.kind)) {
            return;
        }
        const auto it = c.data.find(pfn);
        const Expect e = it == c.data.end() ? Expect{} : it->second;
        if (e.map == 0 && e.pins == 0 && e.gets == 0 && e.cache == 0) {
            note(err,
                 fmt::format("frame {} (kind {}) is allocated but nothing maps, pins, references or caches it (leak)",
                             pfn.value, int(f.kind)));
            return;
        }
        if (e.map != f.mapcount) {
            note(err, fmt::format("frame {}: mapcount {} but {} mappings", pfn.value, int{f.mapcount}, e.map));
        }
        if (e.pins != k.phys().pincount(pfn)) {
            note(err, fmt::format("frame {}: pincount {} but {} pins", pfn.value, k.phys().pincount(pfn), e.pins));
        }
        if (f.refcount != e.map + e.pins + e.gets + e.cache) {
            note(err, fmt::format("frame {}: refcount {} but {} mappings + {} pins + {} GUP references + {} cache",
                                  pfn.value, f.refcount, e.map, e.pins, e.gets, e.cache));
        }
    });
    return err;
}

// Nothing refers to a free frame.
std::string check_no_use_after_free(const Kernel& k, const Census& c) {
    std::string err;
    for (const auto& [pfn, e] : c.data) {
        if (k.phys().frame(pfn).kind == FrameKind::Free) {
            note(err, fmt::format("frame {} is referenced but free (use after free)", pfn.value));
        }
    }
    return err;
}

} // namespace

std::string InvariantChecker::check(const Kernel& k) {
    const Census c = take_census(k);
    for (const std::string& err :
         {check_table_structure(c), check_pte_table_sharing(k, c), check_pte_table_owners(k, c),
          check_pte_entries(k, c), check_mm_counters(k, c), check_table_refcounts(k, c), check_frame_counts(k, c),
          check_no_use_after_free(k, c)}) {
        if (!err.empty()) {
            return err;
        }
    }
    return {};
}

std::string InvariantChecker::check_no_leak(const Kernel& k) {
    if (!k.processes().empty()) {
        return "processes still alive";
    }
    const std::uint64_t used = k.phys().used_frames();
    if (used != k.phys().reserved_frames()) {
        return fmt::format("{} frames leaked after every process exited", used - k.phys().reserved_frames());
    }
    return {};
}

} // namespace odf
