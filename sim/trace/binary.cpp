// The binary form of odf-trace v1 and v2 (traces/FORMAT.md, "Binary form"): LEB128 varints, per-op tag byte, deltas.
#include "detail.hpp"
#include "odf/trace/format.hpp"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <ostream>

namespace odf::trace {

namespace {

constexpr std::uint8_t kTagKindMask = 0x0f;
constexpr std::uint8_t kTagPid = 0x10;      // pid differs from the previous op's: varint pid follows
constexpr std::uint8_t kTagLine = 0x20;     // line != previous line + 1: zigzag varint (line - prev - 1) follows
constexpr std::uint8_t kTagPages = 0x40;    // addresses and lengths are in 4 KiB pages
constexpr std::uint8_t kTagKindHigh = 0x80; // kind bit 4 (kinds 16 and up); 0 in files that use kinds 0-15 only
constexpr std::size_t kMaxOpBytes = 1 + 5 + 5 + 10 + 10 + 10 + 10 + 10 + 1;

std::uint64_t zigzag(std::int64_t v) {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t unzigzag(std::uint64_t v) {
    return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

void put_varint(std::string& s, std::uint64_t v) {
    while (v >= 0x80) {
        s.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    s.push_back(static_cast<char>(v));
}

bool has_addr(OpKind k) {
    return k <= OpKind::Write || (k >= OpKind::Getref && k <= OpKind::Putref);
}
bool has_len(OpKind k) {
    return has_addr(k) && k != OpKind::Brk;
}

} // namespace

void write_binary(std::ostream& out, const Trace& trace) {
    std::string s;
    s.reserve(1U << 20);
    s.append(reinterpret_cast<const char*>(kBinaryMagic), sizeof kBinaryMagic);
    const bool v2 = needs_v2(trace);
    put_varint(s, v2 ? kBinaryVersionV2 : kBinaryVersion);
    put_varint(s, 0); // flags
    put_varint(s, trace.ops.size());
    put_varint(s, trace.labels.size());
    for (const auto& l : trace.labels) {
        put_varint(s, l.size());
        s.append(l);
    }
    std::uint32_t prev_pid = 1;
    std::uint32_t prev_tid = 0;
    std::uint64_t prev_line = 1;
    std::uint64_t prev_addr = 0;
    for (const auto& op : trace.ops) {
        const auto kind = static_cast<std::uint8_t>(op.kind);
        auto tag = static_cast<std::uint8_t>((kind & kTagKindMask) | ((kind & 0x10) != 0 ? kTagKindHigh : 0));
        bool pages = ((op.addr | op.len | op.addr2 | op.len2) % kPageSize) == 0;
        if (op.pid != prev_pid || op.tid != prev_tid) {
            tag |= kTagPid;
        }
        if (op.line != prev_line + 1) {
            tag |= kTagLine;
        }
        if (pages) {
            tag |= kTagPages;
        }
        s.push_back(static_cast<char>(tag));
        if ((tag & kTagPid) != 0) {
            put_varint(s, op.pid);
            if (v2) {
                put_varint(s, op.tid);
            }
        }
        if ((tag & kTagLine) != 0) {
            put_varint(s, zigzag(static_cast<std::int64_t>(op.line) - static_cast<std::int64_t>(prev_line) - 1));
        }
        const unsigned shift = pages ? 12 : 0;
        if (has_addr(op.kind)) {
            // Pages: delta of page numbers (prev_addr may be unaligned); bytes: delta of addresses.
            auto d = pages ? static_cast<std::int64_t>((op.addr >> 12) - (prev_addr >> 12))
                           : static_cast<std::int64_t>(op.addr - prev_addr);
            put_varint(s, zigzag(d));
            prev_addr = op.addr;
        }
        if (has_len(op.kind)) {
            put_varint(s, op.len >> shift);
        }
        switch (op.kind) {
        case OpKind::Mmap:
            s.push_back(static_cast<char>(op.prot | (op.flags << 4)));
            break;
        case OpKind::Mprotect:
            s.push_back(static_cast<char>(op.prot));
            break;
        case OpKind::Getref:
            s.push_back(static_cast<char>(op.flags));
            break;
        case OpKind::Mremap: {
            auto d = pages ? static_cast<std::int64_t>((op.addr2 >> 12) - (op.addr >> 12))
                           : static_cast<std::int64_t>(op.addr2 - op.addr);
            put_varint(s, zigzag(d));
            put_varint(s, op.len2 >> shift);
            break;
        }
        case OpKind::Fork:
        case OpKind::Wait:
        case OpKind::Vfork:
        case OpKind::Spawn:
            put_varint(s, zigzag(static_cast<std::int64_t>(op.child) - static_cast<std::int64_t>(op.pid)));
            break;
        case OpKind::Mark:
        case OpKind::End:
            put_varint(s, op.label);
            break;
        case OpKind::Begin:
            put_varint(s, (static_cast<std::uint64_t>(op.label) << 1) | (op.flags & kBeginAt));
            if ((op.flags & kBeginAt) != 0) {
                put_varint(s, op.addr);
            }
            break;
        case OpKind::Clone:
        case OpKind::Cpu:
            put_varint(s, op.child);
            break;
        case OpKind::Run:
            put_varint(s, op.len);
            break;
        default:
            break;
        }
        prev_pid = op.pid;
        prev_tid = op.tid;
        prev_line = op.line;
        if (s.size() >= (1U << 20)) {
            out.write(s.data(), static_cast<std::streamsize>(s.size()));
            s.clear();
        }
    }
    out.write(s.data(), static_cast<std::streamsize>(s.size()));
}

namespace detail {
namespace {

class BinaryDecoder final : public Decoder {
  public:
    BinaryDecoder(std::unique_ptr<ByteSource> src, const std::string& name)
        : src_(std::move(src)), name_(name), validator_(name) {
        validator_.set_labels(&labels_);
        buf_.resize(kChunk + kMaxOpBytes);
        fill();
        std::uint8_t magic[sizeof kBinaryMagic];
        for (auto& b : magic) {
            b = byte();
        }
        if (std::memcmp(magic, kBinaryMagic, sizeof magic) != 0) {
            fail("not an odf-trace binary file (bad magic)");
        }
        std::uint64_t version = varint();
        if (version != kBinaryVersion && version != kBinaryVersionV2) {
            fail(fmt::format("unsupported binary version {}", version));
        }
        version_ = static_cast<std::uint32_t>(version);
        validator_.set_version(version_);
        kinds_ = version_ >= 2 ? static_cast<unsigned>(kOpKindCount) : static_cast<unsigned>(kFirstV2Kind);
        if (varint() != 0) {
            fail("unsupported binary flags");
        }
        remaining_ = varint();
        total_ = remaining_;
        std::uint64_t nlabels = varint();
        if (nlabels > (1U << 28)) {
            fail("bad label count");
        }
        // The counts are untrusted: reserve at most a little, the vectors grow as bytes really arrive.
        labels_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(nlabels, 1024)));
        for (std::uint64_t i = 0; i < nlabels; ++i) {
            std::uint64_t len = varint();
            if (len > (1U << 20)) {
                fail("bad label length");
            }
            std::string l;
            l.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(len, 256)));
            for (std::uint64_t k = 0; k < len; ++k) {
                l.push_back(static_cast<char>(byte()));
            }
            if (l.empty() || l.find_first_of(" \t\r\n\v\f#") != std::string::npos) {
                fail("bad label");
            }
            labels_.push_back(std::move(l));
        }
    }

    bool next(std::vector<Op>& out, std::size_t max_ops) override {
        if (remaining_ == 0) {
            if (pos_ < end_ || fill() > 0) {
                fail("trailing bytes after the last op");
            }
            return false;
        }
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, max_ops));
        std::size_t base = out.size();
        out.resize(base + n);
        Op* ops = out.data() + base;
        for (std::size_t i = 0; i < n; ++i) {
            if (end_ - pos_ < kMaxOpBytes && !eof_) {
                fill();
            }
            decode(ops[i]);
            validator_.check(ops[i], labels_.size());
        }
        remaining_ -= n;
        return true;
    }

