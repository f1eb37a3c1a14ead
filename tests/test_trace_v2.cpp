// odf_trace: odf-trace v2 (threads, CPUs and time): text, binary and zstd forms, the validity rules with their
// FILE:LINE messages, the streaming reader's v2 accessors, and v1 files unchanged.
#include "odf/trace/format.hpp"
#include "odf/trace/generators.hpp"
#include "odf/trace/io.hpp"
#include "trace_bytes.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

using namespace odf::trace;
using namespace odf::trace::test;

namespace {

const std::string V2 = "# odf-trace v2\n";
const std::string V1 = "# odf-trace v1\n";

// The message of the TraceError that parsing `text` throws, or "" (a failed check) if it parses.
std::string parse_error(const std::string& text) {
    try {
        (void)parse_text_string(text, "t.trace");
    } catch (const TraceError& e) {
        return e.what();
    }
    return "";
}

// Every op of v2, canonical (ops on lines 2, 3, ...).
const std::string kAllOps = V2 + "1 mmap 0x10000 0x4000 rw private\n"
                                 "1 clone 3\n"
                                 "1.3 cpu 2\n"
                                 "1.3 w 0x10000 0x4000\n"
                                 "1.3 begin req 1500\n"
                                 "1.3 run 250000\n"
                                 "1.3 end req\n"
                                 "1 begin req\n"
                                 "1 end req\n"
                                 "1.3 fork 2\n"
                                 "2 r 0x10000\n"
                                 "1 vfork 4\n"
                                 "4 w 0x11000\n"
                                 "4 exec\n"
                                 "1 spawn 5\n"
                                 "5 mmap 0x20000 0x1000 rw shared\n"
                                 "1.3 wait 2\n"
                                 "1 mark m\n"
                                 "2 exit\n"
                                 "1.3 r 0x10000\n"
                                 "1.3 texit\n"
                                 "5 exit\n"
                                 "4 exit\n"
                                 "1 wait 4\n"
                                 "1 exit\n";

} // namespace

SCENARIO("trace_v2: every v2 op parses into the documented fields", "[trace][v2]") {
    Trace t = parse_text_string(kAllOps, "all");
    REQUIRE(t.version == 2);
    REQUIRE(t.ops.size() == 25);
    const auto& o = t.ops;
    CHECK(o[1].kind == OpKind::Clone);
    CHECK(o[1].child == 3);
    CHECK(o[1].tid == 0);
    CHECK(o[2].kind == OpKind::Cpu);
    CHECK(o[2].pid == 1);
    CHECK(o[2].tid == 3);
    CHECK(o[2].child == 2);
    CHECK(o[4].kind == OpKind::Begin);
    CHECK(o[4].flags == kBeginAt);
    CHECK(o[4].addr == 1500);
    CHECK(t.labels.at(o[4].label) == "req");
    CHECK(o[5].kind == OpKind::Run);
    CHECK(o[5].len == 250000);
    CHECK(o[6].kind == OpKind::End);
    CHECK(o[6].label == o[4].label);
    CHECK(o[7].kind == OpKind::Begin);
    CHECK(o[7].flags == 0);
    CHECK(o[7].addr == 0);
    CHECK(o[9].kind == OpKind::Fork);
    CHECK(o[9].tid == 3);
    CHECK(o[11].kind == OpKind::Vfork);
    CHECK(o[11].child == 4);
    CHECK(o[14].kind == OpKind::Spawn);
    CHECK(o[14].child == 5);
    CHECK(o[16].kind == OpKind::Wait);
    CHECK(o[16].child == 2);
    CHECK(o[16].tid == 3);
    CHECK(o[20].kind == OpKind::Texit);
    CHECK(o[20].line == 22);
    CHECK(o[23].kind == OpKind::Wait);
    CHECK(o[23].child == 4);
    CHECK(max_cpu(t) == 2);
    auto c = count_ops(t);
    CHECK(c.processes == 4);
    CHECK(c.threads == 5);
    CHECK(c.max_cpu == 2);
    for (int k = 0; k < kOpKindCount; ++k) {
        INFO(op_name(static_cast<OpKind>(k)));
        if (k != static_cast<int>(OpKind::Munmap) && k != static_cast<int>(OpKind::Mprotect) &&
            k != static_cast<int>(OpKind::Madvise) && k != static_cast<int>(OpKind::Mremap) &&
            k != static_cast<int>(OpKind::Brk) && k != static_cast<int>(OpKind::Pin) &&
            k != static_cast<int>(OpKind::Unpin) && k < static_cast<int>(OpKind::Getref)) {
            CHECK(c.by_kind[k] > 0);
        }
        if (k >= static_cast<int>(kFirstV2Kind)) {
            CHECK(c.by_kind[k] > 0);
        }
    }
    WHEN("numbers are given in hex") {
        Trace u = parse_text_string(V2 + "1 clone 0x2\n0x1.0x2 run 0x10\n1.2 begin a 0x20\n", "h");
        THEN("they are numbers like every other field") {
            REQUIRE(u.ops.size() == 3);
            CHECK(u.ops[1].pid == 1);
            CHECK(u.ops[1].tid == 2);
            CHECK(u.ops[1].len == 16);
            CHECK(u.ops[2].addr == 32);
            CHECK(write_text_string(u) == V2 + "1 clone 2\n1.2 run 16\n1.2 begin a 32\n");
        }
    }
}

