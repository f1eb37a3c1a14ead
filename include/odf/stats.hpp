// What a run reports: operation counts (charged through the cost model), faults by kind, and the counters a
// researcher compares across fork modes.
#pragma once

#include "odf/cost_model.hpp"

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace odf {

enum class FaultKind : std::uint8_t {
    AnonZeroPage, // read of a none PTE: the shared zero page is mapped
    AnonAlloc,    // write of a none PTE: a zeroed page is allocated
    WpZeroCopy,   // write to the zero page: a zeroed page replaces it
    WpReuse,      // write to a write-protected anon page that is exclusive or has refcount 1
    WpCopy,       // write to a write-protected shared anon page: copy
    Shmem,        // fault on a shared anonymous mapping
    HugeZero,     // thp: read fault maps the huge zero page
    HugeAlloc,    // thp: write fault zeroes a 2 MiB page
    HugeWpReuse,  // thp: write to an exclusive huge page
    HugeWpCopy,   // thp: write to a shared huge page: 2 MiB copy
    CowPteReuse,  // ODF: a shared PTE table with refcount 1 is taken over
    CowPteCopy,   // ODF: a shared PTE table is copied
    Spurious,     // nothing to do (a TLB entry was stale)
};
inline constexpr int kFaultKindCount = 13;
[[nodiscard]] std::string_view fault_kind_name(FaultKind k);

struct Counters {
    std::array<std::uint64_t, kCostCount> charges{}; // how many times each cost was charged
    std::array<std::uint64_t, kFaultKindCount> faults{};
    std::uint64_t minflt = 0; // fault exceptions handled (as ru_minflt counts them)
    std::uint64_t segv = 0;
    std::uint64_t pinfail = 0;
    std::uint64_t reffail = 0; // getref stopped at a page it could not reference
    std::uint64_t noref = 0;   // readref/putref of a page this process holds no reference to
    std::uint64_t leaks = 0;   // readref returned another process's data written after the reference was taken
    std::uint64_t einval = 0;  // operations the kernel would refuse (e.g. an mremap of an unmapped range)
    std::uint64_t forks = 0;
    std::uint64_t accesses = 0; // page accesses (reads + writes)
    std::uint64_t ptes_copied = 0;
    std::uint64_t tables_shared = 0;           // ODF: PTE tables shared at fork
    std::uint64_t tables_copied_at_fork = 0;   // PTE tables filled by copy_pte_range at fork
    std::uint64_t tables_copied_on_demand = 0; // ODF: shared tables copied when broken
    std::uint64_t tables_reused = 0;           // ODF: shared tables taken over with refcount 1
    std::uint64_t owner_passes = 0;            // ODF: an owner left a table others still map; the charge passed on
    std::uint64_t pages_copied = 0;            // 4 KiB data copies (COW, pinned pages at fork); huge copies count 512
    std::uint64_t tlb_l1_hits = 0;
    std::uint64_t tlb_l2_hits = 0;
    std::uint64_t tlb_misses = 0;
    std::uint64_t tlb_flushes = 0;
    std::uint64_t ipis = 0;
    std::uint64_t remote_flushes = 0; // TLB invalidations done on another CPU for this process's flushes (v2)

    [[nodiscard]] double cycles(const CostModel& m) const;
    [[nodiscard]] double cycles(const CostModel& m, Cost c) const {
        return static_cast<double>(charges[int(c)]) * m[c];
    }
    Counters& operator+=(const Counters& o);
};

} // namespace odf
