// A set of 64-bit hashes in one flat array (open addressing, linear probing).
// Eight bytes per slot instead of a heap node per element: a first sync of a
// million users remembers every match value it created in a few dozen MB.
#pragma once

#include <dirsync/value.hpp>

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

namespace dirsync {

class HashSet64 {
 public:
  bool contains(std::uint64_t h) const {
    if (slots_.empty()) return false;
    h = h ? h : 1;  // 0 marks an empty slot
    for (std::size_t i = h & mask();; i = (i + 1) & mask()) {
      if (slots_[i] == h) return true;
      if (slots_[i] == 0) return false;
    }
  }

  void insert(std::uint64_t h) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();
    h = h ? h : 1;
    for (std::size_t i = h & mask();; i = (i + 1) & mask()) {
      if (slots_[i] == h) return;
      if (slots_[i] == 0) {
        slots_[i] = h;
        ++size_;
        return;
      }
    }
  }

  std::size_t size() const { return size_; }
  /// Empties the set and keeps its slots: a per-batch set costs no allocation.
  void clear() {
    std::fill(slots_.begin(), slots_.end(), 0);
    size_ = 0;
  }

  /// Eight bytes a step, fully mixed so that the low bits (the slot) depend
  /// on every byte. Run-local, never stored: free to change.
  static std::uint64_t hash(std::string_view bytes, std::uint64_t seed = 0) { return wide_hash_bytes(bytes, seed); }

 private:
  std::size_t mask() const { return slots_.size() - 1; }

  void grow() {
    std::vector<std::uint64_t> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 1024 : old.size() * 2, 0);
    size_ = 0;
    for (std::uint64_t h : old)
      if (h) insert(h);
  }

  std::vector<std::uint64_t> slots_;
  std::size_t size_ = 0;
};

}  // namespace dirsync
