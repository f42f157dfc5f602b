// The `entra` plugin, loaded from its .so, against dirsync-sim's Graph module.
#include <catch2/catch.hpp>

#include "support/self_signed.hpp"
#include "support/sim_process.hpp"
#include "support/test_support.hpp"

#include <dirsync/plugin.hpp>

#include <boost/dll/shared_library.hpp>

#include <map>
#include <set>
#include <thread>

using namespace dirsync;
using dirsync::test::SimProcess;

namespace {

class CapturingLog : public Logger {
 public:
  void log(LogLevel, std::string_view m) override { lines += std::string(m) + "\n"; }
  std::string lines;
};

class Collect : public Emitter {
 public:
  void emit(Change&& c) override {
    if (hook) hook(c);
    changes.push_back(std::move(c));
  }
  std::vector<const Change*> of(ObjectType type) const {
    std::vector<const Change*> out;
    for (const auto& c : changes)
      if (c.record.type == type) out.push_back(&c);
    return out;
  }
  std::vector<Change> changes;
  std::function<void(const Change&)> hook;
};

struct Plugin {
  Plugin() : lib((dirsync::test::plugin_dir() / "dirsync-entra.so").string()) {
    descriptor = lib.get_alias<PluginEntryPoint>("dirsync_plugin")();
  }
  std::unique_ptr<Source> make(const SimProcess& sim, Object overrides = {}) {
    Object settings{{"tenant_id", "contoso"},
                    {"client_id", "sim-client"},
                    {"client_secret", "sim-secret"},
                    {"authority", sim.url()},
                    {"graph_url", sim.url()},
                    {"page_size", 10},
                    {"retry_initial_backoff", 1},
                    {"retry_max_backoff", 5}};
    for (auto& [k, v] : overrides) settings.set(k, v);
    PluginContext ctx;
    ctx.pipeline = "test";
    ctx.settings = Settings(std::move(settings));
    ctx.log = &log;
    return descriptor->make_source(ctx);
  }
  boost::dll::shared_library lib;
  const PluginDescriptor* descriptor = nullptr;
  CapturingLog log;
};

ReadRequest full(bool groups = true) {
  ReadRequest r;
  r.groups = groups;
  r.user_attributes = {"mail", "userPrincipalName", "accountEnabled", "userType", "displayName", "businessPhones"};
  r.group_attributes = {"displayName"};
  return r;
}

ReadRequest incremental(const std::string& cursor) {
  ReadRequest r = full();
  r.mode = ReadMode::incremental;
  r.cursor = cursor;
  return r;
}

long long stat(const SimProcess& sim, const std::string& name) {
  Value stats = parse_json(sim.admin("GET", "/_admin/graph/stats"));
  return stats.as_object().find(name)->as_integer();
}

std::vector<std::string> ids(const SimProcess& sim, const std::string& kind, int from, int count) {
  std::vector<std::string> out;
  Value list = parse_json(sim.admin("GET", "/_admin/graph/ids?kind=" + kind + "&from=" + std::to_string(from) +
                                               "&count=" + std::to_string(count)));
  for (const Value& v : list.as_list()) out.push_back(v.as_string());
  return out;
}

const Change* find(const Collect& c, const std::string& id) {
  for (const auto& ch : c.changes)
    if (ch.record.id == id) return &ch;
  return nullptr;
}

}  // namespace

TEST_CASE("the descriptor names the plugin and marks the secrets") {
  Plugin p;
  CHECK(p.descriptor->abi_version == kAbiVersion);
  CHECK(p.descriptor->name == "entra");
  CHECK(p.descriptor->kind == PluginKind::source);
  std::set<std::string> secret;
  for (const auto& f : p.descriptor->schema)
    if (f.secret) secret.insert(f.key);
  CHECK(secret == std::set<std::string>{"client_secret", "private_key"});
}

