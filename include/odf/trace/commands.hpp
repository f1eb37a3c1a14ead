// CLI subcommands of odf-sim for traces: gen, convert, check, import (traces/FORMAT.md, "Command line").
#pragma once

#include <CLI/CLI.hpp>

namespace odf::trace {

// Registers `gen` (fork-sweep, snapshot, fuzz-loop, unit-test, random), `convert`, `check` and `import lackey` on
// `app`. Their callbacks run during app.parse(). On a trace or I/O error they print "file:line: reason" to stderr
// and call std::exit(2); usage errors are CLI11's own (CLI::ParseError, handled by the caller's app.exit()).
void add_trace_commands(CLI::App& app);

} // namespace odf::trace
