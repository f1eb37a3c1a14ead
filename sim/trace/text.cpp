// The text form of odf-trace v1 and v2: streaming parser and canonical writer.
#include "detail.hpp"
#include "odf/trace/format.hpp"

#include <algorithm>
#include <array>
#include <fmt/format.h>
#include <limits>
#include <ostream>
#include <sstream>
#include <unordered_map>

namespace odf::trace {

namespace detail {

bool parse_u64(std::string_view s, std::uint64_t& out) {
    std::uint64_t v = 0;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s.remove_prefix(2);
        if (s.size() > 16) {
            // Allow leading zeros only.
            std::size_t nz = s.find_first_not_of('0');
            if (nz == std::string_view::npos) {
                out = 0;
                return true;
            }
            if (s.size() - nz > 16) {
                return false;
            }
        }
        for (char c : s) {
            unsigned d = 0;
            if (c >= '0' && c <= '9') {
                d = static_cast<unsigned>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                d = static_cast<unsigned>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                d = static_cast<unsigned>(c - 'A' + 10);
            } else {
                return false;
            }
            v = (v << 4) | d;
        }
        out = v;
        return true;
    }
    if (s.empty()) {
        return false;
    }
    for (char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
        auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    out = v;
    return true;
}

std::size_t IstreamSource::read(char* buf, std::size_t n) {
    if (!in_) {
        return 0;
    }
    in_.read(buf, static_cast<std::streamsize>(n));
    return static_cast<std::size_t>(in_.gcount());
}

std::size_t MemorySource::read(char* buf, std::size_t n) {
    std::size_t k = std::min(n, data_.size());
    std::copy_n(data_.data(), k, buf);
    data_.remove_prefix(k);
    return k;
}

std::size_t PrefixedSource::read(char* buf, std::size_t n) {
    if (pos_ < prefix_.size()) {
        std::size_t k = std::min(n, prefix_.size() - pos_);
        std::copy_n(prefix_.data() + pos_, k, buf);
        pos_ += k;
        return k;
    }
    return inner_->read(buf, n);
}

std::string read_prefix(ByteSource& src, std::size_t n) {
    std::string s(n, '\0');
    std::size_t got = 0;
    while (got < n) {
        std::size_t k = src.read(s.data() + got, n - got);
        if (k == 0) {
            break;
        }
        got += k;
    }
    s.resize(got);
    return s;
}

namespace {

struct OpSyntax {
    std::string_view name;
    OpKind kind;
    int min_args;
    int max_args;
};

constexpr std::array<OpSyntax, kOpKindCount> kSyntax = {{
    {"mmap", OpKind::Mmap, 4, 4},       {"munmap", OpKind::Munmap, 2, 2}, {"mprotect", OpKind::Mprotect, 3, 3},
    {"madvise", OpKind::Madvise, 3, 3}, {"mremap", OpKind::Mremap, 4, 4}, {"brk", OpKind::Brk, 1, 1},
    {"pin", OpKind::Pin, 2, 2},         {"unpin", OpKind::Unpin, 2, 2},   {"r", OpKind::Read, 1, 2},
    {"w", OpKind::Write, 1, 2},         {"fork", OpKind::Fork, 1, 1},     {"exec", OpKind::Exec, 0, 0},
    {"exit", OpKind::Exit, 0, 0},       {"mark", OpKind::Mark, 1, 1},     {"getref", OpKind::Getref, 3, 3},
    {"readref", OpKind::Readref, 2, 2}, {"putref", OpKind::Putref, 2, 2}, {"clone", OpKind::Clone, 1, 1},
    {"texit", OpKind::Texit, 0, 0},     {"cpu", OpKind::Cpu, 1, 1},       {"run", OpKind::Run, 1, 1},
    {"wait", OpKind::Wait, 1, 1},       {"vfork", OpKind::Vfork, 1, 1},   {"spawn", OpKind::Spawn, 1, 1},
    {"begin", OpKind::Begin, 1, 2},     {"end", OpKind::End, 1, 1},
}};

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

class TextDecoder final : public Decoder {
  public:
    TextDecoder(std::unique_ptr<ByteSource> src, const std::string& name)
        : src_(std::move(src)), name_(name), validator_(name, 1) {
        buf_.reserve(kChunk * 2);
        validator_.set_labels(&labels_);
    }

    bool next(std::vector<Op>& out, std::size_t max_ops) override {
        const std::size_t base = out.size();
        std::string_view line;
        while (out.size() - base < max_ops && next_line(line)) {
            ++lineno_;
            if (lineno_ == 1) {
                check_header(line);
                continue;
            }
            Op op;
            if (parse_line(line, op)) {
                validator_.check(op, labels_.size());
                out.push_back(op);
            }
        }
        if (out.size() == base && lineno_ == 0) {
            throw TraceError(name_, 1, fmt::format("missing header '{}' (empty file)", kTextHeader));
        }
        return out.size() != base;
    }

