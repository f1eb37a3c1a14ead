// Import of `valgrind --tool=lackey --trace-mem=yes` logs (traces/FORMAT.md, "Importing lackey logs").
#pragma once

#include "odf/trace.hpp"

#include <iosfwd>
#include <string>

namespace odf::trace {

struct LackeyOptions {
    bool instructions_as_reads = false; // `I` lines become reads (default: ignored)
    bool lenient = false;               // skip lines that are not lackey records (default: error)
};

// One process (pid 1): one `mmap rw private` per run of contiguous touched pages, all before the first access, then
// one r/w op per touched page per access, consecutive accesses to the same page with the same kind merged; `M` is a
// read then a write. Lines starting with "==" (valgrind's messages) and blank lines are skipped.
// Throws TraceError(name, log line, reason).
[[nodiscard]] Trace import_lackey(std::istream& in, const std::string& name, const LackeyOptions& options = {});

} // namespace odf::trace