TEST_CASE("a full read pages through users and groups, users first") {
  SimProcess sim({"--graph-users", "45", "--graph-groups", "3", "--seed", "7"});
  Plugin p;
  auto source = p.make(sim);
  Collect out;
  ReadResult result = source->read(full(), out);
  CHECK(result.complete);
  CHECK(result.mode == ReadMode::full);
  auto users = out.of(ObjectType::user);
  auto groups = out.of(ObjectType::group);
  REQUIRE(users.size() == 45);  // 5 pages of 10
  REQUIRE(groups.size() == 3);
  // Users before groups.
  CHECK(out.changes.front().record.type == ObjectType::user);
  CHECK(out.changes[44].record.type == ObjectType::user);
  std::set<std::string> unique;
  for (auto* u : users) unique.insert(u->record.id);
  CHECK(unique.size() == 45);
  // $select: exactly what was asked for, plus id; nulls and empty lists kept.
  const Object& first = users[0]->record.attributes;
  CHECK(first.find("id") != nullptr);
  CHECK(first.find("mail") != nullptr);
  CHECK(first.find("jobTitle") == nullptr);
  CHECK(first.find("businessPhones")->is_list());
  bool guest = false, null_mail = false, disabled = false;
  for (auto* u : users) {
    const Object& a = u->record.attributes;
    guest |= a.find("userPrincipalName")->as_string().find("#EXT#") != std::string::npos &&
             a.find("userType")->as_string() == "Guest";
    null_mail |= a.find("mail")->is_null();
    disabled |= !a.find("accountEnabled")->as_bool();
    CHECK_FALSE(u->record.partial);
  }
  CHECK(guest);
  CHECK(null_mail);
  CHECK(disabled);
  // 45 users over 3 groups, plus group 0 nested nowhere (needs 5+ groups).
  std::size_t members = 0;
  for (auto* g : groups) {
    members += g->record.members.size();
    CHECK(g->record.attributes.find("displayName") != nullptr);
  }
  CHECK(members == 45);
  Value cursor = parse_json(result.cursor);
  CHECK(cursor.as_object().find("users")->as_string().find("$deltatoken=") != std::string::npos);
  CHECK(cursor.as_object().find("groups")->as_string().find("$deltatoken=") != std::string::npos);
}

TEST_CASE("each group arrives with all its members, fetched while the group before it is emitted") {
  // 60 users over 3 groups: 20 members each, two pages of 10.
  // `prefetch: false` reads them one after the other, to the same result.
  SimProcess sim({"--graph-users", "60", "--graph-groups", "3"});
  Plugin p;
  auto group_ids = ids(sim, "groups", 0, 3);
  for (bool prefetch : {true, false}) {
    INFO("prefetch: " << prefetch);
    auto reader = p.make(sim, {{"prefetch", prefetch}});
    Collect out;
    // Slow consumers: the next group's members are in flight meanwhile.
    out.hook = [&](const Change& c) {
      if (c.record.type == ObjectType::group) std::this_thread::yield();
    };
    reader->read(full(), out);
    auto groups = out.of(ObjectType::group);
    REQUIRE(groups.size() == 3);
    std::set<std::string> all;
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(groups[i]->record.id == group_ids[i]);
      CHECK(groups[i]->record.members.size() == 20);
      all.insert(groups[i]->record.members.begin(), groups[i]->record.members.end());
    }
    CHECK(all.size() == 60);
  }
  auto source = p.make(sim);

  // Members that cannot be read stop the read before their group is emitted.
  sim.admin("POST", "/_admin/graph/faults", R"({"deny":["GroupMember.Read.All"]})");
  Collect denied;
  try {
    source->read(full(), denied);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::auth);
    CHECK_THAT(e.what(), Catch::Contains("GroupMember.Read.All"));
  }
  CHECK(denied.of(ObjectType::user).size() == 60);
  CHECK(denied.of(ObjectType::group).empty());
}

TEST_CASE("nested groups: direct members list the child group, transitive members flatten it") {
  SimProcess sim({"--graph-users", "12", "--graph-groups", "6"});
  Plugin p;
  auto group_ids = ids(sim, "groups", 0, 6);
  for (bool transitive : {false, true}) {
    auto source = p.make(sim, {{"transitive_members", transitive}});
    Collect out;
    source->read(full(), out);
    const Change* g5 = find(out, group_ids[5]);
    REQUIRE(g5);
    const auto& m = g5->record.members;
    CHECK(std::count(m.begin(), m.end(), group_ids[4]) == 1);
    // Direct: users 5 and 11 plus group 4; transitive adds group 4's users 4 and 10.
    CHECK(m.size() == (transitive ? 5u : 3u));
  }
}

