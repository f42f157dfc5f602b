// LDAP sink groups: groupOfNames (with the empty-group placeholder),
// groupOfUniqueNames, posixGroup, and membership changes at scale.
#include <catch2/catch.hpp>

#include "integration/ldap_fixture.hpp"

#include <algorithm>

using namespace dirsync;
using namespace dirsync::test;

namespace {

const std::string kPeople = "ou=people,dc=example,dc=com";
const std::string kGroups = "ou=groups,dc=example,dc=com";

struct Env {
  Slapd slapd{sink_slapd_options()};
  LdapPlugin plugin;
  CaptureLogger log;
  std::unique_ptr<Sink> sink;
  explicit Env(const Object& extra = {}) {
    add_service_account(slapd);
    sink = plugin.make(slapd.url(), extra, &log);
    sink->prepare(default_schema());
  }
  std::vector<std::string> users(int n, const std::string& prefix = "m") {
    std::vector<std::string> ids;
    std::vector<Operation> ops;
    for (int i = 0; i < n; ++i) {
      ops.push_back(create_user(prefix + std::to_string(i)));
      if (ops.size() == 500 || i + 1 == n) {
        for (const auto& r : apply_ops(*sink, ops)) {
          INFO(r.error);
          REQUIRE(r.ok);
          ids.push_back(r.target_id);
        }
        ops.clear();
      }
    }
    return ids;
  }
  OpResult group(const std::string& cn, const std::vector<std::string>& members, Object extra = {}) {
    Operation op;
    op.kind = OpKind::create;
    op.type = ObjectType::group;
    op.source_id = "g-" + cn;
    op.attributes = Object{{"cn", cn}};
    for (const auto& [k, v] : extra) op.attributes.set(k, v);
    op.members_add = members;
    return apply_one(*sink, op);
  }
  OpResult members(const std::string& group_id, const std::vector<std::string>& add,
                   const std::vector<std::string>& remove) {
    Operation op = op_on(OpKind::update, ObjectType::group, group_id);
    op.members_add = add;
    op.members_remove = remove;
    return apply_one(*sink, op);
  }
  std::vector<std::string> values(const std::string& cn, const std::string& attr) {
    auto v = slapd.read("cn=" + cn + "," + kGroups, {attr}).values(attr);
    std::sort(v.begin(), v.end());
    return v;
  }
};

std::string user_dn(const std::string& uid) { return "uid=" + uid + "," + kPeople; }

}  // namespace

TEST_CASE("ldap groups: groupOfNames members are DNs and memberOf follows", "[ldap]") {
  Env env;
  auto ids = env.users(3);
  auto g = env.group("staff", {ids[0], ids[1]});
  INFO(g.error);
  REQUIRE(g.ok);
  CHECK(env.slapd.read("cn=staff," + kGroups).value("entryUUID") == g.target_id);
  CHECK(env.values("staff", "member") == std::vector<std::string>{user_dn("m0"), user_dn("m1")});
  CHECK(env.slapd.read(user_dn("m0"), {"memberOf"}).value("memberOf") == "cn=staff," + kGroups);

  auto r = env.members(g.target_id, {ids[2]}, {ids[0]});
  INFO(r.error);
  REQUIRE(r.ok);
  CHECK(env.values("staff", "member") == std::vector<std::string>{user_dn("m1"), user_dn("m2")});

  SECTION("adding to a group with members is one request, without the one-value fallback") {
    auto more = env.users(3, "extra");
    env.log.lines.clear();
    auto add = env.members(g.target_id, more, {});
    INFO(add.error);
    REQUIRE(add.ok);
    CHECK(env.values("staff", "member").size() == 5);
    CHECK(env.log.all().find("one value per request") == std::string::npos);
  }
  SECTION("adding a present member and removing an absent one converge") {
    auto again = env.members(g.target_id, {ids[1]}, {ids[0]});
    INFO(again.error);
    CHECK(again.ok);
    CHECK(env.log.all().find("one value per request") != std::string::npos);  // OpenLDAP lacks permissive modify
    CHECK(env.values("staff", "member") == std::vector<std::string>{user_dn("m1"), user_dn("m2")});
  }
  SECTION("an unknown member id fails the object but the known ones are written") {
    auto bad = env.members(g.target_id, {"no-such-id", ids[0]}, {});
    CHECK_FALSE(bad.ok);
    CHECK(bad.error.find("no-such-id") != std::string::npos);
    CHECK(env.values("staff", "member").size() == 3);
  }
  SECTION("a group is found by cn and renamed by cn") {
    CHECK(env.sink->find(ObjectType::group, "cn", "staff", true) == std::vector<std::string>{g.target_id});
    auto ren = apply_one(*env.sink, op_on(OpKind::update, ObjectType::group, g.target_id, Object{{"cn", "crew"}}));
    INFO(ren.error);
    REQUIRE(ren.ok);
    CHECK(env.slapd.read("cn=crew," + kGroups).value("entryUUID") == g.target_id);
  }
}

