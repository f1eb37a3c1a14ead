// Address spaces: VMAs (vm_area_struct), the mm (mm_struct) and its counters, and shmem objects.
#pragma once

#include "odf/pte.hpp"
#include "odf/stats.hpp"
#include "odf/tlb.hpp"

#include <boost/container/flat_map.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace odf {

enum class ForkMode : std::uint8_t { Classic, Odf, OdfPaper, CowPteV3, Thp };
inline constexpr int kForkModeCount = 5;
[[nodiscard]] std::string_view mode_name(ForkMode m);
[[nodiscard]] std::optional<ForkMode> parse_mode(std::string_view s);
// Modes that share PTE tables at fork.
[[nodiscard]] constexpr bool shares_tables(ForkMode m) {
    return m == ForkMode::Odf || m == ForkMode::OdfPaper || m == ForkMode::CowPteV3;
}

// A VMA's protection bits (VM_READ, VM_WRITE, VM_EXEC: the values of PROT_READ, PROT_WRITE, PROT_EXEC). 0 is
// PROT_NONE.
enum VmProt : std::uint8_t { kVmRead = 1, kVmWrite = 2, kVmExec = 4 };

struct Vma {
    VirtAddr start;
    VirtAddr end;
    std::uint8_t prot = 0;       // VmProt bits
    bool shared = false;         // anonymous shared (shmem); otherwise anonymous private
    std::uint32_t anon_vma = 0;  // 0: none yet (no anonymous fault taken)
    bool anon_inherited = false; // the anon_vma chain came from fork (not list_is_singular): blocks some merges
    std::uint32_t shmem = 0;     // shared: the shmem object
    // vm_pgoff, the page offset of `start`: private: in the address space at mmap (start >> 12, kept by mremap);
    // shared: in the object.
    Pages pgoff;

    // Any access is allowed unless PROT_NONE: x86 cannot make a present page write- or exec-only unreadable.
    [[nodiscard]] bool readable() const { return prot != 0; }
    [[nodiscard]] bool writable() const { return (prot & kVmWrite) != 0; }
    [[nodiscard]] Pages pages() const { return Pages::from_bytes(end - start); }
    // The page offset of addr (linear_page_index()): for a shared VMA, its page index in the object.
    [[nodiscard]] Pages linear_page_index(VirtAddr addr) const { return pgoff + Pages::from_bytes(addr - start); }
};

struct ShmemObject {
    std::vector<Pfn> pages; // per page index; Pfn::none() is a hole
    Pages size;             // i_size: set by the mmap that created it; faults beyond it raise SIGBUS
    int users = 0;          // VMAs mapping the object
};

// The VMAs of an mm by start address (the maple tree): a sorted vector, since an mm has few VMAs and the fault path
// looks one up per fault (binary search over contiguous memory; docs/PERFORMANCE.md has the measurement). Inserting
// or erasing invalidates iterators and Vma pointers at and after the position: the VMA code holds none across it.
using VmaMap = boost::container::flat_map<VirtAddr, Vma>;

struct Mm {
    Mm(std::uint32_t id_, std::uint32_t pid_, const TlbGeometry& g) : id(id_), pid(pid_), tlb(g) {}

    std::uint32_t id;  // never reused: identifies the owner of a shared PTE table
    std::uint32_t pid; // trace pid
    Pfn pgd{};
    VmaMap vmas;                     // by start address
    std::int64_t rss_anon = 0;       // pages (MM_ANONPAGES)
    std::int64_t rss_shmem = 0;      // pages (MM_SHMEMPAGES)
    std::int64_t pgtables_bytes = 0; // VmPTE: PUD, PMD and PTE tables charged to this mm
    bool has_heap = false;
    VirtAddr heap_start;
    VirtAddr brk;
    std::multimap<PageNumber, Pfn> pins; // the frame of each FOLL_PIN reference this process holds, by page
    // Read-only GUP references (getref): page at the time taken -> references, the most recent last.
    struct GupRef {
        Pfn pfn;
        std::uint64_t seq = 0; // the kernel's write sequence number when the reference was taken
        bool pin = false;      // FOLL_PIN | FOLL_LONGTERM (pincount held too), else FOLL_GET
    };
    std::map<PageNumber, std::vector<GupRef>> refs;
    Tlb tlb; // the TLB (with PCID: this mm's entries) of CPU 0
    // CPUs >= 1, created when a thread of this mm first runs there (odf-trace v2). Entry c-1 is CPU c's.
    std::vector<std::unique_ptr<Tlb>> cpu_tlbs;
    // mm_cpumask: runnable threads of this mm per CPU (not blocked, not ended). A TLB flush sends a shootdown IPI
    // to every other CPU with a count > 0 (6.1 skips lazy-TLB CPUs, which run no thread of the mm).
    std::vector<std::uint32_t> cpu_threads;
    Counters stats;

    // The TLB of this mm on `cpu`.
    [[nodiscard]] Tlb& tlb_on(int cpu, const TlbGeometry& g) {
        if (cpu == 0) {
            return tlb;
        }
        if (cpu_tlbs.size() < static_cast<std::size_t>(cpu)) {
            cpu_tlbs.resize(static_cast<std::size_t>(cpu));
        }
        auto& t = cpu_tlbs[static_cast<std::size_t>(cpu - 1)];
        if (!t) {
            t = std::make_unique<Tlb>(g);
        }
        return *t;
    }

    // The VMA containing addr, or nullptr.
    [[nodiscard]] Vma* find_vma(VirtAddr addr);
    [[nodiscard]] const Vma* find_vma(VirtAddr addr) const;
    // Whether v is the heap. As in 6.1 a VMA carries no heap mark (brk's VMA is an ordinary anonymous VMA that merges
    // with its neighbours): the heap is whatever VMA overlaps [heap_start, round_up(brk)) while brk > heap_start
    // (kernel patch 0016's rule for use_odf=2; traces/difftest/repro-paper-heap-*.trace).
    [[nodiscard]] bool is_heap(const Vma& v) const {
        const VirtAddr top = brk.align_up(kPageSize);
        return has_heap && brk > heap_start && v.start < top && v.end > heap_start;
    }
};

} // namespace odf
