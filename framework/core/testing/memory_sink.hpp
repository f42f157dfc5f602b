// A sink that keeps target objects in memory: `dirsync test` runs pipelines
// against it, so a pipeline change can be tested before it touches a directory.
#pragma once

#include <dirsync/plugin.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace dirsync {

class MemorySink final : public Sink {
 public:
  struct Entry {
    ObjectType type = ObjectType::user;
    Object attributes;
    std::set<std::string> members;
    bool disabled = false;
  };

  /// Adds an object as if it already existed in the target (for matching).
  void seed(std::string target_id, ObjectType type, Object attributes);

  void prepare(const std::vector<TargetSchema>&) override {}
  std::vector<std::string> find(ObjectType type, const std::string& attribute, const Value& value,
                                bool ignore_case) override;
  void apply(std::span<const Operation> ops, std::span<OpResult> results) override;
  std::vector<std::string> test_connection() override { return {"in memory"}; }
  bool is_empty(ObjectType type) override {
    for (const auto& [id, entry] : objects_)
      if (entry.type == type) return false;
    return true;
  }

  const std::map<std::string, Entry>& objects() const { return objects_; }
  const std::vector<Operation>& operations() const { return operations_; }

 private:
  std::map<std::string, Entry> objects_;
  std::vector<Operation> operations_;
  int next_id_ = 1;
};

}  // namespace dirsync
