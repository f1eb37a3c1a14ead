// Test helpers of the trace tests: a trace through the binary and the saved forms in memory, and a file's bytes.
#pragma once

#include "odf/trace/format.hpp"
#include "odf/trace/io.hpp"

#include <fstream>
#include <sstream>
#include <string>

namespace odf::trace::test {

inline std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

inline std::string to_binary(const Trace& t) {
    std::ostringstream os;
    write_binary(os, t);
    return std::move(os).str();
}

inline Trace from_binary(const std::string& bytes) {
    std::istringstream is(bytes);
    return read_binary(is, "b");
}

inline std::string saved(const Trace& t, Format f, bool zstd) {
    std::ostringstream os;
    save_trace(os, t, f, zstd);
    return std::move(os).str();
}

inline Trace loaded(const std::string& bytes) {
    std::istringstream is(bytes);
    return load_trace(is, "mem");
}

} // namespace odf::trace::test
