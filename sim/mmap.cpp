// VMAs and the system calls that change them (mm/mmap.c, mm/mprotect.c, mm/madvise.c, mm/mremap.c), and process
// creation and teardown.
#include "odf/kernel.hpp"

#include <algorithm>

namespace odf {

namespace {
constexpr std::string_view kModeNames[kForkModeCount] = {"classic", "odf", "odf-paper", "cow-pte-v3", "thp"};

// can_vma_merge_before/after(): `a` ends where `b` starts. `n` is the existing neighbour, `r` the region being
// created or changed; is_mergeable_anon_vma() lets a region without an anon_vma join a neighbour only if the
// neighbour's anon_vma chain is singular (not inherited over fork).
bool can_merge(const Vma& a, const Vma& b, const Vma& n, const Vma& r) {
    if (a.prot != b.prot || a.shared != b.shared || a.pgoff + a.pages() != b.pgoff) {
        return false;
    }
    if (a.shared) {
        return a.shmem == b.shmem;
    }
    return n.anon_vma == r.anon_vma || (r.anon_vma == 0 && n.anon_vma != 0 && !n.anon_inherited);
}
} // namespace

std::string_view mode_name(ForkMode m) {
    return kModeNames[static_cast<int>(m)];
}

std::optional<ForkMode> parse_mode(std::string_view s) {
    for (int i = 0; i < kForkModeCount; ++i) {
        if (kModeNames[i] == s) {
            return static_cast<ForkMode>(i);
        }
    }
    return std::nullopt;
}

Vma* Mm::find_vma(std::uint64_t addr) {
    auto it = vmas.upper_bound(addr);
    if (it == vmas.begin()) {
        return nullptr;
    }
    --it;
    return addr < it->second.end ? &it->second : nullptr;
}

const Vma* Mm::find_vma(std::uint64_t addr) const {
    return const_cast<Mm*>(this)->find_vma(addr);
}

Kernel::Kernel(KernelConfig cfg) : cfg_(std::move(cfg)), phys_(cfg_.phys_frames) {
    acct_ = &retired_;
}

Kernel::~Kernel() = default;

Mm* Kernel::mm(std::uint32_t pid) {
    auto it = procs_.find(pid);
    return it == procs_.end() ? nullptr : it->second.get();
}
const Mm* Kernel::mm(std::uint32_t pid) const {
    return const_cast<Kernel*>(this)->mm(pid);
}
const Mm* Kernel::mm_by_id(std::uint32_t id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second;
}

Mm& Kernel::create_process(std::uint32_t pid, bool charge_caller) {
    auto m = std::make_unique<Mm>(++next_mm_id_, pid, cfg_.costs.tlb);
    Mm& ref = *m;
    if (!charge_caller) {
        acct_ = &ref.stats;
    }
    ref.pgd = alloc_table(ref, FrameKind::PgdTable);
    by_id_[ref.id] = &ref;
    procs_[pid] = std::move(m);
    return ref;
}

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
        Frame& f = phys_.frame(Pfn{pfn});
        --f.pincount;
        put_page(Pfn{pfn});
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

void Kernel::exec(std::uint32_t pid) {
    Mm& old = *mm(pid);
    exit_mm(old);
    Counters keep = old.stats;
    by_id_.erase(old.id);
    procs_.erase(pid);
    Mm& fresh = create_process(pid);
    fresh.stats = keep;
    acct_ = &fresh.stats;
    charge(Cost::ExecBase);
}

void Kernel::release_vma(Mm& mm, const Vma& v) {
    (void)mm;
    if (!v.shared) {
        return;
    }
    ShmemObject& obj = shmem_[v.shmem];
    if (--obj.users == 0) {
        for (std::uint64_t p : obj.pages) {
            if (p != 0) {
                put_page(Pfn{p - 1});
            }
        }
        shmem_.erase(v.shmem);
    }
}

// __split_vma() at `at` if a VMA straddles it.
void Kernel::split_vma(Mm& mm, std::uint64_t at) {
    Vma* v = mm.find_vma(at);
    if (v == nullptr || v->start == at) {
        return;
    }
    Vma tail = *v;
    tail.start = at;
    tail.pgoff = v->pgoff + ((at - v->start) >> kPageShift);
    if (tail.shared) {
        ++shmem_[tail.shmem].users;
    }
    v->end = at;
    mm.vmas.emplace(at, tail);
}

// vma_merge(): merge the VMAs in [start, end) with their neighbours where the kernel would.
void Kernel::vma_merge_around(Mm& mm, std::uint64_t start, std::uint64_t end) {
    auto it = mm.vmas.lower_bound(start);
    if (it != mm.vmas.begin()) {
        --it;
    }
    while (it != mm.vmas.end()) {
        auto next = std::next(it);
        if (next == mm.vmas.end() || it->first > end) {
            break;
        }
        Vma& a = it->second;
        Vma& b = next->second;
        const bool b_changed = b.start >= start && b.start < end;
        const Vma& n = b_changed ? a : b;
        const Vma& r = b_changed ? b : a;
        if (a.end == b.start && can_merge(a, b, n, r)) {
            vma_absorb_next(mm, it, n, r);
            continue;
        }
        it = next;
    }
}

// vma_merge() for one changed region (mprotect_fixup()): the VMA at `start` is the region, its neighbours are
// tried as they are now (a neighbour that mprotect changes later still has its old protection). Prev first; the
// region also absorbs next only if prev's and next's anon_vmas are compatible (6.1 cases 1 and 6).
void Kernel::vma_merge_region(Mm& mm, std::uint64_t start) {
    auto it = mm.vmas.find(start);
    if (it == mm.vmas.end()) {
        return;
    }
    const Vma r = it->second;
    auto next = std::next(it);
    const bool merge_next =
        next != mm.vmas.end() && next->second.start == r.end && can_merge(r, next->second, next->second, r);
    if (it != mm.vmas.begin()) {
        auto prev = std::prev(it);
        Vma& p = prev->second;
        if (p.end == r.start && can_merge(p, r, p, r)) {
            const bool all =
                merge_next && (p.anon_vma == 0 || next->second.anon_vma == 0 || p.anon_vma == next->second.anon_vma);
            const Vma* last = all ? &next->second : &r;
            p.end = last->end;
            if (p.anon_vma == 0) {
                p.anon_inherited = r.anon_vma != 0 ? r.anon_inherited : (all ? next->second.anon_inherited : false);
            }
            p.anon_vma = std::max({p.anon_vma, r.anon_vma, all ? next->second.anon_vma : 0U});
            if (r.shared) {
                --shmem_[r.shmem].users;
            }
            if (all) {
                if (next->second.shared) {
                    --shmem_[next->second.shmem].users;
                }
                mm.vmas.erase(next);
            }
            mm.vmas.erase(it);
            return;
        }
    }
    if (merge_next) {
        vma_absorb_next(mm, it, Vma(next->second), Vma(it->second));
    }
}

// The VMA after `it` joins it (vma_merge()): `n` is the existing neighbour, `r` the region, whose anon_vma
// chain decides whether the result counts as inherited.
void Kernel::vma_absorb_next(Mm& mm, std::map<std::uint64_t, Vma>::iterator it, const Vma& n, const Vma& r) {
    auto next = std::next(it);
    Vma& a = it->second;
    const Vma& b = next->second;
    a.end = b.end;
    a.anon_inherited = n.anon_vma != 0 ? n.anon_inherited : r.anon_inherited;
    a.anon_vma = std::max(a.anon_vma, b.anon_vma);
    if (b.shared) {
        --shmem_[b.shmem].users;
    }
    mm.vmas.erase(next);
}

void Kernel::insert_vma(Mm& mm, const Vma& v) {
    mm.vmas.emplace(v.start, v);
    vma_merge_around(mm, v.start, v.end);
}

// do_vmi_munmap(): split at the edges, zap each VMA's part, remove the VMAs, free the page tables.
void Kernel::do_munmap(Mm& mm, std::uint64_t start, std::uint64_t end) {
    if (!range_has_vma(mm, start, end)) {
        return;
    }
    split_vma(mm, start);
    split_vma(mm, end);
    std::vector<Vma> gone;
    for (auto it = mm.vmas.lower_bound(start); it != mm.vmas.end() && it->first < end;) {
        gone.push_back(it->second);
        it = mm.vmas.erase(it);
    }
    unmap_cow_pte_range(mm, start, end);
    for (const Vma& v : gone) {
        unmap_page_range(mm, v, v.start, v.end, ZapKind::Unmap);
    }
    flush_tlb_range(mm, gone.front().start, gone.back().end);
    free_pgtables(mm, gone.front().start, gone.back().end);
    for (const Vma& v : gone) {
        release_vma(mm, v);
    }
}

bool Kernel::mmap(std::uint32_t pid, std::uint64_t addr, std::uint64_t len, std::uint8_t prot, bool shared) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    charge(Cost::SyscallEntry);
    do_munmap(m, addr, addr + len);
    Vma v;
    v.start = addr;
    v.end = addr + len;
    v.prot = prot;
    v.shared = shared;
    v.pgoff = addr >> kPageShift;
    if (shared) {
        v.shmem = ++next_shmem_;
        v.pgoff = 0;
        shmem_[v.shmem].users = 1;
        shmem_[v.shmem].size_pages = len >> kPageShift;
    }
    insert_vma(m, v);
    return true;
}

