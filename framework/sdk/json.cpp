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

Value from_ondemand(simdjson::ondemand::value v) {
  using simdjson::ondemand::json_type;
  switch (v.type()) {
    case json_type::null: return {};
    case json_type::boolean: return Value(bool(v.get_bool()));
    case json_type::number:
      if (v.get_number_type() == simdjson::ondemand::number_type::signed_integer)
        return Value(std::int64_t(v.get_int64()));
      return Value(double(v.get_double()));
    case json_type::string: return Value(std::string(std::string_view(v.get_string())));
    case json_type::array: {
      List list;
      for (auto item : v.get_array()) list.push_back(from_ondemand(item.value()));
      return Value(std::move(list));
    }
    case json_type::object: {
      Object object;
      for (auto field : v.get_object()) {
        std::string key(std::string_view(field.unescaped_key()));
        object.set(std::move(key), from_ondemand(field.value()));
      }
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

// The DOM API of Debian's simdjson 3.0.1 miscompiles under GCC 12 -O2
// (segfault iterating objects); the on-demand API is both correct and faster.
Value parse_json(std::string_view text) {
  // Wrapping in an array lets scalar documents use the same value path.
  simdjson::padded_string padded(std::string("[").append(text).append("]"));
  simdjson::ondemand::parser parser;
  try {
    simdjson::ondemand::document doc = parser.iterate(padded);
    Value result;
    std::size_t count = 0;
    for (auto item : doc.get_array()) {
      result = from_ondemand(item.value());
      ++count;
    }
    if (count != 1) throw Error(ErrorKind::input, "malformed JSON: expected one value");
    return result;
  } catch (const simdjson::simdjson_error& e) {
    throw Error(ErrorKind::input, std::string("malformed JSON: ") + e.what());
  }
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
