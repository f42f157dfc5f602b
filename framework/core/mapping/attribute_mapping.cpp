#include "mapping/attribute_mapping.hpp"

#include <charconv>
#include <optional>
#include <stdexcept>

#include "expression/datetime.hpp"
#include "expression/text.hpp"

namespace dirsync::mapping {

Mapper::Mapper(std::vector<AttributeMapping> mappings) : mappings_(std::move(mappings)) {
  sources_.reserve(mappings_.size());
  for (const AttributeMapping& m : mappings_) sources_.emplace_back(m.source);
}

namespace {
void convert_in_place(Value& value, TargetType type);
}

Object Mapper::map(const Object& source, bool creating, const expr::EvalHooks* hooks) const {
  Object out;
  out.reserve(mappings_.size());
  for (std::size_t i = 0; i < mappings_.size(); ++i) {
    const AttributeMapping& m = mappings_[i];
    if (m.apply == Apply::on_create && !creating) continue;
    // SelectUniqueValue is for creation only (as in Entra): on an update the
    // object's own current value would count as taken and the next candidate
    // would replace it on every run.
    if (!creating && m.kind == Kind::expression && m.expression->selects_unique_value()) continue;
    apply(i, source, creating, hooks, out);
  }
  return out;
}

bool Mapper::creation_only_adds() const {
  for (const AttributeMapping& m : mappings_)
    if (m.default_if_null || (m.kind == Kind::expression && m.expression->selects_unique_value()) ||
        (m.apply == Apply::on_create && m.type == TargetType::reference))
      return false;
  return true;
}

void Mapper::add_creation_only(const Object& source, Object& mapped, const expr::EvalHooks* hooks) const {
  for (std::size_t i = 0; i < mappings_.size(); ++i)
    if (mappings_[i].apply == Apply::on_create) apply(i, source, true, hooks, mapped);
}

void Mapper::apply(std::size_t i, const Object& source, bool creating, const expr::EvalHooks* hooks,
                   Object& out) const {
  const AttributeMapping& m = mappings_[i];
  try {
    // Each step works on the one value in place: moving a Value is a
    // variant dispatch, and mappings are the per-object hot path.
    std::optional<Value> result;
    switch (m.kind) {
      case Kind::direct:
        if (const Value* v = sources_[i].find(source))
          result.emplace(*v);
        else
          result.emplace();
        break;
      case Kind::constant:
        result.emplace(m.constant);
        break;
      case Kind::expression:
        if (hooks && hooks->is_unique_for && m.expression->selects_unique_value()) {
          expr::EvalHooks local;
          local.is_unique = [&](const Value& candidate) { return hooks->is_unique_for(m.target, candidate); };
          result = m.expression->evaluate(source, &local);
        } else {
          result = m.expression->evaluate(source, hooks);
        }
        if (!result) return;  // IgnoreFlowIfNullOrEmpty: the attribute is not written at all
        break;
      case Kind::none:
        result.emplace();
        break;
    }
    // Entra's "default value if null": with default_if_null only when
    // creating, so an update never overwrites a value set in the target.
    if (result->is_null() && !m.default_value.is_null() && (!m.default_if_null || creating))
      *result = m.default_value;
    convert_in_place(*result, m.type);
    out.set(m.target, std::move(*result));
  } catch (const Error& e) {
    throw Error(ErrorKind::input, "target attribute '" + m.target + "': " + e.what());
  }
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

std::uint64_t Mapper::fingerprint() const {
  List out;
  for (const AttributeMapping& m : mappings_) {
    out.emplace_back(Object{{"target", m.target},
                            {"kind", static_cast<int>(m.kind)},
                            {"source", m.source},
                            {"constant", m.constant},
                            {"expression", m.expression ? m.expression->text() : std::string()},
                            {"default", m.default_value},
                            {"default_if_null", m.default_if_null},
                            {"apply", static_cast<int>(m.apply)},
                            {"type", std::string(to_string(m.type))}});
  }
  return stable_hash(Value(std::move(out)));
}

std::vector<std::pair<std::string, TargetType>> Mapper::target_schema() const {
  std::vector<std::pair<std::string, TargetType>> out;
  for (const auto& m : mappings_) out.emplace_back(m.target, m.type);
  return out;
}

namespace {

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string shown(const Value& v) { return v.is_string() ? "'" + v.as_string() + "'" : v.to_string(); }

Value to_boolean(const Value& value) {
  if (value.is_bool()) return value;
  if (value.is_integer() && (value.as_integer() == 0 || value.as_integer() == 1))
    return Value(value.as_integer() == 1);
  if (value.is_string()) {
    std::string s = expr::text::to_lower(trimmed(value.as_string()));
    if (s == "true" || s == "1" || s == "yes") return Value(true);
    if (s == "false" || s == "0" || s == "no") return Value(false);
  }
  throw Error(ErrorKind::input, "cannot convert " + shown(value) + " to boolean");
}

Value to_integer(const Value& value) {
  if (value.is_integer()) return value;
  if (value.is_bool()) return Value(std::int64_t{value.as_bool() ? 1 : 0});
  if (value.is_number()) {
    double d = value.as_number();
    if (d >= -9.2e18 && d <= 9.2e18 && d == static_cast<double>(static_cast<std::int64_t>(d)))
      return Value(static_cast<std::int64_t>(d));
  }
  if (value.is_string()) {
    std::string_view s = trimmed(value.as_string());
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (!s.empty() && ec == std::errc() && end == s.data() + s.size()) return Value(n);
  }
  throw Error(ErrorKind::input, "cannot convert " + shown(value) + " to integer");
}

Value to_datetime(const Value& value) {
  if (value.is_string()) {
    if (auto t = expr::dt::parse(value.as_string())) return Value(expr::dt::format_iso(*t));
  }
  throw Error(ErrorKind::input, "cannot convert " + shown(value) +
                                    " to date-time (expected ISO 8601, such as 2024-05-01T12:00:00Z)");
}

// A reference is the id of another object: Graph sends the manager as an
// object, SCIM as {"value": id}; keep only the id.
Value to_reference(const Value& value) {
  if (value.is_object()) {
    for (const char* key : {"id", "value"})
      if (const Value* id = value.as_object().find(key); id && !id->is_empty()) return Value(id->to_string());
    throw Error(ErrorKind::input,
                "cannot use " + to_json(value) + " as a reference (it has no 'id' or 'value')");
  }
  if (value.is_list()) {
    List ids;
    for (const Value& item : value.as_list())
      if (!item.is_null()) ids.push_back(to_reference(item));
    return Value(std::move(ids));
  }
  return value;
}

// Converts without copying values that already have the target's shape.
void convert_in_place(Value& value, TargetType type) {
  if (value.is_null()) return;
  switch (type) {
    case TargetType::any:
      return;
    case TargetType::string:
      if (!value.is_string()) value = Value(value.to_string());
      return;
    case TargetType::boolean:
      value = to_boolean(value);
      return;
    case TargetType::integer:
      value = to_integer(value);
      return;
    case TargetType::datetime:
      value = to_datetime(value);
      return;
    case TargetType::reference:
      value = to_reference(value);
      return;
    case TargetType::list:
      if (!value.is_list()) value = Value(List{std::move(value)});
      return;
  }
}

}  // namespace

Value convert(const Value& value, TargetType type) {
  Value out = value;
  convert_in_place(out, type);
  return out;
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
    case TargetType::string:
      return "string";
    case TargetType::boolean:
      return "boolean";
    case TargetType::integer:
      return "integer";
    case TargetType::datetime:
      return "date-time";
    case TargetType::list:
      return "list";
    case TargetType::reference:
      return "reference";
    case TargetType::any:
      return "any";
  }
  return "?";
}

}  // namespace dirsync::mapping
