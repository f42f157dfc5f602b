// The independent SCIM server (tests/scim-app-server, SCIMMY) that the REST
// sink's end-to-end tests write to: checks that the fixture starts it and that
// it answers like a SCIM 2.0 service provider, with the Miro-like restrictions
// those tests rely on. If these fail, rest_scim_app_test failing says nothing
// about the sink.
#include <catch2/catch.hpp>

#include "support/scim_app_server.hpp"
#include "support/test_support.hpp"

#include <dirsync/http.hpp>
#include <dirsync/value.hpp>

using namespace dirsync;
using dirsync::test::ScimAppServer;

namespace {

const char* kUserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
const char* kErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error";
const char* kPatchSchema = R"("schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"])";

Object body_of(const http::Response& response) {
  INFO(response.status << " " << response.body);
  Value v = parse_json(response.body);
  REQUIRE(v.is_object());
  return v.as_object();
}

std::string str(const Object& o, const char* key) {
  const Value* v = o.find(key);
  return v && v->is_string() ? v->as_string() : std::string();
}

std::string user_json(const std::string& user_name, const std::string& given = "Ann") {
  return std::string(R"({"schemas":[")") + kUserSchema + R"("],"userName":")" + user_name +
         R"(","name":{"givenName":")" + given + R"(","familyName":"Lee"},"active":true})";
}

bool has_error_schema(const Object& o) {
  const Value* schemas = o.find("schemas");
  return schemas && schemas->is_list() && !schemas->as_list().empty() &&
         schemas->as_list().front() == Value(kErrorSchema);
}

}  // namespace

