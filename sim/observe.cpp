#include "observe.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace odf {

JsonlObserver::JsonlObserver(const std::string& path, const trace::Trace& t)
    : f_(std::fopen(path.c_str(), "w")), t_(t) {
    if (f_ == nullptr) {
        throw std::runtime_error(path + ": cannot write the observation log");
    }
}

JsonlObserver::~JsonlObserver() {
    std::fclose(f_);
}

namespace {
// `"pid":P`, and `,"tid":T` for an op of a thread other than the main thread (odf-trace v2).
std::string who(const trace::Op& op) {
    return op.tid == 0 ? fmt::format(R"("pid":{})", op.pid) : fmt::format(R"("pid":{},"tid":{})", op.pid, op.tid);
}
} // namespace

void JsonlObserver::addr_record(const char* kind, const trace::Op& op, std::uint64_t addr) {
    fmt::print(f_, "{{\"k\":\"{}\",\"line\":{},{},\"addr\":{}}}\n", kind, op.line, who(op), addr);
}

void JsonlObserver::hash_record(const char* kind, const trace::Op& op, std::uint64_t hash, std::uint64_t pages) {
    fmt::print(f_, "{{\"k\":\"{}\",\"line\":{},{},\"hash\":{},\"pages\":{}}}\n", kind, op.line, who(op), hash, pages);
}

void JsonlObserver::on_op(const trace::Op& op, std::uint64_t minflt) {
    fmt::print(f_, "{{\"k\":\"op\",\"line\":{},{},\"minflt\":{}}}\n", op.line, who(op), minflt);
}

void JsonlObserver::on_read(const trace::Op& op, std::uint64_t hash, std::uint64_t pages) {
    hash_record("read", op, hash, pages);
}

void JsonlObserver::on_segv(const trace::Op& op, std::uint64_t addr) {
    addr_record("segv", op, addr);
}

void JsonlObserver::on_sigbus(const trace::Op& op, std::uint64_t addr) {
    addr_record("sigbus", op, addr);
}

void JsonlObserver::on_pinfail(const trace::Op& op, std::uint64_t addr) {
    addr_record("pinfail", op, addr);
}

void JsonlObserver::on_reffail(const trace::Op& op, std::uint64_t addr) {
    addr_record("reffail", op, addr);
}

void JsonlObserver::on_readref(const trace::Op& op, std::uint64_t hash, std::uint64_t pages) {
    hash_record("readref", op, hash, pages);
}

void JsonlObserver::on_noref(const trace::Op& op, std::uint64_t addr) {
    addr_record("noref", op, addr);
}

void JsonlObserver::on_mark(const trace::Op& op, std::uint32_t pid, const Mm& mm) {
    const std::string label = op.label < t_.labels.size() ? t_.labels[op.label] : std::string();
    fmt::print(f_, "{{\"k\":\"mark\",\"line\":{},\"pid\":{},\"label\":{},\"vmpte_kb\":{},\"rss_anon_kb\":{}}}\n",
               op.line, pid, nlohmann::json(label).dump(), mm.pgtables_bytes / 1024, mm.rss_anon * 4);
}

void JsonlObserver::on_exit(const trace::Op& op, const Mm& mm) {
    fmt::print(f_, "{{\"k\":\"exit\",\"line\":{},{},\"vmpte_kb\":{},\"rss_anon_kb\":{}}}\n", op.line, who(op),
               mm.pgtables_bytes / 1024, mm.rss_anon * 4);
}

} // namespace odf
