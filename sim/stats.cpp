#include "odf/stats.hpp"

namespace odf {

namespace {
constexpr std::string_view kFaultNames[kFaultKindCount] = {
    "anon_zero_page", "anon_alloc",    "wp_zero_copy", "wp_reuse",      "wp_copy",      "shmem",    "huge_zero",
    "huge_alloc",     "huge_wp_reuse", "huge_wp_copy", "cow_pte_reuse", "cow_pte_copy", "spurious",
};
} // namespace

std::string_view fault_kind_name(FaultKind k) {
    return kFaultNames[static_cast<int>(k)];
}

double Counters::cycles(const CostModel& m) const {
    double total = 0;
    for (int i = 0; i < kCostCount; ++i) {
        total += static_cast<double>(charges[static_cast<std::size_t>(i)]) * m.cycles[static_cast<std::size_t>(i)];
    }
    return total;
}

Counters& Counters::operator+=(const Counters& o) {
    for (std::size_t i = 0; i < charges.size(); ++i) {
        charges[i] += o.charges[i];
    }
    for (std::size_t i = 0; i < faults.size(); ++i) {
        faults[i] += o.faults[i];
    }
    minflt += o.minflt;
    segv += o.segv;
    pinfail += o.pinfail;
    reffail += o.reffail;
    noref += o.noref;
    leaks += o.leaks;
    einval += o.einval;
    forks += o.forks;
    accesses += o.accesses;
    ptes_copied += o.ptes_copied;
    tables_shared += o.tables_shared;
    tables_copied_at_fork += o.tables_copied_at_fork;
    tables_copied_on_demand += o.tables_copied_on_demand;
    tables_reused += o.tables_reused;
    owner_passes += o.owner_passes;
    pages_copied += o.pages_copied;
    tlb_l1_hits += o.tlb_l1_hits;
    tlb_l2_hits += o.tlb_l2_hits;
    tlb_misses += o.tlb_misses;
    tlb_flushes += o.tlb_flushes;
    ipis += o.ipis;
    remote_flushes += o.remote_flushes;
    return *this;
}

} // namespace odf
