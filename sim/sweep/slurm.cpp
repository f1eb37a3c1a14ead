// The Slurm backend: one job array per submission (sbatch --array), each array task runs
// `odf-sim sweep task OUT --id ID` on a compute node; the queue is read back with squeue (docs/SWEEPS.md).
#include "odf/sweep.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace odf::sweep {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string sh_quote(const std::string& s) {
    std::string o = "'";
    for (const char c : s) {
        o += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return o + "'";
}

std::string self_exe() {
    std::error_code ec;
    const auto p = fs::read_symlink("/proc/self/exe", ec);
    return ec ? std::string("odf-sim") : p.string();
}

std::string jobs_path(const Store& s) {
    return s.dir() + "/slurm/jobs.json";
}

json read_jobs(const Store& s) {
    std::ifstream in(jobs_path(s));
    if (!in) {
        return json{{"submissions", json::array()}};
    }
    try {
        return json::parse(in);
    } catch (const json::parse_error& e) {
        throw std::runtime_error(jobs_path(s) + ": damaged: " + e.what());
    }
}

std::vector<std::string> read_ids(const std::string& file) {
    std::vector<std::string> ids;
    std::ifstream in(file);
    std::string l;
    while (std::getline(in, l)) {
        ids.push_back(l);
    }
    return ids;
}

} // namespace

std::vector<std::string> slurm_submit(const Spec& spec, const Store& store, const std::vector<const Task*>& tasks,
                                      const SubmitOptions& opt) {
    if (store.dir().find_first_of(" \t\n'\"") != std::string::npos) {
        throw std::runtime_error("the output directory '" + store.dir() +
                                 "' contains a space or a quote, which #SBATCH lines cannot carry; choose another");
    }
    const std::string odf_sim = !opt.odf_sim.empty()          ? opt.odf_sim
                                : !spec.slurm.odf_sim.empty() ? spec.slurm.odf_sim
                                                              : self_exe();
    const std::string partition = opt.partition.empty() ? spec.slurm.partition : opt.partition;
    const std::string account = opt.account.empty() ? spec.slurm.account : opt.account;
    std::vector<std::string> extra = spec.slurm.sbatch_args;
    extra.insert(extra.end(), opt.sbatch_args.begin(), opt.sbatch_args.end());

    json jobs = read_jobs(store);
    std::vector<std::string> ids_out;
    const std::size_t chunk = std::max(1U, spec.slurm.max_array_size);
    for (std::size_t first = 0; first < tasks.size(); first += chunk) {
        const std::size_t n = std::min(chunk, tasks.size() - first);
        const std::size_t sub = jobs["submissions"].size() + 1;
        const std::string rel = fmt::format("slurm/{}", sub);
        const std::string dir = store.dir() + "/" + rel;
        fs::create_directories(dir);
        std::string ids;
        for (std::size_t i = 0; i < n; ++i) {
            ids += tasks[first + i]->id + "\n";
        }
        write_file_atomic(dir + "/ids.txt", ids);
        const std::vector<const Task*> these(tasks.begin() + static_cast<long>(first),
                                             tasks.begin() + static_cast<long>(first + n));
        store.write_plan(spec, dir + "/plan.json", &these);

        std::string s = "#!/bin/bash\n";
        s += fmt::format("# odf-sim sweep '{}': {} tasks (docs/SWEEPS.md); array index N runs line N+1 of ids.txt.\n",
                         spec.name, n);
        s += fmt::format("#SBATCH --job-name=odf-{}\n", spec.name);
        s += fmt::format("#SBATCH --array=0-{}{}\n", n - 1,
                         spec.slurm.max_running > 0 ? fmt::format("%{}", spec.slurm.max_running) : "");
        s += fmt::format("#SBATCH --cpus-per-task={}\n", spec.resources.cpus);
        s += fmt::format("#SBATCH --mem={}M\n", static_cast<long>(std::ceil(spec.resources.mem_gib * 1024)));
        // One minute beyond the task's own time-out, so that the supervisor records a time-out before Slurm kills it.
        s += fmt::format("#SBATCH --time={}\n", static_cast<long>(std::ceil(spec.resources.time_limit_min)) + 1);
        s += fmt::format("#SBATCH --output={}/%a.out\n", dir);
        if (!partition.empty()) {
            s += fmt::format("#SBATCH --partition={}\n", partition);
        }
        if (!account.empty()) {
            s += fmt::format("#SBATCH --account={}\n", account);
        }
        if (!spec.slurm.qos.empty()) {
            s += fmt::format("#SBATCH --qos={}\n", spec.slurm.qos);
        }
        for (const auto& a : extra) {
            s += fmt::format("#SBATCH {}\n", a);
        }
        s += "set -u\n";
        for (const auto& l : spec.slurm.setup) {
            s += l + "\n";
        }
        s += fmt::format("id=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {})\n", sh_quote(dir + "/ids.txt"));
        s += fmt::format("exec {} sweep task {} --plan {} --id \"$id\"\n", sh_quote(odf_sim), sh_quote(store.dir()),
                         sh_quote(dir + "/plan.json"));
        write_file_atomic(dir + "/array.sh", s);
        fs::permissions(dir + "/array.sh", fs::perms::owner_exec | fs::perms::group_exec, fs::perm_options::add);

        if (opt.dry_run) {
            std::cerr << fmt::format("sweep: would submit {} tasks: sbatch --parsable {}\n", n, dir + "/array.sh");
            continue;
        }
        const ProgramRun r = run_program({"sbatch", "--parsable", dir + "/array.sh"}, ProgramStdout::Capture);
        if (r.status != 0) {
            throw std::runtime_error(r.status < 0 ? "sbatch not found (install slurm-client, or run scripts/setup)"
                                                  : fmt::format("sbatch failed (exit {}) for {}", r.status, dir));
        }
        // --parsable prints "jobid" or "jobid;cluster".
        std::string job = r.out.substr(0, r.out.find_first_of(";\n"));
        if (job.empty() || job.find_first_not_of("0123456789") != std::string::npos) {
            throw std::runtime_error("sbatch printed '" + r.out + "', not a job id");
        }
        char when[32];
        const std::time_t t = std::time(nullptr);
        std::tm tm{};
        ::gmtime_r(&t, &tm);
        std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        jobs["submissions"].push_back({{"job", job}, {"dir", rel}, {"tasks", n}, {"when", when}});
        write_file_atomic(jobs_path(store), jobs.dump(1) + "\n");
        ids_out.push_back(job);
    }
    return ids_out;
}

