// The REST sink's SCIM profile against a loopback SCIM service provider:
// matching by filter, POST, PATCH of changed attributes only, disable by
// active=false, DELETE, member PATCH chunking, and update-only groups.
#include <catch2/catch.hpp>

#include "support/http_test_server.hpp"

#include <set>
#include <utility>

#include "../../sinks/rest/config.cpp"
#include "../../sinks/rest/rest_sink.cpp"
#include "../../sinks/rest/scim.cpp"
#include "../../sinks/rest/template.cpp"
#include "../../sinks/rest/transport.cpp"

using namespace dirsync;
using namespace dirsync::rest;
using namespace dirsync::test;

namespace {

const std::string kToken = "scim-T0ken-9f2e";

struct Scim {
  FakeScim app{kToken};
  ManualClock clock;
  CapturingLogger log;
  std::unique_ptr<RestSink> sink;

  explicit Scim(Object extra = {}) {
    Object s{{"profile", Value("scim")},     {"base_url", Value(app.base_url())}, {"auth", Value("bearer")},
             {"token", Value(kToken)},       {"concurrency", Value(1)},           {"max_members_per_patch", Value(100)}};
    for (auto& [k, v] : extra) s.set(k, v);
    Settings settings(std::move(s));
    sink = std::make_unique<RestSink>(RestConfig::from(settings), settings, &log, &clock);
  }
  OpResult apply(const Operation& op) {
    std::vector<OpResult> results(1);
    sink->apply(std::span<const Operation>(&op, 1), results);
    return results[0];
  }
  /// The requests since `from`, as "METHOD path?query".
  std::vector<std::string> lines(std::size_t from = 0) {
    std::vector<std::string> out;
    auto reqs = app.server().requests();
    for (std::size_t i = from; i < reqs.size(); ++i)
      out.push_back(reqs[i].method + " " + reqs[i].path + (reqs[i].query.empty() ? "" : "?" + reqs[i].query));
    return out;
  }
  Value body(std::size_t index) { return parse_json(app.server().requests().at(index).body); }
};

Operation op(OpKind kind, ObjectType type, std::string target_id, Object attributes) {
  Operation o;
  o.kind = kind;
  o.type = type;
  o.source_id = "src-" + target_id;
  o.target_id = std::move(target_id);
  o.attributes = std::move(attributes);
  return o;
}

std::vector<std::string> ids(int n, const std::string& prefix = "m") {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

std::size_t member_values(const Value& patch) {
  std::size_t n = 0;
  for (const Value& o : patch.as_object().find("Operations")->as_list())
    if (o.as_object().find("path")->as_string() == "members") n += o.as_object().find("value")->as_list().size();
  return n;
}

}  // namespace

TEST_CASE("scim: find matches by userName with the filter escaped and URL-encoded") {
  Scim s;
  std::string id = s.app.seed("Users", Object{{"userName", Value("o\"brien\\x@contoso.example")}});
  s.app.seed("Users", Object{{"userName", Value("other@contoso.example")}});
  auto found = s.sink->find(ObjectType::user, "userName", Value("o\"brien\\x@contoso.example"), true);
  CHECK(found == std::vector<std::string>{id});
  auto reqs = s.app.server().requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].query == R"(filter=userName eq "o\"brien\\x@contoso.example")");
  CHECK(reqs[0].uri.find(' ') == std::string::npos);
  CHECK(reqs[0].uri.find("%22") != std::string::npos);
  CHECK(reqs[0].header("Authorization") == "Bearer " + kToken);
  CHECK(s.sink->find(ObjectType::user, "userName", Value("nobody@contoso.example"), true).empty());
  CHECK(s.sink->find(ObjectType::group, "displayName", Value("Eng"), true).empty());
  CHECK(s.lines(1) == std::vector<std::string>{R"(GET /scim/Users?filter=userName eq "nobody@contoso.example")",
                                               R"(GET /scim/Groups?filter=displayName eq "Eng")"});
}

TEST_CASE("scim: create POSTs a core User with nested attributes and returns the id") {
  Scim s;
  auto r = s.apply(op(OpKind::create, ObjectType::user, "",
                      Object{{"userName", Value("ann@contoso.example")},
                             {"name.givenName", Value("Ann")},
                             {"emails[type eq \"work\"].value", Value("ann@contoso.example")},
                             {"active", Value(true)},
                             {"externalId", Value("6f1c")}}));
  REQUIRE(r.ok);
  CHECK(r.target_id == s.app.ids("Users").at(0));
  CHECK(s.lines() == std::vector<std::string>{"POST /scim/Users"});
  CHECK(to_json(s.body(0)) ==
        R"({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ann@contoso.example",)"
        R"("name":{"givenName":"Ann"},"emails":[{"type":"work","value":"ann@contoso.example"}],"active":true,)"
        R"("externalId":"6f1c"})");
  CHECK(s.app.server().requests()[0].header("Content-Type") == "application/scim+json");
  CHECK(s.app.server().requests()[0].header("Accept") == "application/scim+json");
}

