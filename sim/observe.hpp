// The JSON Lines observation log of docs/DIFFTEST.md.
#pragma once

#include "odf/simulator.hpp"

#include <cstdio>
#include <string>

namespace odf {

class JsonlObserver final : public Observer {
  public:
    JsonlObserver(const std::string& path, const trace::Trace& t);
    ~JsonlObserver() override;
    JsonlObserver(const JsonlObserver&) = delete;
    JsonlObserver& operator=(const JsonlObserver&) = delete;

    void on_op(const trace::Op& op, std::uint64_t minflt) override;
    void on_read(const trace::Op& op, std::uint64_t hash, std::uint64_t pages) override;
    void on_segv(const trace::Op& op, std::uint64_t addr) override;
    void on_sigbus(const trace::Op& op, std::uint64_t addr) override;
    void on_pinfail(const trace::Op& op, std::uint64_t addr) override;
    void on_reffail(const trace::Op& op, std::uint64_t addr) override;
    void on_readref(const trace::Op& op, std::uint64_t hash, std::uint64_t pages) override;
    void on_noref(const trace::Op& op, std::uint64_t addr) override;
    void on_mark(const trace::Op& op, std::uint32_t pid, const Mm& mm) override;
    void on_exit(const trace::Op& op, const Mm& mm) override;

  private:
    void addr_record(const char* kind, const trace::Op& op, std::uint64_t addr);
    void hash_record(const char* kind, const trace::Op& op, std::uint64_t hash, std::uint64_t pages);

    std::FILE* f_;
    const trace::Trace& t_;
};

} // namespace odf