TEST_CASE("the manager is expanded when a pipeline references it") {
  SimProcess sim({"--graph-users", "15", "--graph-groups", "1"});
  Plugin p;
  auto source = p.make(sim);
  ReadRequest r = full(false);
  r.user_attributes = {"mail", "manager.id"};
  Collect out;
  source->read(r, out);
  REQUIRE(out.changes.size() == 15);
  auto user_ids = ids(sim, "users", 0, 1);
  const Value* manager = out.changes[3].record.attributes.find("manager");
  REQUIRE(manager);
  CHECK(lookup_path(out.changes[3].record.attributes, "manager.id")->as_string() == user_ids[0]);
  CHECK(out.changes[0].record.attributes.find("manager") == nullptr);
}

TEST_CASE("a server-side filter is passed through") {
  SimProcess sim({"--graph-users", "60", "--graph-groups", "1"});
  Plugin p;
  auto source = p.make(sim, {{"filter", "userType eq 'Guest'"}});
  Collect out;
  source->read(full(false), out);
  CHECK(out.changes.size() == 3);  // users 7, 27, 47
  for (const auto& c : out.changes) CHECK(c.record.attributes.find("userType")->as_string() == "Guest");

  // Delta queries cannot filter: incremental reads stay full reads.
  Collect again;
  ReadResult r2 = source->read(incremental(source->read(full(false), again).cursor), again);
  CHECK(r2.mode == ReadMode::full);
  CHECK_THAT(r2.note, Catch::Contains("filter"));

  auto bad = p.make(sim, {{"filter", "userType ne 'Guest'"}});
  Collect none;
  try {
    bad->read(full(false), none);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::config);
    CHECK_THAT(e.what(), Catch::Contains("ConsistencyLevel"));
  }
  auto advanced = p.make(sim, {{"filter", "userType ne 'Guest'"}, {"advanced_query", true}});
  Collect members;
  advanced->read(full(false), members);
  CHECK(members.changes.size() == 57);
}

TEST_CASE("delta after adds, updates, soft deletes, hard deletes and membership changes") {
  SimProcess sim({"--graph-users", "30", "--graph-groups", "3", "--graph-member-chunk", "2"});
  Plugin p;
  auto source = p.make(sim, {{"page_size", 3}});
  Collect first;
  ReadResult r1 = source->read(full(), first);
  auto user_ids = ids(sim, "users", 0, 30);
  auto group_ids = ids(sim, "groups", 0, 3);

  // Nothing changed: an empty delta.
  Collect nothing;
  ReadResult r2 = source->read(incremental(r1.cursor), nothing);
  CHECK(r2.mode == ReadMode::incremental);
  CHECK(r2.complete);
  CHECK(nothing.changes.empty());

  std::string added = parse_json(sim.admin("POST", "/_admin/graph/users",
                                           R"({"displayName":"New Person","mail":"new@contoso.example",)"
                                           R"("accountEnabled":true,"userType":"Member"})"))
                          .as_object().find("id")->as_string();
  sim.admin("PATCH", "/_admin/graph/users/" + user_ids[1], R"({"mail":"renamed@contoso.example","jobTitle":"CEO"})");
  sim.admin("POST", "/_admin/graph/users/" + user_ids[2] + "/soft-delete");
  sim.admin("DELETE", "/_admin/graph/users/" + user_ids[3]);
  sim.admin("POST", "/_admin/graph/groups/" + group_ids[0] + "/members",
            R"({"add":[")" + added + R"(",")" + user_ids[4] + R"(",")" + user_ids[7] + R"("],"remove":[")" +
                user_ids[6] + R"("]})");

  Collect delta;
  ReadResult r3 = source->read(incremental(r2.cursor), delta);
  CHECK(r3.mode == ReadMode::incremental);
  CHECK(r3.note.empty());

  const Change* created = find(delta, added);
  REQUIRE(created);
  CHECK(created->kind == ChangeKind::upsert);
  CHECK(created->record.partial);
  CHECK(created->record.attributes.find("mail")->as_string() == "new@contoso.example");

  const Change* updated = find(delta, user_ids[1]);
  REQUIRE(updated);
  CHECK(updated->record.partial);
  CHECK(updated->record.attributes.find("mail")->as_string() == "renamed@contoso.example");
  CHECK(updated->record.attributes.find("displayName") == nullptr);  // only what changed
  CHECK(updated->record.attributes.find("jobTitle") == nullptr);     // changed but not selected

  const Change* soft = find(delta, user_ids[2]);
  REQUIRE(soft);
  CHECK(soft->kind == ChangeKind::soft_deleted);
  const Change* hard = find(delta, user_ids[3]);
  REQUIRE(hard);
  CHECK(hard->kind == ChangeKind::deleted);

  // members@delta of group 0 arrives in chunks of 2 over several objects.
  std::set<std::string> members_added, members_removed;
  int chunks = 0;
  for (const auto& c : delta.changes) {
    if (c.record.id != group_ids[0]) continue;
    ++chunks;
    CHECK(c.record.partial);
    members_added.insert(c.record.members.begin(), c.record.members.end());
    members_removed.insert(c.record.members_removed.begin(), c.record.members_removed.end());
  }
  CHECK(chunks >= 2);
  CHECK(members_added == std::set<std::string>{added, user_ids[4], user_ids[7]});
  // user 3 (hard-deleted, member of group 0) and user 6 (removed) leave group 0.
  CHECK(members_removed == std::set<std::string>{user_ids[3], user_ids[6]});

  // The new cursor starts after these changes.
  Collect again;
  source->read(incremental(r3.cursor), again);
  CHECK(again.changes.empty());
}

