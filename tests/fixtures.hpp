// Shared fixtures for the model's tests: run a small text trace in one mode with the oracle and the invariant
// checker on, and look at the kernel state afterwards.
#pragma once

#include "odf/checker.hpp"
#include "odf/simulator.hpp"
#include "odf/trace/format.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <string>

namespace odf::test {

inline constexpr std::uint64_t kBase = 0x40000000; // 1 GiB: 2 MiB and 1 GiB aligned

inline trace::Trace parse(const std::string& body, int version = 1) {
    return trace::parse_text_string(fmt::format("# odf-trace v{}\n", version) + body, "test");
}

// A checked simulator that runs text traces op by op, keeping each trace alive for messages.
struct Run {
    explicit Run(ForkMode mode, std::uint64_t phys_mib = 1024) : sim(config(mode, phys_mib)) {}
    // An odf-trace v2 run (threads, CPUs, time) with the given configuration.
    Run(const SimConfig& cfg, int version_) : sim(cfg), version(version_) {}

    static SimConfig config(ForkMode mode, std::uint64_t phys_mib) {
        SimConfig c;
        c.kernel.mode = mode;
        c.kernel.phys_frames = (phys_mib << 20) >> kPageShift;
        c.check = true;
        return c;
    }

    // Appends `body` to the trace run so far (pids stay alive across calls) and runs the new ops.
    void operator()(const std::string& body) {
        text += body;
        trace = parse(text, version);
        for (std::size_t i = done; i < trace.ops.size(); ++i) {
            sim.apply(trace.ops[i], trace);
        }
        done = trace.ops.size();
    }

    Kernel& k() { return sim.kernel(); }
    Mm& mm(std::uint32_t pid) { return *sim.kernel().mm(pid); }
    Counters& stats(std::uint32_t pid) { return mm(pid).stats; }
    const Pte& pmd(std::uint32_t pid, std::uint64_t va) {
        return *sim.kernel().lookup(mm(pid), VirtAddr{va}, Level::Pmd);
    }
    const Pte* pte(std::uint32_t pid, std::uint64_t va) {
        return sim.kernel().lookup(mm(pid), VirtAddr{va}, Level::Pte);
    }
    const Frame& frame_at(std::uint32_t pid, std::uint64_t va) { return k().phys().frame(pte(pid, va)->pfn()); }
    std::uint32_t pincount_at(std::uint32_t pid, std::uint64_t va) { return k().phys().pincount(pte(pid, va)->pfn()); }
    std::uint64_t faults(std::uint32_t pid, FaultKind f) { return stats(pid).faults[static_cast<int>(f)]; }
    void finish() {
        sim.finish(trace);
        REQUIRE(InvariantChecker::check_no_leak(k()).empty());
    }

    Simulator sim;
    trace::Trace trace;
    std::string text;
    std::size_t done = 0;
    int version = 1;
};

} // namespace odf::test
