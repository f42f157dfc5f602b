// RFC 7644 §3.5.2 PATCH as the scim endpoint applies it, with the shapes
// Microsoft Entra's and Okta's provisioning clients send.
#include <catch2/catch.hpp>

#include "resource.hpp"
#include "scim_error.hpp"

#include <dirsync/value.hpp>

using namespace dirsync;
using namespace dirsync::scim;

namespace {

Object patched(const std::string& resource, const std::string& ops, ResourceKind kind = ResourceKind::user) {
  Object r = parse_json(resource).as_object();
  apply_patch(r, parse_json(R"({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":)" + ops + "}"),
              kind);
  return r;
}

std::string scim_type_of(const std::string& resource, const std::string& ops) {
  try {
    patched(resource, ops);
  } catch (const ScimError& e) {
    return std::to_string(e.status()) + " " + e.scim_type();
  }
  return "accepted";
}

const char* kUser = R"({"userName":"ann@x.com","active":true,"name":{"givenName":"Ann","familyName":"Lee"},
  "emails":[{"value":"ann@x.com","type":"work","primary":true}]})";
const char* kGroup = R"({"displayName":"Sales","members":[{"value":"u1"},{"value":"u2"}]})";

std::vector<std::string> member_ids(const Object& g) {
  std::vector<std::string> out;
  if (const Value* m = g.find("members")) {
    for (const Value& v : m->as_list()) out.push_back(v.as_object().find("value")->as_string());
  }
  return out;
}

}  // namespace

TEST_CASE("scim patch: Entra's capitalised ops and \"False\" strings") {
  Object r = patched(kUser, R"([{"op":"Replace","path":"active","value":"False"}])");
  REQUIRE(r.find("active")->is_bool());
  CHECK(r.find("active")->as_bool() == false);
  r = patched(kUser, R"([{"op":"replace","value":{"active":"True"}}])");
  CHECK(r.find("active")->as_bool() == true);
  r = patched(kUser, R"([{"op":"ADD","path":"title","value":"Boss"}])");
  CHECK(r.find("title")->as_string() == "Boss");
}

TEST_CASE("scim patch: no-path value objects whose keys are paths") {
  Object r = patched(kUser, R"([{"op":"Replace","value":{
      "name.givenName":"Anna", "displayName":"Anna Lee",
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Sales",
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7"}}}])");
  CHECK(lookup_path(r, "name.givenName")->as_string() == "Anna");
  CHECK(lookup_path(r, "name.familyName")->as_string() == "Lee");  // other sub-attributes stay
  CHECK(r.find("displayName")->as_string() == "Anna Lee");
  const Value* ext = r.find("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
  REQUIRE(ext);
  CHECK(ext->as_object().find("department")->as_string() == "Sales");
  CHECK(ext->as_object().find("employeeNumber")->as_string() == "7");
  bool listed = false;
  for (const Value& s : r.find("schemas")->as_list()) {
    listed = listed || s.as_string() == "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
  }
  CHECK(listed);
}

TEST_CASE("scim patch: attribute paths are case-insensitive and stored in schema spelling") {
  Object r = patched(kUser, R"([{"op":"replace","path":"NAME.GIVENNAME","value":"Anna"},
                               {"op":"add","path":"DisplayName","value":"A"}])");
  CHECK(lookup_path(r, "name.givenName")->as_string() == "Anna");
  CHECK(r.find("displayName"));
  CHECK_FALSE(r.find("DisplayName"));
}

TEST_CASE("scim patch: value filters select entries of multi-valued attributes") {
  Object r = patched(kUser, R"([{"op":"replace","path":"emails[type eq \"work\"].value","value":"new@x.com"}])");
  CHECK(lookup_path(r, "emails.value")->as_string() == "new@x.com");
  CHECK(r.find("emails")->as_list().size() == 1);

  // Entra adds a work email to a user without one: the filter describes the new entry.
  r = patched(R"({"userName":"b"})", R"([{"op":"Add","path":"emails[type eq \"work\"].value","value":"b@x.com"}])");
  REQUIRE(r.find("emails"));
  CHECK(to_json(*r.find("emails")) == R"([{"type":"work","value":"b@x.com"}])");

  r = patched(kUser, R"([{"op":"remove","path":"emails[type eq \"work\"]"}])");
  CHECK(r.find("emails")->as_list().empty());

  CHECK(scim_type_of(kUser, R"([{"op":"replace","path":"emails[type eq \"home\"]","value":{"value":"h@x"}}])") ==
        "400 noTarget");
}

TEST_CASE("scim patch: group members in batches, removed by filter or by value list") {
  Object g = patched(kGroup, R"([{"op":"Add","path":"members","value":[{"value":"u3"},{"value":"u2"}]}])",
                     ResourceKind::group);
  CHECK(member_ids(g) == std::vector<std::string>{"u1", "u2", "u3"});  // u2 not duplicated

  g = patched(kGroup, R"([{"op":"Remove","path":"members[value eq \"u1\"]"}])", ResourceKind::group);
  CHECK(member_ids(g) == std::vector<std::string>{"u2"});

  g = patched(kGroup, R"([{"op":"Remove","path":"members","value":[{"value":"u2"},{"value":"absent"}]}])",
              ResourceKind::group);
  CHECK(member_ids(g) == std::vector<std::string>{"u1"});

  g = patched(kGroup, R"([{"op":"replace","path":"members","value":[{"value":"u9"}]}])", ResourceKind::group);
  CHECK(member_ids(g) == std::vector<std::string>{"u9"});

  g = patched(kGroup, R"([{"op":"remove","path":"members"}])", ResourceKind::group);
  CHECK_FALSE(g.find("members"));

  g = patched(kGroup, R"([{"op":"remove","path":"members[value eq \"nobody\"]"}])", ResourceKind::group);
  CHECK(member_ids(g).size() == 2);  // removing what is not there is not an error: Entra retries otherwise
}

