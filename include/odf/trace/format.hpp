// odf-trace v1 and v2: the text form, the binary form and the validity rules (traces/FORMAT.md).
#pragma once

#include "odf/trace.hpp"

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace odf::trace {

inline constexpr std::uint64_t kPageSize = 4096;
inline constexpr std::uint64_t kUserSpaceEnd = 0x0000800000000000ULL; // 47-bit user space, exclusive
inline constexpr std::string_view kTextHeader = "# odf-trace v1";
inline constexpr std::string_view kTextHeaderV2 = "# odf-trace v2"; // threads, CPUs and time
// Binary form: 8 magic bytes, then varint version (kBinaryVersion, or kBinaryVersionV2 for a trace that needs
// odf-trace v2), see traces/FORMAT.md.
inline constexpr unsigned char kBinaryMagic[8] = {0x89, 'O', 'D', 'F', 'T', 'R', 'C', '\n'};
inline constexpr std::uint64_t kBinaryVersion = 1;
inline constexpr std::uint64_t kBinaryVersionV2 = 2;
// CPUs are numbered 0 to kMaxCpu (`cpu N`).
inline constexpr std::uint32_t kMaxCpu = 4095;
// zstd frame magic (little-endian 0xFD2FB528).
inline constexpr unsigned char kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};

enum class Format : std::uint8_t { Text, Binary };

// Name of an op as written in the text form ("mmap", "r", ...).
[[nodiscard]] std::string_view op_name(OpKind kind);
// "rw", "r", "none", ...; the canonical spelling (letters in the order r, w, x).
[[nodiscard]] std::string prot_string(std::uint8_t prot);
// A number as the text form writes it (decimal, or hex with 0x); false if it is not one or exceeds 64 bits.
[[nodiscard]] bool parse_number(std::string_view s, std::uint64_t& out);

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

// True if writing `trace` needs odf-trace v2: trace.version >= 2, or an op of a thread or of a v2 kind. The writers
// (text and binary) use v2 exactly then, so a v1 trace is written as v1, byte for byte.
[[nodiscard]] bool needs_v2(const Trace& trace);
// The highest CPU named by a `cpu` op of the trace, 0 if none (so the default machine has max_cpu + 1 CPUs).
[[nodiscard]] std::uint32_t max_cpu(const Trace& trace);
// "P" for the main thread, "P.T" for thread T of process P (as in the text form).
[[nodiscard]] std::string thread_name(std::uint32_t pid, std::uint32_t tid);

// Parses the text form. Throws TraceError(name, line, reason) on the first error (syntax or validity).
// Labels are interned in order of first appearance; Op::line is the 1-based line in the input. Trace::version is the
// header's version (1 or 2).
[[nodiscard]] Trace parse_text(std::istream& in, const std::string& name);
[[nodiscard]] Trace parse_text_string(std::string_view text, const std::string& name);

struct TextWriteOptions {
    // Keep every op on its Op::line by writing blank lines in between, when lines increase and the gap is at most
    // max_gap; otherwise an op goes on the next line. false: ops on lines 2, 3, 4, ... (renumbered).
    bool keep_lines = true;
    std::uint32_t max_gap = 1U << 20;
};
// Writes the canonical text form: header (v2 if needs_v2(trace), else v1), one op per line, single spaces, hex
// addresses and lengths, decimal pids. parse_text(write_text(t)) == t (ops and labels) for a valid trace whose labels
// are interned in order of first use and whose lines increase from 2 (or, with keep_lines = false, are exactly 2, 3, 4,
// ...).
void write_text(std::ostream& out, const Trace& trace, const TextWriteOptions& options = {});
[[nodiscard]] std::string write_text_string(const Trace& trace, const TextWriteOptions& options = {});

// Binary form (lossless for valid traces, incl. labels and line numbers). read_binary validates like parse_text.
// write_binary writes version 2 if needs_v2(trace), else version 1; read_binary sets Trace::version from it.
void write_binary(std::ostream& out, const Trace& trace);
[[nodiscard]] Trace read_binary(std::istream& in, const std::string& name);
[[nodiscard]] Trace read_binary_bytes(std::span<const std::byte> bytes, const std::string& name);

