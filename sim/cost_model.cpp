#include "odf/cost_model.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace odf {

namespace {
constexpr std::string_view kNames[kCostCount] = {
    "fault_entry",     "syscall_entry", "fork_base",      "vma_copy",    "pte_copy",      "pte_zap",
    "page_ref_update", "pmd_share",     "table_alloc",    "table_free",  "page_zero",     "page_copy",
    "huge_zero",       "huge_copy",     "page_alloc",     "page_free",   "walk_step_hit", "walk_step_miss",
    "tlb_l2_hit",      "tlb_flush_all", "tlb_flush_page", "ipi",         "mem_access",    "pte_wrprotect",
    "pte_scan",        "page_check",    "owner_search",   "task_create", "exec_base",
};

struct Default {
    Cost cost;
    double cycles;
    const char* source;
};

// Defaults at 3.0 GHz. Each value says where it comes from; scripts/calibrate replaces them with fitted values.
constexpr Default kDefaults[] = {
    {Cost::FaultEntry, 900,
     "exception entry/exit + handle_mm_fault dispatch: ~0.3 us per minor fault on Zen 2 (lmbench lat_pagefault "
     "order of magnitude)"},
    {Cost::SyscallEntry, 300, "syscall entry/exit with mitigations: ~0.1 us"},
    {Cost::ForkBase, 150000,
     "fork of a tiny process: ~50 us (task_struct, mm_struct, files, signal; REFERENCE-NUMBERS local sweep "
     "intercept)"},
    {Cost::VmaCopy, 600, "vm_area_dup + anon_vma_fork + interval-tree insert, per VMA"},
    {Cost::PteCopy, 70,
     "copy_present_pte without the struct page work: local fork sweep, 1 GiB in 16.9 ms = 64 ns per page at "
     "3 GHz split 1/3 PTE, 2/3 struct page"},
    {Cost::PteZap, 40, "zap_pte_range per present entry, excluding the struct page update"},
    {Cost::PageRefUpdate, 115,
     "get_page + page_dup_anon_rmap (two atomics on a cold struct page): the other 2/3 of 64 ns per page"},
    {Cost::PmdShare, 60, "ODF: wrprotect a PMD entry + atomic inc of the table page refcount + owner check"},
    {Cost::TableAlloc, 1200, "pte_alloc_one: buddy allocation + clear_page of 4 KiB + ctor"},
    {Cost::TableFree, 250, "pte_free via tlb batching"},
    {Cost::PageZero, 700, "clear_page_erms of 4 KiB at ~17 GB/s"},
    {Cost::PageCopy, 1300, "copy_page of 4 KiB at ~10 GB/s, cold source"},
    {Cost::HugeZero, 358400, "clear_huge_page: 512 x page_zero"},
    {Cost::HugeCopy, 595000,
     "copy of 2 MiB: paper Table 1, 0.1984 ms worst-case huge COW fault at ~3 GHz is ~595k cycles"},
    {Cost::PageAlloc, 250, "alloc_page fast path (per-cpu lists)"},
    {Cost::PageFree, 180, "free_unref_page fast path"},
    {Cost::WalkStepHit, 2, "page-walk cache hit"},
    {Cost::WalkStepMiss, 30, "page-table entry read from the cache hierarchy (mostly L2 hits)"},
    {Cost::TlbL2Hit, 7, "Zen 2 L2 DTLB hit latency: 7 cycles"},
    {Cost::TlbFlushAll, 250, "CR3 write / INVPCID single-context flush"},
    {Cost::TlbFlushPage, 120, "INVLPG"},
    {Cost::Ipi, 3000, "TLB shootdown IPI round trip: ~1 us"},
    {Cost::MemAccess, 1, "load/store that hits the L1 dTLB (data cache effects are not modelled)"},
    {Cost::PteWrprotect, 0,
     "0: folded into pte_copy/page_ref_update by default; calibrate/forklat's re-fork sweep measured ~21-24 ns per "
     "page for it on the local EPYC VM (results/calibration)"},
    {Cost::PteScan, 2,
     "one 8-byte entry of a 4 KiB PTE table read in order: 64 cache lines, prefetched, ~1000 cycles per table "
     "(~0.35 us) = ~2 cycles per entry"},
    {Cost::PageCheck, 20,
     "PageAnonExclusive + page_count of a present anon page: one struct page cache line read, no atomic (an L2 "
     "hit ~15-20 cycles; page_ref_update's 115 cycles are two atomics on cold lines)"},
    {Cost::OwnerSearch, 400,
     "estimate, not measured: per other user of a shared table found by the kernel's rmap-style search when the "
     "owner leaves it (one anon_vma interval-tree node and mm_find_pmd's four dependent loads in another mm's page "
     "tables, ~100 cycles each when they miss the cache)"},
    {Cost::TaskCreate, 30000,
     "calibrate/threads.c on this project's 2-vCPU VM (2026-11-30): pthread_create + pthread_join of an empty thread "
     "16-17 us median, vfork + _exit + waitpid 22-24 us; about 10 us of it is the clone (copy_process without "
     "copy_mm)"},
    {Cost::ExecBase, 150000,
     "estimate: calibrate/threads.c measured vfork + execve(/bin/true) + waitpid at 455 us more than vfork + _exit "
     "(the whole exec, ld.so, run and exit of the program); the part before exec_mmap() releases a vfork parent "
     "(open, read and check the binary, bprm setup) is taken as a third of it"},
};
} // namespace