TEST_CASE("the SCIM app server creates, filters and patches users") {
  ScimAppServer server;
  auto created = server.scim("POST", "/Users", user_json("ann@contoso.example"));
  REQUIRE(created.status == 201);
  Object ann = body_of(created);
  const std::string id = str(ann, "id");
  REQUIRE_FALSE(id.empty());
  REQUIRE(server.scim("POST", "/Users", user_json("bob@contoso.example", "Bob")).status == 201);

  // A duplicate userName is a SCIM uniqueness conflict, not a second user.
  auto dup = server.scim("POST", "/Users", user_json("ann@contoso.example"));
  CHECK(dup.status == 409);
  CHECK(str(body_of(dup), "scimType") == "uniqueness");

  auto found =
      server.scim("GET", "/Users?filter=" + http::url_encode(R"(userName eq "ann@contoso.example")"));
  REQUIRE(found.status == 200);
  Object list = body_of(found);
  REQUIRE(list.find("totalResults"));
  CHECK(*list.find("totalResults") == Value(1));
  CHECK(str(list.find("Resources")->as_list().at(0).as_object(), "id") == id);

  auto patched = server.scim("PATCH", "/Users/" + id,
                             std::string("{") + kPatchSchema +
                                 R"(,"Operations":[{"op":"replace","path":"name.givenName","value":"Anna"},)"
                                 R"({"op":"replace","path":"active","value":false}]})");
  REQUIRE(patched.status == 200);
  Object after = body_of(server.scim("GET", "/Users/" + id));
  CHECK(str(after.find("name")->as_object(), "givenName") == "Anna");
  CHECK(str(after.find("name")->as_object(), "familyName") == "Lee");
  CHECK(*after.find("active") == Value(false));

  // Schema validation is SCIMMY's: a user without userName is refused.
  auto invalid = server.scim("POST", "/Users", std::string(R"({"schemas":[")") + kUserSchema + R"("]})");
  CHECK(invalid.status == 400);

  // The request log records what was sent, for the sink tests to inspect.
  List log = server.requests();
  REQUIRE(log.size() == 7);
  const Object& patch = log.at(4).as_object();
  CHECK(str(patch, "method") == "PATCH");
  CHECK(str(patch, "path") == "/Users/" + id);
  CHECK(*patch.find("status") == Value(200));
  server.clear_requests();
  CHECK(server.requests().empty());

  // A body that is not JSON is answered in SCIM's terms too.
  auto garbled = server.scim("POST", "/Users", R"({"userName":)");
  CHECK(garbled.status == 400);
  CHECK(str(body_of(garbled), "scimType") == "invalidSyntax");

  Value dump = server.dump();
  CHECK(dump.as_object().find("Users")->as_list().size() == 2);
  CHECK(test::find_resource(dump, "Users", "userName", "bob@contoso.example"));
  CHECK_FALSE(test::find_resource(dump, "Users", "userName", "carol@contoso.example"));
}

TEST_CASE("the SCIM app server refuses requests without the bearer token") {
  ScimAppServer server;
  auto anonymous = server.scim("GET", "/Users", {}, /*authorize=*/false);
  CHECK(anonymous.status == 401);
  CHECK(has_error_schema(body_of(anonymous)));
  auto create = server.scim("POST", "/Users", user_json("eve@contoso.example"), false);
  CHECK(create.status == 401);
  CHECK(server.dump().as_object().find("Users")->as_list().empty());
}

TEST_CASE("the SCIM app server's Miro-like groups: update only, member PATCH size limited") {
  test::TempDir dir;
  test::write_file(dir / "groups.json",
                   R"([{"id":"g-sales","displayName":"Sales"},{"id":"g-eng","displayName":"Engineering"}])");
  ScimAppServer server(
      {"--groups-update-only", "--max-patch-members", "2", "--seed-groups", (dir / "groups.json").string()});
  std::vector<std::string> ids;
  for (const char* name : {"u1@contoso.example", "u2@contoso.example", "u3@contoso.example"})
    ids.push_back(str(body_of(server.scim("POST", "/Users", user_json(name))), "id"));

  auto post =
      server.scim("POST", "/Groups",
                  R"({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"New"})");
  CHECK(post.status == 403);
  CHECK(has_error_schema(body_of(post)));
  CHECK(server.scim("DELETE", "/Groups/g-eng").status == 403);
  CHECK(server.dump().as_object().find("Groups")->as_list().size() == 2);

  auto members = [&](std::size_t from, std::size_t to) {
    std::string values;
    for (std::size_t i = from; i < to; ++i)
      values += std::string(values.empty() ? "" : ",") + R"({"value":")" + ids[i] + "\"}";
    return std::string("{") + kPatchSchema + R"(,"Operations":[{"op":"add","path":"members","value":[)" +
           values + "]}]}";
  };
  auto too_many = server.scim("PATCH", "/Groups/g-sales", members(0, 3));
  CHECK(too_many.status == 400);
  CHECK(str(body_of(too_many), "scimType") == "invalidValue");
  REQUIRE(server.scim("PATCH", "/Groups/g-sales", members(0, 2)).status == 200);
  REQUIRE(server.scim("PATCH", "/Groups/g-sales", members(2, 3)).status == 200);
  auto sales = test::find_resource(server.dump(), "Groups", "id", "g-sales");
  REQUIRE(sales);
  CHECK(sales->find("members")->as_list().size() == 3);

  // A member that is no resource of this server is refused, not stored.
  auto unknown =
      server.scim("PATCH", "/Groups/g-eng",
                  std::string("{") + kPatchSchema +
                      R"(,"Operations":[{"op":"add","path":"members","value":[{"value":"nobody"}]}]})");
  CHECK(unknown.status == 400);

  auto removed =
      server.scim("PATCH", "/Groups/g-sales",
                  std::string("{") + kPatchSchema +
                      R"(,"Operations":[{"op":"remove","path":"members[value eq \")" + ids[0] + R"(\"]"}]})");
  CHECK(removed.status == 200);
  sales = test::find_resource(server.dump(), "Groups", "id", "g-sales");
  REQUIRE(sales);
  CHECK(sales->find("members")->as_list().size() == 2);
}

TEST_CASE("the SCIM app server fixture fails loudly when the server cannot start") {
  // A bad option makes the server exit before listening; the fixture must
  // throw (naming the install script) rather than hang on the pipe.
  CHECK_THROWS_WITH(ScimAppServer({"--no-such-option"}), Catch::Contains(".ci/install-deps.sh"));
}
