// The odf-trace operations (v1 and v2) in memory: what the text parser, the binary reader and the generators produce
// and what the model replays. The text format is documented in traces/FORMAT.md.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace odf::trace {

enum class OpKind : std::uint8_t {
    Mmap,     // addr len prot flags
    Munmap,   // addr len
    Mprotect, // addr len prot
    Madvise,  // addr len (dontneed)
    Mremap,   // addr len -> addr2 len2
    Brk,      // addr
    Pin,      // addr len
    Unpin,    // addr len
    Read,     // addr len (len defaults to one page)
    Write,    // addr len
    Fork,     // child pid in `child`
    Exec,
    Exit,
    Mark,    // label index in `label`
    Getref,  // addr len, `flags`: RefKind (read-only GUP reference: get or long-term pin)
    Readref, // addr len
    Putref,  // addr len
    // odf-trace v2: threads, CPUs and time
    Clone, // `child`: the new thread's TID, in the same process (same mm)
    Texit, // the thread ends (never the main thread)
    Cpu,   // `child`: the CPU the thread runs on from now on
    Run,   // `len`: nanoseconds of user-mode computation (no memory effect)
    Wait,  // `child`: the child process to wait for (waitpid)
    Vfork, // `child`: the new process; it runs in the caller's mm; the calling thread blocks until its exec/exit
    Spawn, // `child`: the new process (posix_spawn: CLONE_VM|CLONE_VFORK then exec: starts with an empty mm)
    Begin, // `label`; if (flags & kBeginAt) `addr` is AT, the arrival time in ns of simulated time
    End,   // `label`
};
inline constexpr int kOpKindCount = 26;
// The first v2 op kind: a trace with an op of kind >= kFirstV2Kind (or a tid != 0) needs odf-trace v2.
inline constexpr OpKind kFirstV2Kind = OpKind::Clone;
inline constexpr std::uint8_t kBeginAt = 1; // Op::flags of Begin: AT given

// Protection bits as in PROT_READ / PROT_WRITE / PROT_EXEC; 0 is "none".
enum ProtBits : std::uint8_t { kProtRead = 1, kProtWrite = 2, kProtExec = 4 };
// Mapping flags of mmap: private or shared anonymous memory.
enum MapFlags : std::uint8_t { kMapPrivate = 0, kMapShared = 1 };
// getref kinds (stored in Op::flags): FOLL_GET as vmsplice takes it, or FOLL_PIN | FOLL_LONGTERM (read-only).
enum RefKind : std::uint8_t { kRefGet = 0, kRefPin = 1 };

struct Op {
    std::uint64_t addr = 0;
    std::uint64_t len = 0;
    std::uint64_t addr2 = 0; // mremap: new address
    std::uint64_t len2 = 0;  // mremap: new length
    std::uint32_t pid = 0;
    std::uint32_t child = 0; // fork, vfork, spawn, wait: child pid; clone: new TID; cpu: CPU
    std::uint32_t label = 0; // mark, begin, end: index into Trace::labels
    std::uint32_t line = 0;  // 1-based line in the text form (kept by the binary form)
    OpKind kind = OpKind::Mark;
    std::uint8_t prot = 0;  // ProtBits
    std::uint8_t flags = 0; // MapFlags (mmap), RefKind (getref), kBeginAt (begin)
    std::uint32_t tid = 0;  // thread of `pid` (0: the main thread)

    friend bool operator==(const Op&, const Op&) = default;
};

struct Trace {
    std::string source; // file name, for messages
    std::vector<Op> ops;
    std::vector<std::string> labels; // of mark, begin and end
    std::uint32_t version = 1;       // 2: "# odf-trace v2" (threads, CPUs, time)
};

static_assert(sizeof(Op) == 56);

// True if the op needs odf-trace v2 (a thread other than the main thread, or a v2 op kind).
[[nodiscard]] inline bool needs_v2(const Op& op) {
    return op.tid != 0 || op.kind >= kFirstV2Kind;
}

// A malformed trace: names the file, the line and the reason.
class TraceError : public std::runtime_error {
  public:
    TraceError(const std::string& file, std::uint32_t line, const std::string& reason)
        : std::runtime_error(file + ":" + std::to_string(line) + ": " + reason), file_(file), line_(line) {}
    [[nodiscard]] const std::string& file() const { return file_; }
    [[nodiscard]] std::uint32_t line() const { return line_; }

  private:
    std::string file_;
    std::uint32_t line_;
};

} // namespace odf::trace
