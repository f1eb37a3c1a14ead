// A program built against an installed odf (find_package(odf) + odf::odf): loads a trace, replays it under classic
// fork and ODF with the oracle and the invariant checker, and prints a few counters of each mode.
//   odf-consumer TRACE
#include <cstdio>
#include <exception>
#include <odf/replay.hpp>
#include <odf/trace/io.hpp>
#include <string>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s TRACE\n", argv[0]);
        return 2;
    }
    try {
        const odf::trace::Trace trace = odf::trace::load_trace(argv[1]);
        odf::ReplayOptions options;
        options.modes = {odf::ForkMode::Classic, odf::ForkMode::Odf};
        options.sim.check = true;
        std::printf("%s: %zu ops\n", argv[1], trace.ops.size());
        for (const odf::ModeResult& r : odf::replay(trace, options)) {
            const std::string mode(odf::mode_name(r.mode));
            std::printf("%s: forks %llu, minflt %llu, ptes_copied %llu, tables_shared %llu, peak_pgtable_bytes %llu\n",
                        mode.c_str(), static_cast<unsigned long long>(r.totals.forks),
                        static_cast<unsigned long long>(r.totals.minflt),
                        static_cast<unsigned long long>(r.totals.ptes_copied),
                        static_cast<unsigned long long>(r.totals.tables_shared),
                        static_cast<unsigned long long>(r.peak_pgtable_bytes));
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "odf-consumer: %s\n", e.what());
        return 2;
    }
    return 0;
}
