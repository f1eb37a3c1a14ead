// Internal pieces shared by the sources of odf_trace: byte sources and the streaming decoders.
#pragma once

#include "odf/trace.hpp"
#include "odf/trace/format.hpp"

#include <cstddef>
#include <cstdint>
#include <istream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace odf::trace::detail {

// A sequential source of bytes. read() returns 0 only at the end.
class ByteSource {
  public:
    virtual ~ByteSource() = default;
    virtual std::size_t read(char* buf, std::size_t n) = 0;
};

class IstreamSource final : public ByteSource {
  public:
    explicit IstreamSource(std::istream& in) : in_(in) {}
    std::size_t read(char* buf, std::size_t n) override;

  private:
    std::istream& in_;
};

class MemorySource final : public ByteSource {
  public:
    explicit MemorySource(std::string_view data) : data_(data) {}
    std::size_t read(char* buf, std::size_t n) override;

  private:
    std::string_view data_;
};

// Serves `prefix` first, then the rest of `inner` (used after peeking at the magic bytes).
class PrefixedSource final : public ByteSource {
  public:
    PrefixedSource(std::string prefix, std::unique_ptr<ByteSource> inner)
        : prefix_(std::move(prefix)), inner_(std::move(inner)) {}
    std::size_t read(char* buf, std::size_t n) override;

  private:
    std::string prefix_;
    std::size_t pos_ = 0;
    std::unique_ptr<ByteSource> inner_;
};

// Decompresses a zstd stream (one or more frames) from `inner`.
std::unique_ptr<ByteSource> make_zstd_source(std::unique_ptr<ByteSource> inner, const std::string& name);

// Reads up to n bytes (fewer only at the end).
std::string read_prefix(ByteSource& src, std::size_t n);

class Decoder {
  public:
    virtual ~Decoder() = default;
    // Appends up to max_ops next ops to `out`; returns false (appending nothing) at the end.
    virtual bool next(std::vector<Op>& out, std::size_t max_ops) = 0;
    [[nodiscard]] virtual const std::vector<std::string>& labels() const = 0;
    // The file's version (1 or 2): from the header (text: known after the first next()).
    [[nodiscard]] virtual std::uint32_t version() const = 0;
    // The validator the ops went through (max_cpu(), threads()).
    [[nodiscard]] virtual const Validator& validator() const = 0;
    // Ops in the whole trace if known up front (binary form), else 0.
    [[nodiscard]] virtual std::uint64_t op_count_hint() const { return 0; }
};

std::unique_ptr<Decoder> make_text_decoder(std::unique_ptr<ByteSource> src, const std::string& name);
std::unique_ptr<Decoder> make_binary_decoder(std::unique_ptr<ByteSource> src, const std::string& name);

// Text helpers shared with the lackey importer.
bool parse_u64(std::string_view s, std::uint64_t& out);

} // namespace odf::trace::detail
