// The reference oracle: a flat model of what every read must return, independent of page tables. Per process,
// page -> content tag for private memory; shared mappings point at shared objects. Fork copies the map.
#pragma once

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
    void mmap(std::uint32_t pid, std::uint64_t addr, std::uint64_t len, bool shared);
    void munmap(std::uint32_t pid, std::uint64_t addr, std::uint64_t len);
    void dontneed(std::uint32_t pid, std::uint64_t addr, std::uint64_t len);
    void mremap(std::uint32_t pid, std::uint64_t old_addr, std::uint64_t old_len, std::uint64_t new_addr,
                std::uint64_t new_len);
    void write(std::uint32_t pid, std::uint64_t va, std::uint64_t tag);
    [[nodiscard]] std::uint64_t read(std::uint32_t pid, std::uint64_t va) const;

  private:
    using Object = std::unordered_map<std::uint64_t, std::uint64_t>; // page index -> tag
    struct SharedRange {
        std::uint64_t end;
        std::shared_ptr<Object> obj;
        std::uint64_t pgoff;
    };
    struct Space {
        std::unordered_map<std::uint64_t, std::uint64_t> priv; // vpn -> tag
        std::map<std::uint64_t, SharedRange> shared;           // start -> range
    };
    void clear_range(Space& s, std::uint64_t start, std::uint64_t end);
    const SharedRange* find_shared(const Space& s, std::uint64_t va, std::uint64_t& start) const;
    std::unordered_map<std::uint32_t, Space> spaces_;
};

} // namespace odf
