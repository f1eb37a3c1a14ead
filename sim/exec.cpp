// exec (fs/exec.c): the old mm is torn down and the process continues in a new, empty one.
#include "odf/kernel.hpp"

namespace odf {

void Kernel::exec(std::uint32_t pid) {
    Mm& old = *mm(pid);
    exit_mm(old);
    Counters keep = old.stats;
    by_id_.erase(old.id);
    procs_.erase(pid);
    Mm& fresh = create_process(pid);
    fresh.stats = keep;
    acct_ = &fresh.stats;
    charge(Cost::ExecBase);
}

} // namespace odf