    [[nodiscard]] const std::vector<std::string>& labels() const override { return labels_; }
    [[nodiscard]] std::uint64_t op_count_hint() const override { return total_; }
    [[nodiscard]] std::uint32_t version() const override { return version_; }
    [[nodiscard]] const Validator& validator() const override { return validator_; }

  private:
    static constexpr std::size_t kChunk = 1U << 20;

    [[noreturn]] void fail(const std::string& reason) const {
        throw TraceError(name_, 0, fmt::format("byte {}: {}", consumed_ + pos_, reason));
    }

    // Moves the unread bytes to the front and reads more; returns the number of bytes read.
    std::size_t fill() {
        std::size_t left = end_ - pos_;
        std::memmove(buf_.data(), buf_.data() + pos_, left);
        consumed_ += pos_;
        pos_ = 0;
        end_ = left;
        std::size_t total = 0;
        while (end_ < kChunk && !eof_) {
            std::size_t got = src_->read(reinterpret_cast<char*>(buf_.data()) + end_, buf_.size() - end_);
            if (got == 0) {
                eof_ = true;
            }
            end_ += got;
            total += got;
        }
        return total;
    }

    std::uint8_t byte() {
        if (pos_ == end_ && (eof_ || fill() == 0)) {
            fail("truncated file");
        }
        return buf_[pos_++];
    }

