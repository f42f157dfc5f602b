// The record model: what a source emits and what the pipeline maps.
#pragma once

#include <dirsync/value.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace dirsync {

enum class ObjectType : std::uint8_t { user, group };

std::string_view to_string(ObjectType type);
/// "user"/"users" and "group"/"groups"; throws std::invalid_argument otherwise.
ObjectType object_type_from_string(std::string_view text);

/// One directory object as the source knows it.
struct Record {
  ObjectType type = ObjectType::user;
  /// Stable source id (Graph object id, Google id, SCIM id, file id column).
  std::string id;
  /// Source attributes under the source's own names (nested JSON kept nested).
  Object attributes;
  /// Groups only: source ids of direct members (users or groups).
  std::vector<std::string> members;
  /// Groups only, partial records only: source ids of members removed.
  std::vector<std::string> members_removed;
  /// True when `attributes`/`members` carry only what changed (Graph delta);
  /// the host merges the record with the last full state it stored.
  bool partial = false;
};

enum class ChangeKind : std::uint8_t {
  upsert,        ///< created or updated in the source
  soft_deleted,  ///< deleted but restorable (Entra "@removed": changed) -> disable
  deleted,       ///< gone for good
};

struct Change {
  ChangeKind kind = ChangeKind::upsert;
  Record record;
};

}  // namespace dirsync
