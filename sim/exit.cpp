// Process teardown (kernel/exit.c, exit_mmap() of mm/mmap.c).
#include "odf/kernel.hpp"

namespace odf {

// exit_mmap(): drop pins, zap every VMA (shared PTE tables are dropped whole), free all page tables.
void Kernel::exit_mm(Mm& mm) {
    acct_ = &mm.stats;
    for (const auto& [vpn, stack] : mm.refs) {
        for (const Mm::GupRef& r : stack) {
            drop_gup_ref(mm, r);
        }
    }
    mm.refs.clear();
    for (const auto& [vpn, pfn] : mm.pins) {
        phys_.unpin(pfn);
        put_page(pfn);
    }
    mm.pins.clear();
    for (const auto& [start, vma] : mm.vmas) {
        unmap_page_range(mm, vma, vma.start, vma.end, ZapKind::Exit);
    }
    std::vector<Vma> gone;
    for (const auto& [start, vma] : mm.vmas) {
        gone.push_back(vma);
    }
    mm.vmas.clear();
    for (const Vma& v : gone) {
        release_vma(mm, v);
    }
    free_all_pgtables(mm);
    flush_all_tlbs(mm);
}

void Kernel::exit(std::uint32_t pid) {
    Mm& m = *mm(pid);
    exit_mm(m);
    retired_ += m.stats;
    acct_ = &retired_;
    by_id_.erase(m.id);
    procs_.erase(pid);
}

} // namespace odf
