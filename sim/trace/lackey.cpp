// Import of valgrind lackey memory traces.
#include "odf/trace/lackey.hpp"

#include "detail.hpp"
#include "odf/trace/format.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <istream>

namespace odf::trace {

Trace import_lackey(std::istream& in, const std::string& name, const LackeyOptions& options) {
    std::vector<Op> accesses;
    std::vector<std::uint64_t> pages;
    std::uint64_t last_page = ~0ULL;
    OpKind last_kind = OpKind::Mark;
    std::string line;
    std::uint32_t lineno = 0;
    auto emit = [&](OpKind kind, std::uint64_t page, std::uint32_t ln) {
        if (page == last_page && kind == last_kind) {
            return;
        }
        last_page = page;
        last_kind = kind;
        Op op;
        op.kind = kind;
        op.pid = 1;
        op.addr = page;
        op.len = kPageSize;
        op.line = ln; // the log line, renumbered below
        accesses.push_back(op);
        pages.push_back(page);
    };
    while (std::getline(in, line)) {
        ++lineno;
        std::string_view s(line);
        while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
            s.remove_suffix(1);
        }
        std::size_t i = s.find_first_not_of(" \t");
        if (i == std::string_view::npos || s.starts_with("==") || s.starts_with("--")) {
            continue;
        }
        char kind = s[i];
        std::string_view rest = s.substr(i + 1);
        std::size_t j = rest.find_first_not_of(" \t");
        std::size_t comma = rest.find(',');
        std::uint64_t addr = 0;
        std::uint64_t size = 0;
        bool ok = (kind == 'I' || kind == 'L' || kind == 'S' || kind == 'M') && j != std::string_view::npos && j > 0 &&
                  comma != std::string_view::npos && comma > j;
        if (ok) {
            std::string hex = "0x" + std::string(rest.substr(j, comma - j));
            ok = detail::parse_u64(hex, addr) && detail::parse_u64(rest.substr(comma + 1), size) && size > 0 &&
                 size <= kPageSize;
        }
        if (!ok) {
            if (options.lenient) {
                continue;
            }
            throw TraceError(name, lineno, fmt::format("not a lackey record: '{}'", s));
        }
        if (addr >= kUserSpaceEnd || size > kUserSpaceEnd - addr) {
            throw TraceError(name, lineno, fmt::format("address {:#x} beyond user space", addr));
        }
        if (kind == 'I' && !options.instructions_as_reads) {
            continue;
        }
        std::uint64_t first = addr & ~(kPageSize - 1);
        std::uint64_t last = (addr + size - 1) & ~(kPageSize - 1);
        for (std::uint64_t p = first; p <= last; p += kPageSize) {
            if (kind == 'S') {
                emit(OpKind::Write, p, lineno);
            } else {
                emit(OpKind::Read, p, lineno);
                if (kind == 'M') {
                    emit(OpKind::Write, p, lineno);
                }
            }
        }
    }
    std::sort(pages.begin(), pages.end());
    pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
    Trace t;
    t.source = name;
    for (std::size_t k = 0; k < pages.size();) {
        std::size_t e = k + 1;
        while (e < pages.size() && pages[e] == pages[e - 1] + kPageSize) {
            ++e;
        }
        Op op;
        op.kind = OpKind::Mmap;
        op.pid = 1;
        op.addr = pages[k];
        op.len = (e - k) * kPageSize;
        op.prot = kProtRead | kProtWrite;
        op.flags = kMapPrivate;
        t.ops.push_back(op);
        k = e;
    }
    t.ops.insert(t.ops.end(), accesses.begin(), accesses.end());
    for (std::size_t k = 0; k < t.ops.size(); ++k) {
        t.ops[k].line = static_cast<std::uint32_t>(k + 2);
    }
    validate(t);
    return t;
}

} // namespace odf::trace
