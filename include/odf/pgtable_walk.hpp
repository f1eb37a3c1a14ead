// One walk over the populated entries of a process's upper page-table levels (PGD, PUD, PMD), shared by every
// piece of the model that visits them: free_pgtables(), the invariant checker, inspect.
#pragma once

#include "odf/phys_mem.hpp"
#include "odf/pte.hpp"
#include "odf/types.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace odf {

// Hooks of walk_pmd_entries() for the PGD and PUD entries above the PMD entries; the defaults do nothing.
struct NoUpperHooks {
    // Before the table an upper entry points at is walked; false skips it (and its leave()).
    template <typename E>
    bool enter(Level /*level*/, VirtAddr /*va*/, E& /*entry*/) {
        return true;
    }
    // After the table it points at was walked.
    template <typename E>
    void leave(Level /*level*/, VirtAddr /*va*/, E& /*entry*/) {}
};

// Calls on_pmd(va, pmd) for every populated PMD entry whose 2 MiB range intersects [start, end), in address order,
// in the page tables rooted at `pgd`. `va` is the first address the entry maps. Populated PGD and PUD entries on the
// way get hooks.enter(level, va, entry) before and hooks.leave(level, va, entry) after their table is walked (leave:
// in post-order, so that an empty table can be freed there). With a non-const PhysMem the entries are mutable.
// Contract: the callbacks may clear or rewrite the entry they are given and free the table it points at, but not
// change other entries of the tables being walked.
template <typename Phys, typename OnPmd, typename Hooks = NoUpperHooks>
void walk_pmd_entries(Phys& pm, Pfn pgd, VirtAddr start, VirtAddr end, OnPmd&& on_pmd, Hooks&& hooks = Hooks{}) {
    if (start >= end) {
        return;
    }
    const VirtAddr last = end - 1;
    auto& pgd_table = pm.table(pgd);
    for (std::uint64_t g = start.pgd_index(); g <= last.pgd_index(); ++g) {
        auto& pgd_e = pgd_table[g];
        const VirtAddr g_va{g << kPgdShift};
        if (pgd_e.none() || !hooks.enter(Level::Pgd, g_va, pgd_e)) {
            continue;
        }
        auto& pud_table = pm.table(pgd_e.pfn());
        const std::uint64_t u_lo = std::max(g_va, start).pud_index();
        const std::uint64_t u_hi = std::min(g_va + (kPgdSize - 1), last).pud_index();
        for (std::uint64_t u = u_lo; u <= u_hi; ++u) {
            auto& pud_e = pud_table[u];
            const VirtAddr u_va{g_va.value | (u << kPudShift)};
            if (pud_e.none() || !hooks.enter(Level::Pud, u_va, pud_e)) {
                continue;
            }
            auto& pmd_table = pm.table(pud_e.pfn());
            const std::uint64_t m_lo = std::max(u_va, start).pmd_index();
            const std::uint64_t m_hi = std::min(u_va + (kPudSize - 1), last).pmd_index();
            for (std::uint64_t m = m_lo; m <= m_hi; ++m) {
                auto& pmd_e = pmd_table[m];
                if (!pmd_e.none()) {
                    on_pmd(VirtAddr{u_va.value | (m << kPmdShift)}, pmd_e);
                }
            }
            hooks.leave(Level::Pud, u_va, pud_e);
        }
        hooks.leave(Level::Pgd, g_va, pgd_e);
    }
}

// Every populated PMD entry of the whole user address space.
template <typename Phys, typename OnPmd, typename Hooks = NoUpperHooks>
void walk_pmd_entries(Phys& pm, Pfn pgd, OnPmd&& on_pmd, Hooks&& hooks = Hooks{}) {
    walk_pmd_entries(pm, pgd, VirtAddr{0}, VirtAddr{kTaskSize}, std::forward<OnPmd>(on_pmd),
                     std::forward<Hooks>(hooks));
}

} // namespace odf
