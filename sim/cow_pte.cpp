// On-Demand-Fork: PTE tables shared at fork and broken (reused or copied) on demand. See docs/SEMANTICS.md.
// A table's owner is the mm whose PMD entry carries its VmPTE and RssAnon (Frame::tag, 0: no owner); the
// kTableExclusive flag marks a table that held a pinned page (COW_PTE_OWNER_EXCLUSIVE).
#include "odf/kernel.hpp"

#include <fmt/format.h>
#include <stdexcept>

namespace odf {

// A PMD entry under ODF sharing: it points at a table and its RW bit is clear.
bool Kernel::is_cow_pte(const Pte& pmd) const {
    return shares_tables(cfg_.mode) && pmd.present() && !pmd.huge() && !pmd.writable();
}

bool Kernel::cow_pte_eligible(const Mm& src, const Vma& vma, const Pte& pmd, VirtAddr addr) const {
    if ((phys_.frame(pmd.pfn()).flags & kTableExclusive) != 0) {
        return false;
    }
    const VirtAddr lo = addr.align_down(kPmdSize);
    const VirtAddr hi = lo + kPmdSize;
    if (cfg_.mode == ForkMode::OdfPaper) {
        // EuroSys'21: one private anonymous VMA, not the heap, covers the whole 2 MiB.
        return !vma.shared && !src.is_heap(vma) && vma.start <= lo && vma.end >= hi;
    }
    // Patch-set version: every VMA overlapping the table is private anonymous.
    auto it = src.vmas.upper_bound(lo);
    if (it != src.vmas.begin()) {
        --it;
    }
    for (; it != src.vmas.end() && it->first < hi; ++it) {
        if (it->second.end > lo && it->second.shared) {
            return false;
        }
    }
    return true;
}

void Kernel::share_pte_table(Mm& dst, Mm& src, Pte& dst_pmd, Pte& src_pmd) {
    Frame& t = phys_.frame(src_pmd.pfn());
    if (t.tbl.owner == 0) {
        // An ownerless shared table: the forking parent takes it and its charge. The kernel's fallback for a table
        // whose leaving owner found no other user (cow_pte_pass_on()); the model always finds one, and the
        // invariant checker fails on a shared table charged to nobody.
        if (!src_pmd.writable()) {
            src.pgtables_bytes += static_cast<std::int64_t>(kPageSize);
            if (cfg_.mode != ForkMode::CowPteV3) {
                src.rss_anon += anon_pages_in(src_pmd.pfn());
            }
        }
        t.tbl.owner = src.id;
    }
    src_pmd = src_pmd.wrprotect();
    dst_pmd = src_pmd;
    t.get_ref();
    charge(Cost::PmdShare);
    ++acct_->tables_shared;
    if (cfg_.mode == ForkMode::CowPteV3) {
        // The later revision still does the per-page work of fork on every entry of a shared table.
        for (Pte& e : phys_.table(src_pmd.pfn())) {
            if (!e.present()) {
                continue;
            }
            charge(Cost::PteCopy);
            ++acct_->ptes_copied;
            if (e.special()) {
                continue;
            }
            Frame& f = phys_.frame(e.pfn());
            f.get_ref();
            f.get_map();
            f.clear_flag(kAnonExclusive);
            charge(Cost::PageRefUpdate);
            e = e.wrprotect();
            ++dst.rss_anon;
        }
    }
}

// break_cow_pte(): make the table behind `pmd` private to mm before a PTE in it changes.
void Kernel::break_cow_pte(Mm& mm, Pte& pmd, VirtAddr addr) {
    const Pfn shared = pmd.pfn();
    Frame& t = phys_.frame(shared);
    const bool v3 = cfg_.mode == ForkMode::CowPteV3;
    if (t.refcount == 1) {
        pmd = pmd.mkwrite();
        if (t.tbl.owner != mm.id) {
            mm.pgtables_bytes += static_cast<std::int64_t>(kPageSize);
            if (!v3) {
                mm.rss_anon += anon_pages_in(shared);
            }
            t.tbl.owner = mm.id;
        }
        if (!cfg_.bug_odf_gup_leak && !v3) {
            cow_pte_reuse_scan(shared);
        }
        ++acct_->tables_reused;
        ++acct_->faults[static_cast<int>(FaultKind::CowPteReuse)];
        // Not needed for correctness (the PMD entry only gains RW), but stale read-only entries would cost
        // spurious faults; the kernel patch flushes the range, and so does the model.
        const VirtAddr base = addr.align_down(kPmdSize);
        flush_tlb_range(mm, base, base + kPmdSize);
        return;
    }
    const Pfn copy = phys_.alloc_table(FrameKind::PteTable); // throws OutOfMemory before anything changed
    cow_pte_pass_on(mm, shared, addr);                       // the owner copies: its charge moves to the copy
    phys_.frame(copy).refcount = 1;
    charge(Cost::TableAlloc);
    Table& src = phys_.table(shared);
    Table& dst = phys_.table(copy);
    std::int64_t anon = 0;
    const VirtAddr base = addr.align_down(kPmdSize);
    // Like the kernel patch, only entries under one of mm's VMAs are copied: during munmap the VMAs being removed
    // are already gone, so their entries are left to the other users of the shared table.
    for (std::uint64_t i = 0; i < kPtrsPerTable; ++i) {
        if (!src[i].present()) {
            continue;
        }
        if (mm.find_vma(base + i * kPageSize) == nullptr) {
            if (v3 && !src[i].special()) { // fork took a reference for this mm: give it back
                page_remove_rmap(src[i].pfn());
                put_page(src[i].pfn());
                charge(Cost::PageRefUpdate);
                --mm.rss_anon;
            }
            continue;
        }
        if (v3) {
            dst[i] = src[i];
            charge(Cost::PteCopy);
            ++acct_->ptes_copied;
        } else {
            anon += copy_present_pte(mm.find_vma(base + i * kPageSize), dst[i], src[i]);
        }
    }
    --t.refcount;
    mm.pgtables_bytes += static_cast<std::int64_t>(kPageSize); // the shared table's owner is another user now
    mm.rss_anon += anon;
    pmd = Pte::table(copy);
    ++acct_->tables_copied_on_demand;
    ++acct_->faults[static_cast<int>(FaultKind::CowPteCopy)];
    flush_tlb_range(mm, base, base + kPmdSize);
}

// The GUP fix (docs/SEMANTICS.md, "Read-only GUP references"): ODF fork leaves AnonExclusive on the pages of a
// shared table, so when the last user takes the table over, a page that someone else still references (a GUP
// reference taken before the fork, or through the shared table by another process) must not stay exclusive: it
// loses AnonExclusive and its PTE is write-protected, so the next write copies it (do_wp_page) and mprotect does
// not make it writable again (can_change_pte_writable). cow-pte-v3 cleared AnonExclusive at fork already.
void Kernel::cow_pte_reuse_scan(Pfn table) {
    for (Pte& e : phys_.table(table)) {
        charge(Cost::PteScan);
        if (!e.present() || e.special()) {
            continue;
        }
        Frame& f = phys_.frame(e.pfn());
        if (f.kind != FrameKind::Anon) {
            continue;
        }
        charge(Cost::PageCheck);
        if ((f.flags & kAnonExclusive) != 0 && f.refcount > 1) {
            f.clear_flag(kAnonExclusive);
            if (e.writable()) {
                e = e.wrprotect();
                charge(Cost::PteCopy);
            }
        }
    }
}

// The owner mm leaves a table that other processes still map (a drop, or a break that copies): the charge for the
// table (VmPTE) and its pages (RssAnon) goes to the oldest of them, the lowest mm id. The kernel patch finds them
// by an rmap-style walk of the table's root anon_vma and takes the lowest mm->cow_pte_seq, the same order
// (docs/SEMANTICS.md, "Owner"). A table shared by several processes is therefore never charged to nobody.
void Kernel::cow_pte_pass_on(Mm& mm, Pfn table, VirtAddr addr) {
    Frame& t = phys_.frame(table);
    if (t.tbl.owner != mm.id || t.refcount < 2) {
        return;
    }
    const VirtAddr base = addr.align_down(kPmdSize);
    Mm* heir = nullptr;
    for (auto& [pid, other] : procs_) {
        if (other.get() == &mm || (heir != nullptr && other->id > heir->id)) {
            continue;
        }
        const Pte* pmd = pmd_offset(*other, base, false);
        if (pmd != nullptr && is_cow_pte(*pmd) && pmd->pfn() == table) {
            heir = other.get();
        }
    }
    charge(Cost::OwnerSearch, static_cast<std::uint64_t>(t.refcount - 1)); // one per other user examined
    if (heir == nullptr) { // cannot happen: refcount counts the PMD entries that map the table
        throw std::logic_error(fmt::format("PTE table {}: refcount {} but no other user", table.value, t.refcount));
    }
    mm.pgtables_bytes -= static_cast<std::int64_t>(kPageSize);
    heir->pgtables_bytes += static_cast<std::int64_t>(kPageSize);
    if (cfg_.mode != ForkMode::CowPteV3) { // cow-pte-v3 charges every user for the pages at fork
        const std::int64_t anon = anon_pages_in(table);
        mm.rss_anon -= anon;
        heir->rss_anon += anon;
    }
    t.tbl.owner = heir->id;
    ++acct_->owner_passes;
}

// Drop mm's reference to a shared table without touching its entries (whole-table unmap, exit, exec).
void Kernel::drop_cow_pte(Mm& mm, Pte& pmd, VirtAddr addr) {
    const Pfn table = pmd.pfn();
    Frame& t = phys_.frame(table);
    const bool v3 = cfg_.mode == ForkMode::CowPteV3;
    cow_pte_pass_on(mm, table, addr);
    if (t.tbl.owner == mm.id) {
        mm.pgtables_bytes -= static_cast<std::int64_t>(kPageSize);
        if (!v3) {
            mm.rss_anon -= anon_pages_in(table);
        }
        t.tbl.owner = 0;
    }
    if (v3 && t.refcount > 1) {
        for (const Pte& e : phys_.table(table)) {
            if (e.present() && !e.special()) {
                page_remove_rmap(e.pfn());
                put_page(e.pfn());
                charge(Cost::PageRefUpdate);
                --mm.rss_anon;
            }
        }
    } else if (v3) {
        mm.rss_anon -= anon_pages_in(table);
    }
    pmd = Pte{};
    if (--t.refcount == 0) {
        release_pte_table_pages(table);
        t.refcount = 0;
        phys_.free(table);
        charge(Cost::TableFree);
    }
}

// Before munmap zaps anything (the VMAs are already removed): over the whole unmapped range [start, end), drop the
// shared tables it covers entirely and break the ones it covers in part, whether or not a removed VMA overlaps them.
void Kernel::unmap_cow_pte_range(Mm& mm, VirtAddr start, VirtAddr end) {
    if (!shares_tables(cfg_.mode)) {
        return;
    }
    for (VirtAddr a = start; a < end; a = pmd_addr_end(a, end)) {
        Pte* pmd = pmd_offset(mm, a, false);
        if (pmd == nullptr || !is_cow_pte(*pmd)) {
            continue;
        }
        const VirtAddr lo = a.align_down(kPmdSize);
        if (lo >= start && lo + kPmdSize <= end) {
            drop_cow_pte(mm, *pmd, a);
        } else {
            break_cow_pte(mm, *pmd, a);
        }
    }
}

// Break every shared table in [start, end) (mprotect, madvise, mremap, pin).
void Kernel::break_cow_pte_range(Mm& mm, VirtAddr start, VirtAddr end) {
    if (!shares_tables(cfg_.mode)) {
        return;
    }
    for (VirtAddr a = start; a < end; a = pmd_addr_end(a, end)) {
        Pte* pmd = pmd_offset(mm, a, false);
        if (pmd != nullptr && is_cow_pte(*pmd)) {
            break_cow_pte(mm, *pmd, a);
        }
    }
}

} // namespace odf
