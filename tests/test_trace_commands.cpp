// odf_cli: the trace commands (gen, convert, check, import lackey) write what the library gives, and report errors
// as odf::cli::Exit{2}.
#include "cli.hpp"
#include "odf/trace/format.hpp"
#include "odf/trace/generators.hpp"
#include "odf/trace/io.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace odf::trace;

namespace {

std::string temp_dir() {
    char tmpl[] = "/tmp/odf_trace_cmd_XXXXXX";
    const char* d = mkdtemp(tmpl);
    REQUIRE(d != nullptr);
    return d;
}

void run(const std::string& args) {
    CLI::App app{"odf-sim"};
    app.require_subcommand(1);
    odf::cli::add_gen_commands(app);
    odf::cli::add_trace_commands(app);
    app.parse(args, false);
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

} // namespace

SCENARIO("trace_commands: gen, convert, check and import lackey write the traces the library gives", "[trace][cli]") {
    const std::string dir = temp_dir();
    GIVEN("gen fork-sweep --sizes 0.5,1,2") {
        run("gen fork-sweep --sizes 0.5,1,2 -o " + dir + "/x.trace");
        THEN("the file is the canonical text of gen_fork_sweep") {
            ForkSweepParams p;
            p.sizes_gib = {0.5, 1, 2};
            CHECK(slurp(dir + "/x.trace") == write_text_string(gen_fork_sweep(p)));
        }
        WHEN("it is converted to binary+zstd and back to text") {
            run("convert " + dir + "/x.trace -o " + dir + "/x.otb.zst --zstd");
            run("convert " + dir + "/x.otb.zst --to text -o " + dir + "/y.trace");
            THEN("the text is identical, and the intermediate file was compressed binary") {
                CHECK(slurp(dir + "/y.trace") == slurp(dir + "/x.trace"));
                TraceReader r(dir + "/x.otb.zst");
                CHECK(r.format() == Format::Binary);
                CHECK(r.compressed());
                run("check " + dir + "/x.trace " + dir + "/x.otb.zst");
            }
        }
    }
    GIVEN("every generator subcommand with its options, binary and zstd") {
        run("gen snapshot --dataset 0.01 --chunk-mib 0.5 --writes-per-chunk 2 --seed 3 --binary -o " + dir + "/s.otb");
        run("gen fuzz-loop --parent 0.01 --iterations 5 --pages 3 --write-fraction 1 --zstd -o " + dir + "/f.trace");
        run("gen unit-test --parent 0.01 --tests 3 --working-set 8 --writes 2 --scratch 1 -o " + dir + "/u.trace");
        run("gen random --seed 5 --ops 300 --max-live 2 --max-procs 4 --window-mib 8 --heap-mib 1 -o " + dir +
            "/r.trace");
        THEN("each file loads to what the library generates with those parameters") {
            SnapshotParams s;
            s.dataset_gib = 0.01;
            s.chunk_bytes = kMiB / 2;
            s.writes_per_chunk = 2;
            s.seed = 3;
            CHECK(load_trace(dir + "/s.otb").ops == gen_snapshot(s).ops);
            FuzzLoopParams f;
            f.parent_gib = 0.01;
            f.iterations = 5;
            f.pages = 3;
            f.write_fraction = 1;
            CHECK(load_trace(dir + "/f.trace").ops == gen_fuzz_loop(f).ops);
            UnitTestParams u;
            u.parent_gib = 0.01;
            u.tests = 3;
            u.working_set_pages = 8;
            u.writes = 2;
            u.scratch_pages = 1;
            CHECK(load_trace(dir + "/u.trace").ops == gen_unit_test(u).ops);
            RandomParams r;
            r.seed = 5;
            r.ops = 300;
            r.max_live = 2;
            r.max_procs = 4;
            r.window_bytes = 8 * kMiB;
            r.heap_bytes = kMiB;
            CHECK(load_trace(dir + "/r.trace").ops == gen_random(r).ops);
        }
    }
    GIVEN("gen random with v2 (--threads, --cpus), converted text -> binary+zstd -> text") {
        run("gen random --seed 7 --ops 400 --threads 3 --cpus 2 -o " + dir + "/v.trace");
        run("gen random --seed 7 --ops 400 --v2 -o " + dir + "/w.trace");
        run("convert " + dir + "/v.trace -o " + dir + "/v.otb.zst --zstd");
        run("convert " + dir + "/v.otb.zst --to text -o " + dir + "/v2.trace");
        THEN("the options imply v2, and the conversions are lossless") {
            RandomParams r;
            r.seed = 7;
            r.ops = 400;
            r.v2 = true;
            CHECK(load_trace(dir + "/w.trace").ops == gen_random(r).ops);
            r.max_threads = 3;
            r.cpus = 2;
            const Trace t = gen_random(r);
            CHECK(slurp(dir + "/v.trace") == write_text_string(t));
            CHECK(slurp(dir + "/v2.trace") == slurp(dir + "/v.trace"));
            CHECK(load_trace(dir + "/v.otb.zst").version == 2);
            CHECK(slurp(dir + "/v.trace").rfind("# odf-trace v2\n", 0) == 0);
            run("check " + dir + "/v.trace " + dir + "/v.otb.zst");
        }
    }
    GIVEN("import lackey of the sample log") {
        run("import lackey " + std::string(ODF_TEST_DATA_DIR) + "/lackey_sample.log -o " + dir + "/l.trace");
        THEN("the trace has the two mmaps and eight accesses") {
            CHECK(load_trace(dir + "/l.trace").ops.size() == 10);
        }
    }
    for (const char* f : {"x.trace", "x.otb.zst", "y.trace", "s.otb", "f.trace", "u.trace", "r.trace", "l.trace",
                          "v.trace", "w.trace", "v.otb.zst", "v2.trace"}) {
        std::remove((dir + "/" + f).c_str());
    }
    rmdir(dir.c_str());
}

TEST_CASE("trace_commands: every gen subcommand without options writes the generator's default trace", "[trace][cli]") {
    const std::string dir = temp_dir();
    const std::pair<const char*, Trace (*)()> gens[] = {
        {"fork-sweep", [] { return gen_fork_sweep({}); }},
        {"snapshot", [] { return gen_snapshot({}); }},
        {"fuzz-loop", [] { return gen_fuzz_loop({}); }},
        {"unit-test", [] { return gen_unit_test({}); }},
        {"random", [] { return gen_random({}); }},
        {"redis-snapshot", [] { return gen_redis_snapshot({}); }},
        {"afl", [] { return gen_afl({}); }},
        {"cow-after-exit", [] { return gen_cow_after_exit({}); }},
        {"launcher", [] { return gen_launcher({}); }},
        {"triforce", [] { return gen_triforce({}); }},
        {"apache", [] { return gen_apache({}); }},
    };
    for (const auto& [name, gen] : gens) {
        INFO(name);
        const std::string out = dir + "/" + name + ".trace";
        run(std::string("gen ") + name + " -o " + out);
        CHECK(slurp(out) == write_text_string(gen()));
        std::remove(out.c_str());
    }
    rmdir(dir.c_str());
}

TEST_CASE("trace_commands: a bad parameter or trace is Exit{2}, not a crash", "[trace][cli]") {
    const std::string dir = temp_dir();
    auto status = [](const std::string& args) {
        try {
            run(args);
        } catch (const odf::cli::Exit& e) {
            return e.status;
        }
        return 0;
    };
    CHECK(status("gen fork-sweep --sizes 0 -o " + dir + "/x.trace") == 2);
    CHECK(status("gen snapshot --chunk-mib 0.001 -o " + dir + "/x.trace") == 2);
    CHECK(status("gen afl --base 0xzz -o " + dir + "/x.trace") == 2);
    CHECK(status("check " + std::string(ODF_TEST_DATA_DIR) + "/bad-op.trace") == 2);
    CHECK(status("convert " + dir + "/missing.trace -o " + dir + "/y.trace") == 2);
    CHECK(status("gen fork-sweep --sizes 1 -o " + dir + "/x.trace") == 0);
    CHECK_THROWS_AS(run("gen fuzz-loop --write-fraction 2 -o " + dir + "/x.trace"), CLI::ValidationError);
    std::remove((dir + "/x.trace").c_str());
    rmdir(dir.c_str());
}
