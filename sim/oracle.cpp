#include "odf/oracle.hpp"

#include "odf/types.hpp"

namespace odf {

void Oracle::create(std::uint32_t pid) {
    spaces_[pid] = Space{};
}
void Oracle::fork(std::uint32_t parent, std::uint32_t child) {
    spaces_[child] = spaces_.at(parent);
}
void Oracle::exit(std::uint32_t pid) {
    spaces_.erase(pid);
}
void Oracle::exec(std::uint32_t pid) {
    spaces_[pid] = Space{};
}

void Oracle::clear_range(Space& s, std::uint64_t start, std::uint64_t end) {
    if ((end - start) / kPageSize < s.priv.size()) {
        for (std::uint64_t a = start; a < end; a += kPageSize) {
            s.priv.erase(a >> kPageShift);
        }
    } else {
        std::erase_if(s.priv, [&](const auto& kv) {
            return kv.first >= (start >> kPageShift) && kv.first < (end >> kPageShift);
        });
    }
    // Clip shared ranges.
    std::vector<std::pair<std::uint64_t, SharedRange>> keep;
    for (auto it = s.shared.begin(); it != s.shared.end();) {
        const std::uint64_t lo = it->first;
        const std::uint64_t hi = it->second.end;
        if (hi <= start || lo >= end) {
            ++it;
            continue;
        }
        if (lo < start) {
            keep.emplace_back(lo, SharedRange{start, it->second.obj, it->second.pgoff});
        }
        if (hi > end) {
            keep.emplace_back(end, SharedRange{hi, it->second.obj, it->second.pgoff + ((end - lo) >> kPageShift)});
        }
        it = s.shared.erase(it);
    }
    for (auto& [k, v] : keep) {
        s.shared.emplace(k, v);
    }
}

void Oracle::mmap(std::uint32_t pid, std::uint64_t addr, std::uint64_t len, bool shared) {
    Space& s = spaces_.at(pid);
    clear_range(s, addr, addr + len);
    if (shared) {
        s.shared.emplace(addr, SharedRange{addr + len, std::make_shared<Object>(), 0});
    }
}

void Oracle::munmap(std::uint32_t pid, std::uint64_t addr, std::uint64_t len) {
    clear_range(spaces_.at(pid), addr, addr + len);
}

void Oracle::dontneed(std::uint32_t pid, std::uint64_t addr, std::uint64_t len) {
    Space& s = spaces_.at(pid);
    for (std::uint64_t a = addr; a < addr + len; a += kPageSize) {
        std::uint64_t start = 0;
        if (find_shared(s, a, start) == nullptr) {
            s.priv.erase(a >> kPageShift);
        }
    }
}

void Oracle::mremap(std::uint32_t pid, std::uint64_t old_addr, std::uint64_t old_len, std::uint64_t new_addr,
                    std::uint64_t new_len) {
    Space& s = spaces_.at(pid);
    const std::uint64_t moved = std::min(old_len, new_len);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> pages;
    for (std::uint64_t o = 0; o < moved; o += kPageSize) {
        auto it = s.priv.find((old_addr + o) >> kPageShift);
        if (it != s.priv.end()) {
            pages.emplace_back(o, it->second);
        }
    }
    std::uint64_t start = 0;
    const SharedRange* sr = find_shared(s, old_addr, start);
    std::shared_ptr<Object> obj;
    std::uint64_t pgoff = 0;
    if (sr != nullptr) {
        obj = sr->obj;
        pgoff = sr->pgoff + ((old_addr - start) >> kPageShift);
    }
    clear_range(s, new_addr, new_addr + new_len);
    clear_range(s, old_addr, old_addr + old_len);
    for (auto& [o, tag] : pages) {
        s.priv[(new_addr + o) >> kPageShift] = tag;
    }
    if (obj) {
        s.shared.emplace(new_addr, SharedRange{new_addr + new_len, obj, pgoff});
    }
}

const Oracle::SharedRange* Oracle::find_shared(const Space& s, std::uint64_t va, std::uint64_t& start) const {
    auto it = s.shared.upper_bound(va);
    if (it == s.shared.begin()) {
        return nullptr;
    }
    --it;
    if (va >= it->second.end) {
        return nullptr;
    }
    start = it->first;
    return &it->second;
}

void Oracle::write(std::uint32_t pid, std::uint64_t va, std::uint64_t tag) {
    Space& s = spaces_.at(pid);
    std::uint64_t start = 0;
    if (const SharedRange* r = find_shared(s, va, start)) {
        (*r->obj)[r->pgoff + ((va - start) >> kPageShift)] = tag;
        return;
    }
    s.priv[va >> kPageShift] = tag;
}

std::uint64_t Oracle::read(std::uint32_t pid, std::uint64_t va) const {
    const Space& s = spaces_.at(pid);
    std::uint64_t start = 0;
    if (const SharedRange* r = find_shared(s, va, start)) {
        auto it = r->obj->find(r->pgoff + ((va - start) >> kPageShift));
        return it == r->obj->end() ? 0 : it->second;
    }
    auto it = s.priv.find(va >> kPageShift);
    return it == s.priv.end() ? 0 : it->second;
}

} // namespace odf
