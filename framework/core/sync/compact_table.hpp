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
// segments one segment at a time, in place: a segment grows by its share
// of the delta (mremap, page_array.hpp), and the merge fills it from the
// back, so no moment holds a second copy of any of it. Each entry is still
// moved about sixteen times over a run, but within pages already touched.
#pragma once

#include "sync/page_array.hpp"

#include <algorithm>
#include <array>
#include <utility>
#include <cstdint>

namespace dirsync {

/// `Traits` says how to read an entry: `static Tag tag(const Entry&)`, never
/// `Traits::kDead` for a live entry; `static void kill(Entry&)` sets it to kDead.
template <typename Entry, typename Traits>
class CompactTable {
 public:
  using Tag = decltype(Traits::tag(std::declval<const Entry&>()));

  Entry* find(std::uint16_t bucket, Tag tag) {
    if (Entry* e = find_delta(bucket, tag)) return e;
    return find_merged(bucket, tag);
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

  /// The entry stays in place, dead, until its segment's next merge drops it.
  bool erase(std::uint16_t bucket, Tag tag) {
    Entry* e = find_delta(bucket, tag);
    if (!e) {
      e = find_merged(bucket, tag);
      if (!e) return false;
      ++segments_[bucket >> kSubBits].dead;
    }
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
    PageArray<Entry> entries;          ///< grouped by bucket
    PageArray<std::uint32_t> start;    ///< first entry of each bucket, then the end; empty until the first merge
    std::uint32_t dead = 0;            ///< killed entries among `entries`
  };
  struct Pending {
    std::uint16_t bucket;
    Entry entry;
  };

  static std::size_t mix(std::uint16_t bucket, std::uint64_t tag) {
    std::uint64_t h = (tag ^ (std::uint64_t(bucket) << 48)) * 0x9e3779b97f4a7c15ull;
    return std::size_t(h ^ (h >> 29));
  }

  Entry* find_merged(std::uint16_t bucket, Tag tag) {
    Segment& s = segments_[bucket >> kSubBits];
    if (s.start.empty()) return nullptr;
    const std::size_t sub = bucket & kSubMask;
    for (std::uint32_t i = s.start[sub]; i < s.start[sub + 1]; ++i)
      if (Traits::tag(s.entries[i]) == tag) return &s.entries[i];
    return nullptr;
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
    const Pending* next = delta_.begin();
    const Pending* const stop = delta_.end();
    for (std::size_t seg = 0; seg < segments_.size() && next != stop; ++seg) {
      const Pending* end = std::find_if(next, stop, [&](const Pending& p) { return (p.bucket >> kSubBits) != seg; });
      if (next != end) merge_into(segments_[seg], next, end);
      next = end;
    }
    delta_.clear();
    std::fill(slots_.begin(), slots_.end(), 0);
  }

  static bool live(const Entry& e) { return Traits::tag(e) != Traits::kDead; }

  /// Adds [first, last) (one segment's share of the delta, by bucket) to `s`.
  /// Bucket by bucket from the last: the new entries, then the old ones,
  /// each written to the end of what is left. The write position never
  /// passes the next old entry to read: it stays ahead of it by the new
  /// entries of the buckets still to come.
  static void merge_into(Segment& s, const Pending* first, const Pending* last) {
    if (s.start.empty()) s.start.assign(kSubMask + 2, 0);
    if (s.dead) drop_dead(s);
    std::size_t added = 0;
    for (const Pending* p = first; p != last; ++p) added += live(p->entry);
    std::uint32_t old_end = s.start[kSubMask + 1];
    std::size_t pos = s.entries.size() + added;
    s.entries.resize_uninitialized(pos);
    s.start[kSubMask + 1] = std::uint32_t(pos);
    for (std::size_t sub = kSubMask + 1; sub-- > 0;) {
      for (; last != first && (last[-1].bucket & kSubMask) == sub; --last)
        if (live(last[-1].entry)) s.entries[--pos] = last[-1].entry;
      const std::uint32_t old_begin = s.start[sub];
      for (std::uint32_t i = old_end; i > old_begin; --i) s.entries[--pos] = s.entries[i - 1];
      old_end = old_begin;
      s.start[sub] = std::uint32_t(pos);
    }
  }

  /// Erased entries leave when their segment next takes new ones.
  static void drop_dead(Segment& s) {
    std::uint32_t out = 0;
    for (std::size_t sub = 0; sub <= kSubMask; ++sub) {
      const std::uint32_t begin = s.start[sub], end = s.start[sub + 1];
      s.start[sub] = out;
      for (std::uint32_t i = begin; i < end; ++i)
        if (live(s.entries[i])) s.entries[out++] = s.entries[i];
    }
    s.start[kSubMask + 1] = out;
    s.entries.resize_uninitialized(out);
    s.dead = 0;
  }

  std::array<Segment, 16> segments_;
  PageArray<Pending> delta_;
  static constexpr std::uint64_t kIndexMask = 0xffffffffu;
  PageArray<std::uint64_t> slots_;  ///< open addressing over delta_
  std::size_t size_ = 0;
};

}  // namespace dirsync