    std::uint64_t varint() {
        std::uint64_t v = 0;
        for (unsigned shift = 0; shift < 64; shift += 7) {
            std::uint8_t b = byte();
            v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                return v;
            }
        }
        fail("bad varint");
    }

    void decode(Op& op) {
        std::uint8_t tag = byte();
        const unsigned kind = (tag & kTagKindMask) | ((tag & kTagKindHigh) != 0 ? 0x10U : 0U);
        if (kind >= kinds_) {
            fail(fmt::format("bad op tag {:#x}", tag));
        }
        op = Op{};
        op.kind = static_cast<OpKind>(kind);
        if ((tag & kTagPid) != 0) {
            std::uint64_t p = varint();
            if (p > 0xffffffffULL) {
                fail("bad pid");
            }
            pid_ = static_cast<std::uint32_t>(p);
            if (version_ >= 2) {
                std::uint64_t t = varint();
                if (t > 0xffffffffULL) {
                    fail("bad tid");
                }
                tid_ = static_cast<std::uint32_t>(t);
            }
        }
        op.pid = pid_;
        op.tid = tid_;
        std::uint64_t line = line_ + 1;
        if ((tag & kTagLine) != 0) {
            line += static_cast<std::uint64_t>(unzigzag(varint()));
        }
        if (line > 0xffffffffULL) {
            fail("bad line number");
        }
        op.line = static_cast<std::uint32_t>(line);
        line_ = line;
        const bool pages = (tag & kTagPages) != 0;
        const unsigned shift = pages ? 12 : 0;
        if (has_addr(op.kind)) {
            auto d = static_cast<std::uint64_t>(unzigzag(varint()));
            addr_ = pages ? ((addr_ >> 12) + d) << 12 : addr_ + d;
            op.addr = addr_;
        }
        if (has_len(op.kind)) {
            op.len = varint() << shift;
        }
        switch (op.kind) {
        case OpKind::Mmap: {
            std::uint8_t b = byte();
            op.prot = b & 0x0f;
            op.flags = static_cast<std::uint8_t>(b >> 4);
            break;
        }
        case OpKind::Mprotect:
            op.prot = byte();
            break;
        case OpKind::Getref:
            op.flags = byte();
            break;
        case OpKind::Mremap:
            op.addr2 = pages ? ((op.addr >> 12) + static_cast<std::uint64_t>(unzigzag(varint()))) << 12
                             : op.addr + static_cast<std::uint64_t>(unzigzag(varint()));
            op.len2 = varint() << shift;
            break;
        case OpKind::Fork:
        case OpKind::Wait:
        case OpKind::Vfork:
        case OpKind::Spawn: {
            std::int64_t c = static_cast<std::int64_t>(op.pid) + unzigzag(varint());
            if (c < 0 || c > 0xffffffffLL) {
                fail("bad child pid");
            }
            op.child = static_cast<std::uint32_t>(c);
            break;
        }
        case OpKind::Mark:
        case OpKind::End: {
            std::uint64_t l = varint();
            if (l > 0xffffffffULL) {
                fail("bad label index");
            }
            op.label = static_cast<std::uint32_t>(l);
            break;
        }
        case OpKind::Begin: {
            std::uint64_t l = varint();
            if ((l >> 1) > 0xffffffffULL) {
                fail("bad label index");
            }
            op.label = static_cast<std::uint32_t>(l >> 1);
            if ((l & 1) != 0) {
                op.flags = kBeginAt;
                op.addr = varint();
            }
            break;
        }
        case OpKind::Clone:
        case OpKind::Cpu: {
            std::uint64_t c = varint();
            if (c > 0xffffffffULL) {
                fail(op.kind == OpKind::Clone ? "bad tid" : "bad cpu");
            }
            op.child = static_cast<std::uint32_t>(c);
            break;
        }
        case OpKind::Run:
            op.len = varint();
            break;
        default:
            break;
        }
    }

    std::unique_ptr<ByteSource> src_;
    std::string name_;
    Validator validator_;
    std::vector<std::uint8_t> buf_;
    std::size_t pos_ = 0;
    std::size_t end_ = 0;
    std::uint64_t consumed_ = 0;
    bool eof_ = false;
    std::uint64_t remaining_ = 0;
    std::uint64_t total_ = 0;
    std::vector<std::string> labels_;
    std::uint32_t version_ = 1;
    unsigned kinds_ = static_cast<unsigned>(kFirstV2Kind); // kinds this version has
    std::uint32_t pid_ = 1;
    std::uint32_t tid_ = 0;
    std::uint64_t line_ = 1;
    std::uint64_t addr_ = 0;
};

} // namespace

