// `odf-sim sweep plan|run|status|collect|task` (docs/SWEEPS.md).
#pragma once

#include <CLI/CLI.hpp>

namespace odf::sweep {

// Registers `sweep` and its subcommands on `app`. Their callbacks run during app.parse() and end the process with
// std::exit: 0 on success, 1 when tasks failed or are missing, 2 for a bad spec or bad arguments (the message, on
// stderr, is "FILE:LINE: FIELD: REASON"). Usage errors are CLI11's own (CLI::ParseError, handled by app.exit()).
void add_sweep_commands(CLI::App& app);

} // namespace odf::sweep