SCENARIO("trace_v2: text, binary and zstd forms round-trip v2 losslessly", "[trace][v2][binary][zstd]") {
    Trace t = parse_text_string(kAllOps, "all");
    THEN("the canonical text is written back byte for byte, with the v2 header") {
        CHECK(write_text_string(t) == kAllOps);
    }
    THEN("binary is version 2 and lossless") {
        std::string bin = to_binary(t);
        CHECK(static_cast<unsigned char>(bin[8]) == 2);
        Trace u = from_binary(bin);
        CHECK(u.ops == t.ops);
        CHECK(u.labels == t.labels);
        CHECK(u.version == 2);
        CHECK(write_text_string(u) == kAllOps);
    }
    THEN("zstd of text and of binary load back to the same trace") {
        for (auto f : {Format::Text, Format::Binary}) {
            Trace u = loaded(saved(t, f, true));
            CHECK(u.ops == t.ops);
            CHECK(u.labels == t.labels);
            CHECK(u.version == 2);
        }
    }
    GIVEN("a v2 header and only v1 ops") {
        const std::string text = V2 + "1 mmap 0x1000 0x1000 rw private\n1 exit\n";
        Trace u = parse_text_string(text, "v");
        THEN("the version is kept: text and binary stay v2") {
            CHECK(u.version == 2);
            CHECK(needs_v2(u));
            CHECK(write_text_string(u) == text);
            CHECK(static_cast<unsigned char>(to_binary(u)[8]) == 2);
            CHECK(from_binary(to_binary(u)).version == 2);
        }
    }
    GIVEN("an in-memory trace with version 1 but a v2 op") {
        Trace u;
        Op op;
        op.kind = OpKind::Run;
        op.pid = 1;
        op.len = 5;
        op.line = 2;
        u.ops.push_back(op);
        THEN("validate() accepts it and the writers pick v2") {
            CHECK_NOTHROW(validate(u));
            CHECK(write_text_string(u) == V2 + "1 run 5\n");
            CHECK(static_cast<unsigned char>(to_binary(u)[8]) == 2);
        }
    }
    GIVEN("random v2 programs of many seeds") {
        for (std::uint64_t seed = 1; seed <= 15; ++seed) {
            RandomParams p;
            p.seed = seed;
            p.ops = 600;
            p.v2 = true;
            Trace t2 = gen_random(p);
            std::string text = write_text_string(t2);
            Trace u = from_binary(to_binary(parse_text_string(text, "r")));
            CHECK(u.ops == t2.ops);
            CHECK(u.labels == t2.labels);
            CHECK(write_text_string(u) == text);
            Trace z = loaded(saved(t2, Format::Binary, true));
            CHECK(z.ops == t2.ops);
        }
    }
}

