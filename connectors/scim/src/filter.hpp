// RFC 7644 §3.4.2.2 filters and the attribute paths PATCH uses (§3.5.2).
//
// Attribute names match case-insensitively, as the RFC requires and Entra and
// Okta rely on. Unqualified names that are not in the core schema are also
// looked up in the resource's extension objects (so `employeeNumber eq "7"`
// finds the enterprise attribute). String comparisons follow the attribute's
// caseExact (id, externalId, members.value are exact; the rest are not), and
// dateTime strings compare as instants, not as text. A multi-valued attribute
// matches when any of its values does; `ne` is the negation of `eq`.
//
// Every malformed input throws ScimError(400, "invalidFilter"/"invalidPath")
// with the byte offset; nesting is bounded so hostile input cannot exhaust
// the stack.
#pragma once

#include "schema.hpp"
#include "scim_error.hpp"

#include <dirsync/value.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dirsync::scim {

struct AttrPath {
  std::string urn;   ///< schema URN prefix as written; empty when unqualified
  std::string attr;  ///< empty when the path names a whole extension (just the URN)
  std::string sub;   ///< sub-attribute after '.', or empty
  std::string to_string() const;
};

enum class CompareOp : std::uint8_t { eq, ne, co, sw, ew, gt, ge, lt, le, pr };

struct Filter {
  enum class Kind : std::uint8_t { logical_and, logical_or, logical_not, compare, value_path };
  Kind kind = Kind::compare;
  AttrPath path;                 ///< compare, value_path
  CompareOp op = CompareOp::eq;  ///< compare; value_path when `sub_compare`
  Value literal;
  std::unique_ptr<Filter> left;   ///< and/or/not operand; value_path: filter on each element
  std::unique_ptr<Filter> right;  ///< and/or
  /// value_path followed by `.sub op value` (emails[type eq "work"].value eq "x"):
  /// not in RFC 7644's grammar, accepted because clients write it.
  bool sub_compare = false;
};

std::unique_ptr<Filter> parse_filter(std::string_view text);

/// Evaluates `filter` against a stored resource. Throws invalidFilter for
/// comparisons the RFC forbids (ordering on booleans, substring on numbers).
bool matches(const Filter& filter, const Object& resource, ResourceKind kind);

/// `attr` or `attr.sub` or `attr[filter]` or `attr[filter].sub`, optionally URN-qualified.
struct PatchPath {
  AttrPath attr;
  std::unique_ptr<Filter> filter;  ///< value selection inside a multi-valued attribute
};
PatchPath parse_patch_path(std::string_view text);

/// Parses one attribute path such as `name.givenName` or
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
AttrPath parse_attr_path(std::string_view text);

/// `attr eq "text"` on an unqualified, non-nested attribute: what Entra sends
/// before every create, and what the server answers from an index.
struct SimpleEq {
  std::string attr;
  std::string value;
};
std::optional<SimpleEq> as_simple_eq(const Filter& filter);

/// Lower-cased texts that every resource matching `filter` must contain in
/// its compact JSON (string literals of eq/co/sw/ew under and-only paths), so
/// a scan can skip most rows without parsing them. Empty = no such text.
std::vector<std::string> required_text(const Filter& filter);
/// True when `json` contains each of `needles` (lower-case), ignoring ASCII case.
bool contains_all_ci(std::string_view json, const std::vector<std::string>& needles);

/// Object member by case-insensitive name (exact match preferred).
const Value* find_ci(const Object& object, std::string_view name);
Value* find_ci(Object& object, std::string_view name);

/// Evaluates a filter on one element of a multi-valued attribute `parent`
/// (`members[value eq "x"]`): paths in it are relative to the element.
bool matches_element(const Filter& filter, const Value& element, ResourceKind kind, std::string_view parent);

}  // namespace dirsync::scim
