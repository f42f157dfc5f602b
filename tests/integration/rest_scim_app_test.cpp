// End to end through the `dirsync` CLI: dirsync-sim's Graph -> entra -> the
// rest sink's SCIM profile -> tests/scim-app-server, an independent SCIM 2.0
// service provider (SCIMMY) run as Miro's is: groups update only, member
// PATCHes limited in size. What the sink sends is judged by someone else's
// SCIM implementation, and read back from its store and request log.
#include <catch2/catch.hpp>

#include "support/scim_app_server.hpp"
#include "support/sim_process.hpp"
#include "support/test_support.hpp"

#include <dirsync/value.hpp>

#include <set>

using namespace dirsync;
using dirsync::test::ScimAppServer;
using dirsync::test::SimProcess;
using dirsync::test::TempDir;

namespace {

const char* kEntraSecret = "sim-secret";
const char* kEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
constexpr int kMaxMembers = 2;

// Five users; Sales holds all of them, so its members need three PATCHes of two.
const char* kTenant = R"({
  "users": [
    {"id": "u-1", "userPrincipalName": "ann@contoso.example", "givenName": "Ann", "surname": "Lee",
     "displayName": "Ann Lee", "mail": "ann.lee@contoso.example", "department": "Sales", "accountEnabled": true},
    {"id": "u-2", "userPrincipalName": "bob@contoso.example", "givenName": "Bob", "surname": "Ray",
     "displayName": "Bob Ray", "mail": "bob.ray@contoso.example", "department": "Sales", "accountEnabled": true},
    {"id": "u-3", "userPrincipalName": "cid@contoso.example", "givenName": "Cid", "surname": "Moe",
     "displayName": "Cid Moe", "mail": "cid.moe@contoso.example", "department": "Ops", "accountEnabled": true},
    {"id": "u-4", "userPrincipalName": "dee@contoso.example", "givenName": "Dee", "surname": "Fox",
     "displayName": "Dee Fox", "mail": "dee.fox@contoso.example", "department": "Ops", "accountEnabled": true},
    {"id": "u-5", "userPrincipalName": "eve@contoso.example", "givenName": "Eve", "surname": "Kim",
     "displayName": "Eve Kim", "mail": "eve.kim@contoso.example", "department": "Legal", "accountEnabled": true}
  ],
  "groups": [
    {"id": "g-1", "displayName": "Sales", "members": ["u-1", "u-2", "u-3", "u-4", "u-5"]},
    {"id": "g-2", "displayName": "Engineering", "members": ["u-1"]}
  ]
})";

// The provider's groups exist before any sync, under ids of its own.
const char* kSeedGroups = R"([
  {"id": "miro-team-sales", "displayName": "Sales"},
  {"id": "miro-team-eng", "displayName": "Engineering"}
])";

std::string pipeline(const SimProcess& sim, const ScimAppServer& scim) {
  return std::string(
             "version: 1\n"
             "name: entra-to-scim-app\n"
             "source:\n"
             "  type: entra\n"
             "  tenant_id: contoso\n"
             "  client_id: sim-client\n"
             "  client_secret: ${env:ENTRA_SECRET}\n"
             "  authority: ") +
         sim.url() +
         "\n"
         "  graph_url: " +
         sim.url() +
         "\n"
         "  max_attempts: 2\n"
         "  retry_initial_backoff: 1ms\n"
         "sink:\n"
         "  type: rest\n"
         "  profile: scim\n"
         "  base_url: " +
         scim.base_url() +
         "\n"
         "  auth: bearer\n"
         "  token: ${env:SCIM_TOKEN}\n"
         "  concurrency: 4\n"
         "  max_members_per_patch: " +
         std::to_string(kMaxMembers) +
         "\n"
         "  max_attempts: 2\n"
         "  retry_initial_backoff: 1ms\n"
         "  groups: { create: false, delete: false }\n"
         "users:\n"
         "  match: [{ target: userName, source: userPrincipalName, ignore_case: true }]\n"
         "  mappings:\n"
         "    - { target: userName, source: userPrincipalName }\n"
         "    - { target: displayName, source: displayName }\n"
         "    - { target: name.givenName, source: givenName }\n"
         "    - { target: name.familyName, source: surname }\n"
         "    - { target: 'emails[type eq \"work\"].value', source: mail }\n"
         "    - { target: '" +
         kEnterprise +
         ":department', source: department }\n"
         "    - { target: active, source: accountEnabled, type: boolean }\n"
         "  on_missing: disable\n"
         "groups:\n"
         "  match: [{ target: displayName, source: displayName }]\n"
         "  mappings: [{ target: displayName, source: displayName }]\n"
         "  members: true\n";
}