SCENARIO("trace_v2: v1 traces are unchanged: v1 header, binary version 1, canonical text byte-identical",
         "[trace][v2]") {
    GIVEN("every bundled trace (difftest, test data, the recorded real traces; v2 ones as v2)") {
        std::vector<std::string> files;
        for (const auto* d : {"/traces/difftest", "/tests/data", "/traces/real"}) {
            for (const auto& e : std::filesystem::directory_iterator(std::string(ODF_SOURCE_DIR) + d)) {
                const auto name = e.path().filename().string();
                if (name.ends_with(".trace") || name.ends_with(".canonical") || name.ends_with(".trace.zst")) {
                    files.push_back(e.path().string());
                }
            }
        }
        REQUIRE(files.size() > 10);
        int canonical = 0;
        int v1 = 0;
        for (const auto& f : files) {
            Trace t;
            try {
                t = load_trace(f);
            } catch (const TraceError&) {
                continue; // the bad-input samples
            }
            INFO(f);
            const unsigned v = t.version; // v2 files (threads) round-trip as v2, everything else as v1
            CHECK(needs_v2(t) == (v == 2));
            const std::string written = write_text_string(t);
            CHECK(written.rfind(v == 2 ? V2 : V1, 0) == 0);
            // The canonical text is a fixed point: parse -> write gives it byte for byte, via binary too.
            CHECK(write_text_string(parse_text_string(written, f)) == written);
            std::string bin = to_binary(t);
            CHECK(static_cast<unsigned char>(bin[8]) == v);
            Trace u = from_binary(bin);
            CHECK(u.ops == t.ops);
            CHECK(u.version == v);
            CHECK(write_text_string(u) == written);
            CHECK(to_binary(loaded(saved(u, Format::Binary, true))) == bin);
            v1 += v == 1 ? 1 : 0;
            if (written == slurp(f)) {
                ++canonical; // the file itself is canonical: text -> binary -> text is the identical file
            }
        }
        CHECK(canonical >= 1);
        CHECK(v1 > 10);
    }
    GIVEN("the v1 random generator") {
        RandomParams p;
        p.seed = 3;
        p.ops = 800;
        Trace t = gen_random(p);
        THEN("it has no v2 op and is written as v1") {
            CHECK(t.version == 1);
            CHECK_FALSE(needs_v2(t));
            CHECK(write_text_string(t).rfind(V1, 0) == 0);
        }
    }
}

SCENARIO("trace_v2: a v1 file using v2 syntax is an error naming the line", "[trace][v2]") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"1.2 r 0x1000", "t.trace:3: thread 1.2 needs odf-trace v2"},
        {"1 clone 2", "t.trace:3: op 'clone' needs odf-trace v2"},
        {"1 texit", "t.trace:3: op 'texit' needs odf-trace v2"},
        {"1 cpu 1", "t.trace:3: op 'cpu' needs odf-trace v2"},
        {"1 run 10", "t.trace:3: op 'run' needs odf-trace v2"},
        {"1 wait 2", "t.trace:3: op 'wait' needs odf-trace v2"},
        {"1 vfork 2", "t.trace:3: op 'vfork' needs odf-trace v2"},
        {"1 spawn 2", "t.trace:3: op 'spawn' needs odf-trace v2"},
        {"1 begin a 5", "t.trace:3: op 'begin' needs odf-trace v2"},
        {"1 end a", "t.trace:3: op 'end' needs odf-trace v2"},
    };
    for (const auto& [line, msg] : cases) {
        INFO(line);
        CHECK_THAT(parse_error(V1 + "1 mmap 0x1000 0x1000 rw private\n" + line + "\n"), Catch::StartsWith(msg));
    }
    THEN("another version is unsupported") {
        CHECK_THAT(parse_error("# odf-trace v3\n1 exit\n"), Catch::StartsWith("t.trace:1: unsupported header"));
    }
    THEN("a version-1 binary cannot hold a v2 kind (bit 7 + low bits 1: kind 17)") {
        std::string bin = to_binary(parse_text_string(V1 + "1 exit\n", "x"));
        bin.back() = static_cast<char>(0x81); // the tag of the only op
        try {
            (void)from_binary(bin);
            FAIL("parsed");
        } catch (const TraceError& e) {
            CHECK_THAT(e.what(), Catch::Contains("bad op tag 0x81"));
        }
    }
}

