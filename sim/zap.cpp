// Unmapping: unmap_page_range -> zap_pud_range -> zap_pmd_range -> zap_pte_range (mm/memory.c).
#include "odf/kernel.hpp"

namespace odf {

void Kernel::unmap_page_range(Mm& mm, const Vma& vma, VirtAddr addr, VirtAddr end, ZapKind kind) {
    do {
        const VirtAddr next = pgd_addr_end(addr, end);
        Pte& pgd = phys_.table(mm.pgd)[addr.pgd_index()];
        if (!pgd.none()) {
            zap_pud_range(mm, vma, pgd, addr, next, kind);
        }
        addr = next;
    } while (addr != end);
}

void Kernel::zap_pud_range(Mm& mm, const Vma& vma, Pte& pgd, VirtAddr addr, VirtAddr end, ZapKind kind) {
    do {
        const VirtAddr next = pud_addr_end(addr, end);
        Pte& pud = phys_.table(pgd.pfn())[addr.pud_index()];
        if (!pud.none()) {
            zap_pmd_range(mm, vma, pud, addr, next, kind);
        }
        addr = next;
    } while (addr != end);
}

void Kernel::zap_pmd_range(Mm& mm, const Vma& vma, Pte& pud, VirtAddr addr, VirtAddr end, ZapKind kind) {
    (void)vma;
    do {
        const VirtAddr next = pmd_addr_end(addr, end);
        Pte& pmd = phys_.table(pud.pfn())[addr.pmd_index()];
        const bool whole = addr.aligned(kPmdSize) && next - addr == kPmdSize;
        if (pmd.none()) {
            // nothing mapped
        } else if (pmd.huge()) {
            if (whole || kind == ZapKind::Exit) {
                zap_huge_pmd(mm, pmd);
            } else {
                split_huge_pmd(mm, pmd, addr);
                zap_pte_range(mm, pmd, addr, next);
            }
        } else if (is_cow_pte(pmd)) {
            if (kind == ZapKind::Exit || (kind == ZapKind::Unmap && whole)) {
                drop_cow_pte(mm, pmd, addr);
            } else {
                break_cow_pte(mm, pmd, addr);
                zap_pte_range(mm, pmd, addr, next);
            }
        } else {
            zap_pte_range(mm, pmd, addr, next);
        }
        addr = next;
    } while (addr != end);
}

void Kernel::zap_pte_range(Mm& mm, Pte& pmd, VirtAddr addr, VirtAddr end) {
    Table& t = phys_.table(pmd.pfn());
    for (VirtAddr a = addr; a < end; a += kPageSize) {
        Pte& e = t[a.pte_index()];
        if (e.none()) {
            continue;
        }
        charge(Cost::PteZap);
        if (!e.special()) {
            const Pfn pfn = e.pfn();
            const FrameKind k = phys_.frame(pfn).kind;
            if (k == FrameKind::Shmem) {
                --mm.rss_shmem;
            } else {
                --mm.rss_anon;
            }
            page_remove_rmap(pfn);
            put_page(pfn);
            charge(Cost::PageRefUpdate);
        }
        e = Pte{};
    }
}

void Kernel::zap_huge_pmd(Mm& mm, Pte& pmd) {
    charge(Cost::PteZap);
    mm.pgtables_bytes -= static_cast<std::int64_t>(kPageSize); // the deposited table
    charge(Cost::TableFree);
    const Pfn pfn = pmd.pfn();
    if (phys_.frame(pfn).kind == FrameKind::AnonHuge) {
        mm.rss_anon -= static_cast<std::int64_t>(kHugePages);
        page_remove_rmap(pfn);
        put_page(pfn);
        charge(Cost::PageRefUpdate);
    }
    pmd = Pte{};
}

// The last reference to a PTE table is gone: release every page it maps (no RSS change: the caller has
// already uncharged whoever was charged).
void Kernel::release_pte_table_pages(Pfn table) {
    for (Pte& e : phys_.table(table)) {
        if (!e.none()) {
            charge(Cost::PteZap);
        }
        if (e.present() && !e.special()) {
            page_remove_rmap(e.pfn());
            put_page(e.pfn());
            charge(Cost::PageRefUpdate);
        }
        e = Pte{};
    }
}

} // namespace odf
