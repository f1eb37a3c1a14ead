// What a failed operation leaves behind (include/odf/kernel.hpp, docs/SEMANTICS.md "Failed operations"): a refused
// call changes no memory state; mprotect, madvise, pin and getref that fail part-way keep exactly what Linux 6.1
// keeps (the part before the hole or the failing page), nothing more. Compared through a dump of the whole model
// state: VMAs, page tables, every allocated frame's descriptor, pins, GUP references, shmem objects.
#include "fixtures.hpp"
#include "odf/inspect.hpp"

#include <algorithm>
#include <vector>

using namespace odf;
using odf::test::kBase;
using odf::test::Run;

namespace {

// Everything but the counters (a failed call still charges its syscall and counts its error).
std::string snapshot(const Kernel& k) {
    std::string s = describe(k);
    k.phys().for_each_used([&](Pfn p, const Frame& f) {
        const std::uint64_t word = is_table(f.kind) ? f.tbl.owner : f.content;
        s += fmt::format("frame {} kind {} ref {} map {} pin {} flags {} word {:#x}\n", p.value, int(f.kind),
                         f.refcount, int{f.mapcount}, k.phys().pincount(p), int(f.flags), word);
    });
    std::vector<std::uint32_t> pids;
    for (const auto& [pid, mm] : k.processes()) {
        pids.push_back(pid);
    }
    std::sort(pids.begin(), pids.end());
    for (const std::uint32_t pid : pids) {
        const Mm& mm = *k.mm(pid);
        s += fmt::format("pid {} brk {:#x} heap {:#x} {}\n", pid, mm.brk.value, mm.heap_start.value, mm.has_heap);
        for (const auto& [page, pfn] : mm.pins) {
            s += fmt::format("  pin {:#x} -> {}\n", page.value, pfn.value);
        }
        for (const auto& [page, stack] : mm.refs) {
            for (const Mm::GupRef& r : stack) {
                s += fmt::format("  ref {:#x} -> {} {}\n", page.value, r.pfn.value, r.pin);
            }
        }
    }
    std::vector<std::uint32_t> ids;
    for (const auto& [id, obj] : k.shmem_objects()) {
        ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    for (const std::uint32_t id : ids) {
        const ShmemObject& obj = k.shmem_objects().at(id);
        s += fmt::format("shmem {} size {} users {}:", id, obj.size.value, obj.users);
        for (const Pfn p : obj.pages) {
            s += p.is_none() ? std::string(" -") : fmt::format(" {}", p.value);
        }
        s += '\n';
    }
    return s;
}

// A parent and a forked child with private, shared and read-only memory, a heap and a pin.
void setup(Run& r) {
    r(fmt::format("1 mmap {:#x} 0x400000 rw private\n1 w {:#x} 0x400000\n", kBase, kBase));
    r(fmt::format("1 mmap {:#x} 0x10000 rw shared\n1 w {:#x} 0x10000\n", kBase + 0x10000000, kBase + 0x10000000));
    r(fmt::format("1 mmap {:#x} 0x4000 r private\n1 r {:#x} 0x4000\n", kBase + 0x20000000, kBase + 0x20000000));
    r("1 brk 0x1000000\n1 brk 0x1004000\n1 w 0x1000000 0x4000\n");
    r(fmt::format("1 pin {:#x} 0x2000\n", kBase + 0x200000));
    r("1 fork 2\n");
    r(fmt::format("2 w {:#x} 0x3000\n", kBase + 0x1000));
}

constexpr std::uint64_t kHole = kBase + 0x30000000; // nothing is mapped here

} // namespace

TEST_CASE("a_refused_call_leaves_the_model_unchanged", "[vma][failed]") {
    const ForkMode mode = GENERATE(ForkMode::Classic, ForkMode::Odf, ForkMode::CowPteV3, ForkMode::Thp);
    CAPTURE(mode_name(mode));
    Run r(mode);
    setup(r);
    Kernel& k = r.k();
    const std::string before = snapshot(k);
    const std::uint64_t einval = r.stats(1).einval;

    SECTION("mremap of an unmapped source") {
        CHECK_FALSE(k.mremap(1, VirtAddr{kHole}, 0x1000, VirtAddr{kHole + 0x100000}, 0x1000));
    }
    SECTION("mremap onto an overlapping destination") {
        CHECK_FALSE(k.mremap(1, VirtAddr{kBase}, 0x2000, VirtAddr{kBase + 0x1000}, 0x2000));
    }
    SECTION("mremap of a source running past its VMA") {
        CHECK_FALSE(k.mremap(1, VirtAddr{kBase}, 0x800000, VirtAddr{kHole}, 0x1000));
    }
    SECTION("brk below the heap's start") {
        CHECK_FALSE(k.brk(1, VirtAddr{0x0fff000}));
    }
    SECTION("brk growing onto another mapping") {
        CHECK_FALSE(k.brk(1, VirtAddr{kBase + 0x1000}));
    }
    SECTION("mprotect of a range that starts in a hole") {
        CHECK_FALSE(k.mprotect(1, VirtAddr{kHole}, 0x2000, kVmRead));
    }
    SECTION("madvise of a range with nothing mapped") {
        CHECK_FALSE(k.madvise_dontneed(1, VirtAddr{kHole}, 0x2000));
    }
    SECTION("unpin of pages this process never pinned") {
        CHECK_FALSE(k.unpin(1, VirtAddr{kBase}, 0x1000));
        CHECK_FALSE(k.unpin(2, VirtAddr{kBase + 0x200000}, 0x1000)); // the parent's pin, not the child's
    }
    SECTION("putref without a reference") {
        CHECK_FALSE(k.putref(1, VirtAddr{kBase}));
        CHECK_FALSE(k.readref(1, VirtAddr{kBase}).has_value());
    }
    SECTION("pin whose first page is shared, read-only or unmapped") {
        CHECK(k.pin(1, VirtAddr{kBase + 0x10000000}, 0x2000) == VirtAddr{kBase + 0x10000000});
        CHECK(k.pin(1, VirtAddr{kBase + 0x20000000}, 0x2000) == VirtAddr{kBase + 0x20000000});
        CHECK(k.pin(1, VirtAddr{kHole}, 0x1000) == VirtAddr{kHole});
    }
    SECTION("getref whose first page is unmapped") {
        CHECK(k.getref(1, VirtAddr{kHole}, 0x2000, false) == VirtAddr{kHole});
        CHECK(k.getref(2, VirtAddr{kHole}, 0x2000, true) == VirtAddr{kHole});
    }
    CHECK(snapshot(k) == before);
    CHECK(r.stats(1).einval + r.stats(2).einval + r.stats(1).pinfail + r.stats(1).reffail + r.stats(2).reffail +
              r.stats(1).noref >
          einval);
    CHECK(InvariantChecker::check(k).empty());
}

// Two identical runs: one makes the call that fails part-way, the other the call over exactly the part Linux
// keeps. The model states must be identical.
TEST_CASE("a_call_that_fails_part_way_keeps_exactly_the_part_before_the_failure", "[vma][failed]") {
    const ForkMode mode = GENERATE(ForkMode::Classic, ForkMode::Odf, ForkMode::Thp);
    CAPTURE(mode_name(mode));
    Run failing(mode);
    Run prefix(mode);
    setup(failing);
    setup(prefix);
    Kernel& f = failing.k();
    Kernel& p = prefix.k();
    // The private mapping is [kBase, kBase + 4 MiB); the 64 KiB after it are a hole.
    const std::uint64_t end = kBase + 0x400000;

    SECTION("mprotect changes the VMAs up to the hole (ENOMEM)") {
        CHECK_FALSE(f.mprotect(1, VirtAddr{end - 0x3000}, 0x5000, kVmRead));
        CHECK(p.mprotect(1, VirtAddr{end - 0x3000}, 0x3000, kVmRead));
    }
    SECTION("madvise zaps every mapped part and skips the holes (ENOMEM)") {
        CHECK_FALSE(f.madvise_dontneed(1, VirtAddr{end - 0x3000}, kBase + 0x10000000 + 0x2000 - (end - 0x3000)));
        CHECK(p.madvise_dontneed(1, VirtAddr{end - 0x3000}, 0x3000));
        CHECK(p.madvise_dontneed(1, VirtAddr{kBase + 0x10000000}, 0x2000));
    }
    SECTION("pin keeps the pins of the pages before the failing one") {
        CHECK(f.pin(2, VirtAddr{end - 0x3000}, 0x5000) == VirtAddr{end});
        CHECK_FALSE(p.pin(2, VirtAddr{end - 0x3000}, 0x3000).has_value());
    }
    SECTION("getref keeps the references taken before the failing page") {
        CHECK(f.getref(2, VirtAddr{end - 0x3000}, 0x5000, true) == VirtAddr{end});
        CHECK_FALSE(p.getref(2, VirtAddr{end - 0x3000}, 0x3000, true).has_value());
    }
    CHECK(snapshot(f) == snapshot(p));
    CHECK(InvariantChecker::check(f).empty());
}