    [[nodiscard]] const std::vector<std::string>& labels() const override { return labels_; }
    [[nodiscard]] std::uint32_t version() const override { return version_; }
    [[nodiscard]] const Validator& validator() const override { return validator_; }

  private:
    static constexpr std::size_t kChunk = 1U << 16;

    [[noreturn]] void fail(const std::string& reason) const { throw TraceError(name_, lineno_, reason); }

    bool next_line(std::string_view& line) {
        for (;;) {
            auto nl = buf_.find('\n', pos_);
            if (nl != std::string::npos) {
                line = std::string_view(buf_).substr(pos_, nl - pos_);
                pos_ = nl + 1;
                return true;
            }
            if (eof_) {
                if (pos_ < buf_.size()) {
                    line = std::string_view(buf_).substr(pos_);
                    pos_ = buf_.size();
                    return true;
                }
                return false;
            }
            buf_.erase(0, pos_);
            pos_ = 0;
            std::size_t old = buf_.size();
            buf_.resize(old + kChunk);
            std::size_t got = src_->read(buf_.data() + old, kChunk);
            buf_.resize(old + got);
            if (got == 0) {
                eof_ = true;
            }
        }
    }

    void check_header(std::string_view line) {
        while (!line.empty() && is_space(line.back())) {
            line.remove_suffix(1);
        }
        if (line == kTextHeader) {
            version_ = 1;
            validator_.set_version(1);
            return;
        }
        if (line == kTextHeaderV2) {
            version_ = 2;
            validator_.set_version(2);
            return;
        }
        if (line.starts_with("# odf-trace ")) {
            fail(fmt::format("unsupported header '{}' (expected '{}' or '{}')", line, kTextHeader, kTextHeaderV2));
        }
        fail(fmt::format("missing header '{}'", kTextHeader));
    }

    std::uint64_t number(std::string_view tok) const {
        std::uint64_t v = 0;
        if (!parse_u64(tok, v)) {
            fail(fmt::format("bad number '{}'", tok));
        }
        return v;
    }

    std::uint32_t pid_number(std::string_view tok, const char* what) const {
        std::uint64_t v = number(tok);
        if (v == 0 || v > std::numeric_limits<std::uint32_t>::max()) {
            fail(fmt::format("bad {} '{}' (1 to 4294967295)", what, tok));
        }
        return static_cast<std::uint32_t>(v);
    }

    std::uint8_t prot(std::string_view tok) const {
        if (tok == "none") {
            return 0;
        }
        std::uint8_t p = 0;
        for (char c : tok) {
            std::uint8_t bit = c == 'r' ? kProtRead : c == 'w' ? kProtWrite : c == 'x' ? kProtExec : 0;
            if (bit == 0 || (p & bit) != 0) {
                fail(fmt::format("bad prot '{}' (letters from r, w, x, each once, or 'none')", tok));
            }
            p = static_cast<std::uint8_t>(p | bit);
        }
        if (p == 0) {
            fail(fmt::format("bad prot '{}'", tok));
        }
        return p;
    }

    std::uint32_t intern(std::string_view label) {
        auto it = label_index_.find(std::string(label));
        if (it != label_index_.end()) {
            return it->second;
        }
        auto idx = static_cast<std::uint32_t>(labels_.size());
        labels_.emplace_back(label);
        label_index_.emplace(std::string(label), idx);
        return idx;
    }

