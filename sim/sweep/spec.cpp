// Sweep specs: parsing with field-level error messages, expansion into tasks, stable task ids (docs/SWEEPS.md).
#include "odf/cost_model.hpp"
#include "odf/mm.hpp"
#include "odf/sweep.hpp"
#include "odf/trace/generators.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <glob.h>
#include <sstream>

namespace odf::sweep {

namespace fs = std::filesystem;
using nlohmann::json;

SpecError::SpecError(const std::string& file, int line, const std::string& field, const std::string& reason)
    : std::runtime_error(file + (line > 0 ? ":" + std::to_string(line) : std::string()) + ": " +
                         (field.empty() ? std::string() : field + ": ") + reason),
      file_(file), line_(line), field_(field) {}

std::string fnv1a64_hex(const std::string& bytes) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char c : bytes) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return fmt::format("{:016x}", h);
}

std::string task_id(const json& key) {
    return fnv1a64_hex(key.dump());
}

namespace {

// The line of every value of a (valid) JSON text, by field path ("inputs[0].params.size"), so that errors found
// after parsing can name their line. nlohmann::json keeps no positions.
class LineIndex {
  public:
    explicit LineIndex(const std::string& text) : s_(text) {
        try {
            value("");
        } catch (const std::out_of_range&) {
            // Not reachable for text nlohmann::json accepted; lines are then just less precise.
        }
    }
    // The line of `path`, else of its nearest enclosing path that has one, else 0.
    [[nodiscard]] int line(std::string path) const {
        while (true) {
            if (const auto it = lines_.find(path); it != lines_.end()) {
                return it->second;
            }
            if (path.empty()) {
                return 0;
            }
            const std::size_t cut = path.find_last_of(".[");
            path = cut == std::string::npos ? std::string() : path.substr(0, cut);
        }
    }

  private:
    void ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) {
            if (s_[i_] == '\n') {
                ++line_;
            }
            ++i_;
        }
    }
    std::string str() {
        std::string out;
        ++i_; // opening quote
        while (s_.at(i_) != '"') {
            if (s_[i_] == '\\') {
                out += s_.at(++i_); // good enough for keys: escapes in keys are rare
            } else {
                out += s_[i_];
            }
            ++i_;
        }
        ++i_;
        return out;
    }
    void value(const std::string& path) {
        ws();
        lines_.emplace(path, line_);
        const char c = s_.at(i_);
        if (c == '{') {
            ++i_;
            ws();
            if (s_.at(i_) == '}') {
                ++i_;
                return;
            }
            while (true) {
                ws();
                const std::string k = str();
                ws();
                ++i_; // ':'
                value(path.empty() ? k : path + "." + k);
                ws();
                if (s_.at(i_++) == '}') {
                    return;
                }
            }
        }
        if (c == '[') {
            ++i_;
            ws();
            if (s_.at(i_) == ']') {
                ++i_;
                return;
            }
            for (std::size_t n = 0;; ++n) {
                value(path + "[" + std::to_string(n) + "]");
                ws();
                if (s_.at(i_++) == ']') {
                    return;
                }
            }
        }
        if (c == '"') {
            (void)str();
            return;
        }
        while (i_ < s_.size() && std::string_view(",}] \t\r\n").find(s_[i_]) == std::string_view::npos) {
            ++i_;
        }
    }

    const std::string& s_;
    std::size_t i_ = 0;
    int line_ = 1;
    std::map<std::string, int> lines_;
};

struct Ctx {
    std::string file;
    std::string dir;
    const LineIndex* lines;
    [[noreturn]] void fail(const std::string& field, const std::string& reason) const {
        throw SpecError(file, lines->line(field), field, reason);
    }
};

std::string type_name(const json& v) {
    if (v.is_number_float()) {
        return "a number";
    }
    if (v.is_number()) {
        return "an integer";
    }
    return std::string("a") + (v.is_object() || v.is_array() ? "n " : " ") + v.type_name();
}

