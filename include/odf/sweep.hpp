// Sweeps: traces x generator parameters x fork modes x cost models, one replay per task, run on this machine or as a
// Slurm job array (docs/SWEEPS.md). A spec (JSON) expands to a list of tasks with stable ids; results live in an
// output directory, one file per task, written then renamed, so a sweep is idempotent and resumable.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace odf::sweep {

// A bad spec: what() is "FILE:LINE: FIELD: REASON" (LINE is the line of the field, or of the nearest enclosing
// field that exists; "FILE: REASON" when there is no field).
class SpecError : public std::runtime_error {
  public:
    SpecError(const std::string& file, int line, const std::string& field, const std::string& reason);
    [[nodiscard]] const std::string& file() const { return file_; }
    [[nodiscard]] int line() const { return line_; }
    [[nodiscard]] const std::string& field() const { return field_; }

  private:
    std::string file_;
    int line_;
    std::string field_;
};

struct Resources {
    unsigned cpus = 1;          // Slurm --cpus-per-task
    double mem_gib = 4;         // Slurm --mem
    double time_limit_min = 60; // the task's time-out, locally and on Slurm
};

struct SlurmOptions {
    std::string partition;
    std::string account;
    std::string qos;
    unsigned max_running = 0;             // array throttle (%N), 0: none
    unsigned max_array_size = 1000;       // larger submissions are split into several arrays
    std::vector<std::string> sbatch_args; // extra sbatch options, e.g. "--constraint=epyc"
    std::vector<std::string> setup;       // shell lines run before the task, e.g. "module load gcc"
    std::string odf_sim;                  // odf-sim on the compute nodes (default: the submitting binary)
};

// One replay: one input (a trace file or a generator invocation) in one fork mode with one cost model.
struct Task {
    std::string id;              // 16 hex digits, FNV-1a 64 of key.dump(): derived from the inputs only
    nlohmann::json key;          // {"input": {...}, "mode", "cost_model": {"name", "hash"}, "replay": {...}}
    std::string trace_file;      // trace inputs: the file to load (absolute)
    std::string cost_model_file; // absolute; empty for the built-in default model
    [[nodiscard]] std::string label() const; // e.g. "gen fork-sweep size=1 | odf | paper-epyc-7302p"
    [[nodiscard]] nlohmann::json to_json() const;
    static Task from_json(const nlohmann::json& j);
};

struct Spec {
    std::string file; // as given
    std::string dir;  // absolute directory of the spec: relative paths in it are relative to this
    std::string name;
    std::string description;
    std::string output; // absolute, or empty (the command line then decides)
    Resources resources;
    SlurmOptions slurm;
    nlohmann::json plots = nlohmann::json::array();
    std::vector<Task> tasks;    // in spec order: inputs, parameter combinations, modes, cost models
    std::size_t duplicates = 0; // tasks dropped because an earlier one had the same id
};

// Parses and expands a spec. Throws SpecError for anything wrong in it (syntax with line and column, unknown or
// mistyped fields, globs matching nothing, unknown modes, cost models that do not load).
[[nodiscard]] Spec load_spec(const std::string& path);
[[nodiscard]] Spec parse_spec(const std::string& text, const std::string& file, const std::string& dir);

[[nodiscard]] std::string fnv1a64_hex(const std::string& bytes);
[[nodiscard]] std::string task_id(const nlohmann::json& key);

// Writes `content` to `path` through a temporary file in the same directory, fsync, then rename: readers see the
// old file or the whole new one, never a part.
void write_file_atomic(const std::string& path, const std::string& content);

// The output directory of a sweep:
//   plan.json                  the tasks of the last `run`
//   tasks/<id>/result.json     the result (present and valid = done)
//   tasks/<id>/failed.json     why the last attempt failed (removed when an attempt succeeds)
//   tasks/<id>/log             stderr of the last attempt
//   tasks/<id>/meta.json       host, backend, wall time of the last attempt (not part of the results)
//   slurm/jobs.json, slurm/<n>/{array.sh,ids.txt,plan.json,*.out}   Slurm submissions (an array task runs a task
//                              of its submission's plan.json, whatever later runs write)
class Store {
  public:
    explicit Store(std::string dir);
    [[nodiscard]] const std::string& dir() const { return dir_; }
    [[nodiscard]] std::string task_dir(const std::string& id) const;
    [[nodiscard]] std::string result_path(const std::string& id) const;
    [[nodiscard]] std::string failed_path(const std::string& id) const;
    [[nodiscard]] std::string log_path(const std::string& id) const;
    [[nodiscard]] std::string meta_path(const std::string& id) const;
    [[nodiscard]] std::string plan_path() const;

    // The result if it exists, parses and names this id; a leftover temporary or a damaged file does not count.
    [[nodiscard]] std::optional<nlohmann::json> result(const std::string& id) const;
    [[nodiscard]] std::optional<nlohmann::json> failure(const std::string& id) const;
    void write_result(const std::string& id, const nlohmann::json& r) const;
    void write_failure(const std::string& id, const nlohmann::json& f) const;
    void clear_failure(const std::string& id) const;
    // plan.json (or `path`): the spec's name, resources and tasks (all of them, or `only`).
    void write_plan(const Spec& s, const std::string& path = "", const std::vector<const Task*>* only = nullptr) const;
    [[nodiscard]] Spec read_plan(const std::string& path = "") const; // tasks, resources and name only

