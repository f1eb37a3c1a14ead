// The output directory of a sweep: one directory per task, results written then renamed (docs/SWEEPS.md).
#include "odf/sweep.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace odf::sweep {

namespace fs = std::filesystem;
using nlohmann::json;

void write_file_atomic(const std::string& path, const std::string& content) {
    const fs::path p(path);
    if (p.has_parent_path()) {
        fs::create_directories(p.parent_path());
    }
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    // Unique per writer, so that two attempts of one task (a rerun racing a straggler) never share a temporary.
    const std::string tmp = fmt::format("{}.tmp.{}.{}", path, host, ::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        throw std::runtime_error(fmt::format("{}: cannot create: {}", tmp, std::strerror(errno)));
    }
    std::size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            const int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            throw std::runtime_error(fmt::format("{}: write failed: {}", tmp, std::strerror(err)));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw std::runtime_error(fmt::format("{}: fsync/close failed: {}", tmp, std::strerror(err)));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw std::runtime_error(fmt::format("{}: rename failed: {}", path, std::strerror(err)));
    }
}

namespace {

std::optional<json> read_json(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    try {
        return json::parse(ss.str());
    } catch (const json::parse_error&) {
        return std::nullopt;
    }
}

} // namespace

Store::Store(std::string dir) : dir_(fs::absolute(fs::path(dir)).lexically_normal().string()) {
    while (dir_.size() > 1 && dir_.back() == '/') {
        dir_.pop_back();
    }
}

std::string Store::task_dir(const std::string& id) const {
    return dir_ + "/tasks/" + id;
}
std::string Store::result_path(const std::string& id) const {
    return task_dir(id) + "/result.json";
}
std::string Store::failed_path(const std::string& id) const {
    return task_dir(id) + "/failed.json";
}
std::string Store::log_path(const std::string& id) const {
    return task_dir(id) + "/log";
}
std::string Store::meta_path(const std::string& id) const {
    return task_dir(id) + "/meta.json";
}
std::string Store::plan_path() const {
    return dir_ + "/plan.json";
}

std::optional<json> Store::result(const std::string& id) const {
    auto j = read_json(result_path(id));
    if (!j || !j->is_object() || !j->contains("id") || (*j)["id"] != id || !j->contains("result")) {
        return std::nullopt;
    }
    return j;
}

std::optional<json> Store::failure(const std::string& id) const {
    auto j = read_json(failed_path(id));
    if (!j && fs::exists(failed_path(id))) {
        return json{{"reason", "failed.json is damaged"}};
    }
    return j;
}

void Store::write_result(const std::string& id, const json& r) const {
    write_file_atomic(result_path(id), r.dump(1) + "\n");
}

void Store::write_failure(const std::string& id, const json& f) const {
    write_file_atomic(failed_path(id), f.dump(1) + "\n");
}

void Store::clear_failure(const std::string& id) const {
    std::error_code ec;
    fs::remove(failed_path(id), ec);
}

void Store::write_plan(const Spec& s, const std::string& path, const std::vector<const Task*>* only) const {
    json j;
    j["sweep"] = s.name;
    j["spec"] = fs::absolute(s.file).lexically_normal().string();
    j["resources"] = {
        {"cpus", s.resources.cpus}, {"mem_gib", s.resources.mem_gib}, {"time_limit_min", s.resources.time_limit_min}};
    j["tasks"] = json::array();
    if (only != nullptr) {
        for (const Task* t : *only) {
            j["tasks"].push_back(t->to_json());
        }
    } else {
        for (const Task& t : s.tasks) {
            j["tasks"].push_back(t.to_json());
        }
    }
    write_file_atomic(path.empty() ? plan_path() : path, j.dump(1) + "\n");
}

Spec Store::read_plan(const std::string& path) const {
    const std::string file = path.empty() ? plan_path() : path;
    const auto j = read_json(file);
    if (!j) {
        throw std::runtime_error(file + ": missing or damaged (written by `odf-sim sweep run`)");
    }
    Spec s;
    try {
        s.file = j->at("spec").get<std::string>();
        s.dir = fs::path(s.file).parent_path().string();
        s.name = j->at("sweep").get<std::string>();
        const json& r = j->at("resources");
        s.resources.cpus = r.at("cpus").get<unsigned>();
        s.resources.mem_gib = r.at("mem_gib").get<double>();
        s.resources.time_limit_min = r.at("time_limit_min").get<double>();
        for (const json& t : j->at("tasks")) {
            s.tasks.push_back(Task::from_json(t));
        }
    } catch (const json::exception& e) {
        throw std::runtime_error(file + ": damaged: " + e.what());
    }
    return s;
}

} // namespace odf::sweep