void only_keys(const Ctx& c, const json& obj, const std::string& field, std::initializer_list<const char*> keys) {
    for (const auto& [k, v] : obj.items()) {
        if (std::find_if(keys.begin(), keys.end(), [&](const char* x) { return k == x; }) == keys.end()) {
            std::string known;
            for (const char* x : keys) {
                known += (known.empty() ? "" : ", ") + std::string(x);
            }
            c.fail(field.empty() ? k : field + "." + k, "unknown field (known: " + known + ")");
        }
    }
}

std::string get_string(const Ctx& c, const json& v, const std::string& field) {
    if (!v.is_string()) {
        c.fail(field, "must be a string, got " + type_name(v));
    }
    return v.get<std::string>();
}

double get_positive(const Ctx& c, const json& v, const std::string& field) {
    if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>())) {
        c.fail(field, "must be a positive number, got " + v.dump());
    }
    return v.get<double>();
}

unsigned get_uint(const Ctx& c, const json& v, const std::string& field, unsigned min) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < min || v.get<std::int64_t>() > 0xffffffffLL) {
        c.fail(field, fmt::format("must be an integer >= {}, got {}", min, v.dump()));
    }
    return v.get<unsigned>();
}

std::vector<std::string> get_strings(const Ctx& c, const json& v, const std::string& field) {
    if (v.is_string()) {
        return {v.get<std::string>()};
    }
    if (!v.is_array()) {
        c.fail(field, "must be a string or a list of strings, got " + type_name(v));
    }
    std::vector<std::string> out;
    for (std::size_t i = 0; i < v.size(); ++i) {
        out.push_back(get_string(c, v[i], fmt::format("{}[{}]", field, i)));
    }
    return out;
}

// Generator parameters. The type of each is the type of its default; values given as lists or ranges are swept.
enum class PType { Double, UInt, Bool, Addr };

struct Param {
    std::string name;
    PType type;
    json def;
};

std::string hex(std::uint64_t v) {
    return fmt::format("{:#x}", v);
}

std::vector<Param> generator_params(const std::string& gen) {
    using namespace odf::trace;
    if (gen == "fork-sweep") {
        const ForkSweepParams p;
        return {{"size", PType::Double, p.sizes_gib.at(0)},
                {"repeat", PType::UInt, p.repeat},
                {"base", PType::Addr, hex(p.base)}};
    }
    if (gen == "snapshot") {
        const SnapshotParams p;
        return {{"dataset", PType::Double, p.dataset_gib},
                {"chunk-mib", PType::Double, static_cast<double>(p.chunk_bytes) / static_cast<double>(kMiB)},
                {"writes-per-chunk", PType::UInt, p.writes_per_chunk},
                {"seed", PType::UInt, p.seed},
                {"base", PType::Addr, hex(p.base)}};
    }
    if (gen == "fuzz-loop") {
        const FuzzLoopParams p;
        return {{"parent", PType::Double, p.parent_gib}, {"iterations", PType::UInt, p.iterations},
                {"pages", PType::UInt, p.pages},         {"write-fraction", PType::Double, p.write_fraction},
                {"seed", PType::UInt, p.seed},           {"base", PType::Addr, hex(p.base)}};
    }
    if (gen == "unit-test") {
        const UnitTestParams p;
        return {{"parent", PType::Double, p.parent_gib},
                {"tests", PType::UInt, p.tests},
                {"working-set", PType::UInt, p.working_set_pages},
                {"writes", PType::UInt, p.writes},
                {"scratch", PType::UInt, p.scratch_pages},
                {"seed", PType::UInt, p.seed},
                {"base", PType::Addr, hex(p.base)}};
    }
    if (gen == "random") {
        const RandomParams p;
        auto mib = [](std::uint64_t b) { return static_cast<double>(b) / static_cast<double>(kMiB); };
        return {{"seed", PType::UInt, p.seed},
                {"ops", PType::UInt, p.ops},
                {"max-live", PType::UInt, p.max_live},
                {"max-procs", PType::UInt, p.max_procs},
                {"window-mib", PType::Double, mib(p.window_bytes)},
                {"heap-mib", PType::Double, mib(p.heap_bytes)},
                {"max-map-pages", PType::UInt, p.max_map_pages},
                {"max-access-pages", PType::UInt, p.max_access_pages},
                {"exit", PType::Bool, p.exit_all},
                {"refs", PType::Bool, p.refs}};
    }
    return {};
}