TEST_CASE("ldap groups: an empty groupOfNames holds the placeholder member", "[ldap]") {
  Env env;
  auto ids = env.users(2);
  auto g = env.group("empty", {});
  INFO(g.error);
  REQUIRE(g.ok);
  CHECK(env.values("empty", "member") == std::vector<std::string>{"cn=nobody"});

  REQUIRE(env.members(g.target_id, {ids[0], ids[1]}, {}).ok);
  CHECK(env.values("empty", "member") == std::vector<std::string>{user_dn("m0"), user_dn("m1")});

  auto r = env.members(g.target_id, {}, {ids[0], ids[1]});
  INFO(r.error);
  REQUIRE(r.ok);
  CHECK(env.values("empty", "member") == std::vector<std::string>{"cn=nobody"});
}

TEST_CASE("ldap groups: groupOfUniqueNames", "[ldap]") {
  Env env(Object{{"member_attribute", "uniqueMember"}, {"group_object_classes", List{"top", "groupOfUniqueNames"}}});
  auto ids = env.users(2);
  auto g = env.group("uniq", {ids[0]});
  INFO(g.error);
  REQUIRE(g.ok);
  CHECK(env.values("uniq", "uniqueMember") == std::vector<std::string>{user_dn("m0")});
  REQUIRE(env.members(g.target_id, {ids[1]}, {ids[0]}).ok);
  CHECK(env.values("uniq", "uniqueMember") == std::vector<std::string>{user_dn("m1")});
  REQUIRE(env.members(g.target_id, {}, {ids[1]}).ok);
  CHECK(env.values("uniq", "uniqueMember") == std::vector<std::string>{"cn=nobody"});
}

TEST_CASE("ldap groups: posixGroup memberUid holds the members' uids", "[ldap]") {
  Env env(Object{{"member_attribute", "memberUid"}, {"group_object_classes", List{"top", "posixGroup"}}});
  auto ids = env.users(3, "px");
  auto g = env.group("posix", {ids[0], ids[1]}, Object{{"gidNumber", std::int64_t{5000}}});
  INFO(g.error);
  REQUIRE(g.ok);
  CHECK(env.values("posix", "memberUid") == std::vector<std::string>{"px0", "px1"});
  REQUIRE(env.members(g.target_id, {ids[2]}, {ids[0], ids[1]}).ok);
  CHECK(env.values("posix", "memberUid") == std::vector<std::string>{"px2"});
  REQUIRE(env.members(g.target_id, {}, {ids[2]}).ok);
  CHECK(env.values("posix", "memberUid").empty());  // posixGroup needs no placeholder

  SECTION("a group without its required gidNumber is a per-object failure") {
    auto bad = env.group("nogid", {});
    CHECK_FALSE(bad.ok);
    CHECK(bad.error.find("cn=nogid") != std::string::npos);
  }
}

TEST_CASE("ldap groups: 5,000 members are added and removed in value batches", "[ldap][slow]") {
  Env env(Object{{"member_batch_size", std::int64_t{1000}}});
  auto ids = env.users(5000);

  SECTION("created with all members at once") {
    auto g = env.group("big", ids);
    INFO(g.error);
    REQUIRE(g.ok);
    CHECK(env.values("big", "member").size() == 5000);
  }
  SECTION("grown from empty, then halved, then emptied") {
    auto g = env.group("big", {});
    REQUIRE(g.ok);
    auto add = env.members(g.target_id, ids, {});
    INFO(add.error);
    REQUIRE(add.ok);
    auto members = env.values("big", "member");
    CHECK(members.size() == 5000);
    CHECK(std::find(members.begin(), members.end(), "cn=nobody") == members.end());
    CHECK(env.slapd.read(user_dn("m4999"), {"memberOf"}).value("memberOf") == "cn=big," + kGroups);

    std::vector<std::string> half(ids.begin(), ids.begin() + 2500);
    auto rm = env.members(g.target_id, {}, half);
    INFO(rm.error);
    REQUIRE(rm.ok);
    members = env.values("big", "member");
    CHECK(members.size() == 2500);
    CHECK(std::find(members.begin(), members.end(), user_dn("m0")) == members.end());
    CHECK(std::find(members.begin(), members.end(), user_dn("m2500")) != members.end());

    std::vector<std::string> rest(ids.begin() + 2500, ids.end());
    REQUIRE(env.members(g.target_id, {}, rest).ok);
    CHECK(env.values("big", "member") == std::vector<std::string>{"cn=nobody"});
  }
}
