// libFuzzer target: the binary form. Any bytes either read or throw TraceError; a trace that reads is written back
// and reads back equal.
#include "odf/trace/format.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <sstream>
#include <string>

using namespace odf::trace;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Trace t;
    try {
        t = read_binary_bytes(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), "fuzz");
    } catch (const TraceError&) {
        return 0;
    }
    std::ostringstream out;
    write_binary(out, t);
    const std::string bytes = out.str();
    std::istringstream in(bytes);
    const Trace again = read_binary(in, "fuzz-rewritten");
    if (again.ops != t.ops || again.labels != t.labels) {
        std::fprintf(stderr, "fuzz_binary: write_binary/read_binary round trip changed the trace\n");
        std::abort();
    }
    return 0;
}