TEST_CASE("scim: update PATCHes only the changed attributes; nothing changed sends nothing") {
  Scim s;
  std::string id = s.app.seed("Users", Object{{"userName", Value("ann@contoso.example")}, {"title", Value("x")}});
  auto r = s.apply(op(OpKind::update, ObjectType::user, id, Object{{"name.familyName", Value("Lee")}, {"title", Value()}}));
  REQUIRE(r.ok);
  CHECK(s.lines() == std::vector<std::string>{"PATCH /scim/Users/" + id});
  CHECK(to_json(s.body(0)) ==
        R"({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[)"
        R"({"op":"replace","path":"name.familyName","value":"Lee"},{"op":"remove","path":"title"}]})");
  CHECK(s.app.get("Users", id).as_object().find("title") == nullptr);
  REQUIRE(s.apply(op(OpKind::update, ObjectType::user, id, Object{})).ok);
  CHECK(s.lines().size() == 1);
}

TEST_CASE("scim: disable is a PATCH of active=false; delete is a DELETE, 404 meaning already gone") {
  Scim s;
  std::string id = s.app.seed("Users", Object{{"userName", Value("ann@contoso.example")}, {"active", Value(true)}});
  REQUIRE(s.apply(op(OpKind::disable, ObjectType::user, id, Object{})).ok);
  CHECK(to_json(s.body(0)) ==
        R"({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[)"
        R"({"op":"replace","path":"active","value":false}]})");
  CHECK(s.app.get("Users", id).as_object().find("active")->as_bool() == false);
  REQUIRE(s.apply(op(OpKind::remove, ObjectType::user, id, Object{})).ok);
  CHECK(s.app.size("Users") == 0);
  REQUIRE(s.apply(op(OpKind::remove, ObjectType::user, id, Object{})).ok);
  CHECK(s.lines() == std::vector<std::string>{"PATCH /scim/Users/" + id, "DELETE /scim/Users/" + id,
                                              "DELETE /scim/Users/" + id});
}

TEST_CASE("scim: a 4xx is that object's failure with the SCIM detail") {
  Scim s;
  s.app.before = [](const HttpExchange& x, int) {
    if (x.method == "POST" && x.body.find("bad@") != std::string::npos)
      return HttpReply::json(400, Value(Object{{"detail", Value("Attribute 'userName' is invalid")},
                                              {"scimType", Value("invalidValue")}}));
    return HttpReply::pass();
  };
  Operation bad = op(OpKind::create, ObjectType::user, "", Object{{"userName", Value("bad@contoso.example")}});
  Operation good = op(OpKind::create, ObjectType::user, "", Object{{"userName", Value("good@contoso.example")}});
  std::vector<Operation> ops{bad, good};
  std::vector<OpResult> results(2);
  s.sink->apply(ops, results);
  CHECK_FALSE(results[0].ok);
  CHECK(results[0].error == "POST " + s.app.base_url() + "/Users answered 400: Attribute 'userName' is invalid");
  CHECK(results[1].ok);
  CHECK(s.app.size("Users") == 1);
}

TEST_CASE("scim: a create whose answer is lost is found by userName, not duplicated") {
  Scim s;
  s.app.after = [lost = false](const HttpExchange& x, HttpReply reply) mutable {
    if (x.method == "POST" && !lost) {
      lost = true;
      reply.drop = true;
    }
    return reply;
  };
  auto r = s.apply(op(OpKind::create, ObjectType::user, "", Object{{"userName", Value("ann@contoso.example")}}));
  REQUIRE(r.ok);
  CHECK(s.app.size("Users") == 1);
  CHECK(r.target_id == s.app.ids("Users").at(0));
  CHECK(s.lines() == std::vector<std::string>{"POST /scim/Users",
                                              R"(GET /scim/Users?filter=userName eq "ann@contoso.example")"});
}

