// get_user_pages (mm/gup.c): long-term write pins (pin_user_pages with FOLL_LONGTERM | FOLL_WRITE, and unpin), and
// read-only GUP references: FOLL_GET as vmsplice() takes them, and read-only FOLL_PIN | FOLL_LONGTERM
// with the unshare fault of 6.1 (gup_must_unshare, do_wp_page with FAULT_FLAG_UNSHARE). See docs/SEMANTICS.md,
// "Read-only GUP references". A reference belongs to the process that took it and holds a page refcount (a pin
// also a pincount); it survives munmap, mremap and mprotect of the range, and is dropped at exit and exec.
#include "odf/kernel.hpp"

namespace odf {

namespace {
constexpr std::uint64_t kUserPage = Pte::kPresent | Pte::kUser | Pte::kAccessed;
} // namespace

// do_wp_page(FAULT_FLAG_UNSHARE): nothing for the zero page and shmem pages; an AnonExclusive page is kept; a page
// whose only reference is this mapping is reused (AnonExclusive set, the PTE stays read-only); any other page is
// copied into a new AnonExclusive page mapped read-only (wp_page_copy without maybe_mkwrite).
void Kernel::do_wp_page_unshare(Mm& mm, Vma& vma, Pte& pte, VirtAddr addr) {
    if (!pte.present() || pte.special()) {
        return;
    }
    Frame& f = phys_.frame(pte.pfn());
    if (f.kind != FrameKind::Anon || (f.flags & kAnonExclusive) != 0) {
        return;
    }
    if (f.refcount == 1) {
        f.flags |= kAnonExclusive; // page_move_anon_rmap()
        ++mm.stats.faults[static_cast<int>(FaultKind::WpReuse)];
        return;
    }
    anon_vma_prepare(vma);
    const Pfn old = pte.pfn();
    const Pfn copy = alloc_anon_page(mm, f.content, false);
    ++mm.stats.pages_copied;
    page_remove_rmap(old);
    put_page(old);
    charge(Cost::PageRefUpdate);
    pte = Pte::make(copy, kUserPage);
    ++mm.stats.faults[static_cast<int>(FaultKind::WpCopy)];
    flush_tlb_range(mm, addr.page_start(), addr.page_start() + kPageSize);
}

std::optional<VirtAddr> Kernel::getref(std::uint32_t pid, VirtAddr start, std::uint64_t len_bytes, bool pin) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    charge(Cost::SyscallEntry);
    for (VirtAddr va = start; va < start + len_bytes; va += kPageSize) {
        Vma* vma = m.find_vma(va);
        // check_vma_flags(): a read-only GUP needs VM_READ.
        if (vma == nullptr || (vma->prot & kVmRead) == 0) {
            ++m.stats.reffail;
            return va;
        }
        Walk w = walk(m, va, false);
        if (!w.present) {
            // faultin_page() for read: exactly what a read access does (zero page, shmem page, table break).
            if (!handle_mm_fault(m, *vma, va, false)) {
                ++m.stats.reffail; // SIGBUS beyond a shmem object's size: -EFAULT
                return va;
            }
        }
        Pte* pmd = pmd_offset(m, va, false);
        if (pmd->huge()) { // thp mode: the reference is to a 4 KiB page (as pin does)
            split_huge_pmd(m, *pmd, va);
        }
        if (pin && !vma->shared) {
            const bool shared_table = is_cow_pte(*pmd);
            const Pte& e = *pte_offset(*pmd, va);
            bool unshare = false;
            if (!e.special()) {
                const Frame& f = phys_.frame(e.pfn());
                unshare = f.kind == FrameKind::Anon && (f.flags & kAnonExclusive) == 0; // gup_must_unshare()
            }
            if (shared_table || unshare) {
                // One fault with FAULT_FLAG_UNSHARE: a shared table is broken first, in the same fault.
                charge(Cost::FaultEntry);
                ++m.stats.minflt;
                if (shared_table) {
                    break_cow_pte(m, *pmd, va);
                }
                do_wp_page_unshare(m, *vma, *pte_offset(*pmd, va), va);
            }
        }
        w = walk(m, va, false);
        const Pfn pfn = w.pfn;
        Frame& f = phys_.frame(pfn);
        if (f.kind != FrameKind::ZeroPage) { // the model keeps no count on the zero page
            f.get_ref();
            if (pin) {
                phys_.pin(pfn);
            }
            charge(Cost::PageRefUpdate);
            ++ref_frames_[pfn].refs;
        }
        if (pin) {
            phys_.frame(pmd_offset(m, va, false)->pfn()).flags |= kTableExclusive;
        }
        m.refs[va.page()].push_back(Mm::GupRef{pfn, write_seq_, pin});
    }
    return std::nullopt;
}

