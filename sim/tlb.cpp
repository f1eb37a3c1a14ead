#include "odf/tlb.hpp"

#include <algorithm>

namespace odf {

void Tlb::Array::init(int entries, int ways_) {
    ways = std::max(1, std::min(ways_, entries));
    sets = std::max(1, entries / ways);
    const auto n = static_cast<std::size_t>(sets) * static_cast<std::size_t>(ways);
    const auto pow2 = [](int x) { return (x & (x - 1)) == 0; };
    set_mask = pow2(sets) ? static_cast<std::uint64_t>(sets - 1) : 0;
    way_shift = -1;
    if (pow2(ways)) {
        way_shift = 0;
        while ((1 << way_shift) < ways) {
            ++way_shift;
        }
    }
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
            const int i = base + w;
            prev[static_cast<std::size_t>(i)] = w == 0 ? -1 : i - 1;
            next[static_cast<std::size_t>(i)] = w == ways - 1 ? -1 : i + 1;
        }
        head[static_cast<std::size_t>(s)] = base;
        tail[static_cast<std::size_t>(s)] = base + ways - 1;
    }
    if (indexed()) {
        std::size_t size = 1;
        while (size < n * 8) { // load factor <= 1/8: short probe sequences and cheap backward-shift erases
            size <<= 1;
        }
        idx_key.assign(size, 0);
        idx_slot.assign(size, -1);
        idx_mask = size - 1;
    }
}

void Tlb::Array::demote(int i) {
    const std::size_t s = set_of_slot(i);
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
    const int pwc = std::max(1, g.pwc_entries);
    pwc_n_ = static_cast<std::size_t>(pwc);
    pwc_.assign(3 * pwc_n_, 0);
    pwc_mask_ = (pwc & (pwc - 1)) == 0 ? static_cast<std::uint64_t>(pwc - 1) : 0;
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

void Tlb::insert(PageNumber page, const TlbEntry& e, bool huge, bool absent) {
    const std::uint64_t vpn = page.value;
    const auto bits = static_cast<std::uint8_t>((e.writable ? 1 : 0) | (e.dirty ? 2 : 0));
    std::uint64_t k = key4k(vpn);
    std::uint64_t pfn = e.pfn.value;
    if (huge) {
        any_huge_ = true;
        k = key2m(vpn);
        pfn = e.pfn.value - (vpn & (kHugeSpan - 1));
    }
    if (absent) {
        fill(l1_, k, pfn, bits);
        fill(l2_, k, pfn, bits);
    } else {
        put(l1_, k, pfn, bits);
        put(l2_, k, pfn, bits);
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
    std::fill(pwc_.begin(), pwc_.end(), 0);
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
    std::fill(pwc_.begin(), pwc_.end(), 0);
}

} // namespace odf
