#include "odf/phys_mem.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <string>

using namespace odf;

namespace {
long vm_rss_kb() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stol(line.substr(6));
        }
    }
    return -1;
}
} // namespace

TEST_CASE("frames_are_handed_out_zeroed_and_reused_after_free", "[phys]") {
    PhysMem pm(8192);
    CHECK(pm.used_frames() == pm.reserved_frames());
    const Pfn a = pm.alloc_data(FrameKind::Anon);
    CHECK(pm.frame(a).refcount == 0);
    CHECK(pm.frame(a).kind == FrameKind::Anon);
    pm.frame(a).content = 99;
    pm.free(a);
    const Pfn b = pm.alloc_data(FrameKind::Anon);
    CHECK(b == a);
    CHECK(pm.frame(b).content == 0);
    pm.free(b);
    CHECK(pm.used_frames() == pm.reserved_frames());
}

TEST_CASE("table_frames_hold_512_zeroed_entries", "[phys]") {
    PhysMem pm(8192);
    const Pfn t = pm.alloc_table(FrameKind::PteTable);
    for (const Pte& e : pm.table(t)) {
        REQUIRE(e.none());
    }
    pm.table(t)[5] = Pte::table(Pfn{3});
    pm.free(t);
    const Pfn u = pm.alloc_table(FrameKind::PteTable);
    CHECK(pm.table(u)[5].none());
    CHECK(pm.peak_table_frames() == 1);
}

TEST_CASE("huge_pages_are_2mib_aligned_blocks", "[phys]") {
    PhysMem pm(4 * 8192);
    const Pfn h = pm.alloc_huge();
    CHECK(h.value % kHugePages == 0);
    CHECK(pm.used_frames() == pm.reserved_frames() + kHugePages);
    pm.frame(h).refcount = 0;
    pm.free(h);
    CHECK(pm.used_frames() == pm.reserved_frames());
}

TEST_CASE("running_out_of_frames_throws_out_of_memory", "[phys]") {
    PhysMem pm(4 * kHugePages);
    REQUIRE_THROWS_AS(
        [&] {
            for (int i = 0; i < 100000; ++i) {
                (void)pm.alloc_data(FrameKind::Anon);
            }
        }(),
        OutOfMemory);
}

TEST_CASE("64_gib_of_simulated_memory_costs_little_host_memory_until_used", "[phys]") {
    const long before = vm_rss_kb();
    PhysMem pm((64ULL << 30) >> kPageShift);
    for (int i = 0; i < 1000; ++i) {
        (void)pm.alloc_data(FrameKind::Anon);
    }
    const long after = vm_rss_kb();
    CHECK(pm.total_frames() == (64ULL << 30) >> kPageShift);
    CHECK(after - before < 64 * 1024); // well under 64 MiB for a 16 Mi-frame descriptor array
}

TEST_CASE("pins_live_beside_the_frame_and_its_pinned_bit_says_so", "[phys]") {
    PhysMem pm(8192);
    const Pfn a = pm.alloc_data(FrameKind::Anon);
    CHECK(pm.pincount(a) == 0);
    pm.pin(a);
    pm.pin(a);
    CHECK(pm.frame(a).pinned);
    CHECK(pm.pincount(a) == 2);
    pm.unpin(a);
    CHECK(pm.pincount(a) == 1);
    CHECK_THROWS_WITH(pm.free(a), "frame 1 freed with 1 pins");
    pm.unpin(a);
    CHECK(!pm.frame(a).pinned);
    CHECK(pm.pincount(a) == 0);
    CHECK_THROWS_AS(pm.unpin(a), std::logic_error);
    pm.free(a);
    CHECK(pm.used_frames() == pm.reserved_frames());
}

TEST_CASE("a_count_that_would_overflow_its_field_is_an_error_not_a_wrap", "[phys]") {
    PhysMem pm(8192);
    Frame& f = pm.frame(pm.alloc_data(FrameKind::Anon));
    f.mapcount = Frame::kMaxMapcount - 1;
    f.get_map();
    CHECK(f.mapcount == Frame::kMaxMapcount);
    CHECK_THROWS_WITH(f.get_map(), "a page's mapcount would exceed 8388607, the model's limit");
    CHECK(f.mapcount == Frame::kMaxMapcount);
    f.refcount = Frame::kMaxRefcount;
    CHECK_THROWS_AS(f.get_ref(), std::overflow_error);
    CHECK(f.refcount == Frame::kMaxRefcount);
    // The packed fields do not bleed into each other.
    f.kind = FrameKind::PgdTable;
    f.flags = kAnonExclusive | kTableExclusive;
    f.pinned = true;
    f.mapcount = -Frame::kMaxMapcount;
    CHECK(f.kind == FrameKind::PgdTable);
    CHECK(f.flags == (kAnonExclusive | kTableExclusive));
    CHECK(f.pinned);
    f.clear_flag(kAnonExclusive);
    CHECK(f.flags == kTableExclusive);
    CHECK(f.mapcount == -Frame::kMaxMapcount);
    CHECK(f.refcount == Frame::kMaxRefcount);
}
