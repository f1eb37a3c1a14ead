// madvise(MADV_DONTNEED) (mm/madvise.c).
#include "odf/kernel.hpp"

#include <algorithm>

namespace odf {

bool Kernel::madvise_dontneed(std::uint32_t pid, VirtAddr start, std::uint64_t len) {
    const std::uint64_t addr = start.value;
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    charge(Cost::SyscallEntry);
    const std::uint64_t end = addr + len;
    bool all_mapped = true;
    for (std::uint64_t a = addr; a < end;) {
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
        const std::uint64_t hi = std::min(end, v->end);
        unmap_page_range(m, *v, a, hi, ZapKind::DontNeed);
        a = hi;
    }
    flush_tlb_range(m, addr, end);
    if (!all_mapped) {
        ++m.stats.einval;
    }
    return all_mapped;
}

} // namespace odf