  private:
    std::string dir_;
};

// Runs one task in this process: loads (or generates) its trace, replays it in the task's mode with its cost model,
// and returns the result: {"id", "key", "label", "cost_model", "clock_ghz", "result": <one mode of
// `odf-sim replay --json`>}. Throws trace::TraceError, SimError or std::exception.
[[nodiscard]] nlohmann::json run_task(const Task& t);

struct Outcome {
    bool ok = false;
    bool timed_out = false;
    int exit_code = -1; // -1: killed by a signal
    int signal = 0;
    double wall_s = 0;
    std::string reason; // empty when ok
};

struct ExecOptions {
    unsigned jobs = 1;
    double timeout_s = 0; // 0: none
    bool progress = true; // progress on stderr
    std::string backend = "local";
    // What a child process runs for a task; returns its exit status. Default: run_task, write the result (0), or
    // print the error and return 2 (trace or input), 3 (simulator divergence), 1 (anything else).
    std::function<int(const Task&, const Store&)> body;
};

// Runs `tasks` in child processes (fork), at most opt.jobs at once, each with stderr (and stdout) in its log. A task
// that exits non-zero, is killed by a signal, runs past the time-out, or exits 0 without a valid result gets a
// failed.json with the reason and the end of its log; one that succeeds has its failed.json removed. Returns the
// outcomes in the order of `tasks`. SIGINT/SIGTERM stop the children and return what finished.
std::vector<Outcome> execute(const std::vector<const Task*>& tasks, const Store& store, const ExecOptions& opt);

enum class State { Done, Failed, Pending, Queued, Running, Lost };
[[nodiscard]] const char* state_name(State s);

struct TaskStatus {
    const Task* task = nullptr;
    State state = State::Pending;
    nlohmann::json failure; // failed.json when Failed (or a synthesized reason when Lost)
};

// Tasks in the Slurm queue for this output directory: id -> "PENDING", "RUNNING", ... (squeue). Empty when nothing
// was ever submitted from it. Throws if squeue cannot be run or fails.
[[nodiscard]] std::map<std::string, std::string> slurm_active(const Store& store);
// Every task id ever submitted to Slurm from this output directory -> the Slurm output file of its latest attempt.
[[nodiscard]] std::map<std::string, std::string> slurm_submitted(const Store& store);

// The state of every task of `spec`: Done (valid result), Queued/Running (in the Slurm queue), Failed (failed.json),
// Lost (submitted to Slurm, gone from the queue, no result, no failed.json: a killed node or Slurm's own time-out),
// Pending (never run).
[[nodiscard]] std::vector<TaskStatus> scan(const Spec& spec, const Store& store,
                                           const std::map<std::string, std::string>& active,
                                           const std::map<std::string, std::string>& submitted);

// What `sweep run` runs: the tasks without a result that are not in the Slurm queue (Pending, Failed, Lost); with
// only_failed, just Failed and Lost. Done, Queued and Running tasks are never run again.
[[nodiscard]] std::vector<const Task*> select_tasks(const std::vector<TaskStatus>& st, bool only_failed);

struct SubmitOptions {
    std::string odf_sim;                  // overrides spec.slurm.odf_sim; default: this executable
    std::string partition;                // overrides
    std::string account;                  // overrides
    std::vector<std::string> sbatch_args; // appended
    bool dry_run = false;                 // write the scripts, print the sbatch command lines, submit nothing
};

// Writes slurm/<n>/array.sh and ids.txt for `tasks`, submits them with sbatch (one array per max_array_size
// tasks), records the jobs in slurm/jobs.json, and returns the job ids.
std::vector<std::string> slurm_submit(const Spec& spec, const Store& store, const std::vector<const Task*>& tasks,
                                      const SubmitOptions& opt);

struct Collected {
    nlohmann::json json; // {"sweep", "description", "tasks", "done", "missing": [ids], "plots", "params", "rows"}
    std::string csv;     // one row per task with a result: id, input, generator, parameters, mode, cost_model,
                         // then every numeric field of the result flattened with '.' (fork_latency_us.p50, ...)
    std::size_t done = 0;
    std::size_t missing = 0;
};
[[nodiscard]] Collected collect(const Spec& spec, const Store& store);

// A helper program run by run_program() (sbatch, squeue, the plot script).
enum class ProgramStdout {
    Capture,  // into ProgramRun::out
    ToStderr, // its chatter is progress, not results: our stdout stays clean
};
struct ProgramRun {
    int status = -1; // exit status (128 + signal if killed); -1 if it could not be run
    std::string out; // its stdout, with ProgramStdout::Capture
};
// Runs argv (PATH lookup) and waits for it; its stderr is ours.
ProgramRun run_program(const std::vector<std::string>& argv, ProgramStdout how);

} // namespace odf::sweep
