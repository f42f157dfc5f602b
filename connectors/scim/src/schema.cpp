#include "schema.hpp"

#include <cctype>

namespace dirsync::scim {

namespace {

AttrDef attr(std::string_view name, std::string_view type) {
  AttrDef d;
  d.name = name;
  d.type = type;
  return d;
}
AttrDef str(std::string_view name, bool case_exact = false) {
  AttrDef d = attr(name, "string");
  d.case_exact = case_exact;
  return d;
}
AttrDef boolean(std::string_view name) { return attr(name, "boolean"); }
AttrDef complex(std::string_view name, std::vector<AttrDef> sub, bool multi = false) {
  AttrDef d = attr(name, "complex");
  d.multi = multi;
  d.sub = std::move(sub);
  return d;
}
// The {value, display, type, primary} shape RFC 7643 uses for most multi-valued attributes.
AttrDef multi(std::string_view name) {
  return complex(name, {str("value"), str("display"), str("type"), boolean("primary")}, true);
}
AttrDef read_only(AttrDef d) {
  d.mutability = "readOnly";
  return d;
}

std::vector<AttrDef> common_attributes() {
  AttrDef id = str("id", true);
  id.mutability = "readOnly";
  id.returned = "always";
  id.uniqueness = "server";
  AttrDef external_id = str("externalId", true);
  AttrDef meta = read_only(complex("meta", {str("resourceType", true), attr("created", "dateTime"),
                                            attr("lastModified", "dateTime"), attr("location", "reference"),
                                            str("version", true)}));
  return {id, external_id, meta};
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

const std::vector<AttrDef>& user_attributes() {
  static const std::vector<AttrDef> attrs = [] {
    std::vector<AttrDef> a = common_attributes();
    AttrDef user_name = str("userName");
    user_name.required = true;
    user_name.uniqueness = "server";
    AttrDef password = str("password");
    password.mutability = "writeOnly";
    password.returned = "never";
    AttrDef addresses = complex("addresses",
                                {str("formatted"), str("streetAddress"), str("locality"), str("region"),
                                 str("postalCode"), str("country"), str("type"), boolean("primary")},
                                true);
    a.insert(a.end(),
             {user_name,
              complex("name", {str("formatted"), str("familyName"), str("givenName"), str("middleName"),
                               str("honorificPrefix"), str("honorificSuffix")}),
              str("displayName"), str("nickName"), attr("profileUrl", "reference"), str("title"),
              str("userType"), str("preferredLanguage"), str("locale"), str("timezone"), boolean("active"),
              password, multi("emails"), multi("phoneNumbers"), multi("ims"), multi("photos"), addresses,
              read_only(multi("groups")), multi("entitlements"), multi("roles"), multi("x509Certificates")});
    return a;
  }();
  return attrs;
}

const std::vector<AttrDef>& group_attributes() {
  static const std::vector<AttrDef> attrs = [] {
    std::vector<AttrDef> a = common_attributes();
    AttrDef display_name = str("displayName");
    display_name.required = true;
    AttrDef member_value = str("value", true);
    member_value.mutability = "immutable";
    a.insert(a.end(), {display_name, complex("members",
                                             {member_value, attr("$ref", "reference"), str("display"),
                                              str("type")},
                                             true)});
    return a;
  }();
  return attrs;
}

const std::vector<AttrDef>& enterprise_attributes() {
  static const std::vector<AttrDef> attrs = {
      str("employeeNumber"), str("costCenter"), str("organization"), str("division"), str("department"),
      complex("manager", {str("value", true), attr("$ref", "reference"), read_only(str("displayName"))})};
  return attrs;
}

namespace {

const AttrDef* find_in(const std::vector<AttrDef>& defs, std::string_view name) {
  for (const AttrDef& d : defs) {
    if (iequals(d.name, name)) return &d;
  }
  return nullptr;
}

}  // namespace

const AttrDef* find_attr(ResourceKind kind, std::string_view name, std::string_view sub) {
  const AttrDef* top = find_in(kind == ResourceKind::user ? user_attributes() : group_attributes(), name);
  if (!top && kind == ResourceKind::user) top = find_in(enterprise_attributes(), name);
  if (!top || sub.empty()) return top;
  return find_in(top->sub, sub);
}

std::string canonical_name(ResourceKind kind, std::string_view name, std::string_view parent) {
  const AttrDef* d = parent.empty() ? find_attr(kind, name) : find_attr(kind, parent, name);
  if (d) return std::string(d->name);
  if (iequals(name, "schemas")) return "schemas";
  return std::string(name);
}

std::string_view core_schema(ResourceKind kind) { return kind == ResourceKind::user ? kUserSchema : kGroupSchema; }

namespace {

Value describe(const AttrDef& d) {
  Object o{{"name", std::string(d.name)},
           {"type", std::string(d.type)},
           {"multiValued", d.multi},
           {"description", ""},
           {"required", d.required},
           {"caseExact", d.case_exact},
           {"mutability", std::string(d.mutability)},
           {"returned", std::string(d.returned)},
           {"uniqueness", std::string(d.uniqueness)}};
  if (!d.sub.empty()) {
    List sub;
    for (const AttrDef& s : d.sub) sub.push_back(describe(s));
    o.set("subAttributes", std::move(sub));
  }
  if (d.type == "reference") o.set("referenceTypes", List{Value("external"), Value("uri")});
  return o;
}

Value schema_doc(std::string_view urn, std::string_view name, const std::vector<AttrDef>& attrs,
                 const std::string& base_url) {
  List list;
  for (const AttrDef& d : attrs) {
    // id, externalId and meta are common attributes, not part of any schema (RFC 7643 §3.1).
    if (d.name == "id" || d.name == "externalId" || d.name == "meta") continue;
    list.push_back(describe(d));
  }
  return Object{{"schemas", List{Value("urn:ietf:params:scim:schemas:core:2.0:Schema")}},
                {"id", std::string(urn)},
                {"name", std::string(name)},
                {"description", std::string(name)},
                {"attributes", std::move(list)},
                {"meta", Object{{"resourceType", "Schema"}, {"location", base_url + "/Schemas/" + std::string(urn)}}}};
}

}  // namespace

Value schemas(const std::string& base_url) {
  return List{schema_doc(kUserSchema, "User", user_attributes(), base_url),
              schema_doc(kGroupSchema, "Group", group_attributes(), base_url),
              schema_doc(kEnterpriseSchema, "EnterpriseUser", enterprise_attributes(), base_url)};
}

Value resource_types(const std::string& base_url) {
  auto type = [&](std::string_view name, std::string_view endpoint, std::string_view schema) {
    Object o{{"schemas", List{Value("urn:ietf:params:scim:schemas:core:2.0:ResourceType")}},
             {"id", std::string(name)},
             {"name", std::string(name)},
             {"endpoint", std::string(endpoint)},
             {"description", std::string(name)},
             {"schema", std::string(schema)}};
    if (name == "User") {
      o.set("schemaExtensions", List{Value(Object{{"schema", std::string(kEnterpriseSchema)}, {"required", false}})});
    }
    o.set("meta", Object{{"resourceType", "ResourceType"}, {"location", base_url + "/ResourceTypes/" + std::string(name)}});
    return Value(std::move(o));
  };
  return List{type("User", "/Users", kUserSchema), type("Group", "/Groups", kGroupSchema)};
}

Value service_provider_config(const std::string& base_url, int max_results, std::int64_t max_body_bytes) {
  return Object{
      {"schemas", List{Value("urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig")}},
      {"documentationUri", "https://github.com/dirsync/dirsync/blob/main/docs/connectors/scim.md"},
      {"patch", Object{{"supported", true}}},
      {"bulk", Object{{"supported", false}, {"maxOperations", 0}, {"maxPayloadSize", max_body_bytes}}},
      {"filter", Object{{"supported", true}, {"maxResults", max_results}}},
      {"changePassword", Object{{"supported", false}}},
      {"sort", Object{{"supported", true}}},
      {"etag", Object{{"supported", true}}},
      {"authenticationSchemes",
       List{Value(Object{{"type", "oauthbearertoken"},
                         {"name", "OAuth Bearer Token"},
                         {"description", "Authentication scheme using the OAuth Bearer Token Standard"},
                         {"specUri", "https://www.rfc-editor.org/info/rfc6750"},
                         {"primary", true}})}},
      {"meta", Object{{"resourceType", "ServiceProviderConfig"}, {"location", base_url + "/ServiceProviderConfig"}}}};
}

}  // namespace dirsync::scim
