// mremap (mm/mremap.c).
#include "odf/kernel.hpp"

#include <algorithm>

namespace odf {

// move_page_tables(): whole PTE tables move when both sides are 2 MiB aligned (move_normal_pmd); otherwise
// entries move one by one (move_ptes). Shared tables are broken first.
void Kernel::move_page_tables(Mm& mm, VirtAddr old_addr, VirtAddr new_addr, std::uint64_t len_bytes) {
    const VirtAddr old_end = old_addr + len_bytes;
    // Tables move or change on both sides: make every shared one in either range private first.
    break_cow_pte_range(mm, old_addr, old_end);
    break_cow_pte_range(mm, new_addr, new_addr + len_bytes);
    while (old_addr < old_end) {
        std::uint64_t extent = pmd_addr_end(old_addr, old_end) - old_addr;
        extent = std::min(extent, pmd_addr_end(new_addr, new_addr + extent) - new_addr);
        Pte* old_pmd = pmd_offset(mm, old_addr, false);
        if (old_pmd != nullptr && !old_pmd->none()) {
            Pte& new_pmd = *pmd_offset(mm, new_addr, true);
            old_pmd = pmd_offset(mm, old_addr, false); // allocation above may not move it, but be exact
            if (extent == kPmdSize && new_pmd.none()) {
                new_pmd = *old_pmd;
                *old_pmd = Pte{};
                charge(Cost::PteCopy);
            } else {
                if (old_pmd->huge()) {
                    split_huge_pmd(mm, *old_pmd, old_addr);
                }
                pte_alloc(mm, new_pmd);
                // ODF: entries moved into another table keep the exclusive mark of a table that held a pin.
                if ((phys_.frame(old_pmd->pfn()).flags & kTableExclusive) != 0) {
                    phys_.frame(new_pmd.pfn()).flags |= kTableExclusive;
                }
                for (std::uint64_t o = 0; o < extent; o += kPageSize) {
                    Pte& src = *pte_offset(*old_pmd, old_addr + o);
                    if (src.none()) {
                        continue;
                    }
                    *pte_offset(new_pmd, new_addr + o) = src;
                    src = Pte{};
                    charge(Cost::PteCopy);
                }
            }
        }
        old_addr += extent;
        new_addr += extent;
    }
}

bool Kernel::mremap(std::uint32_t pid, VirtAddr old_addr, std::uint64_t old_len_bytes, VirtAddr new_addr,
                    std::uint64_t new_len_bytes) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    charge(Cost::SyscallEntry);
    const Vma* src = m.find_vma(old_addr);
    const VirtAddr old_end = old_addr + old_len_bytes;
    const VirtAddr new_end = new_addr + new_len_bytes;
    const bool overlap = new_addr < old_end && old_addr < new_end;
    if (src == nullptr || old_end > src->end || overlap || old_len_bytes == 0 || new_len_bytes == 0) {
        ++m.stats.einval;
        return false;
    }
    do_munmap(m, new_addr, new_end);
    std::uint64_t moved_bytes = old_len_bytes;
    if (new_len_bytes < old_len_bytes) {
        do_munmap(m, old_addr + new_len_bytes, old_end);
        moved_bytes = new_len_bytes;
    }
    const VirtAddr moved_end = old_addr + moved_bytes;
    split_vma(m, old_addr);
    split_vma(m, moved_end);
    // move_vma(): the new VMA (copy_vma, grown by vma_expand) exists beside the old one while the tables move.
    Vma moved = m.vmas.at(old_addr);
    moved.start = new_addr;
    moved.end = new_end;
    if (!moved.shared && moved.anon_vma == 0) {
        // copy_vma(): an anonymous VMA that has not been faulted yet takes the pgoff of its new place, "to increase
        // its chance of merging" (traces/difftest/repro-mremap-anon-pgoff.trace).
        moved.pgoff = Pages::from_bytes(new_addr.value);
    }
    m.vmas.emplace(new_addr, moved);
    move_page_tables(m, old_addr, new_addr, moved_bytes);
    flush_tlb_range(m, old_addr, moved_end);
    m.vmas.erase(old_addr);
    vma_merge_around(m, new_addr, new_end);
    free_pgtables(m, old_addr, moved_end);
    return true;
}

} // namespace odf
