// Sweeps (docs/SWEEPS.md): spec parsing and its errors, stable task ids, write-then-rename, idempotent and resumable
// runs, failure records and --only-failed, collect.
#include "odf/sweep.hpp"
#include "odf/trace/generators.hpp"
#include "odf/trace/io.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace odf::sweep;
using nlohmann::json;

namespace {

// A fresh directory under the system's temporary directory, removed at the end of the test.
struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "odf-sweep-test-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    [[nodiscard]] std::string str() const { return path.string(); }
};

void write(const fs::path& p, const std::string& s) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << s;
}

std::string read(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Spec parse(const std::string& text, const std::string& dir = ".") {
    return parse_spec(text, "spec.json", fs::absolute(dir).string());
}

// The error message of parsing `text`, or "" if it parses.
std::string error_of(const std::string& text, const std::string& dir = ".") {
    try {
        (void)parse(text, dir);
    } catch (const SpecError& e) {
        return e.what();
    }
    return "";
}

void small_trace(const fs::path& p, std::uint64_t seed) {
    odf::trace::RandomParams rp;
    rp.seed = seed;
    rp.ops = 60;
    fs::create_directories(p.parent_path());
    odf::trace::save_trace(p.string(), odf::trace::gen_random(rp), odf::trace::Format::Text, false);
}

std::vector<const Task*> all(const Spec& s) {
    std::vector<const Task*> v;
    for (const auto& t : s.tasks) {
        v.push_back(&t);
    }
    return v;
}

ExecOptions quiet() {
    ExecOptions o;
    o.progress = false;
    o.jobs = 2;
    return o;
}

// A body that records a fake result without replaying anything.
int fake_ok(const Task& t, const Store& s) {
    s.write_result(t.id, {{"id", t.id}, {"result", {{"total_us", 1.5}, {"mode", t.key["mode"]}}}});
    return 0;
}

std::size_t in_state(const std::vector<TaskStatus>& st, State s) {
    return static_cast<std::size_t>(
        std::count_if(st.begin(), st.end(), [&](const TaskStatus& x) { return x.state == s; }));
}

const char* kGenSpec = R"({
  "name": "t",
  "inputs": [{"generator": "fork-sweep", "params": {"size": [0.5, 1], "repeat": {"from": 1, "to": 3, "step": 1}}}],
  "modes": ["classic", "odf"]
})";

} // namespace

TEST_CASE("sweep spec: a generator's parameter lists and ranges expand to their product, then modes, then cost "
          "models",
          "[sweep]") {
    const Spec s = parse(kGenSpec);
    REQUIRE(s.name == "t");
    REQUIRE(s.tasks.size() == 2 * 3 * 2);
    // The first parameter varies slowest, modes vary fastest but one (cost models).
    CHECK(s.tasks[0].key["input"]["params"]["size"] == 0.5);
    CHECK(s.tasks[0].key["input"]["params"]["repeat"] == 1);
    CHECK(s.tasks[0].key["mode"] == "classic");
    CHECK(s.tasks[1].key["mode"] == "odf");
    CHECK(s.tasks[2].key["input"]["params"]["repeat"] == 2);
    CHECK(s.tasks[6].key["input"]["params"]["size"] == 1.0);
    CHECK(s.tasks[0].key["cost_model"]["name"] == "default");
    CHECK(s.tasks[0].label() == "gen fork-sweep base=0x100000000000 repeat=1 size=0.5 | classic | default");

    const Spec g = parse(R"({"name": "g", "modes": "all",
        "inputs": [{"generator": "fork-sweep", "params": {"size": {"from": 1, "to": 16, "times": 2}}}]})");
    REQUIRE(g.tasks.size() == 5 * 5); // 1 2 4 8 16, every mode
    CHECK(g.tasks[24].key["input"]["params"]["size"] == 16.0);
    CHECK(g.tasks[24].key["mode"] == "thp");
}

