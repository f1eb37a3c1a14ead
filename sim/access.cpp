// The MMU: TLB lookup, the four-level walk with page-walk caches and A/D updates, and the retry after a fault.
#include "odf/kernel.hpp"

#include <stdexcept>

namespace odf {

Tlb& Kernel::cpu_tlb(Mm& mm) {
    return mm.tlb_on(cpu_, cfg_.costs.tlb);
}

Kernel::Walk Kernel::walk(Mm& mm, VirtAddr v, bool charge_steps) {
    Walk w;
    if (charge_steps) {
        const int skip = tlb(mm).pwc_lookup(v);
        if (skip > 0) {
            charge(Cost::WalkStepHit);
        }
        charge(Cost::WalkStepMiss, static_cast<std::uint64_t>(4 - skip));
    }
    Pte& pgd = phys_.table(mm.pgd)[v.pgd_index()];
    if (!pgd.hw_present()) {
        return w;
    }
    Pte& pud = phys_.table(pgd.pfn())[v.pud_index()];
    if (!pud.hw_present()) {
        return w;
    }
    Pte& pmd = phys_.table(pud.pfn())[v.pmd_index()];
    if (!pmd.hw_present()) {
        return w;
    }
    bool rw = pgd.writable() && pud.writable() && pmd.writable();
    if (pmd.huge()) {
        w.leaf = &pmd;
        w.present = true;
        w.huge = true;
        w.writable = rw;
        w.pfn = pmd.pfn() + v.pte_index();
        return w;
    }
    Pte& pte = phys_.table(pmd.pfn())[v.pte_index()];
    if (!pte.hw_present()) {
        return w;
    }
    w.leaf = &pte;
    w.present = true;
    w.writable = rw && pte.writable();
    w.pfn = pte.pfn();
    return w;
}

AccessResult Kernel::access(Mm& mm, VirtAddr va, bool write, std::uint64_t tag) {
    acct_ = &mm.stats;
    ++mm.stats.accesses;
    const PageNumber vpn = va.page();
    TlbEntry e;
    const TlbHit hit = tlb(mm).lookup(vpn, e);
    Pfn pfn;
    if (hit != TlbHit::Miss && (!write || (e.writable && e.dirty))) {
        if (hit == TlbHit::L1) {
            ++mm.stats.tlb_l1_hits;
        } else {
            ++mm.stats.tlb_l2_hits;
            charge(Cost::TlbL2Hit);
        }
        pfn = e.pfn;
    } else {
        // A miss, or a permission/dirty-bit miss: the MMU (and QEMU's softmmu) re-walks before faulting.
        ++mm.stats.tlb_misses;
        Walk w = walk(mm, va, true);
        if (!w.present || (write && !w.writable)) {
            Vma* vma = mm.find_vma(va);
            if (vma == nullptr || !vma->readable() || (write && !vma->writable())) {
                ++mm.stats.segv;
                return AccessResult{false, false, 0};
            }
            if (!handle_mm_fault(mm, *vma, va, write)) {
                ++mm.stats.segv;
                return AccessResult{false, true, 0};
            }
            w = walk(mm, va, false);
            if (!w.present || (write && !w.writable)) {
                throw std::logic_error("fault handler did not resolve an access it accepted");
            }
        }
        w.leaf->raw |= Pte::kAccessed | (write ? Pte::kDirty : 0);
        Tlb& t = tlb(mm);
        // A true miss leaves the entry in neither level (a fault only flushes): no search needed to place it.
        t.insert(vpn, TlbEntry{w.pfn, w.writable, w.leaf->dirty()}, w.huge, hit == TlbHit::Miss);
        t.pwc_fill(va, w.huge);
        pfn = w.pfn;
    }
    charge(Cost::MemAccess);
    Frame& f = phys_.frame(pfn);
    if (write) {
        f.content = tag;
        if (!ref_frames_.empty()) {
            if (auto it = ref_frames_.find(pfn); it != ref_frames_.end()) {
                it->second.writer = mm.pid;
                it->second.seq = ++write_seq_;
            }
        }
        return AccessResult{true, false, tag};
    }
    return AccessResult{true, false, f.kind == FrameKind::ZeroPage ? 0 : f.content};
}

} // namespace odf