    // Returns false for blank and comment lines.
    bool parse_line(std::string_view line, Op& op) {
        auto hash = line.find('#');
        if (hash != std::string_view::npos) {
            line = line.substr(0, hash);
        }
        std::array<std::string_view, 8> tok;
        std::size_t n = 0;
        std::size_t i = 0;
        while (i < line.size()) {
            while (i < line.size() && is_space(line[i])) {
                ++i;
            }
            if (i >= line.size()) {
                break;
            }
            std::size_t j = i;
            while (j < line.size() && !is_space(line[j])) {
                ++j;
            }
            if (n == tok.size()) {
                fail("too many fields");
            }
            tok[n++] = line.substr(i, j - i);
            i = j;
        }
        if (n == 0) {
            return false;
        }
        op.line = lineno_;
        if (auto dot = tok[0].find('.'); dot != std::string_view::npos) {
            // PID.TID (odf-trace v2)
            op.pid = pid_number(tok[0].substr(0, dot), "pid");
            op.tid = pid_number(tok[0].substr(dot + 1), "tid");
        } else {
            op.pid = pid_number(tok[0], "pid");
        }
        if (n < 2) {
            fail("missing op after the pid");
        }
        const OpSyntax* syn = nullptr;
        for (const auto& s : kSyntax) {
            if (s.name == tok[1]) {
                syn = &s;
                break;
            }
        }
        if (syn == nullptr) {
            fail(fmt::format("unknown op '{}'", tok[1]));
        }
        int nargs = static_cast<int>(n) - 2;
        if (nargs < syn->min_args || nargs > syn->max_args) {
            if (syn->min_args == syn->max_args) {
                fail(fmt::format("wrong number of arguments for {}: expected {}, got {}", syn->name, syn->min_args,
                                 nargs));
            }
            fail(fmt::format("wrong number of arguments for {}: expected {} or {}, got {}", syn->name, syn->min_args,
                             syn->max_args, nargs));
        }
        op.kind = syn->kind;
        const std::string_view* a = tok.data() + 2;
        switch (op.kind) {
        case OpKind::Mmap:
            op.addr = number(a[0]);
            op.len = number(a[1]);
            op.prot = prot(a[2]);
            if (a[3] == "private") {
                op.flags = kMapPrivate;
            } else if (a[3] == "shared") {
                op.flags = kMapShared;
            } else {
                fail(fmt::format("bad flags '{}' (private or shared)", a[3]));
            }
            break;
        case OpKind::Munmap:
        case OpKind::Pin:
        case OpKind::Unpin:
        case OpKind::Readref:
        case OpKind::Putref:
            op.addr = number(a[0]);
            op.len = number(a[1]);
            break;
        case OpKind::Getref:
            op.addr = number(a[0]);
            op.len = number(a[1]);
            if (a[2] == "get") {
                op.flags = kRefGet;
            } else if (a[2] == "pin") {
                op.flags = kRefPin;
            } else {
                fail(fmt::format("bad getref kind '{}' (get or pin)", a[2]));
            }
            break;
        case OpKind::Mprotect:
            op.addr = number(a[0]);
            op.len = number(a[1]);
            op.prot = prot(a[2]);
            break;
        case OpKind::Madvise:
            op.addr = number(a[0]);
            op.len = number(a[1]);
            if (a[2] != "dontneed") {
                fail(fmt::format("bad advice '{}' (only dontneed)", a[2]));
            }
            break;
        case OpKind::Mremap:
            op.addr = number(a[0]);
            op.len = number(a[1]);
            op.addr2 = number(a[2]);
            op.len2 = number(a[3]);
            break;
        case OpKind::Brk:
            op.addr = number(a[0]);
            break;
        case OpKind::Read:
        case OpKind::Write:
            op.addr = number(a[0]);
            op.len = nargs == 2 ? number(a[1]) : default_access_len(op.addr);
            break;
        case OpKind::Fork:
            op.child = pid_number(a[0], "child pid");
            break;
        case OpKind::Exec:
        case OpKind::Exit:
            break;
        case OpKind::Mark:
        case OpKind::End:
            op.label = intern(a[0]);
            break;
        case OpKind::Begin:
            op.label = intern(a[0]);
            if (nargs == 2) {
                op.addr = number(a[1]);
                op.flags = kBeginAt;
            }
            break;
        case OpKind::Clone:
            op.child = pid_number(a[0], "tid");
            break;
        case OpKind::Cpu: {
            std::uint64_t c = number(a[0]);
            if (c > kMaxCpu) {
                fail(fmt::format("bad cpu '{}' (0 to {})", a[0], kMaxCpu));
            }
            op.child = static_cast<std::uint32_t>(c);
            break;
        }
        case OpKind::Run:
            op.len = number(a[0]);
            break;
        case OpKind::Wait:
        case OpKind::Vfork:
        case OpKind::Spawn:
            op.child = pid_number(a[0], "child pid");
            break;
        case OpKind::Texit:
            break;
        }
        return true;
    }

