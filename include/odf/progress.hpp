// Progress of long work on stderr, with rate and ETA (replay, sweeps). On a TTY one line is redrawn in place (at most
// 5 times a second); otherwise a plain line is printed every ODF_PROGRESS_INTERVAL seconds (default 5) and at the
// end. Shown only while the log level lets info messages through (odf-sim --quiet silences it) and never on
// stdout, so --json and --csv output stays clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace odf {

class Progress {
  public:
    // `what` names the work ("classic", "sweep"), `unit` its items ("ops", "tasks"); `on` false: no output at all.
    Progress(std::string what, std::uint64_t total, std::string unit, bool on = true);
    ~Progress();
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    // `done` of the total items are done; `note` is shown after the counts (e.g. "2 failed, 1 running").
    void update(std::uint64_t done, const std::string& note = {});
    // The final line (also on a non-TTY); later updates print nothing.
    void finish(const std::string& note = {});
    // Erases the TTY line, so that the caller can print a line of its own (the next update redraws).
    void clear();

    // "1.5k", "2.3M": counts and rates in the lines.
    static std::string si(double v);
    // "45 s", "3 min 05 s", "1 h 02 min".
    static std::string duration(double seconds);

  private:
    void print(std::uint64_t done, const std::string& note, bool final);

    std::string what_;
    std::uint64_t total_;
    std::string unit_;
    bool on_;
    bool tty_;
    bool drawn_ = false;
    bool finished_ = false;
    double interval_s_;
    std::uint64_t last_done_ = 0;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_;
};

} // namespace odf
