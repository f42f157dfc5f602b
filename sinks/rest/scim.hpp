// SCIM 2.0 client requests (RFC 7643/7644) from mapped attributes: pure
// functions, no I/O. The pipeline's target attribute names are SCIM attribute
// paths: `userName`, `name.givenName`, `emails[type eq "work"].value`,
// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`.
#pragma once

#include <dirsync/record.hpp>
#include <dirsync/value.hpp>

#include <optional>
#include <string>
#include <vector>

namespace dirsync::rest::scim {

inline constexpr const char* kUserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
inline constexpr const char* kGroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group";
inline constexpr const char* kPatchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
inline constexpr const char* kEnterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The resource to POST: attribute paths turned into nested JSON, null values
/// left out, `schemas` listing the core schema and every extension used, and
/// `members` (groups) as [{"value": id}].
Object resource(ObjectType type, const Object& attributes, const std::vector<std::string>& members);

/// One PatchOp operation per attribute: `replace` with the value, `remove`
/// for null. The enterprise manager becomes {"value": id}.
List patch_operations(const Object& attributes);

/// For a PatchOp the provider refused with scimType noTarget: operations on
/// a value path whose element does not exist yet (`emails[type eq "work"].value`)
/// become an `add` of that element to its multi-valued attribute
/// (`emails` += {"type": "work", "value": ...}); removes of such paths are
/// dropped (nothing to remove). Returns nullopt when no operation has a value path.
std::optional<List> add_missing_elements(const List& operations);

/// `add`/`remove` of `members` with [{"value": id}, ...].
Value member_operation(const char* op, const std::vector<std::string>& ids, std::size_t from, std::size_t to);

/// A PatchOp message around `operations`.
Value patch_message(List operations);

/// `attribute eq "value"` with the value escaped per RFC 7644 3.4.2.2 (a
/// string's quotes and backslashes; booleans and numbers bare). A value
/// sub-attribute path `emails[type eq "work"].value` becomes
/// `emails[type eq "work" and value eq "..."]`.
std::string equality_filter(const std::string& attribute, const Value& value);

}  // namespace dirsync::rest::scim
