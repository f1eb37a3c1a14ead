#include "odf/checker.hpp"

#include <fmt/format.h>
#include <unordered_map>
#include <unordered_set>

namespace odf {

namespace {

struct Expect {
    std::int64_t map = 0;
    std::int64_t pins = 0; // FOLL_PIN references: pin, getref pin (each holds a refcount too)
    std::int64_t gets = 0; // getref get references
    std::int64_t cache = 0;
    bool reached = false;
};

struct PerMm {
    std::int64_t rss_anon = 0;
    std::int64_t rss_shmem = 0;
    std::int64_t pgtables = 0;
};

} // namespace

std::string InvariantChecker::check(const Kernel& k) {
    const PhysMem& pm = k.phys();
    const bool v3 = k.mode() == ForkMode::CowPteV3;
    const bool sharing = shares_tables(k.mode());
    std::unordered_map<std::uint64_t, Expect> data;       // pfn -> expected counts
    std::unordered_map<std::uint64_t, std::int64_t> tref; // table pfn -> references from upper entries
    std::unordered_map<std::uint64_t, std::vector<std::pair<const Mm*, bool>>> pte_tables; // -> (mm, pmd rw)
    std::unordered_map<const Mm*, PerMm> per;
    std::string err;
    auto fail = [&](const std::string& m) {
        if (err.empty()) {
            err = m;
        }
    };

    // References held by processes first: the page-table walk below needs them.
    for (const auto& [pid, mp] : k.processes()) {
        for (const auto& [vpn, pfn] : mp->pins) {
            data[pfn.value].pins += 1;
        }
        for (const auto& [vpn, stack] : mp->refs) {
            for (const Mm::GupRef& r : stack) {
                if (pm.frame(r.pfn).kind == FrameKind::ZeroPage) {
                    continue; // the model keeps no count on the zero page
                }
                if (r.pin) {
                    data[r.pfn.value].pins += 1;
                } else {
                    data[r.pfn.value].gets += 1;
                }
            }
        }
    }
    for (const auto& [pid, mp] : k.processes()) {
        const Mm& mm = *mp;
        PerMm& pc = per[&mm];
        tref[mm.pgd.value] += 1;
        if (pm.frame(mm.pgd).kind != FrameKind::PgdTable) {
            fail(fmt::format("pid {}: pgd frame {} is not a PGD table", pid, mm.pgd.value));
        }
        const Table& pgd = pm.table(mm.pgd);
        for (std::uint64_t g = 0; g < kPtrsPerTable; ++g) {
            if (pgd[g].none()) {
                continue;
            }
            const Pfn pud_pfn = pgd[g].pfn();
            tref[pud_pfn.value] += 1;
            pc.pgtables += kPageSize;
            if (pm.frame(pud_pfn).kind != FrameKind::PudTable) {
                fail(fmt::format("pid {}: PGD entry {} does not point at a PUD table", pid, g));
                continue;
            }
            const Table& pud = pm.table(pud_pfn);
            for (std::uint64_t u = 0; u < kPtrsPerTable; ++u) {
                if (pud[u].none()) {
                    continue;
                }
                const Pfn pmd_pfn = pud[u].pfn();
                tref[pmd_pfn.value] += 1;
                pc.pgtables += kPageSize;
                if (pm.frame(pmd_pfn).kind != FrameKind::PmdTable) {
                    fail(fmt::format("pid {}: PUD entry does not point at a PMD table", pid));
                    continue;
                }
                const Table& pmdt = pm.table(pmd_pfn);
                for (std::uint64_t m = 0; m < kPtrsPerTable; ++m) {
                    const Pte& pmd = pmdt[m];
                    if (pmd.none()) {
                        continue;
                    }
                    const std::uint64_t va = (g << kPgdShift) | (u << kPudShift) | (m << kPmdShift);
                    if (pmd.huge()) {
                        pc.pgtables += kPageSize; // deposited table
                        const Frame& f = pm.frame(pmd.pfn());
                        if (f.kind == FrameKind::AnonHuge) {
                            data[pmd.pfn().value].map += 1;
                            pc.rss_anon += kHugePages;
                        } else if (f.kind != FrameKind::HugeZero) {
                            fail(
                                fmt::format("pid {} va {:#x}: huge PMD maps a frame of kind {}", pid, va, int(f.kind)));
                        }
                        continue;
                    }
                    tref[pmd.pfn().value] += 1;
                    if (pm.frame(pmd.pfn()).kind != FrameKind::PteTable) {
                        fail(fmt::format("pid {} va {:#x}: PMD entry does not point at a PTE table", pid, va));
                        continue;
                    }
                    if (!sharing && !pmd.writable()) {
                        fail(fmt::format("pid {} va {:#x}: read-only PMD entry outside ODF", pid, va));
                    }
                    pte_tables[pmd.pfn().value].emplace_back(&mm, pmd.writable());
                }
            }
        }
    }
    for (const auto& [id, obj] : k.shmem_objects()) {
        for (const Pfn p : obj.pages) {
            if (!p.is_none()) {
                data[p.value].cache += 1;
            }
        }
    }

    // PTE tables: sharing, ownership, contents.
    for (const auto& [tpfn, users] : pte_tables) {
        const Frame& t = pm.frame(Pfn{tpfn});
        const bool shared = users.size() > 1;
        for (const auto& [mm, rw] : users) {
            if (shared && rw) {
                fail(fmt::format("PTE table {} is shared by {} PMD entries but pid {} maps it writable", tpfn,
                                 users.size(), mm->pid));
            }
        }
        if (t.tag != 0) {
            const Mm* owner = k.mm_by_id(static_cast<std::uint32_t>(t.tag));
            bool found = false;
            for (const auto& [mm, rw] : users) {
                found = found || mm == owner;
            }
            if (!found) {
                fail(fmt::format("PTE table {}: owner mm {} does not map it", tpfn, t.tag));
            }
        } else {
            // An owner that leaves a table others still map passes the charge on (Kernel::cow_pte_pass_on).
            for (const auto& [mm, rw] : users) {
                if (!rw) {
                    fail(fmt::format("PTE table {}: shared by {} PMD entries but charged to nobody", tpfn,
                                     users.size()));
                    break;
                }
            }
        }
        std::int64_t anon = 0;
        std::int64_t shm = 0;
        for (const Pte& e : pm.table(Pfn{tpfn})) {
            if (!e.present() || e.special()) {
                if (e.special() && e.pfn() != pm.zero_page()) {
                    fail(fmt::format("PTE table {}: special entry not mapping the zero page", tpfn));
                }
                continue;
            }
            const Frame& f = pm.frame(e.pfn());
            const std::int64_t weight = v3 ? static_cast<std::int64_t>(users.size()) : 1;
            data[e.pfn().value].map += weight;
            if (f.kind == FrameKind::Anon) {
                ++anon;
                if (!sharing || !shared) {
                    if ((f.flags & kAnonExclusive) != 0 && f.mapcount != 1) {
                        fail(fmt::format("frame {}: AnonExclusive with mapcount {}", e.pfn().value, f.mapcount));
                    }
                }
                const std::int64_t gets = data[e.pfn().value].gets;
                if (e.writable() && f.refcount - f.pincount - gets > 1 && !shared) {
                    fail(fmt::format("frame {}: writable PTE to a page mapped {} times", e.pfn().value,
                                     f.refcount - f.pincount - gets));
                }
            } else if (f.kind == FrameKind::Shmem) {
                ++shm;
            } else {
                fail(fmt::format("PTE table {}: entry maps frame {} of kind {}", tpfn, e.pfn().value, int(f.kind)));
            }
        }
        for (const auto& [mm, rw] : users) {
            const bool charged = v3 || rw || t.tag == mm->id;
            if (charged) {
                per[mm].rss_anon += anon;
                per[mm].rss_shmem += shm;
            }
            if (rw || t.tag == mm->id) {
                per[mm].pgtables += kPageSize;
            }
        }
    }

    for (const auto& [pid, mp] : k.processes()) {
        const PerMm& pc = per[mp.get()];
        if (pc.rss_anon != mp->rss_anon) {
            fail(fmt::format("pid {}: RssAnon {} pages, page tables say {}", pid, mp->rss_anon, pc.rss_anon));
        }
        if (pc.rss_shmem != mp->rss_shmem) {
            fail(fmt::format("pid {}: RssShmem {} pages, page tables say {}", pid, mp->rss_shmem, pc.rss_shmem));
        }
        if (pc.pgtables != mp->pgtables_bytes) {
            fail(fmt::format("pid {}: VmPTE {} bytes, page tables say {}", pid, mp->pgtables_bytes, pc.pgtables));
        }
    }

    // Every allocated frame is referenced exactly as its counts say; nothing else is allocated.
    pm.for_each_used([&](Pfn pfn, const Frame& f) {
        if (f.kind == FrameKind::ZeroPage || f.kind == FrameKind::HugeZero) {
            return;
        }
        if (is_table(f.kind)) {
            auto it = tref.find(pfn.value);
            const std::int64_t refs = it == tref.end() ? 0 : it->second;
            if (refs == 0) {
                fail(fmt::format("table frame {} (level {}) is allocated but unreachable (leak)", pfn.value,
                                 int(f.kind) - int(FrameKind::PteTable) + 1));
            } else if (refs != f.refcount) {
                fail(
                    fmt::format("table frame {}: refcount {} but {} entries point at it", pfn.value, f.refcount, refs));
            }
            return;
        }
        auto it = data.find(pfn.value);
        const Expect e = it == data.end() ? Expect{} : it->second;
        if (e.map == 0 && e.pins == 0 && e.gets == 0 && e.cache == 0) {
            fail(fmt::format("frame {} (kind {}) is allocated but nothing maps, pins, references or caches it (leak)",
                             pfn.value, int(f.kind)));
            return;
        }
        if (e.map != f.mapcount) {
            fail(fmt::format("frame {}: mapcount {} but {} mappings", pfn.value, f.mapcount, e.map));
        }
        if (e.pins != f.pincount) {
            fail(fmt::format("frame {}: pincount {} but {} pins", pfn.value, f.pincount, e.pins));
        }
        if (f.refcount != e.map + e.pins + e.gets + e.cache) {
            fail(fmt::format("frame {}: refcount {} but {} mappings + {} pins + {} GUP references + {} cache",
                             pfn.value, f.refcount, e.map, e.pins, e.gets, e.cache));
        }
    });
    for (const auto& [pfn, e] : data) {
        if (pm.frame(Pfn{pfn}).kind == FrameKind::Free) {
            fail(fmt::format("frame {} is referenced but free (use after free)", pfn));
        }
    }
    return err;
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
