// The modelled kernel memory manager: processes, page tables in simulated frames, fork in every mode, the page-fault
// handler and the VMA operations. Function names follow Linux 6.1's mm/ so a kernel reader finds each concept.
//
// Contract for all public operations: `pid` names a live process (the Simulator checks); costs are charged to the
// process doing the operation; page refcount == mapcount + pincount + FOLL_GET references (+1 for a shmem page held
// by its object); a PTE table's refcount == number of PMD entries pointing at it. A failed operation returns false
// (or the failing address) and leaves what Linux 6.1 leaves (docs/SEMANTICS.md, "Failed operations"): mremap and
// brk are refused before they change anything; mprotect, madvise, pin and getref keep what they did before the hole
// or the failing page. A failed call is still charged for the work it did and counted (einval, pinfail, reffail,
// noref).
#pragma once

#include "odf/cost_model.hpp"
#include "odf/mm.hpp"
#include "odf/phys_mem.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

namespace odf {

struct KernelConfig {
    ForkMode mode = ForkMode::Classic;
    std::uint64_t phys_frames = (64ULL << 30) >> kPageShift; // 64 GiB
    CostModel costs = CostModel::defaults();
    // Reproduce the ODF GUP leak (docs/SEMANTICS.md, "Read-only GUP references"): a shared table reused by its last
    // user keeps AnonExclusive on pages other references still point at. CLI: --bug odf-gup-leak.
    bool bug_odf_gup_leak = false;
};

// One page read through a read-only GUP reference (readref).
struct RefRead {
    std::uint64_t value = 0;  // the frame's content tag (0: the zero page or a never-written page)
    bool leak = false;        // private anon data written by another process after the reference was taken
    std::uint32_t writer = 0; // with leak: the pid that wrote it
};

// Result of one page access.
struct AccessResult {
    bool ok = false;         // false: a signal (sigbus says which)
    bool sigbus = false;     // SIGBUS (shared mapping beyond its object's size) rather than SIGSEGV
    std::uint64_t value = 0; // the tag read (or written)
};

class Kernel {
  public:
    explicit Kernel(KernelConfig cfg);
    ~Kernel();
    Kernel(const Kernel&) = delete;
    Kernel& operator=(const Kernel&) = delete;

    [[nodiscard]] ForkMode mode() const { return cfg_.mode; }
    [[nodiscard]] const CostModel& costs() const { return cfg_.costs; }
    [[nodiscard]] PhysMem& phys() { return phys_; }
    [[nodiscard]] const PhysMem& phys() const { return phys_; }
    [[nodiscard]] Mm* mm(std::uint32_t pid);
    [[nodiscard]] const Mm* mm(std::uint32_t pid) const;
    [[nodiscard]] const Mm* mm_by_id(std::uint32_t id) const;
    [[nodiscard]] const std::unordered_map<std::uint32_t, std::unique_ptr<Mm>>& processes() const { return procs_; }
    [[nodiscard]] const std::unordered_map<std::uint32_t, ShmemObject>& shmem_objects() const { return shmem_; }
    // Counters of processes that have exited (their totals are kept for the report).
    [[nodiscard]] const Counters& retired() const { return retired_; }

    // --- process creation (fork.cpp), teardown (exit.cpp) and exec (exec.cpp)
    // A new process with an empty address space. With charge_caller its PGD allocation is charged to the process
    // currently charged (fork), else to the new process.
    Mm& create_process(std::uint32_t pid, bool charge_caller = false);
    void fork(std::uint32_t parent, std::uint32_t child); // dup_mmap
    void exit(std::uint32_t pid);                         // exit_mmap + release
    void exec(std::uint32_t pid);                         // a new, empty mm

