// A set of 48-bit fingerprints (of 64-bit hashes) in about five bytes each.
//
// The engine's first-sync filters (source ids decided, match values created)
// only have to say "certainly not seen" quickly; a hit is confirmed by the
// state store or the sink. So a fingerprint will do where an exact set would
// cost a key each: the top 16 bits of a hash pick a bucket, the low 32 bits
// are stored (compact_table.hpp). A false hit needs 48 bits to agree: a first
// sync of a million users (three million values) meets one about every
// hundred runs, and pays a lookup for it.
#pragma once

#include "sync/compact_table.hpp"

#include <cstdint>

namespace dirsync {

class FingerprintSet {
 public:
  bool contains(std::uint64_t h) const { return table_.find(bucket(h), tag(h)) != nullptr; }

  void insert(std::uint64_t h) {
    if (!contains(h)) table_.insert(bucket(h), tag(h));
  }

  std::size_t size() const { return table_.size(); }

 private:
  struct Traits {
    static constexpr std::uint32_t kDead = 0xffffffffu;
    static std::uint32_t tag(const std::uint32_t& e) { return e; }
    static void kill(std::uint32_t& e) { e = kDead; }
  };
  static std::uint16_t bucket(std::uint64_t h) { return std::uint16_t(h >> 48); }
  static std::uint32_t tag(std::uint64_t h) { return std::min(std::uint32_t(h), Traits::kDead - 1); }

  CompactTable<std::uint32_t, Traits> table_;
};

}  // namespace dirsync