TEST_CASE("replaying an old delta link returns the same changes again") {
  SimProcess sim({"--graph-users", "5", "--graph-groups", "1"});
  Plugin p;
  auto source = p.make(sim);
  Collect first;
  ReadResult r1 = source->read(full(), first);
  auto user_ids = ids(sim, "users", 0, 1);
  sim.admin("PATCH", "/_admin/graph/users/" + user_ids[0], R"({"displayName":"Changed"})");
  Collect a, b;
  source->read(incremental(r1.cursor), a);
  source->read(incremental(r1.cursor), b);
  REQUIRE(a.changes.size() == 1);
  REQUIRE(b.changes.size() == 1);
  CHECK(a.changes[0].record.attributes == b.changes[0].record.attributes);
}

TEST_CASE("delta pages with an empty value and a nextLink are followed") {
  SimProcess sim({"--graph-users", "5", "--graph-groups", "1", "--graph-delta-empty-pages", "3"});
  Plugin p;
  auto source = p.make(sim);
  Collect first;
  ReadResult r1 = source->read(full(), first);
  auto user_ids = ids(sim, "users", 0, 1);
  sim.admin("PATCH", "/_admin/graph/users/" + user_ids[0], R"({"mail":"x@contoso.example"})");
  Collect delta;
  ReadResult r2 = source->read(incremental(r1.cursor), delta);
  REQUIRE(delta.changes.size() == 1);
  CHECK(delta.changes[0].record.id == user_ids[0]);
}

TEST_CASE("410 syncStateNotFound on delta falls back to a full read and says why") {
  SimProcess sim({"--graph-users", "25", "--graph-groups", "2"});
  Plugin p;
  auto source = p.make(sim);
  Collect first;
  ReadResult r1 = source->read(full(), first);
  sim.admin("POST", "/_admin/graph/faults", R"({"delta_gone":true})");
  Collect second;
  ReadResult r2 = source->read(incremental(r1.cursor), second);
  CHECK(r2.mode == ReadMode::full);
  CHECK(r2.complete);
  CHECK_THAT(r2.note, Catch::Contains("410") && Catch::Contains("syncStateNotFound") && Catch::Contains("full read"));
  CHECK(second.of(ObjectType::user).size() == 25);
  CHECK(second.of(ObjectType::group).size() == 2);
}