TEST_CASE("scim patch: the enterprise manager as Entra sends it") {
  Object r = patched(kUser, R"([{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                                "value":"26118915"}])");
  CHECK(lookup_path(r, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")->as_object().find("manager")->as_object().find("value")->as_string() ==
        "26118915");
  r = patched(to_json(Value(r)), R"([{"op":"Remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}])");
  CHECK_FALSE(lookup_path(r, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")->as_object().find("manager"));
}

TEST_CASE("scim patch: add merges complex values, replace of a sub-attribute keeps the rest") {
  Object r = patched(kUser, R"([{"op":"add","path":"name","value":{"middleName":"J"}}])");
  CHECK(to_json(*r.find("name")) == R"({"givenName":"Ann","familyName":"Lee","middleName":"J"})");
  r = patched(kUser, R"([{"op":"replace","path":"name.familyName","value":"Li"}])");
  CHECK(to_json(*r.find("name")) == R"({"givenName":"Ann","familyName":"Li"})");
  r = patched(kUser, R"([{"op":"remove","path":"name.familyName"}])");
  CHECK(to_json(*r.find("name")) == R"({"givenName":"Ann"})");
  r = patched(kUser, R"([{"op":"replace","path":"title","value":null}])");
  CHECK_FALSE(r.find("title"));
}

TEST_CASE("scim patch: refusals") {
  CHECK(scim_type_of(kUser, R"([{"op":"remove"}])") == "400 noTarget");
  CHECK(scim_type_of(kUser, R"([{"op":"move","path":"title"}])") == "400 invalidSyntax");
  CHECK(scim_type_of(kUser, R"([{"op":"replace","path":"id","value":"x"}])") == "400 mutability");
  CHECK(scim_type_of(kUser, R"([{"op":"replace","path":"meta.version","value":"x"}])") == "400 mutability");
  CHECK(scim_type_of(kUser, R"([{"op":"replace","value":"not an object"}])") == "400 invalidValue");
  CHECK(scim_type_of(kUser, R"([{"op":"add","path":"emails[type eq","value":"x"}])") == "400 invalidFilter");
  CHECK(scim_type_of(kUser, R"([{"op":"add","path":"urn:example:custom:Thing:x","value":"x"}])") == "400 invalidPath");
  CHECK(scim_type_of(kUser, R"({"not":"a list"})").starts_with("400"));
  CHECK(scim_type_of(kUser, R"([42])") == "400 invalidSyntax");
}

TEST_CASE("scim resources: normalize and project") {
  Object r = parse_json(R"({"USERNAME":"a","Active":"false","password":"p4ss","id":"client-id",
                            "Emails":[{"VALUE":"a@x","Primary":"True"}]})").as_object();
  normalize(r, ResourceKind::user);
  CHECK(to_json(Value(r)) == R"({"userName":"a","active":false,"emails":[{"value":"a@x","primary":true}]})");

  Object full = parse_json(R"({"schemas":["s"],"id":"1","userName":"a","name":{"givenName":"A","familyName":"B"},
      "emails":[{"value":"a@x","type":"work"}],"meta":{"version":"W/\"1\""},
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"D","division":"V"}})").as_object();
  CHECK(to_json(Value(project(full, {"userName", "name.givenName", "emails.value"}, {}))) ==
        R"({"schemas":["s"],"id":"1","userName":"a","name":{"givenName":"A"},"emails":[{"value":"a@x"}]})");
  CHECK(to_json(Value(project(full, {"department"}, {}))) ==
        R"({"schemas":["s"],"id":"1","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"D"}})");
  CHECK(to_json(Value(project(full, {}, {"emails", "name.familyName", "meta", "id",
                                         "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division"}))) ==
        R"({"schemas":["s"],"id":"1","userName":"a","name":{"givenName":"A"},"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"D"}})");
}

TEST_CASE("scim patch: Okta's group rename repeats the group's own id") {
  const char* group = R"({"id":"g1","displayName":"Old","members":[{"value":"u1"}]})";
  Object g = patched(group, R"([{"op":"replace","value":{"id":"g1","displayName":"New"}}])", ResourceKind::group);
  CHECK(g.find("displayName")->as_string() == "New");
  CHECK(scim_type_of(group, R"([{"op":"replace","value":{"id":"other","displayName":"New"}}])") == "400 mutability");
}

TEST_CASE("scim json depth guard counts brackets outside strings only") {
  CHECK(json_depth_within(R"({"a":[{"b":1}]})", 3));
  CHECK_FALSE(json_depth_within(R"({"a":[{"b":1}]})", 2));
  CHECK(json_depth_within(R"({"a":"[[[[[[\"[[[["})", 1));
  CHECK_FALSE(json_depth_within(std::string(100000, '['), 32));
}
