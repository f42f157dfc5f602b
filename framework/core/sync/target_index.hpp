// Target ids of the objects this run has linked, by source id.
//
// Resolving a group's members turns each member's source id into the target id
// the sink gave it. Asked of the state store, every member is a random read of
// the links table: the key index stays in the page cache, but the row does not
// (a million links are hundreds of MB), so a million memberships cost a million
// preads. The engine records here every link it writes or sees during the run,
// and asks the store only for what is not here (objects this run did not read).
//
// Layout: 24-byte entries in a compact table (compact_table.hpp), placed by
// the top 16 bits of one hash of (type, source id): a second, independent
// 64-bit hash, and the target id as 16 packed bytes when it is a lowercase
// UUID (what the sqlite sink and most APIs hand out), else the offset of its
// bytes in an arena. 78 bits must agree for a false hit: about 2^-38 over a
// million-by-million comparisons, rarer than a UUID collision, which every
// sink already lives with. About 26 MB for a million users.
#pragma once

#include <dirsync/record.hpp>

#include "sync/compact_table.hpp"

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
  /// Notes a source object as decided in this run, its target not known yet
  /// (find() answers nullopt until a put()). True when it was noted or put
  /// before: a first sync's duplicate check costs no set of its own.
  bool mark(ObjectType type, std::string_view source_id);
  /// Forgets a source object: find() answers nullopt, and the caller's
  /// fallback (the state store) no longer has it either.
  void erase(ObjectType type, std::string_view source_id);
  /// The target id; nullopt when this run did not record the object (or only
  /// marked it). The view lives until the next put().
  std::optional<std::string_view> find(ObjectType type, std::string_view source_id) const;

  std::size_t size() const { return table_.size(); }
  /// False once a put() was left to the state store (an id too long for the
  /// arena): a miss here then no longer means the run did not link the object.
  bool complete() const { return complete_; }

 private:
  struct Entry {
    std::uint64_t check;  ///< bit 1 always set (0 marks a dead entry); bit 0: `bytes` is a packed UUID, else an arena offset (kNone: marked only)
    char bytes[16];
  };
  struct Traits {
    static constexpr std::uint64_t kDead = 0;
    static std::uint64_t tag(const Entry& e) { return e.check & ~std::uint64_t(1); }
    static void kill(Entry& e) { e.check = kDead; }
  };
  struct Hashes {
    std::uint16_t bucket;
    std::uint64_t check;  ///< bit 0 clear, bit 1 set
  };
  static Hashes hashes(ObjectType type, std::string_view source_id);
  /// The target id an entry holds (decoded into `decoded_` when packed).
  std::string_view target(const Entry& e) const;
  /// Fills `e` with `target_id`: packed in place, or appended to the arena.
  /// False when the id cannot be kept (too long, or the arena is full).
  bool store(Entry& e, std::uint64_t check, std::string_view target_id);
  static bool is_marked(const Entry& e);
  static void set_marked(Entry& e, std::uint64_t check);

  static constexpr std::size_t kChunk = 1 << 20;
  static constexpr std::uint32_t kNone = 0xffffffffu;  ///< the arena offset of a marked entry
  CompactTable<Entry, Traits> table_;
  std::vector<std::unique_ptr<char[]>> chunks_;  ///< the arena: a 2-byte length, then the bytes
  std::size_t used_ = 0;                          ///< bytes used in the last chunk
  mutable std::string decoded_;
  bool complete_ = true;
};

}  // namespace dirsync
