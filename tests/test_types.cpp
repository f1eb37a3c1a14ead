// The strong address types: the model's entry points take VirtAddr where they mean a virtual address and hold Pfn
// where they mean a frame, so that passing one for the other (or a bare integer) does not compile. These checks
// run at compile time; the TEST_CASE only makes them visible in the test list.
#include "odf/kernel.hpp"
#include "odf/tlb.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

using namespace odf;

namespace {

// Whether `Kernel::access(Mm&, A, bool, tag)` accepts an A.
template <typename A>
concept AccessTakes = requires(Kernel& k, Mm& mm, A a) {
    k.access(mm, a, false, std::uint64_t{0});
};
template <typename A>
concept MmapTakes = requires(Kernel& k, A a) {
    k.mmap(1U, a, std::uint64_t{4096}, std::uint8_t{3}, false);
};
template <typename A>
concept MprotectTakes = requires(Kernel& k, A a) {
    k.mprotect(1U, a, std::uint64_t{4096}, std::uint8_t{1});
};
template <typename A>
concept PinTakes = requires(Kernel& k, A a) {
    k.pin(1U, a, std::uint64_t{4096});
};
template <typename A>
concept ReadrefTakes = requires(Kernel& k, A a) {
    k.readref(1U, a);
};
template <typename A>
concept LookupTakes = requires(const Kernel& k, const Mm& mm, A a) {
    k.lookup(mm, a, Level::Pte);
};
template <typename A>
concept FrameTakes = requires(PhysMem& pm, A a) {
    pm.frame(a);
};
template <typename A>
concept TlbLookupTakes = requires(Tlb& t, A a, TlbEntry& e) {
    t.lookup(a, e);
};

} // namespace

// Addresses: a VirtAddr is accepted; a frame number, a page number or a bare integer is not.
static_assert(AccessTakes<VirtAddr>);
static_assert(!AccessTakes<Pfn>);
static_assert(!AccessTakes<PageNumber>);
static_assert(!AccessTakes<std::uint64_t>);
static_assert(MmapTakes<VirtAddr> && !MmapTakes<Pfn> && !MmapTakes<std::uint64_t>);
static_assert(MprotectTakes<VirtAddr> && !MprotectTakes<Pfn>);
static_assert(PinTakes<VirtAddr> && !PinTakes<Pfn>);
static_assert(ReadrefTakes<VirtAddr> && !ReadrefTakes<Pfn>);
static_assert(LookupTakes<VirtAddr> && !LookupTakes<Pfn>);
// Frames: a Pfn is accepted; an address or a bare integer is not.
static_assert(FrameTakes<Pfn>);
static_assert(!FrameTakes<VirtAddr>);
static_assert(!FrameTakes<std::uint64_t>);
// The TLB is indexed by page number, not by address or frame.
static_assert(TlbLookupTakes<PageNumber> && !TlbLookupTakes<VirtAddr> && !TlbLookupTakes<Pfn>);
// What the GUP and pin bookkeeping and the walk hold.
static_assert(std::is_same_v<decltype(Mm::GupRef::pfn), Pfn>);
static_assert(std::is_same_v<decltype(TlbEntry::pfn), Pfn>);
static_assert(std::is_same_v<decltype(ShmemObject::pages)::value_type, Pfn>);
static_assert(std::is_same_v<decltype(Mm::pins)::mapped_type, Pfn>);
static_assert(std::is_same_v<decltype(std::declval<Kernel&>().pin(1U, VirtAddr{}, 0)), std::optional<VirtAddr>>);
// No implicit conversions between the types.
static_assert(!std::is_convertible_v<Pfn, VirtAddr> && !std::is_convertible_v<VirtAddr, Pfn>);
static_assert(!std::is_convertible_v<std::uint64_t, VirtAddr> && !std::is_convertible_v<std::uint64_t, Pfn>);
// Zero-cost wrappers: the size of the integer, trivially copyable.
static_assert(sizeof(VirtAddr) == 8 && sizeof(Pfn) == 8 && sizeof(PageNumber) == 8);
static_assert(std::is_trivially_copyable_v<VirtAddr> && std::is_trivially_copyable_v<Pfn>);
// Arithmetic that keeps the kind: address + bytes is an address, address - address is bytes.
static_assert(VirtAddr{0x5000} + kPageSize == VirtAddr{0x6000});
static_assert(VirtAddr{0x6000} - VirtAddr{0x5000} == kPageSize);
static_assert(VirtAddr{0x5123}.page() == PageNumber{5} && PageNumber{5}.addr() == VirtAddr{0x5000});
static_assert(VirtAddr{0x5123}.page_start() == VirtAddr{0x5000});
static_assert(Pfn::none().is_none() && !Pfn{0}.is_none());

TEST_CASE("addresses_and_frames_are_distinct_types_checked_at_compile_time", "[types]") {
    // The static_asserts above are the test; a build that compiles this file has passed it.
    CHECK(Pfn{7} + 1 == Pfn{8});
    CHECK((VirtAddr{0x40000000} + kPmdSize).pmd_index() == 1);
}
