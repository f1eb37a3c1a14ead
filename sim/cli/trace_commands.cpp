// odf-sim convert, check and import lackey (traces/FORMAT.md, "Command line").
#include "cli.hpp"
#include "odf/trace/format.hpp"
#include "odf/trace/io.hpp"
#include "odf/trace/lackey.hpp"

#include <fmt/format.h>
#include <fstream>
#include <memory>
#include <spdlog/spdlog.h>

namespace odf::cli {

namespace {

using namespace odf::trace;

void add_convert(CLI::App& app) {
    struct Opts {
        std::string in;
        std::string out;
        std::string to = "binary";
        bool zstd = false;
    };
    auto o = std::make_shared<Opts>();
    auto* c = app.add_subcommand("convert", "Convert a trace between text and binary, with or without zstd");
    c->add_option("IN", o->in, "Input trace (any form)")->required();
    c->add_option("-o,--output", o->out, "Output file")->required();
    c->add_option("--to", o->to, "Output form")->check(CLI::IsMember({"text", "binary"}))->capture_default_str();
    c->add_flag("--zstd", o->zstd, "Compress the output with zstd");
    c->callback([o] {
        guarded([&] {
            Trace t = load_trace(o->in);
            save_trace(o->out, t, o->to == "text" ? Format::Text : Format::Binary, o->zstd);
        });
    });
}

void add_check(CLI::App& app) {
    auto files = std::make_shared<std::vector<std::string>>();
    auto* c = app.add_subcommand("check", "Parse and validate traces, print op counts");
    c->add_option("TRACE", *files, "Traces (any form)")->required();
    c->callback([files] {
        bool failed = false;
        for (const auto& f : *files) {
            try {
                TraceReader r(f);
                Trace t;
                std::vector<Op> batch;
                OpCounts total;
                total.processes = 1;
                std::uint64_t nops = 0;
                while (r.next(batch)) {
                    t.ops = std::move(batch);
                    OpCounts c1 = count_ops(t);
                    for (int k = 0; k < kOpKindCount; ++k) {
                        total.by_kind[k] += c1.by_kind[k];
                    }
                    total.pages_read += c1.pages_read;
                    total.pages_written += c1.pages_written;
                    total.processes += c1.processes - 1;
                    nops += t.ops.size();
                    batch = std::move(t.ops);
                }
                std::string kinds;
                for (int k = 0; k < kOpKindCount; ++k) {
                    if (total.by_kind[k] != 0) {
                        kinds += fmt::format(" {}={}", op_name(static_cast<OpKind>(k)), total.by_kind[k]);
                    }
                }
                // v2: the version, threads and the highest CPU after the processes (v1 output is unchanged).
                const std::string v2 = r.version() >= 2
                                           ? fmt::format(", {} threads, max cpu {}", r.threads(), r.max_cpu())
                                           : std::string();
                fmt::print("{}: ok, {}{}{}, {} ops, {} processes{}, {} labels, pages read {}, written {};{}\n", f,
                           r.format() == Format::Binary ? "binary" : "text", r.compressed() ? "+zstd" : "",
                           r.version() >= 2 ? " v2" : "", nops, total.processes, v2, r.labels().size(),
                           total.pages_read, total.pages_written, kinds);
            } catch (const TraceError& e) {
                spdlog::error("{}", e.what());
                failed = true;
            } catch (const std::exception& e) {
                spdlog::error("{}: error: {}", f, e.what());
                failed = true;
            }
        }
        if (failed) {
            throw Exit{2};
        }
    });
}

void add_import(CLI::App& app) {
    auto* imp = app.add_subcommand("import", "Import traces from other tools");
    imp->require_subcommand(1);
    struct Opts {
        std::string log;
        LackeyOptions lo;
        OutputOpts out;
    };
    auto o = std::make_shared<Opts>();
    auto* c = imp->add_subcommand("lackey", "Convert a valgrind --tool=lackey --trace-mem=yes log (pid 1)");
    c->add_option("LOG", o->log, "Lackey log file")->required();
    c->add_flag("--instructions", o->lo.instructions_as_reads, "Treat I (instruction fetch) lines as reads");
    c->add_flag("--lenient", o->lo.lenient, "Skip lines that are not lackey records instead of failing");
    add_output(c, o->out);
    c->callback([o] {
        guarded([&] {
            std::ifstream in(o->log);
            if (!in) {
                throw TraceError(o->log, 0, "cannot open");
            }
            Trace t = import_lackey(in, o->log, o->lo);
            save(o->out, t);
        });
    });
}

} // namespace

void add_trace_commands(CLI::App& app) {
    add_convert(app);
    add_check(app);
    add_import(app);
}

} // namespace odf::cli
