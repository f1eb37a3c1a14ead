// The invariant checker: recomputes every reference count and every per-mm counter from the page tables and
// compares. Part of the model, usable on any run (odf-sim --check) and by the tests.
#pragma once

#include "odf/kernel.hpp"

#include <string>

namespace odf {

class InvariantChecker {
  public:
    // Returns an empty string when every invariant holds, else the first violation found.
    [[nodiscard]] static std::string check(const Kernel& k);
    // After every process has exited: only the reserved frames (zero pages) may remain allocated.
    [[nodiscard]] static std::string check_no_leak(const Kernel& k);
};

} // namespace odf
