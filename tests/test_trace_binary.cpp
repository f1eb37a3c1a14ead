// odf_trace: binary form, zstd, format detection and lossless conversions.
#include "odf/trace/format.hpp"
#include "odf/trace/generators.hpp"
#include "odf/trace/io.hpp"
#include "trace_bytes.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace odf::trace;
using namespace odf::trace::test;

namespace {

// A temporary file removed at the end of the scope.
struct TempFile {
    std::string path;
    TempFile() {
        char tmpl[] = "/tmp/odf_trace_test_XXXXXX";
        int fd = mkstemp(tmpl);
        REQUIRE(fd >= 0);
        close(fd);
        path = tmpl;
    }
    ~TempFile() { std::remove(path.c_str()); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
};

} // namespace

SCENARIO("trace_binary: text -> binary -> text is lossless, including labels and line numbers", "[trace][binary]") {
    const std::string dir = ODF_TEST_DATA_DIR;
    GIVEN("the sample trace with comments (sparse line numbers)") {
        std::ifstream in(dir + "/trace_sample.trace");
        Trace t = parse_text(in, "sample");
        WHEN("it is converted to binary and read back") {
            std::string bin = to_binary(t);
            Trace u = from_binary(bin);
            THEN("ops (with their original lines) and labels are identical") {
                CHECK(u.ops == t.ops);
                CHECK(u.labels == t.labels);
                CHECK(bin.compare(0, 8, std::string(reinterpret_cast<const char*>(kBinaryMagic), 8)) == 0);
            }
        }
    }
    GIVEN("a canonical text file") {
        std::string text = slurp(dir + "/trace_sample.canonical");
        THEN("text -> binary -> text gives identical text") {
            Trace t = parse_text_string(text, "c");
            CHECK(write_text_string(from_binary(to_binary(t))) == text);
        }
    }
    GIVEN("random programs of many seeds (every op, unaligned accesses, many pids)") {
        for (std::uint64_t seed = 1; seed <= 20; ++seed) {
            RandomParams p;
            p.seed = seed;
            p.ops = 500;
            Trace t = gen_random(p);
            std::string text = write_text_string(t);
            Trace u = from_binary(to_binary(parse_text_string(text, "r")));
            CHECK(u.ops == t.ops);
            CHECK(u.labels == t.labels);
            CHECK(write_text_string(u) == text);
        }
    }
}

SCENARIO("trace_binary: zstd round trips and content-based format detection", "[trace][binary][zstd]") {
    RandomParams p;
    p.seed = 7;
    p.ops = 2000;
    Trace t = gen_random(p);
    for (Format f : {Format::Text, Format::Binary}) {
        for (bool z : {false, true}) {
            GIVEN(std::string(f == Format::Text ? "text" : "binary") + (z ? " compressed with zstd" : "")) {
                std::string bytes = saved(t, f, z);
                THEN("load_trace detects the form from the content and gives the same trace") {
                    std::istringstream is(bytes);
                    TraceReader r(is, "mem");
                    CHECK(r.format() == f);
                    CHECK(r.compressed() == z);
                    Trace u = loaded(bytes);
                    CHECK(u.ops == t.ops);
                    CHECK(u.labels == t.labels);
                }
                THEN("a file with a misleading extension loads the same") {
                    TempFile tmp;
                    {
                        std::ofstream out(tmp.path, std::ios::binary);
                        out << bytes;
                    }
                    Trace u = load_trace(tmp.path);
                    CHECK(u.ops == t.ops);
                    CHECK(u.source == tmp.path);
                }
                if (z) {
                    THEN("the zstd payload is the uncompressed form") {
                        CHECK(bytes.compare(0, 4, std::string(reinterpret_cast<const char*>(kZstdMagic), 4)) == 0);
                    }
                    THEN("a truncated compressed file is an error, not a shorter trace") {
                        CHECK_THROWS_AS(loaded(bytes.substr(0, bytes.size() - 5)), TraceError);
                    }
                }
            }
        }
    }
    GIVEN("save_trace to a path, binary + zstd") {
        TempFile tmp;
        save_trace(tmp.path, t, Format::Binary, true);
        THEN("the streaming reader returns the ops in batches of the requested size") {
            TraceReader r(tmp.path);
            CHECK(r.op_count_hint() == t.ops.size());
            std::vector<Op> all;
            std::vector<Op> batch;
            while (r.next(batch, 100)) {
                CHECK(batch.size() <= 100);
                all.insert(all.end(), batch.begin(), batch.end());
            }
            CHECK(all == t.ops);
            CHECK(r.labels() == t.labels);
        }
    }
}

SCENARIO("trace_binary: corrupt binary input throws TraceError", "[trace][binary]") {
    RandomParams p;
    p.seed = 3;
    p.ops = 300;
    std::string bin = to_binary(gen_random(p));
    GIVEN("a truncated binary file") {
        THEN("every proper prefix past the magic fails") {
            for (std::size_t n = 8; n < bin.size(); n += 7) {
                CHECK_THROWS_AS(from_binary(bin.substr(0, n)), TraceError);
            }
        }
    }
    GIVEN("trailing bytes") {
        THEN("they are reported") {
            CHECK_THROWS_WITH(from_binary(bin + "x"), Catch::Contains("trailing bytes"));
        }
    }
    GIVEN("an unsupported version (1 and 2 are odf-trace v1 and v2)") {
        std::string b = bin;
        b[8] = 3;
        THEN("it is reported") {
            CHECK_THROWS_WITH(from_binary(b), Catch::Contains("unsupported binary version"));
        }
    }
    GIVEN("a valid binary encoding of an invalid trace (an op by an unknown pid)") {
        Trace t;
        Op op;
        op.kind = OpKind::Exit;
        op.pid = 5;
        op.line = 9;
        t.ops.push_back(op);
        THEN("the reader validates it like the parser, naming the op's line") {
            CHECK_THROWS_WITH(from_binary(to_binary(t)), "b:9: unknown pid 5");
        }
    }
}

SCENARIO("trace_binary: the binary form is compact", "[trace][binary]") {
    GIVEN("a fuzz loop of single-page random accesses") {
        FuzzLoopParams p;
        p.iterations = 200;
        p.pages = 500;
        Trace t = gen_fuzz_loop(p);
        THEN("it takes at most 6 bytes per op") {
            CHECK(static_cast<double>(to_binary(t).size()) / static_cast<double>(t.ops.size()) <= 6.0);
        }
    }
}

SCENARIO("trace_binary: the streaming reader gives text traces in batches with the labels seen so far",
         "[trace][binary]") {
    GIVEN("the sample text trace") {
        std::ifstream in(std::string(ODF_TEST_DATA_DIR) + "/trace_sample.trace");
        TraceReader r(in, "sample");
        THEN("batches of 5 ops add up to the parsed trace, and each mark's label is known when it arrives") {
            CHECK(r.format() == Format::Text);
            CHECK_FALSE(r.compressed());
            CHECK(r.op_count_hint() == 0);
            std::vector<Op> batch;
            std::size_t n = 0;
            while (r.next(batch, 5)) {
                CHECK(batch.size() <= 5);
                for (const auto& op : batch) {
                    if (op.kind == OpKind::Mark) {
                        CHECK(op.label < r.labels().size());
                    }
                }
                n += batch.size();
            }
            CHECK(n == 23);
            CHECK(r.labels().size() == 2);
        }
    }
}

SCENARIO("trace_binary: values only the binary form can hold are validated", "[trace][binary]") {
    auto one_op = [](Op op) {
        Trace t;
        op.pid = 1;
        op.line = 2;
        t.ops.push_back(op);
        return t;
    };
    GIVEN("an mmap with prot bits beyond rwx") {
        Op op;
        op.kind = OpKind::Mmap;
        op.addr = 0x1000;
        op.len = 0x1000;
        op.prot = 9;
        THEN("it is a bad prot") {
            CHECK_THROWS_WITH(from_binary(to_binary(one_op(op))), "b:2: bad prot 9");
        }
    }
    GIVEN("a mark with a label index past the table") {
        Op op;
        op.kind = OpKind::Mark;
        op.label = 3;
        THEN("it is a bad label index") {
            CHECK_THROWS_WITH(from_binary(to_binary(one_op(op))), "b:2: bad label index 3");
        }
    }
    GIVEN("a fork to child pid 0") {
        Op op;
        op.kind = OpKind::Fork;
        op.child = 0;
        THEN("it is a bad child pid") {
            CHECK_THROWS_WITH(from_binary(to_binary(one_op(op))), "b:2: bad child pid 0");
        }
    }
}