SCENARIO("trace_v2: every validity rule of v2 has its FILE:LINE message", "[trace][v2]") {
    struct Case {
        const char* what;
        std::string text;
        const char* msg;
    };
    const std::vector<Case> cases = {
        // Syntax.
        {"tid 0", "1.0 r 0x1000\n", "t.trace:2: bad tid '0'"},
        {"empty tid", "1. r 0x1000\n", "t.trace:2: bad number ''"},
        {"bad tid", "1.x r 0x1000\n", "t.trace:2: bad number 'x'"},
        {"clone 0", "1 clone 0\n", "t.trace:2: bad tid '0'"},
        {"clone arity", "1 clone\n", "t.trace:2: wrong number of arguments for clone: expected 1, got 0"},
        {"texit arity", "1 texit 2\n", "t.trace:2: wrong number of arguments for texit"},
        {"begin arity", "1 begin a 1 2\n", "t.trace:2: wrong number of arguments for begin: expected 1 or 2, got 3"},
        {"run bad", "1 run -5\n", "t.trace:2: bad number '-5'"},
        {"begin at bad", "1 begin a 1ms\n", "t.trace:2: bad number '1ms'"},
        {"cpu out of range", "1 cpu 4096\n", "t.trace:2: bad cpu '4096' (0 to 4095)"},
        {"wait pid 0", "1 wait 0\n", "t.trace:2: bad child pid '0'"},
        {"vfork pid 0", "1 vfork 0\n", "t.trace:2: bad child pid '0'"},
        // Threads.
        {"thread never created", "1 r 0x1000\n1.2 r 0x1000\n", "t.trace:3: unknown thread 1.2"},
        {"thread of another process", "1 clone 2\n1 fork 3\n3.2 r 0x1000\n", "t.trace:4: unknown thread 3.2"},
        {"thread ended", "1 clone 2\n1.2 texit\n1.2 r 0x1000\n", "t.trace:4: thread 1.2 has ended"},
        {"clone of a live tid", "1 clone 2\n1.2 clone 2\n", "t.trace:3: reused tid 1.2"},
        {"clone of an ended tid", "1 clone 2\n1.2 texit\n1 clone 2\n", "t.trace:4: reused tid 1.2"},
        {"texit of main", "1 clone 2\n1 texit\n", "t.trace:3: texit of the main thread of 1"},
        {"texit of main, no threads", "1 texit\n", "t.trace:2: texit of the main thread of 1"},
        {"exit ends every thread", "1 fork 2\n1 clone 2\n1.2 exit\n1.2 r 0x1000\n", "t.trace:5: dead pid 1"},
        {"exec ends the other threads", "1 clone 2\n1 clone 3\n1.3 exec\n1.2 r 0x1000\n",
         "t.trace:5: thread 1.2 has ended"},
        {"exec by a thread: the process continues as PID, not PID.TID",
         "1 clone 2\n1.2 exec\n1 r 0x1000\n1.2 r 0x1000\n", "t.trace:5: thread 1.2 has ended"},
        {"tid not reused after exec", "1 clone 2\n1 exec\n1 clone 2\n", "t.trace:4: reused tid 1.2"},
        {"fork copies the calling thread only", "1 clone 2\n1.2 fork 3\n3.2 r 0x1000\n",
         "t.trace:4: unknown thread 3.2"},
        // Child pids of fork, vfork and spawn.
        {"vfork reused pid", "1 fork 2\n2 exit\n1 vfork 2\n", "t.trace:4: reused child pid 2"},
        {"spawn of pid 1", "1 spawn 1\n", "t.trace:2: reused child pid 1"},
        {"vfork then fork of the same pid", "1 clone 2\n1.2 vfork 3\n1 fork 3\n", "t.trace:4: reused child pid 3"},
        // vfork blocking.
        {"vfork blocks the caller", "1 vfork 2\n2 r 0x1000\n1 r 0x1000\n",
         "t.trace:4: thread 1 is blocked in vfork until 2 execs or exits"},
        {"vfork blocks a thread", "1 clone 2\n1.2 vfork 3\n1 r 0x1000\n1.2 run 5\n",
         "t.trace:5: thread 1.2 is blocked in vfork until 3 execs or exits"},
        {"vfork child's fork does not unblock", "1 vfork 2\n2 fork 3\n3 exit\n1 run 1\n",
         "t.trace:5: thread 1 is blocked in vfork until 2 execs or exits"},
        {"exit while a thread is blocked in vfork", "1 clone 2\n1.2 vfork 3\n1 exit\n",
         "t.trace:4: process 1 cannot exit while its thread 1.2 is blocked in vfork"},
        {"exec while a thread is blocked in vfork", "1 clone 2\n1.2 vfork 3\n1 exec\n",
         "t.trace:4: process 1 cannot exec while its thread 1.2 is blocked in vfork"},
        // wait.
        {"wait for a non-child", "1 fork 2\n2 fork 3\n1 wait 3\n", "t.trace:4: wait for 3, which is not a child of 1"},
        {"wait for an unknown pid", "1 wait 7\n", "t.trace:2: wait for 7, which is not a child of 1"},
        {"wait for itself", "1 wait 1\n", "t.trace:2: wait for 1, which is not a child of 1"},
        {"wait for the parent", "1 fork 2\n2 wait 1\n", "t.trace:3: wait for 1, which is not a child of 2"},
        {"wait twice", "1 fork 2\n2 exit\n1 wait 2\n1 wait 2\n", "t.trace:5: wait for 2, which was already waited"},
        {"two threads wait for one child", "1 fork 2\n1 clone 5\n1 wait 2\n1.5 wait 2\n",
         "t.trace:5: wait for 2, which was already waited"},
        {"wait blocks until exit", "1 fork 2\n1 wait 2\n1 r 0x1000\n",
         "t.trace:4: thread 1 is blocked in wait until 2 exits"},
        {"exec does not end a wait", "1 fork 2\n1 wait 2\n2 exec\n1 r 0x1000\n",
         "t.trace:5: thread 1 is blocked in wait until 2 exits"},
        // begin / end.
        {"end without begin", "1 end a\n", "t.trace:2: end a without begin in thread 1"},
        {"end in another thread", "1 clone 2\n1 begin a\n1.2 end a\n", "t.trace:4: end a without begin in thread 1.2"},
        {"nested begin of one label", "1 begin a\n1 begin a 5\n",
         "t.trace:3: begin a: already open in thread 1 (intervals of one label do not nest)"},
        {"end twice", "1 begin a\n1 end a\n1 end a\n", "t.trace:4: end a without begin in thread 1"},
        {"texit drops the interval", "1 clone 2\n1.2 begin a\n1.2 texit\n1 clone 3\n1.3 end a\n",
         "t.trace:6: end a without begin in thread 1.3"},
        {"exec drops the interval", "1 begin a\n1 exec\n1 end a\n", "t.trace:4: end a without begin in thread 1"},
    };
    for (const auto& c : cases) {
        INFO(c.what << ":\n" << c.text);
        CHECK_THAT(parse_error(V2 + c.text), Catch::StartsWith(c.msg));
        // The binary form of the valid prefix: the same rule, the same line (the binary keeps lines).
    }
}

