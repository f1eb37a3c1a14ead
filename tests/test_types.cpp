// The strong address types: the model's entry points take VirtAddr where they mean a virtual address and hold Pfn
// where they mean a frame, so that passing one for the other (or a bare integer) does not compile; lengths and
// offsets counted in pages are Pages. These checks run at compile time; the TEST_CASE only makes them visible in the
// test list. (The Kernel's private helpers cannot be named here: the compiler checks them where sim/ calls them.)
#include "odf/kernel.hpp"
#include "odf/oracle.hpp"
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
template <typename A>
concept FindVmaTakes = requires(Mm& mm, const Mm& cmm, A a) {
    mm.find_vma(a);
    cmm.find_vma(a);
};
template <typename A, typename B>
concept PmdAddrEndTakes = requires(A a, B b) {
    pmd_addr_end(a, b);
};
template <typename A>
concept LinearPageIndexTakes = requires(const Vma& v, A a) {
    v.linear_page_index(a);
};
template <typename A>
concept OracleWriteTakes = requires(Oracle& o, A a) {
    o.write(1U, a, std::uint64_t{0});
};
template <typename A, typename B>
concept Addable = requires(A a, B b) {
    a + b;
};
template <typename A, typename B>
concept Subtractable = requires(A a, B b) {
    a - b;
};
// Whether a field of type F can be assigned a V (as `vma.start = v`).
template <typename F, typename V>
inline constexpr bool kAssignable = std::is_assignable_v<F&, V>;

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
// Inside the model: VMAs are found and bounded by addresses, not frames, page numbers or integers.
static_assert(FindVmaTakes<VirtAddr>);
static_assert(!FindVmaTakes<Pfn> && !FindVmaTakes<PageNumber> && !FindVmaTakes<std::uint64_t>);
static_assert(!FindVmaTakes<Pages>);
static_assert(std::is_same_v<decltype(Vma::start), VirtAddr> && std::is_same_v<decltype(Vma::end), VirtAddr>);
static_assert(kAssignable<decltype(Vma::start), VirtAddr>);
static_assert(!kAssignable<decltype(Vma::start), std::uint64_t> && !kAssignable<decltype(Vma::end), Pfn>);
static_assert(std::is_same_v<VmaMap::key_type, VirtAddr>);
static_assert(std::is_same_v<decltype(Mm::heap_start), VirtAddr> && std::is_same_v<decltype(Mm::brk), VirtAddr>);
static_assert(!kAssignable<decltype(Mm::brk), std::uint64_t>);
// ... and measured in pages where they count pages: vm_pgoff, the VMA's size, a shmem object's size.
static_assert(std::is_same_v<decltype(Vma::pgoff), Pages> && std::is_same_v<decltype(ShmemObject::size), Pages>);
static_assert(std::is_same_v<decltype(std::declval<const Vma&>().pages()), Pages>);
static_assert(!kAssignable<decltype(Vma::pgoff), std::uint64_t> && !kAssignable<decltype(Vma::pgoff), VirtAddr>);
static_assert(!kAssignable<decltype(ShmemObject::size), PageNumber>);
static_assert(LinearPageIndexTakes<VirtAddr> && !LinearPageIndexTakes<Pages> && !LinearPageIndexTakes<std::uint64_t>);
// The page-table range helpers (pgd/pud/pmd_addr_end) take and return addresses.
static_assert(PmdAddrEndTakes<VirtAddr, VirtAddr>);
static_assert(!PmdAddrEndTakes<std::uint64_t, std::uint64_t> && !PmdAddrEndTakes<VirtAddr, std::uint64_t>);
static_assert(!PmdAddrEndTakes<Pfn, VirtAddr> && !PmdAddrEndTakes<VirtAddr, Pages>);
static_assert(std::is_same_v<decltype(pmd_addr_end(VirtAddr{}, VirtAddr{})), VirtAddr>);
// The oracle is addressed like the kernel.
static_assert(OracleWriteTakes<VirtAddr> && !OracleWriteTakes<Pfn> && !OracleWriteTakes<std::uint64_t>);
// Pages add to pages only: not to an address, a frame or a bare integer; bytes convert explicitly.
static_assert(Addable<Pages, Pages> && Subtractable<Pages, Pages>);
static_assert(!Addable<Pages, VirtAddr> && !Addable<VirtAddr, Pages> && !Subtractable<VirtAddr, Pages>);
static_assert(!Addable<Pfn, Pages> && !Addable<Pages, Pfn> && !Addable<Pages, std::uint64_t>);
static_assert(!Addable<Pages, PageNumber>);
static_assert(!std::is_convertible_v<std::uint64_t, Pages> && !std::is_convertible_v<Pages, std::uint64_t>);
static_assert(!std::is_convertible_v<Pages, PageNumber> && !std::is_convertible_v<PageNumber, Pages>);
// Address arithmetic: VirtAddr + VirtAddr is meaningless.
static_assert(!Addable<VirtAddr, VirtAddr> && !Addable<VirtAddr, Pfn>);
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
static_assert(Pages::from_bytes(3 * kPageSize + 5) == Pages{3} && Pages{3}.bytes() == 3 * kPageSize);
static_assert(Pages{3} + Pages{4} == Pages{7} && Pages{7} - Pages{4} == Pages{3});
static_assert(VirtAddr{0x1fff}.align_up(kPageSize) == VirtAddr{0x2000} && VirtAddr{0x2000}.aligned(kPageSize));
static_assert(VirtAddr{0x3ff000}.align_down(kPmdSize) == VirtAddr{0x200000} && !VirtAddr{0x3ff000}.aligned(kPmdSize));
// pmd_addr_end: the next 2 MiB boundary, clamped to the end; an end of 0 (the top of the address space) is no clamp.
static_assert(pmd_addr_end(VirtAddr{0x201000}, VirtAddr{0x800000}) == VirtAddr{0x400000});
static_assert(pmd_addr_end(VirtAddr{0x201000}, VirtAddr{0x300000}) == VirtAddr{0x300000});
static_assert(pgd_addr_end(VirtAddr{kPgdSize - kPageSize}, VirtAddr{0}) == VirtAddr{kPgdSize});
static_assert(sizeof(Pages) == 8 && std::is_trivially_copyable_v<Pages>);

TEST_CASE("addresses_and_frames_are_distinct_types_checked_at_compile_time", "[types]") {
    // The static_asserts above are the test; a build that compiles this file has passed it.
    CHECK(Pfn{7} + 1 == Pfn{8});
    CHECK((VirtAddr{0x40000000} + kPmdSize).pmd_index() == 1);
    Vma v;
    v.start = VirtAddr{0x40000000};
    v.end = VirtAddr{0x40000000 + 16 * kPageSize};
    v.pgoff = Pages{0x40000};
    CHECK(v.pages() == Pages{16});
    CHECK(v.linear_page_index(VirtAddr{0x40003123}) == Pages{0x40003});
}
