// Logging of odf-sim (sim/cli/cli.hpp): spdlog to stderr.
#include "cli.hpp"
#include "odf/trace.hpp"
#include "odf/trace/io.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace odf::cli {

void setup_logging() {
    auto logger = spdlog::stderr_logger_st("odf-sim");
    logger->set_pattern("%v");
    logger->set_level(spdlog::level::info);
    logger->flush_on(spdlog::level::trace); // stderr is read by people and tests as it comes
    spdlog::set_default_logger(logger);
}

void add_log_flags(CLI::App& app) {
    app.add_flag_function(
        "-v,--verbose", [](std::int64_t n) { spdlog::set_level(n >= 2 ? spdlog::level::trace : spdlog::level::debug); },
        "more diagnostics on stderr (twice: trace level)");
    app.add_flag_function(
        "-q,--quiet", [](std::int64_t) { spdlog::set_level(spdlog::level::warn); },
        "only warnings and errors on stderr: no progress");
    for (CLI::App* sub : app.get_subcommands({})) {
        add_log_flags(*sub);
    }
}

void guarded(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const trace::TraceError& e) {
        spdlog::error("{}", e.what());
        throw Exit{2};
    } catch (const std::exception& e) {
        spdlog::error("error: {}", e.what());
        throw Exit{2};
    }
}

void add_output(CLI::App* cmd, OutputOpts& o) {
    cmd->add_option("-o,--output", o.path, "Output file")->required();
    cmd->add_flag("--binary", o.binary, "Write the binary form (default: text)");
    cmd->add_flag("--zstd", o.zstd, "Compress with zstd");
}

void save(const OutputOpts& o, const trace::Trace& t) {
    trace::save_trace(o.path, t, o.binary ? trace::Format::Binary : trace::Format::Text, o.zstd);
    spdlog::debug("odf-sim: wrote {} ({} ops, {}{})", o.path, t.ops.size(), o.binary ? "binary" : "text",
                  o.zstd ? "+zstd" : "");
}

} // namespace odf::cli
