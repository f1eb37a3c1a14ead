// run_program(): the helper programs a sweep runs (sbatch, squeue, the plot script), without a shell.
#include "odf/sweep.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <iostream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace odf::sweep {

ProgramRun run_program(const std::vector<std::string>& argv, ProgramStdout how) {
    int fds[2] = {-1, -1};
    if (how == ProgramStdout::Capture && ::pipe(fds) != 0) {
        throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
    }
    std::cout.flush();
    std::cerr.flush();
    const pid_t pid = ::fork();
    if (pid < 0) {
        throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
    }
    if (pid == 0) {
        if (how == ProgramStdout::Capture) {
            ::dup2(fds[1], STDOUT_FILENO);
            ::close(fds[0]);
            ::close(fds[1]);
        } else {
            ::dup2(STDERR_FILENO, STDOUT_FILENO);
        }
        std::vector<char*> a;
        for (const auto& s : argv) {
            a.push_back(const_cast<char*>(s.c_str()));
        }
        a.push_back(nullptr);
        ::execvp(a[0], a.data());
        ::_exit(127);
    }
    ProgramRun r;
    if (how == ProgramStdout::Capture) {
        ::close(fds[1]);
        std::array<char, 4096> buf{};
        while (true) {
            const ssize_t n = ::read(fds[0], buf.data(), buf.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                break;
            }
            r.out.append(buf.data(), static_cast<std::size_t>(n));
        }
        ::close(fds[0]);
    }
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r.status == 127) {
        r.status = -1;
    }
    return r;
}

} // namespace odf::sweep
