#include "odf/oracle.hpp"

#include <algorithm>

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

void Oracle::clear_range(Space& s, VirtAddr start, VirtAddr end) {
    if ((end - start) / kPageSize < s.priv.size()) {
        for (VirtAddr a = start; a < end; a += kPageSize) {
            s.priv.erase(a.page());
        }
    } else {
        std::erase_if(s.priv, [&](const auto& kv) { return kv.first >= start.page() && kv.first < end.page(); });
    }
    // Clip shared ranges.
    std::vector<std::pair<VirtAddr, SharedRange>> keep;
    for (auto it = s.shared.begin(); it != s.shared.end();) {
        const VirtAddr lo = it->first;
        const VirtAddr hi = it->second.end;
        if (hi <= start || lo >= end) {
            ++it;
            continue;
        }
        if (lo < start) {
            keep.emplace_back(lo, SharedRange{start, it->second.obj, it->second.pgoff});
        }
        if (hi > end) {
            keep.emplace_back(end, SharedRange{hi, it->second.obj, it->second.index(lo, end)});
        }
        it = s.shared.erase(it);
    }
    for (auto& [k, v] : keep) {
        s.shared.emplace(k, v);
    }
}

void Oracle::mmap(std::uint32_t pid, VirtAddr addr, std::uint64_t len_bytes, bool shared) {
    Space& s = spaces_.at(pid);
    clear_range(s, addr, addr + len_bytes);
    if (shared) {
        s.shared.emplace(addr, SharedRange{addr + len_bytes, std::make_shared<Object>(), Pages{0}});
    }
}

void Oracle::munmap(std::uint32_t pid, VirtAddr addr, std::uint64_t len_bytes) {
    clear_range(spaces_.at(pid), addr, addr + len_bytes);
}

void Oracle::dontneed(std::uint32_t pid, VirtAddr addr, std::uint64_t len_bytes) {
    Space& s = spaces_.at(pid);
    for (VirtAddr a = addr; a < addr + len_bytes; a += kPageSize) {
        VirtAddr start;
        if (find_shared(s, a, start) == nullptr) {
            s.priv.erase(a.page());
        }
    }
}

void Oracle::mremap(std::uint32_t pid, VirtAddr old_addr, std::uint64_t old_len_bytes, VirtAddr new_addr,
                    std::uint64_t new_len_bytes) {
    Space& s = spaces_.at(pid);
    const std::uint64_t moved_bytes = std::min(old_len_bytes, new_len_bytes);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> pages; // byte offset -> tag
    for (std::uint64_t o = 0; o < moved_bytes; o += kPageSize) {
        auto it = s.priv.find((old_addr + o).page());
        if (it != s.priv.end()) {
            pages.emplace_back(o, it->second);
        }
    }
    VirtAddr start;
    const SharedRange* sr = find_shared(s, old_addr, start);
    std::shared_ptr<Object> obj;
    Pages pgoff;
    if (sr != nullptr) {
        obj = sr->obj;
        pgoff = sr->index(start, old_addr);
    }
    clear_range(s, new_addr, new_addr + new_len_bytes);
    clear_range(s, old_addr, old_addr + old_len_bytes);
    for (auto& [o, tag] : pages) {
        s.priv[(new_addr + o).page()] = tag;
    }
    if (obj) {
        s.shared.emplace(new_addr, SharedRange{new_addr + new_len_bytes, obj, pgoff});
    }
}

const Oracle::SharedRange* Oracle::find_shared(const Space& s, VirtAddr va, VirtAddr& start) {
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

void Oracle::write(std::uint32_t pid, VirtAddr va, std::uint64_t tag) {
    Space& s = spaces_.at(pid);
    VirtAddr start;
    if (const SharedRange* r = find_shared(s, va, start)) {
        (*r->obj)[r->index(start, va)] = tag;
        return;
    }
    s.priv[va.page()] = tag;
}

std::uint64_t Oracle::read(std::uint32_t pid, VirtAddr va) const {
    const Space& s = spaces_.at(pid);
    VirtAddr start;
    if (const SharedRange* r = find_shared(s, va, start)) {
        auto it = r->obj->find(r->index(start, va));
        return it == r->obj->end() ? 0 : it->second;
    }
    auto it = s.priv.find(va.page());
    return it == s.priv.end() ? 0 : it->second;
}

} // namespace odf
