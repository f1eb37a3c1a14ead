// odf_trace: the workload generators produce valid traces of the documented shape.
#include "odf/trace/format.hpp"
#include "odf/trace/generators.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <set>

using namespace odf::trace;

namespace {

// Valid, parses back to itself from text, lines are 2, 3, 4, ...
void check_valid_canonical(const Trace& t) {
    REQUIRE_NOTHROW(validate(t));
    for (std::size_t i = 0; i < t.ops.size(); ++i) {
        REQUIRE(t.ops[i].line == i + 2);
    }
    Trace u = parse_text_string(write_text_string(t), "gen");
    CHECK(u.ops == t.ops);
    CHECK(u.labels == t.labels);
}

std::string label_of(const Trace& t, const Op& op) {
    return t.labels.at(op.label);
}

} // namespace

SCENARIO("trace_gen: fork-sweep populates, marks, forks, exits the child and unmaps, per size", "[trace][gen]") {
    GIVEN("sizes 0.5, 1 and 2.25 GiB") {
        ForkSweepParams p;
        p.sizes_gib = {0.5, 1, 2.25};
        Trace t = gen_fork_sweep(p);
        check_valid_canonical(t);
        THEN("each size is the documented 7-op block") {
            REQUIRE(t.ops.size() == 21);
            for (std::size_t s = 0; s < 3; ++s) {
                const Op* b = &t.ops[s * 7];
                std::uint64_t len = gib_to_bytes(p.sizes_gib[s]);
                auto child = static_cast<std::uint32_t>(s + 2);
                CHECK(b[0].kind == OpKind::Mmap);
                CHECK(b[0].len == len);
                CHECK(b[0].addr == p.base);
                CHECK(b[0].prot == (kProtRead | kProtWrite));
                CHECK(b[1].kind == OpKind::Write);
                CHECK(b[1].len == len);
                CHECK(page_count(b[1]) == len / 4096);
                CHECK(b[2].kind == OpKind::Mark);
                CHECK(b[3].kind == OpKind::Fork);
                CHECK(b[3].child == child);
                CHECK(b[4].kind == OpKind::Mark);
                CHECK(b[5].kind == OpKind::Exit);
                CHECK(b[5].pid == child);
                CHECK(b[6].kind == OpKind::Munmap);
                CHECK(b[6].len == len);
            }
            CHECK(label_of(t, t.ops[2]) == "fork-0.5G-pre");
            CHECK(label_of(t, t.ops[18]) == "fork-2.25G-post");
            CHECK(gib_to_bytes(2.25) == 2415919104ULL);
        }
    }
    GIVEN("50 GiB and repeat 3") {
        ForkSweepParams p;
        p.sizes_gib = {50};
        p.repeat = 3;
        Trace t = gen_fork_sweep(p);
        check_valid_canonical(t);
        THEN("three forks of 50 GiB, 1 label pair reused") {
            CHECK(t.ops.size() == 21);
            CHECK(t.labels.size() == 2);
            CHECK(count_ops(t).pages_written == 3 * 50 * (kGiB / 4096));
        }
    }
    GIVEN("bad sizes") {
        ForkSweepParams p;
        p.sizes_gib = {0};
        THEN("they are rejected") {
            CHECK_THROWS_AS(gen_fork_sweep(p), std::invalid_argument);
        }
    }
}

SCENARIO("trace_gen: snapshot child scans the whole dataset in chunks while the parent writes", "[trace][gen]") {
    SnapshotParams p;
    p.dataset_gib = 0.01;
    p.chunk_bytes = 1 * kMiB;
    p.writes_per_chunk = 3;
    Trace t = gen_snapshot(p);
    check_valid_canonical(t);
    const std::uint64_t len = gib_to_bytes(0.01);
    const std::uint64_t chunks = (len + kMiB - 1) / kMiB;
    THEN("the child reads every byte once, in order, one chunk per r op") {
        std::uint64_t next = p.base;
        std::uint64_t reads = 0;
        for (const auto& op : t.ops) {
            if (op.pid == 2 && op.kind == OpKind::Read) {
                CHECK(op.addr == next);
                next += op.len;
                ++reads;
            }
        }
        CHECK(next == p.base + len);
        CHECK(reads == chunks);
    }
    THEN("the parent writes W single pages inside the dataset per chunk, while the child is alive") {
        auto fork_at = std::find_if(t.ops.begin(), t.ops.end(), [](const Op& o) { return o.kind == OpKind::Fork; });
        auto exit_at = std::find_if(t.ops.begin(), t.ops.end(), [](const Op& o) { return o.kind == OpKind::Exit; });
        REQUIRE(fork_at < exit_at);
        std::uint64_t writes = 0;
        for (auto it = fork_at; it != exit_at; ++it) {
            if (it->kind == OpKind::Write) {
                CHECK(it->pid == 1);
                CHECK(it->len == 4096);
                CHECK(it->addr % 4096 == 0);
                CHECK(it->addr >= p.base);
                CHECK(it->addr < p.base + len);
                ++writes;
            }
        }
        CHECK(writes == chunks * 3);
    }
    THEN("the same seed gives the same trace, another seed another one") {
        CHECK(gen_snapshot(p).ops == t.ops);
        SnapshotParams q = p;
        q.seed = 2;
        CHECK(gen_snapshot(q).ops != t.ops);
    }
}

