// mprotect (mm/mprotect.c).
#include "odf/kernel.hpp"

#include <algorithm>

namespace odf {

// change_protection() over one VMA's part: PROT_NONE entries lose P and gain _PAGE_PROTNONE; write permission is
// removed, or granted at once to dirty exclusive anon pages (can_change_pte_writable) and to shared pages.
void Kernel::change_protection(Mm& mm, Vma& vma, VirtAddr start, VirtAddr end) {
    for (VirtAddr a = start; a < end; a = pmd_addr_end(a, end)) {
        Pte* pmd = pmd_offset(mm, a, false);
        if (pmd == nullptr || pmd->none()) {
            continue;
        }
        const VirtAddr next = pmd_addr_end(a, end);
        if (pmd->huge()) {
            split_huge_pmd(mm, *pmd, a);
        }
        if (is_cow_pte(*pmd)) {
            break_cow_pte(mm, *pmd, a);
        }
        Table& t = phys_.table(pmd->pfn());
        for (VirtAddr p = a; p < next; p += kPageSize) {
            Pte& e = t[p.pte_index()];
            if (e.none()) {
                continue;
            }
            Pte n = e;
            if (vma.prot == 0) {
                n = n.clear(Pte::kPresent | Pte::kRw).set(Pte::kGlobal);
            } else {
                if (n.protnone()) {
                    n = n.clear(Pte::kGlobal).set(Pte::kPresent);
                }
                if (!vma.writable()) {
                    n = n.wrprotect();
                } else if (!n.writable() && !n.special()) {
                    const Frame& f = phys_.frame(n.pfn());
                    if (vma.shared || (n.dirty() && (f.flags & kAnonExclusive) != 0)) {
                        n = n.mkwrite();
                    }
                }
            }
            if (n != e) {
                e = n;
                charge(Cost::PteCopy);
            }
        }
    }
}

bool Kernel::mprotect(std::uint32_t pid, VirtAddr start, std::uint64_t len_bytes, std::uint8_t prot) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    charge(Cost::SyscallEntry);
    const VirtAddr end = start + len_bytes;
    // Linux changes the VMAs from `start` up to the first hole, then fails with ENOMEM (nothing if start is
    // unmapped).
    VirtAddr upto = start;
    while (upto < end) {
        const Vma* v = m.find_vma(upto);
        if (v == nullptr) {
            break;
        }
        upto = std::min(end, v->end);
    }
    const bool complete = upto == end;
    if (!complete) {
        ++m.stats.einval;
    }
    if (upto == start) {
        return false;
    }
    // mprotect_fixup() per VMA in address order, on the part of it in [start, upto): the shared tables of that part
    // are broken (the patch's break_cow_pte_range()), then 6.1 returns early for unchanged flags: no split, no PTE
    // change, no merge (traces/difftest/repro-mprotect-unchanged-split.trace). A VMA whose protection changes is
    // split to the part, changed (change_protection) and merged with its neighbours.
    for (VirtAddr at = start; at < upto;) {
        Vma* v = m.find_vma(at);
        if (v == nullptr) {
            break;
        }
        const VirtAddr hi = std::min(upto, v->end);
        if (v->prot == prot) {
            break_cow_pte_range(m, at, hi);
            at = hi;
            continue;
        }
        split_vma(m, at);
        split_vma(m, hi);
        auto it = m.vmas.find(at);
        it->second.prot = prot;
        change_protection(m, it->second, at, hi);
        vma_merge_region(m, at);
        at = hi;
    }
    flush_tlb_range(m, start, upto);
    return complete;
}

} // namespace odf
