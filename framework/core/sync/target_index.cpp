#include "sync/target_index.hpp"

namespace dirsync {

TargetIndex::Hashes TargetIndex::hashes(ObjectType type, std::string_view source_id) {
  // FNV-1a over the id with two different offset bases, each finished by a
  // different mixer: two hashes that share no state after the first byte.
  std::uint64_t a = 1469598103934665603ull ^ std::uint64_t(type);
  std::uint64_t b = 0x9e3779b97f4a7c15ull + std::uint64_t(type);
  for (unsigned char c : source_id) {
    a = (a ^ c) * 1099511628211ull;
    b = (b ^ c) * 0x100000001b3ull + 0x632be59bd9b4e019ull;
  }
  a ^= a >> 33;
  a *= 0xff51afd7ed558ccdull;
  a ^= a >> 33;
  b ^= b >> 31;
  b *= 0xbf58476d1ce4e5b9ull;
  b ^= b >> 29;
  return {a ? a : 1, std::uint32_t(b >> 32)};
}

std::size_t TargetIndex::probe(const Hashes& h) const {
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = h.key & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.key == 0 || (s.key == h.key && s.check == h.check)) return i;
  }
}

void TargetIndex::put(ObjectType type, std::string_view source_id, std::string_view target_id) {
  // Ids longer than a 2-byte length, or an arena past 4 GB, are left to the
  // state store: correct, only slower.
  if (target_id.size() > 0xffff || arena_.size() + target_id.size() + 2 >= kErased) return;
  if ((size_ + 1) * 4 > slots_.size() * 3) grow();
  Hashes h = hashes(type, source_id);
  Slot& s = slots_[probe(h)];
  if (s.key == 0) {
    s.key = h.key;
    s.check = h.check;
    ++size_;
  } else if (s.offset != kErased) {
    std::string_view old(arena_.data() + s.offset + 2,
                         std::uint8_t(arena_[s.offset]) | std::uint8_t(arena_[s.offset + 1]) << 8);
    if (old == target_id) return;
  }
  s.offset = std::uint32_t(arena_.size());
  arena_.push_back(char(target_id.size() & 0xff));
  arena_.push_back(char(target_id.size() >> 8));
  arena_.append(target_id);
}

void TargetIndex::erase(ObjectType type, std::string_view source_id) {
  if (slots_.empty()) return;
  Slot& s = slots_[probe(hashes(type, source_id))];
  if (s.key != 0) s.offset = kErased;
}

std::optional<std::string_view> TargetIndex::find(ObjectType type, std::string_view source_id) const {
  if (slots_.empty()) return std::nullopt;
  const Slot& s = slots_[probe(hashes(type, source_id))];
  if (s.key == 0 || s.offset == kErased) return std::nullopt;
  std::size_t length = std::uint8_t(arena_[s.offset]) | std::uint8_t(arena_[s.offset + 1]) << 8;
  return std::string_view(arena_.data() + s.offset + 2, length);
}

void TargetIndex::grow() {
  std::vector<Slot> old;
  old.swap(slots_);
  slots_.assign(old.empty() ? 1024 : old.size() * 2, Slot{});
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.key == 0) continue;
    std::size_t i = s.key & mask;
    while (slots_[i].key != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

}  // namespace dirsync