const char* kGenerators = "fork-sweep, snapshot, fuzz-loop, unit-test, random";

// One value of a parameter, converted to its canonical type (so that 1 and 1.0 give the same task id).
json scalar(const Ctx& c, const Param& p, const json& v, const std::string& field) {
    switch (p.type) {
    case PType::Double:
        if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0) {
            c.fail(field, "must be a non-negative number, got " + v.dump());
        }
        return v.get<double>();
    case PType::UInt:
        if (!v.is_number_integer() || v.get<std::int64_t>() < 0) {
            c.fail(field, "must be a non-negative integer, got " + v.dump());
        }
        return v.get<std::uint64_t>();
    case PType::Bool:
        if (!v.is_boolean()) {
            c.fail(field, "must be true or false, got " + v.dump());
        }
        return v.get<bool>();
    case PType::Addr:
        if (v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0)) {
            return hex(v.get<std::uint64_t>());
        }
        if (v.is_string()) {
            const std::string s = v.get<std::string>();
            try {
                std::size_t used = 0;
                const std::uint64_t x = std::stoull(s, &used, 0);
                if (used == s.size()) {
                    return hex(x);
                }
            } catch (const std::exception&) {
            }
        }
        c.fail(field, "must be an address (an integer or a \"0x...\" string), got " + v.dump());
    }
    return v;
}

// The values a parameter takes: a scalar, a list, or a range {"from", "to", "step"} / {"from", "to", "times"}.
std::vector<json> values(const Ctx& c, const Param& p, const json& v, const std::string& field) {
    std::vector<json> out;
    if (v.is_array()) {
        if (v.empty()) {
            c.fail(field, "an empty list sweeps nothing");
        }
        for (std::size_t i = 0; i < v.size(); ++i) {
            out.push_back(scalar(c, p, v[i], fmt::format("{}[{}]", field, i)));
        }
        return out;
    }
    if (v.is_object()) {
        only_keys(c, v, field, {"from", "to", "step", "times"});
        if (!v.contains("from") || !v.contains("to") || (v.contains("step") == v.contains("times"))) {
            c.fail(field, "a range is {\"from\": A, \"to\": B, \"step\": S} or {\"from\": A, \"to\": B, \"times\": F}");
        }
        if (p.type != PType::Double && p.type != PType::UInt) {
            c.fail(field, "only numeric parameters take ranges");
        }
        const double from = scalar(c, p, v["from"], field + ".from").get<double>();
        const double to = scalar(c, p, v["to"], field + ".to").get<double>();
        if (to < from) {
            c.fail(field + ".to", "is below from");
        }
        const bool geometric = v.contains("times");
        const std::string sf = field + (geometric ? ".times" : ".step");
        const json& sv = geometric ? v["times"] : v["step"];
        if (!sv.is_number() || !(sv.get<double>() > (geometric ? 1.0 : 0.0))) {
            c.fail(sf, geometric ? "must be a number > 1" : "must be a number > 0");
        }
        const double s = sv.get<double>();
        double x = from;
        for (int i = 0; x <= to * (1 + 1e-12); ++i) {
            if (out.size() >= 100000) {
                c.fail(field, "expands to more than 100000 values");
            }
            if (p.type == PType::UInt) {
                if (x != std::floor(x)) {
                    c.fail(field, fmt::format("gives {} for an integer parameter", x));
                }
                out.push_back(static_cast<std::uint64_t>(x));
            } else {
                out.push_back(x);
            }
            x = geometric ? from * std::pow(s, i + 1) : from + s * (i + 1);
        }
        return out;
    }
    return {scalar(c, p, v, field)};
}

struct Input {
    json key_input; // {"trace": rel} or {"generator": g, "params": {...}}
    std::string trace_abs;
};

