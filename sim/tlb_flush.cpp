// TLB maintenance of the kernel: local flushes and shootdown IPIs (arch/x86/mm/tlb.c).
#include "odf/kernel.hpp"

namespace odf {

void Kernel::flush_all_tlbs(Mm& mm) {
    mm.tlb.flush_all();
    for (auto& t : mm.cpu_tlbs) {
        if (t) {
            t->flush_all();
        }
    }
}

// The remote half of a flush (native_flush_tlb_multi): one IPI to every other CPU that runs a thread of mm. The
// initiator waits for every acknowledgement (`ipi`, the round trip, per CPU); each remote CPU takes the interrupt
// (entry and exit as for an exception, `fault_entry`) and does the invalidation (`remote_cycles`), time the thread
// running there loses. The cost model's remote_cpus adds CPUs that traces without threads cannot name (a v1
// approximation of a multi-threaded process).
void Kernel::shootdown(Mm& mm, double invalidation_cycles) {
    const double remote_cycles = cfg_.costs[Cost::FaultEntry] + invalidation_cycles;
    auto n = static_cast<std::uint64_t>(cfg_.costs.remote_cpus);
    for (std::size_t c = 0; c < mm.cpu_threads.size(); ++c) {
        if (mm.cpu_threads[c] == 0 || static_cast<int>(c) == cpu_) {
            continue;
        }
        ++n;
        if (remote_cycles_.size() <= c) {
            remote_cycles_.resize(c + 1, 0.0);
        }
        remote_cycles_[c] += remote_cycles;
        ++acct_->remote_flushes;
    }
    if (n > 0) {
        charge(Cost::Ipi, n);
        acct_->ipis += n;
    }
}

void Kernel::flush_tlb_mm(Mm& mm) {
    flush_all_tlbs(mm);
    charge(Cost::TlbFlushAll);
    ++acct_->tlb_flushes;
    shootdown(mm, cfg_.costs[Cost::TlbFlushAll]);
}

// flush_tlb_mm_range(): ranges above 33 pages flush the whole mm (tlb_single_page_flush_ceiling).
void Kernel::flush_tlb_range(Mm& mm, VirtAddr start, VirtAddr end) {
    const Pages pages = Pages::from_bytes(end - start);
    if (pages > Pages{33}) {
        flush_tlb_mm(mm);
        return;
    }
    for (VirtAddr a = start; a < end; a += kPageSize) {
        mm.tlb.flush_page(a.page());
        for (auto& t : mm.cpu_tlbs) {
            if (t) {
                t->flush_page(a.page());
            }
        }
    }
    charge(Cost::TlbFlushPage, pages.value);
    ++acct_->tlb_flushes;
    shootdown(mm, static_cast<double>(pages.value) * cfg_.costs[Cost::TlbFlushPage]);
}

} // namespace odf
