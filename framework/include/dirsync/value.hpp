// Typed attribute values: the record model's leaf.
//
// Directory APIs send JSON, so a value is one of JSON's shapes (null, bool,
// integer, double, string, list, nested object). Objects keep insertion order
// in a flat vector: directory objects have tens of attributes, where a linear
// scan beats a map and copies stay one allocation per level.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace dirsync {

class Value;
using List = std::vector<Value>;

/// An ordered set of named values (a JSON object). Keys are case-sensitive,
/// like Entra's attribute names.
class Object {
 public:
  using Entry = std::pair<std::string, Value>;

  Object() = default;
  Object(std::initializer_list<Entry> entries);

  /// The value under `key`, or nullptr when absent.
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  /// Sets `key`, replacing an existing entry in place (order is kept).
  void set(std::string key, Value value);
  bool erase(std::string_view key);

  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }
  auto begin() { return entries_.begin(); }
  auto end() { return entries_.end(); }
  void reserve(std::size_t n) { entries_.reserve(n); }
  void clear() { entries_.clear(); }

  /// Equal when both hold the same keys with equal values, in any order.
  friend bool operator==(const Object& a, const Object& b);

 private:
  std::vector<Entry> entries_;
};

class Value {
 public:
  enum class Kind : std::uint8_t { null, boolean, integer, number, string, list, object };
  using Storage = std::variant<std::monostate, bool, std::int64_t, double, std::string, List, Object>;

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(std::int64_t{i}) {}
  Value(std::int64_t i) : v_(i) {}
  Value(double d) : v_(d) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(std::string_view s) : v_(std::string(s)) {}
  Value(List l) : v_(std::move(l)) {}
  Value(Object o) : v_(std::move(o)) {}

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_null() const { return kind() == Kind::null; }
  bool is_bool() const { return kind() == Kind::boolean; }
  bool is_integer() const { return kind() == Kind::integer; }
  bool is_number() const { return kind() == Kind::number; }
  bool is_string() const { return kind() == Kind::string; }
  bool is_list() const { return kind() == Kind::list; }
  bool is_object() const { return kind() == Kind::object; }
  /// Null, empty string or empty list: what Entra calls "null or empty".
  bool is_empty() const;

  // Unchecked accessors: call only after testing the kind.
  bool as_bool() const { return std::get<bool>(v_); }
  std::int64_t as_integer() const { return std::get<std::int64_t>(v_); }
  double as_number() const { return std::get<double>(v_); }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  std::string& as_string() { return std::get<std::string>(v_); }
  const List& as_list() const { return std::get<List>(v_); }
  List& as_list() { return std::get<List>(v_); }
  const Object& as_object() const { return std::get<Object>(v_); }
  Object& as_object() { return std::get<Object>(v_); }

  /// Text form used for comparisons and string targets: strings as-is,
  /// booleans "True"/"False" (as Entra prints them), numbers in decimal,
  /// lists and objects as compact JSON, null as "".
  std::string to_string() const;

  const Storage& storage() const { return v_; }
  friend bool operator==(const Value& a, const Value& b) { return a.v_ == b.v_; }
  friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }

 private:
  Storage v_;
};

inline bool operator!=(const Object& a, const Object& b) { return !(a == b); }

/// Resolves a dotted attribute path such as "name.givenName" or
/// "organizations.department". A list of objects on the way is entered at its
/// element marked `"primary": true`, else its first element, which is how
/// Google's multi-valued fields are read. Returns nullptr when any step is absent.
const Value* lookup_path(const Object& attributes, std::string_view path);

/// Compact JSON text. Deterministic for a given value (keys in stored order).
std::string to_json(const Value& value);
/// The same text as to_json(Value(object)), without copying the object.
std::string to_json(const Object& object);
void append_json(std::string& out, const Value& value);
void append_json_string(std::string& out, std::string_view text);

/// Parses JSON text into a Value. Throws dirsync::Error (kind `input`) with the
/// byte offset on malformed input.
Value parse_json(std::string_view text);

/// A page of a list API, `{"<list>": [{...}, ...], ...}`, item by item: calls
/// `item` with each object of the top-level array `list`, holding only the
/// keys `keep` accepts (every key when `keep` is empty). What is not kept is
/// skipped unparsed: a Google user resource carries dozens of fields a
/// pipeline never reads. Other top-level keys and non-object items are
/// ignored; an absent list is an empty one. Throws dirsync::Error (kind
/// `input`) on malformed text or a `list` that is not an array.
void parse_json_items(std::string_view text, std::string_view list,
                      const std::function<bool(std::string_view key)>& keep,
                      const std::function<void(Object&&)>& item);

/// 64-bit FNV-1a over a value's canonical JSON with object keys sorted, so
/// that attribute order never makes an unchanged object look changed.
std::uint64_t stable_hash(const Value& value);
/// The same hash as stable_hash(Value(object)), without copying the object.
std::uint64_t stable_hash(const Object& object);

/// Like stable_hash, independent of key order and stable across versions and
/// machines, but a different value, several times faster: strings hashed
/// eight bytes a step, an object's entries summed instead of sorted. State
/// stores record which of the two their links hold (state/object_hash.hpp).
std::uint64_t wide_hash(const Value& value);
std::uint64_t wide_hash(const Object& object);
/// wide_hash's string step alone: `bytes` under `seed`. Seeds give
/// independent hashes of the same bytes.
std::uint64_t wide_hash_bytes(std::string_view bytes, std::uint64_t seed = 0);

}  // namespace dirsync