std::vector<Input> expand_traces(const Ctx& c, const json& in, const std::string& field) {
    std::vector<Input> out;
    const auto patterns = get_strings(c, in, field);
    if (patterns.empty()) {
        c.fail(field, "no traces given");
    }
    for (std::size_t i = 0; i < patterns.size(); ++i) {
        const std::string f = in.is_array() ? fmt::format("{}[{}]", field, i) : field;
        const std::string& pat = patterns[i];
        const bool abs = fs::path(pat).is_absolute();
        const std::string full = abs ? pat : (fs::path(c.dir) / pat).string();
        glob_t g{};
        const int rc = ::glob(full.c_str(), GLOB_ERR, nullptr, &g);
        std::vector<std::string> matches;
        if (rc == 0) {
            for (std::size_t k = 0; k < g.gl_pathc; ++k) {
                matches.emplace_back(g.gl_pathv[k]);
            }
        }
        ::globfree(&g);
        if (matches.empty()) {
            c.fail(f, fmt::format("'{}' matches no file (relative paths are relative to the spec's directory)", pat));
        }
        for (const std::string& m : matches) {
            if (!fs::is_regular_file(m)) {
                continue;
            }
            Input x;
            // The key names the trace as the spec does (relative to the spec), so ids do not depend on where the
            // checkout or the shared directory is.
            std::string rel = abs ? fs::path(m).lexically_normal().string()
                                  : fs::path(m).lexically_normal().lexically_relative(c.dir).string();
            x.key_input = {{"trace", rel}};
            x.trace_abs = fs::absolute(m).lexically_normal().string();
            out.push_back(std::move(x));
        }
    }
    return out;
}

std::vector<Input> expand_generator(const Ctx& c, const json& in, const std::string& field) {
    const std::string gen = get_string(c, in["generator"], field + ".generator");
    const auto defs = generator_params(gen);
    if (defs.empty()) {
        c.fail(field + ".generator", fmt::format("unknown generator '{}' (known: {})", gen, kGenerators));
    }
    json params = json::object();
    if (in.contains("params")) {
        params = in["params"];
        if (!params.is_object()) {
            c.fail(field + ".params", "must be an object, got " + type_name(params));
        }
    }
    for (const auto& [k, v] : params.items()) {
        if (std::none_of(defs.begin(), defs.end(), [&](const Param& p) { return p.name == k; })) {
            std::string known;
            for (const auto& p : defs) {
                known += (known.empty() ? "" : ", ") + p.name;
            }
            c.fail(field + ".params." + k, fmt::format("unknown parameter of {} (known: {})", gen, known));
        }
    }
    // The cartesian product of every parameter's values, in the order the generator lists them (first varies
    // slowest).
    std::vector<json> combos{json::object()};
    for (const Param& p : defs) {
        const std::string pf = field + ".params." + p.name;
        const std::vector<json> vs =
            params.contains(p.name) ? values(c, p, params[p.name], pf) : std::vector<json>{scalar(c, p, p.def, pf)};
        if (combos.size() * vs.size() > 1000000) {
            c.fail(field + ".params", "expands to more than a million combinations");
        }
        std::vector<json> next;
        for (const json& base : combos) {
            for (const json& v : vs) {
                json n = base;
                n[p.name] = v;
                next.push_back(std::move(n));
            }
        }
        combos = std::move(next);
    }
    std::vector<Input> out;
    for (json& p : combos) {
        for (const char* positive : {"size", "dataset", "parent", "chunk-mib", "window-mib"}) {
            if (p.contains(positive) && !(p[positive].get<double>() > 0)) {
                c.fail(field + ".params." + positive, "must be > 0");
            }
        }
        if (p.contains("write-fraction") && p["write-fraction"].get<double>() > 1) {
            c.fail(field + ".params.write-fraction", "must be between 0 and 1");
        }
        Input x;
        x.key_input = {{"generator", gen}, {"params", std::move(p)}};
        out.push_back(std::move(x));
    }
    return out;
}

