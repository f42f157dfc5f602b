// A source attribute named by a pipeline (expression "[mail]", scoping
// clause, direct mapping), resolved against objects many times.
//
// Objects from one source list their attributes in the same order, so the
// position found last time is tried first: one string comparison instead of
// a scan in the common case. The hint is a relaxed atomic because compiled
// pipelines are shared by threads; a stale hint only costs the scan.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <dirsync/value.hpp>
#include <string>

namespace dirsync::expr {

class AttributeRef {
 public:
  AttributeRef() = default;
  explicit AttributeRef(std::string path)
      : path_(std::move(path)), dotted_(path_.find('.') != std::string::npos) {}
  AttributeRef(const AttributeRef& o) : path_(o.path_), dotted_(o.dotted_) {}
  AttributeRef& operator=(const AttributeRef& o) {
    path_ = o.path_;
    dotted_ = o.dotted_;
    return *this;
  }

  const std::string& path() const { return path_; }

  /// The value, or nullptr when absent; dotted paths go through lookup_path.
  const Value* find(const Object& o) const {
    const std::size_t n = o.size();
    auto first = o.begin();
    std::uint32_t h = hint_.load(std::memory_order_relaxed);
    if (h < n && same(first[h].first)) return &first[h].second;
    for (std::size_t i = 0; i < n; ++i) {
      if (same(first[i].first)) {
        hint_.store(static_cast<std::uint32_t>(i), std::memory_order_relaxed);
        return &first[i].second;
      }
    }
    return dotted_ ? lookup_path(o, path_) : nullptr;
  }

 private:
  // Attribute names are short: comparing eight bytes at a time inline beats
  // a call to memcmp, which showed up as a tenth of the mapping time.
  bool same(const std::string& name) const {
    const std::size_t n = name.size();
    if (n != path_.size()) return false;
    const char* a = name.data();
    const char* b = path_.data();
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      std::uint64_t x, y;
      std::memcpy(&x, a + i, 8);
      std::memcpy(&y, b + i, 8);
      if (x != y) return false;
    }
    for (; i < n; ++i)
      if (a[i] != b[i]) return false;
    return true;
  }

  std::string path_;
  bool dotted_ = false;
  mutable std::atomic<std::uint32_t> hint_{UINT32_MAX};
};

}  // namespace dirsync::expr