TEST_CASE("scim: a 409 on create adopts the existing user and writes the attributes") {
  Scim s;
  std::string id = s.app.seed("Users", Object{{"userName", Value("ann@contoso.example")}, {"title", Value("old")}});
  auto r = s.apply(op(OpKind::create, ObjectType::user, "",
                      Object{{"userName", Value("ann@contoso.example")}, {"title", Value("new")}}));
  REQUIRE(r.ok);
  CHECK(r.target_id == id);
  CHECK(s.app.size("Users") == 1);
  CHECK(s.app.get("Users", id).as_object().find("title")->as_string() == "new");
}

TEST_CASE("scim: group members go in PATCHes of at most max_members_per_patch values") {
  Scim s(Object{{"max_members_per_patch", Value(100)}});
  Operation create = op(OpKind::create, ObjectType::group, "", Object{{"displayName", Value("Everyone")}});
  create.members_add = ids(250);
  auto r = s.apply(create);
  REQUIRE(r.ok);
  CHECK(s.lines() == std::vector<std::string>{"POST /scim/Groups", "PATCH /scim/Groups/" + r.target_id,
                                              "PATCH /scim/Groups/" + r.target_id});
  CHECK(s.body(0).as_object().find("members")->as_list().size() == 100);
  CHECK(member_values(s.body(1)) == 100);
  CHECK(member_values(s.body(2)) == 50);
  CHECK(s.app.get("Groups", r.target_id).as_object().find("members")->as_list().size() == 250);

  Operation update = op(OpKind::update, ObjectType::group, r.target_id, Object{{"displayName", Value("All")}});
  update.members_add = ids(120, "n");
  update.members_remove = ids(30);
  REQUIRE(s.apply(update).ok);
  auto reqs = s.app.server().requests();
  REQUIRE(reqs.size() == 5);
  CHECK(member_values(s.body(3)) == 100);  // the 30 removals, then 70 additions
  CHECK(member_values(s.body(4)) == 50);
  CHECK(to_json(s.body(3).as_object().find("Operations")->as_list()[0]) ==
        R"({"op":"replace","path":"displayName","value":"All"})");
  CHECK(s.app.get("Groups", r.target_id).as_object().find("members")->as_list().size() == 340);
}

TEST_CASE("scim: update-only groups are matched and patched, never created or deleted") {
  Scim s(Object{{"groups", Value(Object{{"create", Value(false)}, {"delete", Value(false)}})}});
  std::string sales = s.app.seed("Groups", Object{{"displayName", Value("Sales")}});

  // Exists in the app: the create becomes a PATCH of that group.
  Operation create = op(OpKind::create, ObjectType::group, "", Object{{"displayName", Value("Sales")}});
  create.members_add = {"u1", "u2"};
  auto r = s.apply(create);
  REQUIRE(r.ok);
  CHECK(r.target_id == sales);
  // Absent: reported as skipped, nothing is POSTed.
  r = s.apply(op(OpKind::create, ObjectType::group, "", Object{{"displayName", Value("Marketing")}}));
  CHECK_FALSE(r.ok);
  CHECK(r.error == "skipped: groups.create is false (update only) and no group with displayName 'Marketing' "
                   "exists in the target");
  // Delete and disable leave the group alone.
  CHECK(s.apply(op(OpKind::remove, ObjectType::group, sales, Object{})).ok);
  CHECK(s.apply(op(OpKind::disable, ObjectType::group, sales, Object{})).ok);
  CHECK(s.app.server().count("POST") == 0);
  CHECK(s.app.server().count("DELETE") == 0);
  CHECK(s.app.size("Groups") == 1);
  CHECK(s.app.get("Groups", sales).as_object().find("members")->as_list().size() == 2);
  // Users keep every operation.
  CHECK(s.apply(op(OpKind::create, ObjectType::user, "", Object{{"userName", Value("a@contoso.example")}})).ok);
}

TEST_CASE("scim: test-connection reads one user; a wrong token is an auth error without the token") {
  Scim s;
  auto lines = s.sink->test_connection();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("answered 200") != std::string::npos);

  FakeScim other("another-T0ken");
  Object settings{{"profile", Value("scim")}, {"base_url", Value(other.base_url())}, {"auth", Value("bearer")},
                  {"token", Value(kToken)}};
  Settings st(settings);
  RestSink sink(RestConfig::from(st), st, nullptr, nullptr);
  try {
    sink.test_connection();
    FAIL("expected an auth error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::auth);
    CHECK(std::string(e.what()).find(kToken) == std::string::npos);
  }
}

