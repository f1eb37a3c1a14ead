// Per-operation cycle costs of the model. Costs are data: loaded from a JSON file (docs/COSTMODEL.md), with defaults
// whose sources are written beside them (sim/cost_model.cpp). Nothing in the fault path uses a literal cost.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace odf {

// Every chargeable operation. The JSON keys are the snake_case names returned by cost_name().
enum class Cost : std::uint8_t {
    FaultEntry,    // exception entry + exit + handle_mm_fault dispatch, per fault
    SyscallEntry,  // entry + exit of mmap/munmap/mprotect/madvise/mremap/brk, per call
    ForkBase,      // fixed part of fork: task_struct, mm_struct, dup_mmap bookkeeping
    VmaCopy,       // per VMA duplicated at fork (vm_area_dup, anon_vma_fork)
    PteCopy,       // per present PTE copied by copy_pte_range (read, wrprotect, write child entry)
    PteZap,        // per present PTE cleared by zap_pte_range
    PageRefUpdate, // per page refcount + mapcount update (get_page + page_dup_file/anon_rmap, or the put side)
    PmdShare,      // ODF: per PMD entry shared at fork (wrprotect pmd, table refcount, owner)
    TableAlloc,    // allocate and zero a page-table page
    TableFree,     // free a page-table page
    PageZero,      // clear a 4 KiB page
    PageCopy,      // copy a 4 KiB page
    HugeZero,      // clear a 2 MiB page
    HugeCopy,      // copy a 2 MiB page
    PageAlloc,     // allocate a data page (buddy allocator fast path)
    PageFree,      // free a data page
    WalkStepHit,   // one page-walk level served by a page-walk cache
    WalkStepMiss,  // one page-walk level read from memory
    TlbL2Hit,      // L1 dTLB miss, STLB hit
    TlbFlushAll,   // full flush of one mm's TLB entries on one CPU
    TlbFlushPage,  // invlpg of one page
    Ipi,           // one TLB shootdown IPI to a remote CPU
    MemAccess,     // one load or store that hits the L1 dTLB
    PteWrprotect,  // fork: extra cost when copy_present_pte write-protects a writable PTE (a first fork; a re-fork
                   // of already write-protected memory skips it)
    PteScan,       // ODF: one entry read by the scan of a reused shared table (the GUP fix, docs/SEMANTICS.md)
    PageCheck,     // ODF: that scan's look at a present anon page (PageAnonExclusive, page_count)
    OwnerSearch,   // ODF: per other user of a table examined when its owner leaves it and passes the charge on
    TaskCreate,    // clone of a task that shares the mm: a thread (clone), vfork, posix_spawn's clone
    ExecBase,      // execve of a small program up to the release of a vfork parent (exec_mmap)
};
inline constexpr int kCostCount = 29;

[[nodiscard]] std::string_view cost_name(Cost c);

struct TlbGeometry {
    int l1_entries = 64; // AMD Zen 2: 64-entry fully associative L1 dTLB
    int l1_ways = 64;
    int l2_entries = 2048; // Zen 2: 2048-entry 8-way L2 DTLB
    int l2_ways = 8;
    int pwc_entries = 32; // page-walk cache entries per upper level (PML4E, PDPTE, PDE)
};

struct CostModel {
    std::string name = "default";
    std::string provenance; // free text: where the numbers come from
    double clock_ghz = 3.0;
    int remote_cpus = 0; // CPUs that receive a shootdown IPI when an mm's TLB is flushed (0: single-threaded)
    std::array<double, kCostCount> cycles{};
    std::array<std::string, kCostCount> source{}; // per-entry provenance
    TlbGeometry tlb;

    [[nodiscard]] double operator[](Cost c) const { return cycles[static_cast<int>(c)]; }
    [[nodiscard]] double to_us(double cyc) const { return cyc / (clock_ghz * 1000.0); }

    static CostModel defaults();
    // Throws std::runtime_error naming the file and the bad key or value.
    static CostModel load(const std::string& path);
    [[nodiscard]] std::string to_json() const;
};

} // namespace odf
