// The page-fault handler (mm/memory.c: handle_mm_fault, do_anonymous_page, do_wp_page; mm/huge_memory.c).
#include "odf/kernel.hpp"

namespace odf {

namespace {
constexpr std::uint64_t kUserPage = Pte::kPresent | Pte::kUser | Pte::kAccessed;
}

bool Kernel::thp_suitable(const Vma& vma, VirtAddr addr) const {
    const VirtAddr lo = addr.align_down(kPmdSize);
    return cfg_.mode == ForkMode::Thp && !vma.shared && vma.start <= lo && vma.end >= lo + kPmdSize;
}

// Contract: vma contains addr and permits the access; one call is one fault exception (one minflt).
bool Kernel::handle_mm_fault(Mm& mm, Vma& vma, VirtAddr addr, bool write) {
    charge(Cost::FaultEntry);
    if (vma.shared && vma.linear_page_index(addr) >= shmem_[vma.shmem].size) {
        return false; // shmem_fault(): beyond i_size
    }
    ++mm.stats.minflt;
    Pte& pmd = *pmd_offset(mm, addr, true);
    if (pmd.none() && thp_suitable(vma, addr)) {
        do_huge_pmd_anonymous_page(mm, vma, pmd, write);
        return true;
    }
    if (pmd.huge()) {
        if (write && !pmd.writable()) {
            do_huge_pmd_wp_page(mm, vma, pmd, addr);
        } else {
            ++mm.stats.faults[static_cast<int>(FaultKind::Spurious)];
        }
        return true;
    }
    pte_alloc(mm, pmd);
    if (is_cow_pte(pmd)) {
        break_cow_pte(mm, pmd, addr);
    }
    if (vma.shared) {
        return do_shmem_fault(mm, vma, pmd, addr, write);
    }
    handle_pte_fault(mm, vma, *pte_offset(pmd, addr), addr, write);
    return true;
}

void Kernel::handle_pte_fault(Mm& mm, Vma& vma, Pte& pte, VirtAddr addr, bool write) {
    if (pte.none()) {
        do_anonymous_page(mm, vma, pte, write);
    } else if (write && !pte.writable()) {
        do_wp_page(mm, vma, pte, addr);
    } else {
        pte = pte.set(Pte::kAccessed | (write ? Pte::kDirty : 0));
        ++mm.stats.faults[static_cast<int>(FaultKind::Spurious)];
    }
}

void Kernel::do_anonymous_page(Mm& mm, Vma& vma, Pte& pte, bool write) {
    if (!write) {
        pte = Pte::make(phys_.zero_page(), kUserPage | Pte::kSpecial);
        ++mm.stats.faults[static_cast<int>(FaultKind::AnonZeroPage)];
        return;
    }
    anon_vma_prepare(vma);
    const Pfn page = alloc_anon_page(mm, 0, true);
    pte = Pte::make(page, kUserPage | Pte::kRw | Pte::kDirty);
    ++mm.rss_anon;
    ++mm.stats.faults[static_cast<int>(FaultKind::AnonAlloc)];
}

void Kernel::do_wp_page(Mm& mm, Vma& vma, Pte& pte, VirtAddr addr) {
    const std::uint64_t dirty = Pte::kRw | Pte::kDirty | Pte::kAccessed;
    if (pte.special()) { // wp_page_copy() from the zero page
        anon_vma_prepare(vma);
        const Pfn page = alloc_anon_page(mm, 0, true);
        pte = Pte::make(page, kUserPage | dirty);
        ++mm.rss_anon;
        ++mm.stats.faults[static_cast<int>(FaultKind::WpZeroCopy)];
        flush_tlb_range(mm, addr.page_start(), addr.page_start() + kPageSize);
        return;
    }
    Frame& f = phys_.frame(pte.pfn());
    if (f.kind == FrameKind::Shmem) { // wp_page_shared(): a shared mapping made writable again
        pte = pte.set(dirty);
        ++mm.stats.faults[static_cast<int>(FaultKind::WpReuse)];
        return;
    }
    if ((f.flags & kAnonExclusive) != 0 || f.refcount == 1) {
        f.flags |= kAnonExclusive; // page_move_anon_rmap()
        pte = pte.set(dirty);
        ++mm.stats.faults[static_cast<int>(FaultKind::WpReuse)];
        return;
    }
    const Pfn copy = alloc_anon_page(mm, f.content, false);
    ++mm.stats.pages_copied;
    page_remove_rmap(pte.pfn());
    put_page(pte.pfn());
    charge(Cost::PageRefUpdate);
    pte = Pte::make(copy, kUserPage | dirty);
    ++mm.stats.faults[static_cast<int>(FaultKind::WpCopy)];
    flush_tlb_range(mm, addr.page_start(), addr.page_start() + kPageSize);
}

Pfn Kernel::shmem_get_page(Vma& vma, VirtAddr addr, bool create) {
    ShmemObject& obj = shmem_[vma.shmem];
    const std::uint64_t idx = vma.linear_page_index(addr).value;
    if (idx >= obj.pages.size()) {
        if (!create) {
            return Pfn::none();
        }
        obj.pages.resize(idx + 1, Pfn::none());
    }
    if (obj.pages[idx].is_none()) {
        if (!create) {
            return Pfn::none();
        }
        const Pfn page = phys_.alloc_data(FrameKind::Shmem);
        phys_.frame(page).refcount = 1; // the page cache's reference
        charge(Cost::PageAlloc);
        charge(Cost::PageZero);
        obj.pages[idx] = page;
    }
    return obj.pages[idx];
}

// do_read_fault()/do_shared_fault() on shmem. A read fault also maps the cached pages around it
// (do_fault_around, 64 KiB window, within the VMA and the PTE table).
bool Kernel::do_shmem_fault(Mm& mm, Vma& vma, Pte& pmd, VirtAddr addr, bool write) {
    const std::uint64_t flags = kUserPage | (vma.writable() ? Pte::kRw : 0);
    auto map = [&](VirtAddr a, Pfn page, bool young) {
        Pte& e = *pte_offset(pmd, a);
        Frame& f = phys_.frame(page);
        f.get_ref();
        f.get_map();
        charge(Cost::PageRefUpdate);
        ++mm.rss_shmem;
        e = Pte::make(page, young ? flags : flags & ~Pte::kAccessed);
    };
    ++mm.stats.faults[static_cast<int>(FaultKind::Shmem)];
    Pte& pte = *pte_offset(pmd, addr);
    if (!pte.none()) { // a read-only shmem PTE written to
        do_wp_page(mm, vma, pte, addr);
        return true;
    }
    if (!write) {
        constexpr std::uint64_t kWindow = 64 * 1024ULL;
        // do_fault_around(): from max(aligned window, VMA start), 16 pages, clipped to the VMA and the PTE table.
        const VirtAddr lo = std::max(addr.align_down(kWindow), vma.start);
        const VirtAddr hi = std::min({lo + kWindow, vma.end, addr.align_down(kPmdSize) + kPmdSize});
        for (VirtAddr a = lo; a < hi; a += kPageSize) {
            if (a == addr.page_start() || !pte_offset(pmd, a)->none()) {
                continue;
            }
            const Pfn page = shmem_get_page(vma, a, false);
            if (!page.is_none()) {
                map(a, page, false);
            }
        }
    }
    map(addr.page_start(), shmem_get_page(vma, addr, true), true);
    return true;
}

Pfn Kernel::alloc_anon_huge(Vma& vma) {
    anon_vma_prepare(vma);
    const Pfn page = phys_.alloc_huge();
    Frame& f = phys_.frame(page);
    f.refcount = 1;
    f.mapcount = 1;
    f.flags = kAnonExclusive;
    charge(Cost::PageAlloc);
    return page;
}

void Kernel::do_huge_pmd_anonymous_page(Mm& mm, Vma& vma, Pte& pmd, bool write) {
    mm.pgtables_bytes += static_cast<std::int64_t>(kPageSize); // deposited PTE table
    charge(Cost::TableAlloc);
    const std::uint64_t leaf = Pte::kPresent | Pte::kUser | Pte::kAccessed | Pte::kPs;
    if (!write) {
        pmd = Pte::make(phys_.huge_zero_page(), leaf);
        ++mm.stats.faults[static_cast<int>(FaultKind::HugeZero)];
        return;
    }
    const Pfn page = alloc_anon_huge(vma);
    charge(Cost::HugeZero);
    pmd = Pte::make(page, leaf | Pte::kRw | Pte::kDirty);
    mm.rss_anon += static_cast<std::int64_t>(kHugePages);
    ++mm.stats.faults[static_cast<int>(FaultKind::HugeAlloc)];
}

void Kernel::do_huge_pmd_wp_page(Mm& mm, Vma& vma, Pte& pmd, VirtAddr addr) {
    const std::uint64_t leaf = Pte::kPresent | Pte::kUser | Pte::kAccessed | Pte::kPs | Pte::kRw | Pte::kDirty;
    Frame& f = phys_.frame(pmd.pfn());
    if (f.kind == FrameKind::AnonHuge && ((f.flags & kAnonExclusive) != 0 || f.refcount == 1)) {
        f.flags |= kAnonExclusive;
        pmd = pmd.set(Pte::kRw | Pte::kDirty);
        ++mm.stats.faults[static_cast<int>(FaultKind::HugeWpReuse)];
        return;
    }
    const Pfn page = alloc_anon_huge(vma);
    if (f.kind == FrameKind::HugeZero) {
        charge(Cost::HugeZero);
        mm.rss_anon += static_cast<std::int64_t>(kHugePages);
        ++mm.stats.faults[static_cast<int>(FaultKind::HugeAlloc)];
    } else {
        for (std::uint64_t i = 0; i < kHugePages; ++i) {
            phys_.frame(page + i).content = phys_.frame(pmd.pfn() + i).content;
        }
        charge(Cost::HugeCopy);
        mm.stats.pages_copied += kHugePages;
        page_remove_rmap(pmd.pfn());
        put_page(pmd.pfn());
        charge(Cost::PageRefUpdate);
        ++mm.stats.faults[static_cast<int>(FaultKind::HugeWpCopy)];
    }
    pmd = Pte::make(page, leaf);
    flush_tlb_range(mm, addr.align_down(kPmdSize), addr.align_down(kPmdSize) + kPmdSize);
}

// Turn a huge PMD mapping into a PTE table (the deposited one) of 512 entries. A huge page that other
// mappings or pins share is first copied for this mm (the model keeps no PTE-mapped compound pages; Linux does).
void Kernel::split_huge_pmd(Mm& mm, Pte& pmd, VirtAddr addr) {
    const Pte old = pmd;
    const Pfn head = old.pfn();
    Frame& f = phys_.frame(head);
    const Pfn table = phys_.alloc_table(FrameKind::PteTable); // the deposited table: already charged
    phys_.frame(table).refcount = 1;
    Table& t = phys_.table(table);
    const std::uint64_t flags =
        Pte::kPresent | Pte::kUser | Pte::kAccessed | (old.writable() ? Pte::kRw : 0) | (old.dirty() ? Pte::kDirty : 0);
    if (f.kind == FrameKind::HugeZero) {
        for (auto& e : t) {
            e = Pte::make(phys_.zero_page(), (flags & ~Pte::kRw) | Pte::kSpecial);
        }
    } else {
        const bool exclusive = f.refcount == 1;
        Pfn base = head;
        if (!exclusive) {
            base = phys_.alloc_huge();
            for (std::uint64_t i = 0; i < kHugePages; ++i) {
                phys_.frame(base + i).content = phys_.frame(head + i).content;
            }
            charge(Cost::HugeCopy);
            mm.stats.pages_copied += kHugePages;
            page_remove_rmap(head);
            put_page(head);
        }
        phys_.convert_huge_to_small(base);
        for (std::uint64_t i = 0; i < kHugePages; ++i) {
            Frame& s = phys_.frame(base + i);
            s.refcount = 1;
            s.mapcount = 1;
            s.flags = kAnonExclusive;
            t[i] = Pte::make(base + i, flags);
        }
    }
    pmd = Pte::table(table);
    flush_tlb_range(mm, addr.align_down(kPmdSize), addr.align_down(kPmdSize) + kPmdSize);
}

} // namespace odf
