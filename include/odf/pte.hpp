// A bit-accurate x86_64 page-table entry (Intel SDM Vol. 3A, 4.5): a value with named accessors.
#pragma once

#include "odf/types.hpp"

#include <cstdint>

namespace odf {

struct Pte {
    std::uint64_t raw = 0;

    static constexpr std::uint64_t kPresent = 1ULL << 0;
    static constexpr std::uint64_t kRw = 1ULL << 1;
    static constexpr std::uint64_t kUser = 1ULL << 2;
    static constexpr std::uint64_t kAccessed = 1ULL << 5;
    static constexpr std::uint64_t kDirty = 1ULL << 6;
    static constexpr std::uint64_t kPs = 1ULL << 7;      // 2 MiB page when set in a PMD entry
    static constexpr std::uint64_t kGlobal = 1ULL << 8;  // also Linux's _PAGE_PROTNONE when P is clear
    static constexpr std::uint64_t kSpecial = 1ULL << 9; // software bit: Linux's _PAGE_SPECIAL (zero page)
    static constexpr std::uint64_t kNx = 1ULL << 63;
    static constexpr std::uint64_t kPfnMask = 0x000f'ffff'ffff'f000ULL;                       // bits 12..51
    static constexpr std::uint64_t kTableFlags = kPresent | kRw | kUser | kAccessed | kDirty; // _PAGE_TABLE

    [[nodiscard]] constexpr bool none() const { return raw == 0; }
    // Linux's pte_present(): P, or a PROT_NONE entry that still maps a page.
    [[nodiscard]] constexpr bool present() const { return (raw & (kPresent | kGlobal)) != 0 && !none(); }
    [[nodiscard]] constexpr bool hw_present() const { return (raw & kPresent) != 0; }
    [[nodiscard]] constexpr bool writable() const { return (raw & kRw) != 0; }
    [[nodiscard]] constexpr bool user() const { return (raw & kUser) != 0; }
    [[nodiscard]] constexpr bool accessed() const { return (raw & kAccessed) != 0; }
    [[nodiscard]] constexpr bool dirty() const { return (raw & kDirty) != 0; }
    [[nodiscard]] constexpr bool huge() const { return (raw & kPs) != 0; }
    [[nodiscard]] constexpr bool special() const { return (raw & kSpecial) != 0; }
    [[nodiscard]] constexpr bool protnone() const { return (raw & (kPresent | kGlobal)) == kGlobal; }
    [[nodiscard]] constexpr bool nx() const { return (raw & kNx) != 0; }
    [[nodiscard]] constexpr Pfn pfn() const { return Pfn{(raw & kPfnMask) >> kPageShift}; }

    [[nodiscard]] constexpr Pte set(std::uint64_t bits) const { return Pte{raw | bits}; }
    [[nodiscard]] constexpr Pte clear(std::uint64_t bits) const { return Pte{raw & ~bits}; }
    [[nodiscard]] constexpr Pte wrprotect() const { return clear(kRw); }
    [[nodiscard]] constexpr Pte mkwrite() const { return set(kRw); }
    [[nodiscard]] constexpr Pte mkold() const { return clear(kAccessed); }

    [[nodiscard]] static constexpr Pte make(Pfn pfn, std::uint64_t flags) {
        return Pte{((pfn.value << kPageShift) & kPfnMask) | flags};
    }
    // An entry of an upper-level table pointing at a lower-level table.
    [[nodiscard]] static constexpr Pte table(Pfn pfn) { return make(pfn, kTableFlags); }
    constexpr bool operator==(const Pte&) const = default;
};
static_assert(sizeof(Pte) == 8);
static_assert(Pte::make(Pfn{0x12345}, Pte::kPresent).pfn().value == 0x12345);

} // namespace odf
