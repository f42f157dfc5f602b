#include <dirsync/plugin.hpp>

namespace dirsync {

std::string_view to_string(FieldType type) {
  switch (type) {
    case FieldType::string: return "string";
    case FieldType::integer: return "integer";
    case FieldType::boolean: return "boolean";
    case FieldType::duration: return "duration";
    case FieldType::list: return "list";
    case FieldType::object: return "object";
    case FieldType::any: return "any";
  }
  return "?";
}

std::string_view to_string(OpKind kind) {
  switch (kind) {
    case OpKind::create: return "create";
    case OpKind::update: return "update";
    case OpKind::disable: return "disable";
    case OpKind::remove: return "delete";
  }
  return "?";
}

std::string_view to_string(PluginKind kind) { return kind == PluginKind::source ? "source" : "sink"; }

bool Settings::has(std::string_view key) const { return values_.find(key) != nullptr; }

std::string Settings::string(std::string_view key, std::string fallback) const {
  const Value* v = values_.find(key);
  return v && !v->is_null() ? v->to_string() : fallback;
}

std::int64_t Settings::integer(std::string_view key, std::int64_t fallback) const {
  const Value* v = values_.find(key);
  return v && v->is_integer() ? v->as_integer() : fallback;
}

bool Settings::boolean(std::string_view key, bool fallback) const {
  const Value* v = values_.find(key);
  return v && v->is_bool() ? v->as_bool() : fallback;
}

std::int64_t Settings::duration_ms(std::string_view key, std::int64_t fallback) const {
  return integer(key, fallback);
}

std::vector<std::string> Settings::strings(std::string_view key) const {
  std::vector<std::string> out;
  const Value* v = values_.find(key);
  if (!v) return out;
  if (v->is_list()) {
    for (const Value& item : v->as_list()) out.push_back(item.to_string());
  } else if (!v->is_null()) {
    out.push_back(v->to_string());
  }
  return out;
}

}  // namespace dirsync
