// odf-trace v1: the text form, the binary form and the validity rules (traces/FORMAT.md).
#pragma once

#include "odf/trace.hpp"

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace odf::trace {

inline constexpr std::uint64_t kPageSize = 4096;
inline constexpr std::uint64_t kUserSpaceEnd = 0x0000800000000000ULL; // 47-bit user space, exclusive
inline constexpr std::string_view kTextHeader = "# odf-trace v1";
// Binary form: 8 magic bytes, then varint version (kBinaryVersion), see traces/FORMAT.md.
inline constexpr unsigned char kBinaryMagic[8] = {0x89, 'O', 'D', 'F', 'T', 'R', 'C', '\n'};
inline constexpr std::uint64_t kBinaryVersion = 1;
// zstd frame magic (little-endian 0xFD2FB528).
inline constexpr unsigned char kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};

enum class Format : std::uint8_t { Text, Binary };

// Name of an op as written in the text form ("mmap", "r", ...).
[[nodiscard]] std::string_view op_name(OpKind kind);
// "rw", "r", "none", ...; the canonical spelling (letters in the order r, w, x).
[[nodiscard]] std::string prot_string(std::uint8_t prot);

// Pages an op touches (mapping ops and r/w): [first_page(op), first_page(op) + page_count(op) * 4096).
// r/w need not be aligned: they cover every page that [addr, addr+len) touches.
[[nodiscard]] inline std::uint64_t first_page(const Op& op) {
    return op.addr & ~(kPageSize - 1);
}
[[nodiscard]] inline std::uint64_t page_count(const Op& op) {
    if (op.len == 0) {
        return 0;
    }
    return ((op.addr + op.len - 1) / kPageSize) - (op.addr / kPageSize) + 1;
}
// The len that an r/w op without LEN gets: from addr to the end of its page (exactly one page).
[[nodiscard]] inline std::uint64_t default_access_len(std::uint64_t addr) {
    return kPageSize - (addr % kPageSize);
}

// Parses the text form. Throws TraceError(name, line, reason) on the first error (syntax or validity).
// Labels are interned in order of first appearance; Op::line is the 1-based line in the input.
[[nodiscard]] Trace parse_text(std::istream& in, const std::string& name);
[[nodiscard]] Trace parse_text_string(std::string_view text, const std::string& name);

struct TextWriteOptions {
    // Keep every op on its Op::line by writing blank lines in between, when lines increase and the gap is at most
    // max_gap; otherwise an op goes on the next line. false: ops on lines 2, 3, 4, ... (renumbered).
    bool keep_lines = true;
    std::uint32_t max_gap = 1U << 20;
};
// Writes the canonical text form: header, one op per line, single spaces, hex addresses and lengths, decimal pids.
// parse_text(write_text(t)) == t (ops and labels) for a valid trace whose labels are interned in order of first use
// and whose lines increase from 2 (or, with keep_lines = false, are exactly 2, 3, 4, ...).
void write_text(std::ostream& out, const Trace& trace, const TextWriteOptions& options = {});
[[nodiscard]] std::string write_text_string(const Trace& trace, const TextWriteOptions& options = {});

// Binary form (lossless for valid traces, incl. labels and line numbers). read_binary validates like parse_text.
void write_binary(std::ostream& out, const Trace& trace);
[[nodiscard]] Trace read_binary(std::istream& in, const std::string& name);
[[nodiscard]] Trace read_binary_bytes(std::span<const std::byte> bytes, const std::string& name);

// The validity rules of an op that do not need the text (pids, alignment, ranges, lengths, label index).
// Feed ops in trace order; throws TraceError(file, op.line, reason).
class Validator {
  public:
    explicit Validator(std::string file) : file_(std::move(file)) {}
    void check(const Op& op, std::size_t label_count);
    [[nodiscard]] const std::string& file() const { return file_; }

  private:
    enum : std::uint8_t { kUnused = 0, kLive = 1, kDead = 2 };
    std::uint8_t state(std::uint32_t pid) const;
    void set_state(std::uint32_t pid, std::uint8_t s);
    [[noreturn]] void fail(const Op& op, const std::string& reason) const;
    void check_range(const Op& op, std::uint64_t addr, std::uint64_t len, bool aligned) const;

    std::string file_;
    std::vector<std::uint8_t> small_ = std::vector<std::uint8_t>(2, kUnused); // pid -> state for small pids
    std::vector<std::pair<std::uint32_t, std::uint8_t>> big_;                 // sorted, pids >= kSmallPids
    bool started_ = false;
};

// Checks a whole in-memory trace (e.g. a generated one): every op valid, labels usable. Throws TraceError.
void validate(const Trace& trace);

// Op counts per kind, for `check`.
struct OpCounts {
    std::uint64_t by_kind[kOpKindCount] = {};
    std::uint64_t pages_read = 0;
    std::uint64_t pages_written = 0;
    std::uint64_t processes = 0;
};
[[nodiscard]] OpCounts count_ops(const Trace& trace);

} // namespace odf::trace
