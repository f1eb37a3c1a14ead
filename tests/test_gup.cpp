// Read-only GUP references (getref get/pin, readref, putref): the ODF vmsplice leak of the upstream mm cow selftest
// with --bug odf-gup-leak, the fix, 6.1's unshare rules, and the traces/difftest/repro-gup-* reproducers.
#include "fixtures.hpp"
#include "odf/tag.h"
#include "odf/trace/io.hpp"

#include <fmt/format.h>
#include <map>
#include <tuple>
#include <vector>

using namespace odf;
using odf::test::kBase;
using odf::test::Run;

namespace {

constexpr ForkMode kAllModes[] = {ForkMode::Classic, ForkMode::Odf, ForkMode::OdfPaper, ForkMode::CowPteV3,
                                  ForkMode::Thp};

// readref results and failure events by line.
struct RefLog final : Observer {
    std::vector<std::tuple<std::uint32_t, std::uint64_t, std::uint64_t>> readrefs; // line, hash, pages
    std::vector<std::pair<std::uint32_t, std::uint64_t>> reffails;                 // line, addr
    std::vector<std::pair<std::uint32_t, std::uint64_t>> norefs;
    std::map<std::uint32_t, std::uint64_t> minflt; // line -> minflt of the op
    void on_readref(const trace::Op& op, std::uint64_t hash, std::uint64_t pages) override {
        readrefs.emplace_back(op.line, hash, pages);
    }
    void on_reffail(const trace::Op& op, std::uint64_t addr) override { reffails.emplace_back(op.line, addr); }
    void on_noref(const trace::Op& op, std::uint64_t addr) override { norefs.emplace_back(op.line, addr); }
    void on_op(const trace::Op& op, std::uint64_t n) override { minflt[op.line] = n; }
};

struct Result {
    RefLog log;
    std::vector<LeakEvent> leaks;
    Counters totals;
};

Result replay_file(const std::string& name, ForkMode mode, bool bug) {
    const trace::Trace t = trace::load_trace(std::string(ODF_SOURCE_DIR) + "/traces/difftest/" + name);
    SimConfig cfg;
    cfg.kernel.mode = mode;
    cfg.kernel.phys_frames = (256ULL << 20) >> kPageShift;
    cfg.kernel.bug_odf_gup_leak = bug;
    cfg.check = true;
    Simulator sim(cfg);
    Result r;
    sim.set_observer(&r.log);
    sim.run(t);
    sim.finish(t);
    REQUIRE(InvariantChecker::check_no_leak(sim.kernel()).empty());
    r.leaks = sim.leaks();
    r.totals = sim.totals();
    return r;
}

struct Repro {
    const char* file;
    LeakEvent leak; // with --bug odf-gup-leak in odf and odf-paper
};

constexpr std::uint64_t kX = 0x200000000;
const Repro kLeaking[] = {
    {"repro-gup-vmsplice-unmap-child.trace", {2, 14, kX, 1}},
    {"repro-gup-vmsplice-unmap-child-mprotect.trace", {2, 14, kX, 1}},
    {"repro-gup-vmsplice-before-fork.trace", {1, 13, kX, 2}},
    {"repro-gup-vmsplice-unmap-parent.trace", {1, 11, kX, 2}},
};
const char* const kNonLeaking[] = {"repro-gup-own-write.trace", "repro-gup-ro-pin.trace", "repro-gup-zero-pin.trace",
                                   "repro-gup-exit.trace"};

} // namespace

TEST_CASE("gup: with --bug odf-gup-leak odf and odf-paper leak exactly as the cow selftest shows", "[gup]") {
    for (const Repro& r : kLeaking) {
        for (ForkMode m : kAllModes) {
            INFO(fmt::format("{} {}", r.file, mode_name(m)));
            const Result res = replay_file(r.file, m, true);
            if (m == ForkMode::Odf || m == ForkMode::OdfPaper) {
                REQUIRE(res.leaks == std::vector<LeakEvent>{r.leak});
                CHECK(res.totals.leaks == 1);
            } else {
                CHECK(res.leaks.empty()); // classic, thp: 6.1; cow-pte-v3 clears AnonExclusive at fork
            }
        }
    }
    for (const char* f : kNonLeaking) {
        for (ForkMode m : kAllModes) {
            INFO(fmt::format("{} {}", f, mode_name(m)));
            CHECK(replay_file(f, m, true).leaks.empty());
        }
    }
}

TEST_CASE("gup: with the fix no mode leaks and every mode's readref values are classic's", "[gup]") {
    std::vector<const char*> files;
    for (const Repro& r : kLeaking) {
        files.push_back(r.file);
    }
    files.insert(files.end(), std::begin(kNonLeaking), std::end(kNonLeaking));
    for (const char* f : files) {
        const Result classic = replay_file(f, ForkMode::Classic, false);
        CHECK(!classic.log.readrefs.empty());
        for (ForkMode m : kAllModes) {
            INFO(fmt::format("{} {}", f, mode_name(m)));
            const Result res = replay_file(f, m, false);
            CHECK(res.leaks.empty());
            if (m != ForkMode::Thp || std::string(f) != "repro-gup-exit.trace") {
                // thp: the child's getref splits the huge page it shares with the parent, and the split copies
                // it (sim/fault.cpp): the child's own later write then reaches its reference.
                CHECK(res.log.readrefs == classic.log.readrefs);
            }
            CHECK(res.log.reffails == classic.log.reffails);
            CHECK(res.log.norefs.empty());
        }
    }
}

