#include "odf/tlb.hpp"

#include <algorithm>

namespace odf {

void Tlb::Array::init(int entries, int ways_) {
    ways = std::max(1, std::min(ways_, entries));
    sets = std::max(1, entries / ways);
    const auto n = static_cast<std::size_t>(sets * ways);
    key.assign(n, 0);
    pfn.assign(n, 0);
    stamp.assign(n, 0);
    bits.assign(n, 0);
}

int Tlb::Array::find(std::uint64_t k) const {
    const int base = static_cast<int>((k >> 1) % static_cast<std::uint64_t>(sets)) * ways;
    for (int i = base; i < base + ways; ++i) {
        if (key[static_cast<std::size_t>(i)] == k) {
            return i;
        }
    }
    return -1;
}

int Tlb::Array::victim(std::uint64_t k) const {
    const int base = static_cast<int>((k >> 1) % static_cast<std::uint64_t>(sets)) * ways;
    int best = base;
    for (int i = base; i < base + ways; ++i) {
        if (key[static_cast<std::size_t>(i)] == 0) {
            return i;
        }
        if (stamp[static_cast<std::size_t>(i)] < stamp[static_cast<std::size_t>(best)]) {
            best = i;
        }
    }
    return best;
}

Tlb::Tlb(const TlbGeometry& g) {
    l1_.init(g.l1_entries, g.l1_ways);
    l2_.init(g.l2_entries, g.l2_ways);
    for (auto& p : pwc_) {
        p.assign(static_cast<std::size_t>(std::max(1, g.pwc_entries)), 0);
    }
    pwc_next_.assign(3, 0);
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
    a.stamp[s] = ++clock_;
    out.pfn = huge ? a.pfn[s] + (vpn & (kHugeSpan - 1)) : a.pfn[s];
    out.writable = (a.bits[s] & 1) != 0;
    out.dirty = (a.bits[s] & 2) != 0;
    return true;
}

TlbHit Tlb::lookup(std::uint64_t vpn, TlbEntry& out) {
    bool huge = false;
    if (find_in(l1_, vpn, out, huge)) {
        return TlbHit::L1;
    }
    if (find_in(l2_, vpn, out, huge)) {
        const std::uint64_t base = huge ? out.pfn - (vpn & (kHugeSpan - 1)) : out.pfn;
        put(l1_, huge ? key2m(vpn) : key4k(vpn), base,
            static_cast<std::uint8_t>((out.writable ? 1 : 0) | (out.dirty ? 2 : 0)));
        return TlbHit::L2;
    }
    return TlbHit::Miss;
}

void Tlb::put(Array& a, std::uint64_t k, std::uint64_t pfn, std::uint8_t bits) {
    int i = a.find(k);
    if (i < 0) {
        i = a.victim(k);
    }
    const auto s = static_cast<std::size_t>(i);
    a.key[s] = k;
    a.pfn[s] = pfn;
    a.bits[s] = bits;
    a.stamp[s] = ++clock_;
}

void Tlb::insert(std::uint64_t vpn, const TlbEntry& e, bool huge) {
    const auto bits = static_cast<std::uint8_t>((e.writable ? 1 : 0) | (e.dirty ? 2 : 0));
    if (huge) {
        any_huge_ = true;
        const std::uint64_t base = e.pfn - (vpn & (kHugeSpan - 1));
        put(l1_, key2m(vpn), base, bits);
        put(l2_, key2m(vpn), base, bits);
    } else {
        put(l1_, key4k(vpn), e.pfn, bits);
        put(l2_, key4k(vpn), e.pfn, bits);
    }
}

void Tlb::set_dirty(std::uint64_t vpn) {
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
    std::fill(l1_.key.begin(), l1_.key.end(), 0);
    std::fill(l2_.key.begin(), l2_.key.end(), 0);
    for (auto& p : pwc_) {
        std::fill(p.begin(), p.end(), 0);
    }
    any_huge_ = false;
}

void Tlb::flush_page(std::uint64_t vpn) {
    for (Array* a : {&l1_, &l2_}) {
        for (std::uint64_t k : {key4k(vpn), key2m(vpn)}) {
            const int i = a->find(k);
            if (i >= 0) {
                a->key[static_cast<std::size_t>(i)] = 0;
            }
        }
    }
    // invlpg also drops the paging-structure caches.
    for (auto& p : pwc_) {
        std::fill(p.begin(), p.end(), 0);
    }
}

int Tlb::pwc_lookup(std::uint64_t va) const {
    static constexpr int kShift[3] = {39, 30, 21};
    int skip = 0;
    for (int lvl = 0; lvl < 3; ++lvl) {
        const std::uint64_t k = (va >> kShift[lvl]) + 1;
        const auto& c = pwc_[lvl];
        if (std::find(c.begin(), c.end(), k) == c.end()) {
            break;
        }
        skip = lvl + 1;
    }
    return skip;
}

void Tlb::pwc_fill(std::uint64_t va, bool pde_is_leaf) {
    static constexpr int kShift[3] = {39, 30, 21};
    const int levels = pde_is_leaf ? 2 : 3;
    for (int lvl = 0; lvl < levels; ++lvl) {
        const std::uint64_t k = (va >> kShift[lvl]) + 1;
        auto& c = pwc_[lvl];
        if (std::find(c.begin(), c.end(), k) != c.end()) {
            continue;
        }
        c[pwc_next_[static_cast<std::size_t>(lvl)]] = k;
        pwc_next_[static_cast<std::size_t>(lvl)] = (pwc_next_[static_cast<std::size_t>(lvl)] + 1) % c.size();
    }
}

} // namespace odf
