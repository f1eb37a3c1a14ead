#include "odf/tlb.hpp"

#include <algorithm>

namespace odf {

void Tlb::Array::init(int entries, int ways_) {
    ways = std::max(1, std::min(ways_, entries));
    sets = std::max(1, entries / ways);
    const auto n = static_cast<std::size_t>(sets * ways);
    key.assign(n, 0);
    pfn.assign(n, 0);
    bits.assign(n, 0);
    prev.assign(n, -1);
    next.assign(n, -1);
    head.assign(static_cast<std::size_t>(sets), -1);
    tail.assign(static_cast<std::size_t>(sets), -1);
    for (int s = 0; s < sets; ++s) {
        const int base = s * ways;
        for (int w = 0; w < ways; ++w) {
            prev[static_cast<std::size_t>(base + w)] = w == 0 ? -1 : base + w - 1;
            next[static_cast<std::size_t>(base + w)] = w == ways - 1 ? -1 : base + w + 1;
        }
        head[static_cast<std::size_t>(s)] = base;
        tail[static_cast<std::size_t>(s)] = base + ways - 1;
    }
    if (indexed()) {
        std::size_t size = 1;
        while (size < n * 4) {
            size <<= 1;
        }
        idx_key.assign(size, 0);
        idx_slot.assign(size, -1);
        idx_mask = size - 1;
    }
}

void Tlb::Array::idx_insert(std::uint64_t k, int slot) {
    std::uint64_t h = home(k);
    while (idx_key[h] != 0 && idx_key[h] != k) {
        h = (h + 1) & idx_mask;
    }
    idx_key[h] = k;
    idx_slot[h] = slot;
}

// Linear-probing deletion with backward shift: the table never holds tombstones.
void Tlb::Array::idx_erase(std::uint64_t k) {
    std::uint64_t h = home(k);
    while (idx_key[h] != k) {
        if (idx_key[h] == 0) {
            return;
        }
        h = (h + 1) & idx_mask;
    }
    std::uint64_t hole = h;
    for (std::uint64_t j = (hole + 1) & idx_mask; idx_key[j] != 0; j = (j + 1) & idx_mask) {
        const std::uint64_t want = home(idx_key[j]);
        // move j into the hole unless its home lies cyclically in (hole, j]
        const bool stays = hole <= j ? (want > hole && want <= j) : (want > hole || want <= j);
        if (!stays) {
            idx_key[hole] = idx_key[j];
            idx_slot[hole] = idx_slot[j];
            hole = j;
        }
    }
    idx_key[hole] = 0;
    idx_slot[hole] = -1;
}

void Tlb::Array::set_key(int i, std::uint64_t k) {
    const auto u = static_cast<std::size_t>(i);
    if (indexed()) {
        if (key[u] != 0) {
            idx_erase(key[u]);
        }
        if (k != 0) {
            idx_insert(k, i);
        }
    }
    key[u] = k;
}

int Tlb::Array::find(std::uint64_t k) const {
    if (indexed()) {
        for (std::uint64_t h = home(k);; h = (h + 1) & idx_mask) {
            if (idx_key[h] == k) {
                return idx_slot[h];
            }
            if (idx_key[h] == 0) {
                return -1;
            }
        }
    }
    const int base = set_of(k) * ways;
    const std::uint64_t* p = key.data() + base;
    for (int i = 0; i < ways; ++i) {
        if (p[i] == k) {
            return base + i;
        }
    }
    return -1;
}

void Tlb::Array::touch(int i) {
    const auto s = static_cast<std::size_t>(i / ways);
    if (head[s] == i) {
        return;
    }
    const auto u = static_cast<std::size_t>(i);
    // unlink (i is not the head, so it has a predecessor)
    next[static_cast<std::size_t>(prev[u])] = next[u];
    if (next[u] >= 0) {
        prev[static_cast<std::size_t>(next[u])] = prev[u];
    } else {
        tail[s] = prev[u];
    }
    prev[u] = -1;
    next[u] = head[s];
    prev[static_cast<std::size_t>(head[s])] = i;
    head[s] = i;
}

void Tlb::Array::demote(int i) {
    const auto s = static_cast<std::size_t>(i / ways);
    if (tail[s] == i) {
        return;
    }
    const auto u = static_cast<std::size_t>(i);
    if (prev[u] >= 0) {
        next[static_cast<std::size_t>(prev[u])] = next[u];
    } else {
        head[s] = next[u];
    }
    prev[static_cast<std::size_t>(next[u])] = prev[u];
    next[u] = -1;
    prev[u] = tail[s];
    next[static_cast<std::size_t>(tail[s])] = i;
    tail[s] = i;
}

Tlb::Tlb(const TlbGeometry& g) {
    l1_.init(g.l1_entries, g.l1_ways);
    l2_.init(g.l2_entries, g.l2_ways);
    for (auto& p : pwc_) {
        p.assign(static_cast<std::size_t>(std::max(1, g.pwc_entries)), 0);
    }
}

bool Tlb::find_in(Array& a, std::uint64_t vpn, TlbEntry& out, bool& huge) {
    int i = a.find(key4k(vpn));
    huge = false;
    if (i < 0 && any_huge_) {
        i = a.find(key2m(vpn));
        huge = i >= 0;
    }
    if (i < 0) {
        return false;
    }
    const auto s = static_cast<std::size_t>(i);
    a.touch(i);
    out.pfn = Pfn{huge ? a.pfn[s] + (vpn & (kHugeSpan - 1)) : a.pfn[s]};
    out.writable = (a.bits[s] & 1) != 0;
    out.dirty = (a.bits[s] & 2) != 0;
    return true;
}

TlbHit Tlb::lookup(PageNumber page, TlbEntry& out) {
    const std::uint64_t vpn = page.value;
    bool huge = false;
    if (find_in(l1_, vpn, out, huge)) {
        return TlbHit::L1;
    }
    if (find_in(l2_, vpn, out, huge)) {
        const std::uint64_t base = huge ? out.pfn.value - (vpn & (kHugeSpan - 1)) : out.pfn.value;
        put(l1_, huge ? key2m(vpn) : key4k(vpn), base,
            static_cast<std::uint8_t>((out.writable ? 1 : 0) | (out.dirty ? 2 : 0)));
        return TlbHit::L2;
    }
    return TlbHit::Miss;
}

void Tlb::put(Array& a, std::uint64_t k, std::uint64_t pfn, std::uint8_t bits) {
    int i = a.find(k);
    if (i < 0) {
        i = a.tail[static_cast<std::size_t>(a.set_of(k))];
    }
    const auto s = static_cast<std::size_t>(i);
    if (a.key[s] != k) {
        a.set_key(i, k);
    }
    a.pfn[s] = pfn;
    a.bits[s] = bits;
    a.touch(i);
}

void Tlb::insert(PageNumber page, const TlbEntry& e, bool huge) {
    const std::uint64_t vpn = page.value;
    const auto bits = static_cast<std::uint8_t>((e.writable ? 1 : 0) | (e.dirty ? 2 : 0));
    if (huge) {
        any_huge_ = true;
        const std::uint64_t base = e.pfn.value - (vpn & (kHugeSpan - 1));
        put(l1_, key2m(vpn), base, bits);
        put(l2_, key2m(vpn), base, bits);
    } else {
        put(l1_, key4k(vpn), e.pfn.value, bits);
        put(l2_, key4k(vpn), e.pfn.value, bits);
    }
}

void Tlb::set_dirty(PageNumber page) {
    const std::uint64_t vpn = page.value;
    for (Array* a : {&l1_, &l2_}) {
        for (std::uint64_t k : {key4k(vpn), key2m(vpn)}) {
            const int i = a->find(k);
            if (i >= 0) {
                a->bits[static_cast<std::size_t>(i)] |= 2;
            }
        }
    }
}

void Tlb::flush_all() {
    for (Array* a : {&l1_, &l2_}) {
        std::fill(a->key.begin(), a->key.end(), 0);
        std::fill(a->idx_key.begin(), a->idx_key.end(), 0);
        std::fill(a->idx_slot.begin(), a->idx_slot.end(), -1);
    }
    for (auto& p : pwc_) {
        std::fill(p.begin(), p.end(), 0);
    }
    any_huge_ = false;
}

void Tlb::flush_page(PageNumber page) {
    const std::uint64_t vpn = page.value;
    for (Array* a : {&l1_, &l2_}) {
        for (std::uint64_t k : {key4k(vpn), key2m(vpn)}) {
            const int i = a->find(k);
            if (i >= 0) {
                a->set_key(i, 0);
                a->demote(i);
            }
        }
    }
    // invlpg also drops the paging-structure caches.
    for (auto& p : pwc_) {
        std::fill(p.begin(), p.end(), 0);
    }
}

// The page-walk caches are modelled direct-mapped (slot = key mod entries): one probe per level.
int Tlb::pwc_lookup(VirtAddr addr) const {
    const std::uint64_t va = addr.value;
    static constexpr int kShift[3] = {39, 30, 21};
    int skip = 0;
    for (int lvl = 0; lvl < 3; ++lvl) {
        const std::uint64_t k = (va >> kShift[lvl]) + 1;
        const auto& c = pwc_[lvl];
        if (c[k % c.size()] != k) {
            break;
        }
        skip = lvl + 1;
    }
    return skip;
}

void Tlb::pwc_fill(VirtAddr addr, bool pde_is_leaf) {
    const std::uint64_t va = addr.value;
    static constexpr int kShift[3] = {39, 30, 21};
    const int levels = pde_is_leaf ? 2 : 3;
    for (int lvl = 0; lvl < levels; ++lvl) {
        const std::uint64_t k = (va >> kShift[lvl]) + 1;
        auto& c = pwc_[lvl];
        c[k % c.size()] = k;
    }
}

} // namespace odf
