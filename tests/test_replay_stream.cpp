// replay_file streams a large trace (each mode reads the file in batches) with results identical to replaying the
// whole trace loaded in memory; a malformed file fails before anything is replayed.
#include "odf/replay.hpp"
#include "odf/trace/io.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

std::string report(const std::vector<odf::ModeResult>& r, const odf::ReplayOptions& opt) {
    return odf::format_json("t", r, opt.sim.kernel.costs) + odf::format_marks(r) + odf::format_threads(r);
}

odf::ReplayOptions options(unsigned jobs) {
    odf::ReplayOptions opt;
    opt.modes = {odf::ForkMode::Classic, odf::ForkMode::Odf, odf::ForkMode::OdfPaper, odf::ForkMode::CowPteV3,
                 odf::ForkMode::Thp};
    opt.marks = true;
    opt.jobs = jobs;
    return opt;
}

} // namespace

TEST_CASE("a streamed replay reports exactly what the whole-trace replay reports", "[replay][stream]") {
    const std::string root = ODF_SOURCE_DIR;
    // zstd binary v1, text v1 with marks, text v2 (threads, CPUs, requests: labels appear as the file is read)
    for (const char* rel : {"/traces/real/redis-bgsave.trace.zst", "/traces/difftest/owner-passes.trace",
                            "/traces/difftest/threads-requests.trace", "/traces/difftest/threads-fork-4cpu.trace"}) {
        const std::string path = root + rel;
        INFO(path);
        const odf::trace::Trace t = odf::trace::load_trace(path);
        for (unsigned jobs : {1U, 2U}) {
            odf::ReplayOptions whole = options(jobs);
            odf::ReplayOptions streamed = options(jobs);
            streamed.whole_trace_bytes = 0; // force streaming
            const auto a = odf::replay(t, whole);
            const auto b = odf::replay_file(path, streamed);
            REQUIRE(b.front().ops == t.ops.size());
            CHECK(report(a, whole) == report(b, streamed));
        }
    }
}

TEST_CASE("a streamed replay rejects a malformed file before replaying anything", "[replay][stream]") {
    const auto path = std::filesystem::temp_directory_path() / "odf-stream-bad.trace";
    {
        std::ofstream out(path);
        out << "# odf-trace v1\n1 mmap 0x10000 0x4000 rw private\n1 w 0x10000 0x4000\n1 frobnicate\n";
    }
    odf::ReplayOptions opt = options(1);
    opt.whole_trace_bytes = 0;
    try {
        (void)odf::replay_file(path.string(), opt);
        FAIL("no error");
    } catch (const odf::trace::TraceError& e) {
        CHECK(e.line() == 4);
        CHECK(std::string(e.what()).find("frobnicate") != std::string::npos);
    }
    std::filesystem::remove(path);
}
