#include "fixtures.hpp"

using namespace odf;
using odf::test::Run;

SCENARIO("mmap_then_mprotect_splits_a_vma_and_restoring_prot_merges_it", "[vma]") {
    Run r(ForkMode::Classic);
    r("1 mmap 0x40000000 0x10000 rw private\n1 w 0x40000000 0x10000\n");
    CHECK(r.mm(1).vmas.size() == 1);
    r("1 mprotect 0x40004000 0x4000 r\n");
    CHECK(r.mm(1).vmas.size() == 3);
    CHECK_FALSE(r.pte(1, 0x40004000)->writable());
    CHECK(r.pte(1, 0x40000000)->writable());
    r("1 mprotect 0x40004000 0x4000 rw\n");
    CHECK(r.mm(1).vmas.size() == 1);
    // Dirty exclusive pages become writable at once (can_change_pte_writable): no fault on the next write.
    CHECK(r.pte(1, 0x40004000)->writable());
    const auto before = r.stats(1).minflt;
    r("1 w 0x40004000\n");
    CHECK(r.stats(1).minflt == before);
}

SCENARIO("accesses_outside_any_vma_or_against_its_prot_are_sigsegv_events", "[vma][segv]") {
    Run r(ForkMode::Classic);
    r("1 mmap 0x40000000 0x2000 r private\n1 w 0x40000000\n1 r 0x50000000\n1 mprotect 0x40000000 0x2000 none\n"
      "1 r 0x40001000\n");
    CHECK(r.stats(1).segv == 3);
    CHECK(r.stats(1).minflt == 0);
    r("1 mprotect 0x40000000 0x2000 rw\n1 w 0x40000000 0x2000\n");
    CHECK(r.stats(1).segv == 3);
}

SCENARIO("munmap_frees_page_tables_no_remaining_vma_needs", "[vma][munmap]") {
    Run r(ForkMode::Classic);
    r("1 mmap 0x40000000 0x400000 rw private\n1 w 0x40000000 0x400000\n");
    CHECK(r.mm(1).pgtables_bytes == 4 * 4096);
    r("1 munmap 0x40000000 0x300000\n");
    CHECK(r.mm(1).pgtables_bytes == 3 * 4096); // the table of the first 2 MiB is gone
    CHECK(r.mm(1).rss_anon == 256);
    r("1 munmap 0x40300000 0x100000\n");
    CHECK(r.mm(1).pgtables_bytes == 0);
    CHECK(r.mm(1).rss_anon == 0);
    r.finish();
}

SCENARIO("madvise_dontneed_zeroes_private_memory_but_keeps_the_mapping", "[vma][madvise]") {
    Run r(ForkMode::Classic);
    r("1 mmap 0x40000000 0x4000 rw private\n1 w 0x40000000 0x4000\n1 madvise 0x40000000 0x4000 dontneed\n");
    CHECK(r.mm(1).rss_anon == 0);
    r("1 r 0x40000000 0x4000\n"); // the oracle expects zeroes
    CHECK(r.mm(1).pgtables_bytes == 3 * 4096);
}

SCENARIO("mremap_moves_contents_and_whole_aligned_tables", "[vma][mremap]") {
    Run r(ForkMode::Classic);
    r("1 mmap 0x40000000 0x200000 rw private\n1 w 0x40000000 0x200000\n");
    const Pfn table = r.pmd(1, 0x40000000).pfn();
    r("1 mremap 0x40000000 0x200000 0x80000000 0x400000\n");
    CHECK(r.pmd(1, 0x80000000).pfn() == table); // move_normal_pmd
    CHECK(r.mm(1).find_vma(VirtAddr{0x40000000}) == nullptr);
    r("1 r 0x80000000 0x400000\n1 w 0x80300000\n");
    r("1 mremap 0x80001000 0x2000 0x90000000 0x2000\n1 r 0x90000000 0x2000\n1 r 0x80000000\n");
    CHECK(r.mm(1).stats.einval == 0);
    r.finish();
}

SCENARIO("brk_grows_and_shrinks_the_heap_and_refuses_to_go_below_its_start", "[vma][brk]") {
    Run r(ForkMode::Classic);
    r("1 brk 0x10000000\n1 brk 0x10005000\n1 w 0x10000000 0x5000\n");
    CHECK(r.mm(1).vmas.size() == 1);
    CHECK(r.mm(1).is_heap(r.mm(1).vmas.begin()->second));
    r("1 brk 0x10002000\n1 r 0x10004000\n");
    CHECK(r.stats(1).segv == 1);
    r("1 brk 0x0f000000\n");
    CHECK(r.stats(1).einval == 1);
    r("1 brk 0x10004000\n1 r 0x10003000\n"); // regrown memory reads zero
}

SCENARIO("exec_drops_the_whole_address_space", "[vma][exec]") {
    Run r(ForkMode::Odf);
    r("1 mmap 0x40000000 0x200000 rw private\n1 w 0x40000000 0x200000\n1 fork 2\n2 exec\n");
    CHECK(r.mm(2).vmas.empty());
    CHECK(r.mm(2).pgtables_bytes == 0);
    CHECK(r.k().phys().frame(r.pmd(1, 0x40000000).pfn()).refcount == 1);
    r("2 r 0x40000000\n");
    CHECK(r.stats(2).segv == 1);
    r.finish();
}
