// JSON <-> Value. Parsing uses simdjson (on-demand): directory pages are the
// hot path (DESIGN.md: ~40x faster than Poco::JSON on Graph-shaped pages).
#include <dirsync/error.hpp>
#include <dirsync/value.hpp>

// simdjson 1.0's inlined code trips GCC 12's -Wdangling-pointer false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#include <simdjson.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace dirsync {

namespace {

// Deeper documents are refused: recursion depth is bounded by the input, and
// inputs come from the network (a body of "[[[[..." must not end the process).
constexpr int kMaxDepth = 64;

// An object's fields (a list's items) are gathered in a vector kept per
// depth, then moved into one of exactly their size: grown a field at a time,
// a directory user's objects cost eleven reallocations more each.
struct Scratch {
  std::vector<std::vector<Object::Entry>> fields = std::vector<std::vector<Object::Entry>>(kMaxDepth + 2);
  std::vector<std::vector<Value>> items = std::vector<std::vector<Value>>(kMaxDepth + 2);
};

Object take_object(std::vector<Object::Entry>& fields, std::size_t spare = 0) {
  Object object;
  object.reserve(fields.size() + spare);
  for (auto& [key, value] : fields) object.set(std::move(key), std::move(value));  // a repeated key: the last wins
  fields.clear();
  return object;
}

Value from_ondemand(simdjson::ondemand::value v, Scratch& scratch, int depth = 0) {
  using simdjson::ondemand::json_type;
  if (depth > kMaxDepth)
    throw Error(ErrorKind::input, "malformed JSON: nested deeper than " + std::to_string(kMaxDepth) + " levels");
  switch (v.type()) {
    case json_type::null: return {};
    case json_type::boolean: return Value(bool(v.get_bool()));
    case json_type::number:
      if (v.get_number_type() == simdjson::ondemand::number_type::signed_integer)
        return Value(std::int64_t(v.get_int64()));
      return Value(double(v.get_double()));
    case json_type::string: return Value(std::string(std::string_view(v.get_string())));
    case json_type::array: {
      std::vector<Value>& items = scratch.items[static_cast<std::size_t>(depth)];
      items.clear();  // left over by a parse that threw
      for (auto item : v.get_array()) items.push_back(from_ondemand(item.value(), scratch, depth + 1));
      List list(std::make_move_iterator(items.begin()), std::make_move_iterator(items.end()));
      items.clear();
      if (items.capacity() > 4096) items = {};  // a big member list is not kept for the thread's life
      return Value(std::move(list));
    }
    case json_type::object: {
      std::vector<Object::Entry>& fields = scratch.fields[static_cast<std::size_t>(depth)];
      fields.clear();
      for (auto field : v.get_object()) {
        std::string key(std::string_view(field.unescaped_key()));
        fields.emplace_back(std::move(key), from_ondemand(field.value(), scratch, depth + 1));
      }
      return Value(take_object(fields));
    }
  }
  return {};
}

}  // namespace

// The DOM API of Debian's simdjson 3.0.1 miscompiles under GCC 12 -O2
// (segfault iterating objects); the on-demand API is both correct and faster.
Value parse_json(std::string_view text) {
  // Wrapping in an array lets scalar documents use the same value path.
  simdjson::padded_string padded(std::string("[").append(text).append("]"));
  simdjson::ondemand::parser parser;
  Scratch scratch;
  try {
    simdjson::ondemand::document doc = parser.iterate(padded);
    Value result;
    std::size_t count = 0;
    for (auto item : doc.get_array()) {
      result = from_ondemand(item.value(), scratch);
      ++count;
    }
    if (count != 1) throw Error(ErrorKind::input, "malformed JSON: expected one value");
    return result;
  } catch (const simdjson::simdjson_error& e) {
    throw Error(ErrorKind::input, std::string("malformed JSON: ") + e.what());
  }
}

