// Graph page parsing (connectors/entra/graph_page.cpp, compiled into this test).
#include <catch2/catch.hpp>

#include "../../connectors/entra/graph_page.hpp"

#include <dirsync/error.hpp>

using namespace dirsync;
using namespace dirsync::entra;

namespace {

std::vector<Change> parse(std::string_view body, ObjectType type, ItemShape shape, bool partial,
                          PageLinks* links = nullptr) {
  std::vector<Change> out;
  PageLinks l = parse_page(body, type, shape, partial, [&](Change&& c) { out.push_back(std::move(c)); });
  if (links) *links = l;
  return out;
}

}  // namespace

TEST_CASE("a users page keeps Graph's shapes and the nextLink verbatim") {
  const char* body = R"({"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users",
    "@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$select=id,mail&$skiptoken=RFNUMDE%3d",
    "value":[{"id":"u1","mail":null,"businessPhones":[],"accountEnabled":false,"userPrincipalName":"a_b.c#EXT#@t.onmicrosoft.com",
              "onPremisesExtensionAttributes":{"extensionAttribute1":"x"},"age":42,"score":1.5,
              "displayName":"Zo\u00eb \"Z\""},
             {"id":"u2","@odata.type":"#microsoft.graph.user","mail":"b@t"}]})";
  PageLinks links;
  auto changes = parse(body, ObjectType::user, ItemShape::object, false, &links);
  CHECK(links.next == "https://graph.microsoft.com/v1.0/users?$select=id,mail&$skiptoken=RFNUMDE%3d");
  CHECK(links.delta.empty());
  REQUIRE(changes.size() == 2);
  const Record& u1 = changes[0].record;
  CHECK(changes[0].kind == ChangeKind::upsert);
  CHECK(u1.type == ObjectType::user);
  CHECK(u1.id == "u1");
  CHECK_FALSE(u1.partial);
  CHECK(u1.attributes.find("id")->as_string() == "u1");
  CHECK(u1.attributes.find("mail")->is_null());
  CHECK(u1.attributes.find("businessPhones")->is_list());
  CHECK(u1.attributes.find("accountEnabled")->as_bool() == false);
  CHECK(u1.attributes.find("age")->as_integer() == 42);
  CHECK(u1.attributes.find("score")->as_number() == 1.5);
  CHECK(u1.attributes.find("displayName")->as_string() == "Zo\xc3\xab \"Z\"");
  CHECK(lookup_path(u1.attributes, "onPremisesExtensionAttributes.extensionAttribute1")->as_string() == "x");
  CHECK(changes[1].record.attributes.find("@odata.type") == nullptr);
  CHECK(page_links(body).next == links.next);
}

TEST_CASE("a delta page: @removed reasons, members@delta, the deltaLink") {
  const char* body = R"({"value":[
      {"id":"g1","displayName":"Sales","members@delta":[
          {"@odata.type":"#microsoft.graph.user","id":"u1"},
          {"@odata.type":"#microsoft.graph.group","id":"g2"},
          {"@odata.type":"#microsoft.graph.user","id":"u3","@removed":{"reason":"deleted"}},
          {"@odata.type":"#microsoft.graph.device","id":"d1"}]},
      {"id":"g3","@removed":{"reason":"changed"}},
      {"id":"g4","@removed":{"reason":"deleted"}}],
    "@odata.deltaLink":"https://graph.microsoft.com/v1.0/groups/delta?$deltatoken=abc"})";
  PageLinks links;
  auto changes = parse(body, ObjectType::group, ItemShape::object, true, &links);
  CHECK(links.delta == "https://graph.microsoft.com/v1.0/groups/delta?$deltatoken=abc");
  CHECK(links.next.empty());
  REQUIRE(changes.size() == 3);
  CHECK(changes[0].record.partial);
  CHECK(changes[0].record.members == std::vector<std::string>{"u1", "g2"});
  CHECK(changes[0].record.members_removed == std::vector<std::string>{"u3"});
  CHECK(changes[0].record.attributes.find("members@delta") == nullptr);
  CHECK(changes[1].kind == ChangeKind::soft_deleted);
  CHECK(changes[1].record.attributes.empty());
  CHECK(changes[2].kind == ChangeKind::deleted);
  CHECK(page_links(body).delta == links.delta);
}

TEST_CASE("member references: users and groups only, typed by @odata.type") {
  const char* body = R"({"value":[{"@odata.type":"#microsoft.graph.user","id":"u1"},
      {"@odata.type":"#microsoft.graph.group","id":"g1"},
      {"@odata.type":"#microsoft.graph.servicePrincipal","id":"sp"},
      {"@odata.type":"#microsoft.graph.orgContact","id":"c"}]})";
  auto refs = parse(body, ObjectType::group, ItemShape::reference, false);
  REQUIRE(refs.size() == 2);
  CHECK(refs[0].record.type == ObjectType::user);
  CHECK(refs[0].record.id == "u1");
  CHECK(refs[1].record.type == ObjectType::group);
}

TEST_CASE("an empty page with a nextLink") {
  PageLinks links;
  auto changes = parse(R"({"@odata.nextLink":"https://x/next","value":[]})", ObjectType::user, ItemShape::object,
                       true, &links);
  CHECK(changes.empty());
  CHECK(links.next == "https://x/next");
}

TEST_CASE("malformed or truncated pages are read errors") {
  for (const char* body : {R"({"value":[{"id":"u1","mail":"a@b"},{"id":"u2","ma)", "<html>busy</html>",
                           R"({"value":[{"mail":"no id"}]})"}) {
    try {
      parse(body, ObjectType::user, ItemShape::object, false);
      FAIL("expected an error for " << body);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::read);
    }
  }
}

TEST_CASE("error codes of Graph error bodies") {
  CHECK(error_code(R"({"error":{"code":"syncStateNotFound","message":"gone"}})") == "syncStateNotFound");
  CHECK(error_code("not json").empty());
  CHECK(error_code(R"({"error":"invalid_client"})").empty());
}
