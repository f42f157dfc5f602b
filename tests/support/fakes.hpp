// In-memory source and sink for testing the engine without plugins.
#pragma once

#include <dirsync/plugin.hpp>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace dirsync::test {

class FakeSource final : public Source {
 public:
  std::vector<Change> changes;
  bool complete = true;
  std::string cursor_out = "cursor-1";
  ReadMode mode_out = ReadMode::incremental;  ///< what an incremental request reports back
  int throw_after = -1;  ///< throw Error(read) after emitting this many changes
  std::function<void(const Change&)> on_emit;  ///< called before each change is emitted
  ReadRequest last_request;

  ReadResult read(const ReadRequest& request, Emitter& out) override {
    last_request = request;
    int n = 0;
    for (const auto& c : changes) {
      if (throw_after >= 0 && n == throw_after) throw Error(ErrorKind::read, "page 2 failed: HTTP 503 after retries");
      if (on_emit) on_emit(c);
      Change copy = c;
      out.emit(std::move(copy));
      ++n;
    }
    if (throw_after >= 0 && n == throw_after) throw Error(ErrorKind::read, "page 2 failed: HTTP 503 after retries");
    return {complete, request.mode == ReadMode::incremental ? mode_out : ReadMode::full, cursor_out, ""};
  }
  std::vector<std::string> test_connection() override { return {"fake"}; }
};

struct FakeObject {
  ObjectType type = ObjectType::user;
  Object attributes;
  std::set<std::string> members;
  bool disabled = false;
};

class FakeSink final : public Sink {
 public:
  std::map<std::string, FakeObject> objects;
  std::vector<Operation> log;       ///< every operation applied
  std::set<std::string> fail_for;   ///< source ids whose operations fail
  int next_id = 1;
  int finds = 0;                    ///< find() calls
  bool knows_empty = true;          ///< answer is_empty() truthfully, else "unknown"
  int finishes = 0;                 ///< finish() calls
  std::size_t applied_at_finish = 0;  ///< log.size() at the last finish()
  std::function<void(const Operation&)> on_apply;  ///< called for each operation before it is applied

  void prepare(const std::vector<TargetSchema>&) override {}
  void finish() override {
    ++finishes;
    applied_at_finish = log.size();
  }
  bool is_empty(ObjectType type) override {
    if (!knows_empty) return false;
    for (const auto& [id, o] : objects)
      if (o.type == type) return false;
    return true;
  }
  std::vector<std::string> find(ObjectType type, const std::string& attribute, const Value& value,
                                bool ignore_case) override {
    ++finds;
    std::vector<std::string> out;
    auto lower = [](std::string s) {
      for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return s;
    };
    for (const auto& [id, o] : objects) {
      if (o.type != type) continue;
      const Value* v = o.attributes.find(attribute);
      if (!v) continue;
      if (ignore_case ? lower(v->to_string()) == lower(value.to_string()) : *v == value) out.push_back(id);
    }
    return out;
  }
  void apply(std::span<const Operation> ops, std::span<OpResult> results) override {
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const Operation& op = ops[i];
      if (on_apply) on_apply(op);
      log.push_back(op);
      if (fail_for.count(op.source_id)) {
        results[i] = {false, "", "constraint violation on " + op.source_id};
        continue;
      }
      std::string id = op.target_id;
      if (op.kind == OpKind::create) {
        id = "t" + std::to_string(next_id++);
        objects[id].type = op.type;
      }
      FakeObject& o = objects[id];
      for (const auto& [k, v] : op.attributes) o.attributes.set(k, v);
      for (const auto& m : op.members_add) o.members.insert(m);
      for (const auto& m : op.members_remove) o.members.erase(m);
      if (op.kind == OpKind::disable) o.disabled = true;
      if (op.kind == OpKind::remove) objects.erase(id);
      results[i] = {true, id, ""};
    }
  }
  std::vector<std::string> test_connection() override { return {"fake"}; }

  std::size_t count(OpKind kind) const {
    std::size_t n = 0;
    for (const auto& op : log) n += op.kind == kind;
    return n;
  }
};

inline Change user(std::string id, Object attributes, ChangeKind kind = ChangeKind::upsert) {
  Change c;
  c.kind = kind;
  c.record.type = ObjectType::user;
  c.record.id = std::move(id);
  c.record.attributes = std::move(attributes);
  return c;
}

inline Change group(std::string id, Object attributes, std::vector<std::string> members) {
  Change c;
  c.record.type = ObjectType::group;
  c.record.id = std::move(id);
  c.record.attributes = std::move(attributes);
  c.record.members = std::move(members);
  return c;
}

}  // namespace dirsync::test