void parse_json_items(std::string_view text, std::string_view list,
                      const std::function<bool(std::string_view key)>& keep,
                      const std::function<void(Object&&)>& item) {
  simdjson::padded_string padded(text);
  thread_local simdjson::ondemand::parser parser;
  thread_local Scratch scratch;
  try {
    simdjson::ondemand::document doc = parser.iterate(padded);
    for (auto field : doc.get_object()) {
      if (std::string_view(field.unescaped_key()) != list) continue;
      simdjson::ondemand::value items = field.value();
      if (items.type() != simdjson::ondemand::json_type::array)
        throw Error(ErrorKind::input, "'" + std::string(list) + "' is not a list");
      for (auto element : items.get_array()) {
        simdjson::ondemand::value v = element.value();
        if (v.type() != simdjson::ondemand::json_type::object) continue;
        std::vector<Object::Entry>& fields = scratch.fields[0];
        fields.clear();
        for (auto f : v.get_object()) {
          std::string_view key = f.unescaped_key();
          if (keep && !keep(key)) continue;  // on-demand skips the value unread
          fields.emplace_back(std::string(key), from_ondemand(f.value(), scratch, 1));
        }
        // Room for what a source adds to an item (convenience attributes):
        // growing the object for them moved every field once more.
        item(take_object(fields, 4));
      }
    }
  } catch (const simdjson::simdjson_error& e) {
    throw Error(ErrorKind::input, std::string("malformed JSON: ") + e.what());
  }
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  // Copy runs of characters that need no escape in one append: this is on the
  // hot path of every state-store write.
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default: {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

namespace {
void append_object(std::string& out, const Object& object) {
  out += '{';
  bool first = true;
  for (const auto& [k, item] : object) {
    if (!first) out += ',';
    first = false;
    append_json_string(out, k);
    out += ':';
    append_json(out, item);
  }
  out += '}';
}
}  // namespace

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
    case Value::Kind::object: append_object(out, v.as_object()); break;
  }
}

namespace {
/// About the length of the JSON text, so that it is built in one allocation
/// instead of five or six doublings (a snapshot per user, on the engine's
/// critical thread).
std::size_t json_size_hint(const Value& v);
std::size_t json_size_hint(const Object& object) {
  std::size_t n = 2;
  for (const auto& [k, item] : object) n += k.size() + 4 + json_size_hint(item);
  return n;
}
std::size_t json_size_hint(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::string: return v.as_string().size() + 2;
    case Value::Kind::list: {
      std::size_t n = 2;
      for (const Value& item : v.as_list()) n += json_size_hint(item) + 1;
      return n;
    }
    case Value::Kind::object: return json_size_hint(v.as_object());
    default: return 8;
  }
}
}  // namespace

std::string to_json(const Object& object) {
  std::string out;
  out.reserve(json_size_hint(object));
  append_object(out, object);
  return out;
}

std::string to_json(const Value& value) {
  std::string out;
  out.reserve(json_size_hint(value));
  append_json(out, value);
  return out;
}

namespace {

/// stable_hash: FNV-1a, a byte at a time, over a canonical walk of the value:
/// kind tags, lengths and bytes, object keys in sorted order. No intermediate
/// text is built.
struct Fnv {
  std::uint64_t h = 1469598103934665603ull;
  void bytes(const void* data, std::size_t n) {
    auto p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) {
      h ^= p[i];
      h *= 1099511628211ull;
    }
  }
  void tag(char c) { bytes(&c, 1); }
  void text(std::string_view s) {
    std::uint64_t n = s.size();
    bytes(&n, sizeof n);
    bytes(s.data(), s.size());
  }
  void value(const Value& v) {
    tag(static_cast<char>(v.kind()));
    switch (v.kind()) {
      case Value::Kind::null: break;
      case Value::Kind::boolean: tag(v.as_bool() ? 1 : 0); break;
      case Value::Kind::integer: {
        std::int64_t i = v.as_integer();
        bytes(&i, sizeof i);
        break;
      }
      case Value::Kind::number: {
        double d = v.as_number();
        bytes(&d, sizeof d);
        break;
      }
      case Value::Kind::string: text(v.as_string()); break;
      case Value::Kind::list:
        for (const Value& item : v.as_list()) value(item);
        tag('\x1d');
        break;
      case Value::Kind::object: object(v.as_object()); break;
    }
  }
  void object(const Object& o) {
    // Objects are small: sort pointers to the entries, not the entries.
    const Object::Entry* small[32];
    std::vector<const Object::Entry*> large;
    const Object::Entry** entries = small;
    if (o.size() > 32) {
      large.resize(o.size());
      entries = large.data();
    }
    std::size_t n = 0;
    for (const auto& e : o) entries[n++] = &e;
    std::sort(entries, entries + n, [](auto* a, auto* b) { return a->first < b->first; });
    for (std::size_t i = 0; i < n; ++i) {
      text(entries[i]->first);
      value(entries[i]->second);
    }
    tag('\x1e');
  }
};

