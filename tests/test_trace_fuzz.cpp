// odf_trace: mutated inputs never crash the readers: they parse or throw TraceError.
#include "odf/trace/format.hpp"
#include "odf/trace/generators.hpp"
#include "odf/trace/io.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <random>
#include <sstream>

using namespace odf::trace;

namespace {

std::string mutate(std::string s, std::mt19937_64& rng) {
    const char* alphabet = " \n#0x123456789abcdefrwnoeshpi-\t\r,.";
    auto nmut = 1 + rng() % 8;
    for (unsigned k = 0; k < nmut && !s.empty(); ++k) {
        std::size_t pos = rng() % s.size();
        switch (rng() % 6) {
        case 0: // flip a byte to anything
            s[pos] = static_cast<char>(rng() & 0xff);
            break;
        case 1: // flip to a plausible character
            s[pos] = alphabet[rng() % 34];
            break;
        case 2: // delete a run
            s.erase(pos, 1 + rng() % 16);
            break;
        case 3: // insert a plausible character
            s.insert(pos, 1, alphabet[rng() % 34]);
            break;
        case 4: { // duplicate a run elsewhere (e.g. a line: reused pids, repeated forks)
            std::size_t len = 1 + rng() % 40;
            std::string piece = s.substr(pos, len);
            s.insert(rng() % s.size(), piece);
            break;
        }
        default: // truncate
            s.resize(pos);
            break;
        }
    }
    return s;
}

// Returns 1 if it parsed, 0 if it threw TraceError; any other exception or a crash fails the test.
int try_load(const std::string& bytes) {
    try {
        std::istringstream in(bytes);
        (void)load_trace(in, "fuzz");
        return 1;
    } catch (const TraceError&) {
        return 0;
    }
}

} // namespace

SCENARIO("trace_fuzz: 1000 byte-mutated traces (v1 and v2) either parse or throw TraceError", "[trace][fuzz]") {
    std::ifstream in(std::string(ODF_TEST_DATA_DIR) + "/trace_sample.trace");
    std::ostringstream os;
    os << in.rdbuf();
    const std::string sample = os.str();
    RandomParams p;
    p.seed = 11;
    p.ops = 200;
    const Trace random = gen_random(p);
    const std::string text = write_text_string(random);
    std::ostringstream bin;
    write_binary(bin, random);
    const std::string binary = bin.str();
    std::ostringstream zbin;
    save_trace(zbin, random, Format::Binary, true);
    const std::string zbinary = zbin.str();
    // odf-trace v2: threads (PID.TID), clone, texit, cpu, run, wait, vfork, spawn, begin, end.
    RandomParams p2 = p;
    p2.v2 = true;
    const Trace random2 = gen_random(p2);
    const std::string text2 = write_text_string(random2);
    std::ostringstream bin2;
    write_binary(bin2, random2);
    const std::string binary2 = bin2.str();
    std::ostringstream zbin2;
    save_trace(zbin2, random2, Format::Binary, true);
    const std::string zbinary2 = zbin2.str();

    std::mt19937_64 rng(12345);
    GIVEN("1000 mutations of text traces") {
        int parsed = 0;
        for (int i = 0; i < 1000; ++i) {
            const std::string& base = (i % 3 == 0) ? sample : (i % 3 == 1 ? text : text2);
            std::string m = mutate(base, rng);
            INFO("mutation " << i);
            CHECK_NOTHROW(parsed += try_load(m));
        }
        THEN("some parse and some fail") {
            CHECK(parsed > 0);
            CHECK(parsed < 1000);
        }
    }
    GIVEN("1000 mutations of binary and zstd traces") {
        int parsed = 0;
        for (int i = 0; i < 1000; ++i) {
            const std::string* bases[] = {&binary, &zbinary, &binary2, &zbinary2};
            std::string m = mutate(*bases[i % 4], rng);
            INFO("mutation " << i);
            CHECK_NOTHROW(parsed += try_load(m));
        }
        THEN("most fail cleanly") {
            CHECK(parsed < 1000);
        }
    }
}