std::vector<std::string> parse_modes(const Ctx& c, const json& v, const std::string& field) {
    std::vector<std::string> all;
    std::string known; // for the message: the names of the model's table
    for (int i = 0; i < odf::kForkModeCount; ++i) {
        all.emplace_back(odf::mode_name(static_cast<odf::ForkMode>(i)));
        known += all.back() + ", ";
    }
    if (v.is_string() && v.get<std::string>() == "all") {
        return all;
    }
    std::vector<std::string> out;
    const auto names = get_strings(c, v, field);
    if (names.empty()) {
        c.fail(field, "no modes given");
    }
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (!odf::parse_mode(names[i])) {
            c.fail(v.is_array() ? fmt::format("{}[{}]", field, i) : field,
                   fmt::format("unknown mode '{}' ({}or \"all\")", names[i], known));
        }
        out.push_back(names[i]);
    }
    return out;
}

struct CostRef {
    json key; // {"name", "hash"}
    std::string abs;
};

std::vector<CostRef> parse_cost_models(const Ctx& c, const json& v, const std::string& field) {
    std::vector<CostRef> out;
    const auto names = get_strings(c, v, field);
    if (names.empty()) {
        c.fail(field, "no cost models given");
    }
    for (std::size_t i = 0; i < names.size(); ++i) {
        const std::string f = v.is_array() ? fmt::format("{}[{}]", field, i) : field;
        CostRef r;
        if (names[i] == "default") {
            r.key = {{"name", "default"},
                     {"hash", fnv1a64_hex(json::parse(odf::CostModel::defaults().to_json()).dump())}};
        } else {
            const fs::path p = fs::path(names[i]).is_absolute() ? fs::path(names[i]) : fs::path(c.dir) / names[i];
            r.abs = fs::absolute(p).lexically_normal().string();
            json content;
            try {
                (void)odf::CostModel::load(r.abs); // every check the replay does
                std::ifstream in(r.abs);
                content = json::parse(in);
            } catch (const std::exception& e) {
                c.fail(f, e.what());
            }
            // Named by the model's own name (or the file's stem), hashed by its content: moving the file keeps
            // the ids, editing a cost in it makes new ones.
            const std::string name = content.contains("name") && content["name"].is_string()
                                         ? content["name"].get<std::string>()
                                         : p.stem().string();
            r.key = {{"name", name}, {"hash", fnv1a64_hex(content.dump())}};
        }
        out.push_back(std::move(r));
    }
    return out;
}

} // namespace

std::string Task::label() const {
    std::string in;
    const json& i = key.at("input");
    if (i.contains("trace")) {
        in = i["trace"].get<std::string>();
    } else {
        in = "gen " + i["generator"].get<std::string>();
        for (const auto& [k, v] : i["params"].items()) {
            in += " " + k + "=" +
                  (v.is_string()         ? v.get<std::string>()
                   : v.is_number_float() ? fmt::format("{}", v.get<double>())
                                         : v.dump());
        }
    }
    return fmt::format("{} | {} | {}", in, key.at("mode").get<std::string>(),
                       key.at("cost_model").at("name").get<std::string>());
}

json Task::to_json() const {
    json j = {{"id", id}, {"key", key}};
    if (!trace_file.empty()) {
        j["trace_file"] = trace_file;
    }
    if (!cost_model_file.empty()) {
        j["cost_model_file"] = cost_model_file;
    }
    return j;
}

Task Task::from_json(const json& j) {
    Task t;
    t.id = j.at("id").get<std::string>();
    t.key = j.at("key");
    t.trace_file = j.value("trace_file", "");
    t.cost_model_file = j.value("cost_model_file", "");
    return t;
}

