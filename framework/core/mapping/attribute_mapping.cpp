#include "mapping/attribute_mapping.hpp"

#include <charconv>
#include <stdexcept>

namespace dirsync::mapping {

Object Mapper::map(const Object& source, bool creating, const expr::EvalHooks* hooks) const {
  Object out;
  out.reserve(mappings_.size());
  for (const AttributeMapping& m : mappings_) {
    if (m.apply == Apply::on_create && !creating) continue;
    Value result;
    switch (m.kind) {
      case Kind::direct:
        if (const Value* v = lookup_path(source, m.source)) result = *v;
        break;
      case Kind::constant: result = m.constant; break;
      case Kind::expression: {
        auto r = m.expression->evaluate(source, hooks);
        if (!r) continue;  // IgnoreFlowIfNullOrEmpty
        result = std::move(*r);
        break;
      }
      case Kind::none: break;
    }
    if (result.is_null() && !m.default_value.is_null() && (!m.default_if_null || creating))
      result = m.default_value;
    try {
      out.set(m.target, convert(result, m.type));
    } catch (const Error& e) {
      throw Error(ErrorKind::input, "target attribute '" + m.target + "': " + e.what());
    }
  }
  return out;
}

std::vector<std::string> Mapper::source_attributes() const {
  std::vector<std::string> out;
  for (const auto& m : mappings_) {
    if (m.kind == Kind::direct) out.push_back(m.source);
    if (m.kind == Kind::expression)
      for (const auto& a : m.expression->attributes()) out.push_back(a);
  }
  return out;
}

std::vector<std::pair<std::string, TargetType>> Mapper::target_schema() const {
  std::vector<std::pair<std::string, TargetType>> out;
  for (const auto& m : mappings_) out.emplace_back(m.target, m.type);
  return out;
}

Value convert(const Value& value, TargetType type) {
  if (value.is_null()) return value;
  switch (type) {
    case TargetType::any:
    case TargetType::datetime:
    case TargetType::reference: return value;
    case TargetType::string:
      return value.is_string() ? value : Value(value.to_string());
    case TargetType::boolean: {
      if (value.is_bool()) return value;
      std::string s = value.to_string();
      if (s == "true" || s == "True" || s == "TRUE" || s == "1") return Value(true);
      if (s == "false" || s == "False" || s == "FALSE" || s == "0") return Value(false);
      throw Error(ErrorKind::input, "cannot convert '" + s + "' to boolean");
    }
    case TargetType::integer: {
      if (value.is_integer()) return value;
      std::string s = value.to_string();
      std::int64_t n = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      if (ec != std::errc() || end != s.data() + s.size())
        throw Error(ErrorKind::input, "cannot convert '" + s + "' to integer");
      return Value(n);
    }
    case TargetType::list:
      return value.is_list() ? value : Value(List{value});
  }
  return value;
}

TargetType target_type_from_string(std::string_view t) {
  if (t == "string") return TargetType::string;
  if (t == "boolean") return TargetType::boolean;
  if (t == "integer") return TargetType::integer;
  if (t == "date-time" || t == "datetime") return TargetType::datetime;
  if (t == "list") return TargetType::list;
  if (t == "reference") return TargetType::reference;
  if (t == "any") return TargetType::any;
  throw std::invalid_argument("unknown type '" + std::string(t) +
                              "' (expected string, boolean, integer, date-time, list or reference)");
}

std::string_view to_string(TargetType type) {
  switch (type) {
    case TargetType::string: return "string";
    case TargetType::boolean: return "boolean";
    case TargetType::integer: return "integer";
    case TargetType::datetime: return "date-time";
    case TargetType::list: return "list";
    case TargetType::reference: return "reference";
    case TargetType::any: return "any";
  }
  return "?";
}

}  // namespace dirsync::mapping
