#include "sync/target_index.hpp"

#include <dirsync/value.hpp>

#include <cstring>

namespace dirsync {

TargetIndex::Hashes TargetIndex::hashes(ObjectType type, std::string_view source_id) {
  // Two seeds, two independent hashes of the id: one places the entry, the
  // other tells it apart from its bucket's neighbours.
  const std::uint64_t a = wide_hash_bytes(source_id, 0x9e3779b97f4a7c15ull + std::uint64_t(type));
  const std::uint64_t b = wide_hash_bytes(source_id, 0xc2b2ae3d27d4eb4full + std::uint64_t(type));
  return {std::uint16_t(b >> 48), (a | 2) & ~std::uint64_t(1)};
}

namespace {

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

std::string_view TargetIndex::target(const Entry& e) const {
  if (e.check & 1) {
    unpack_uuid(e.bytes, decoded_);
    return decoded_;
  }
  std::uint32_t offset;
  std::memcpy(&offset, e.bytes, sizeof offset);
  if (offset == kNone) return {};
  const char* at = chunks_[offset / kChunk].get() + offset % kChunk;
  return {at + 2, std::size_t(std::uint8_t(at[0]) | std::uint8_t(at[1]) << 8)};
}

bool TargetIndex::store(Entry& e, std::uint64_t check, std::string_view target_id) {
  if (pack_uuid(target_id, e.bytes)) {
    e.check = check | 1;
    return true;
  }
  // Ids too long for the length field (or a chunk), or an arena past 4 GB,
  // are left to the state store: correct, only slower.
  const std::size_t size = 2 + target_id.size();
  if (target_id.size() > 0xffff || (chunks_.size() + 1) * kChunk >= kNone) return false;
  // An entry never straddles two chunks: a new chunk starts where one would not fit.
  if (chunks_.empty() || used_ + size > kChunk) {
    chunks_.push_back(std::make_unique<char[]>(kChunk));
    used_ = 0;
  }
  char* at = chunks_.back().get() + used_;
  at[0] = char(target_id.size() & 0xff);
  at[1] = char(target_id.size() >> 8);
  std::memcpy(at + 2, target_id.data(), target_id.size());
  const std::uint32_t offset = std::uint32_t((chunks_.size() - 1) * kChunk + used_);
  used_ += size;
  std::memcpy(e.bytes, &offset, sizeof offset);
  e.check = check;
  return true;
}

void TargetIndex::put(ObjectType type, std::string_view source_id, std::string_view target_id) {
  const Hashes h = hashes(type, source_id);
  Entry* e = table_.find(h.bucket, h.check);
  if (e && !is_marked(*e) && target(*e) == target_id) return;
  Entry fresh{};
  Entry& into = e ? *e : fresh;
  if (!store(into, h.check, target_id)) {
    // Kept as marked (still decided this run); the store answers for it.
    set_marked(into, h.check);
    complete_ = false;
  }
  if (!e) table_.insert(h.bucket, fresh);
}

bool TargetIndex::mark(ObjectType type, std::string_view source_id) {
  const Hashes h = hashes(type, source_id);
  if (table_.find(h.bucket, h.check)) return true;
  Entry fresh{};
  set_marked(fresh, h.check);
  table_.insert(h.bucket, fresh);
  return false;
}

bool TargetIndex::is_marked(const Entry& e) {
  std::uint32_t offset;
  std::memcpy(&offset, e.bytes, sizeof offset);
  return !(e.check & 1) && offset == kNone;
}

void TargetIndex::set_marked(Entry& e, std::uint64_t check) {
  e.check = check;
  std::memcpy(e.bytes, &kNone, sizeof kNone);
}

void TargetIndex::erase(ObjectType type, std::string_view source_id) {
  const Hashes h = hashes(type, source_id);
  table_.erase(h.bucket, h.check);
}

std::optional<std::string_view> TargetIndex::find(ObjectType type, std::string_view source_id) const {
  const Hashes h = hashes(type, source_id);
  const Entry* e = table_.find(h.bucket, h.check);
  if (!e || is_marked(*e)) return std::nullopt;
  return target(*e);
}

}  // namespace dirsync