bool Kernel::munmap(std::uint32_t pid, std::uint64_t addr, std::uint64_t len) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    charge(Cost::SyscallEntry);
    do_munmap(m, addr, addr + len);
    return true;
}

// change_protection() over one VMA's part: PROT_NONE entries lose P and gain _PAGE_PROTNONE; write permission is
// removed, or granted at once to dirty exclusive anon pages (can_change_pte_writable) and to shared pages.
void Kernel::change_protection(Mm& mm, Vma& vma, std::uint64_t start, std::uint64_t end) {
    for (std::uint64_t a = start; a < end; a = pmd_addr_end(a, end)) {
        Pte* pmd = pmd_offset(mm, a, false);
        if (pmd == nullptr || pmd->none()) {
            continue;
        }
        const std::uint64_t next = pmd_addr_end(a, end);
        if (pmd->huge()) {
            split_huge_pmd(mm, *pmd, a);
        }
        if (is_cow_pte(*pmd)) {
            break_cow_pte(mm, *pmd, a);
        }
        Table& t = phys_.table(pmd->pfn());
        for (std::uint64_t p = a; p < next; p += kPageSize) {
            Pte& e = t[VirtAddr{p}.pte_index()];
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

bool Kernel::mprotect(std::uint32_t pid, std::uint64_t addr, std::uint64_t len, std::uint8_t prot) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    charge(Cost::SyscallEntry);
    const std::uint64_t end = addr + len;
    // Linux changes the VMAs from `addr` up to the first hole, then fails with ENOMEM (nothing if addr is unmapped).
    std::uint64_t upto = addr;
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
    if (upto == addr) {
        return false;
    }
    // mprotect_fixup() per VMA in address order, on the part of it in [addr, upto): the shared tables of that part
    // are broken (the patch's break_cow_pte_range()), then 6.1 returns early for unchanged flags: no split, no PTE
    // change, no merge (traces/difftest/repro-mprotect-unchanged-split.trace). A VMA whose protection changes is
    // split to the part, changed (change_protection) and merged with its neighbours.
    for (std::uint64_t at = addr; at < upto;) {
        Vma* v = m.find_vma(at);
        if (v == nullptr) {
            break;
        }
        const std::uint64_t hi = std::min(upto, v->end);
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
    flush_tlb_range(m, addr, upto);
    return complete;
}

bool Kernel::madvise_dontneed(std::uint32_t pid, std::uint64_t addr, std::uint64_t len) {
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

// move_page_tables(): whole PTE tables move when both sides are 2 MiB aligned (move_normal_pmd); otherwise
// entries move one by one (move_ptes). Shared tables are broken first.
void Kernel::move_page_tables(Mm& mm, std::uint64_t old_addr, std::uint64_t new_addr, std::uint64_t len) {
    const std::uint64_t old_end = old_addr + len;
    // Tables move or change on both sides: make every shared one in either range private first.
    break_cow_pte_range(mm, old_addr, old_end);
    break_cow_pte_range(mm, new_addr, new_addr + len);
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
                phys_.frame(new_pmd.pfn()).flags |=
                    static_cast<std::uint8_t>(phys_.frame(old_pmd->pfn()).flags & kTableExclusive);
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

bool Kernel::mremap(std::uint32_t pid, std::uint64_t old_addr, std::uint64_t old_len, std::uint64_t new_addr,
                    std::uint64_t new_len) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    charge(Cost::SyscallEntry);
    const Vma* src = m.find_vma(old_addr);
    const bool overlap = new_addr < old_addr + old_len && old_addr < new_addr + new_len;
    if (src == nullptr || old_addr + old_len > src->end || overlap || old_len == 0 || new_len == 0) {
        ++m.stats.einval;
        return false;
    }
    do_munmap(m, new_addr, new_addr + new_len);
    if (new_len < old_len) {
        do_munmap(m, old_addr + new_len, old_addr + old_len);
        old_len = new_len;
    }
    split_vma(m, old_addr);
    split_vma(m, old_addr + old_len);
    // move_vma(): the new VMA (copy_vma, grown by vma_expand) exists beside the old one while the tables move.
    Vma moved = m.vmas.at(old_addr);
    moved.start = new_addr;
    moved.end = new_addr + new_len;
    if (!moved.shared && moved.anon_vma == 0) {
        // copy_vma(): an anonymous VMA that has not been faulted yet takes the pgoff of its new place, "to increase
        // its chance of merging" (traces/difftest/repro-mremap-anon-pgoff.trace).
        moved.pgoff = new_addr >> kPageShift;
    }
    m.vmas.emplace(new_addr, moved);
    move_page_tables(m, old_addr, new_addr, old_len);
    flush_tlb_range(m, old_addr, old_addr + old_len);
    m.vmas.erase(old_addr);
    vma_merge_around(m, new_addr, new_addr + new_len);
    free_pgtables(m, old_addr, old_addr + old_len);
    return true;
}

// brk(): the heap is [heap_start, brk) rounded up to pages; a break below the start, or a growth onto another
// mapping, is refused and leaves the break where it is. Growing adds an ordinary private rw VMA that merges with its
// neighbours (Mm::is_heap() tells the heap by its range).
bool Kernel::brk(std::uint32_t pid, std::uint64_t addr) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    charge(Cost::SyscallEntry);
    if (!m.has_heap) {
        m.has_heap = true;
        m.heap_start = addr;
        m.brk = addr;
        return true;
    }
    const auto up = [](std::uint64_t a) { return (a + kPageSize - 1) & ~(kPageSize - 1); };
    if (addr < m.heap_start) {
        ++m.stats.einval;
        return false;
    }
    const std::uint64_t old_top = up(m.brk);
    const std::uint64_t new_top = up(addr);
    if (new_top > old_top) {
        if (range_has_vma(m, old_top, new_top)) {
            ++m.stats.einval;
            return false;
        }
        Vma v;
        v.start = old_top;
        v.end = new_top;
        v.prot = 3;
        v.pgoff = old_top >> kPageShift;
        insert_vma(m, v);
    } else if (new_top < old_top) {
        do_munmap(m, new_top, old_top);
    }
    m.brk = addr;
    return true;
}

// pin_user_pages(FOLL_PIN | FOLL_LONGTERM | FOLL_WRITE): fault each page in for write (breaking COW and shared
// tables), then take a pin. The table is marked exclusive so that fork copies it.
std::optional<std::uint64_t> Kernel::pin(std::uint32_t pid, std::uint64_t addr, std::uint64_t len) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    charge(Cost::SyscallEntry);
    for (std::uint64_t a = addr; a < addr + len; a += kPageSize) {
        Vma* vma = m.find_vma(a);
        if (vma == nullptr || vma->shared || !vma->writable()) {
            ++m.stats.pinfail;
            return a;
        }
        Walk w = walk(m, a, false);
        if (!w.present || !w.writable) {
            handle_mm_fault(m, *vma, a, true); // breaks a shared table and COW
        }
        Pte* pmd = pmd_offset(m, a, false);
        if (pmd->huge()) {
            split_huge_pmd(m, *pmd, a);
        }
        w = walk(m, a, false);
        if (!w.writable) {
            handle_mm_fault(m, *vma, a, true);
            w = walk(m, a, false);
        }
        Frame& f = phys_.frame(Pfn{w.pfn});
        ++f.pincount;
        ++f.refcount;
        charge(Cost::PageRefUpdate);
        Pte* p = pmd_offset(m, a, false);
        phys_.frame(p->pfn()).flags |= kTableExclusive;
        m.pins.emplace(a >> kPageShift, w.pfn);
    }
    return std::nullopt;
}

bool Kernel::unpin(std::uint32_t pid, std::uint64_t addr, std::uint64_t len) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    bool all = true;
    for (std::uint64_t a = addr; a < addr + len; a += kPageSize) {
        auto it = m.pins.find(a >> kPageShift);
        if (it == m.pins.end()) {
            all = false;
            continue;
        }
        const Pfn pfn{it->second};
        m.pins.erase(it);
        --phys_.frame(pfn).pincount;
        put_page(pfn);
        charge(Cost::PageRefUpdate);
    }
    if (!all) {
        ++m.stats.einval;
    }
    return all;
}

} // namespace odf
