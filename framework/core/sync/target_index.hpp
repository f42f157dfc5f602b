// Target ids of the objects this run has linked, by source id.
//
// Resolving a group's members turns each member's source id into the target id
// the sink gave it. Asked of the state store, every member is a random read of
// the links table: the key index stays in the page cache, but the row does not
// (a million links are hundreds of MB), so a million memberships cost a million
// preads. The engine records here every link it writes or sees during the run,
// and asks the store only for what is not here (objects this run did not read).
//
// Layout: one flat array of 16-byte slots (open addressing, linear probing) and
// one arena of target id bytes; about 70 MB for a million users. A slot holds
// two independent hashes of (type, source id), 96 bits in all: a false hit needs
// both to collide, about 2^-56 over a million-by-million comparisons — rarer
// than a UUID collision, which every sink already lives with.
#pragma once

#include <dirsync/record.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dirsync {

class TargetIndex {
 public:
  /// Records (or replaces) the target of a source object.
  void put(ObjectType type, std::string_view source_id, std::string_view target_id);
  /// Forgets a source object: find() answers nullopt, and the caller's
  /// fallback (the state store) no longer has it either.
  void erase(ObjectType type, std::string_view source_id);
  /// The target id; nullopt when this run did not record the object. The view
  /// lives until the next put().
  std::optional<std::string_view> find(ObjectType type, std::string_view source_id) const;

  std::size_t size() const { return size_; }

 private:
  struct Slot {
    std::uint64_t key = 0;     ///< 0: empty
    std::uint32_t check = 0;
    std::uint32_t offset = 0;  ///< chunk * kChunk + position: a 2-byte length (kUuid: 16 packed bytes), then the bytes; kErased when forgotten
  };
  static constexpr std::uint32_t kErased = 0xffffffffu;

  struct Hashes {
    std::uint64_t key;
    std::uint32_t check;
  };
  static Hashes hashes(ObjectType type, std::string_view source_id);
  /// The slot holding `h`, or the empty slot where it would go.
  std::size_t probe(const Hashes& h) const;
  void grow();
  /// The target id at `offset` (decoded into `decoded_` when packed).
  std::string_view entry(std::uint32_t offset) const;
  std::uint32_t append(std::string_view target_id);

  static constexpr std::size_t kChunk = 1 << 20;
  std::vector<Slot> slots_;
  std::vector<std::unique_ptr<char[]>> chunks_;  ///< the arena
  std::size_t used_ = 0;                          ///< bytes used in the last chunk
  mutable std::string decoded_;
  std::size_t size_ = 0;
};

}  // namespace dirsync
