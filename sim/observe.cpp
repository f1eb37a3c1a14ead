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

void JsonlObserver::addr_record(const char* kind, const trace::Op& op, std::uint64_t addr) {
    fmt::print(f_, "{{\"k\":\"{}\",\"line\":{},\"pid\":{},\"addr\":{}}}\n", kind, op.line, op.pid, addr);
}

void JsonlObserver::hash_record(const char* kind, const trace::Op& op, std::uint64_t hash, std::uint64_t pages) {
    fmt::print(f_, "{{\"k\":\"{}\",\"line\":{},\"pid\":{},\"hash\":{},\"pages\":{}}}\n", kind, op.line, op.pid, hash,
               pages);
}

void JsonlObserver::on_op(const trace::Op& op, std::uint64_t minflt) {
    fmt::print(f_, "{{\"k\":\"op\",\"line\":{},\"pid\":{},\"minflt\":{}}}\n", op.line, op.pid, minflt);
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
    fmt::print(f_, "{{\"k\":\"exit\",\"line\":{},\"pid\":{},\"vmpte_kb\":{},\"rss_anon_kb\":{}}}\n", op.line, op.pid,
               mm.pgtables_bytes / 1024, mm.rss_anon * 4);
}

} // namespace odf