SCENARIO("trace_v2: ended TIDs are never reused, whatever the order they end in", "[trace][v2]") {
    // Ends 5, 3, then 4 (joins both neighbours), then 6 (joins the run below), and 9 alone.
    const std::string prefix = V2 + "1 clone 5\n1 clone 3\n1 clone 4\n1 clone 2\n1 clone 6\n1 clone 9\n"
                                    "1.5 texit\n1.3 texit\n1.4 texit\n1.6 texit\n1.9 texit\n";
    for (std::uint32_t tid = 2; tid <= 10; ++tid) {
        INFO("clone " << tid);
        const std::string err = parse_error(prefix + "1 clone " + std::to_string(tid) + "\n");
        if (tid == 7 || tid == 8 || tid == 10) {
            CHECK(err.empty());
        } else {
            CHECK_THAT(err, Catch::StartsWith("t.trace:13: reused tid 1." + std::to_string(tid)));
        }
        if (tid != 2 && tid != 7 && tid != 8 && tid != 10) {
            CHECK_THAT(parse_error(prefix + "1." + std::to_string(tid) + " run 1\n"),
                       Catch::StartsWith("t.trace:13: thread 1." + std::to_string(tid) + " has ended"));
        }
    }
    CHECK(parse_error(prefix + "1.2 run 1\n1.2 exec\n1 clone 7\n1.7 run 1\n").empty());
    CHECK_THAT(parse_error(prefix + "1.2 exec\n1 clone 2\n"), Catch::StartsWith("t.trace:14: reused tid 1.2"));
}