    std::unique_ptr<ByteSource> src_;
    std::string name_;
    Validator validator_;
    std::string buf_;
    std::size_t pos_ = 0;
    bool eof_ = false;
    std::uint32_t lineno_ = 0;
    std::uint32_t version_ = 1;
    std::vector<std::string> labels_;
    std::unordered_map<std::string, std::uint32_t> label_index_;
};

} // namespace

std::unique_ptr<Decoder> make_text_decoder(std::unique_ptr<ByteSource> src, const std::string& name) {
    return std::make_unique<TextDecoder>(std::move(src), name);
}

} // namespace detail

namespace {

Trace decode_all(detail::Decoder& dec, const std::string& name) {
    Trace t;
    t.source = name;
    while (dec.next(t.ops, 1U << 16)) {
    }
    t.labels = dec.labels();
    t.version = dec.version();
    return t;
}

} // namespace

Trace parse_text(std::istream& in, const std::string& name) {
    auto dec = detail::make_text_decoder(std::make_unique<detail::IstreamSource>(in), name);
    return decode_all(*dec, name);
}

Trace parse_text_string(std::string_view text, const std::string& name) {
    auto dec = detail::make_text_decoder(std::make_unique<detail::MemorySource>(text), name);
    return decode_all(*dec, name);
}

namespace {

const std::string& checked_label(const Trace& trace, const Op& op) {
    if (op.label >= trace.labels.size()) {
        throw TraceError(trace.source, op.line, fmt::format("bad label index {}", op.label));
    }
    const auto& l = trace.labels[op.label];
    if (l.empty() || l.find_first_of(" \t\r\n\v\f#") != std::string::npos) {
        throw TraceError(trace.source, op.line, fmt::format("label '{}' cannot be written as text", l));
    }
    return l;
}

void append_op(std::string& s, const Trace& trace, const Op& op) {
    auto out = std::back_inserter(s);
    auto name = op_name(op.kind);
    if (op.tid == 0) {
        fmt::format_to(out, "{} ", op.pid);
    } else {
        fmt::format_to(out, "{}.{} ", op.pid, op.tid);
    }
    switch (op.kind) {
    case OpKind::Mmap:
        fmt::format_to(out, "{} {:#x} {:#x} {} {}\n", name, op.addr, op.len, prot_string(op.prot),
                       op.flags == kMapShared ? "shared" : "private");
        break;
    case OpKind::Munmap:
    case OpKind::Pin:
    case OpKind::Unpin:
    case OpKind::Readref:
    case OpKind::Putref:
        fmt::format_to(out, "{} {:#x} {:#x}\n", name, op.addr, op.len);
        break;
    case OpKind::Getref:
        fmt::format_to(out, "{} {:#x} {:#x} {}\n", name, op.addr, op.len, op.flags == kRefPin ? "pin" : "get");
        break;
    case OpKind::Mprotect:
        fmt::format_to(out, "{} {:#x} {:#x} {}\n", name, op.addr, op.len, prot_string(op.prot));
        break;
    case OpKind::Madvise:
        fmt::format_to(out, "{} {:#x} {:#x} dontneed\n", name, op.addr, op.len);
        break;
    case OpKind::Mremap:
        fmt::format_to(out, "{} {:#x} {:#x} {:#x} {:#x}\n", name, op.addr, op.len, op.addr2, op.len2);
        break;
    case OpKind::Brk:
        fmt::format_to(out, "{} {:#x}\n", name, op.addr);
        break;
    case OpKind::Read:
    case OpKind::Write:
        if (op.len == default_access_len(op.addr)) {
            fmt::format_to(out, "{} {:#x}\n", name, op.addr);
        } else {
            fmt::format_to(out, "{} {:#x} {:#x}\n", name, op.addr, op.len);
        }
        break;
    case OpKind::Fork:
        fmt::format_to(out, "{} {}\n", name, op.child);
        break;
    case OpKind::Exec:
    case OpKind::Exit:
        fmt::format_to(out, "{}\n", name);
        break;
    case OpKind::Mark:
    case OpKind::End:
        fmt::format_to(out, "{} {}\n", name, checked_label(trace, op));
        break;
    case OpKind::Begin:
        if ((op.flags & kBeginAt) != 0) {
            fmt::format_to(out, "{} {} {}\n", name, checked_label(trace, op), op.addr);
        } else {
            fmt::format_to(out, "{} {}\n", name, checked_label(trace, op));
        }
        break;
    case OpKind::Clone:
    case OpKind::Cpu:
    case OpKind::Wait:
    case OpKind::Vfork:
    case OpKind::Spawn:
        fmt::format_to(out, "{} {}\n", name, op.child);
        break;
    case OpKind::Run:
        fmt::format_to(out, "{} {}\n", name, op.len);
        break;
    case OpKind::Texit:
        fmt::format_to(out, "{}\n", name);
        break;
    }
}

} // namespace

void write_text(std::ostream& out, const Trace& trace, const TextWriteOptions& options) {
    std::string s;
    s.reserve(1U << 20);
    s.append(needs_v2(trace) ? kTextHeaderV2 : kTextHeader);
    s.push_back('\n');
    std::uint64_t cur = 2; // line number of the next line written
    for (const auto& op : trace.ops) {
        if (options.keep_lines && op.line > cur && op.line - cur <= options.max_gap) {
            s.append(op.line - cur, '\n');
            cur = op.line;
        }
        append_op(s, trace, op);
        ++cur;
        if (s.size() >= (1U << 20)) {
            out.write(s.data(), static_cast<std::streamsize>(s.size()));
            s.clear();
        }
    }
    out.write(s.data(), static_cast<std::streamsize>(s.size()));
}

std::string write_text_string(const Trace& trace, const TextWriteOptions& options) {
    std::ostringstream os;
    write_text(os, trace, options);
    return std::move(os).str();
}

bool parse_number(std::string_view s, std::uint64_t& out) {
    return detail::parse_u64(s, out);
}

} // namespace odf::trace
