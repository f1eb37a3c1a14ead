// Building traces in code (include/odf/trace/builder.hpp).
#include "odf/trace/builder.hpp"

#include "odf/trace/format.hpp"

#include <utility>

namespace odf::trace {

Op& Builder::push(OpKind kind, std::uint32_t pid) {
    Op op;
    op.kind = kind;
    op.pid = pid;
    op.tid = tid_;
    append(op);
    return t_.ops.back();
}

void Builder::append(Op op) {
    op.line = next_line_++;
    t_.ops.push_back(op);
}

void Builder::mmap(std::uint32_t pid, std::uint64_t addr, std::uint64_t len, std::uint8_t prot, std::uint8_t flags) {
    Op& op = push(OpKind::Mmap, pid);
    op.addr = addr;
    op.len = len;
    op.prot = prot;
    op.flags = flags;
}

void Builder::range(OpKind kind, std::uint32_t pid, std::uint64_t addr, std::uint64_t len) {
    Op& op = push(kind, pid);
    op.addr = addr;
    op.len = len;
}

void Builder::populate(std::uint32_t pid, std::uint64_t addr, std::uint64_t len) {
    mmap(pid, addr, len, kProtRead | kProtWrite, kMapPrivate);
    write(pid, addr, len);
}

void Builder::mprotect(std::uint32_t pid, std::uint64_t addr, std::uint64_t len, std::uint8_t prot) {
    Op& op = push(OpKind::Mprotect, pid);
    op.addr = addr;
    op.len = len;
    op.prot = prot;
}

void Builder::mremap(std::uint32_t pid, std::uint64_t addr, std::uint64_t len, std::uint64_t new_addr,
                     std::uint64_t new_len) {
    Op& op = push(OpKind::Mremap, pid);
    op.addr = addr;
    op.len = len;
    op.addr2 = new_addr;
    op.len2 = new_len;
}

void Builder::getref(std::uint32_t pid, std::uint64_t addr, std::uint64_t len, bool pin) {
    Op& op = push(OpKind::Getref, pid);
    op.addr = addr;
    op.len = len;
    op.flags = pin ? kRefPin : kRefGet;
}

std::uint32_t Builder::intern(const std::string& label) {
    auto it = index_.find(label);
    if (it != index_.end()) {
        return it->second;
    }
    auto idx = static_cast<std::uint32_t>(t_.labels.size());
    t_.labels.push_back(label);
    index_.emplace(label, idx);
    return idx;
}

std::vector<Op> Builder::drain() {
    std::vector<Op> out;
    out.swap(t_.ops);
    return out;
}

Trace Builder::finish(const std::string& source) {
    t_.source = source;
    validate(t_);
    return std::move(t_);
}

} // namespace odf::trace
