// The one way to build a trace in code: the generators, the benchmarks' drivers and the CLI's demo use it.
#pragma once

#include "odf/trace.hpp"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace odf::trace {

// Appends ops with the line numbers of the canonical text form (2, 3, 4, ...: line 1 is the header) and interns
// labels in order of first use. Ops can be taken out as they are built (drain(), for a driver that applies them
// one by one) or all at the end (finish(), which validates the trace).
class Builder {
  public:
    // `source` names the trace in messages until finish() names it.
    explicit Builder(std::string source = {}) { t_.source = std::move(source); }

    // The thread of the ops pushed from now on (0: the main thread).
    void set_tid(std::uint32_t tid) { tid_ = tid; }
    [[nodiscard]] std::uint32_t tid() const { return tid_; }
    void set_version(std::uint32_t v) { t_.version = v; }

    // Appends an op of `kind` by `pid` (on the current thread) with the next line; the caller fills in the rest.
    Op& push(OpKind kind, std::uint32_t pid);
    // Appends a complete op (its line is set here).
    void append(Op op);

    void mmap(std::uint32_t pid, std::uint64_t addr, std::uint64_t len, std::uint8_t prot = kProtRead | kProtWrite,
              std::uint8_t flags = kMapPrivate);
    // r, w, munmap, madvise, pin, unpin, readref, putref: an op on [addr, addr + len).
    void range(OpKind kind, std::uint32_t pid, std::uint64_t addr, std::uint64_t len);
    void read(std::uint32_t pid, std::uint64_t addr, std::uint64_t len) { range(OpKind::Read, pid, addr, len); }
    void write(std::uint32_t pid, std::uint64_t addr, std::uint64_t len) { range(OpKind::Write, pid, addr, len); }
    void munmap(std::uint32_t pid, std::uint64_t addr, std::uint64_t len) { range(OpKind::Munmap, pid, addr, len); }
    // A private rw mapping of len bytes at addr, every page written once (a populated heap, dataset or target).
    void populate(std::uint32_t pid, std::uint64_t addr, std::uint64_t len);
    void mprotect(std::uint32_t pid, std::uint64_t addr, std::uint64_t len, std::uint8_t prot);
    void mremap(std::uint32_t pid, std::uint64_t addr, std::uint64_t len, std::uint64_t new_addr,
                std::uint64_t new_len);
    void brk(std::uint32_t pid, std::uint64_t addr) { push(OpKind::Brk, pid).addr = addr; }
    void fork(std::uint32_t pid, std::uint32_t child) { push(OpKind::Fork, pid).child = child; }
    void exit(std::uint32_t pid) { push(OpKind::Exit, pid); }
    void exec(std::uint32_t pid) { push(OpKind::Exec, pid); }
    void getref(std::uint32_t pid, std::uint64_t addr, std::uint64_t len, bool pin);
    void mark(std::uint32_t pid, const std::string& label) { push(OpKind::Mark, pid).label = intern(label); }
    // The index of `label` in Trace::labels, added if new.
    std::uint32_t intern(const std::string& label);

    // The trace so far (its labels and version; its ops minus those drained).
    [[nodiscard]] const Trace& trace() const { return t_; }
    // Hands over the ops appended since the last drain; line numbers go on from there.
    std::vector<Op> drain();
    // The finished trace, named `source`; throws TraceError unless it is valid (validate()).
    Trace finish(const std::string& source);

  private:
    Trace t_;
    std::unordered_map<std::string, std::uint32_t> index_;
    std::uint32_t tid_ = 0;
    std::uint32_t next_line_ = 2;
};

} // namespace odf::trace