TEST_CASE("scim: profile keys are checked") {
  auto error_of = [](Object extra) {
    Object s{{"profile", Value("scim")}, {"base_url", Value("http://127.0.0.1:1/scim")}};
    for (auto& [k, v] : extra) s.set(k, v);
    try {
      RestConfig::from(Settings(std::move(s)));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error_of(Object{{"groups", Value(Object{{"create", Value("no")}})}}),
             Catch::Contains("'groups.create' takes true or false in the scim profile"));
  CHECK_THAT(error_of(Object{{"groups", Value(Object{{"lookup", Value(Object{})}})}}),
             Catch::Contains("unknown key 'groups.lookup'"));
  CHECK_THAT(error_of(Object{{"profile", Value("soap")}}), Catch::Contains("profile is 'soap'"));
  CHECK(error_of(Object{{"users", Value(Object{{"path", Value("/v2/Users")}, {"match_attribute", Value("externalId")}})}}) ==
        "no error");
}

TEST_CASE("scim: a work email the user does not have yet is added when the value path finds no target") {
  Scim s;
  std::string id = s.app.seed("Users", Object{{"userName", Value("ann@contoso.example")}});
  s.app.before = [](const HttpExchange& x, int) {
    // What RFC 7644 3.5.2.3 has a provider answer for a value filter matching nothing.
    if (x.method == "PATCH" && x.body.find("emails[type eq") != std::string::npos)
      return HttpReply::json(400, Value(Object{{"scimType", Value("noTarget")}, {"detail", Value("no match")}}));
    return HttpReply::pass();
  };
  auto r = s.apply(op(OpKind::update, ObjectType::user, id,
                      Object{{"emails[type eq \"work\"].value", Value("ann@contoso.example")}, {"title", Value("x")}}));
  REQUIRE(r.ok);
  CHECK(s.lines() == std::vector<std::string>{"PATCH /scim/Users/" + id, "PATCH /scim/Users/" + id});
  CHECK(to_json(*s.body(1).as_object().find("Operations")) ==
        R"([{"op":"add","path":"emails","value":[{"type":"work","value":"ann@contoso.example"}]},)"
        R"({"op":"replace","path":"title","value":"x"}])");
  // Other 400s are the object's failure, not resent.
  s.app.before = [](const HttpExchange&, int) {
    return HttpReply::json(400, Value(Object{{"scimType", Value("invalidValue")}, {"detail", Value("bad")}}));
  };
  r = s.apply(op(OpKind::update, ObjectType::user, id, Object{{"emails[type eq \"work\"].value", Value("b@x")}}));
  CHECK_FALSE(r.ok);
  CHECK(s.lines().size() == 3);
}

TEST_CASE("scim: a PATCH or DELETE whose answer is lost is sent again; a create is looked up before it is") {
  Scim s;
  std::string id = s.app.seed("Users", Object{{"userName", Value("ann@contoso.example")}, {"title", Value("x")}});
  // The first PATCH and the first DELETE are applied, then their answers are lost.
  s.app.after = [lost = std::set<std::string>{}](const HttpExchange& x, HttpReply reply) mutable {
    if ((x.method == "PATCH" || x.method == "DELETE") && lost.insert(x.method).second) reply.drop = true;
    return reply;
  };
  // The first POST is refused by a gateway before it reaches the app: its outcome is unknown to the client.
  s.app.before = [refused = false](const HttpExchange& x, int) mutable {
    if (x.method == "POST" && !std::exchange(refused, true)) return HttpReply::json(503, Value(Object{}));
    return HttpReply::pass();
  };
  REQUIRE(s.apply(op(OpKind::update, ObjectType::user, id, Object{{"title", Value("y")}})).ok);
  CHECK(s.app.get("Users", id).as_object().find("title")->as_string() == "y");
  REQUIRE(s.apply(op(OpKind::remove, ObjectType::user, id, Object{})).ok);  // the second DELETE: 404, already gone
  CHECK(s.app.size("Users") == 0);
  auto r = s.apply(op(OpKind::create, ObjectType::user, "", Object{{"userName", Value("bob@contoso.example")}}));
  REQUIRE(r.ok);
  CHECK(s.app.ids("Users") == std::vector<std::string>{r.target_id});
  CHECK(s.lines() == std::vector<std::string>{"PATCH /scim/Users/" + id, "PATCH /scim/Users/" + id,
                                              "DELETE /scim/Users/" + id, "DELETE /scim/Users/" + id,
                                              "POST /scim/Users",
                                              R"(GET /scim/Users?filter=userName eq "bob@contoso.example")",
                                              "POST /scim/Users"});
}
