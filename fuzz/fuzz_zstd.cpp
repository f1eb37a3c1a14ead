// libFuzzer target: the zstd layer of the streaming reader. The first byte picks what the reader gets:
//   bit 0 clear: the rest after the zstd magic, i.e. a corrupt or truncated zstd frame;
//   bit 0 set:   the rest compressed with zstd (so the reader decompresses arbitrary content), and cut short by
//                (first byte >> 1) bytes if that is not 0.
// Either way the reader returns a trace or throws TraceError. An uncut compressed input must read exactly as its
// uncompressed content does.
#include "odf/trace/format.hpp"
#include "odf/trace/io.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <zstd.h>

using namespace odf::trace;

namespace {

// The trace, or nothing if the reader threw TraceError.
std::optional<Trace> load(const std::string& bytes) {
    try {
        std::istringstream in(bytes);
        return load_trace(in, "fuzz");
    } catch (const TraceError&) {
        return std::nullopt;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const unsigned mode = data[0];
    const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    if ((mode & 1U) == 0) {
        std::string frame(reinterpret_cast<const char*>(kZstdMagic), sizeof kZstdMagic);
        frame += rest;
        (void)load(frame);
        return 0;
    }

    std::string compressed(ZSTD_compressBound(rest.size()), '\0');
    const std::size_t n = ZSTD_compress(compressed.data(), compressed.size(), rest.data(), rest.size(), 1);
    if (ZSTD_isError(n) != 0U) {
        std::abort();
    }
    compressed.resize(n);
    const std::size_t cut = mode >> 1U;
    if (cut != 0) {
        compressed.resize(compressed.size() > cut ? compressed.size() - cut : 0);
        (void)load(compressed);
        return 0;
    }
    // The same content uncompressed; a content that itself starts with the zstd magic is a nested frame, which the
    // reader does not unpack twice.
    if (rest.size() >= sizeof kZstdMagic &&
        rest.compare(0, sizeof kZstdMagic, reinterpret_cast<const char*>(kZstdMagic), sizeof kZstdMagic) == 0) {
        (void)load(compressed);
        return 0;
    }
    const std::optional<Trace> direct = load(rest);
    const std::optional<Trace> via_zstd = load(compressed);
    if (direct.has_value() != via_zstd.has_value() ||
        (direct && (direct->ops != via_zstd->ops || direct->labels != via_zstd->labels))) {
        std::fprintf(stderr, "fuzz_zstd: the compressed content reads differently from the content itself\n");
        std::abort();
    }
    return 0;
}
