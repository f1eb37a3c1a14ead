// Loading and saving trace files: format detection by content, zstd, and a streaming reader (traces/FORMAT.md).
#pragma once

#include "odf/trace.hpp"
#include "odf/trace/format.hpp"

#include <cstddef>
#include <istream>
#include <memory>
#include <string>
#include <vector>

namespace odf::trace {

// Reads a trace in batches, whatever its form: text, binary, or either compressed with zstd (detected from the first
// bytes, not the file name). Ops are validated as they are decoded; errors throw TraceError.
class TraceReader {
  public:
    explicit TraceReader(const std::string& path);
    // Reads from a stream the caller keeps alive; `name` is used in messages.
    TraceReader(std::istream& in, const std::string& name);
    ~TraceReader();
    TraceReader(const TraceReader&) = delete;
    TraceReader& operator=(const TraceReader&) = delete;

    // Replaces `out` with up to `max_ops` next ops; returns false (and leaves `out` empty) at the end of the trace.
    bool next(std::vector<Op>& out, std::size_t max_ops = 1U << 16);
    // Appends up to `max_ops` next ops to `out`; returns false (appending nothing) at the end.
    bool append(std::vector<Op>& out, std::size_t max_ops = 1U << 16);
    // Labels known so far: all of them for the binary form, those seen so far for the text form.
    [[nodiscard]] const std::vector<std::string>& labels() const;
    // Ops in the whole trace if the form says so up front (binary), else 0.
    [[nodiscard]] std::uint64_t op_count_hint() const;
    [[nodiscard]] Format format() const;
    [[nodiscard]] bool compressed() const;
    [[nodiscard]] const std::string& name() const;
    // The file's odf-trace version, 1 or 2 (text: from the header, known after the first next()/append(); binary:
    // after construction).
    [[nodiscard]] std::uint32_t version() const;
    // Highest CPU named by a `cpu` op among the ops read so far (so: of the whole trace once next() returned false).
    [[nodiscard]] std::uint32_t max_cpu() const;
    // Threads created among the ops read so far (main threads of all processes, and clones).
    [[nodiscard]] std::uint64_t threads() const;

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

// Whole-file load of any form (see TraceReader). Trace::source is `path`.
[[nodiscard]] Trace load_trace(const std::string& path);
// Same from a stream.
[[nodiscard]] Trace load_trace(std::istream& in, const std::string& name);

struct SaveOptions {
    int zstd_level = 3;
};
// Writes `trace` as text or binary, optionally zstd-compressed (streaming). Throws std::runtime_error on I/O errors.
void save_trace(const std::string& path, const Trace& trace, Format format, bool zstd, const SaveOptions& options = {});
void save_trace(std::ostream& out, const Trace& trace, Format format, bool zstd, const SaveOptions& options = {});

} // namespace odf::trace
