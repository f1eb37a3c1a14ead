// Format detection, zstd streaming (libzstd), TraceReader, load_trace and save_trace.
#include "odf/trace/io.hpp"

#include "detail.hpp"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <zstd.h>

namespace odf::trace {

namespace detail {
namespace {

class FileSource final : public ByteSource {
  public:
    explicit FileSource(const std::string& path) : in_(path, std::ios::binary) {
        if (!in_) {
            throw TraceError(path, 0, fmt::format("cannot open: {}", std::strerror(errno)));
        }
    }
    std::size_t read(char* buf, std::size_t n) override {
        in_.read(buf, static_cast<std::streamsize>(n));
        return static_cast<std::size_t>(in_.gcount());
    }

  private:
    std::ifstream in_;
};

class ZstdSource final : public ByteSource {
  public:
    ZstdSource(std::unique_ptr<ByteSource> inner, std::string name)
        : inner_(std::move(inner)), name_(std::move(name)), dctx_(ZSTD_createDCtx()) {
        if (dctx_ == nullptr) {
            throw std::bad_alloc();
        }
        in_buf_.resize(ZSTD_DStreamInSize());
    }
    ~ZstdSource() override { ZSTD_freeDCtx(dctx_); }
    ZstdSource(const ZstdSource&) = delete;
    ZstdSource& operator=(const ZstdSource&) = delete;

    std::size_t read(char* buf, std::size_t n) override {
        ZSTD_outBuffer out{buf, n, 0};
        while (out.pos == 0) {
            if (in_.pos == in_.size && !in_eof_) {
                std::size_t got = inner_->read(in_buf_.data(), in_buf_.size());
                if (got == 0) {
                    in_eof_ = true;
                }
                in_ = ZSTD_inBuffer{in_buf_.data(), got, 0};
            }
            const std::size_t in_before = in_.pos;
            std::size_t ret = ZSTD_decompressStream(dctx_, &out, &in_);
            if (ZSTD_isError(ret) != 0U) {
                throw TraceError(name_, 0, fmt::format("zstd: {}", ZSTD_getErrorName(ret)));
            }
            if (in_.pos != in_before || out.pos != 0) {
                frame_done_ = ret == 0; // 0: a frame is complete and flushed
            }
            if (out.pos == 0 && in_eof_ && in_.pos == in_.size) {
                if (!frame_done_) {
                    throw TraceError(name_, 0, "truncated zstd stream");
                }
                return 0;
            }
        }
        return out.pos;
    }

  private:
    std::unique_ptr<ByteSource> inner_;
    std::string name_;
    ZSTD_DCtx* dctx_;
    std::vector<char> in_buf_;
    ZSTD_inBuffer in_{nullptr, 0, 0};
    bool in_eof_ = false;
    bool frame_done_ = false;
};

bool has_prefix(const std::string& s, const unsigned char* magic, std::size_t n) {
    return s.size() >= n && std::memcmp(s.data(), magic, n) == 0;
}

} // namespace

std::unique_ptr<ByteSource> make_zstd_source(std::unique_ptr<ByteSource> inner, const std::string& name) {
    return std::make_unique<ZstdSource>(std::move(inner), name);
}

} // namespace detail

struct TraceReader::Impl {
    std::string name;
    Format format = Format::Text;
    bool compressed = false;
    std::unique_ptr<detail::Decoder> decoder;

    void open(std::unique_ptr<detail::ByteSource> src) {
        std::string head = detail::read_prefix(*src, sizeof kBinaryMagic);
        if (detail::has_prefix(head, kZstdMagic, sizeof kZstdMagic)) {
            compressed = true;
            src = detail::make_zstd_source(std::make_unique<detail::PrefixedSource>(head, std::move(src)), name);
            head = detail::read_prefix(*src, sizeof kBinaryMagic);
        }
        auto body = std::make_unique<detail::PrefixedSource>(head, std::move(src));
        if (detail::has_prefix(head, kBinaryMagic, sizeof kBinaryMagic)) {
            format = Format::Binary;
            decoder = detail::make_binary_decoder(std::move(body), name);
        } else {
            format = Format::Text;
            decoder = detail::make_text_decoder(std::move(body), name);
        }
    }
};

TraceReader::TraceReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
    impl_->name = path;
    impl_->open(std::make_unique<detail::FileSource>(path));
}

TraceReader::TraceReader(std::istream& in, const std::string& name) : impl_(std::make_unique<Impl>()) {
    impl_->name = name;
    impl_->open(std::make_unique<detail::IstreamSource>(in));
}

TraceReader::~TraceReader() = default;