std::unique_ptr<Decoder> make_binary_decoder(std::unique_ptr<ByteSource> src, const std::string& name) {
    return std::make_unique<BinaryDecoder>(std::move(src), name);
}

} // namespace detail

namespace {
Trace decode_all_binary(std::unique_ptr<detail::ByteSource> src, const std::string& name) {
    auto dec = detail::make_binary_decoder(std::move(src), name);
    Trace t;
    t.source = name;
    // Reserve for the announced op count once a first batch decoded (a corrupt short file fails before that), at
    // most 2^20 ops (56 MiB): the count is untrusted, a longer trace grows the vector as its ops really arrive.
    bool more = dec->next(t.ops, 1U << 16);
    t.ops.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(dec->op_count_hint(), 1ULL << 20)));
    while (more) {
        more = dec->next(t.ops, 1U << 16);
    }
    t.labels = dec->labels();
    t.version = dec->version();
    return t;
}
} // namespace

Trace read_binary(std::istream& in, const std::string& name) {
    return decode_all_binary(std::make_unique<detail::IstreamSource>(in), name);
}

Trace read_binary_bytes(std::span<const std::byte> bytes, const std::string& name) {
    return decode_all_binary(std::make_unique<detail::MemorySource>(
                                 std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size())),
                             name);
}

} // namespace odf::trace
