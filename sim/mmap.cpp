// VMAs and the system calls that create and remove them (mm/mmap.c): mmap, munmap, brk, VMA split and merge.
#include "odf/kernel.hpp"

#include <algorithm>

namespace odf {

namespace {

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

Vma* Mm::find_vma(VirtAddr addr) {
    auto it = vmas.upper_bound(addr);
    if (it == vmas.begin()) {
        return nullptr;
    }
    --it;
    return addr < it->second.end ? &it->second : nullptr;
}

const Vma* Mm::find_vma(VirtAddr addr) const {
    return const_cast<Mm*>(this)->find_vma(addr);
}

void Kernel::release_vma(Mm& mm, const Vma& v) {
    (void)mm;
    if (!v.shared) {
        return;
    }
    ShmemObject& obj = shmem_[v.shmem];
    if (--obj.users == 0) {
        for (const Pfn p : obj.pages) {
            if (!p.is_none()) {
                put_page(p);
            }
        }
        shmem_.erase(v.shmem);
    }
}

// __split_vma() at `at` if a VMA straddles it.
void Kernel::split_vma(Mm& mm, VirtAddr at) {
    Vma* v = mm.find_vma(at);
    if (v == nullptr || v->start == at) {
        return;
    }
    Vma tail = *v;
    tail.start = at;
    tail.pgoff = v->linear_page_index(at);
    if (tail.shared) {
        ++shmem_[tail.shmem].users;
    }
    v->end = at;
    mm.vmas.emplace(at, tail);
}

// vma_merge(): merge the VMAs in [start, end) with their neighbours where the kernel would.
void Kernel::vma_merge_around(Mm& mm, VirtAddr start, VirtAddr end) {
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
void Kernel::vma_merge_region(Mm& mm, VirtAddr start) {
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
void Kernel::vma_absorb_next(Mm& mm, const VmaMap::iterator& it, const Vma& n, const Vma& r) {
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
void Kernel::do_munmap(Mm& mm, VirtAddr start, VirtAddr end) {
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

bool Kernel::mmap(std::uint32_t pid, VirtAddr start, std::uint64_t len_bytes, std::uint8_t prot, bool shared) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    charge(Cost::SyscallEntry);
    do_munmap(m, start, start + len_bytes);
    Vma v;
    v.start = start;
    v.end = start + len_bytes;
    v.prot = prot;
    v.shared = shared;
    v.pgoff = Pages::from_bytes(start.value);
    if (shared) {
        v.shmem = ++next_shmem_;
        v.pgoff = Pages{0};
        shmem_[v.shmem].users = 1;
        shmem_[v.shmem].size = Pages::from_bytes(len_bytes);
    }
    insert_vma(m, v);
    return true;
}

bool Kernel::munmap(std::uint32_t pid, VirtAddr start, std::uint64_t len_bytes) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    charge(Cost::SyscallEntry);
    do_munmap(m, start, start + len_bytes);
    return true;
}

// brk(): the heap is [heap_start, brk) rounded up to pages; a break below the start, or a growth onto another
// mapping, is refused and leaves the break where it is. Growing adds an ordinary private rw VMA that merges with its
// neighbours (Mm::is_heap() tells the heap by its range).
bool Kernel::brk(std::uint32_t pid, VirtAddr new_brk) {
    Mm& m = *mm(pid);
    acct_ = &m.stats;
    charge(Cost::SyscallEntry);
    if (!m.has_heap) {
        m.has_heap = true;
        m.heap_start = new_brk;
        m.brk = new_brk;
        return true;
    }
    if (new_brk < m.heap_start) {
        ++m.stats.einval;
        return false;
    }
    const VirtAddr old_top = m.brk.align_up(kPageSize);
    const VirtAddr new_top = new_brk.align_up(kPageSize);
    if (new_top > old_top) {
        if (range_has_vma(m, old_top, new_top)) {
            ++m.stats.einval;
            return false;
        }
        Vma v;
        v.start = old_top;
        v.end = new_top;
        v.prot = kVmRead | kVmWrite;
        v.pgoff = Pages::from_bytes(old_top.value);
        insert_vma(m, v);
    } else if (new_top < old_top) {
        do_munmap(m, new_top, old_top);
    }
    m.brk = new_brk;
    return true;
}

} // namespace odf
