// Process creation (kernel/fork.c: mm_alloc) and fork(): dup_mmap -> copy_page_range -> copy_pud_range ->
// copy_pmd_range -> copy_pte_range -> copy_present_pte, as in Linux 6.1 mm/memory.c, with the ODF decision taken per
// PMD entry in copy_pmd_range.
#include "odf/kernel.hpp"

namespace odf {

// mm_alloc() + pgd_alloc(): a new mm with an empty PGD.
Mm& Kernel::create_process(std::uint32_t pid, bool charge_caller) {
    auto m = std::make_unique<Mm>(++next_mm_id_, pid, cfg_.costs.tlb);
    Mm& ref = *m;
    if (!charge_caller) {
        acct_ = &ref.stats;
    }
    ref.pgd = alloc_table(ref, FrameKind::PgdTable);
    by_id_[ref.id] = &ref;
    procs_[pid] = std::move(m);
    return ref;
}

void Kernel::fork(std::uint32_t parent_pid, std::uint32_t child_pid) {
    Mm& parent = *mm(parent_pid);
    acct_ = &parent.stats;
    Mm& child = create_process(child_pid, /*charge_caller=*/true); // the child's PGD is part of fork's cost
    charge(Cost::ForkBase);
    ++parent.stats.forks;
    child.has_heap = parent.has_heap;
    child.heap_start = parent.heap_start;
    child.brk = parent.brk;
    dup_mmap(parent, child);
}

// vma_needs_copy(): private VMAs with an anon_vma; shared (shmem) VMAs are refaulted by the child.
void Kernel::dup_mmap(Mm& parent, Mm& child) {
    const auto wp_before = static_cast<std::int64_t>(parent.stats.ptes_copied + parent.stats.tables_shared);
    child.vmas.reserve(parent.vmas.size());
    for (const auto& [start, vma] : parent.vmas) {
        Vma& copy = child.vmas.emplace(start, vma).first->second;
        copy.anon_inherited = vma.anon_vma != 0; // anon_vma_fork() chains the child to the parent's anon_vma
        charge(Cost::VmaCopy);
        if (vma.shared) {
            ++shmem_[vma.shmem].users;
            continue;
        }
        if (vma.anon_vma != 0) {
            copy_page_range(child, parent, vma);
        }
    }
    if (static_cast<std::int64_t>(parent.stats.ptes_copied + parent.stats.tables_shared) != wp_before) {
        flush_tlb_mm(parent);
    }
}

void Kernel::copy_page_range(Mm& dst, Mm& src, const Vma& vma) {
    VirtAddr addr = vma.start;
    const VirtAddr end = vma.end;
    do {
        const VirtAddr next = pgd_addr_end(addr, end);
        if (!phys_.table(src.pgd)[addr.pgd_index()].none()) {
            copy_pud_range(dst, src, vma, addr, next);
        }
        addr = next;
    } while (addr != end);
}

// Like the kernel, each level allocates the child's table below it (pud_alloc, pmd_alloc) as soon as the parent's
// entry is present, before looking at the parent's lower entries.
void Kernel::copy_pud_range(Mm& dst, Mm& src, const Vma& vma, VirtAddr addr, VirtAddr end) {
    const Pte& src_pgd = phys_.table(src.pgd)[addr.pgd_index()];
    Pte& dst_pgd = phys_.table(dst.pgd)[addr.pgd_index()];
    if (dst_pgd.none()) {
        dst_pgd = Pte::table(alloc_table(dst, FrameKind::PudTable));
    }
    do {
        const VirtAddr next = pud_addr_end(addr, end);
        if (!phys_.table(src_pgd.pfn())[addr.pud_index()].none()) {
            copy_pmd_range(dst, src, vma, addr, next);
        }
        addr = next;
    } while (addr != end);
}

void Kernel::copy_pmd_range(Mm& dst, Mm& src, const Vma& vma, VirtAddr addr, VirtAddr end) {
    Pte& dst_pud = phys_.table(phys_.table(dst.pgd)[addr.pgd_index()].pfn())[addr.pud_index()];
    if (dst_pud.none()) {
        dst_pud = Pte::table(alloc_table(dst, FrameKind::PmdTable));
    }
    do {
        const VirtAddr next = pmd_addr_end(addr, end);
        Pte* src_pmd = pmd_offset(src, addr, false);
        if (src_pmd == nullptr || src_pmd->none()) {
            addr = next;
            continue;
        }
        acct_ = &src.stats;
        Pte& dst_pmd = *pmd_offset(dst, addr, true);
        if (src_pmd->huge()) {
            copy_huge_pmd(dst, src, dst_pmd, *src_pmd);
        } else if (shares_tables(cfg_.mode) && cow_pte_eligible(src, vma, *src_pmd, addr)) {
            // A table overlapped by several VMAs is shared when the first of them is copied.
            if (dst_pmd.none()) {
                share_pte_table(dst, src, dst_pmd, *src_pmd);
            }
        } else {
            copy_pte_range(dst, src, vma, dst_pmd, *src_pmd, addr, next);
        }
        addr = next;
    } while (addr != end);
}

void Kernel::copy_pte_range(Mm& dst, Mm& src, const Vma& vma, Pte& dst_pmd, Pte& src_pmd, VirtAddr addr, VirtAddr end) {
    (void)src;
    if (dst_pmd.none()) {
        pte_alloc(dst, dst_pmd);
        ++acct_->tables_copied_at_fork;
    }
    Table& st = phys_.table(src_pmd.pfn());
    Table& dt = phys_.table(dst_pmd.pfn());
    std::int64_t rss = 0;
    for (VirtAddr a = addr; a < end; a += kPageSize) {
        const std::uint64_t i = a.pte_index();
        if (st[i].present()) {
            rss += copy_present_pte(&vma, dt[i], st[i]);
        }
    }
    dst.rss_anon += rss;
}

int Kernel::copy_present_pte(const Vma* vma, Pte& dst, Pte& src) {
    charge(Cost::PteCopy);
    ++acct_->ptes_copied;
    Pte pte = src;
    if (pte.special()) { // the zero page: no struct page work
        dst = pte.mkold();
        return 0;
    }
    Frame& f = phys_.frame(pte.pfn());
    if (f.pinned && (f.flags & kAnonExclusive) != 0) {
        // page_try_dup_anon_rmap() fails for a maybe-pinned exclusive page: copy_present_page().
        const Pfn copy = phys_.alloc_data(FrameKind::Anon);
        Frame& c = phys_.frame(copy);
        c.refcount = 1;
        c.mapcount = 1;
        c.flags = kAnonExclusive;
        c.content = f.content;
        charge(Cost::PageAlloc);
        charge(Cost::PageCopy);
        ++acct_->pages_copied;
        std::uint64_t flags = Pte::kPresent | Pte::kUser | Pte::kAccessed | Pte::kDirty;
        if (vma != nullptr && vma->writable()) {
            flags |= Pte::kRw;
        }
        dst = Pte::make(copy, flags);
        return 1;
    }
    f.get_ref();
    f.get_map();
    f.clear_flag(kAnonExclusive);
    charge(Cost::PageRefUpdate);
    if (pte.writable()) { // every VMA that reaches here is a private (COW) mapping
        charge(Cost::PteWrprotect);
        src = src.wrprotect();
        pte = pte.wrprotect();
    }
    dst = pte.mkold();
    return f.kind == FrameKind::Anon ? 1 : 0;
}

void Kernel::copy_huge_pmd(Mm& dst, Mm& src, Pte& dst_pmd, Pte& src_pmd) {
    (void)src;
    charge(Cost::PteCopy);
    ++acct_->ptes_copied;
    // The kernel deposits a preallocated PTE table with every huge PMD mapping (pgtable_trans_huge_deposit).
    dst.pgtables_bytes += static_cast<std::int64_t>(kPageSize);
    charge(Cost::TableAlloc);
    Frame& f = phys_.frame(src_pmd.pfn());
    if (f.kind == FrameKind::HugeZero) {
        dst_pmd = src_pmd.mkold();
        return;
    }
    f.get_ref();
    f.get_map();
    f.clear_flag(kAnonExclusive);
    charge(Cost::PageRefUpdate);
    src_pmd = src_pmd.wrprotect();
    dst_pmd = src_pmd.mkold();
    dst.rss_anon += static_cast<std::int64_t>(kHugePages);
}

} // namespace odf
