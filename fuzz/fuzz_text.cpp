// libFuzzer target: the text form. Any bytes either parse or throw TraceError; a parsed trace is written back
// (text and binary) and reads back equal, and the streaming reader (load_trace) agrees with parse_text.
#include "odf/trace/format.hpp"
#include "odf/trace/io.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

using namespace odf::trace;

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_text: %s\n", what);
    std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    Trace parsed;
    bool ok = true;
    try {
        parsed = parse_text_string(text, "fuzz");
    } catch (const TraceError&) {
        ok = false;
    }

    // The streaming reader (used by odf-sim for files) detects the form from the first bytes: a text trace never
    // starts with the binary or zstd magic, so it must agree with parse_text.
    const bool text_form = size == 0 || (data[0] != kBinaryMagic[0] && data[0] != kZstdMagic[0]);
    if (text_form) {
        bool streamed_ok = true;
        Trace streamed;
        try {
            std::istringstream in(text);
            streamed = load_trace(in, "fuzz");
        } catch (const TraceError&) {
            streamed_ok = false;
        }
        if (streamed_ok != ok) {
            fail("load_trace and parse_text disagree on validity");
        }
        if (ok && (streamed.ops != parsed.ops || streamed.labels != parsed.labels)) {
            fail("load_trace and parse_text read different ops");
        }
    }
    if (!ok) {
        return 0;
    }

    const Trace again = parse_text_string(write_text_string(parsed), "fuzz-rewritten");
    if (again.ops != parsed.ops || again.labels != parsed.labels) {
        fail("write_text/parse_text round trip changed the trace");
    }
    std::ostringstream bin;
    write_binary(bin, parsed);
    const std::string bytes = bin.str();
    std::istringstream bin_in(bytes);
    const Trace from_binary = read_binary(bin_in, "fuzz-binary");
    if (from_binary.ops != parsed.ops || from_binary.labels != parsed.labels) {
        fail("write_binary/read_binary round trip changed the trace");
    }
    return 0;
}