std::string_view cost_name(Cost c) {
    return kNames[static_cast<int>(c)];
}

CostModel CostModel::defaults() {
    CostModel m;
    m.name = "default";
    m.provenance = "built-in defaults (sim/cost_model.cpp); order-of-magnitude values for a ~3 GHz x86_64 server";
    for (const auto& d : kDefaults) {
        m.cycles[static_cast<int>(d.cost)] = d.cycles;
        m.source[static_cast<int>(d.cost)] = d.source;
    }
    return m;
}

CostModel CostModel::load(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        throw std::runtime_error(path + ": cannot open cost model");
    }
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
        throw std::runtime_error(path + ": not valid JSON: " + e.what());
    }
    CostModel m = defaults();
    auto fail = [&](const std::string& what) { throw std::runtime_error(path + ": " + what); };
    if (!j.is_object()) {
        fail("the top level must be an object");
    }
    m.name = j.value("name", path);
    m.provenance = j.value("provenance", "");
    if (j.contains("clock_ghz")) {
        if (!j["clock_ghz"].is_number() || j["clock_ghz"].get<double>() <= 0) {
            fail("clock_ghz must be a positive number");
        }
        m.clock_ghz = j["clock_ghz"].get<double>();
    }
    if (j.contains("remote_cpus")) {
        if (!j["remote_cpus"].is_number_integer() || j["remote_cpus"].get<int>() < 0) {
            fail("remote_cpus must be a non-negative integer");
        }
        m.remote_cpus = j["remote_cpus"].get<int>();
    }
    if (j.contains("tlb")) {
        const auto& t = j["tlb"];
        auto geti = [&](const char* k, int& dst) {
            if (t.contains(k)) {
                if (!t[k].is_number_integer() || t[k].get<int>() <= 0) {
                    fail(std::string("tlb.") + k + " must be a positive integer");
                }
                dst = t[k].get<int>();
            }
        };
        geti("l1_entries", m.tlb.l1_entries);
        geti("l1_ways", m.tlb.l1_ways);
        geti("l2_entries", m.tlb.l2_entries);
        geti("l2_ways", m.tlb.l2_ways);
        geti("pwc_entries", m.tlb.pwc_entries);
    }
    if (j.contains("costs")) {
        if (!j["costs"].is_object()) {
            fail("costs must be an object");
        }
        for (const auto& [key, val] : j["costs"].items()) {
            int idx = -1;
            for (int i = 0; i < kCostCount; ++i) {
                if (kNames[i] == key) {
                    idx = i;
                }
            }
            if (idx < 0) {
                fail("unknown cost '" + key + "'");
            }
            double cyc = 0;
            if (val.is_number()) {
                cyc = val.get<double>();
            } else if (val.is_object() && val.contains("cycles") && val["cycles"].is_number()) {
                cyc = val["cycles"].get<double>();
                m.source[static_cast<std::size_t>(idx)] = val.value("source", "");
            } else {
                fail("cost '" + key + R"(' must be a number or {"cycles": N, "source": "..."})");
            }
            if (cyc < 0) {
                fail("cost '" + key + "' is negative");
            }
            m.cycles[static_cast<std::size_t>(idx)] = cyc;
        }
    }
    return m;
}

std::string CostModel::to_json() const {
    nlohmann::json j;
    j["name"] = name;
    j["provenance"] = provenance;
    j["clock_ghz"] = clock_ghz;
    j["remote_cpus"] = remote_cpus;
    j["tlb"] = {{"l1_entries", tlb.l1_entries},
                {"l1_ways", tlb.l1_ways},
                {"l2_entries", tlb.l2_entries},
                {"l2_ways", tlb.l2_ways},
                {"pwc_entries", tlb.pwc_entries}};
    for (int i = 0; i < kCostCount; ++i) {
        j["costs"][std::string(kNames[i])] = {{"cycles", cycles[static_cast<std::size_t>(i)]},
                                              {"source", source[static_cast<std::size_t>(i)]}};
    }
    return j.dump(2);
}

} // namespace odf