SCENARIO("trace_v2: what the rules allow", "[trace][v2]") {
    const std::vector<std::pair<const char*, std::string>> ok = {
        {"threads interleave and exit from any thread ends all", "1 clone 2\n1.2 r 0x1000\n1 w 0x1000\n1.2 exit\n"},
        {"other threads run while one is blocked in vfork",
         "1 clone 2\n1.2 vfork 3\n1 r 0x1000\n3 w 0x1000\n3 exec\n1.2 run 5\n3 exit\n"},
        {"vfork child may do any op until its exit",
         "1 mmap 0x1000 0x1000 rw private\n1 vfork 2\n2 mmap 0x2000 0x1000 rw private\n2 clone 4\n2.4 r 0x2000\n"
         "2 fork 3\n2 exit\n1 r 0x1000\n"},
        {"wait for an exited child returns at once", "1 fork 2\n2 exit\n1 wait 2\n1 r 0x1000\n"},
        {"wait for a child of another thread", "1 clone 2\n1.2 fork 3\n1 wait 3\n3 exit\n1 run 1\n1.2 run 1\n"},
        {"wait unblocks at the child's exit", "1 spawn 2\n1 wait 2\n2 exit\n1 r 0x1000\n"},
        {"wait for a vfork child", "1 clone 2\n1.2 vfork 3\n1 wait 3\n3 exec\n1.2 run 1\n3 exit\n1 run 1\n"},
        {"an exiting parent leaves unwaited children", "1 fork 2\n1 fork 3\n1 wait 3\n3 exit\n1 exit\n2 exit\n"},
        {"a waiting thread ends with the process", "1 fork 2\n1 clone 3\n1 wait 2\n1.3 exit\n2 exit\n"},
        {"spawn blocks nobody", "1 spawn 2\n1 r 0x1000\n2 mmap 0x1000 0x1000 rw private\n"},
        {"intervals of different labels overlap", "1 begin a\n1 begin b 10\n1 end a\n1 end b\n"},
        {"one label open in two threads", "1 clone 2\n1 begin a\n1.2 begin a\n1 end a\n1.2 end a\n"},
        {"a label reused after its end", "1 begin a\n1 end a\n1 begin a 5\n1 end a\n"},
        {"open intervals are dropped at texit and exit", "1 clone 2\n1.2 begin a\n1.2 texit\n1 begin a\n1 exit\n"},
        {"begin and mark share labels", "1 mark a\n1 begin a\n1 end a\n"},
        {"cpu 4095", "1 cpu 4095\n1 cpu 0\n"},
        {"big pids and tids", "1 fork 100000\n100000 clone 4294967295\n100000.4294967295 run 1\n1 wait 100000\n"},
    };
    for (const auto& [what, text] : ok) {
        INFO(what << ":\n" << text);
        CHECK(parse_error(V2 + text).empty());
        // Round trip through binary too.
        Trace t = parse_text_string(V2 + text, "ok");
        CHECK(from_binary(to_binary(t)).ops == t.ops);
    }
    THEN("wait for self in a big-pid process is rejected") {
        CHECK_THAT(parse_error(V2 + "1 fork 100000\n100000 wait 1\n"), Catch::Contains("not a child of 100000"));
    }
}