struct Env {
  /// `seed_groups` is the provider's groups before any sync (JSON array);
  /// `scim_args` are further server options.
  Env(const std::string& tenant, const std::string& seed_groups, std::vector<std::string> scim_args = {})
      : sim(sim_args(dir, tenant)), scim(server_args(dir, seed_groups, std::move(scim_args))) {
    test::write_file(dir / "p.yaml", pipeline(sim, scim));
  }
  static std::vector<std::string> sim_args(const TempDir& dir, const std::string& tenant) {
    test::write_file(dir / "tenant.json", tenant);
    return {"--graph-tenant", (dir / "tenant.json").string()};
  }
  static std::vector<std::string> server_args(const TempDir& dir, const std::string& seed_groups,
                                              std::vector<std::string> args) {
    test::write_file(dir / "groups.json", seed_groups);
    args.insert(args.end(), {"--groups-update-only", "--max-patch-members", std::to_string(kMaxMembers),
                             "--seed-groups", (dir / "groups.json").string()});
    return args;
  }

  test::CommandResult dirsync(std::vector<std::string> args, const std::string& token = {}) {
    args.push_back((dir / "p.yaml").string());
    auto r = test::run_dirsync(
        args, {{"ENTRA_SECRET", kEntraSecret}, {"SCIM_TOKEN", token.empty() ? scim.token() : token}},
        dir.path());
    outputs += r.all();
    return r;
  }
  /// One sync; the server's request log is emptied first so that it holds this run's requests.
  List run_and_log(int expected_exit = 0) {
    scim.clear_requests();
    auto r = dirsync({"run"});
    INFO(r.all());
    REQUIRE(r.exit_code == expected_exit);
    return scim.requests();
  }
  Value last_run() {
    auto r = dirsync({"runs", "--json", "--errors", "--limit", "1"});
    REQUIRE(r.exit_code == 0);
    return parse_json(r.out.substr(0, r.out.find('\n')));
  }

  TempDir dir;
  SimProcess sim;
  ScimAppServer scim;
  std::string outputs;  ///< everything dirsync printed, for the secrets check
};

std::string str(const Object& o, std::string_view key) {
  const Value* v = o.find(key);
  return v && v->is_string() ? v->as_string() : std::string();
}

const Object& obj(const Object& o, std::string_view key) {
  const Value* v = o.find(key);
  REQUIRE(v);
  REQUIRE(v->is_object());
  return v->as_object();
}

/// The work email: the value of the emails entry of type "work".
std::string work_email(const Object& user) {
  const Value* emails = user.find("emails");
  if (!emails || !emails->is_list()) return {};
  for (const Value& e : emails->as_list())
    if (e.is_object() && str(e.as_object(), "type") == "work") return str(e.as_object(), "value");
  return {};
}

std::set<std::string> member_ids(const Object& group) {
  std::set<std::string> out;
  const Value* members = group.find("members");
  if (members && members->is_list())
    for (const Value& m : members->as_list()) out.insert(str(m.as_object(), "value"));
  return out;
}

Object user_named(const ScimAppServer& scim, const std::string& user_name) {
  auto user = test::find_resource(scim.dump(), "Users", "userName", user_name);
  INFO("user " << user_name);
  REQUIRE(user);
  return *user;
}

std::int64_t status(const Object& request) {
  const Value* v = request.find("status");
  return v && v->is_integer() ? v->as_integer() : -1;
}

