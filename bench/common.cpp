#include "common.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>

namespace odf::bench {

namespace {
CostModel& model_storage() {
    static CostModel m = CostModel::defaults();
    return m;
}
} // namespace

const CostModel& cost_model() {
    return model_storage();
}

bool init(int* argc, char** argv) {
    std::string path = std::string(ODF_COSTMODEL_DIR) + "/paper-epyc-7302p.json";
    int out = 1;
    for (int i = 1; i < *argc; ++i) {
        const char* a = argv[i];
        if (std::strncmp(a, "--cost-model=", 13) == 0) {
            path = a + 13;
        } else if (std::strcmp(a, "--cost-model") == 0 && i + 1 < *argc) {
            path = argv[++i];
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    try {
        model_storage() = path == "default" ? CostModel::defaults() : CostModel::load(path);
    } catch (const std::exception& e) {
        std::cerr << e.what() << "\n";
        return false;
    }
    benchmark::AddCustomContext("cost_model", model_storage().name);
    benchmark::AddCustomContext("cost_model_file", path);
    benchmark::Initialize(argc, argv);
    return !benchmark::ReportUnrecognizedArguments(*argc, argv);
}

SimConfig config_for(ForkMode mode, double populated_gib) {
    SimConfig c;
    c.kernel.mode = mode;
    c.kernel.costs = cost_model();
    // Data pages once, room for copies made after fork, and the page tables of a few processes. The frame array is
    // calloc'd, so frames never touched cost no host memory.
    const double gib = std::max(64.0, std::ceil(populated_gib * 1.3) + 8.0);
    c.kernel.phys_frames = static_cast<std::uint64_t>(gib * double(kGiB)) >> kPageShift;
    return c;
}

void Driver::apply() {
    for (const trace::Op& op : b_.drain()) {
        sim_.apply(op, b_.trace());
    }
}

void Driver::mmap(std::uint32_t pid, std::uint64_t addr, std::uint64_t len) {
    b_.mmap(pid, addr, len);
    apply();
}

void Driver::munmap(std::uint32_t pid, std::uint64_t addr, std::uint64_t len) {
    b_.munmap(pid, addr, len);
    apply();
}

void Driver::write(std::uint32_t pid, std::uint64_t addr, std::uint64_t len) {
    b_.write(pid, addr, len);
    apply();
}

void Driver::read(std::uint32_t pid, std::uint64_t addr, std::uint64_t len) {
    b_.read(pid, addr, len);
    apply();
}

double Driver::fork(std::uint32_t parent, std::uint32_t child) {
    b_.fork(parent, child);
    apply();
    return sim_.fork_cycles().back();
}

void Driver::exit(std::uint32_t pid) {
    b_.exit(pid);
    apply();
}

void Driver::populate(std::uint64_t bytes) {
    b_.populate(1, kBase, bytes);
    apply();
}

double total_cycles(const Simulator& sim) {
    return sim.totals().cycles(sim.kernel().costs());
}

void set_sim_counters(benchmark::State& state, double cycles) {
    const CostModel& m = cost_model();
    state.counters["sim_cycles"] = cycles;
    state.counters["sim_us"] = m.to_us(cycles);
    state.counters["sim_ms"] = m.to_us(cycles) / 1000.0;
}

std::string mode_label(ForkMode m) {
    return std::string(mode_name(m));
}

double host_peak_rss_mib() {
    std::ifstream in("/proc/self/status");
    std::string key;
    double kb = 0;
    while (in >> key) {
        if (key == "VmHWM:") {
            in >> kb;
            break;
        }
    }
    return kb / 1024.0;
}

} // namespace odf::bench
