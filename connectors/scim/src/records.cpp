#include "records.hpp"

#include "filter.hpp"

namespace dirsync::scim {

Change to_change(ResourceKind kind, Object resource, bool deleted, const RecordOptions& options) {
  Change change;
  Record& r = change.record;
  r.type = kind == ResourceKind::user ? ObjectType::user : ObjectType::group;
  if (const Value* id = resource.find("id"); id && id->is_string()) r.id = id->as_string();
  resource.erase("schemas");
  if (kind == ResourceKind::group) {
    if (const Value* members = find_ci(resource, "members"); members && members->is_list()) {
      for (const Value& m : members->as_list()) {
        const Value* v = m.is_object() ? find_ci(m.as_object(), "value") : &m;
        if (v && v->is_string() && !v->as_string().empty()) r.members.push_back(v->as_string());
      }
    }
    resource.erase("members");
  }
  if (options.flatten_enterprise) {
    if (const Value* ext = find_ci(resource, kEnterpriseSchema); ext && ext->is_object()) {
      Object copy = ext->as_object();
      for (auto& [k, v] : copy) {
        if (!resource.find(k)) resource.set(k, std::move(v));
      }
    }
  }
  bool inactive = false;
  if (const Value* active = resource.find("active"); active && active->is_bool()) inactive = !active->as_bool();
  r.attributes = std::move(resource);
  if (deleted) {
    change.kind = ChangeKind::deleted;
  } else if (inactive && options.inactive_is_soft_delete) {
    change.kind = ChangeKind::soft_deleted;
  }
  return change;
}

}  // namespace dirsync::scim
