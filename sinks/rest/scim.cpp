#include "scim.hpp"

#include <algorithm>
#include <cctype>

namespace dirsync::rest::scim {

namespace {

struct Step {
  std::string name;
  bool filtered = false;
  std::string filter_attribute;
  Value filter_value;
};

struct Path {
  std::string urn;  // extension schema, empty for core attributes
  std::vector<Step> steps;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

// `type eq "work"` inside brackets; other filter forms are left as a plain name.
bool parse_filter(std::string_view text, Step& step) {
  text = trim(text);
  std::size_t eq = std::string_view::npos;
  for (std::size_t i = 0; i + 4 <= text.size(); ++i)
    if (text[i] == ' ' && istarts_with(text.substr(i), " eq ")) {
      eq = i;
      break;
    }
  if (eq == std::string_view::npos) return false;
  step.filter_attribute = std::string(trim(text.substr(0, eq)));
  std::string_view literal = trim(text.substr(eq + 4));
  if (literal.size() >= 2 && literal.front() == '"' && literal.back() == '"') {
    std::string s;
    for (std::size_t i = 1; i + 1 < literal.size(); ++i) {
      if (literal[i] == '\\' && i + 2 < literal.size()) ++i;
      s += literal[i];
    }
    step.filter_value = Value(std::move(s));
  } else if (literal == "true" || literal == "false") {
    step.filter_value = Value(literal == "true");
  } else {
    step.filter_value = Value(std::string(literal));
  }
  step.filtered = true;
  return true;
}

Path parse_path(std::string_view attribute) {
  Path p;
  if (istarts_with(attribute, "urn:")) {
    // The extension's attribute follows the schema URN's last colon.
    std::size_t colon = attribute.rfind(':');
    p.urn = std::string(attribute.substr(0, colon));
    attribute.remove_prefix(colon + 1);
  }
  std::size_t pos = 0;
  while (pos <= attribute.size()) {
    Step step;
    std::size_t end = pos;
    while (end < attribute.size() && attribute[end] != '.' && attribute[end] != '[') ++end;
    step.name = std::string(attribute.substr(pos, end - pos));
    if (end < attribute.size() && attribute[end] == '[') {
      std::size_t close = attribute.find(']', end);
      if (close == std::string_view::npos || !parse_filter(attribute.substr(end + 1, close - end - 1), step)) {
        step.name = std::string(attribute.substr(pos));  // not a form we understand: keep it whole
        p.steps.push_back(std::move(step));
        return p;
      }
      end = close + 1;
    }
    p.steps.push_back(std::move(step));
    if (end >= attribute.size()) break;
    pos = end + 1;
  }
  return p;
}

Object& child_object(Object& parent, const std::string& key) {
  Value* v = parent.find(key);
  if (!v || !v->is_object()) {
    parent.set(key, Value(Object{}));
    v = parent.find(key);
  }
  return v->as_object();
}

Value reference_form(const Path& p, const Value& value) {
  // RFC 7643 4.3: the enterprise manager is a complex attribute.
  if (p.urn == kEnterpriseUser && p.steps.size() == 1 && p.steps[0].name == "manager" && value.is_string())
    return Value(Object{{"value", value}});
  return value;
}

void set_path(Object& root, const Path& p, const Value& value) {
  Object* at = p.urn.empty() ? &root : &child_object(root, p.urn);
  for (std::size_t i = 0; i < p.steps.size(); ++i) {
    const Step& step = p.steps[i];
    bool last = i + 1 == p.steps.size();
    if (!step.filtered) {
      if (last) at->set(step.name, value);
      else at = &child_object(*at, step.name);
      continue;
    }
    Value* list = at->find(step.name);
    if (!list || !list->is_list()) {
      at->set(step.name, Value(List{}));
      list = at->find(step.name);
    }
    Object* element = nullptr;
    for (Value& e : list->as_list()) {
      if (!e.is_object()) continue;
      const Value* f = e.as_object().find(step.filter_attribute);
      if (f && *f == step.filter_value) element = &e.as_object();
    }
    if (!element) {
      list->as_list().push_back(Value(Object{{step.filter_attribute, step.filter_value}}));
      element = &list->as_list().back().as_object();
    }
    if (last) element->set("value", value);
    else at = element;
  }
}

std::string literal(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::null: return "null";
    case Value::Kind::boolean: return value.as_bool() ? "true" : "false";
    case Value::Kind::integer:
    case Value::Kind::number: return value.to_string();
    default: {
      std::string out = "\"";
      for (char c : value.to_string()) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      return out + '"';
    }
  }
}

}  // namespace

Object resource(ObjectType type, const Object& attributes, const std::vector<std::string>& members) {
  Object body;
  List schemas{Value(type == ObjectType::user ? kUserSchema : kGroupSchema)};
  for (const auto& [name, value] : attributes) {
    if (value.is_null()) continue;
    Path p = parse_path(name);
    if (!p.urn.empty() && std::find(schemas.begin(), schemas.end(), Value(p.urn)) == schemas.end())
      schemas.emplace_back(p.urn);
    set_path(body, p, reference_form(p, value));
  }
  if (type == ObjectType::group && !members.empty()) {
    List list;
    for (const auto& id : members) list.emplace_back(Object{{"value", id}});
    body.set("members", Value(std::move(list)));
  }
  Object out{{"schemas", Value(std::move(schemas))}};
  for (auto& [k, v] : body) out.set(k, std::move(v));
  return out;
}

List patch_operations(const Object& attributes) {
  List ops;
  for (const auto& [name, value] : attributes) {
    if (value.is_null()) {
      ops.emplace_back(Object{{"op", "remove"}, {"path", name}});
    } else {
      ops.emplace_back(Object{{"op", "replace"}, {"path", name}, {"value", reference_form(parse_path(name), value)}});
    }
  }
  return ops;
}

Value member_operation(const char* op, const std::vector<std::string>& ids, std::size_t from, std::size_t to) {
  List values;
  for (std::size_t i = from; i < to; ++i) values.emplace_back(Object{{"value", ids[i]}});
  return Value(Object{{"op", op}, {"path", "members"}, {"value", Value(std::move(values))}});
}

Value patch_message(List operations) {
  return Value(Object{{"schemas", Value(List{Value(kPatchOp)})}, {"Operations", Value(std::move(operations))}});
}

std::optional<List> add_missing_elements(const List& operations) {
  List out;
  bool changed = false;
  for (const Value& op : operations) {
    const Object& o = op.as_object();
    const Value* path = o.find("path");
    Path p = path && path->is_string() ? parse_path(path->as_string()) : Path{};
    // The filtered step and what follows it: a[f] or a[f].sub.
    std::size_t f = p.steps.size();
    for (std::size_t i = 0; i < p.steps.size(); ++i)
      if (p.steps[i].filtered) f = i;
    if (f == p.steps.size() || p.steps.size() - f > 2) {
      out.push_back(op);
      continue;
    }
    changed = true;
    if (o.find("op")->as_string() == "remove") continue;
    const Value* value = o.find("value");
    Object element{{p.steps[f].filter_attribute, p.steps[f].filter_value}};
    if (f + 1 < p.steps.size()) element.set(p.steps[f + 1].name, value ? *value : Value());
    else if (value && value->is_object())
      for (const auto& [k, v] : value->as_object()) element.set(k, v);
    std::string target = p.urn.empty() ? "" : p.urn + ":";
    for (std::size_t i = 0; i <= f; ++i) target += (i ? "." : "") + p.steps[i].name;
    out.emplace_back(Object{{"op", "add"}, {"path", target}, {"value", Value(List{Value(std::move(element))})}});
  }
  if (!changed) return std::nullopt;
  return out;
}

std::string equality_filter(const std::string& attribute, const Value& value) {
  Path p = parse_path(attribute);
  std::size_t n = p.steps.size();
  if (n >= 2 && p.steps[n - 2].filtered && !p.steps[n - 1].filtered) {
    // emails[type eq "work"].value eq "x" is not a valid filter; the value
    // sub-attribute goes inside the brackets.
    std::size_t close = attribute.rfind(']');
    return attribute.substr(0, close) + " and " + p.steps[n - 1].name + " eq " + literal(value) + "]";
  }
  return attribute + " eq " + literal(value);
}

}  // namespace dirsync::rest::scim