TEST_CASE("gup: the leak reads the other process's data; the fix keeps the old data", "[gup]") {
    // repro-gup-vmsplice-unmap-child: lines 9 and 13 are the parent's writes, line 14 the child's readref.
    const std::uint64_t old_data = odf_fold(0, odf_tag(9, 1, kX));
    const std::uint64_t new_data = odf_fold(0, odf_tag(13, 1, kX));
    const Result fixed = replay_file("repro-gup-vmsplice-unmap-child.trace", ForkMode::Odf, false);
    REQUIRE(fixed.log.readrefs.size() == 1);
    CHECK(std::get<1>(fixed.log.readrefs[0]) == old_data);
    const Result bug = replay_file("repro-gup-vmsplice-unmap-child.trace", ForkMode::Odf, true);
    REQUIRE(bug.log.readrefs.size() == 1);
    CHECK(std::get<1>(bug.log.readrefs[0]) == new_data);
}

TEST_CASE("gup: getref get takes a reference as-is, without faulting a present page", "[gup]") {
    for (ForkMode m : {ForkMode::Classic, ForkMode::Odf}) {
        Run run(m);
        run(fmt::format("1 mmap {:#x} 0x200000 rw private\n1 w {:#x} 0x2000\n1 fork 2\n", kBase, kBase));
        const std::uint64_t before = run.stats(2).minflt;
        run(fmt::format("2 getref {:#x} 0x1000 get\n", kBase));
        CHECK(run.stats(2).minflt == before); // present: no fault, the table stays shared under ODF
        const Frame& f = run.frame_at(1, kBase);
        CHECK(run.pincount_at(1, kBase) == 0);
        CHECK(!f.pinned);
        CHECK(f.refcount == (m == ForkMode::Classic ? 3 : 2)); // mappings + the reference
        if (m == ForkMode::Odf) {
            CHECK(!run.pmd(2, kBase).writable());
            CHECK((f.flags & kAnonExclusive) != 0); // ODF fork left it exclusive
        }
        // A none PTE faults in like a read: the zero page, one minflt (ODF: the table breaks in that fault).
        run(fmt::format("2 getref {:#x} 0x1000 get\n", kBase + 0x4000));
        CHECK(run.stats(2).minflt == before + 1);
        CHECK(run.pte(2, kBase + 0x4000)->special());
        run(fmt::format("2 exit\n1 exit\n"));
        run.finish();
    }
}

TEST_CASE("gup: a read-only pin unshares a page that is not AnonExclusive (one fault, ODF breaks first)", "[gup]") {
    for (ForkMode m : {ForkMode::Classic, ForkMode::Odf, ForkMode::OdfPaper, ForkMode::CowPteV3}) {
        INFO(mode_name(m));
        Run run(m);
        run(fmt::format("1 mmap {:#x} 0x200000 rw private\n1 w {:#x}\n1 fork 2\n", kBase, kBase));
        const std::uint64_t before = run.stats(2).minflt;
        run(fmt::format("2 getref {:#x} 0x1000 pin\n", kBase));
        CHECK(run.stats(2).minflt == before + 1);
        const Pte& e = *run.pte(2, kBase);
        CHECK(!e.writable()); // the copy is mapped read-only
        const Frame& f = run.frame_at(2, kBase);
        CHECK((f.flags & kAnonExclusive) != 0);
        CHECK(run.pincount_at(2, kBase) == 1);
        CHECK(f.pinned);
        CHECK(f.refcount == 2);
        CHECK(run.pte(1, kBase)->pfn() != e.pfn());
        if (shares_tables(m)) {
            CHECK(run.pmd(2, kBase).writable()); // the table was broken in the same fault
        }
        // A pin of an AnonExclusive page whose table is private: no fault.
        const std::uint64_t mid = run.stats(2).minflt;
        run(fmt::format("2 getref {:#x} 0x1000 pin\n", kBase));
        CHECK(run.stats(2).minflt == mid);
        CHECK(run.pincount_at(2, kBase) == 2);
        // The process's own write reuses the pinned page in place: the pin sees it.
        run(fmt::format("2 w {:#x}\n2 readref {:#x} 0x1000\n", kBase, kBase));
        CHECK(run.sim.leaks().empty());
        run("2 exit\n1 exit\n");
        run.finish();
    }
}