/// Requests of the log other than reads.
std::vector<Object> writes(const List& log) {
  std::vector<Object> out;
  for (const Value& entry : log) {
    const Object& e = entry.as_object();
    if (str(e, "method") != "GET") out.push_back(e);
  }
  return out;
}

std::string describe(const std::vector<Object>& requests) {
  std::string out;
  for (const Object& r : requests) out += to_json(Value(r)) + "\n";
  return out;
}

/// Member values named by one PatchOp request, over all its operations on members.
std::size_t members_in_patch(const Object& request) {
  std::size_t count = 0;
  const Value* body = request.find("body");
  if (!body || !body->is_object()) return 0;
  const Value* ops = body->as_object().find("Operations");
  if (!ops || !ops->is_list()) return 0;
  for (const Value& op : ops->as_list()) {
    const std::string path = str(op.as_object(), "path");
    const Value* value = op.as_object().find("value");
    if (path.starts_with("members[")) {
      count += 1;
    } else if (path == "members") {
      count += value && value->is_list() ? value->as_list().size() : 1;
    } else if (path.empty() && value && value->is_object()) {
      const Value* members = value->as_object().find("members");
      if (members && members->is_list()) count += members->as_list().size();
    }
  }
  return count;
}

}  // namespace

TEST_CASE(
    "entra -> rest (scim) -> an independent SCIM server: create, no-op resync, PATCH, disable, members") {
  Env env(kTenant, kSeedGroups);
  auto probe = env.dirsync({"test-connection"});
  INFO(probe.all());
  REQUIRE(probe.exit_code == 0);

  // First run: every user created with its attributes, the seeded groups
  // adopted and filled in PATCHes the provider accepts, no group created.
  List first = env.run_and_log();
  std::vector<Object> sent = writes(first);
  INFO(describe(sent));
  Value dump = env.scim.dump();
  REQUIRE(dump.as_object().find("Users")->as_list().size() == 5);
  Object ann = user_named(env.scim, "ann@contoso.example");
  CHECK(str(ann, "displayName") == "Ann Lee");
  CHECK(str(obj(ann, "name"), "givenName") == "Ann");
  CHECK(str(obj(ann, "name"), "familyName") == "Lee");
  CHECK(work_email(ann) == "ann.lee@contoso.example");
  CHECK(str(obj(ann, kEnterprise), "department") == "Sales");
  CHECK(*ann.find("active") == Value(true));
  std::set<std::string> all_users;
  for (const Value& u : dump.as_object().find("Users")->as_list()) all_users.insert(str(u.as_object(), "id"));

  REQUIRE(dump.as_object().find("Groups")->as_list().size() == 2);
  auto sales = test::find_resource(dump, "Groups", "id", "miro-team-sales");
  auto eng = test::find_resource(dump, "Groups", "id", "miro-team-eng");
  REQUIRE(sales);
  REQUIRE(eng);
  // Members are the provider's user ids, not Graph's.
  CHECK(member_ids(*sales) == all_users);
  CHECK(member_ids(*eng) == std::set<std::string>{str(ann, "id")});
  std::size_t sales_patches = 0;
  for (const Object& r : sent) {
    CHECK_FALSE((str(r, "method") == "POST" && str(r, "path").starts_with("/Groups")));
    CHECK(str(r, "method") != "DELETE");
    CHECK(status(r) < 300);  // nothing refused: no 403, no oversized PATCH
    if (str(r, "method") == "PATCH" && str(r, "path") == "/Groups/miro-team-sales") {
      ++sales_patches;
      CHECK(members_in_patch(r) <= static_cast<std::size_t>(kMaxMembers));
    }
  }
  CHECK(sales_patches >= 3);  // five members, two per request

  // Nothing changed at the source: nothing is written.
  std::vector<Object> second = writes(env.run_and_log());
  INFO(describe(second));
  CHECK(second.empty());

  // One attribute changed: one PATCH, of that attribute only.
  env.sim.admin("PATCH", "/_admin/graph/users/u-2", R"({"givenName":"Bobby"})");
  std::vector<Object> third = writes(env.run_and_log());
  Object bob = user_named(env.scim, "bob@contoso.example");
  {
    INFO(describe(third));
    REQUIRE(third.size() == 1);
    CHECK(str(third[0], "method") == "PATCH");
    CHECK(str(third[0], "path") == "/Users/" + str(bob, "id"));
    const List& ops = obj(third[0], "body").find("Operations")->as_list();
    REQUIRE(ops.size() == 1);
    const Object& op = ops[0].as_object();
    CHECK(str(op, "op") == "replace");
    // Either form names only givenName: path "name.givenName", or a value {"name":{"givenName":...}}.
    if (op.find("path")) {
      CHECK(str(op, "path") == "name.givenName");
      CHECK(str(op, "value") == "Bobby");
    } else {
      CHECK(to_json(*op.find("value")) == R"({"name":{"givenName":"Bobby"}})");
    }
  }
  CHECK(str(obj(bob, "name"), "givenName") == "Bobby");
  CHECK(str(obj(bob, "name"), "familyName") == "Ray");
  CHECK(str(bob, "displayName") == "Bob Ray");

  // Disabled at the source (accountEnabled false), soft-deleted at the
  // source: both inactive at the provider, neither deleted.
  env.sim.admin("PATCH", "/_admin/graph/users/u-3", R"({"accountEnabled":false})");
  env.sim.admin("POST", "/_admin/graph/users/u-4/soft-delete");
  std::vector<Object> fourth = writes(env.run_and_log());
  INFO(describe(fourth));
  CHECK(*user_named(env.scim, "cid@contoso.example").find("active") == Value(false));
  CHECK(*user_named(env.scim, "dee@contoso.example").find("active") == Value(false));
  CHECK(*user_named(env.scim, "eve@contoso.example").find("active") == Value(true));
  CHECK(env.scim.dump().as_object().find("Users")->as_list().size() == 5);
  for (const Object& r : fourth) {
    CHECK(str(r, "method") != "DELETE");
    CHECK(str(r, "method") != "POST");
  }

  // New members of an existing group: added in chunks the provider accepts.
  env.sim.admin("POST", "/_admin/graph/groups/g-2/members", R"({"add":["u-2","u-3","u-5"]})");
  std::vector<Object> fifth = writes(env.run_and_log());
  INFO(describe(fifth));
  for (const Object& r : fifth) {
    CHECK(str(r, "path") == "/Groups/miro-team-eng");
    CHECK(status(r) == 200);
    CHECK(members_in_patch(r) <= static_cast<std::size_t>(kMaxMembers));
  }
  eng = test::find_resource(env.scim.dump(), "Groups", "id", "miro-team-eng");
  REQUIRE(eng);
  CHECK(member_ids(*eng) == std::set<std::string>{str(ann, "id"), str(bob, "id"),
                                                  str(user_named(env.scim, "cid@contoso.example"), "id"),
                                                  str(user_named(env.scim, "eve@contoso.example"), "id")});

  // The bearer token never reached dirsync's output or its sync log (env.outputs collects both).
  env.dirsync({"runs", "--json", "--errors"});
  CHECK(env.outputs.find(env.scim.token()) == std::string::npos);
}