std::optional<RefRead> Kernel::readref(std::uint32_t pid, VirtAddr va) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    auto it = m.refs.find(va.page());
    if (it == m.refs.end()) {
        ++m.stats.noref;
        return std::nullopt;
    }
    const Mm::GupRef& r = it->second.back();
    const Frame& f = phys_.frame(r.pfn);
    charge(Cost::MemAccess);
    RefRead out;
    out.value = f.kind == FrameKind::ZeroPage ? 0 : f.content;
    if (f.kind == FrameKind::Anon) {
        auto s = ref_frames_.find(r.pfn);
        if (s != ref_frames_.end() && s->second.seq > r.seq && s->second.writer != m.pid) {
            out.leak = true;
            out.writer = s->second.writer;
            ++m.stats.leaks;
        }
    }
    return out;
}

void Kernel::drop_gup_ref(Mm& mm, const Mm::GupRef& r) {
    (void)mm;
    const Pfn pfn = r.pfn;
    Frame& f = phys_.frame(pfn);
    if (f.kind == FrameKind::ZeroPage) {
        return;
    }
    auto s = ref_frames_.find(r.pfn);
    if (--s->second.refs == 0) {
        ref_frames_.erase(s);
    }
    if (r.pin) {
        phys_.unpin(pfn);
    }
    put_page(pfn);
    charge(Cost::PageRefUpdate);
}

bool Kernel::putref(std::uint32_t pid, VirtAddr va) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    auto it = m.refs.find(va.page());
    if (it == m.refs.end()) {
        ++m.stats.noref;
        return false;
    }
    const Mm::GupRef r = it->second.back();
    it->second.pop_back();
    if (it->second.empty()) {
        m.refs.erase(it);
    }
    drop_gup_ref(m, r);
    return true;
}

// pin_user_pages(FOLL_PIN | FOLL_LONGTERM | FOLL_WRITE): fault each page in for write (breaking COW and shared
// tables), then take a pin. The table is marked exclusive so that fork copies it.
std::optional<VirtAddr> Kernel::pin(std::uint32_t pid, VirtAddr start, std::uint64_t len_bytes) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    charge(Cost::SyscallEntry);
    for (VirtAddr va = start; va < start + len_bytes; va += kPageSize) {
        Vma* vma = m.find_vma(va);
        if (vma == nullptr || vma->shared || !vma->writable()) {
            ++m.stats.pinfail;
            return va;
        }
        Walk w = walk(m, va, false);
        if (!w.present || !w.writable) {
            handle_mm_fault(m, *vma, va, true); // breaks a shared table and COW
        }
        Pte* pmd = pmd_offset(m, va, false);
        if (pmd->huge()) {
            split_huge_pmd(m, *pmd, va);
        }
        w = walk(m, va, false);
        if (!w.writable) {
            handle_mm_fault(m, *vma, va, true);
            w = walk(m, va, false);
        }
        phys_.pin(w.pfn);
        phys_.frame(w.pfn).get_ref();
        charge(Cost::PageRefUpdate);
        Pte* p = pmd_offset(m, va, false);
        phys_.frame(p->pfn()).flags |= kTableExclusive;
        m.pins.emplace(va.page(), w.pfn);
    }
    return std::nullopt;
}

bool Kernel::unpin(std::uint32_t pid, VirtAddr start, std::uint64_t len_bytes) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    bool all = true;
    for (VirtAddr va = start; va < start + len_bytes; va += kPageSize) {
        auto it = m.pins.find(va.page());
        if (it == m.pins.end()) {
            all = false;
            continue;
        }
        const Pfn pfn = it->second;
        m.pins.erase(it);
        phys_.unpin(pfn);
        put_page(pfn);
        charge(Cost::PageRefUpdate);
    }
    if (!all) {
        ++m.stats.einval;
    }
    return all;
}

} // namespace odf
