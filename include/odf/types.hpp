// Strong types for addresses, page numbers and frames, and the x86_64 four-level geometry.
// Passing a frame number where a virtual address is expected does not compile.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace odf {

inline constexpr std::uint64_t kPageShift = 12;
inline constexpr std::uint64_t kPageSize = 1ULL << kPageShift;
inline constexpr std::uint64_t kPtrsPerTable = 512;
inline constexpr std::uint64_t kPmdShift = 21; // one PTE table maps 2 MiB
inline constexpr std::uint64_t kPudShift = 30; // one PMD table maps 1 GiB
inline constexpr std::uint64_t kPgdShift = 39; // one PUD table maps 512 GiB
inline constexpr std::uint64_t kPmdSize = 1ULL << kPmdShift;
inline constexpr std::uint64_t kPudSize = 1ULL << kPudShift;
inline constexpr std::uint64_t kPgdSize = 1ULL << kPgdShift;
inline constexpr std::uint64_t kHugePages = kPmdSize / kPageSize; // 4 KiB pages in a 2 MiB page
inline constexpr std::uint64_t kTaskSize = 1ULL << 47;            // top of the user address space

// Page-table levels, numbered as the SDM does: 1 is the PTE table, 4 the PGD (PML4).
enum class Level : std::uint8_t { Pte = 1, Pmd = 2, Pud = 3, Pgd = 4 };

// A number of 4 KiB pages: a length or an offset counted in pages (a VMA's size, vm_pgoff, a shmem object's size
// and page index). Converting from and to bytes is explicit; it adds to pages, not to addresses or frames.
struct Pages {
    std::uint64_t value = 0;
    constexpr Pages() = default;
    constexpr explicit Pages(std::uint64_t n) : value(n) {}
    constexpr auto operator<=>(const Pages&) const = default; // NOLINT(modernize-use-nullptr): clang-tidy 14 bug

    // The whole pages in `bytes` (rounded down).
    [[nodiscard]] static constexpr Pages from_bytes(std::uint64_t bytes) { return Pages{bytes >> kPageShift}; }
    [[nodiscard]] constexpr std::uint64_t bytes() const { return value << kPageShift; }
    [[nodiscard]] constexpr Pages operator+(Pages o) const { return Pages{value + o.value}; }
    [[nodiscard]] constexpr Pages operator-(Pages o) const { return Pages{value - o.value}; }
};

// A virtual page number (va >> 12).
struct VirtAddr;
struct PageNumber {
    std::uint64_t value = 0;
    constexpr PageNumber() = default;
    constexpr explicit PageNumber(std::uint64_t v) : value(v) {}
    constexpr auto operator<=>(const PageNumber&) const = default; // NOLINT(modernize-use-nullptr): clang-tidy 14 bug

    [[nodiscard]] constexpr VirtAddr addr() const; // the address of the page's first byte
};

// A virtual address. Offsets and lengths are plain byte counts: VirtAddr + bytes is an address, VirtAddr - VirtAddr
// is a byte count.
struct VirtAddr {
    std::uint64_t value = 0;
    constexpr VirtAddr() = default;
    constexpr explicit VirtAddr(std::uint64_t v) : value(v) {}
    constexpr auto operator<=>(const VirtAddr&) const = default; // NOLINT(modernize-use-nullptr): clang-tidy 14 bug

    [[nodiscard]] constexpr PageNumber page() const { return PageNumber{value >> kPageShift}; }
    [[nodiscard]] constexpr std::uint64_t pgd_index() const { return (value >> kPgdShift) & 511; }
    [[nodiscard]] constexpr std::uint64_t pud_index() const { return (value >> kPudShift) & 511; }
    [[nodiscard]] constexpr std::uint64_t pmd_index() const { return (value >> kPmdShift) & 511; }
    [[nodiscard]] constexpr std::uint64_t pte_index() const { return (value >> kPageShift) & 511; }
    // The start of the page containing this address.
    [[nodiscard]] constexpr VirtAddr page_start() const { return align_down(kPageSize); }
    // The address rounded down / up to a multiple of `size` (a power of two: kPageSize, kPmdSize, ...).
    [[nodiscard]] constexpr VirtAddr align_down(std::uint64_t size) const { return VirtAddr{value & ~(size - 1)}; }
    [[nodiscard]] constexpr VirtAddr align_up(std::uint64_t size) const {
        return VirtAddr{(value + size - 1) & ~(size - 1)};
    }
    [[nodiscard]] constexpr bool aligned(std::uint64_t size) const { return (value & (size - 1)) == 0; }
    [[nodiscard]] constexpr VirtAddr operator+(std::uint64_t d) const { return VirtAddr{value + d}; }
    [[nodiscard]] constexpr VirtAddr operator-(std::uint64_t d) const { return VirtAddr{value - d}; }
    [[nodiscard]] constexpr std::uint64_t operator-(VirtAddr o) const { return value - o.value; }
    constexpr VirtAddr& operator+=(std::uint64_t d) {
        value += d;
        return *this;
    }
};

constexpr VirtAddr PageNumber::addr() const {
    return VirtAddr{value << kPageShift};
}

// A physical frame number (physical address >> 12). Pfn::none() is a sentinel that names no frame (a hole).
struct Pfn {
    std::uint64_t value = 0;
    constexpr Pfn() = default;
    constexpr explicit Pfn(std::uint64_t v) : value(v) {}
    constexpr auto operator<=>(const Pfn&) const = default; // NOLINT(modernize-use-nullptr): clang-tidy 14 bug

    [[nodiscard]] static constexpr Pfn none() { return Pfn{~std::uint64_t{0}}; }
    [[nodiscard]] constexpr bool is_none() const { return value == ~std::uint64_t{0}; }
    // The i-th 4 KiB frame after this one (the frames of a 2 MiB page).
    [[nodiscard]] constexpr Pfn operator+(std::uint64_t i) const { return Pfn{value + i}; }
};

// The end of the range mapped by the entry of `level` that maps `addr`, clamped to `end` (the kernel's
// pgd_addr_end / pud_addr_end / pmd_addr_end).
[[nodiscard]] constexpr VirtAddr level_addr_end(VirtAddr addr, VirtAddr end, std::uint64_t size) {
    const std::uint64_t boundary = (addr.value + size) & ~(size - 1);
    return (boundary - 1 < end.value - 1) ? VirtAddr{boundary} : end;
}
[[nodiscard]] constexpr VirtAddr pgd_addr_end(VirtAddr a, VirtAddr e) {
    return level_addr_end(a, e, kPgdSize);
}
[[nodiscard]] constexpr VirtAddr pud_addr_end(VirtAddr a, VirtAddr e) {
    return level_addr_end(a, e, kPudSize);
}
[[nodiscard]] constexpr VirtAddr pmd_addr_end(VirtAddr a, VirtAddr e) {
    return level_addr_end(a, e, kPmdSize);
}

} // namespace odf

template <>
struct std::hash<odf::Pfn> {
    std::size_t operator()(odf::Pfn p) const noexcept { return std::hash<std::uint64_t>{}(p.value); }
};
template <>
struct std::hash<odf::Pages> {
    std::size_t operator()(odf::Pages p) const noexcept { return std::hash<std::uint64_t>{}(p.value); }
};
template <>
struct std::hash<odf::PageNumber> {
    std::size_t operator()(odf::PageNumber p) const noexcept { return std::hash<std::uint64_t>{}(p.value); }
};