std::map<std::string, std::string> slurm_active(const Store& store) {
    std::map<std::string, std::string> out;
    const json jobs = read_jobs(store);
    if (jobs["submissions"].empty()) {
        return out;
    }
    std::map<std::string, std::string> dir_of; // job id -> submission dir
    std::string list;
    for (const auto& s : jobs["submissions"]) {
        dir_of[s["job"].get<std::string>()] = s["dir"].get<std::string>();
        list += (list.empty() ? "" : ",") + s["job"].get<std::string>();
    }
    auto query = [](const std::string& jl) {
        return run_program({"squeue", "-h", "-r", "-o", "%F|%K|%T", "--jobs=" + jl}, ProgramStdout::Capture);
    };
    std::string text;
    ProgramRun r = query(list);
    if (r.status < 0) {
        throw std::runtime_error("squeue not found: cannot see this sweep's Slurm jobs (install slurm-client)");
    }
    if (r.status == 0) {
        text = r.out;
    } else {
        // squeue fails on the whole list when a job id is no longer known; ask one by one.
        for (const auto& [job, dir] : dir_of) {
            const ProgramRun one = query(job);
            if (one.status == 0) {
                text += one.out;
            }
        }
    }
    std::map<std::string, std::vector<std::string>> ids_of;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        const auto a = line.find('|');
        const auto b = line.find('|', a + 1);
        if (a == std::string::npos || b == std::string::npos) {
            continue;
        }
        const std::string job = line.substr(0, a);
        const std::string idx = line.substr(a + 1, b - a - 1);
        const std::string state = line.substr(b + 1);
        const auto d = dir_of.find(job);
        if (d == dir_of.end() || idx.empty() || idx.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        auto& ids = ids_of[job];
        if (ids.empty()) {
            ids = read_ids(store.dir() + "/" + d->second + "/ids.txt");
        }
        const std::size_t k = std::stoul(idx);
        if (k < ids.size()) {
            out[ids[k]] = state;
        }
    }
    return out;
}

std::map<std::string, std::string> slurm_submitted(const Store& store) {
    std::map<std::string, std::string> out;
    const json jobs = read_jobs(store);
    for (const auto& s : jobs["submissions"]) {
        const std::string dir = store.dir() + "/" + s["dir"].get<std::string>();
        const auto ids = read_ids(dir + "/ids.txt");
        for (std::size_t i = 0; i < ids.size(); ++i) {
            out[ids[i]] = fmt::format("{}/{}.out", dir, i); // the latest submission wins
        }
    }
    return out;
}

} // namespace odf::sweep