Spec parse_spec(const std::string& text, const std::string& file, const std::string& dir) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::parse_error& e) {
        // e.byte is 1-based, the position after the last byte read.
        const std::size_t upto = std::min<std::size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
        const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(upto), '\n'));
        const std::size_t bol = text.rfind('\n', upto == 0 ? 0 : upto - 1);
        const std::size_t col = upto - (bol == std::string::npos || upto == 0 ? 0 : bol + 1) + 1;
        std::string what = e.what();
        if (const std::size_t p = what.find("syntax error"); p != std::string::npos) {
            what = what.substr(p);
        }
        throw SpecError(file, line, "", fmt::format("column {}: not valid JSON: {}", col, what));
    }
    const LineIndex lines(text);
    const Ctx c{file, dir, &lines};
    if (!j.is_object()) {
        c.fail("", "the top level must be an object");
    }
    only_keys(
        c, j, "",
        {"name", "description", "inputs", "modes", "cost_models", "replay", "resources", "slurm", "output", "plots"});
    Spec s;
    s.file = file;
    s.dir = dir;
    if (!j.contains("name")) {
        c.fail("", "missing field 'name'");
    }
    s.name = get_string(c, j["name"], "name");
    if (s.name.empty() ||
        s.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
            std::string::npos) {
        c.fail("name", "must be non-empty and use only letters, digits, '.', '_' and '-'");
    }
    if (j.contains("description")) {
        s.description = get_string(c, j["description"], "description");
    }
    if (j.contains("output")) {
        const fs::path o(get_string(c, j["output"], "output"));
        s.output = (o.is_absolute() ? o : fs::path(dir) / o).lexically_normal().string();
    }

    const std::vector<std::string> modes =
        j.contains("modes") ? parse_modes(c, j["modes"], "modes") : parse_modes(c, json("all"), "modes");
    const std::vector<CostRef> costs = j.contains("cost_models") ? parse_cost_models(c, j["cost_models"], "cost_models")
                                                                 : parse_cost_models(c, json("default"), "cost_models");

    json replay = {{"check", false}, {"check_every", 1}, {"phys_gib", 64.0}, {"bugs", json::array()}};
    if (j.contains("replay")) {
        const json& r = j["replay"];
        if (!r.is_object()) {
            c.fail("replay", "must be an object, got " + type_name(r));
        }
        only_keys(c, r, "replay", {"check", "check_every", "phys_gib", "bugs"});
        if (r.contains("check")) {
            if (!r["check"].is_boolean()) {
                c.fail("replay.check", "must be true or false, got " + r["check"].dump());
            }
            replay["check"] = r["check"].get<bool>();
        }
        if (r.contains("check_every")) {
            replay["check_every"] = get_uint(c, r["check_every"], "replay.check_every", 1);
        }
        if (r.contains("phys_gib")) {
            replay["phys_gib"] = get_positive(c, r["phys_gib"], "replay.phys_gib");
        }
        if (r.contains("bugs")) {
            const auto bugs = get_strings(c, r["bugs"], "replay.bugs");
            for (const auto& b : bugs) {
                if (b != "odf-gup-leak") {
                    c.fail("replay.bugs", "unknown bug '" + b + "' (known: odf-gup-leak)");
                }
            }
            replay["bugs"] = bugs;
        }
    }

    if (j.contains("resources")) {
        const json& r = j["resources"];
        if (!r.is_object()) {
            c.fail("resources", "must be an object, got " + type_name(r));
        }
        only_keys(c, r, "resources", {"cpus", "mem_gib", "time_limit_min"});
        if (r.contains("cpus")) {
            s.resources.cpus = get_uint(c, r["cpus"], "resources.cpus", 1);
        }
        if (r.contains("mem_gib")) {
            s.resources.mem_gib = get_positive(c, r["mem_gib"], "resources.mem_gib");
        }
        if (r.contains("time_limit_min")) {
            s.resources.time_limit_min = get_positive(c, r["time_limit_min"], "resources.time_limit_min");
        }
    }
    if (j.contains("slurm")) {
        const json& r = j["slurm"];
        if (!r.is_object()) {
            c.fail("slurm", "must be an object, got " + type_name(r));
        }
        only_keys(c, r, "slurm",
                  {"partition", "account", "qos", "max_running", "max_array_size", "sbatch_args", "setup", "odf_sim"});
        auto str = [&](const char* k, std::string& dst) {
            if (r.contains(k)) {
                dst = get_string(c, r[k], std::string("slurm.") + k);
            }
        };
        str("partition", s.slurm.partition);
        str("account", s.slurm.account);
        str("qos", s.slurm.qos);
        str("odf_sim", s.slurm.odf_sim);
        if (r.contains("max_running")) {
            s.slurm.max_running = get_uint(c, r["max_running"], "slurm.max_running", 0);
        }
        if (r.contains("max_array_size")) {
            s.slurm.max_array_size = get_uint(c, r["max_array_size"], "slurm.max_array_size", 1);
        }
        if (r.contains("sbatch_args")) {
            s.slurm.sbatch_args = get_strings(c, r["sbatch_args"], "slurm.sbatch_args");
        }
        if (r.contains("setup")) {
            s.slurm.setup = get_strings(c, r["setup"], "slurm.setup");
        }
    }
    if (j.contains("plots")) {
        const json& p = j["plots"];
        if (!p.is_array()) {
            c.fail("plots", "must be a list of plots, got " + type_name(p));
        }
        for (std::size_t i = 0; i < p.size(); ++i) {
            const std::string f = fmt::format("plots[{}]", i);
            if (!p[i].is_object()) {
                c.fail(f, "must be an object, got " + type_name(p[i]));
            }
            only_keys(c, p[i], f, {"x", "y", "title", "logx", "logy", "file"});
            for (const char* k : {"x", "y"}) {
                if (!p[i].contains(k)) {
                    c.fail(f, std::string("missing field '") + k + "'");
                }
                (void)get_string(c, p[i][k], f + "." + k);
            }
            for (const char* k : {"logx", "logy"}) {
                if (p[i].contains(k) && !p[i][k].is_boolean()) {
                    c.fail(f + "." + k, "must be true or false");
                }
            }
        }
        s.plots = p;
    }

    if (!j.contains("inputs")) {
        c.fail("",
               "missing field 'inputs' (a list of {\"traces\": [...]} and {\"generator\": ..., \"params\": {...}})");
    }
    const json& inputs = j["inputs"];
    if (!inputs.is_array() || inputs.empty()) {
        c.fail("inputs", "must be a non-empty list");
    }
    std::set<std::string> seen;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        const std::string f = fmt::format("inputs[{}]", i);
        const json& in = inputs[i];
        if (!in.is_object()) {
            c.fail(f, "must be an object, got " + type_name(in));
        }
        only_keys(c, in, f, {"traces", "generator", "params", "modes", "cost_models"});
        std::vector<Input> expanded;
        if (in.contains("traces") == in.contains("generator")) {
            c.fail(f, "needs exactly one of 'traces' and 'generator'");
        }
        if (in.contains("traces")) {
            if (in.contains("params")) {
                c.fail(f + ".params", "only generators take parameters");
            }
            expanded = expand_traces(c, in["traces"], f + ".traces");
        } else {
            expanded = expand_generator(c, in, f);
        }
        const auto in_modes = in.contains("modes") ? parse_modes(c, in["modes"], f + ".modes") : modes;
        const auto in_costs =
            in.contains("cost_models") ? parse_cost_models(c, in["cost_models"], f + ".cost_models") : costs;
        for (const Input& x : expanded) {
            for (const std::string& m : in_modes) {
                for (const CostRef& cm : in_costs) {
                    Task t;
                    t.key = {{"input", x.key_input}, {"mode", m}, {"cost_model", cm.key}, {"replay", replay}};
                    t.id = task_id(t.key);
                    t.trace_file = x.trace_abs;
                    t.cost_model_file = cm.abs;
                    if (!seen.insert(t.id).second) {
                        ++s.duplicates;
                        continue;
                    }
                    s.tasks.push_back(std::move(t));
                }
            }
        }
    }
    return s;
}

Spec load_spec(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw SpecError(path, 0, "", "cannot open the spec");
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string dir = fs::absolute(fs::path(path)).parent_path().lexically_normal().string();
    return parse_spec(ss.str(), path, dir);
}

} // namespace odf::sweep