// The validity rules of an op that do not need the text (pids, threads, blocking, intervals, alignment, ranges,
// lengths, label index). Feed ops in trace order; throws TraceError(file, op.line, reason). Per-process state is a
// small flat record (pids below 2^16 in a vector, larger ones in a sorted vector); processes that have threads,
// blocked threads or open intervals get a sorted per-thread table on the side.
class Validator {
  public:
    // `version`: the version of the file being read; 1 rejects v2 ops and threads ("needs odf-trace v2").
    explicit Validator(std::string file, std::uint32_t version = 2) : file_(std::move(file)), version_(version) {}
    void check(const Op& op, std::size_t label_count);
    [[nodiscard]] const std::string& file() const { return file_; }
    void set_version(std::uint32_t version) { version_ = version; }
    [[nodiscard]] std::uint32_t version() const { return version_; }
    // Label names for messages (optional; the vector must outlive the validator or be reset).
    void set_labels(const std::vector<std::string>* labels) { labels_ = labels; }
    // Highest CPU named by a `cpu` op so far, 0 if none.
    [[nodiscard]] std::uint32_t max_cpu() const { return max_cpu_; }
    // Threads created so far: the main thread of every process (pid 1, fork, vfork, spawn children) and clones.
    [[nodiscard]] std::uint64_t threads() const { return threads_created_; }

  private:
    enum : std::uint8_t { kUnused = 0, kLive = 1, kDead = 2 };
    // Proc::flags
    enum : std::uint8_t {
        kWaited = 1,      // a `wait` for it was issued
        kThreads = 2,     // has an entry in threads_ (threads, blocked threads or open intervals)
        kInVfork = 4,     // a vfork child before its exec or exit: its parent's thread is blocked
        kWaitPending = 8, // a thread of its parent is blocked in `wait` for it
    };
    struct Proc {
        std::uint32_t parent = 0; // 0: none (pid 1)
        std::uint8_t state = kUnused;
        std::uint8_t flags = 0;
    };
    enum : std::uint8_t { kRunnable = 0, kBlockedVfork = 1, kBlockedWait = 2 };
    struct Thread {
        std::uint32_t tid = 0;
        std::uint32_t blocked_on = 0; // child pid (kBlockedVfork, kBlockedWait)
        std::uint8_t state = kRunnable;
        std::vector<std::uint32_t> open; // labels of open intervals
    };
    struct Threads {
        std::vector<Thread> list; // the live threads, sorted by tid (the main thread first)
        std::vector<std::pair<std::uint32_t, std::uint32_t>> ended; // TIDs that ended: sorted disjoint [lo, hi]
        unsigned in_vfork = 0;                                      // threads blocked in vfork
        [[nodiscard]] bool has_ended(std::uint32_t tid) const;
        void add_ended(std::uint32_t tid);
    };

    Proc* find(std::uint32_t pid);
    Proc& slot(std::uint32_t pid);
    Threads& threads_of(std::uint32_t pid, Proc& p);
    static Thread* find_thread(Threads& ts, std::uint32_t tid);
    Thread& thread_check(const Op& op, Proc& p);
    void end_process(const Op& op, Proc& p, bool exec);
    void unblock(std::uint32_t parent, std::uint32_t child, std::uint8_t how);
    [[nodiscard]] std::string label_name(std::uint32_t label) const;
    [[noreturn]] void fail(const Op& op, const std::string& reason) const;
    void check_range(const Op& op, std::uint64_t addr, std::uint64_t len, bool aligned) const;

    std::string file_;
    std::uint32_t version_ = 2;
    const std::vector<std::string>* labels_ = nullptr;
    std::vector<Proc> small_ = std::vector<Proc>(2);  // pid -> state for small pids
    std::vector<std::pair<std::uint32_t, Proc>> big_; // sorted, pids >= 2^16
    std::unordered_map<std::uint32_t, Threads> threads_;
    std::uint32_t max_cpu_ = 0;
    std::uint64_t threads_created_ = 0;
    bool started_ = false;
};

// Checks a whole in-memory trace (e.g. a generated one): every op valid, labels usable. Throws TraceError. v2 ops
// are accepted whatever trace.version says (the writers pick the version from the ops).
void validate(const Trace& trace);

// Op counts per kind, for `check`.
struct OpCounts {
    std::uint64_t by_kind[kOpKindCount] = {};
    std::uint64_t pages_read = 0;
    std::uint64_t pages_written = 0;
    std::uint64_t processes = 0; // pid 1 and the children of fork, vfork and spawn
    std::uint64_t threads = 0;   // main threads of the processes and clones
    std::uint32_t max_cpu = 0;   // highest CPU named by `cpu`
};
[[nodiscard]] OpCounts count_ops(const Trace& trace);

} // namespace odf::trace