TEST_CASE("an empty or foreign cursor means a full read") {
  SimProcess sim({"--graph-users", "4", "--graph-groups", "1"});
  Plugin p;
  auto source = p.make(sim);
  Collect a;
  ReadResult r = source->read(incremental(""), a);
  CHECK(r.mode == ReadMode::full);
  CHECK_FALSE(r.note.empty());
  ReadRequest other = incremental(r.cursor);
  other.user_attributes.push_back("department");
  Collect b;
  ReadResult r2 = source->read(other, b);
  CHECK(r2.mode == ReadMode::full);
  CHECK_THAT(r2.note, Catch::Contains("attributes"));
}

// Reads 50 users and 2 groups from a simulator started with `faults`; the
// read must complete as if nothing happened. Returns the simulator's stats.
Value read_through(const std::vector<std::string>& faults, std::string* log = nullptr) {
  std::vector<std::string> args{"--graph-users", "50", "--graph-groups", "2"};
  args.insert(args.end(), faults.begin(), faults.end());
  SimProcess sim(args);
  Plugin p;
  auto source = p.make(sim);
  Collect out;
  ReadResult r = source->read(full(), out);
  CHECK(r.complete);
  CHECK(out.of(ObjectType::user).size() == 50);
  CHECK(out.of(ObjectType::group).size() == 2);
  if (log) *log = p.log.lines;
  return parse_json(sim.admin("GET", "/_admin/graph/stats"));
}

TEST_CASE("a 429 storm with Retry-After is ridden out") {
  std::string log;
  Value stats = read_through({"--graph-throttle-every", "2", "--graph-retry-after", "0"}, &log);
  CHECK(stats.as_object().find("throttled")->as_integer() >= 5);
  CHECK_THAT(log, Catch::Contains("status 429"));
}

TEST_CASE("503s and truncated bodies are retried") {
  Value stats = read_through({"--graph-error-every", "3", "--graph-truncate-every", "4"});
  CHECK(stats.as_object().find("errors")->as_integer() >= 2);
  CHECK(stats.as_object().find("truncated")->as_integer() >= 1);
}

TEST_CASE("a page that fails permanently throws Error(read)") {
  SimProcess sim({"--graph-users", "50", "--graph-groups", "2", "--graph-fail-page", "2"});
  Plugin p;
  auto source = p.make(sim, {{"max_attempts", 3}});
  Collect out;
  try {
    source->read(full(), out);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::read);
    CHECK_THAT(e.what(), Catch::Contains("503"));
  }
  CHECK(out.of(ObjectType::user).size() == 20);  // pages 0 and 1 only
  CHECK(out.of(ObjectType::group).empty());
}

TEST_CASE("a token expiring mid-run is refreshed once and the read completes") {
  SimProcess sim({"--graph-users", "40", "--graph-groups", "2"});
  Plugin p;
  auto source = p.make(sim, {{"prefetch", false}});
  Collect out;
  bool expired = false;
  out.hook = [&](const Change&) {
    if (!expired) {
      expired = true;
      sim.admin("POST", "/_admin/graph/expire-tokens");
    }
  };
  ReadResult r = source->read(full(), out);
  CHECK(r.complete);
  CHECK(out.of(ObjectType::user).size() == 40);
  CHECK(stat(sim, "tokens") == 2);
  CHECK(stat(sim, "unauthorized") == 1);
}

TEST_CASE("a wrong secret is an auth error that does not quote the secret") {
  SimProcess sim({"--graph-users", "3", "--graph-groups", "1"});
  Plugin p;
  auto source = p.make(sim, {{"client_secret", "Wr0ng-S3cret-Value"}});
  Collect out;
  try {
    source->read(full(), out);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::auth);
    CHECK_THAT(e.what(), Catch::Contains("AADSTS7000215") && Catch::Contains("401"));
    CHECK_THAT(e.what(), !Catch::Contains("Wr0ng-S3cret-Value"));
  }
  CHECK_THROWS_AS(source->test_connection(), Error);
  CHECK(p.log.lines.find("Wr0ng-S3cret-Value") == std::string::npos);
}

