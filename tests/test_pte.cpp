#include "odf/pte.hpp"

#include <catch2/catch.hpp>

using odf::Pfn;
using odf::Pte;

TEST_CASE("pte_bits_are_at_their_sdm_positions", "[pte]") {
    CHECK(Pte::kPresent == 0x1);
    CHECK(Pte::kRw == 0x2);
    CHECK(Pte::kUser == 0x4);
    CHECK(Pte::kAccessed == 0x20);
    CHECK(Pte::kDirty == 0x40);
    CHECK(Pte::kPs == 0x80);
    CHECK(Pte::kGlobal == 0x100);
    CHECK(Pte::kNx == 0x8000000000000000ULL);
}

TEST_CASE("pte_pfn_round_trips_through_bits_12_to_51", "[pte]") {
    const std::uint64_t pfns[] = {0, 1, 0x12345, (1ULL << 40) - 1};
    for (std::uint64_t p : pfns) {
        const Pte e = Pte::make(Pfn{p}, Pte::kPresent | Pte::kRw | Pte::kNx);
        CHECK(e.pfn().value == p);
        CHECK(e.present());
        CHECK(e.writable());
        CHECK(e.nx());
    }
    // PFN bits never leak into flags.
    CHECK((Pte::make(Pfn{(1ULL << 40) - 1}, 0).raw & 0xfff) == 0);
}

TEST_CASE("wrprotect_clears_only_rw_and_protnone_counts_as_present_for_linux", "[pte]") {
    const Pte e = Pte::make(Pfn{7}, Pte::kPresent | Pte::kRw | Pte::kDirty | Pte::kAccessed);
    const Pte w = e.wrprotect();
    CHECK_FALSE(w.writable());
    CHECK(w.dirty());
    CHECK(w.pfn().value == 7);
    CHECK(w.mkwrite() == e);
    const Pte none = e.clear(Pte::kPresent | Pte::kRw).set(Pte::kGlobal);
    CHECK(none.protnone());
    CHECK(none.present());
    CHECK_FALSE(none.hw_present());
}

TEST_CASE("table_entries_carry_linux_page_table_flags", "[pte]") {
    const Pte t = Pte::table(Pfn{42});
    CHECK(t.present());
    CHECK(t.writable());
    CHECK(t.user());
    CHECK_FALSE(t.huge());
    CHECK(t.pfn().value == 42);
}
