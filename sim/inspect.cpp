#include "odf/inspect.hpp"

#include "odf/pgtable_walk.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <vector>

namespace odf {

namespace {
std::string prot_str(std::uint8_t p) {
    if (p == 0) {
        return "none";
    }
    std::string s;
    s += (p & kVmRead) != 0 ? 'r' : '-';
    s += (p & kVmWrite) != 0 ? 'w' : '-';
    s += (p & kVmExec) != 0 ? 'x' : '-';
    return s;
}
} // namespace

std::string describe_mm(const Kernel& k, const Mm& mm) {
    std::string s = fmt::format("pid {} (mm {}): RssAnon {} kB, RssShmem {} kB, VmPTE {} kB, {} VMAs\n", mm.pid, mm.id,
                                mm.rss_anon * 4, mm.rss_shmem * 4, mm.pgtables_bytes / 1024, mm.vmas.size());
    for (const auto& [start, v] : mm.vmas) {
        s += fmt::format("  vma {:#014x}-{:#014x} {:<4} {:<7} pgoff {:#x}{}{}\n", v.start.value, v.end.value,
                         prot_str(v.prot), v.shared ? "shared" : "private", v.pgoff.value,
                         v.anon_vma != 0 ? fmt::format(" anon_vma {}{}", v.anon_vma, v.anon_inherited ? "*" : "") : "",
                         mm.is_heap(v) ? " [heap]" : "");
    }
    const PhysMem& pm = k.phys();
    // One line per PMD table, then one per populated entry in it.
    struct PmdTableLines {
        std::string& s;
        bool enter(Level level, VirtAddr va, const Pte& entry) {
            if (level == Level::Pud) {
                s += fmt::format("  pmd table for {:#014x} (frame {})\n", va.value, entry.pfn().value);
            }
            return true;
        }
        void leave(Level /*level*/, VirtAddr /*va*/, const Pte& /*entry*/) {}
    };
    walk_pmd_entries(
        pm, mm.pgd,
        [&](VirtAddr va, const Pte& pmd) {
            if (pmd.huge()) {
                s += fmt::format("    {:#014x} huge frame {} {}\n", va.value, pmd.pfn().value,
                                 pmd.writable() ? "rw" : "ro");
                return;
            }
            const Frame& t = pm.frame(pmd.pfn());
            int present = 0;
            int anon = 0;
            for (const Pte& e : pm.table(pmd.pfn())) {
                if (e.present()) {
                    ++present;
                    anon += (!e.special() && pm.frame(e.pfn()).kind == FrameKind::Anon) ? 1 : 0;
                }
            }
            s += fmt::format("    {:#014x} pte table {} {} refcount {} owner {}{} present {} anon {}\n", va.value,
                             pmd.pfn().value, pmd.writable() ? "rw" : "ro", t.refcount, t.tbl.owner,
                             (t.flags & kTableExclusive) != 0 ? " exclusive" : "", present, anon);
        },
        PmdTableLines{s});
    return s;
}

std::string describe(const Kernel& k) {
    std::vector<std::uint32_t> pids;
    for (const auto& [p, m] : k.processes()) {
        pids.push_back(p);
    }
    std::sort(pids.begin(), pids.end());
    std::string s;
    for (std::uint32_t p : pids) {
        s += describe_mm(k, *k.mm(p));
    }
    return s;
}

} // namespace odf