    // --- mmap.cpp
    bool mmap(std::uint32_t pid, VirtAddr start, std::uint64_t len_bytes, std::uint8_t prot, bool shared);
    bool munmap(std::uint32_t pid, VirtAddr start, std::uint64_t len_bytes);
    // Refused (false, break unchanged) below the heap's start or when growing onto another mapping.
    bool brk(std::uint32_t pid, VirtAddr new_brk);
    // --- mprotect.cpp
    // False (ENOMEM) if [addr, addr+len) has a hole; the VMAs before the first hole are changed all the same.
    bool mprotect(std::uint32_t pid, VirtAddr start, std::uint64_t len_bytes, std::uint8_t prot);
    // --- madvise.cpp
    // Zaps every mapped part of the range; false (ENOMEM) if some of it was not mapped.
    bool madvise_dontneed(std::uint32_t pid, VirtAddr start, std::uint64_t len_bytes);
    // --- mremap.cpp
    // Refused (false, nothing changed) unless the old range lies in one VMA and does not overlap the new one.
    bool mremap(std::uint32_t pid, VirtAddr old_addr, std::uint64_t old_len_bytes, VirtAddr new_addr,
                std::uint64_t new_len_bytes);

    // --- gup.cpp
    // Long-term pin of every page; returns the address of the page that failed, if any (the pages before it stay
    // pinned).
    std::optional<VirtAddr> pin(std::uint32_t pid, VirtAddr start, std::uint64_t len_bytes);
    // Returns false if some page in the range was not pinned by this process (those pages are skipped).
    bool unpin(std::uint32_t pid, VirtAddr start, std::uint64_t len_bytes);
    // Read-only GUP references (docs/SEMANTICS.md): a reference to every page, FOLL_GET (as vmsplice) or
    // FOLL_PIN | FOLL_LONGTERM (pin); returns the address of the page that failed, if any (the pages before it
    // keep their references).
    std::optional<VirtAddr> getref(std::uint32_t pid, VirtAddr start, std::uint64_t len_bytes, bool pin);
    // The first word of the page through this process's most recent reference to page va; nullopt: none.
    std::optional<RefRead> readref(std::uint32_t pid, VirtAddr va);
    // Drops this process's most recent reference to page va; false: it holds none.
    bool putref(std::uint32_t pid, VirtAddr va);

    // --- access.cpp
    // One access of the first word of the page containing va. A write stores `tag`.
    AccessResult access(Mm& mm, VirtAddr va, bool write, std::uint64_t tag);

    // The CPU the current operation runs on (odf-trace v2; 0 for v1 traces): accesses go through this CPU's TLB of
    // the mm, and TLB flushes send shootdown IPIs to the other CPUs in the mm's cpumask (Mm::cpu_threads).
    void set_cpu(int cpu) { cpu_ = cpu; }
    // Charges work that no memory operation does (task creation of clone/vfork/spawn, exec) to process pid.
    void charge_to(std::uint32_t pid, Cost c) {
        acct_ = &mm(pid)->stats;
        charge(c);
    }
    [[nodiscard]] int cpu() const { return cpu_; }
    // Cycles of remote TLB invalidation (the IPI handler) each CPU owes since the last call; resets them.
    std::vector<double> take_remote_cycles() {
        std::vector<double> out;
        out.swap(remote_cycles_);
        return out;
    }

    // --- pgtable.cpp
    // The entry mapping va at `level` in mm's tables, or nullptr if an upper level is missing (for tests/tools).
    [[nodiscard]] const Pte* lookup(const Mm& mm, VirtAddr va, Level level) const;

  private:
    // --- page tables (pgtable.cpp)
    Pte* pmd_offset(Mm& mm, VirtAddr va, bool alloc); // allocates PUD and PMD tables when alloc
    Pte* pte_offset(Pte& pmd, VirtAddr addr) { return &phys_.table(pmd.pfn())[addr.pte_index()]; }
    Pfn alloc_table(Mm& mm, FrameKind kind);
    void free_table(Mm& mm, Pfn pfn, bool charged);
    void pte_alloc(Mm& mm, Pte& pmd);
    void free_pgtables(Mm& mm, VirtAddr start, VirtAddr end);
    void free_all_pgtables(Mm& mm);
    [[nodiscard]] bool range_has_vma(const Mm& mm, VirtAddr start, VirtAddr end) const;
    [[nodiscard]] std::int64_t anon_pages_in(Pfn table) const;

