#include "testing/memory_sink.hpp"

#include <algorithm>

namespace dirsync {

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}
}  // namespace

void MemorySink::seed(std::string target_id, ObjectType type, Object attributes) {
  objects_[std::move(target_id)] = Entry{type, std::move(attributes), {}, false};
}

std::vector<std::string> MemorySink::find(ObjectType type, const std::string& attribute, const Value& value,
                                          bool ignore_case) {
  std::vector<std::string> out;
  for (const auto& [id, e] : objects_) {
    if (e.type != type) continue;
    const Value* v = e.attributes.find(attribute);
    if (!v) continue;
    bool equal = ignore_case ? lower(v->to_string()) == lower(value.to_string()) : v->to_string() == value.to_string();
    if (equal) out.push_back(id);
  }
  return out;
}

void MemorySink::apply(std::span<const Operation> ops, std::span<OpResult> results) {
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const Operation& op = ops[i];
    operations_.push_back(op);
    std::string id = op.target_id;
    if (op.kind == OpKind::create) {
      id = "target-" + std::to_string(next_id_++);
      objects_[id].type = op.type;
    } else if (!objects_.count(id)) {
      results[i] = {false, "", "no such target object " + id};
      continue;
    }
    Entry& e = objects_[id];
    for (const auto& [k, v] : op.attributes) e.attributes.set(k, v);
    for (const auto& m : op.members_add) e.members.insert(m);
    for (const auto& m : op.members_remove) e.members.erase(m);
    if (op.kind == OpKind::disable) e.disabled = true;
    if (op.kind == OpKind::update) e.disabled = false;
    if (op.kind == OpKind::remove) objects_.erase(id);
    results[i] = {true, id, ""};
  }
}

}  // namespace dirsync
