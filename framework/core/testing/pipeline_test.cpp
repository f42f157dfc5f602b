#include "testing/pipeline_test.hpp"

#include "config/pipeline_config.hpp"
#include "state/state_store.hpp"
#include "sync/runner.hpp"
#include "testing/memory_sink.hpp"

#include <yaml-cpp/yaml.h>

#include <random>

namespace dirsync {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& file, const YAML::Node& node, const std::string& message) {
  auto m = node.Mark();
  throw Error(ErrorKind::config, file.string() + ":" + std::to_string(m.line + 1) + ":" +
                                     std::to_string(m.column + 1) + ": error: " + message);
}

Value to_value(const YAML::Node& node) { return yaml_to_value(node); }

class ListSource final : public Source {
 public:
  std::vector<Change> changes;
  bool complete = true;
  ReadResult read(const ReadRequest& request, Emitter& out) override {
    for (auto c : changes) out.emit(std::move(c));
    return {complete, request.mode, "test-cursor", ""};
  }
  std::vector<std::string> test_connection() override { return {}; }
};

class QuietLogger final : public Logger {
 public:
  void log(LogLevel, std::string_view) override {}
};

ObjectType type_of(const fs::path& file, const YAML::Node& n) {
  if (!n["type"]) return ObjectType::user;
  try {
    return object_type_from_string(n["type"].Scalar());
  } catch (const std::exception& e) {
    fail(file, n["type"], e.what());
  }
}

Change parse_change(const fs::path& file, const YAML::Node& n) {
  if (!n.IsMap() || !n["id"]) fail(file, n, "an input object needs an 'id'");
  Change c;
  c.record.type = type_of(file, n);
  c.record.id = n["id"].Scalar();
  if (n["attributes"]) {
    Value v = to_value(n["attributes"]);
    if (!v.is_object()) fail(file, n["attributes"], "'attributes' must be a mapping");
    c.record.attributes = std::move(v.as_object());
  }
  if (n["members"])
    for (const auto& m : n["members"]) c.record.members.push_back(m.Scalar());
  if (n["members_removed"])
    for (const auto& m : n["members_removed"]) c.record.members_removed.push_back(m.Scalar());
  if (n["partial"]) c.record.partial = n["partial"].as<bool>();
  if (n["kind"]) {
    std::string k = n["kind"].Scalar();
    if (k == "upsert") c.kind = ChangeKind::upsert;
    else if (k == "soft_deleted") c.kind = ChangeKind::soft_deleted;
    else if (k == "deleted") c.kind = ChangeKind::deleted;
    else fail(file, n["kind"], "kind must be upsert, soft_deleted or deleted, not '" + k + "'");
  }
  return c;
}

std::string describe(const Operation& op) {
  std::string s = std::string(to_string(op.kind)) + " " + std::string(to_string(op.type)) + " " + op.source_id;
  if (!op.attributes.empty()) s += " " + to_json(Value(op.attributes));
  if (!op.members_add.empty()) s += " +" + std::to_string(op.members_add.size()) + " members";
  if (!op.members_remove.empty()) s += " -" + std::to_string(op.members_remove.size()) + " members";
  return s;
}

