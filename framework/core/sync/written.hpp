// What the state store keeps of the attributes last written to a user.
//
// Deciding an update needs to know which attributes changed, not what they
// were: the operation carries the new values only. So a user's link keeps a
// fingerprint — per attribute, a 32-bit hash of its name and a 64-bit hash of
// its value, 12 bytes — instead of the values as JSON (about 250 bytes for ten
// attributes; with the source snapshot, the bulk of what a first sync of a
// million users writes into the store). Groups keep JSON: their member lists
// are removed by value.
//
// A fingerprint starts with 'W' (values hashed with wide_hash) or 'F'
// (stable_hash, FNV-1a: stores from before wide_hash). Anything else is the
// JSON of earlier versions, still understood, and replaced by a fingerprint
// on the next write. An update keeps the hash its fingerprint was made with.
#pragma once

#include <dirsync/value.hpp>

#include "state/object_hash.hpp"

#include <string>
#include <string_view>

namespace dirsync::written {

/// The fingerprint of `attributes`, their values hashed with `hash`.
std::string fingerprint(const Object& attributes, ObjectHash hash);

/// The attributes of `mapped` whose value differs from `stored` (a fingerprint
/// or legacy JSON), or that `stored` does not have.
Object changed(const Object& mapped, std::string_view stored);

/// The fingerprint of `stored` with `changes` applied: what was written after
/// an update that sent only `changes`.
std::string merge(std::string_view stored, const Object& changes);

}  // namespace dirsync::written