bool TraceReader::next(std::vector<Op>& out, std::size_t max_ops) {
    out.clear();
    return impl_->decoder->next(out, max_ops);
}
bool TraceReader::append(std::vector<Op>& out, std::size_t max_ops) {
    return impl_->decoder->next(out, max_ops);
}
const std::vector<std::string>& TraceReader::labels() const {
    return impl_->decoder->labels();
}
std::uint64_t TraceReader::op_count_hint() const {
    return impl_->decoder->op_count_hint();
}
Format TraceReader::format() const {
    return impl_->format;
}
bool TraceReader::compressed() const {
    return impl_->compressed;
}
const std::string& TraceReader::name() const {
    return impl_->name;
}
std::uint32_t TraceReader::version() const {
    return impl_->decoder->version();
}
std::uint32_t TraceReader::max_cpu() const {
    return impl_->decoder->validator().max_cpu();
}
std::uint64_t TraceReader::threads() const {
    return impl_->decoder->validator().threads();
}

namespace {
Trace read_all(TraceReader& r) {
    Trace t;
    t.source = r.name();
    // Reserve for the announced op count once a first batch decoded (a corrupt short file fails before that), at
    // most 2^20 ops: the count is untrusted, a longer trace grows the vector as its ops really arrive.
    bool more = r.append(t.ops, 1U << 16);
    t.ops.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(r.op_count_hint(), 1ULL << 20)));
    while (more) {
        more = r.append(t.ops, 1U << 16);
    }
    t.labels = r.labels();
    t.version = r.version();
    return t;
}

class ZstdWriteBuf : public std::streambuf {
  public:
    ZstdWriteBuf(std::ostream& out, int level) : out_(out), cctx_(ZSTD_createCCtx()) {
        if (cctx_ == nullptr) {
            throw std::bad_alloc();
        }
        ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level);
        in_.resize(ZSTD_CStreamInSize());
        outbuf_.resize(ZSTD_CStreamOutSize());
        setp(in_.data(), in_.data() + in_.size());
    }
    ~ZstdWriteBuf() override { ZSTD_freeCCtx(cctx_); }
    ZstdWriteBuf(const ZstdWriteBuf&) = delete;
    ZstdWriteBuf& operator=(const ZstdWriteBuf&) = delete;

    void finish() {
        compress(ZSTD_e_end);
        out_.flush();
    }

  protected:
    int_type overflow(int_type ch) override {
        compress(ZSTD_e_continue);
        if (ch != traits_type::eof()) {
            *pptr() = static_cast<char>(ch);
            pbump(1);
        }
        return traits_type::not_eof(ch);
    }

  private:
    void compress(ZSTD_EndDirective mode) {
        ZSTD_inBuffer in{in_.data(), static_cast<std::size_t>(pptr() - pbase()), 0};
        for (;;) {
            ZSTD_outBuffer out{outbuf_.data(), outbuf_.size(), 0};
            std::size_t ret = ZSTD_compressStream2(cctx_, &out, &in, mode);
            if (ZSTD_isError(ret) != 0U) {
                throw std::runtime_error(fmt::format("zstd: {}", ZSTD_getErrorName(ret)));
            }
            out_.write(outbuf_.data(), static_cast<std::streamsize>(out.pos));
            bool done = mode == ZSTD_e_end ? ret == 0 : in.pos == in.size;
            if (done) {
                break;
            }
        }
        setp(in_.data(), in_.data() + in_.size());
    }

    std::ostream& out_;
    ZSTD_CCtx* cctx_;
    std::vector<char> in_;
    std::vector<char> outbuf_;
};

void write_format(std::ostream& out, const Trace& trace, Format format) {
    if (format == Format::Binary) {
        write_binary(out, trace);
    } else {
        write_text(out, trace);
    }
}
} // namespace

Trace load_trace(const std::string& path) {
    TraceReader r(path);
    return read_all(r);
}

Trace load_trace(std::istream& in, const std::string& name) {
    TraceReader r(in, name);
    return read_all(r);
}

void save_trace(std::ostream& out, const Trace& trace, Format format, bool zstd, const SaveOptions& options) {
    if (!zstd) {
        write_format(out, trace, format);
    } else {
        ZstdWriteBuf buf(out, options.zstd_level);
        std::ostream zs(&buf);
        write_format(zs, trace, format);
        zs.flush();
        buf.finish();
    }
    if (!out) {
        throw std::runtime_error("write error");
    }
}

void save_trace(const std::string& path, const Trace& trace, Format format, bool zstd, const SaveOptions& options) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) {
        throw std::runtime_error(fmt::format("{}: cannot open for writing: {}", path, std::strerror(errno)));
    }
    save_trace(out, trace, format, zstd, options);
    out.close();
    if (!out) {
        throw std::runtime_error(fmt::format("{}: write error", path));
    }
}

} // namespace odf::trace
