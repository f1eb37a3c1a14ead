// The read-only GUP reference ops of odf-trace v1 (getref, readref, putref): text and binary round trips, the
// extended kind bit of the binary tag, zstd, and what `gen random` does with them.
#include "odf/trace/format.hpp"
#include "odf/trace/generators.hpp"
#include "odf/trace/io.hpp"

#include <catch2/catch.hpp>
#include <sstream>
#include <string>

using namespace odf::trace;

namespace {

const std::string kText = "# odf-trace v1\n"
                          "1 mmap 0x200000000 0x200000 rw private\n"
                          "1 getref 0x200000000 0x4000 get\n"
                          "1 getref 0x200003000 0x1000 pin\n"
                          "1 readref 0x200000000 0x4000\n"
                          "1 putref 0x200000000 0x4000\n"
                          "1 fork 2\n"
                          "2 getref 0x200001001000 0x3000 pin\n"
                          "2 readref 0x200001001000 0x1000\n"
                          "2 putref 0x200001001000 0x3000\n"
                          "1 putref 0x200003000 0x1000\n";

std::string to_binary(const Trace& t) {
    std::ostringstream os;
    write_binary(os, t);
    return std::move(os).str();
}

} // namespace

TEST_CASE("trace_refs: getref, readref and putref parse, write canonically and round-trip", "[trace][refs]") {
    const Trace t = parse_text_string(kText, "t");
    REQUIRE(t.ops.size() == 10);
    CHECK(t.ops[1].kind == OpKind::Getref);
    CHECK(t.ops[1].flags == kRefGet);
    CHECK(t.ops[2].flags == kRefPin);
    CHECK(t.ops[3].kind == OpKind::Readref);
    CHECK(t.ops[4].kind == OpKind::Putref);
    CHECK(op_name(OpKind::Getref) == "getref");
    CHECK(write_text_string(t) == kText);
    const std::string bin = to_binary(t);
    const Trace b = read_binary_bytes(std::as_bytes(std::span(bin)), "b");
    CHECK(b.ops == t.ops);
    std::ostringstream z;
    save_trace(z, t, Format::Binary, true);
    std::istringstream zin(z.str());
    CHECK(load_trace(zin, "z").ops == t.ops);
    auto c = count_ops(t);
    CHECK(c.by_kind[static_cast<int>(OpKind::Getref)] == 3);
}

TEST_CASE("trace_refs: the binary tag extends the kind with bit 7; old kinds keep bit 7 clear", "[trace][refs]") {
    Trace t;
    t.source = "t";
    Op op;
    op.pid = 1;
    op.line = 2;
    op.addr = 0x1000;
    op.len = 0x1000;
    op.kind = OpKind::Putref; // kind 16: low bits 0, bit 7 set
    t.ops.push_back(op);
    std::string bytes = to_binary(t);
    // magic (8), version, flags, n_ops, n_labels, then the tag.
    const auto tag = static_cast<unsigned char>(bytes[12]);
    CHECK((tag & 0x80) != 0);
    CHECK((tag & 0x0f) == 0);
    t.ops[0].kind = OpKind::Readref; // kind 15 fits the 4 bits
    CHECK((static_cast<unsigned char>(to_binary(t)[12]) & 0x80) == 0);
    t.ops[0].kind = OpKind::Munmap;
    CHECK((static_cast<unsigned char>(to_binary(t)[12]) & 0x80) == 0);
    // Kind 17 and up (bit 7 with low bits 1..15) is a bad tag.
    bytes[12] = static_cast<char>(0x80 | 0x40 | 0x01);
    CHECK_THROWS_WITH(read_binary_bytes(std::as_bytes(std::span(bytes)), "b"), Catch::Contains("bad op tag"));
    // A getref kind other than get or pin is refused by the binary reader too.
    t.ops[0].kind = OpKind::Getref;
    t.ops[0].flags = 2;
    CHECK_THROWS_WITH(validate(t), Catch::Contains("bad getref kind 2"));
    bytes = to_binary(t);
    CHECK_THROWS_WITH(read_binary_bytes(std::as_bytes(std::span(bytes)), "b"), Catch::Contains("bad getref kind"));
}

TEST_CASE("trace_refs: gen random takes references before fork, across munmap and to exit, unless --no-refs",
          "[trace][refs][gen]") {
    RandomParams p;
    p.seed = 5;
    p.ops = 5000;
    const Trace t = gen_random(p);
    auto c = count_ops(t);
    CHECK(c.by_kind[static_cast<int>(OpKind::Getref)] > 20);
    CHECK(c.by_kind[static_cast<int>(OpKind::Readref)] > 10);
    CHECK(c.by_kind[static_cast<int>(OpKind::Putref)] > 5);
    bool pin = false;
    bool get = false;
    for (const auto& op : t.ops) {
        if (op.kind == OpKind::Getref) {
            (op.flags == kRefPin ? pin : get) = true;
        }
    }
    CHECK(pin);
    CHECK(get);
    p.refs = false;
    const auto none = count_ops(gen_random(p));
    CHECK(none.by_kind[static_cast<int>(OpKind::Getref)] == 0);
    CHECK(none.by_kind[static_cast<int>(OpKind::Readref)] == 0);
}