void check_run(const fs::path& file, const YAML::Node& expect, const RunReport& report,
               const std::vector<Operation>& ops, std::vector<std::string>& failures) {
  if (!expect) return;
  if (const auto& counts = expect["counts"]) {
    const std::pair<const char*, std::int64_t> actual[] = {
        {"processed", report.counts.processed}, {"created", report.counts.created},
        {"updated", report.counts.updated},     {"disabled", report.counts.disabled},
        {"deleted", report.counts.deleted},     {"skipped", report.counts.skipped},
        {"failed", report.counts.failed}};
    for (auto it = counts.begin(); it != counts.end(); ++it) {
      std::string key = it->first.Scalar();
      bool known = false;
      for (const auto& [name, value] : actual) {
        if (key != name) continue;
        known = true;
        std::int64_t want = it->second.as<std::int64_t>();
        if (want != value)
          failures.push_back("expected " + key + " " + std::to_string(want) + ", got " + std::to_string(value));
      }
      if (!known) fail(file, it->first, "unknown count '" + key + "'");
    }
  }
  if (expect["status"] && expect["status"].Scalar() != report.status)
    failures.push_back("expected status " + expect["status"].Scalar() + ", got " + report.status);
  if (const auto& expected_ops = expect["operations"]) {
    std::vector<bool> used(ops.size(), false);
    for (const auto& e : expected_ops) {
      std::string kind = e["op"] ? e["op"].Scalar() : "";
      std::string sid = e["source_id"] ? e["source_id"].Scalar() : "";
      ObjectType type = type_of(file, e);
      bool found = false;
      std::string near;
      for (std::size_t i = 0; i < ops.size() && !found; ++i) {
        const Operation& op = ops[i];
        if (used[i] || op.type != type || (!sid.empty() && op.source_id != sid)) continue;
        if (!kind.empty() && to_string(op.kind) != kind) {
          near = describe(op);
          continue;
        }
        bool attrs_ok = true;
        if (e["attributes"]) {
          Value want = to_value(e["attributes"]);
          for (const auto& [k, v] : want.as_object()) {
            const Value* got = op.attributes.find(k);
            if (!got ? !v.is_null() : (*got != v && got->to_string() != v.to_string())) attrs_ok = false;
          }
        }
        if (e["absent"])
          for (const auto& a : e["absent"])
            if (op.attributes.find(a.Scalar())) attrs_ok = false;
        if (!attrs_ok) {
          near = describe(op);
          continue;
        }
        used[i] = true;
        found = true;
      }
      if (!found) {
        std::string want = (kind.empty() ? "an operation" : kind) + " " + std::string(to_string(type)) + " " + sid;
        if (e["attributes"]) want += " " + to_json(to_value(e["attributes"]));
        failures.push_back("expected " + want + (near.empty() ? ", found none" : ", got " + near));
      }
    }
    if (expect["only"] && expect["only"].as<bool>())
      for (std::size_t i = 0; i < ops.size(); ++i)
        if (!used[i]) failures.push_back("unexpected " + describe(ops[i]));
  }
}

}  // namespace

std::vector<PipelineTestResult> run_pipeline_tests(const fs::path& test_file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(test_file.string());
  } catch (const YAML::BadFile&) {
    throw Error(ErrorKind::config, test_file.string() + ": error: cannot open test file");
  } catch (const YAML::Exception& e) {
    fail(test_file, YAML::Node(), "malformed YAML: " + e.msg);
  }
  if (!root["pipeline"]) fail(test_file, root, "missing key 'pipeline' (the pipeline file under test)");
  if (!root["cases"] || !root["cases"].IsSequence()) fail(test_file, root, "missing list 'cases'");
  fs::path pipeline_file = test_file.parent_path() / root["pipeline"].Scalar();
  PipelineConfig config = load_pipeline(pipeline_file);

  std::vector<PipelineTestResult> results;
  std::random_device rd;
  for (const auto& c : root["cases"]) {
    PipelineTestResult result;
    result.name = c["name"] ? c["name"].Scalar() : "case " + std::to_string(results.size() + 1);
    fs::path dir = fs::temp_directory_path() / ("dirsync-pipeline-test-" + std::to_string(rd()));
    fs::create_directories(dir);
    try {
      MemorySink sink;
      if (c["existing"])
        for (const auto& e : c["existing"]) {
          Value attrs = to_value(e["attributes"]);
          sink.seed(e["id"].Scalar(), type_of(test_file, e), attrs.is_object() ? attrs.as_object() : Object{});
        }
      StateStore state(dir / "state.db", config.name);
      QuietLogger log;
      Redactor redactor;
      std::vector<YAML::Node> runs;
      if (c["runs"]) for (const auto& r : c["runs"]) runs.push_back(r);
      else runs.push_back(c);
      for (std::size_t i = 0; i < runs.size(); ++i) {
        ListSource source;
        if (runs[i]["input"])
          for (const auto& n : runs[i]["input"]) source.changes.push_back(parse_change(test_file, n));
        if (runs[i]["complete"]) source.complete = runs[i]["complete"].as<bool>();
        RunOptions options;
        options.full = !runs[i]["incremental"] || !runs[i]["incremental"].as<bool>();
        options.accept_deletions = runs[i]["accept_deletions"] && runs[i]["accept_deletions"].as<bool>();
        std::size_t before = sink.operations().size();
        RunReport report = Runner(config, source, sink, state, log, redactor).run(options);
        std::vector<Operation> ops(sink.operations().begin() + static_cast<std::ptrdiff_t>(before),
                                   sink.operations().end());
        std::vector<std::string> failures;
        check_run(test_file, runs[i]["expect"], report, ops, failures);
        for (auto& f : failures)
          result.failures.push_back(runs.size() > 1 ? "run " + std::to_string(i + 1) + ": " + f : f);
      }
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::config) {
        fs::remove_all(dir);
        throw;
      }
      result.failures.push_back(std::string("stopped: ") + e.what());
    }
    fs::remove_all(dir);
    result.passed = result.failures.empty();
    results.push_back(std::move(result));
  }
  return results;
}

}  // namespace dirsync
