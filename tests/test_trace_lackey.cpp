// odf_trace: importing valgrind lackey logs.
#include "odf/trace/format.hpp"
#include "odf/trace/lackey.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

using namespace odf::trace;

SCENARIO("trace_lackey: a lackey log becomes mmaps of the touched runs then merged page-granular r/w",
         "[trace][lackey]") {
    const std::string path = std::string(ODF_TEST_DATA_DIR) + "/lackey_sample.log";
    GIVEN("the sample log") {
        std::ifstream in(path);
        REQUIRE(in);
        WHEN("it is imported with instruction fetches ignored") {
            Trace t = import_lackey(in, path);
            THEN("the canonical text is the expected trace") {
                CHECK(write_text_string(t) == "# odf-trace v1\n"
                                              "1 mmap 0x4a0c000 0x3000 rw private\n"
                                              "1 mmap 0x1ffefff000 0x1000 rw private\n"
                                              "1 r 0x1ffefff000\n"
                                              "1 w 0x1ffefff000\n"
                                              "1 r 0x4a0c000\n"
                                              "1 w 0x4a0c000\n"
                                              "1 r 0x4a0c000\n"
                                              "1 r 0x4a0d000\n"
                                              "1 r 0x4a0e000\n"
                                              "1 w 0x4a0e000\n");
                CHECK_NOTHROW(validate(t));
            }
        }
        WHEN("it is imported with instruction fetches as reads") {
            Trace t = import_lackey(in, path, LackeyOptions{.instructions_as_reads = true});
            THEN("the code page is mapped and read again after each data access") {
                CHECK(t.ops[0].addr == 0x4000000);
                auto c = count_ops(t);
                CHECK(c.by_kind[static_cast<int>(OpKind::Mmap)] == 3);
                CHECK(c.by_kind[static_cast<int>(OpKind::Read)] == 7); // code twice: a data access came between
            }
        }
    }
    GIVEN("a line that is not a lackey record") {
        std::istringstream in(" L 1000,8\nhello world\n");
        THEN("it is an error naming the log line, unless lenient") {
            CHECK_THROWS_WITH(import_lackey(in, "x.log"), Catch::StartsWith("x.log:2: not a lackey record"));
            std::istringstream in2(" L 1000,8\nhello world\n");
            CHECK(import_lackey(in2, "x.log", LackeyOptions{.lenient = true}).ops.size() == 2);
        }
    }
}
