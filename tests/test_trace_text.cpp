// odf_trace: the text form — parsing, errors with their line and reason, canonical writing.
#include "odf/trace/format.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

using namespace odf::trace;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

// Parses `text` and returns the error, failing the test if it parses.
TraceError parse_error(const std::string& text) {
    try {
        (void)parse_text_string(text, "t.trace");
    } catch (const TraceError& e) {
        return e;
    }
    FAIL("expected a TraceError for:\n" << text);
    return TraceError("", 0, "");
}

struct ErrorCase {
    const char* what;
    std::string text;
    std::uint32_t line;
    const char* reason;
};

const std::string H = "# odf-trace v1\n";

} // namespace

SCENARIO("trace_text: every error kind reports the file, the right line and the reason", "[trace][text]") {
    const std::vector<ErrorCase> cases = {
        {"empty file", "", 1, "missing header"},
        {"no header", "1 exit\n", 1, "missing header"},
        {"other version", "# odf-trace v3\n1 exit\n", 1, "unsupported header"},
        {"unknown op", H + "\n1 frobnicate 0x1000\n", 3, "unknown op 'frobnicate'"},
        {"missing op", H + "1\n", 2, "missing op"},
        {"mmap arity", H + "1 mmap 0x1000 0x1000 rw\n", 2, "wrong number of arguments for mmap: expected 4, got 3"},
        {"exit arity", H + "1 exit now\n", 2, "wrong number of arguments for exit"},
        {"r arity", H + "1 r 0x1000 0x1000 0x1000\n", 2, "expected 1 or 2, got 3"},
        {"mremap arity", H + "1 mremap 0x1000 0x1000 0x3000\n", 2, "wrong number of arguments for mremap"},
        {"bad number", H + "1 mmap 0x1000 12k rw private\n", 2, "bad number '12k'"},
        {"bad hex", H + "1 r 0xg000\n", 2, "bad number '0xg000'"},
        {"number overflow", H + "1 r 0x10000000000000000\n", 2, "bad number"},
        {"decimal overflow", H + "1 r 18446744073709551616\n", 2, "bad number"},
        {"negative", H + "1 r -4096\n", 2, "bad number"},
        {"bad pid", H + "x exit\n", 2, "bad number 'x'"},
        {"pid 0", H + "0 exit\n", 2, "bad pid '0'"},
        {"bad prot", H + "1 mmap 0x1000 0x1000 rq private\n", 2, "bad prot 'rq'"},
        {"repeated prot letter", H + "1 mprotect 0x1000 0x1000 rr\n", 2, "bad prot 'rr'"},
        {"bad flags", H + "1 mmap 0x1000 0x1000 rw anon\n", 2, "bad flags 'anon'"},
        {"bad advice", H + "1 madvise 0x1000 0x1000 free\n", 2, "bad advice 'free'"},
        {"unknown pid", H + "1 mmap 0x1000 0x1000 rw private\n2 r 0x1000\n", 3, "unknown pid 2"},
        {"dead pid", H + "1 fork 2\n2 exit\n\n2 r 0x1000\n", 5, "dead pid 2"},
        {"dead pid 1", H + "1 exit\n1 exit\n", 3, "dead pid 1"},
        {"reused live child", H + "1 fork 2\n1 fork 2\n", 3, "reused child pid 2"},
        {"reused dead child", H + "1 fork 2\n2 exit\n1 fork 2\n", 4, "reused child pid 2"},
        {"fork of pid 1", H + "1 fork 1\n", 2, "reused child pid 1"},
        {"mmap addr unaligned", H + "1 mmap 0x1001 0x1000 rw private\n", 2, "address 0x1001 not 4 KiB aligned"},
        {"mmap len unaligned", H + "1 mmap 0x1000 0x1800 rw private\n", 2, "length 0x1800 not 4 KiB aligned"},
        {"munmap unaligned", H + "1 munmap 0x1000 100\n", 2, "not 4 KiB aligned"},
        {"mprotect unaligned", H + "1 mprotect 0x1010 0x1000 r\n", 2, "not 4 KiB aligned"},
        {"madvise unaligned", H + "1 madvise 0x1000 0x10 dontneed\n", 2, "not 4 KiB aligned"},
        {"mremap new unaligned", H + "1 mremap 0x1000 0x1000 0x8008 0x1000\n", 2, "not 4 KiB aligned"},
        {"brk unaligned", H + "1 brk 0x1234\n", 2, "not 4 KiB aligned"},
        {"pin unaligned", H + "1 pin 0x1000 0x1\n", 2, "not 4 KiB aligned"},
        {"unpin unaligned", H + "1 unpin 0x1008 0x1000\n", 2, "not 4 KiB aligned"},
        {"mmap zero", H + "1 mmap 0x1000 0 rw private\n", 2, "zero length"},
        {"munmap zero", H + "1 munmap 0x1000 0\n", 2, "zero length"},
        {"mremap zero new", H + "1 mremap 0x1000 0x1000 0x8000 0\n", 2, "zero length"},
        {"pin zero", H + "1 pin 0x1000 0\n", 2, "zero length"},
        {"r len 0", H + "1 r 0x1000 0\n", 2, "zero length"},
        {"w len 0", H + "1 w 0x1000 0x0\n", 2, "zero length"},
        {"beyond user space", H + "1 mmap 0x7ffffffff000 0x2000 rw private\n", 2, "beyond user space"},
        {"at user space end", H + "1 munmap 0x800000000000 0x1000\n", 2, "beyond user space"},
        {"overflow", H + "1 r 0xfffffffffffff000 0x2000\n", 2, "beyond user space"},
        {"w beyond", H + "1 w 0x7fffffffffff 2\n", 2, "beyond user space"},
        {"brk beyond", H + "1 brk 0x800000001000\n", 2, "beyond user space"},
        {"mremap overlap", H + "1 mremap 0x1000 0x4000 0x3000 0x1000\n", 2, "mremap ranges overlap"},
        {"getref unaligned", H + "1 getref 0x1800 0x1000 get\n", 2, "address 0x1800 not 4 KiB aligned"},
        {"getref len unaligned", H + "1 getref 0x1000 0x10 pin\n", 2, "length 0x10 not 4 KiB aligned"},
        {"getref zero", H + "1 getref 0x1000 0 get\n", 2, "zero length"},
        {"getref bad kind", H + "1 getref 0x1000 0x1000 write\n", 2, "bad getref kind 'write' (get or pin)"},
        {"getref no kind", H + "1 getref 0x1000 0x1000\n", 2,
         "wrong number of arguments for getref: expected 3, got 2"},
        {"getref beyond", H + "1 getref 0x7ffffffff000 0x2000 get\n", 2, "beyond user space"},
        {"readref unaligned", H + "1 readref 0x1004 0x1000\n", 2, "not 4 KiB aligned"},
        {"readref zero", H + "1 readref 0x1000 0\n", 2, "zero length"},
        {"readref one arg", H + "1 readref 0x1000\n", 2, "wrong number of arguments for readref: expected 2, got 1"},
        {"putref unaligned", H + "1 putref 0x1000 0x1001\n", 2, "not 4 KiB aligned"},
        {"putref zero", H + "1 putref 0x1000 0x0\n", 2, "zero length"},
        {"error after comments", H + "# c\n\n   \n1 r 0x1000 # fine\n1 bogus\n", 6, "unknown op 'bogus'"},
    };
    for (const auto& c : cases) {
        GIVEN("a trace with: " << c.what) {
            WHEN("it is parsed") {
                TraceError e = parse_error(c.text);
                THEN("the error names the file, line " << c.line << " and the reason '" << c.reason << "'") {
                    CHECK(e.file() == "t.trace");
                    CHECK(e.line() == c.line);
                    CHECK_THAT(e.what(), Catch::Contains(c.reason));
                    CHECK_THAT(e.what(), Catch::StartsWith("t.trace:" + std::to_string(c.line) + ": "));
                }
            }
        }
    }
}