TEST_CASE("groups update only: a group the provider does not have is reported, never POSTed") {
  std::string tenant = kTenant;
  // A third group, absent at the provider.
  tenant.replace(tenant.rfind(']'), 1, R"(, {"id": "g-3", "displayName": "Marketing", "members": ["u-1"]}])");
  Env env(tenant, kSeedGroups);
  List log = env.run_and_log(/*expected_exit=*/1);
  for (const Object& r : writes(log)) {
    INFO(to_json(Value(r)));
    CHECK_FALSE((str(r, "method") == "POST" && str(r, "path").starts_with("/Groups")));
  }
  Value dump = env.scim.dump();
  CHECK(dump.as_object().find("Groups")->as_list().size() == 2);
  CHECK_FALSE(test::find_resource(dump, "Groups", "displayName", "Marketing"));
  // The other groups are still written.
  auto sales = test::find_resource(dump, "Groups", "id", "miro-team-sales");
  REQUIRE(sales);
  CHECK(member_ids(*sales).size() == 5);
  Value run = env.last_run();
  INFO(to_json(run));
  CHECK(to_json(run).find("groups.create") != std::string::npos);
}

TEST_CASE("a user the provider already has is found by a SCIM filter and adopted, not created again") {
  Env env(kTenant, kSeedGroups);
  Value existing = env.scim.seed_user(
      R"({"userName":"ann@contoso.example","name":{"givenName":"Annie","familyName":"Lee"},)"
      R"("emails":[{"type":"work","value":"annie@contoso.example"}],"active":true})");
  const std::string id = str(existing.as_object(), "id");
  std::vector<Object> sent = writes(env.run_and_log());
  INFO(describe(sent));
  CHECK(env.scim.dump().as_object().find("Users")->as_list().size() == 5);
  std::size_t posts = 0, patches_of_ann = 0;
  for (const Object& r : sent) {
    if (str(r, "method") == "POST") ++posts;
    if (str(r, "method") == "PATCH" && str(r, "path") == "/Users/" + id) ++patches_of_ann;
  }
  CHECK(posts == 4);
  CHECK(patches_of_ann == 1);
  Object ann = user_named(env.scim, "ann@contoso.example");
  CHECK(str(ann, "id") == id);
  CHECK(str(obj(ann, "name"), "givenName") == "Ann");
  CHECK(str(ann, "displayName") == "Ann Lee");
  CHECK(work_email(ann) == "ann.lee@contoso.example");
  auto eng = test::find_resource(env.scim.dump(), "Groups", "id", "miro-team-eng");
  REQUIRE(eng);
  CHECK(member_ids(*eng) == std::set<std::string>{id});
}