TEST_CASE("sweep spec: trace globs are relative to the spec and named relative to it", "[sweep]") {
    TempDir d;
    small_trace(d.path / "traces" / "b.trace", 2);
    small_trace(d.path / "traces" / "a.trace", 1);
    write(d.path / "traces" / "notes.txt", "not a trace\n");
    const Spec s = parse(R"({"name": "x", "modes": ["odf"], "inputs": [{"traces": ["traces/*.trace"]}]})", d.str());
    REQUIRE(s.tasks.size() == 2);
    CHECK(s.tasks[0].key["input"]["trace"] == "traces/a.trace"); // sorted
    CHECK(s.tasks[1].key["input"]["trace"] == "traces/b.trace");
    CHECK(s.tasks[0].trace_file == (d.path / "traces" / "a.trace").string());
    // An overlapping pattern does not run a task twice.
    const Spec dup = parse(
        R"({"name": "x", "modes": ["odf"], "inputs": [{"traces": ["traces/*.trace", "traces/a.trace"]}]})", d.str());
    CHECK(dup.tasks.size() == 2);
    CHECK(dup.duplicates == 1);
}

TEST_CASE("sweep task ids: derived from the inputs only, stable across runs, machines and checkouts", "[sweep]") {
    const Spec a = parse(kGenSpec);
    const Spec b = parse(kGenSpec);
    REQUIRE(a.tasks.size() == b.tasks.size());
    for (std::size_t i = 0; i < a.tasks.size(); ++i) {
        CHECK(a.tasks[i].id == b.tasks[i].id);
        CHECK(a.tasks[i].id == task_id(a.tasks[i].key));
        CHECK(a.tasks[i].id.size() == 16);
    }
    // A known id: changing how ids are computed (which would orphan every stored result) fails here.
    const json key = {{"input", {{"trace", "traces/a.trace"}}},
                      {"mode", "odf"},
                      {"cost_model", {{"name", "default"}, {"hash", "0"}}},
                      {"replay", {{"check", false}}}};
    CHECK(fnv1a64_hex("") == "cbf29ce484222325");
    CHECK(fnv1a64_hex("a") == "af63dc4c8601ec8c");
    CHECK(key.dump() == R"({"cost_model":{"hash":"0","name":"default"},"input":{"trace":"traces/a.trace"},)"
                        R"("mode":"odf","replay":{"check":false}})");
    CHECK(task_id(key) == "78181cdbef5217ac");
    // Every input matters: a different mode, parameter or replay option is a different task.
    std::set<std::string> ids;
    for (const auto& t : a.tasks) {
        ids.insert(t.id);
    }
    CHECK(ids.size() == a.tasks.size());
    const Spec checked = parse(std::string(kGenSpec).insert(1, "\"replay\": {\"check\": true},"));
    CHECK(checked.tasks[0].id != a.tasks[0].id);
    // 1 and 1.0 are the same value of a GiB parameter; a default given explicitly is the same task.
    const Spec i1 = parse(R"({"name": "t", "modes": ["odf"], "inputs": [{"generator": "fork-sweep",
        "params": {"size": 1}}]})");
    const Spec i2 = parse(R"({"name": "other-name", "modes": ["odf"], "inputs": [{"generator": "fork-sweep",
        "params": {"size": 1.0, "repeat": 1, "base": 17592186044416}}]})");
    CHECK(i1.tasks.at(0).id == i2.tasks.at(0).id);

    // The same spec and traces in two different directories give the same ids.
    TempDir d1;
    TempDir d2;
    for (const TempDir* d : {&d1, &d2}) {
        small_trace(d->path / "t" / "a.trace", 7);
        fs::copy(fs::path(ODF_SOURCE_DIR) / "costmodels" / "paper-epyc-7302p.json", d->path / "cm.json");
    }
    const char* spec = R"({"name": "m", "modes": ["odf"], "cost_models": ["cm.json", "default"],
        "inputs": [{"traces": "t/*.trace"}]})";
    const Spec s1 = parse(spec, d1.str());
    const Spec s2 = parse(spec, d2.str());
    REQUIRE(s1.tasks.size() == 2);
    CHECK(s1.tasks[0].id == s2.tasks[0].id);
    CHECK(s1.tasks[1].id == s2.tasks[1].id);
    CHECK(s1.tasks[0].trace_file != s2.tasks[0].trace_file);
    CHECK(s1.tasks[0].key["cost_model"]["name"] == "paper-epyc-7302p");
    // Editing a cost in the model makes new tasks.
    auto j = json::parse(read(d1.path / "cm.json"));
    j["clock_ghz"] = 2.0;
    write(d2.path / "cm.json", j.dump());
    const Spec s3 = parse(spec, d2.str());
    CHECK(s3.tasks[0].id != s1.tasks[0].id);
    CHECK(s3.tasks[1].id == s1.tasks[1].id); // the default model did not change
}

TEST_CASE("sweep spec errors name the file, the line, the field and the reason", "[sweep]") {
    // A good spec parses (the negative case of everything below).
    CHECK(error_of(kGenSpec).empty());

    CHECK_THAT(error_of("{\n  \"name\": \"x\",\n  \"inputs\": [,]\n}"),
               Catch::StartsWith("spec.json:3: column 14: not valid JSON: syntax error"));
    CHECK(error_of("[]") == "spec.json:1: the top level must be an object");
    CHECK(error_of(R"({"inputs": []})") == "spec.json:1: missing field 'name'");
    CHECK(error_of("{\"name\": \"x\",\n \"modez\": \"all\",\n \"inputs\": []}") ==
          "spec.json:2: modez: unknown field (known: name, description, inputs, modes, cost_models, replay, "
          "resources, slurm, output, plots)");
    CHECK(error_of(R"({"name": "a b", "inputs": []})") ==
          "spec.json:1: name: must be non-empty and use only letters, digits, '.', '_' and '-'");
    CHECK(error_of(R"({"name": "x", "inputs": []})") == "spec.json:1: inputs: must be a non-empty list");
    const std::string gen = "{\"name\": \"x\",\n\"inputs\": [\n {\"generator\": \"fork-sweep\",\n  \"params\": {\n";
    CHECK(error_of(gen + "   \"size\": [1, -2]}}]}") ==
          "spec.json:5: inputs[0].params.size[1]: must be a non-negative number, got -2");
    CHECK(error_of(gen + "   \"repeat\": 1.5}}]}") ==
          "spec.json:5: inputs[0].params.repeat: must be a non-negative integer, got 1.5");
    CHECK(error_of(gen + "   \"sizes\": [1]}}]}") ==
          "spec.json:5: inputs[0].params.sizes: unknown parameter of fork-sweep (known: size, repeat, base)");
    CHECK(error_of(gen + "   \"size\": {\"from\": 4, \"to\": 1, \"times\": 2}}}]}") ==
          "spec.json:5: inputs[0].params.size.to: is below from");
    CHECK(error_of(gen + "   \"size\": {\"from\": 1, \"to\": 4}}}]}") ==
          "spec.json:5: inputs[0].params.size: a range is {\"from\": A, \"to\": B, \"step\": S} or "
          "{\"from\": A, \"to\": B, \"times\": F}");
    CHECK(error_of(gen + "   \"size\": []}}]}") == "spec.json:5: inputs[0].params.size: an empty list sweeps nothing");
    CHECK(error_of(gen + "   \"size\": 0}}]}") == "spec.json:5: inputs[0].params.size: must be > 0");
    CHECK(error_of("{\"name\": \"x\",\n\"inputs\": [{\"generator\": \"forks\"}]}") ==
          "spec.json:2: inputs[0].generator: unknown generator 'forks' (known: fork-sweep, snapshot, fuzz-loop, "
          "unit-test, random)");
    CHECK(error_of("{\"name\": \"x\",\n\"modes\": [\"classic\",\n \"odff\"],\n\"inputs\": [{\"generator\": "
                   "\"random\"}]}") ==
          "spec.json:3: modes[1]: unknown mode 'odff' (classic, odf, odf-paper, cow-pte-v3, thp, or \"all\")");
    CHECK(error_of("{\"name\": \"x\",\n\"inputs\": [{\"traces\": [\"nothing/*.trace\"]}]}") ==
          "spec.json:2: inputs[0].traces[0]: 'nothing/*.trace' matches no file (relative paths are relative to "
          "the spec's directory)");
    CHECK(error_of(R"({"name": "x", "inputs": [{"traces": "a", "generator": "random"}]})") ==
          "spec.json:1: inputs[0]: needs exactly one of 'traces' and 'generator'");
    CHECK_THAT(error_of("{\"name\": \"x\",\n\"cost_models\": [\"missing.json\"],\n\"inputs\": [{\"generator\": "
                        "\"random\"}]}"),
               Catch::StartsWith("spec.json:2: cost_models[0]: ") && Catch::EndsWith("cannot open cost model"));
    CHECK(error_of("{\"name\": \"x\", \"resources\": {\n\"mem_gib\": \"4G\"}, \"inputs\": [{\"generator\": "
                   "\"random\"}]}") == "spec.json:2: resources.mem_gib: must be a positive number, got \"4G\"");
    CHECK(error_of(R"({"name": "x", "plots": [{"y": "total_us"}], "inputs": [{"generator": "random"}]})") ==
          "spec.json:1: plots[0]: missing field 'x'");

    // load_spec on a file: the message names the file as given.
    TempDir d;
    write(d.path / "bad.json", "{\"name\": \"x\",\n\"inputs\": [{\"generator\": \"random\", \"params\": {\"seed\": "
                               "-1}}]}\n");
    try {
        (void)load_spec((d.path / "bad.json").string());
        FAIL("no error");
    } catch (const SpecError& e) {
        CHECK(std::string(e.what()) ==
              (d.path / "bad.json").string() + ":2: inputs[0].params.seed: must be a non-negative integer, got -1");
        CHECK(e.line() == 2);
        CHECK(e.field() == "inputs[0].params.seed");
    }
    CHECK_THROWS_AS(load_spec((d.path / "absent.json").string()), SpecError);
}

TEST_CASE("sweep results are written then renamed: a partial or foreign result never counts", "[sweep]") {
    TempDir d;
    const Store s(d.str());
    const std::string id = "0123456789abcdef";
    CHECK_FALSE(s.result(id));
    // What a writer killed half-way leaves: a temporary next to the result. Not a result.
    write(s.result_path(id) + ".tmp.host.123", R"({"id": "0123456789abcdef", "res)");
    CHECK_FALSE(s.result(id));
    // A damaged result.json (e.g. copied by hand, a full disk) is not a result either.
    write(s.result_path(id), R"({"id": "0123456789abcdef", "res)");
    CHECK_FALSE(s.result(id));
    // Nor is another task's.
    write(s.result_path(id), R"({"id": "fedcba9876543210", "result": {}})");
    CHECK_FALSE(s.result(id));
    s.write_result(id, {{"id", id}, {"result", {{"x", 1}}}});
    REQUIRE(s.result(id));
    CHECK((*s.result(id))["result"]["x"] == 1);
    // write_file_atomic leaves no temporary of its own behind, and replaces the whole file.
    std::size_t files = 0;
    for (const auto& e : fs::directory_iterator(s.task_dir(id))) {
        files += e.path().filename().string().find(".tmp.") == std::string::npos ? 1 : 0;
    }
    CHECK(files == 1);
    write_file_atomic((d.path / "f").string(), "long old content\n");
    write_file_atomic((d.path / "f").string(), "new\n");
    CHECK(read(d.path / "f") == "new\n");
    // A failed write leaves the old file as it was.
    fs::create_directories(d.path / "ro");
    write_file_atomic((d.path / "ro" / "f").string(), "old\n");
    fs::permissions(d.path / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    if (::geteuid() != 0) { // root writes anyway
        CHECK_THROWS(write_file_atomic((d.path / "ro" / "f").string(), "new\n"));
        CHECK(read(d.path / "ro" / "f") == "old\n");
    }
    fs::permissions(d.path / "ro", fs::perms::owner_all);
    CHECK_THROWS(write_file_atomic((d.path / "f" / "below-a-file").string(), "x"));
    CHECK(read(d.path / "f") == "new\n");
}

TEST_CASE("sweep runs are idempotent and resumable: a task with a result is not run again", "[sweep]") {
    TempDir d;
    const Spec spec = parse(kGenSpec);
    const Store store((d.path / "out").string());
    const std::map<std::string, std::string> none;
    auto st = scan(spec, store, none, none);
    REQUIRE(in_state(st, State::Pending) == 12);
    REQUIRE(select_tasks(st, false).size() == 12);
    CHECK(select_tasks(st, true).empty());

    // A first run that stops half-way (only the first 5 tasks ran).
    const auto counter = d.path / "runs";
    ExecOptions o = quiet();
    o.body = [&](const Task& t, const Store& s) {
        std::ofstream(counter, std::ios::app) << t.id << "\n";
        return fake_ok(t, s);
    };
    auto todo = select_tasks(st, false);
    todo.resize(5);
    auto res = execute(todo, store, o);
    CHECK(std::all_of(res.begin(), res.end(), [](const Outcome& x) { return x.ok; }));
    st = scan(spec, store, none, none);
    CHECK(in_state(st, State::Done) == 5);
    CHECK(in_state(st, State::Pending) == 7);

    // Resuming runs only the other 7; a third run has nothing to do.
    todo = select_tasks(st, false);
    REQUIRE(todo.size() == 7);
    res = execute(todo, store, o);
    st = scan(spec, store, none, none);
    CHECK(in_state(st, State::Done) == 12);
    CHECK(select_tasks(st, false).empty());
    std::istringstream runs(read(counter));
    std::set<std::string> seen;
    std::size_t n = 0;
    for (std::string l; std::getline(runs, l); ++n) {
        seen.insert(l);
    }
    CHECK(n == 12); // every task ran exactly once
    CHECK(seen.size() == 12);
    // Each attempt leaves its log and its metadata.
    CHECK(fs::exists(store.log_path(spec.tasks[0].id)));
    CHECK(json::parse(read(store.meta_path(spec.tasks[0].id)))["backend"] == "local");
}

TEST_CASE("sweep failures are recorded with their reason and log, and --only-failed reruns just them", "[sweep]") {
    TempDir d;
    const Spec spec = parse(kGenSpec);
    const Store store(d.str());
    const std::map<std::string, std::string> none;
    const std::string bad = spec.tasks[3].id;
    ExecOptions o = quiet();
    o.body = [&](const Task& t, const Store& s) {
        if (t.id == bad) {
            std::cerr << "inputs.trace:7: something is wrong here\n";
            return 2;
        }
        return fake_ok(t, s);
    };
    auto res = execute(all(spec), store, o);
    CHECK_FALSE(res[3].ok);
    CHECK(res[3].exit_code == 2);
    CHECK(res[0].ok);
    auto st = scan(spec, store, none, none);
    CHECK(in_state(st, State::Done) == 11);
    REQUIRE(in_state(st, State::Failed) == 1);
    const auto f = store.failure(bad);
    REQUIRE(f);
    CHECK((*f)["reason"] == "exit status 2 (bad input: trace or generator): inputs.trace:7: something is wrong here");
    CHECK((*f)["log"] == store.log_path(bad));
    CHECK((*f)["log_tail"].get<std::string>().find("something is wrong here") != std::string::npos);

    // --only-failed selects exactly the failed task; so does a plain run (nothing else is left).
    auto todo = select_tasks(st, true);
    REQUIRE(todo.size() == 1);
    CHECK(todo[0]->id == bad);
    CHECK(select_tasks(st, false).size() == 1);

    // Rerun alone, fixed: done, and its failure record is gone.
    o.body = fake_ok;
    res = execute(todo, store, o);
    CHECK(res[0].ok);
    CHECK_FALSE(store.failure(bad));
    st = scan(spec, store, none, none);
    CHECK(in_state(st, State::Done) == 12);
    CHECK(select_tasks(st, true).empty());
}

TEST_CASE("sweep failure kinds: divergence, crash, time-out, exit 0 without a result", "[sweep]") {
    TempDir d;
    const Spec spec = parse(kGenSpec);
    const Store store(d.str());
    ExecOptions o = quiet();
    o.jobs = 4;
    o.timeout_s = 0.5;
    o.body = [&](const Task& t, const Store& s) {
        if (t.id == spec.tasks[0].id) {
            return 3;
        }
        if (t.id == spec.tasks[1].id) {
            std::raise(SIGKILL); // what the OOM killer does
        }
        if (t.id == spec.tasks[2].id) {
            std::this_thread::sleep_for(std::chrono::seconds(600));
        }
        if (t.id == spec.tasks[3].id) {
            return 0; // wrote nothing
        }
        return fake_ok(t, s);
    };
    const std::vector<const Task*> four = {&spec.tasks[0], &spec.tasks[1], &spec.tasks[2], &spec.tasks[3],
                                           &spec.tasks[4]};
    const auto res = execute(four, store, o);
    CHECK(res[0].reason == "exit status 3 (simulator divergence)");
    CHECK(res[1].signal == SIGKILL);
    CHECK_THAT(res[1].reason, Catch::StartsWith("killed by signal 9"));
    CHECK(res[2].timed_out);
    CHECK_THAT(res[2].reason, Catch::StartsWith("time-out"));
    CHECK(res[3].reason == "exited 0 but left no valid result");
    CHECK(res[4].ok);
    for (int i = 0; i < 4; ++i) {
        CHECK_FALSE(res[static_cast<std::size_t>(i)].ok);
        CHECK(store.failure(spec.tasks[static_cast<std::size_t>(i)].id));
    }
    CHECK((*store.failure(spec.tasks[2].id))["timed_out"] == true);
}

TEST_CASE("sweep states from the Slurm queue: queued, running, lost", "[sweep]") {
    TempDir d;
    const Spec spec = parse(kGenSpec);
    const Store store(d.str());
    std::map<std::string, std::string> active = {{spec.tasks[0].id, "PENDING"}, {spec.tasks[1].id, "RUNNING"}};
    const std::map<std::string, std::string> submitted = {{spec.tasks[0].id, "s/0.out"},
                                                          {spec.tasks[1].id, "s/1.out"},
                                                          {spec.tasks[2].id, "s/2.out"},
                                                          {spec.tasks[3].id, "s/3.out"}};
    store.write_result(spec.tasks[3].id, {{"id", spec.tasks[3].id}, {"result", json::object()}});
    const auto st = scan(spec, store, active, submitted);
    CHECK(st[0].state == State::Queued);
    CHECK(st[1].state == State::Running);
    CHECK(st[2].state == State::Lost); // submitted, gone from the queue, nothing written: a killed node
    CHECK(st[2].failure["log"] == "s/2.out");
    CHECK(st[3].state == State::Done);
    CHECK(st[4].state == State::Pending);
    // Queued and running tasks are not submitted again, lost ones are rerun by --only-failed.
    const auto todo = select_tasks(st, true);
    REQUIRE(todo.size() == 1);
    CHECK(todo[0] == &spec.tasks[2]);
    CHECK(select_tasks(st, false).size() == 1 + (spec.tasks.size() - 4));
}

TEST_CASE("sweep tasks replay for real, and collect merges them into one JSON and one CSV", "[sweep]") {
    TempDir d;
    small_trace(d.path / "a.trace", 3);
    write(d.path / "broken.trace", "# odf-trace v1\n1 frobnicate\n");
    const Spec spec = parse(R"({"name": "real", "modes": ["classic", "odf"], "inputs": [
        {"traces": ["a.trace", "broken.trace"]},
        {"generator": "fork-sweep", "params": {"size": [0.25, 0.5]}, "modes": ["odf"]}]})",
                            d.str());
    REQUIRE(spec.tasks.size() == 6);
    const Store store((d.path / "out").string());
    const auto res = execute(all(spec), store, quiet());
    CHECK(res[0].ok);
    CHECK(res[1].ok);
    CHECK_FALSE(res[2].ok); // broken.trace
    CHECK_FALSE(res[3].ok);
    CHECK_THAT(res[2].reason, Catch::StartsWith("exit status 2") && Catch::Contains("broken.trace:2: "));
    CHECK(res[4].ok);
    CHECK(res[5].ok);
    const auto r = store.result(spec.tasks[4].id);
    REQUIRE(r);
    CHECK((*r)["result"]["mode"] == "odf");
    CHECK((*r)["cost_model"] == "default");
    CHECK((*r)["result"]["fork_latency_us"]["p50"].get<double>() > 0);
    // The same result as replaying the same task in this process.
    CHECK(run_task(spec.tasks[4]) == *r);

    const Collected c = collect(spec, store);
    CHECK(c.done == 4);
    CHECK(c.missing == 2);
    CHECK(c.json["missing"] == json({spec.tasks[2].id, spec.tasks[3].id}));
    CHECK(c.json["params"] == json({"base", "repeat", "size"}));
    std::istringstream csv(c.csv);
    std::string header;
    std::getline(csv, header);
    CHECK_THAT(header, Catch::StartsWith("id,input,generator,base,repeat,size,mode,cost_model,"));
    CHECK_THAT(header, Catch::Contains(",fork_latency_us.p50,") && Catch::Contains(",total_us"));
    std::vector<std::string> lines;
    for (std::string l; std::getline(csv, l);) {
        lines.push_back(l);
    }
    REQUIRE(lines.size() == 4);
    CHECK_THAT(lines[0], Catch::StartsWith(spec.tasks[0].id + ",a.trace,,,,,classic,default,"));
    CHECK_THAT(lines[3], Catch::StartsWith(spec.tasks[5].id + ",gen fork-sweep,fork-sweep,0x100000000000,1,0.5,odf,"));
}
