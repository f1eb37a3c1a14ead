// The Kernel object: configuration, the process table, and fork-mode names.
#include "odf/kernel.hpp"

namespace odf {

namespace {
constexpr std::string_view kModeNames[kForkModeCount] = {"classic", "odf", "odf-paper", "cow-pte-v3", "thp"};
} // namespace

std::string_view mode_name(ForkMode m) {
    return kModeNames[static_cast<int>(m)];
}

std::optional<ForkMode> parse_mode(std::string_view s) {
    for (int i = 0; i < kForkModeCount; ++i) {
        if (kModeNames[i] == s) {
            return static_cast<ForkMode>(i);
        }
    }
    return std::nullopt;
}

Kernel::Kernel(KernelConfig cfg) : cfg_(std::move(cfg)), phys_(cfg_.phys_frames) {
    acct_ = &retired_;
}

Kernel::~Kernel() = default;

Mm* Kernel::mm(std::uint32_t pid) {
    auto it = procs_.find(pid);
    return it == procs_.end() ? nullptr : it->second.get();
}
const Mm* Kernel::mm(std::uint32_t pid) const {
    return const_cast<Kernel*>(this)->mm(pid);
}
const Mm* Kernel::mm_by_id(std::uint32_t id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second;
}

} // namespace odf
