// A growing table of small fixed-size entries, found by a 16-bit bucket and a
// tag, in little more than the entries' own size.
//
// The engine's run-local indexes hold an entry per user of a first sync: a
// million of them. A flat hash table costs twice the entries at its emptiest
// and three times while it doubles (old and new arrays at once, at the end of
// a large read, when memory is highest); a vector per bucket costs a malloc
// per bucket growth, and 65,536 buckets growing in step leave the heap so
// fragmented that every other allocation of the run slows down.
//
// Here the entries live in 16 segments, grouped by bucket with a start
// offset per bucket, plus a small unsorted delta (a sixteenth of the
// table) that new entries go to. A full delta is sorted and merged into the
// segments one segment at a time: no moment holds a second copy of more than
// one segment, and each entry is copied about sixteen times over a run.
#pragma once

#include <algorithm>
#include <array>
#include <utility>
#include <cstdint>
#include <vector>

namespace dirsync {

/// `Traits` says how to read an entry: `static Tag tag(const Entry&)`, never
/// `Traits::kDead` for a live entry; `static void kill(Entry&)` sets it to kDead.
template <typename Entry, typename Traits>
class CompactTable {
 public:
  using Tag = decltype(Traits::tag(std::declval<const Entry&>()));

  Entry* find(std::uint16_t bucket, Tag tag) {
    if (Entry* e = find_delta(bucket, tag)) return e;
    Segment& s = segments_[bucket >> kSubBits];
    if (s.start.empty()) return nullptr;
    const std::size_t sub = bucket & kSubMask;
    for (std::uint32_t i = s.start[sub]; i < s.start[sub + 1]; ++i)
      if (Traits::tag(s.entries[i]) == tag) return &s.entries[i];
    return nullptr;
  }
  const Entry* find(std::uint16_t bucket, Tag tag) const { return const_cast<CompactTable*>(this)->find(bucket, tag); }

  /// Adds an entry whose tag is not in the table.
  void insert(std::uint16_t bucket, const Entry& entry) {
    if ((delta_.size() + 1) * 2 > slots_.size()) grow_index();
    place(std::uint32_t(delta_.size()), bucket, Traits::tag(entry));
    delta_.push_back({bucket, entry});
    ++size_;
    if (delta_.size() >= std::max<std::size_t>(kMinDelta, size_ / 16)) merge();
  }

  /// The entry stays in place, dead, until the next merge drops it.
  bool erase(std::uint16_t bucket, Tag tag) {
    Entry* e = find(bucket, tag);
    if (!e) return false;
    Traits::kill(*e);
    --size_;
    return true;
  }

  std::size_t size() const { return size_; }

 private:
  static constexpr int kSubBits = 12;  ///< 16 segments of 4,096 buckets
  static constexpr std::size_t kSubMask = (std::size_t(1) << kSubBits) - 1;
  static constexpr std::size_t kMinDelta = 4096;

  struct Segment {
    std::vector<Entry> entries;         ///< grouped by bucket
    std::vector<std::uint32_t> start;   ///< first entry of each bucket, then the end; empty until the first merge
  };
  struct Pending {
    std::uint16_t bucket;
    Entry entry;
  };

  static std::size_t mix(std::uint16_t bucket, std::uint64_t tag) {
    std::uint64_t h = (tag ^ (std::uint64_t(bucket) << 48)) * 0x9e3779b97f4a7c15ull;
    return std::size_t(h ^ (h >> 29));
  }

  /// A slot holds the entry's index plus one (zero: empty) and, above it, 32
  /// bits of its mix: a probe past another entry rarely reads that entry.
  Entry* find_delta(std::uint16_t bucket, Tag tag) {
    if (slots_.empty()) return nullptr;
    const std::size_t mask = slots_.size() - 1;
    const std::size_t h = mix(bucket, tag);
    const std::uint64_t check = std::uint64_t(h >> 32) << 32;
    for (std::size_t i = h & mask; slots_[i]; i = (i + 1) & mask) {
      if ((slots_[i] & ~kIndexMask) != check) continue;
      Pending& p = delta_[(slots_[i] & kIndexMask) - 1];
      if (p.bucket == bucket && Traits::tag(p.entry) == tag) return &p.entry;
    }
    return nullptr;
  }

  void place(std::uint32_t index, std::uint16_t bucket, Tag tag) {
    const std::size_t mask = slots_.size() - 1;
    const std::size_t h = mix(bucket, tag);
    std::size_t i = h & mask;
    while (slots_[i]) i = (i + 1) & mask;
    slots_[i] = (std::uint64_t(h >> 32) << 32) | (std::uint64_t(index) + 1);
  }

  void grow_index() {
    slots_.assign(std::max<std::size_t>(2 * kMinDelta, slots_.size() * 2), 0);
    for (std::uint32_t i = 0; i < delta_.size(); ++i) place(i, delta_[i].bucket, Traits::tag(delta_[i].entry));
  }

  void merge() {
    std::sort(delta_.begin(), delta_.end(), [](const Pending& a, const Pending& b) { return a.bucket < b.bucket; });
    auto next = delta_.begin();
    for (std::size_t seg = 0; seg < segments_.size() && next != delta_.end(); ++seg) {
      auto end = std::find_if(next, delta_.end(), [&](const Pending& p) { return (p.bucket >> kSubBits) != seg; });
      if (next == end) continue;
      Segment& s = segments_[seg];
      Segment merged;
      merged.entries.reserve(s.entries.size() + std::size_t(end - next));
      merged.start.resize(kSubMask + 2);
      // Bucket by bucket: the old entries, then the new; the dead dropped.
      for (std::size_t sub = 0; sub <= kSubMask; ++sub) {
        merged.start[sub] = std::uint32_t(merged.entries.size());
        if (!s.start.empty())
          for (std::uint32_t i = s.start[sub]; i < s.start[sub + 1]; ++i)
            if (Traits::tag(s.entries[i]) != Traits::kDead) merged.entries.push_back(s.entries[i]);
        for (; next != end && (next->bucket & kSubMask) == sub; ++next)
          if (Traits::tag(next->entry) != Traits::kDead) merged.entries.push_back(next->entry);
      }
      merged.start[kSubMask + 1] = std::uint32_t(merged.entries.size());
      s = std::move(merged);
    }
    delta_.clear();
    std::fill(slots_.begin(), slots_.end(), 0);
  }

  std::array<Segment, 16> segments_;
  std::vector<Pending> delta_;
  static constexpr std::uint64_t kIndexMask = 0xffffffffu;
  std::vector<std::uint64_t> slots_;  ///< open addressing over delta_
  std::size_t size_ = 0;
};

}  // namespace dirsync