SCENARIO("trace_gen: fuzz loop forks N children that each touch K random pages", "[trace][gen]") {
    FuzzLoopParams p;
    p.parent_gib = 0.25;
    p.iterations = 50;
    p.pages = 40;
    p.write_fraction = 0.25;
    Trace t = gen_fuzz_loop(p);
    check_valid_canonical(t);
    THEN("shape: populate, mark, then N x (fork, K accesses, exit), mark") {
        REQUIRE(t.ops.size() == 3 + 50 * 42 + 1);
        auto c = count_ops(t);
        CHECK(c.by_kind[static_cast<int>(OpKind::Fork)] == 50);
        CHECK(c.by_kind[static_cast<int>(OpKind::Exit)] == 50);
        std::uint64_t writes = c.by_kind[static_cast<int>(OpKind::Write)] - 1;
        CHECK(writes + c.by_kind[static_cast<int>(OpKind::Read)] == 50 * 40);
        CHECK(writes > 300); // 25 % of 2000, loosely
        CHECK(writes < 700);
        for (std::size_t i = 3; i + 1 < t.ops.size(); i += 42) {
            CHECK(t.ops[i].kind == OpKind::Fork);
            CHECK(t.ops[i + 41].kind == OpKind::Exit);
            CHECK(t.ops[i + 41].pid == t.ops[i].child);
            for (std::size_t k = 1; k <= 40; ++k) {
                CHECK(t.ops[i + k].pid == t.ops[i].child);
                CHECK(t.ops[i + k].len == 4096);
            }
        }
    }
}

SCENARIO("trace_gen: unit tests run in children over a small working set", "[trace][gen]") {
    UnitTestParams p;
    p.parent_gib = 0.1;
    p.tests = 20;
    p.working_set_pages = 64;
    p.writes = 8;
    p.scratch_pages = 4;
    Trace t = gen_unit_test(p);
    check_valid_canonical(t);
    THEN("each test: fork, scratch mmap + write, one read of the working set, writes inside it, exit") {
        std::size_t i = 3;
        for (unsigned k = 0; k < p.tests; ++k) {
            const Op* b = &t.ops[i];
            REQUIRE(b[0].kind == OpKind::Fork);
            std::uint32_t c = b[0].child;
            CHECK(b[1].kind == OpKind::Mmap);
            CHECK(b[1].pid == c);
            CHECK(b[1].addr + b[1].len == p.base);
            CHECK(b[2].kind == OpKind::Write);
            CHECK(b[3].kind == OpKind::Read);
            CHECK(b[3].len == 64 * 4096);
            for (unsigned w = 0; w < p.writes; ++w) {
                CHECK(b[4 + w].kind == OpKind::Write);
                CHECK(b[4 + w].addr >= b[3].addr);
                CHECK(b[4 + w].addr < b[3].addr + b[3].len);
            }
            CHECK(b[4 + p.writes].kind == OpKind::Exit);
            CHECK(b[4 + p.writes].pid == c);
            i += 5 + p.writes;
        }
        CHECK(i + 1 == t.ops.size());
    }
}

