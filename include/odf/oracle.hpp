// The reference oracle: a flat model of what every read must return, independent of page tables. Per process,
// page -> content tag for private memory; shared mappings point at shared objects. Fork copies the map.
#pragma once

#include "odf/types.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

namespace odf {

class Oracle {
  public:
    void create(std::uint32_t pid);
    void fork(std::uint32_t parent, std::uint32_t child);
    void exit(std::uint32_t pid);
    void exec(std::uint32_t pid);
    void mmap(std::uint32_t pid, VirtAddr addr, std::uint64_t len_bytes, bool shared);
    void munmap(std::uint32_t pid, VirtAddr addr, std::uint64_t len_bytes);
    void dontneed(std::uint32_t pid, VirtAddr addr, std::uint64_t len_bytes);
    void mremap(std::uint32_t pid, VirtAddr old_addr, std::uint64_t old_len_bytes, VirtAddr new_addr,
                std::uint64_t new_len_bytes);
    void write(std::uint32_t pid, VirtAddr va, std::uint64_t tag);
    [[nodiscard]] std::uint64_t read(std::uint32_t pid, VirtAddr va) const;

  private:
    using Object = std::unordered_map<Pages, std::uint64_t>; // page index -> tag
    struct SharedRange {
        VirtAddr end;
        std::shared_ptr<Object> obj;
        Pages pgoff; // the object's page index at the range's start
        // The object's page index of va in a range starting at start.
        [[nodiscard]] Pages index(VirtAddr start, VirtAddr va) const { return pgoff + Pages::from_bytes(va - start); }
    };
    struct Space {
        std::unordered_map<PageNumber, std::uint64_t> priv; // page -> tag
        std::map<VirtAddr, SharedRange> shared;             // start -> range
    };
    static void clear_range(Space& s, VirtAddr start, VirtAddr end);
    static const SharedRange* find_shared(const Space& s, VirtAddr va, VirtAddr& start);
    std::unordered_map<std::uint32_t, Space> spaces_;
};

} // namespace odf
