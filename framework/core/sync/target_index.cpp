#include "sync/target_index.hpp"

#include <cstring>

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

namespace {

constexpr std::uint16_t kUuid = 0xffff;  ///< length field of an entry stored as 16 UUID bytes

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/// A lowercase 8-4-4-4-12 UUID (what the sqlite sink and most APIs hand
/// out) as 16 bytes; false for anything else, which is stored as it is.
bool pack_uuid(std::string_view id, char* out) {
  if (id.size() != 36) return false;
  int n = 0;
  for (std::size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (id[i++] != '-') return false;
      continue;
    }
    int hi = hex_value(id[i]), lo = hex_value(id[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[n++] = char(hi << 4 | lo);
    i += 2;
  }
  return true;
}

void unpack_uuid(const char* in, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.clear();
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[std::uint8_t(in[i]) >> 4]);
    out.push_back(kHex[std::uint8_t(in[i]) & 15]);
  }
}

}  // namespace

std::string_view TargetIndex::entry(std::uint32_t offset) const {
  const char* at = chunks_[offset / kChunk].get() + offset % kChunk;
  std::uint16_t length = std::uint16_t(std::uint8_t(at[0]) | std::uint8_t(at[1]) << 8);
  if (length != kUuid) return {at + 2, length};
  unpack_uuid(at + 2, decoded_);
  return decoded_;
}

std::uint32_t TargetIndex::append(std::string_view target_id) {
  char packed[16];
  const bool uuid = pack_uuid(target_id, packed);
  const std::size_t size = 2 + (uuid ? 16 : target_id.size());
  // An entry never straddles two chunks: a new chunk starts where one would not fit.
  if (chunks_.empty() || used_ + size > kChunk) {
    chunks_.push_back(std::make_unique<char[]>(kChunk));
    used_ = 0;
  }
  char* at = chunks_.back().get() + used_;
  const std::uint16_t length = uuid ? kUuid : std::uint16_t(target_id.size());
  at[0] = char(length & 0xff);
  at[1] = char(length >> 8);
  std::memcpy(at + 2, uuid ? packed : target_id.data(), size - 2);
  const std::uint32_t offset = std::uint32_t((chunks_.size() - 1) * kChunk + used_);
  used_ += size;
  return offset;
}

void TargetIndex::put(ObjectType type, std::string_view source_id, std::string_view target_id) {
  // Ids too long for the length field (or a chunk), or an index past 4 GB, are
  // left to the state store: correct, only slower.
  if (target_id.size() >= kUuid || (chunks_.size() + 1) * kChunk >= kErased) return;
  if ((size_ + 1) * 4 > slots_.size() * 3) grow();
  Hashes h = hashes(type, source_id);
  Slot& s = slots_[probe(h)];
  if (s.key == 0) {
    s.key = h.key;
    s.check = h.check;
    ++size_;
  } else if (s.offset != kErased && entry(s.offset) == target_id) {
    return;
  }
  s.offset = append(target_id);
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
  return entry(s.offset);
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