// An update of 'emails[type eq "work"].value' is a PatchOp `replace` with that value filter;
// when the user has no work email yet (adopted without one, or created while the source had
// no mail), RFC 7644 3.5.2.3 makes the provider answer 400 noTarget, as SCIMMY does, and the
// sink must redo the PATCH adding the element whole.
TEST_CASE("a user without a work email at the provider gets one from a PATCH") {
  Env env(kTenant, kSeedGroups);
  env.scim.seed_user(R"({"userName":"ann@contoso.example","active":true})");
  std::vector<Object> sent = writes(env.run_and_log());
  INFO(describe(sent));
  CHECK(work_email(user_named(env.scim, "ann@contoso.example")) == "ann.lee@contoso.example");

  // The mail cleared at the source, then set again: removed, then added back.
  env.sim.admin("PATCH", "/_admin/graph/users/u-2", R"({"mail":null})");
  std::vector<Object> cleared = writes(env.run_and_log());
  INFO(describe(cleared));
  CHECK(work_email(user_named(env.scim, "bob@contoso.example")).empty());
  env.sim.admin("PATCH", "/_admin/graph/users/u-2", R"({"mail":"bob@contoso.example"})");
  std::vector<Object> restored = writes(env.run_and_log());
  INFO(describe(restored));
  CHECK(work_email(user_named(env.scim, "bob@contoso.example")) == "bob@contoso.example");
}

TEST_CASE("a wrong bearer token stops the run with exit 3 and is never printed") {
  Env env(kTenant, kSeedGroups);
  const std::string wrong = "Wr0ng-Bearer-T0ken-7731";
  auto r = env.dirsync({"run"}, wrong);
  INFO(r.all());
  CHECK(r.exit_code == 3);
  CHECK(env.scim.dump().as_object().find("Users")->as_list().empty());
  auto probe = env.dirsync({"test-connection"}, wrong);
  INFO(probe.all());
  CHECK(probe.exit_code == 3);
  env.dirsync({"runs", "--json", "--errors"}, wrong);
  CHECK(env.outputs.find(wrong) == std::string::npos);
  CHECK(env.outputs.find(env.scim.token()) == std::string::npos);
}
