#include "sync/written.hpp"

#include <cstring>
#include <vector>

namespace dirsync::written {

namespace {

constexpr char kFnvTag = 'F';
constexpr char kWideTag = 'W';
constexpr std::size_t kEntry = 12;

char tag_of(ObjectHash hash) { return hash == ObjectHash::wide ? kWideTag : kFnvTag; }

/// The hash a stored fingerprint was made with; legacy JSON was FNV-1a.
ObjectHash hash_in(std::string_view stored) {
  return !stored.empty() && stored[0] == kWideTag ? ObjectHash::wide : ObjectHash::fnv1a;
}

struct Entry {
  std::uint32_t name;
  std::uint64_t value;
};

std::uint32_t name_hash(std::string_view name) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : name) h = (h ^ c) * 16777619u;
  return h;
}

void append(std::string& out, const Entry& e) {
  char bytes[kEntry];
  std::memcpy(bytes, &e.name, 4);
  std::memcpy(bytes + 4, &e.value, 8);
  out.append(bytes, kEntry);
}

/// The entries of a fingerprint, or of legacy JSON (hashed here).
std::vector<Entry> entries(std::string_view stored) {
  std::vector<Entry> out;
  if (!stored.empty() && (stored[0] == kFnvTag || stored[0] == kWideTag)) {
    for (std::size_t at = 1; at + kEntry <= stored.size(); at += kEntry) {
      Entry e;
      std::memcpy(&e.name, stored.data() + at, 4);
      std::memcpy(&e.value, stored.data() + at + 4, 8);
      out.push_back(e);
    }
    return out;
  }
  if (stored.empty()) return out;
  Value v = parse_json(stored);
  if (!v.is_object()) return out;
  for (const auto& [name, value] : v.as_object()) out.push_back({name_hash(name), stable_hash(value)});
  return out;
}

const Entry* find(const std::vector<Entry>& list, std::uint32_t name) {
  for (const Entry& e : list)
    if (e.name == name) return &e;
  return nullptr;
}

}  // namespace

std::string fingerprint(const Object& attributes, ObjectHash hash) {
  std::string out(1, tag_of(hash));
  out.reserve(1 + kEntry * attributes.size());
  for (const auto& [name, value] : attributes) append(out, {name_hash(name), hash_of(hash, value)});
  return out;
}

Object changed(const Object& mapped, std::string_view stored) {
  std::vector<Entry> old = entries(stored);
  const ObjectHash hash = hash_in(stored);
  Object out;
  for (const auto& [name, value] : mapped) {
    const Entry* e = find(old, name_hash(name));
    if (!e || e->value != hash_of(hash, value)) out.set(name, value);
  }
  return out;
}

std::string merge(std::string_view stored, const Object& changes) {
  std::vector<Entry> list = entries(stored);
  const ObjectHash hash = hash_in(stored);
  for (const auto& [name, value] : changes) {
    Entry next{name_hash(name), hash_of(hash, value)};
    bool replaced = false;
    for (Entry& e : list)
      if (e.name == next.name) {
        e = next;
        replaced = true;
      }
    if (!replaced) list.push_back(next);
  }
  std::string out(1, tag_of(hash));
  for (const Entry& e : list) append(out, e);
  return out;
}

}  // namespace dirsync::written
