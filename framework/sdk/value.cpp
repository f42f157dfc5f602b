#include <dirsync/error.hpp>
#include <dirsync/record.hpp>
#include <dirsync/value.hpp>

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace dirsync {

Object::Object(std::initializer_list<Entry> entries) : entries_(entries) {}

const Value* Object::find(std::string_view key) const {
  for (const auto& [k, v] : entries_)
    if (k == key) return &v;
  return nullptr;
}

Value* Object::find(std::string_view key) {
  for (auto& [k, v] : entries_)
    if (k == key) return &v;
  return nullptr;
}

void Object::set(std::string key, Value value) {
  if (Value* existing = find(key)) {
    *existing = std::move(value);
    return;
  }
  entries_.emplace_back(std::move(key), std::move(value));
}

bool Object::erase(std::string_view key) {
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.first == key; });
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

bool operator==(const Object& a, const Object& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [k, v] : a) {
    const Value* other = b.find(k);
    if (!other || *other != v) return false;
  }
  return true;
}

bool Value::is_empty() const {
  switch (kind()) {
    case Kind::null: return true;
    case Kind::string: return as_string().empty();
    case Kind::list: return as_list().empty();
    default: return false;
  }
}

std::string Value::to_string() const {
  switch (kind()) {
    case Kind::null: return {};
    case Kind::boolean: return as_bool() ? "True" : "False";
    case Kind::integer: return std::to_string(as_integer());
    case Kind::string: return as_string();
    default: return to_json(*this);
  }
}

const Value* lookup_path(const Object& attributes, std::string_view path) {
  if (const Value* whole = attributes.find(path)) return whole;  // names may contain dots
  const Object* current = &attributes;
  const Value* found = nullptr;
  while (!path.empty()) {
    auto dot = path.find('.');
    std::string_view step = path.substr(0, dot);
    found = current->find(step);
    if (!found) return nullptr;
    path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
    if (path.empty()) break;
    if (found->is_list()) {
      const List& list = found->as_list();
      const Value* chosen = nullptr;
      for (const Value& item : list) {
        if (!item.is_object()) continue;
        if (!chosen) chosen = &item;
        const Value* primary = item.as_object().find("primary");
        if (primary && primary->is_bool() && primary->as_bool()) {
          chosen = &item;
          break;
        }
      }
      if (!chosen) return nullptr;
      found = chosen;
    }
    if (!found->is_object()) return nullptr;
    current = &found->as_object();
  }
  return found;
}

std::string_view to_string(ObjectType type) { return type == ObjectType::user ? "user" : "group"; }

ObjectType object_type_from_string(std::string_view text) {
  if (text == "user" || text == "users") return ObjectType::user;
  if (text == "group" || text == "groups") return ObjectType::group;
  throw std::invalid_argument("unknown object type '" + std::string(text) + "' (expected user or group)");
}

int exit_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::config: return 2;
    case ErrorKind::connection:
    case ErrorKind::auth: return 3;
    case ErrorKind::safety: return 4;
    default: return 1;
  }
}

}  // namespace dirsync
