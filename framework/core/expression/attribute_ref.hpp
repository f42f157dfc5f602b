// A source attribute named by a pipeline (expression "[mail]", scoping
// clause, direct mapping), resolved against objects many times.
//
// Objects from one source list their attributes in the same order, so the
// position found last time is tried first: one string comparison instead of
// a scan in the common case. The hint is a relaxed atomic because compiled
// pipelines are shared by threads; a stale hint only costs the scan.
#pragma once

#include <dirsync/value.hpp>

#include <atomic>
#include <cstdint>
#include <string>

namespace dirsync::expr {

class AttributeRef {
 public:
  AttributeRef() = default;
  explicit AttributeRef(std::string path) : path_(std::move(path)), dotted_(path_.find('.') != std::string::npos) {}
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
    if (h < n && first[h].first == path_) return &first[h].second;
    for (std::size_t i = 0; i < n; ++i) {
      if (first[i].first == path_) {
        hint_.store(static_cast<std::uint32_t>(i), std::memory_order_relaxed);
        return &first[i].second;
      }
    }
    return dotted_ ? lookup_path(o, path_) : nullptr;
  }

 private:
  std::string path_;
  bool dotted_ = false;
  mutable std::atomic<std::uint32_t> hint_{UINT32_MAX};
};

}  // namespace dirsync::expr
