// Shaping SCIM resources on their way in and out of the store.
#pragma once

#include "schema.hpp"

#include <dirsync/value.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace dirsync::scim {

/// False when `json` nests arrays/objects deeper than `max_depth`. Checked
/// before parse_json, whose recursion a 100 KB "[[[[..." body would
/// otherwise turn into a stack overflow.
bool json_depth_within(std::string_view json, int max_depth);

/// Brings a client's resource to the stored shape: the schema's attribute
/// spelling whatever casing the client used ("USERNAME" -> "userName"),
/// booleans from Entra's "True"/"False" strings, "password" and read-only
/// attributes (id, meta, groups) dropped: this service provider never keeps a
/// password and assigns ids and meta itself.
void normalize(Object& resource, ResourceKind kind);

/// Applies `attributes` (only these, plus id and schemas) or
/// `excludedAttributes` (RFC 7644 §3.4.2.5); paths as in filters.
Object project(const Object& resource, const std::vector<std::string>& attributes,
               const std::vector<std::string>& excluded);

/// RFC 7644 §3.5.2 PATCH: applies every operation of a PatchOp body to
/// `resource` in place, or throws ScimError leaving it partly modified (the
/// caller works on a copy). Accepts Entra's capitalised op names, no-path
/// value objects whose keys are paths ("name.givenName", URN-qualified
/// enterprise attributes), "True"/"False" strings, and a plain manager id.
void apply_patch(Object& resource, const Value& body, ResourceKind kind);

}  // namespace dirsync::scim