SCENARIO("trace_v2: the readers expose version, highest CPU and threads", "[trace][v2][io]") {
    Trace t = parse_text_string(kAllOps, "all");
    for (auto f : {Format::Text, Format::Binary}) {
        for (bool z : {false, true}) {
            std::istringstream in(saved(t, f, z));
            TraceReader r(in, "r");
            std::vector<Op> batch;
            std::size_t n = 0;
            while (r.next(batch, 7)) {
                n += batch.size();
            }
            CHECK(n == t.ops.size());
            CHECK(r.version() == 2);
            CHECK(r.max_cpu() == 2);
            CHECK(r.threads() == 5);
        }
    }
    GIVEN("a v1 trace") {
        std::istringstream in(V1 + "1 fork 2\n2 exit\n");
        TraceReader r(in, "r");
        std::vector<Op> batch;
        while (r.next(batch)) {
        }
        CHECK(r.version() == 1);
        CHECK(r.max_cpu() == 0);
        CHECK(r.threads() == 2);
    }
}

SCENARIO("trace_v2: binary errors of v2 fields are clean TraceErrors", "[trace][v2][binary]") {
    Trace t = parse_text_string(kAllOps, "all");
    const std::string bin = to_binary(t);
    GIVEN("every truncation of a v2 binary") {
        int failed = 0;
        for (std::size_t n = 0; n < bin.size(); ++n) {
            try {
                (void)from_binary(bin.substr(0, n));
            } catch (const TraceError&) {
                ++failed;
            }
        }
        CHECK(failed == static_cast<int>(bin.size()));
    }
    GIVEN("in-memory ops with values only the binary form and validate() see") {
        auto bad = [](Op op) {
            Trace u;
            op.pid = 1;
            op.line = 2;
            u.ops.push_back(op);
            u.labels = {"a"};
            try {
                validate(u);
            } catch (const TraceError& e) {
                return std::string(e.what());
            }
            return std::string();
        };
        Op o;
        o.kind = OpKind::Begin;
        o.addr = 5; // AT without kBeginAt
        CHECK_THAT(bad(o), Catch::Contains("bad begin flags"));
        o.flags = 2;
        CHECK_THAT(bad(o), Catch::Contains("bad begin flags"));
        o = Op{};
        o.kind = OpKind::End;
        o.label = 3;
        CHECK_THAT(bad(o), Catch::Contains("bad label index 3"));
        o = Op{};
        o.kind = OpKind::Cpu;
        o.child = 5000;
        CHECK_THAT(bad(o), Catch::Contains("bad cpu 5000"));
        o = Op{};
        o.kind = OpKind::Clone;
        o.child = 0;
        CHECK_THAT(bad(o), Catch::Contains("bad tid 0"));
    }
}