TEST_CASE("test_connection reads one user and one group; a 403 names the missing permission") {
  SimProcess sim({"--graph-users", "3", "--graph-groups", "1"});
  Plugin p;
  auto source = p.make(sim);
  auto lines = source->test_connection();
  REQUIRE(lines.size() == 4);
  CHECK_THAT(lines[1], Catch::Contains("read 1 of the users"));
  CHECK_THAT(lines[2], Catch::Contains("read 1 of the groups"));
  for (const char* permission : {"User.Read.All", "Group.Read.All", "GroupMember.Read.All"}) {
    sim.admin("POST", "/_admin/graph/faults", std::string(R"({"deny":[")") + permission + R"("]})");
    try {
      source->test_connection();
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::auth);
      CHECK_THAT(e.what(), Catch::Contains(permission) && Catch::Contains("403"));
    }
  }
}

TEST_CASE("config errors are caught by the factory") {
  SimProcess sim({"--graph-users", "1", "--graph-groups", "1"});
  Plugin p;
  CHECK_THROWS_AS(p.make(sim, {{"page_size", 1000}}), Error);
  CHECK_THROWS_AS(p.make(sim, {{"client_secret", nullptr}}), Error);
  CHECK_THROWS_AS(p.make(sim, {{"certificate", "x"}}), Error);
}

TEST_CASE("certificate credentials send an RS256 client assertion") {
  SimProcess sim({"--graph-users", "2", "--graph-groups", "1"});
  auto made = dirsync::test::make_self_signed("dirsync-test");
  const std::string& key = made.key_pem;
  const std::string& cert = made.cert_pem;
  Plugin p;
  auto source = p.make(sim, {{"client_secret", nullptr}, {"certificate", cert}, {"private_key", key}});
  Collect out;
  source->read(full(false), out);
  CHECK(out.changes.size() == 2);
}

TEST_CASE("a change made while a full read runs shows up in the next delta") {
  SimProcess sim({"--graph-users", "30", "--graph-groups", "1"});
  Plugin p;
  auto source = p.make(sim, {{"prefetch", false}});
  auto user_ids = ids(sim, "users", 0, 1);
  Collect first;
  bool changed = false;
  first.hook = [&](const Change&) {
    if (!changed) {
      changed = true;
      sim.admin("PATCH", "/_admin/graph/users/" + user_ids[0], R"({"mail":"during@contoso.example"})");
    }
  };
  ReadResult r1 = source->read(full(false), first);
  REQUIRE(changed);
  Collect delta;
  ReadRequest next = incremental(r1.cursor);
  next.groups = false;
  source->read(next, delta);
  REQUIRE(delta.changes.size() == 1);
  CHECK(delta.changes[0].record.attributes.find("mail")->as_string() == "during@contoso.example");
}

TEST_CASE("the simulator serves a tenant from a JSON file") {
  dirsync::test::TempDir dir;
  dirsync::test::write_file(dir / "tenant.json", R"({
    "users": [{"id": "u-1", "displayName": "Ann", "mail": "ann@x.example", "accountEnabled": true},
              {"id": "u-2", "displayName": "Bob", "mail": null, "accountEnabled": false}],
    "groups": [{"id": "g-1", "displayName": "Staff", "members": ["u-1", "u-2", "g-2"]},
               {"id": "g-2", "displayName": "Inner", "members": []}]})");
  SimProcess sim({"--graph-tenant", (dir / "tenant.json").string()});
  Plugin p;
  auto source = p.make(sim);
  ReadRequest r = full();
  r.user_attributes = {"displayName", "mail", "accountEnabled"};
  Collect out;
  source->read(r, out);
  REQUIRE(out.changes.size() == 4);
  CHECK(out.changes[0].record.id == "u-1");
  CHECK(out.changes[1].record.attributes.find("mail")->is_null());
  CHECK(out.changes[2].record.members == std::vector<std::string>{"u-1", "u-2", "g-2"});
}

TEST_CASE("responses slower than request_timeout are retried, then reported") {
  SimProcess sim({"--graph-users", "3", "--graph-groups", "1", "--graph-slow-ms", "400"});
  Plugin p;
  auto source = p.make(sim, {{"request_timeout", 50}, {"max_attempts", 2}});
  Collect out;
  try {
    source->read(full(false), out);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::connection);
    CHECK_THAT(e.what(), Catch::Contains("timed out") && Catch::Contains("after 2 attempts"));
  }
}
