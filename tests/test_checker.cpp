// The invariant checker and the oracle catch what they are there to catch: each test corrupts one count the model
// keeps (through the public descriptors, as a bug in the fault path would) and requires the checker, or the oracle
// on the next read, to fail and to name what is wrong. Restoring the count makes the check pass again, so each
// failure is due to that one corruption.
#include "fixtures.hpp"

using namespace odf;
using Catch::Matchers::Contains;
using odf::test::kBase;
using odf::test::Run;

namespace {

// An ODF parent and child sharing the PTE table of [kBase, kBase + 2 MiB) (owned by the parent), with private
// anonymous pages written by the parent.
void shared_table(Run& r) {
    r(fmt::format("1 mmap {:#x} 0x200000 rw private\n1 w {:#x} 0x8000\n1 fork 2\n", kBase, kBase));
}

std::string check(Run& r) {
    return InvariantChecker::check(r.k());
}

} // namespace

TEST_CASE("the_checker_passes_a_consistent_model", "[checker]") {
    Run r(ForkMode::Odf);
    shared_table(r);
    CHECK(check(r).empty());
}

TEST_CASE("the_checker_names_a_wrong_page_refcount", "[checker]") {
    Run r(ForkMode::Classic);
    shared_table(r);
    const Pfn pfn = r.pte(1, kBase)->pfn();
    Frame& f = r.k().phys().frame(pfn);
    ++f.refcount;
    CHECK_THAT(check(r), Contains(fmt::format("frame {}: refcount 3 but 2 mappings", pfn.value)));
    // Through the simulator's --check: the next operation reports it.
    REQUIRE_THROWS_WITH(r(fmt::format("1 r {:#x}\n", kBase + 0x1000)),
                        Contains("invariant violated") && Contains("refcount"));
    --f.refcount;
    CHECK(check(r).empty());
}

TEST_CASE("the_checker_names_a_wrong_mapcount", "[checker]") {
    Run r(ForkMode::Classic);
    shared_table(r);
    const Pfn pfn = r.pte(2, kBase + 0x1000)->pfn();
    Frame& f = r.k().phys().frame(pfn);
    --f.mapcount;
    CHECK_THAT(check(r), Contains(fmt::format("frame {}: mapcount 1 but 2 mappings", pfn.value)));
    ++f.mapcount;
    CHECK(check(r).empty());
}

TEST_CASE("the_checker_names_a_wrong_pincount", "[checker]") {
    Run r(ForkMode::Classic);
    shared_table(r);
    r(fmt::format("1 pin {:#x} 0x1000\n", kBase + 0x2000));
    const Pfn pfn = r.pte(1, kBase + 0x2000)->pfn();
    r.k().phys().pin(pfn); // a pin without its refcount
    CHECK_THAT(check(r), Contains("pincount 2 but 1 pins"));
    r.k().phys().unpin(pfn);
    CHECK(check(r).empty());
}

TEST_CASE("the_checker_names_a_pte_table_owner_that_does_not_map_it", "[checker]") {
    Run r(ForkMode::Odf);
    shared_table(r);
    const Pfn table = r.pmd(1, kBase).pfn();
    REQUIRE(r.pmd(2, kBase).pfn() == table);
    Frame& t = r.k().phys().frame(table);
    REQUIRE(t.tbl.owner == r.mm(1).id);
    t.tbl.owner = 999;
    CHECK_THAT(check(r), Contains(fmt::format("PTE table {}: owner mm 999 does not map it", table.value)));
    // A shared table that nobody owns is charged to nobody.
    t.tbl.owner = 0;
    CHECK_THAT(check(r),
               Contains(fmt::format("PTE table {}: shared by 2 PMD entries but charged to nobody", table.value)));
    t.tbl.owner = r.mm(1).id;
    CHECK(check(r).empty());
}

TEST_CASE("the_checker_names_a_wrong_page_table_refcount", "[checker]") {
    Run r(ForkMode::Odf);
    shared_table(r);
    const Pfn table = r.pmd(1, kBase).pfn();
    Frame& t = r.k().phys().frame(table);
    REQUIRE(t.refcount == 2);
    --t.refcount;
    CHECK_THAT(check(r), Contains(fmt::format("table frame {}: refcount 1 but 2 entries point at it", table.value)));
    ++t.refcount;
    CHECK(check(r).empty());
}

TEST_CASE("the_checker_names_a_wrong_rss_and_vmpte", "[checker]") {
    Run r(ForkMode::Odf);
    shared_table(r);
    Mm& parent = r.mm(1);
    parent.rss_anon += 1;
    CHECK_THAT(check(r), Contains("pid 1: RssAnon 9 pages, page tables say 8"));
    parent.rss_anon -= 1;
    r.mm(2).pgtables_bytes += 4096;
    CHECK_THAT(check(r), Contains("pid 2: VmPTE"));
    r.mm(2).pgtables_bytes -= 4096;
    CHECK(check(r).empty());
}

TEST_CASE("the_checker_names_a_writable_entry_in_a_shared_pte_table", "[checker]") {
    Run r(ForkMode::Odf);
    shared_table(r);
    Pte& pmd = const_cast<Pte&>(r.pmd(2, kBase)); // the entry lives in the (mutable) table store
    pmd = pmd.mkwrite();
    CHECK_THAT(check(r), Contains("is shared by 2 PMD entries but pid 2 maps it writable"));
    pmd = pmd.wrprotect();
    CHECK(check(r).empty());
}

TEST_CASE("the_oracle_names_a_read_of_a_corrupted_content_tag", "[checker][oracle]") {
    Run r(ForkMode::Odf);
    shared_table(r);
    Frame& f = r.k().phys().frame(r.pte(2, kBase + 0x3000)->pfn());
    const std::uint64_t good = f.content;
    f.content = 0xbad;
    // Counts are intact, so the checker sees nothing; the oracle does on the read.
    CHECK(check(r).empty());
    REQUIRE_THROWS_WITH(
        r(fmt::format("2 r {:#x}\n", kBase + 0x3000)),
        Contains(fmt::format("read of {:#x} returned 0xbad, the oracle says {:#x}", kBase + 0x3000, good)));
}

TEST_CASE("the_leak_check_names_frames_left_after_every_exit", "[checker]") {
    Run r(ForkMode::Classic);
    shared_table(r);
    ++r.k().phys().frame(r.pte(1, kBase)->pfn()).refcount; // a reference nobody will drop
    REQUIRE_THROWS_WITH(r.sim.finish(r.trace), Contains("at the end (classic mode): 1 frames leaked"));
    CHECK_THAT(InvariantChecker::check_no_leak(r.k()), Contains("1 frames leaked"));
}
