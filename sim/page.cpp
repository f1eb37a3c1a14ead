// Data pages: allocation and release (mm/page_alloc.c, put_page()).
#include "odf/kernel.hpp"

namespace odf {

Pfn Kernel::alloc_anon_page(Mm& mm, std::uint64_t tag, bool zero) {
    (void)mm;
    const Pfn pfn = phys_.alloc_data(FrameKind::Anon);
    Frame& f = phys_.frame(pfn);
    f.refcount = 1;
    f.mapcount = 1;
    f.flags = kAnonExclusive;
    f.content = tag;
    charge(Cost::PageAlloc);
    charge(zero ? Cost::PageZero : Cost::PageCopy);
    return pfn;
}

void Kernel::put_page(Pfn pfn) {
    Frame& f = phys_.frame(pfn);
    if (--f.refcount == 0) {
        if (f.kind == FrameKind::AnonHuge) {
            for (std::uint64_t i = 1; i < kHugePages; ++i) {
                phys_.frame(Pfn{pfn.value + i}).content = 0;
            }
        }
        phys_.free(pfn);
        charge(Cost::PageFree);
    }
}

} // namespace odf
