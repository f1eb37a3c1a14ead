// The odf-sim command line (sim/cli): subcommands over the trace library, the model and sweeps. The libraries below
// report errors by exceptions naming file, line and reason; this layer turns them into messages on stderr and exit
// statuses, and owns logging (-v/--verbose, --quiet).
#pragma once

#include "odf/mm.hpp"

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace odf::trace {
struct Trace;
}

namespace odf::cli {

// Thrown by a subcommand's callback (during app.parse()) after it has printed its error: main() returns `status`.
struct Exit {
    int status;
};

// Runs `fn`; a trace error prints "file:line: reason", any other error "error: reason"; both then throw Exit{2}.
void guarded(const std::function<void()>& fn);

// -o/--output FILE, --binary, --zstd of every command that writes a trace.
struct OutputOpts {
    std::string path;
    bool binary = false;
    bool zstd = false;
};
void add_output(CLI::App* cmd, OutputOpts& o);
void save(const OutputOpts& o, const trace::Trace& t);

// `gen NAME`: one subcommand per entry of the generator table (gen.cpp).
void add_gen_commands(CLI::App& app);
// `convert`, `check`, `import lackey` (traces/FORMAT.md, "Command line").
void add_trace_commands(CLI::App& app);
// `sweep plan|run|status|collect|task` over the sweep library (docs/SWEEPS.md). Each ends by throwing Exit: 0 on
// success, 1 when tasks failed or are missing, 2 for a bad spec or bad arguments (the message, on stderr, is
// "FILE:LINE: FIELD: REASON"). Usage errors are CLI11's own (CLI::ParseError, handled by app.exit()).
void add_sweep_commands(CLI::App& app);

// `inspect TRACE [--line N] [--mode M] [--dot | --json]` (inspect.cpp).
void add_inspect_command(CLI::App& app);

// The fork modes of a comma-separated list of names, or "all"; CLI::ValidationError names the known ones.
std::vector<ForkMode> parse_mode_list(const std::string& s);
// Every mode's name, in enum order, joined by `sep`.
std::string all_mode_names(const std::string& sep);

// Logging (spdlog, to stderr): the default logger prints bare messages at level info; -v/--verbose (debug; twice:
// trace) and --quiet (warnings and errors only: no progress) on `app` and every subcommand below it, applied as
// soon as they are parsed. Call after every subcommand is registered.
void setup_logging();
void add_log_flags(CLI::App& app);

} // namespace odf::cli