TEST_CASE("gup: unshare reuses a page whose only reference is its mapping", "[gup]") {
    Run run(ForkMode::Classic);
    run(fmt::format("1 mmap {:#x} 0x200000 rw private\n1 w {:#x}\n1 fork 2\n2 exit\n", kBase, kBase));
    REQUIRE((run.frame_at(1, kBase).flags & kAnonExclusive) == 0);
    const Pfn before = run.pte(1, kBase)->pfn();
    run(fmt::format("1 getref {:#x} 0x1000 pin\n", kBase));
    CHECK(run.pte(1, kBase)->pfn() == before);
    CHECK((run.frame_at(1, kBase).flags & kAnonExclusive) != 0);
    CHECK(!run.pte(1, kBase)->writable());
    CHECK(run.faults(1, FaultKind::WpReuse) == 1);
    run("1 exit\n");
    run.finish();
}

TEST_CASE("gup: the reuse scan clears AnonExclusive only of referenced pages and is charged", "[gup]") {
    Run run(ForkMode::Odf);
    run(fmt::format("1 mmap {:#x} 0x200000 rw private\n1 w {:#x} 0x3000\n1 getref {:#x} 0x1000 get\n1 fork 2\n"
                    "2 exit\n",
                    kBase, kBase, kBase));
    const std::uint64_t scans = run.stats(1).charges[static_cast<int>(Cost::PteScan)];
    run(fmt::format("1 w {:#x}\n", kBase + 0x1000)); // reuse: the referenced page loses AnonExclusive
    CHECK(run.stats(1).charges[static_cast<int>(Cost::PteScan)] == scans + 512);
    CHECK(run.stats(1).charges[static_cast<int>(Cost::PageCheck)] >= 3);
    CHECK((run.frame_at(1, kBase).flags & kAnonExclusive) == 0);
    CHECK(!run.pte(1, kBase)->writable());
    CHECK((run.frame_at(1, kBase + 0x2000).flags & kAnonExclusive) != 0); // unreferenced: stays exclusive
    CHECK(run.pte(1, kBase + 0x2000)->writable());
    const Pfn old = run.pte(1, kBase)->pfn();
    run(fmt::format("1 w {:#x}\n1 readref {:#x} 0x1000\n", kBase, kBase));
    CHECK(run.pte(1, kBase)->pfn() != old); // copied: the reference keeps the data of before the fork
    run("1 exit\n");
    run.finish();
}

TEST_CASE("gup: references belong to their process and survive munmap, mremap and mprotect", "[gup]") {
    Run run(ForkMode::Odf);
    run(fmt::format("1 mmap {:#x} 0x10000 rw private\n1 w {:#x} 0x10000\n1 getref {:#x} 0x4000 get\n"
                    "1 getref {:#x} 0x1000 get\n1 fork 2\n",
                    kBase, kBase, kBase, kBase));
    CHECK(run.mm(1).refs.at(VirtAddr{kBase}.page()).size() == 2);
    CHECK(run.mm(2).refs.empty()); // not inherited
    run(fmt::format("1 mprotect {:#x} 0x10000 none\n1 mremap {:#x} 0x10000 {:#x} 0x10000\n1 munmap {:#x} 0x10000\n",
                    kBase, kBase, kBase + 0x100000, kBase + 0x100000));
    run(fmt::format("1 readref {:#x} 0x4000\n1 putref {:#x} 0x4000\n1 readref {:#x} 0x1000\n", kBase, kBase, kBase));
    CHECK(run.stats(1).noref == 0);
    run(fmt::format("1 putref {:#x} 0x1000\n1 readref {:#x} 0x1000\n", kBase, kBase));
    CHECK(run.stats(1).noref == 1); // the last reference is gone: noref, the op stops
    run(fmt::format("2 getref {:#x} 0x1000 get\n2 exec\n", kBase));
    CHECK(run.mm(2).refs.empty()); // exec drops them
    run(fmt::format("2 mmap {:#x} 0x2000 rw private\n2 mprotect {:#x} 0x1000 none\n2 getref {:#x} 0x2000 get\n", kBase,
                    kBase + 0x1000, kBase));
    CHECK(run.stats(2).reffail == 1); // the second page is PROT_NONE; the first keeps its reference
    CHECK(run.mm(2).refs.size() == 1);
    run("2 exit\n1 exit\n");
    run.finish();
}

TEST_CASE("gup: the invariant checker counts references", "[gup]") {
    Run run(ForkMode::Classic);
    run(fmt::format("1 mmap {:#x} 0x2000 rw private\n1 w {:#x}\n1 getref {:#x} 0x1000 get\n"
                    "1 getref {:#x} 0x1000 pin\n",
                    kBase, kBase, kBase, kBase));
    CHECK(InvariantChecker::check(run.k()).empty());
    // A reference the checker does not know about: the frame's refcount no longer adds up.
    Frame& f = run.k().phys().frame(run.pte(1, kBase)->pfn());
    ++f.refcount;
    CHECK(!InvariantChecker::check(run.k()).empty());
    --f.refcount;
    run(fmt::format("1 munmap {:#x} 0x2000\n", kBase));
    CHECK(InvariantChecker::check(run.k()).empty()); // the references keep the frame alive
    run("1 exit\n");
    run.finish(); // and exit drops them: nothing leaked
}
