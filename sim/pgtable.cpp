// Page-table allocation, lookup and freeing (mm/memory.c: __pud_alloc, __pmd_alloc, __pte_alloc, free_pgtables).
#include "odf/kernel.hpp"
#include "odf/pgtable_walk.hpp"

#include <stdexcept>

namespace odf {

Pfn Kernel::alloc_table(Mm& mm, FrameKind kind) {
    const Pfn pfn = phys_.alloc_table(kind);
    phys_.frame(pfn).refcount = 1;
    charge(Cost::TableAlloc);
    if (kind != FrameKind::PgdTable) {
        mm.pgtables_bytes += static_cast<std::int64_t>(kPageSize);
    }
    return pfn;
}

void Kernel::free_table(Mm& mm, Pfn pfn, bool charged) {
    Frame& f = phys_.frame(pfn);
    if (charged && f.kind != FrameKind::PgdTable) {
        mm.pgtables_bytes -= static_cast<std::int64_t>(kPageSize);
    }
    f.refcount = 0;
    phys_.free(pfn);
    charge(Cost::TableFree);
}

Pte* Kernel::pmd_offset(Mm& mm, VirtAddr va, bool alloc) {
    Pte& pgd = phys_.table(mm.pgd)[va.pgd_index()];
    if (pgd.none()) {
        if (!alloc) {
            return nullptr;
        }
        pgd = Pte::table(alloc_table(mm, FrameKind::PudTable));
    }
    Pte& pud = phys_.table(pgd.pfn())[va.pud_index()];
    if (pud.none()) {
        if (!alloc) {
            return nullptr;
        }
        pud = Pte::table(alloc_table(mm, FrameKind::PmdTable));
    }
    return &phys_.table(pud.pfn())[va.pmd_index()];
}

void Kernel::pte_alloc(Mm& mm, Pte& pmd) {
    if (pmd.none()) {
        pmd = Pte::table(alloc_table(mm, FrameKind::PteTable));
    }
}

const Pte* Kernel::lookup(const Mm& mm, VirtAddr va, Level level) const {
    const Pte* e = &phys_.table(mm.pgd)[va.pgd_index()];
    if (level == Level::Pgd) {
        return e;
    }
    if (e->none()) {
        return nullptr;
    }
    e = &phys_.table(e->pfn())[va.pud_index()];
    if (level == Level::Pud) {
        return e;
    }
    if (e->none()) {
        return nullptr;
    }
    e = &phys_.table(e->pfn())[va.pmd_index()];
    if (level == Level::Pmd) {
        return e;
    }
    if (e->none() || e->huge()) {
        return nullptr;
    }
    return &phys_.table(e->pfn())[va.pte_index()];
}

bool Kernel::range_has_vma(const Mm& mm, VirtAddr start, VirtAddr end) const {
    auto it = mm.vmas.upper_bound(start);
    if (it != mm.vmas.begin()) {
        auto prev = std::prev(it);
        if (prev->second.end > start) {
            return true;
        }
    }
    return it != mm.vmas.end() && it->first < end;
}

std::int64_t Kernel::anon_pages_in(Pfn table) const {
    std::int64_t n = 0;
    for (const Pte& e : phys_.table(table)) {
        if (e.present() && !e.special() && phys_.frame(e.pfn()).kind == FrameKind::Anon) {
            ++n;
        }
    }
    return n;
}

// free_pgtables(): after the VMAs in [start, end) were removed, free every table whose range intersects
// [start, end) and no remaining VMA (the kernel's floor/ceiling rule). Shared tables were dropped by the zap.
void Kernel::free_pgtables(Mm& mm, VirtAddr start, VirtAddr end) {
    // Upper tables: freed on the way back up when no VMA remains in their range.
    struct FreeEmptyUpper {
        Kernel& k;
        Mm& mm;
        bool enter(Level /*level*/, VirtAddr /*va*/, Pte& /*entry*/) { return true; }
        void leave(Level level, VirtAddr va, Pte& entry) {
            const std::uint64_t size = level == Level::Pgd ? kPgdSize : kPudSize;
            if (!k.range_has_vma(mm, va, va + size)) {
                k.free_table(mm, entry.pfn(), true);
                entry = Pte{};
            }
        }
    };
    walk_pmd_entries(
        phys_, mm.pgd, start, end,
        [&](VirtAddr va, Pte& pmd) {
            if (pmd.huge() || range_has_vma(mm, va, va + kPmdSize)) {
                return;
            }
            if (is_cow_pte(pmd)) {
                drop_cow_pte(mm, pmd, va);
                return;
            }
            free_table(mm, pmd.pfn(), true);
            pmd = Pte{};
        },
        FreeEmptyUpper{*this, mm});
}

void Kernel::free_all_pgtables(Mm& mm) {
    free_pgtables(mm, VirtAddr{0}, VirtAddr{kTaskSize});
    free_table(mm, mm.pgd, false);
    mm.pgd = Pfn{};
}

} // namespace odf
