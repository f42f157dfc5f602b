#include "resource.hpp"

#include "filter.hpp"
#include "scim_error.hpp"

#include <algorithm>

namespace dirsync::scim {

namespace {

bool is_extension_key(std::string_view key) { return key.size() > 4 && iequals(key.substr(0, 4), "urn:"); }

void coerce_bool(Value& v) {
  if (!v.is_string()) return;
  if (iequals(v.as_string(), "true")) {
    v = true;
  } else if (iequals(v.as_string(), "false")) {
    v = false;
  }
}

// Canonical spelling and boolean coercion for one attribute value whose
// definition is `def` (nullptr for attributes this server does not know).
void normalize_value(Value& v, const AttrDef* def) {
  if (!def) return;
  if (def->type == "boolean") coerce_bool(v);
  if (def->type != "complex") return;
  auto fix_object = [&](Object& o) {
    Object fixed;
    for (auto& [key, value] : o) {
      const AttrDef* sub = nullptr;
      for (const AttrDef& s : def->sub) {
        if (iequals(s.name, key)) sub = &s;
      }
      normalize_value(value, sub);
      fixed.set(sub ? std::string(sub->name) : key, std::move(value));
    }
    o = std::move(fixed);
  };
  if (v.is_object()) fix_object(v.as_object());
  if (v.is_list()) {
    for (Value& item : v.as_list()) {
      if (item.is_object()) fix_object(item.as_object());
    }
  }
}

const AttrDef* find_def(const std::vector<AttrDef>& defs, std::string_view name) {
  for (const AttrDef& d : defs) {
    if (iequals(d.name, name)) return &d;
  }
  return nullptr;
}

const std::vector<AttrDef>& defs_for(ResourceKind kind) {
  return kind == ResourceKind::user ? user_attributes() : group_attributes();
}

void normalize_extension(Object& ext) {
  Object fixed;
  for (auto& [key, value] : ext) {
    const AttrDef* def = find_def(enterprise_attributes(), key);
    if (def && def->name == "manager" && value.is_string()) value = Object{{"value", value.as_string()}};
    normalize_value(value, def);
    fixed.set(def ? std::string(def->name) : key, std::move(value));
  }
  ext = std::move(fixed);
}

}  // namespace

bool json_depth_within(std::string_view json, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

void normalize(Object& resource, ResourceKind kind) {
  Object out;
  for (auto& [key, value] : resource) {
    if (is_extension_key(key)) {
      std::string urn = iequals(key, kEnterpriseSchema) ? std::string(kEnterpriseSchema) : key;
      if (value.is_object() && urn == kEnterpriseSchema) normalize_extension(value.as_object());
      out.set(std::move(urn), std::move(value));
      continue;
    }
    const AttrDef* def = find_def(defs_for(kind), key);
    if (def && (def->mutability == "readOnly" || def->returned == "never")) continue;
    if (iequals(key, "schemas")) {
      out.set("schemas", std::move(value));
      continue;
    }
    normalize_value(value, def);
    out.set(def ? std::string(def->name) : key, std::move(value));
  }
  resource = std::move(out);
}

// ------------------------------------------------------------- projection ---

namespace {

// Copies `path` from `from` into `to`, creating the containers on the way.
void copy_path(const Object& from, Object& to, const AttrPath& p) {
  const Object* base = &from;
  Object* target = &to;
  std::string base_key;
  if (!p.urn.empty() && !iequals(p.urn, kUserSchema) && !iequals(p.urn, kGroupSchema)) {
    const Value* ext = find_ci(from, p.urn);
    if (!ext || !ext->is_object()) return;
    if (p.attr.empty()) {
      to.set(std::string(p.urn), *ext);
      return;
    }
    base = &ext->as_object();
    Value* t = find_ci(to, p.urn);
    if (!t) {
      to.set(std::string(kEnterpriseSchema) == p.urn ? std::string(kEnterpriseSchema) : p.urn, Object{});
      t = find_ci(to, p.urn);
    }
    target = &t->as_object();
  }
  const Value* v = find_ci(*base, p.attr);
  if (!v && p.urn.empty()) {
    // Unqualified extension attribute: look in the extensions, keep it there.
    for (const auto& [key, value] : from) {
      if (is_extension_key(key) && value.is_object() && find_ci(value.as_object(), p.attr)) {
        copy_path(from, to, AttrPath{key, p.attr, p.sub});
        return;
      }
    }
  }
  if (!v) return;
  std::string key;
  for (const auto& [k, value] : *base) {
    if (&value == v) key = k;
  }
  if (p.sub.empty()) {
    target->set(key, *v);
    return;
  }
  auto pick = [&](const Value& item) -> Value {
    Object o;
    if (!item.is_object()) return o;
    if (const Value* s = find_ci(item.as_object(), p.sub)) {
      for (const auto& [k, value] : item.as_object()) {
        if (&value == s) o.set(k, value);
      }
    }
    return o;
  };
  if (v->is_list()) {
    Value* existing = target->find(key);
    List merged;
    const List& items = v->as_list();
    for (std::size_t i = 0; i < items.size(); ++i) {
      Value picked = pick(items[i]);
      if (existing && existing->is_list() && i < existing->as_list().size() && existing->as_list()[i].is_object()) {
        Object combined = existing->as_list()[i].as_object();
        for (const auto& [k, value] : picked.as_object()) combined.set(k, value);
        merged.push_back(std::move(combined));
      } else {
        merged.push_back(std::move(picked));
      }
    }
    target->set(key, std::move(merged));
  } else if (v->is_object()) {
    Value* existing = target->find(key);
    Object combined = existing && existing->is_object() ? existing->as_object() : Object{};
    Value picked = pick(*v);
    for (const auto& [k, value] : picked.as_object()) combined.set(k, value);
    target->set(key, std::move(combined));
  }
}

void remove_path(Object& obj, const AttrPath& p) {
  Object* base = &obj;
  if (!p.urn.empty() && !iequals(p.urn, kUserSchema) && !iequals(p.urn, kGroupSchema)) {
    Value* ext = find_ci(obj, p.urn);
    if (!ext || !ext->is_object()) return;
    if (p.attr.empty()) {
      for (const auto& [k, value] : obj) {
        if (&value == ext) {
          std::string key = k;
          obj.erase(key);
          return;
        }
      }
    }
    base = &ext->as_object();
  }
  auto erase_ci = [](Object& o, std::string_view name) {
    std::string key;
    for (const auto& [k, value] : o) {
      if (iequals(k, name)) key = k;
    }
    if (!key.empty()) o.erase(key);
  };
  Value* v = find_ci(*base, p.attr);
  if (!v && p.urn.empty()) {
    for (auto& [key, value] : obj) {
      if (is_extension_key(key) && value.is_object() && find_ci(value.as_object(), p.attr)) {
        remove_path(obj, AttrPath{key, p.attr, p.sub});
        return;
      }
    }
  }
  if (!v) return;
  if (p.sub.empty()) {
    erase_ci(*base, p.attr);
  } else if (v->is_object()) {
    erase_ci(v->as_object(), p.sub);
  } else if (v->is_list()) {
    for (Value& item : v->as_list()) {
      if (item.is_object()) erase_ci(item.as_object(), p.sub);
    }
  }
}

}  // namespace

Object project(const Object& resource, const std::vector<std::string>& attributes,
               const std::vector<std::string>& excluded) {
  if (!attributes.empty()) {
    Object out;
    if (const Value* s = resource.find("schemas")) out.set("schemas", *s);
    if (const Value* id = resource.find("id")) out.set("id", *id);
    for (const std::string& a : attributes) copy_path(resource, out, parse_attr_path(a));
    return out;
  }
  if (excluded.empty()) return resource;
  Object out = resource;
  for (const std::string& a : excluded) {
    AttrPath p = parse_attr_path(a);
    if (p.sub.empty() && (iequals(p.attr, "id") || iequals(p.attr, "schemas"))) continue;  // returned: always
    remove_path(out, p);
  }
  return out;
}

// ------------------------------------------------------------------ PATCH ---

namespace {

enum class Op { add, replace, remove };

// Two values of a multi-valued attribute are the same entry when they are
// equal, or when both are complex and carry the same "value".
bool same_entry(const Value& a, const Value& b) {
  if (a == b) return true;
  if (!a.is_object() || !b.is_object()) return false;
  const Value* va = a.as_object().find("value");
  const Value* vb = b.as_object().find("value");
  return va && vb && *va == *vb;
}

struct Patcher {
  Object& resource;
  ResourceKind kind;

  // The object holding `p.attr`: the resource, or its extension object
  // (created for writes, with its URN added to "schemas").
  Object* container(const AttrPath& p, bool create) {
    std::string urn = p.urn;
    if (urn.empty() && kind == ResourceKind::user && !find_def(user_attributes(), p.attr) &&
        find_def(enterprise_attributes(), p.attr)) {
      urn = std::string(kEnterpriseSchema);
    }
    if (urn.empty() || iequals(urn, core_schema(kind))) return &resource;
    if (kind == ResourceKind::group || !iequals(urn, kEnterpriseSchema))
      throw invalid_path("invalid path: unsupported schema '" + urn + "'");
    Value* ext = find_ci(resource, kEnterpriseSchema);
    if (!ext || !ext->is_object()) {
      if (!create) return nullptr;
      resource.set(std::string(kEnterpriseSchema), Object{});
      ext = resource.find(kEnterpriseSchema);
      add_schema(kEnterpriseSchema);
    }
    return &ext->as_object();
  }

  void add_schema(std::string_view urn) {
    Value* schemas = resource.find("schemas");
    if (!schemas || !schemas->is_list()) {
      resource.set("schemas", List{Value(std::string(core_schema(kind)))});
      schemas = resource.find("schemas");
    }
    for (const Value& s : schemas->as_list()) {
      if (s.is_string() && iequals(s.as_string(), urn)) return;
    }
    schemas->as_list().push_back(std::string(urn));
  }

  const AttrDef* def_of(const AttrPath& p) const { return find_attr(kind, p.attr); }

  void check_mutable(const AttrPath& p) const {
    if (p.attr.empty()) return;
    if (iequals(p.attr, "schemas")) throw mutability("attribute 'schemas' cannot be patched");
    const AttrDef* d = def_of(p);
    if (d && d->mutability == "readOnly") throw mutability("attribute '" + p.attr + "' is read-only");
  }

  std::string key_for(const Object& base, const AttrPath& p) const {
    for (const auto& [k, value] : base) {
      if (iequals(k, p.attr)) return k;
    }
    return canonical_name(kind, p.attr);
  }

  void apply(Op op, const std::optional<PatchPath>& path, const Value* value) {
    if (!path) {
      if (op == Op::remove) throw no_target("remove needs a path");
      if (!value || !value->is_object())
        throw invalid_value("add and replace without a path need an object value");
      for (const auto& [key, v] : value->as_object()) {
        if (is_extension_key(key) && v.is_object() && (iequals(key, kEnterpriseSchema) || iequals(key, kUserSchema) ||
                                                       iequals(key, kGroupSchema))) {
          for (const auto& [sub_key, sub_value] : v.as_object()) {
            PatchPath pp = parse_patch_path(key + ":" + sub_key);
            apply_one(op, pp, &sub_value);
          }
          continue;
        }
        if (iequals(key, "schemas")) continue;
        if (iequals(key, "id")) {
          // Okta renames a group with {"op":"replace","value":{"id":"<its id>","displayName":...}}.
          const Value* id = resource.find("id");
          if (id && v == *id) continue;
        }
        PatchPath pp = parse_patch_path(key);
        apply_one(op, pp, &v);
      }
      return;
    }
    apply_one(op, *path, value);
  }

  static std::vector<Value> as_values(const Value& v) {
    if (v.is_list()) return v.as_list();
    return {v};
  }

  void apply_one(Op op, const PatchPath& pp, const Value* raw) {
    const AttrPath& p = pp.attr;
    check_mutable(p);
    if (op != Op::remove && !raw) throw invalid_value("'" + p.to_string() + "': add and replace need a value");
    if (p.attr.empty()) {
      // The whole extension: its attributes one by one.
      if (op == Op::remove) {
        Object* c = container(AttrPath{p.urn, "x", {}}, false);
        if (c) c->clear();
        return;
      }
      if (!raw->is_object()) throw invalid_value("a schema extension needs an object value");
      for (const auto& [k, v] : raw->as_object()) apply_one(op, parse_patch_path(p.urn + ":" + k), &v);
      return;
    }
    Value value = raw ? *raw : Value();
    const AttrDef* def = def_of(p);
    if (def && def->type == "complex" && !def->multi && p.sub.empty() && value.is_string()) {
      // Entra sends the enterprise manager as a bare id.
      value = value.as_string().empty() ? Value() : Value(Object{{"value", value.as_string()}});
    }
    if (op != Op::remove && value.is_null()) op = Op::remove;  // null means "unassigned" (RFC 7644 §3.5.2)
    Object* base = container(p, op != Op::remove);
    if (!base) return;
    std::string key = key_for(*base, p);
    Value* current = base->find(key);

    if (pp.filter) {
      if (op != Op::remove && !current) {
        if (op == Op::replace && p.sub.empty()) throw no_target("no value of '" + p.attr + "' matches the filter");
      }
      if (current && !current->is_list()) throw invalid_path("'" + p.attr + "' is not multi-valued");
      List empty;
      List& items = current ? current->as_list() : empty;
      bool matched = false;
      for (auto it = items.begin(); it != items.end();) {
        if (!matches_element(*pp.filter, *it, kind, p.attr)) {
          ++it;
          continue;
        }
        matched = true;
        if (op == Op::remove) {
          if (p.sub.empty()) {
            it = items.erase(it);
            continue;
          }
          if (it->is_object()) it->as_object().erase(canonical_name(kind, p.sub, p.attr));
        } else if (!p.sub.empty()) {
          if (!it->is_object()) throw invalid_path("'" + p.attr + "' values have no sub-attributes");
          it->as_object().set(canonical_name(kind, p.sub, p.attr), value);
        } else if (value.is_object() && it->is_object()) {
          for (const auto& [k, v] : value.as_object()) it->as_object().set(canonical_name(kind, k, p.attr), v);
        } else {
          *it = value;
        }
        ++it;
      }
      if (!matched && op != Op::remove) {
        if (p.sub.empty() && op == Op::replace) throw no_target("no value of '" + p.attr + "' matches the filter");
        // Entra adds emails[type eq "work"].value to a user without one: create
        // the entry the filter describes.
        Object entry = p.sub.empty() ? Object{} : entry_from_filter(*pp.filter);
        if (!p.sub.empty()) {
          entry.set(canonical_name(kind, p.sub, p.attr), value);
        } else if (value.is_object()) {
          entry = value.as_object();
        }
        if (!current) {
          base->set(key, List{});
          current = base->find(key);
        }
        current->as_list().push_back(std::move(entry));
      }
      return;
    }

    if (!p.sub.empty()) {
      std::string sub = canonical_name(kind, p.sub, p.attr);
      if (op == Op::remove) {
        if (!current) return;
        if (current->is_object()) current->as_object().erase(sub);
        if (current->is_list()) {
          for (Value& item : current->as_list()) {
            if (item.is_object()) item.as_object().erase(sub);
          }
        }
        return;
      }
      if (current && current->is_list()) {
        for (Value& item : current->as_list()) {
          if (item.is_object()) item.as_object().set(sub, value);
        }
        return;
      }
      if (!current || !current->is_object()) {
        base->set(key, Object{});
        current = base->find(key);
      }
      current->as_object().set(sub, value);
      return;
    }

    bool multi = (def && def->multi) || (current && current->is_list()) || (!def && value.is_list());
    if (op == Op::remove) {
      if (multi && raw && !raw->is_null() && current && current->is_list()) {
        // Entra removes members as {"op":"Remove","path":"members","value":[{"value":"id"}]}.
        List& items = current->as_list();
        for (const Value& gone : as_values(*raw)) {
          items.erase(std::remove_if(items.begin(), items.end(), [&](const Value& v) { return same_entry(v, gone); }),
                      items.end());
        }
        return;
      }
      base->erase(key);
      return;
    }
    if (multi) {
      List incoming = as_values(value);
      if (op == Op::replace || !current || !current->is_list()) {
        base->set(key, List{});
        current = base->find(key);
      }
      List& items = current->as_list();
      for (Value& v : incoming) {
        auto same = std::find_if(items.begin(), items.end(), [&](const Value& e) { return same_entry(e, v); });
        if (same == items.end()) {
          items.push_back(std::move(v));
        } else if (op == Op::add && same->is_object() && v.is_object()) {
          for (const auto& [k, sub] : v.as_object()) same->as_object().set(k, sub);
        }
      }
      return;
    }
    if (current && current->is_object() && value.is_object()) {
      // Complex single-valued: the given sub-attributes replace, others stay.
      for (const auto& [k, v] : value.as_object()) current->as_object().set(canonical_name(kind, k, p.attr), v);
      return;
    }
    base->set(key, std::move(value));
  }

  // {type: "work"} from `type eq "work"` (and conjunctions of such).
  static Object entry_from_filter(const Filter& f) {
    Object o;
    if (f.kind == Filter::Kind::compare && f.op == CompareOp::eq && f.path.sub.empty()) {
      o.set(f.path.attr, f.literal);
    } else if (f.kind == Filter::Kind::logical_and) {
      for (const auto& [k, v] : entry_from_filter(*f.left)) o.set(k, v);
      for (const auto& [k, v] : entry_from_filter(*f.right)) o.set(k, v);
    }
    return o;
  }
};

}  // namespace

void apply_patch(Object& resource, const Value& body, ResourceKind kind) {
  if (!body.is_object()) throw invalid_syntax("a patch body must be a json object");
  const Value* ops = find_ci(body.as_object(), "Operations");
  if (!ops || !ops->is_list()) throw invalid_syntax("a patch body needs an 'Operations' list");
  Patcher patcher{resource, kind};
  for (const Value& item : ops->as_list()) {
    if (!item.is_object()) throw invalid_syntax("each patch operation must be an object");
    const Object& o = item.as_object();
    const Value* op_v = find_ci(o, "op");
    if (!op_v || !op_v->is_string()) throw invalid_syntax("a patch operation needs an 'op' string");
    Op op;
    if (iequals(op_v->as_string(), "add")) {
      op = Op::add;
    } else if (iequals(op_v->as_string(), "replace")) {
      op = Op::replace;
    } else if (iequals(op_v->as_string(), "remove")) {
      op = Op::remove;
    } else {
      throw invalid_syntax("unknown patch op '" + op_v->as_string() + "' (expected add, replace or remove)");
    }
    std::optional<PatchPath> path;
    const Value* path_v = find_ci(o, "path");
    if (path_v && !path_v->is_null()) {
      if (!path_v->is_string()) throw invalid_path("a patch 'path' must be a string");
      if (!path_v->as_string().empty()) path = parse_patch_path(path_v->as_string());
    }
    patcher.apply(op, path, find_ci(o, "value"));
  }
  normalize(resource, kind);
}

}  // namespace dirsync::scim
