// Data pages and TLB maintenance.
#include "odf/kernel.hpp"

namespace odf {

Pfn Kernel::alloc_anon_page(Mm& mm, std::uint64_t tag, bool zero) {
    (void)mm;
    const Pfn pfn = phys_.alloc_data(FrameKind::Anon);
    Frame& f = phys_.frame(pfn);
    f.refcount = 1;
    f.mapcount = 1;
    f.flags = kAnonExclusive;
    f.tag = tag;
    charge(Cost::PageAlloc);
    charge(zero ? Cost::PageZero : Cost::PageCopy);
    return pfn;
}

void Kernel::put_page(Pfn pfn) {
    Frame& f = phys_.frame(pfn);
    if (--f.refcount == 0) {
        if (f.kind == FrameKind::AnonHuge) {
            for (std::uint64_t i = 1; i < kHugePages; ++i) {
                phys_.frame(Pfn{pfn.value + i}).tag = 0;
            }
        }
        phys_.free(pfn);
        charge(Cost::PageFree);
    }
}

void Kernel::flush_tlb_mm(Mm& mm) {
    mm.tlb.flush_all();
    charge(Cost::TlbFlushAll);
    ++acct_->tlb_flushes;
    if (cfg_.costs.remote_cpus > 0) {
        charge(Cost::Ipi, static_cast<std::uint64_t>(cfg_.costs.remote_cpus));
        acct_->ipis += static_cast<std::uint64_t>(cfg_.costs.remote_cpus);
    }
}

// flush_tlb_mm_range(): ranges above 33 pages flush the whole mm (tlb_single_page_flush_ceiling).
void Kernel::flush_tlb_range(Mm& mm, std::uint64_t start, std::uint64_t end) {
    const std::uint64_t pages = (end - start) >> kPageShift;
    if (pages > 33) {
        flush_tlb_mm(mm);
        return;
    }
    for (std::uint64_t a = start; a < end; a += kPageSize) {
        mm.tlb.flush_page(a >> kPageShift);
    }
    charge(Cost::TlbFlushPage, pages);
    ++acct_->tlb_flushes;
    if (cfg_.costs.remote_cpus > 0) {
        charge(Cost::Ipi, static_cast<std::uint64_t>(cfg_.costs.remote_cpus));
        acct_->ipis += static_cast<std::uint64_t>(cfg_.costs.remote_cpus);
    }
}

} // namespace odf