SCENARIO("trace_gen: random programs are valid, deterministic, and use every op", "[trace][gen][random]") {
    GIVEN("many seeds") {
        for (std::uint64_t seed = 1; seed <= 30; ++seed) {
            RandomParams p;
            p.seed = seed;
            p.ops = 1500;
            p.max_live = 3;
            p.max_procs = 10;
            Trace t = gen_random(p);
            check_valid_canonical(t);
            CHECK(gen_random(p).ops == t.ops);

            // Process limits, and pins: every unpin undoes an earlier, still active pin of the same range.
            std::set<std::uint32_t> live{1};
            std::uint32_t max_pid = 1;
            std::map<std::uint32_t, std::multiset<std::pair<std::uint64_t, std::uint64_t>>> pins;
            bool unpin_ok = true;
            for (const auto& op : t.ops) {
                if (op.kind == OpKind::Fork) {
                    live.insert(op.child);
                    max_pid = std::max(max_pid, op.child);
                    CHECK(live.size() <= p.max_live);
                } else if (op.kind == OpKind::Exit) {
                    live.erase(op.pid);
                    pins.erase(op.pid);
                } else if (op.kind == OpKind::Pin) {
                    pins[op.pid].insert({op.addr, op.len}); // a failing pin's prefix is checked by the model
                } else if (op.kind == OpKind::Unpin) {
                    auto& s = pins[op.pid];
                    auto it = std::find_if(s.begin(), s.end(),
                                           [&](const auto& pr) { return pr.first == op.addr && pr.second >= op.len; });
                    unpin_ok = unpin_ok && it != s.end();
                    if (it != s.end()) {
                        s.erase(it);
                    }
                } else if (op.kind == OpKind::Exec) {
                    pins.erase(op.pid); // what remains are pins that failed on their first page
                }
            }
            CHECK(unpin_ok);

            // References: every readref and putref names pages the process holds references to (getref's pages up
            // to the first that is unmapped or PROT_NONE, which the model checks), not inherited, dropped by exec.
            std::map<std::uint32_t, std::map<std::uint64_t, int>> refs;
            bool refs_ok = true;
            for (const auto& op : t.ops) {
                if (op.kind == OpKind::Getref) {
                    CHECK(op.len <= 16 * 4096);
                    for (std::uint64_t a = op.addr; a < op.addr + op.len; a += 4096) {
                        ++refs[op.pid][a]; // over-approximates a failing getref: the model replay checks noref
                    }
                } else if (op.kind == OpKind::Readref || op.kind == OpKind::Putref) {
                    CHECK(op.len <= 16 * 4096);
                    for (std::uint64_t a = op.addr; a < op.addr + op.len; a += 4096) {
                        refs_ok = refs_ok && refs[op.pid][a] > 0;
                        if (op.kind == OpKind::Putref) {
                            --refs[op.pid][a];
                        }
                    }
                } else if (op.kind == OpKind::Exec || op.kind == OpKind::Exit) {
                    refs.erase(op.pid);
                }
            }
            CHECK(refs_ok);
            CHECK(max_pid <= p.max_procs);
            CHECK(live.empty()); // exit_all
        }
    }
    GIVEN("a long program") {
        RandomParams p;
        p.seed = 42;
        p.ops = 5000;
        Trace t = gen_random(p);
        auto c = count_ops(t);
        THEN("every op kind of odf-trace v1 occurs, and no v2 op") {
            for (int k = 0; k < kOpKindCount; ++k) {
                INFO(op_name(static_cast<OpKind>(k)));
                if (k >= static_cast<int>(kFirstV2Kind)) {
                    CHECK(c.by_kind[k] == 0);
                    continue;
                }
                CHECK(c.by_kind[k] > 0);
            }
        }
        THEN("shared mappings, prot none, unaligned accesses and accesses outside the mmap window occur") {
            bool shared = false;
            bool none = false;
            bool unaligned = false;
            bool outside = false;
            for (const auto& op : t.ops) {
                shared = shared || (op.kind == OpKind::Mmap && op.flags == kMapShared);
                none = none || ((op.kind == OpKind::Mmap || op.kind == OpKind::Mprotect) && op.prot == 0);
                if (op.kind == OpKind::Read || op.kind == OpKind::Write) {
                    unaligned = unaligned || op.addr % 4096 != 0;
                    outside = outside || op.addr >= p.window_base + p.window_bytes;
                }
            }
            CHECK(shared);
            CHECK(none);
            CHECK(unaligned);
            CHECK(outside);
        }
        THEN("another seed gives another program") {
            RandomParams q = p;
            q.seed = 43;
            CHECK(gen_random(q).ops != t.ops);
        }
    }
}
