// madvise(MADV_DONTNEED) (mm/madvise.c).
#include "odf/kernel.hpp"

#include <algorithm>

namespace odf {

bool Kernel::madvise_dontneed(std::uint32_t pid, VirtAddr start, std::uint64_t len_bytes) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    charge(Cost::SyscallEntry);
    const VirtAddr end = start + len_bytes;
    bool all_mapped = true;
    for (VirtAddr a = start; a < end;) {
        const Vma* v = m.find_vma(a);
        if (v == nullptr) {
            all_mapped = false;
            auto it = m.vmas.upper_bound(a);
            if (it == m.vmas.end()) {
                break;
            }
            a = it->first;
            continue;
        }
        const VirtAddr hi = std::min(end, v->end);
        unmap_page_range(m, *v, a, hi, ZapKind::DontNeed);
        a = hi;
    }
    flush_tlb_range(m, start, end);
    if (!all_mapped) {
        ++m.stats.einval;
    }
    return all_mapped;
}

} // namespace odf
