// --modes and --mode: lists of fork modes by the names of the model's one table (odf::mode_name).
#include "cli.hpp"

#include <fmt/format.h>

namespace odf::cli {

std::string all_mode_names(const std::string& sep) {
    std::string s;
    for (int i = 0; i < kForkModeCount; ++i) {
        s += (i != 0 ? sep : "") + std::string(mode_name(static_cast<ForkMode>(i)));
    }
    return s;
}

std::vector<ForkMode> parse_mode_list(const std::string& s) {
    std::vector<ForkMode> out;
    if (s == "all") {
        for (int i = 0; i < kForkModeCount; ++i) {
            out.push_back(static_cast<ForkMode>(i));
        }
        return out;
    }
    std::size_t pos = 0;
    while (pos <= s.size()) {
        const std::size_t comma = std::min(s.find(',', pos), s.size());
        const std::string name = s.substr(pos, comma - pos);
        const auto m = parse_mode(name);
        if (!m) {
            throw CLI::ValidationError("--modes",
                                       fmt::format("unknown mode '{}' ({}, or all)", name, all_mode_names(", ")));
        }
        out.push_back(*m);
        pos = comma + 1;
    }
    return out;
}

} // namespace odf::cli