SCENARIO("trace_text: a valid trace parses with its line numbers, labels and access ranges", "[trace][text]") {
    GIVEN("the sample trace with comments and blank lines") {
        const std::string path = std::string(ODF_TEST_DATA_DIR) + "/trace_sample.trace";
        std::ifstream in(path);
        REQUIRE(in);
        WHEN("it is parsed") {
            Trace t = parse_text(in, path);
            THEN("ops keep the line numbers of the file") {
                REQUIRE(t.ops.size() == 23);
                CHECK(t.source == path);
                CHECK(t.ops[0].line == 4);
                CHECK(t.ops[0].kind == OpKind::Mmap);
                CHECK(t.ops[0].prot == (kProtRead | kProtWrite));
                CHECK(t.ops[0].flags == kMapPrivate);
                CHECK(t.ops[2].flags == kMapShared);
                CHECK(t.ops.back().line == 26);
                CHECK(t.ops.back().kind == OpKind::Exit);
            }
            THEN("labels are interned in order of first use") {
                REQUIRE(t.labels == std::vector<std::string>{"before-fork", "done"});
                CHECK(t.ops[5].kind == OpKind::Mark);
                CHECK(t.ops[5].label == 0);
                CHECK(t.ops[21].label == 1);
            }
            THEN("r/w without LEN cover exactly the page of ADDR; unaligned ranges cover every touched page") {
                const Op& w1 = t.ops[3]; // 1 w 0x20000000
                CHECK(w1.len == 4096);
                CHECK(page_count(w1) == 1);
                const Op& r1 = t.ops[4]; // 1 r 0x20000123 10
                CHECK(r1.addr == 0x20000123);
                CHECK(r1.len == 10);
                CHECK(first_page(r1) == 0x20000000);
                CHECK(page_count(r1) == 1);
                const Op& w2 = t.ops[9]; // 2 w 0x10001008 0x2000
                CHECK(first_page(w2) == 0x10001000);
                CHECK(page_count(w2) == 3);
            }
            THEN("fork, mremap, prot none and brk are decoded") {
                CHECK(t.ops[7].kind == OpKind::Fork);
                CHECK(t.ops[7].child == 2);
                CHECK(t.ops[11].prot == 0);
                const Op& mr = t.ops[14];
                CHECK(mr.kind == OpKind::Mremap);
                CHECK(mr.addr == 0x10180000);
                CHECK(mr.len == 0x20000);
                CHECK(mr.addr2 == 0x30000000);
                CHECK(mr.len2 == 0x40000);
                CHECK(t.ops[15].kind == OpKind::Brk);
                CHECK(t.ops[15].addr == 0x40000000);
            }
        }
    }
    GIVEN("a one-page access at an unaligned address without LEN") {
        Trace t = parse_text_string(H + "1 r 0x1fff\n", "x");
        THEN("it covers only the page of ADDR: len runs to the end of that page") {
            CHECK(t.ops[0].len == 1);
            CHECK(page_count(t.ops[0]) == 1);
        }
    }
    GIVEN("decimal, 0X and upper-case hex numbers, CRLF line ends, tabs and a trailing comment") {
        Trace t = parse_text_string("# odf-trace v1\r\n1\tmmap 4096 0X2000 wr private\t# c\r\n1 r 0xABC0\r\n", "x");
        THEN("the numbers and prot are read the same way") {
            REQUIRE(t.ops.size() == 2);
            CHECK(t.ops[0].addr == 4096);
            CHECK(t.ops[0].len == 0x2000);
            CHECK(t.ops[0].prot == (kProtRead | kProtWrite));
            CHECK(t.ops[1].addr == 0xabc0);
        }
    }
}

