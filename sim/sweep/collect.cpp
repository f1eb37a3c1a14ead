// Merging a sweep's per-task results into one JSON and one CSV (docs/SWEEPS.md, "Results").
#include "odf/sweep.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace odf::sweep {

using nlohmann::json;

namespace {

// Every number (and boolean, as 0/1) of `j`, keyed by its path joined with '.'; strings and lists are left out
// (the per-fork latencies, the per-process rows and the leak events stay in the JSON).
void flatten(const json& j, const std::string& prefix, std::map<std::string, json>& out) {
    for (const auto& [k, v] : j.items()) {
        const std::string name = prefix.empty() ? k : prefix + "." + k;
        if (v.is_object()) {
            flatten(v, name, out);
        } else if (v.is_number()) {
            out[name] = v;
        } else if (v.is_boolean()) {
            out[name] = v.get<bool>() ? 1 : 0;
        }
    }
}

std::string csv_cell(const json& v) {
    if (v.is_null()) {
        return "";
    }
    std::string s = v.is_string() ? v.get<std::string>() : v.dump();
    if (s.find_first_of(",\"\n") != std::string::npos) {
        std::string q = "\"";
        for (const char c : s) {
            q += c == '"' ? std::string("\"\"") : std::string(1, c);
        }
        return q + "\"";
    }
    return s;
}

} // namespace

Collected collect(const Spec& spec, const Store& store) {
    Collected c;
    json rows = json::array();
    json missing = json::array();
    std::vector<std::string> params;
    std::vector<std::map<std::string, json>> metric_rows;
    std::set<std::string> metric_names;
    for (const Task& t : spec.tasks) {
        const auto r = store.result(t.id);
        if (!r) {
            missing.push_back(t.id);
            continue;
        }
        const json& in = t.key.at("input");
        json row;
        row["id"] = t.id;
        row["label"] = t.label();
        row["input"] =
            in.contains("trace") ? in["trace"].get<std::string>() : "gen " + in["generator"].get<std::string>();
        row["generator"] = in.contains("generator") ? in["generator"] : json("");
        row["params"] = in.contains("params") ? in["params"] : json::object();
        for (const auto& [k, v] : row["params"].items()) {
            if (std::find(params.begin(), params.end(), k) == params.end()) {
                params.push_back(k);
            }
        }
        row["mode"] = t.key.at("mode");
        row["cost_model"] = t.key.at("cost_model").at("name");
        row["result"] = r->at("result");
        std::map<std::string, json> m;
        flatten(row["result"], "", m);
        for (const auto& [k, v] : m) {
            metric_names.insert(k);
        }
        metric_rows.push_back(std::move(m));
        rows.push_back(std::move(row));
    }
    c.done = rows.size();
    c.missing = missing.size();

    std::vector<std::string> cols = {"id", "input", "generator"};
    cols.insert(cols.end(), params.begin(), params.end());
    cols.emplace_back("mode");
    cols.emplace_back("cost_model");
    std::string csv;
    for (std::size_t i = 0; i < cols.size(); ++i) {
        csv += (i ? "," : "") + csv_cell(cols[i]);
    }
    for (const auto& m : metric_names) {
        csv += "," + csv_cell(m);
    }
    csv += "\n";
    for (std::size_t r = 0; r < rows.size(); ++r) {
        const json& row = rows[r];
        std::string line = csv_cell(row["id"]) + "," + csv_cell(row["input"]) + "," + csv_cell(row["generator"]);
        for (const auto& p : params) {
            line += "," + (row["params"].contains(p) ? csv_cell(row["params"][p]) : std::string());
        }
        line += "," + csv_cell(row["mode"]) + "," + csv_cell(row["cost_model"]);
        for (const auto& m : metric_names) {
            const auto it = metric_rows[r].find(m);
            line += "," + (it == metric_rows[r].end() ? std::string() : csv_cell(it->second));
        }
        csv += line + "\n";
    }
    c.csv = std::move(csv);
    c.json = {{"sweep", spec.name}, {"description", spec.description}, {"tasks", spec.tasks.size()},
              {"done", c.done},     {"missing", std::move(missing)},   {"plots", spec.plots},
              {"params", params},   {"rows", std::move(rows)}};
    return c;
}

} // namespace odf::sweep
