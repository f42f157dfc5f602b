// JSON <-> Value. Parsing uses simdjson's DOM parser: directory pages are the
// hot path (DESIGN.md: ~40x faster than Poco::JSON on Graph-shaped pages).
#include <dirsync/error.hpp>
#include <dirsync/value.hpp>

// simdjson 1.0's inlined code trips GCC 12's -Wdangling-pointer false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#include <simdjson.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace dirsync {

namespace {

Value from_element(simdjson::dom::element e) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::NULL_VALUE: return {};
    case element_type::BOOL: return Value(bool(e.get_bool().value()));
    case element_type::INT64: return Value(std::int64_t(e.get_int64().value()));
    case element_type::UINT64: return Value(double(e.get_uint64().value()));
    case element_type::DOUBLE: return Value(e.get_double().value());
    case element_type::STRING: return Value(std::string(e.get_string().value()));
    case element_type::ARRAY: {
      List list;
      for (auto item : e.get_array().value()) list.push_back(from_element(item));
      return Value(std::move(list));
    }
    case element_type::OBJECT: {
      Object object;
      for (auto field : e.get_object().value())
        object.set(std::string(field.key), from_element(field.value));
      return Value(std::move(object));
    }
  }
  return {};
}

void append_sorted(std::string& out, const Value& v) {
  if (!v.is_object() && !v.is_list()) return append_json(out, v);
  if (v.is_list()) {
    out += '[';
    bool first = true;
    for (const Value& item : v.as_list()) {
      if (!first) out += ',';
      first = false;
      append_sorted(out, item);
    }
    out += ']';
    return;
  }
  std::vector<const Object::Entry*> entries;
  for (const auto& e : v.as_object()) entries.push_back(&e);
  std::sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
  out += '{';
  bool first = true;
  for (const auto* e : entries) {
    if (!first) out += ',';
    first = false;
    append_json_string(out, e->first);
    out += ':';
    append_sorted(out, e->second);
  }
  out += '}';
}

}  // namespace

Value parse_json(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  auto error = parser.parse(padded).get(root);
  if (error)
    throw Error(ErrorKind::input, std::string("malformed JSON: ") + simdjson::error_message(error));
  return from_element(root);
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void append_json(std::string& out, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::null: out += "null"; break;
    case Value::Kind::boolean: out += v.as_bool() ? "true" : "false"; break;
    case Value::Kind::integer: out += std::to_string(v.as_integer()); break;
    case Value::Kind::number: {
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.as_number());
      out.append(buf, ec == std::errc() ? end : buf);
      break;
    }
    case Value::Kind::string: append_json_string(out, v.as_string()); break;
    case Value::Kind::list: {
      out += '[';
      bool first = true;
      for (const Value& item : v.as_list()) {
        if (!first) out += ',';
        first = false;
        append_json(out, item);
      }
      out += ']';
      break;
    }
    case Value::Kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, item] : v.as_object()) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, k);
        out += ':';
        append_json(out, item);
      }
      out += '}';
      break;
    }
  }
}

std::string to_json(const Value& value) {
  std::string out;
  append_json(out, value);
  return out;
}

std::uint64_t stable_hash(const Value& value) {
  std::string text;
  append_sorted(text, value);
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace dirsync
