// The odf-trace v1 operations in memory: what the text parser, the binary reader and the generators produce and
// what the model replays. The text format is documented in traces/FORMAT.md.
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
};
inline constexpr int kOpKindCount = 17;

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
    std::uint32_t child = 0; // fork: child pid
    std::uint32_t label = 0; // mark: index into Trace::labels
    std::uint32_t line = 0;  // 1-based line in the text form (kept by the binary form)
    OpKind kind = OpKind::Mark;
    std::uint8_t prot = 0;  // ProtBits
    std::uint8_t flags = 0; // MapFlags (mmap), RefKind (getref)

    friend bool operator==(const Op&, const Op&) = default;
};

struct Trace {
    std::string source; // file name, for messages
    std::vector<Op> ops;
    std::vector<std::string> labels;
};

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
