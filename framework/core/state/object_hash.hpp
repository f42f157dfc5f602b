// Which 64-bit hash a state store's links hold: of each source snapshot, each
// mapped object, and each attribute written (sync/written.hpp).
//
// A store created by this version holds wide_hash, several times faster than
// stable_hash (FNV-1a) on a first sync's critical thread. A store from before
// keeps FNV-1a: rehashing would make every link look changed, and the next
// run would rewrite a whole directory's links to tell nothing new.
#pragma once

#include <dirsync/value.hpp>

#include <cstdint>

namespace dirsync {

enum class ObjectHash { fnv1a, wide };

inline std::uint64_t hash_of(ObjectHash h, const Value& v) {
  return h == ObjectHash::wide ? wide_hash(v) : stable_hash(v);
}
inline std::uint64_t hash_of(ObjectHash h, const Object& o) {
  return h == ObjectHash::wide ? wide_hash(o) : stable_hash(o);
}

}  // namespace dirsync