    // --- pages (page.cpp)
    Pfn alloc_anon_page(Mm& mm, std::uint64_t tag, bool zero);
    void get_page(Pfn pfn) { phys_.frame(pfn).get_ref(); }
    void put_page(Pfn pfn);
    void page_remove_rmap(Pfn pfn) { --phys_.frame(pfn).mapcount; }
    void charge(Cost c, std::uint64_t n = 1) { acct_->charges[static_cast<int>(c)] += n; }
    void anon_vma_prepare(Vma& vma) {
        if (vma.anon_vma == 0) {
            vma.anon_vma = ++next_anon_vma_;
        }
    }

    // --- TLB flushes and shootdowns (tlb_flush.cpp)
    void flush_tlb_range(Mm& mm, VirtAddr start, VirtAddr end);
    void flush_tlb_mm(Mm& mm);
    void flush_all_tlbs(Mm& mm);
    void shootdown(Mm& mm, double invalidation_cycles);

    // --- fork (fork.cpp)
    void dup_mmap(Mm& parent, Mm& child);
    void copy_page_range(Mm& dst, Mm& src, const Vma& vma);
    void copy_pud_range(Mm& dst, Mm& src, const Vma& vma, VirtAddr addr, VirtAddr end);
    void copy_pmd_range(Mm& dst, Mm& src, const Vma& vma, VirtAddr addr, VirtAddr end);
    void copy_pte_range(Mm& dst, Mm& src, const Vma& vma, Pte& dst_pmd, Pte& src_pmd, VirtAddr addr, VirtAddr end);
    // Copies one present PTE as copy_present_pte does; returns 1 if dst now maps an anon page.
    int copy_present_pte(const Vma* vma, Pte& dst, Pte& src);
    void copy_huge_pmd(Mm& dst, Mm& src, Pte& dst_pmd, Pte& src_pmd);

    // --- ODF: shared PTE tables (cow_pte.cpp)
    [[nodiscard]] bool is_cow_pte(const Pte& pmd) const;
    [[nodiscard]] bool cow_pte_eligible(const Mm& src, const Vma& vma, const Pte& pmd, VirtAddr addr) const;
    void share_pte_table(Mm& dst, Mm& src, Pte& dst_pmd, Pte& src_pmd);
    void break_cow_pte(Mm& mm, Pte& pmd, VirtAddr addr);
    void drop_cow_pte(Mm& mm, Pte& pmd, VirtAddr addr);
    void cow_pte_pass_on(Mm& mm, Pfn table, VirtAddr addr);
    void break_cow_pte_range(Mm& mm, VirtAddr start, VirtAddr end);
    void cow_pte_reuse_scan(Pfn table);
    void unmap_cow_pte_range(Mm& mm, VirtAddr start, VirtAddr end);

    // --- faults (fault.cpp)
    // Returns false when the fault ends in SIGBUS (VM_FAULT_SIGBUS: no minflt is counted).
    bool handle_mm_fault(Mm& mm, Vma& vma, VirtAddr addr, bool write);
    void handle_pte_fault(Mm& mm, Vma& vma, Pte& pte, VirtAddr addr, bool write);
    void do_anonymous_page(Mm& mm, Vma& vma, Pte& pte, bool write);
    bool do_shmem_fault(Mm& mm, Vma& vma, Pte& pmd, VirtAddr addr, bool write);
    void do_wp_page(Mm& mm, Vma& vma, Pte& pte, VirtAddr addr);
    // do_wp_page() with FAULT_FLAG_UNSHARE on a present PTE of a private VMA (R/O long-term pin).
    void do_wp_page_unshare(Mm& mm, Vma& vma, Pte& pte, VirtAddr addr);
    void do_huge_pmd_anonymous_page(Mm& mm, Vma& vma, Pte& pmd, bool write);
    void do_huge_pmd_wp_page(Mm& mm, Vma& vma, Pte& pmd, VirtAddr addr);
    void split_huge_pmd(Mm& mm, Pte& pmd, VirtAddr addr);
    [[nodiscard]] bool thp_suitable(const Vma& vma, VirtAddr addr) const;
    // The object's page for addr, allocated when create; Pfn::none() for a hole when !create.
    Pfn shmem_get_page(Vma& vma, VirtAddr addr, bool create);
    Pfn alloc_anon_huge(Vma& vma); // a zeroed-to-be 2 MiB page, exclusive, refcount and mapcount 1

