// Progress lines on stderr (include/odf/progress.hpp).
#include "odf/progress.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace odf {

namespace {

double interval_from_env() {
    const char* s = std::getenv("ODF_PROGRESS_INTERVAL");
    if (s == nullptr || *s == '\0') {
        return 5.0;
    }
    char* end = nullptr;
    const double v = std::strtod(s, &end);
    return end != s && v >= 0 ? v : 5.0;
}

} // namespace

Progress::Progress(std::string what, std::uint64_t total, std::string unit, bool on)
    : what_(std::move(what)), total_(total), unit_(std::move(unit)), on_(on && spdlog::should_log(spdlog::level::info)),
      tty_(::isatty(STDERR_FILENO) != 0), interval_s_(tty_ ? 0.2 : interval_from_env()),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

Progress::~Progress() {
    clear();
}

std::string Progress::si(double v) {
    if (v >= 1e9) {
        return fmt::format("{:.1f}G", v / 1e9);
    }
    if (v >= 1e6) {
        return fmt::format("{:.1f}M", v / 1e6);
    }
    if (v >= 1e4) {
        return fmt::format("{:.1f}k", v / 1e3);
    }
    if (v >= 100 || v == std::floor(v)) {
        return fmt::format("{:.0f}", v);
    }
    return fmt::format("{:.2f}", v);
}

std::string Progress::duration(double s) {
    if (!std::isfinite(s) || s < 0) {
        return "?";
    }
    const auto t = static_cast<long long>(s + 0.5);
    if (t < 60) {
        return fmt::format("{} s", t);
    }
    if (t < 3600) {
        return fmt::format("{} min {:02} s", t / 60, t % 60);
    }
    return fmt::format("{} h {:02} min", t / 3600, t / 60 % 60);
}

void Progress::update(std::uint64_t done, const std::string& note) {
    if (!on_ || finished_) {
        return;
    }
    last_done_ = done;
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last_).count() < interval_s_) {
        return;
    }
    last_ = now;
    print(done, note, false);
}

void Progress::finish(const std::string& note) {
    if (!on_ || finished_) {
        return;
    }
    print(total_ != 0 ? total_ : last_done_, note, true);
    finished_ = true;
}

void Progress::clear() {
    if (drawn_) {
        std::fputs("\r\033[K", stderr);
        std::fflush(stderr);
        drawn_ = false;
    }
}

void Progress::print(std::uint64_t done, const std::string& note, bool final) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = secs > 0 ? static_cast<double>(done) / secs : 0.0;
    std::string s;
    if (total_ != 0) {
        const double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
        if (tty_) {
            constexpr int kWidth = 30;
            const auto fill = static_cast<std::size_t>(frac * kWidth);
            s = fmt::format("{:>11} [{}{}] {:3.0f}% ", what_, std::string(fill, '#'), std::string(kWidth - fill, '.'),
                            frac * 100);
        } else {
            s = fmt::format("{}: {:.0f}% ", what_, frac * 100);
        }
        s += fmt::format("{}/{} {}", si(static_cast<double>(done)), si(static_cast<double>(total_)), unit_);
    } else {
        s = fmt::format("{}: {} {}", what_, si(static_cast<double>(done)), unit_);
    }
    s += fmt::format(", {} {}/s", si(rate), unit_);
    if (final) {
        s += fmt::format(", took {}", duration(secs));
    } else if (total_ != 0 && rate > 0) {
        s += fmt::format(", ETA {}", duration(static_cast<double>(total_ - std::min(done, total_)) / rate));
    }
    if (!note.empty()) {
        s += ", " + note;
    }
    if (tty_) {
        fmt::print(stderr, "\r\033[K{}{}", s, final ? "\n" : "");
        drawn_ = !final;
    } else {
        fmt::print(stderr, "{}\n", s);
    }
    std::fflush(stderr);
}

} // namespace odf
