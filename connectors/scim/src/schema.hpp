// What this service provider supports, once: the attribute definitions drive
// /Schemas, canonical attribute spelling on input, case-exactness in filters
// and the boolean coercion Entra needs ("active": "False").
#pragma once

#include <dirsync/value.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace dirsync::scim {

inline constexpr std::string_view kUserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
inline constexpr std::string_view kGroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group";
inline constexpr std::string_view kEnterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
inline constexpr std::string_view kListResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
inline constexpr std::string_view kPatchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
inline constexpr std::string_view kErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error";

struct AttrDef {
  std::string_view name;
  std::string_view type;  ///< string, boolean, complex, reference, dateTime, integer
  bool multi = false;
  bool required = false;
  bool case_exact = false;
  std::string_view mutability = "readWrite";
  std::string_view returned = "default";
  std::string_view uniqueness = "none";
  std::vector<AttrDef> sub;
};

enum class ResourceKind { user, group };

const std::vector<AttrDef>& user_attributes();
const std::vector<AttrDef>& group_attributes();
const std::vector<AttrDef>& enterprise_attributes();

/// The definition of a top-level (`sub` empty) or sub-attribute, found
/// case-insensitively; extension attributes are found without their URN.
const AttrDef* find_attr(ResourceKind kind, std::string_view name, std::string_view sub = {});

/// The schema's spelling of `name` (case-insensitive match), or `name` itself.
std::string canonical_name(ResourceKind kind, std::string_view name, std::string_view parent = {});

bool iequals(std::string_view a, std::string_view b);
std::string to_lower(std::string_view text);

/// Core schema URN of a resource kind.
std::string_view core_schema(ResourceKind kind);

/// Discovery documents, exactly describing what the server implements.
Value service_provider_config(const std::string& base_url, int max_results, std::int64_t max_body_bytes);
Value resource_types(const std::string& base_url);
Value schemas(const std::string& base_url);

}  // namespace dirsync::scim