SCENARIO("trace_text: writing gives the canonical form, and parsing it gives the same trace", "[trace][text]") {
    const std::string dir = ODF_TEST_DATA_DIR;
    GIVEN("the sample trace with comments") {
        std::ifstream in(dir + "/trace_sample.trace");
        Trace t = parse_text(in, "sample");
        WHEN("it is written with the default options") {
            std::string text = write_text_string(t);
            THEN("every op stays on its line (blank lines fill the gaps) and parses back to the same ops") {
                Trace u = parse_text_string(text, "sample");
                CHECK(u.ops == t.ops);
                CHECK(u.labels == t.labels);
            }
        }
        WHEN("it is written renumbered") {
            std::string text = write_text_string(t, TextWriteOptions{.keep_lines = false});
            THEN("it is exactly the canonical file, ops on lines 2, 3, 4, ...") {
                CHECK(text == slurp(dir + "/trace_sample.canonical"));
                Trace u = parse_text_string(text, "sample");
                REQUIRE(u.ops.size() == t.ops.size());
                for (std::size_t i = 0; i < u.ops.size(); ++i) {
                    CHECK(u.ops[i].line == i + 2);
                }
            }
        }
    }
    GIVEN("the canonical text of the sample") {
        std::string text = slurp(dir + "/trace_sample.canonical");
        THEN("parse then write gives identical text") {
            CHECK(write_text_string(parse_text_string(text, "c")) == text);
        }
    }
    GIVEN("a trace with a label that cannot be written as text") {
        Trace t;
        t.labels = {"two words"};
        Op op;
        op.kind = OpKind::Mark;
        op.pid = 1;
        op.line = 2;
        t.ops.push_back(op);
        THEN("the writer refuses it") {
            CHECK_THROWS_AS(write_text_string(t), TraceError);
        }
    }
}