/// wide_hash: each string hashed on its own, eight bytes a step (xxHash64's
/// round and final mix), and an object's entries summed, so its keys need no
/// sort. FNV-1a over the sorted walk cost a first sync of a million users
/// over a second of its critical thread, most of it in the walk and the sort.
/// Words are read little-endian: a state store means the same on every
/// machine.
struct Wide {
  static constexpr std::uint64_t kP1 = 0x9E3779B185EBCA87ull, kP2 = 0xC2B2AE3D27D4EB4Full,
                                 kP3 = 0x165667B19E3779F9ull, kP4 = 0x85EBCA77C2B2AE63ull;

  static std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
  static std::uint64_t round(std::uint64_t acc, std::uint64_t w) { return rotl(acc + w * kP2, 31) * kP1; }
  static std::uint64_t step(std::uint64_t h, std::uint64_t w) { return rotl(h ^ round(0, w), 27) * kP1 + kP4; }
  static std::uint64_t avalanche(std::uint64_t h) {
    h ^= h >> 33;
    h *= kP2;
    h ^= h >> 29;
    h *= kP3;
    h ^= h >> 32;
    return h;
  }
  static std::uint64_t seed(Value::Kind kind) { return kP3 + (std::uint64_t(kind) + 1) * kP1; }

  static std::uint64_t bytes(std::string_view s, std::uint64_t h) {
    h += s.size() * kP1;
    auto p = reinterpret_cast<const unsigned char*>(s.data());
    std::size_t n = s.size();
    for (; n >= 8; p += 8, n -= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
      h = step(h, w);
    }
    if (n) {
      std::uint64_t w = 0;
      for (std::size_t i = 0; i < n; ++i) w |= std::uint64_t(p[i]) << (8 * i);
      h = step(h, w);
    }
    return avalanche(h);
  }

  static std::uint64_t value(const Value& v) {
    const std::uint64_t h = seed(v.kind());
    switch (v.kind()) {
      case Value::Kind::null: return avalanche(h);
      case Value::Kind::boolean: return avalanche(step(h, v.as_bool() ? 1 : 0));
      case Value::Kind::integer: return avalanche(step(h, std::uint64_t(v.as_integer())));
      case Value::Kind::number: return avalanche(step(h, std::bit_cast<std::uint64_t>(v.as_number())));
      case Value::Kind::string: return bytes(v.as_string(), h);
      case Value::Kind::list: {
        std::uint64_t l = h;
        for (const Value& item : v.as_list()) l = step(l, value(item));
        return avalanche(l + v.as_list().size() * kP2);
      }
      case Value::Kind::object: return object(v.as_object());
    }
    return 0;
  }

  static std::uint64_t object(const Object& o) {
    std::uint64_t sum = 0;
    for (const auto& [key, item] : o) sum += avalanche(round(bytes(key, kP4), value(item)));
    return avalanche(step(seed(Value::Kind::object) + o.size() * kP2, sum));
  }
};

}  // namespace

std::uint64_t stable_hash(const Value& value) {
  Fnv f;
  f.value(value);
  return f.h;
}

std::uint64_t stable_hash(const Object& object) {
  Fnv f;
  f.tag(static_cast<char>(Value::Kind::object));
  f.object(object);
  return f.h;
}
std::uint64_t wide_hash(const Value& value) { return Wide::value(value); }
std::uint64_t wide_hash(const Object& object) { return Wide::object(object); }
std::uint64_t wide_hash_bytes(std::string_view bytes, std::uint64_t seed) { return Wide::bytes(bytes, seed); }

}  // namespace dirsync