SCENARIO("trace_v2: gen random --v2 is valid, deterministic, bounded, runnable, and uses every op",
         "[trace][v2][gen]") {
    GIVEN("many seeds") {
        for (std::uint64_t seed = 1; seed <= 30; ++seed) {
            RandomParams p;
            p.seed = seed;
            p.ops = 1500;
            p.max_live = 4;
            p.max_procs = 12;
            p.v2 = true;
            p.max_threads = 3;
            p.cpus = 3;
            Trace t = gen_random(p);
            REQUIRE_NOTHROW(validate(t));
            CHECK(t.version == 2);
            for (std::size_t i = 0; i < t.ops.size(); ++i) {
                REQUIRE(t.ops[i].line == i + 2);
            }
            Trace u = parse_text_string(write_text_string(t), "gen");
            CHECK(u.ops == t.ops);
            CHECK(u.labels == t.labels);
            CHECK(gen_random(p).ops == t.ops);
            CHECK(max_cpu(t) < p.cpus);

            // Live threads per process, and what a vfork child does before its exec or exit: accesses and runs.
            std::map<std::uint32_t, std::set<std::uint32_t>> live{{1, {0}}};
            std::set<std::uint32_t> in_vfork;
            bool vfork_ok = true;
            bool threads_ok = true;
            for (const auto& op : t.ops) {
                if (in_vfork.contains(op.pid)) {
                    vfork_ok =
                        vfork_ok && (op.kind == OpKind::Read || op.kind == OpKind::Write || op.kind == OpKind::Run ||
                                     op.kind == OpKind::Exec || op.kind == OpKind::Exit);
                    if (op.kind == OpKind::Exec || op.kind == OpKind::Exit) {
                        in_vfork.erase(op.pid);
                    }
                }
                switch (op.kind) {
                case OpKind::Clone:
                    live[op.pid].insert(op.child);
                    threads_ok = threads_ok && live[op.pid].size() <= p.max_threads;
                    break;
                case OpKind::Texit:
                    live[op.pid].erase(op.tid);
                    break;
                case OpKind::Exec:
                    live[op.pid] = {0};
                    break;
                case OpKind::Exit:
                    live.erase(op.pid);
                    break;
                case OpKind::Fork:
                case OpKind::Spawn:
                    live[op.child] = {0};
                    break;
                case OpKind::Vfork:
                    live[op.child] = {0};
                    in_vfork.insert(op.child);
                    break;
                default:
                    break;
                }
                CHECK(live.size() <= p.max_live);
            }
            CHECK(vfork_ok);
            CHECK(threads_ok);
            CHECK(live.empty()); // exit_all
        }
    }
    GIVEN("a long program") {
        RandomParams p;
        p.seed = 42;
        p.ops = 6000;
        p.v2 = true;
        Trace t = gen_random(p);
        auto c = count_ops(t);
        THEN("every op kind of v2 occurs, and begin with and without AT") {
            for (int k = 0; k < kOpKindCount; ++k) {
                INFO(op_name(static_cast<OpKind>(k)));
                CHECK(c.by_kind[k] > 0);
            }
            bool at = false;
            bool no_at = false;
            bool thread_op = false;
            for (const auto& op : t.ops) {
                at = at || (op.kind == OpKind::Begin && op.flags == kBeginAt);
                no_at = no_at || (op.kind == OpKind::Begin && op.flags == 0);
                thread_op = thread_op || (op.tid != 0 && (op.kind == OpKind::Write || op.kind == OpKind::Fork));
            }
            CHECK(at);
            CHECK(no_at);
            CHECK(thread_op);
        }
        THEN("another seed gives another program") {
            RandomParams q = p;
            q.seed = 43;
            CHECK(gen_random(q).ops != t.ops);
        }
    }
    GIVEN("bad limits") {
        RandomParams p;
        p.v2 = true;
        p.cpus = 0;
        CHECK_THROWS_AS(gen_random(p), std::invalid_argument);
        p.cpus = 4097;
        CHECK_THROWS_AS(gen_random(p), std::invalid_argument);
        p.cpus = 2;
        p.max_threads = 0;
        CHECK_THROWS_AS(gen_random(p), std::invalid_argument);
    }
}
