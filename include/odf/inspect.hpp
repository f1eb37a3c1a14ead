// Human-readable dumps of the modelled state: VMAs, page tables, sharing and ownership (odf-sim inspect).
#pragma once

#include "odf/kernel.hpp"

#include <string>

namespace odf {

[[nodiscard]] std::string describe_mm(const Kernel& k, const Mm& mm);
[[nodiscard]] std::string describe(const Kernel& k);

} // namespace odf
