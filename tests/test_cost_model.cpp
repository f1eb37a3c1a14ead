#include "odf/cost_model.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>

using namespace odf;

namespace {
std::string write_tmp(const std::string& body) {
    char name[] = "/tmp/odf-costXXXXXX";
    const int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    std::ofstream(name) << body;
    return name;
}
} // namespace

TEST_CASE("every_default_cost_has_a_source", "[cost]") {
    const CostModel m = CostModel::defaults();
    for (int i = 0; i < kCostCount; ++i) {
        INFO(cost_name(static_cast<Cost>(i)));
        CHECK(m.cycles[static_cast<std::size_t>(i)] >= 0);
        CHECK_FALSE(m.source[static_cast<std::size_t>(i)].empty());
    }
}

TEST_CASE("a_cost_model_file_overrides_named_costs_and_round_trips", "[cost]") {
    const std::string p = write_tmp(R"({"name":"t","clock_ghz":2.0,"costs":{"pte_copy":{"cycles":11,"source":"x"},
        "page_copy": 5},"tlb":{"l1_entries":32}})");
    const CostModel m = CostModel::load(p);
    CHECK(m.name == "t");
    CHECK(m[Cost::PteCopy] == 11);
    CHECK(m[Cost::PageCopy] == 5);
    CHECK(m[Cost::FaultEntry] == CostModel::defaults()[Cost::FaultEntry]);
    CHECK(m.tlb.l1_entries == 32);
    CHECK(m.to_us(2000) == Approx(1.0));
    const std::string q = write_tmp(m.to_json());
    CHECK(CostModel::load(q).cycles == m.cycles);
    std::remove(p.c_str());
    std::remove(q.c_str());
}

TEST_CASE("a_bad_cost_model_names_the_file_and_the_key", "[cost]") {
    const std::string p = write_tmp(R"({"costs":{"pte_cpy":3}})");
    REQUIRE_THROWS_WITH(CostModel::load(p), Catch::Contains(p) && Catch::Contains("pte_cpy"));
    const std::string q = write_tmp("{not json");
    REQUIRE_THROWS_WITH(CostModel::load(q), Catch::Contains(q));
    const std::string r = write_tmp(R"({"costs":{"pte_copy":-1}})");
    REQUIRE_THROWS_WITH(CostModel::load(r), Catch::Contains("negative"));
    std::remove(p.c_str());
    std::remove(q.c_str());
    std::remove(r.c_str());
}