    // --- zap (zap.cpp)
    enum class ZapKind : std::uint8_t { Unmap, DontNeed, Exit };
    void unmap_page_range(Mm& mm, const Vma& vma, VirtAddr addr, VirtAddr end, ZapKind kind);
    void zap_pud_range(Mm& mm, const Vma& vma, Pte& pgd, VirtAddr addr, VirtAddr end, ZapKind kind);
    void zap_pmd_range(Mm& mm, const Vma& vma, Pte& pud, VirtAddr addr, VirtAddr end, ZapKind kind);
    void zap_pte_range(Mm& mm, Pte& pmd, VirtAddr addr, VirtAddr end);
    void zap_huge_pmd(Mm& mm, Pte& pmd);
    void release_pte_table_pages(Pfn table);

    // --- VMAs (mmap.cpp)
    void split_vma(Mm& mm, VirtAddr at);
    void vma_merge_around(Mm& mm, VirtAddr start, VirtAddr end);
    void vma_merge_region(Mm& mm, VirtAddr start);
    void vma_absorb_next(Mm& mm, const VmaMap::iterator& it, const Vma& n, const Vma& r);
    void do_munmap(Mm& mm, VirtAddr start, VirtAddr end);
    void insert_vma(Mm& mm, const Vma& v);
    void release_vma(Mm& mm, const Vma& v);
    // --- mprotect.cpp
    void change_protection(Mm& mm, Vma& vma, VirtAddr start, VirtAddr end);
    // --- mremap.cpp
    void move_page_tables(Mm& mm, VirtAddr old_addr, VirtAddr new_addr, std::uint64_t len_bytes);
    // --- exit.cpp
    void exit_mm(Mm& mm);
    // --- gup.cpp
    void drop_gup_ref(Mm& mm, const Mm::GupRef& r);

    // --- access path (access.cpp)
    struct Walk {
        Pte* leaf = nullptr; // the PTE (or huge PMD) that maps the page, if present
        bool present = false;
        bool writable = false;
        bool huge = false;
        Pfn pfn; // 4 KiB frame of the page
    };
    Walk walk(Mm& mm, VirtAddr va, bool charge_steps);

    KernelConfig cfg_;
    PhysMem phys_;
    std::unordered_map<std::uint32_t, std::unique_ptr<Mm>> procs_;
    std::unordered_map<std::uint32_t, Mm*> by_id_;
    std::unordered_map<std::uint32_t, ShmemObject> shmem_;
    std::uint32_t next_mm_id_ = 0;
    std::uint32_t next_anon_vma_ = 0;
    std::uint32_t next_shmem_ = 0;
    // Frames that read-only GUP references point at: who wrote them last, and when (leak detection).
    struct WriteStamp {
        std::uint32_t refs = 0;
        std::uint32_t writer = 0;
        std::uint64_t seq = 0;
    };
    std::unordered_map<Pfn, WriteStamp> ref_frames_;
    std::uint64_t write_seq_ = 0;
    Counters* acct_ = nullptr;
    Counters retired_;
    int cpu_ = 0;
    std::vector<double> remote_cycles_; // per CPU: invalidation work done there for other CPUs' flushes
    // The TLB of the current CPU: inline for CPU 0 (every v1 trace), out of line otherwise.
    [[nodiscard]] [[gnu::always_inline]] Tlb& tlb(Mm& mm) { return cpu_ == 0 ? mm.tlb : cpu_tlb(mm); }
    [[nodiscard]] Tlb& cpu_tlb(Mm& mm); // access.cpp
};

} // namespace odf
