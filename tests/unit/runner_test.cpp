// The reconciler's decisions, against an in-memory source and sink.
#include "config/pipeline_config.hpp"
#include "support/fakes.hpp"
#include "support/test_support.hpp"
#include "sync/runner.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

using namespace dirsync;
using namespace dirsync::test;

namespace {

struct NullLogger final : Logger {
  std::vector<std::string> lines;
  void log(LogLevel, std::string_view m) override { lines.emplace_back(m); }
};

const char* kPipeline = R"(version: 1
name: t
source: { type: fake }
sink: { type: fake }
users:
  scope:
    - - { attribute: accountEnabled, operator: IS TRUE }
  match:
    - { target: email, source: mail, ignore_case: true }
    - { target: email, source: userPrincipalName, ignore_case: true }
  mappings:
    - { target: email, source: mail }
    - { target: name, source: displayName }
    - { target: role, constant: viewer, apply: on_create }
  on_missing: disable
  on_out_of_scope: disable
groups:
  mappings:
    - { target: name, source: displayName }
safety: { max_deletions: 50% }
)";

struct Harness {
  TempDir dir;
  PipelineConfig config;
  FakeSource source;
  FakeSink sink;
  NullLogger log;
  Redactor redactor;
  std::unique_ptr<StateStore> state;

  explicit Harness(const std::string& yaml = kPipeline)
      : config(load_pipeline_text(yaml, dir / "t.yaml")),
        state(std::make_unique<StateStore>(dir / "t.state.db", "t")) {}

  RunReport run(RunOptions options = {}) {
    return Runner(config, source, sink, *state, log, redactor).run(options);
  }
};

RunOptions full_read() {
  RunOptions o;
  o.full = true;
  return o;
}

Object person(const std::string& mail, const std::string& name, bool enabled = true) {
  return Object{{"mail", Value(mail)}, {"displayName", Value(name)}, {"accountEnabled", Value(enabled)}};
}

}  // namespace

TEST_CASE("first run creates, second identical run writes nothing") {
  Harness h;
  h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob"))};
  auto r1 = h.run();
  CHECK(r1.status == "Success");
  CHECK(r1.counts.created == 2);
  CHECK(h.sink.objects.size() == 2);
  CHECK(h.sink.log[0].attributes.find("role")->as_string() == "viewer");

  h.sink.log.clear();
  auto r2 = h.run();
  CHECK(r2.counts.created == 0);
  CHECK(r2.counts.updated == 0);
  CHECK(r2.counts.skipped == 2);
  CHECK(h.sink.log.empty());
}

TEST_CASE("an update sends only the changed attributes and keeps on_create values") {
  Harness h;
  h.source.changes = {user("u1", person("a@x.com", "Ann"))};
  h.run();
  h.sink.log.clear();
  h.source.changes = {user("u1", person("a@x.com", "Ann Smith"))};
  auto r = h.run();
  CHECK(r.counts.updated == 1);
  REQUIRE(h.sink.log.size() == 1);
  CHECK(h.sink.log[0].kind == OpKind::update);
  CHECK(h.sink.log[0].attributes.size() == 1);
  CHECK(h.sink.log[0].attributes.find("name")->as_string() == "Ann Smith");
}

TEST_CASE("matching adopts an existing target by the first key with a value, case-insensitively") {
  Harness h;
  h.sink.objects["existing"] = {ObjectType::user, Object{{"email", Value("A@X.COM")}}, {}, false};
  h.source.changes = {user("u1", person("a@x.com", "Ann"))};
  auto r = h.run();
  CHECK(r.counts.created == 0);
  CHECK(r.counts.updated == 1);
  CHECK(h.sink.log[0].target_id == "existing");
  // The on_create constant is not forced onto an object we did not create.
  CHECK(h.sink.log[0].attributes.find("role") == nullptr);
}

TEST_CASE("two targets matching one source object is a per-object error, never a silent pick") {
  Harness h;
  h.sink.objects["t-a"] = {ObjectType::user, Object{{"email", Value("a@x.com")}}, {}, false};
  h.sink.objects["t-b"] = {ObjectType::user, Object{{"email", Value("a@x.com")}}, {}, false};
  h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob"))};
  auto r = h.run();
  CHECK(r.status == "Partial");
  CHECK(r.exit_code == 1);
  CHECK(r.counts.failed == 1);
  CHECK(r.counts.created == 1);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].source_id == "u1");
  CHECK(r.errors[0].message.find("t-a") != std::string::npos);
  CHECK(r.errors[0].message.find("t-b") != std::string::npos);
}

TEST_CASE("a first sync into an empty target matches in memory and still catches duplicates") {
  // group_between: users' created values are let go when groups start, and a
  // user read after a group is matched through the sink instead.
  for (auto [knows_empty, group_between] : std::initializer_list<std::pair<bool, bool>>{{true, false}, {false, false}, {true, true}}) {
    Harness h;
    h.sink.knows_empty = knows_empty;
    h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob")),
                        user("u3", person("A@X.COM", "Ann again"))};
    if (group_between)
      h.source.changes.insert(h.source.changes.begin() + 2, group("g1", Object{{"displayName", Value("Staff")}}, {"u1"}));
    RunOptions one_per_batch;
    one_per_batch.batch_size = 1;
    auto r = h.run(one_per_batch);
    CHECK(r.counts.created == (group_between ? 3 : 2));
    CHECK(r.counts.failed == 1);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].source_id == "u3");
    CHECK(r.errors[0].message.find("already linked to source object u1") != std::string::npos);
    if (group_between) continue;
    // Empty target: only the duplicate's value is looked up; unknown: every object's.
    CHECK(h.sink.finds == (knows_empty ? 1 : 3));

    // The next run is no first sync: the sink is asked as usual.
    h.sink.finds = 0;
    h.source.changes.push_back(user("u4", person("d@x.com", "Dee")));
    auto r2 = h.run(one_per_batch);
    CHECK(r2.counts.created == 1);
    CHECK(h.sink.finds >= 2);
  }
}

TEST_CASE("an object with no value for any match key is reported and skipped") {
  Harness h;
  h.source.changes = {user("u1", Object{{"displayName", Value("No Mail")}, {"accountEnabled", Value(true)}})};
  auto r = h.run();
  CHECK(r.counts.failed == 1);
  CHECK(r.errors.at(0).message.find("no value for any match key (mail, userPrincipalName)") != std::string::npos);
  CHECK(h.sink.objects.empty());
}

TEST_CASE("objects missing from a complete full read are disabled; from a partial read nothing is removed") {
  Harness h;
  h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob")),
                      user("u3", person("c@x.com", "Cy"))};
  h.run();

  SECTION("failed read") {
    h.source.changes = {user("u1", person("a@x.com", "Ann"))};
    h.source.throw_after = 1;
    auto r = h.run();
    CHECK(r.counts.disabled == 0);
    CHECK(r.status == "Failed");
    CHECK(r.exit_code == 1);
    CHECK(h.sink.count(OpKind::disable) == 0);
    CHECK(h.state->cursor() == "cursor-1");  // from the first, complete run
  }
  SECTION("incomplete read reported by the source") {
    h.source.changes = {user("u1", person("a@x.com", "Ann"))};
    h.source.complete = false;
    auto r = h.run(full_read());
    CHECK(r.counts.disabled == 0);
    CHECK(r.status == "Partial");
  }
  SECTION("complete read") {
    h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob"))};
    auto r = h.run(full_read());
    CHECK(r.counts.disabled == 1);
    CHECK(h.sink.log.back().kind == OpKind::disable);
    CHECK(h.sink.log.back().source_id == "u3");
    // Disabling twice is not a change.
    h.sink.log.clear();
    auto again = h.run(full_read());
    CHECK(again.counts.disabled == 0);
    CHECK(h.sink.log.empty());
  }
}

TEST_CASE("the deletion threshold stops the run before any removal; --accept-deletions confirms") {
  Harness h;
  h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob")),
                      user("u3", person("c@x.com", "Cy"))};
  h.run();
  h.sink.log.clear();
  h.source.changes = {user("u1", person("a@x.com", "Ann"))};  // 2 of 3 gone: 66% > 50%
  RunOptions full;
  full.full = true;
  try {
    h.run(full);
    FAIL("expected a safety stop");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::safety);
    CHECK(exit_code_for(e.kind()) == 4);
    CHECK(std::string(e.what()).find("--accept-deletions") != std::string::npos);
  }
  CHECK(h.sink.count(OpKind::disable) == 0);
  CHECK(h.state->runs(1).at(0).status == "Failed");
  full.accept_deletions = true;
  auto r = h.run(full);
  CHECK(r.counts.disabled == 2);
}

TEST_CASE("leaving the scope applies on_out_of_scope") {
  Harness h;
  h.source.changes = {user("u1", person("a@x.com", "Ann"))};
  h.run();
  h.source.changes = {user("u1", person("a@x.com", "Ann", false))};
  auto r = h.run();
  CHECK(r.counts.disabled == 1);
  CHECK(h.sink.objects.begin()->second.disabled);
}

TEST_CASE("out-of-scope objects are never created") {
  Harness h;
  h.source.changes = {user("u1", person("a@x.com", "Ann", false))};
  auto r = h.run();
  CHECK(r.counts.created == 0);
  CHECK(r.counts.skipped == 1);
}

TEST_CASE("partial (delta) records merge with the stored source state") {
  Harness h;
  h.source.changes = {user("u1", person("a@x.com", "Ann"))};
  h.run();
  h.sink.log.clear();
  Change delta = user("u1", Object{{"displayName", Value("Ann B")}});
  delta.record.partial = true;
  h.source.changes = {delta};
  auto r = h.run();
  CHECK(r.mode == "incremental");
  CHECK(h.source.last_request.cursor == "cursor-1");
  CHECK(r.counts.updated == 1);
  // accountEnabled came from the stored state: still in scope, not disabled.
  CHECK(r.counts.disabled == 0);
  REQUIRE(h.sink.log.size() == 1);
  CHECK(h.sink.log[0].attributes.find("name")->as_string() == "Ann B");
  CHECK(h.sink.log[0].attributes.find("email") == nullptr);
}

TEST_CASE("soft and hard deletes from a delta") {
  Harness h;
  h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob"))};
  h.run();
  h.source.changes = {user("u1", {}, ChangeKind::soft_deleted), user("u2", {}, ChangeKind::deleted)};
  auto r = h.run();
  CHECK(r.counts.disabled == 2);  // on_missing: disable applies to hard deletes too
}

TEST_CASE("group members are written as target ids, and only membership changes are sent") {
  Harness h;
  h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob")),
                      group("g1", Object{{"displayName", Value("Sales")}}, {"u1", "u2", "unknown"})};
  h.run();
  const FakeObject* g = nullptr;
  for (const auto& [id, o] : h.sink.objects)
    if (o.type == ObjectType::group) g = &o;
  REQUIRE(g);
  CHECK(g->members.size() == 2);
  h.sink.log.clear();
  h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob")),
                      group("g1", Object{{"displayName", Value("Sales")}}, {"u1"})};
  auto r = h.run();
  REQUIRE(h.sink.log.size() == 1);
  CHECK(h.sink.log[0].members_remove.size() == 1);
  CHECK(h.sink.log[0].members_add.empty());
  CHECK(h.sink.log[0].attributes.empty());
  CHECK(r.counts.updated == 1);
}

TEST_CASE("per-object sink failures are recorded and the run continues") {
  Harness h;
  h.sink.fail_for = {"u1"};
  h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob"))};
  auto r = h.run();
  CHECK(r.status == "Partial");
  CHECK(r.counts.failed == 1);
  CHECK(r.counts.created == 1);
  auto errors = h.state->run_errors(r.run_id, 10);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].message == "constraint violation on u1");
  // The failed object is retried next run.
  h.sink.fail_for.clear();
  auto r2 = h.run();
  CHECK(r2.counts.created == 1);
}

TEST_CASE("plan writes nothing to sink or state") {
  Harness h;
  h.source.changes = {user("u1", person("a@x.com", "Ann"))};
  RunOptions plan;
  plan.dry_run = true;
  auto r = h.run(plan);
  CHECK(r.counts.created == 1);
  REQUIRE(r.plan.size() == 1);
  CHECK(r.plan[0].kind == OpKind::create);
  CHECK(h.sink.log.empty());
  CHECK(h.state->runs(10).empty());
}

TEST_CASE("ownership created_by_pipeline leaves matched objects alone") {
  std::string yaml = kPipeline;
  yaml.replace(yaml.find("  on_missing: disable"), 0, "  ownership: created_by_pipeline\n");
  Harness h(yaml);
  h.sink.objects["theirs"] = {ObjectType::user, Object{{"email", Value("a@x.com")}}, {}, false};
  h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob"))};
  auto r = h.run();
  CHECK(r.counts.created == 1);
  CHECK(r.counts.updated == 0);
  h.source.changes = {user("u2", person("b@x.com", "Bob"))};
  auto r2 = h.run(full_read());
  CHECK(r2.counts.disabled == 0);  // u1's target is not ours to disable
}

TEST_CASE("a changed mapping forces a full read") {
  Harness h;
  h.source.changes = {user("u1", person("a@x.com", "Ann"))};
  h.run();
  std::string yaml = kPipeline;
  yaml.replace(yaml.find("source: displayName }"), 0, "source: displayName, type: string }\n#");
  h.config = load_pipeline_text(yaml, h.dir / "t.yaml");
  auto r = h.run();
  CHECK(r.mode == "full");
  CHECK(r.note.find("full evaluation") != std::string::npos);
}

TEST_CASE("a failed read still writes the objects emitted before the failure") {
  Harness h;
  h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob"))};
  h.source.throw_after = 2;  // both emitted, still in the runner's batch, then the read fails
  auto r = h.run();
  CHECK(r.counts.created == 2);
  CHECK(r.status == "Partial");
  CHECK(h.sink.objects.size() == 2);
}

TEST_CASE("SelectUniqueValue checks each candidate against the sink and this run") {
  const char* yaml = R"(version: 1
name: t
source: { type: fake }
sink: { type: fake }
users:
  mappings:
    - { target: login, expression: 'SelectUniqueValue(Join("", Left([givenName], 1), [surname]), Join("", Left([givenName], 2), [surname]))' }
)";
  Harness h(yaml);
  h.sink.objects["taken"] = {ObjectType::user, Object{{"login", Value("asmith")}}, {}, false};
  h.source.changes = {user("u1", Object{{"givenName", Value("Ann")}, {"surname", Value("smith")}}),
                      user("u2", Object{{"givenName", Value("Anna")}, {"surname", Value("smith")}})};
  auto r = h.run();
  INFO(r.error);
  REQUIRE(r.counts.created == 1);
  CHECK(r.counts.failed == 1);  // both candidates of u2 are taken: by the sink and by u1
  CHECK(h.sink.log.at(0).attributes.find("login")->as_string() == "Ansmith");  // "Asmith" matches "asmith" case-insensitively
}

TEST_CASE("member_of scoping uses the group memberships the state store knows") {
  const char* yaml = R"(version: 1
name: t
source: { type: fake }
sink: { type: fake }
users:
  scope:
    - - { attribute: id, operator: member_of, value: Sales }
  mappings:
    - { target: email, source: mail }
groups:
  mappings:
    - { target: name, source: displayName }
)";
  Harness h(yaml);
  h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob")),
                      group("g1", Object{{"displayName", Value("Sales")}}, {"u1"})};
  h.run();  // first run: groups become known
  auto r = h.run();
  CHECK(r.counts.created == 1);
  bool ann = false;
  for (const auto& [id, o] : h.sink.objects)
    if (o.type == ObjectType::user) ann = o.attributes.find("email")->as_string() == "a@x.com";
  CHECK(ann);
}

TEST_CASE("one object twice in one batch is created once, and its second record is applied over the first") {
  // Graph's delta pages may repeat an object: a replayed page, or an object
  // changed twice while the delta was read.
  for (bool first_sync : {true, false}) {
    Harness h;
    if (!first_sync) {
      h.source.changes = {user("u0", person("z@x.com", "Zed"))};
      h.run();
    }
    h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob")),
                        user("u1", person("a@x.com", "Ann Renamed"))};
    h.source.changes[2].record.partial = true;
    h.source.changes[2].record.attributes.erase("mail");  // partial: only what changed
    auto r = h.run();
    INFO("first sync: " << first_sync);
    CHECK(r.counts.failed == 0);
    CHECK(r.counts.created == 2);
    CHECK(r.counts.updated == 1);
    std::size_t ann = 0;
    for (const auto& [id, o] : h.sink.objects)
      if (o.attributes.find("email") && o.attributes.find("email")->to_string() == "a@x.com") {
        ++ann;
        CHECK(o.attributes.find("name")->to_string() == "Ann Renamed");
      }
    CHECK(ann == 1);
  }
}

TEST_CASE("the sink hears finish() once per run, after its last write, also when the read failed; a plan does not") {
  Harness h;
  h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob"))};
  h.run();
  CHECK(h.sink.finishes == 1);
  CHECK(h.sink.applied_at_finish == 2);
  CHECK(h.sink.log.size() == 2);

  h.source.changes = {user("u3", person("c@x.com", "Cy")), user("u4", person("d@x.com", "Di"))};
  h.source.throw_after = 2;
  CHECK(h.run().status == "Partial");
  CHECK(h.sink.finishes == 2);
  CHECK(h.sink.applied_at_finish == 4);

  RunOptions plan;
  plan.dry_run = true;
  h.source.throw_after = -1;
  h.run(plan);
  CHECK(h.sink.finishes == 2);
}

TEST_CASE("a first sync reading one object twice, in different batches, creates it once") {
  // Its mail changed between the two sights, so matching cannot catch it:
  // the target index does when groups resolve members, a set of
  // fingerprints when they do not; either way the object is looked up in
  // the store and updated, not created again.
  for (bool members : {true, false}) {
    std::string yaml = kPipeline;
    if (!members) yaml.replace(yaml.find("safety:"), 0, "  members: false\n");
    Harness h(yaml);
    h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob")),
                        user("u1", person("ann@x.com", "Ann Renamed")),
                        group("g1", Object{{"displayName", Value("Sales")}}, {"u1", "u2"})};
    RunOptions one_per_batch;
    one_per_batch.batch_size = 1;
    auto r = h.run(one_per_batch);
    INFO("members: " << members);
    CHECK(r.counts.failed == 0);
    CHECK(r.counts.created == 3);  // u1, u2, g1
    CHECK(r.counts.updated == 1);  // u1's second record
    std::size_t users = 0;
    const FakeObject* g = nullptr;
    for (const auto& [id, o] : h.sink.objects) {
      if (o.type == ObjectType::group) g = &o;
      else ++users;
    }
    CHECK(users == 2);
    REQUIRE(g);
    CHECK(g->members.size() == (members ? 2u : 0u));
  }
}

TEST_CASE("a first sync decides a nested group again at the end without building the store's key indexes") {
  // g1 lists g2 before g2 was read: g1 is deferred and decided once more
  // after the read. Its link is read by rowid, and its member out of scope
  // (u9, never written) is not looked for in the store, so the store is
  // still in its bulk load then, and builds its key indexes once, beside the
  // sink's finish().
  Harness h;
  h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u9", person("z@x.com", "Zed", false)),
                      group("g1", Object{{"displayName", Value("Sales")}}, {"u1", "g2", "u9"}),
                      group("g2", Object{{"displayName", Value("EMEA")}}, {"u1"})};
  std::vector<bool> bulk_at_update;
  h.sink.on_apply = [&](const Operation& op) {
    if (op.kind == OpKind::update && op.source_id == "g1") bulk_at_update.push_back(h.state->bulk_loading());
  };
  auto r = h.run();
  CHECK(r.status == "Success");
  CHECK(r.counts.created == 3);
  CHECK(bulk_at_update == std::vector<bool>{true});
  CHECK_FALSE(h.state->bulk_loading());
  const FakeObject* g1 = nullptr;
  std::string g2_target;
  for (const auto& [id, o] : h.sink.objects) {
    if (o.type != ObjectType::group) continue;
    if (o.attributes.find("name")->as_string() == "Sales") g1 = &o;
    else g2_target = id;
  }
  REQUIRE(g1);
  CHECK(g1->members.count(g2_target) == 1);
  CHECK(g1->members.size() == 2);
  // The links are found by key afterwards: the indexes were built.
  REQUIRE(h.state->find_link(ObjectType::group, "g1"));
  CHECK(h.state->find_link(ObjectType::group, "g1")->target_id != g2_target);
  // And the next run writes nothing.
  auto again = h.run();
  CHECK(again.counts.updated == 0);
  CHECK(again.counts.created == 0);
}

TEST_CASE("a first sync writes a batch of groups while it reads the next, and resolves a member group still in flight") {
  // g2 lists g1, whose batch the sink holds when g2 is decided: g2 waits
  // for it rather than being deferred (no update at the end).
  Harness h;
  h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob")),
                      group("g1", Object{{"displayName", Value("Sales")}}, {"u1"}),
                      group("g2", Object{{"displayName", Value("EMEA")}}, {"u2", "g1"}),
                      group("g3", Object{{"displayName", Value("APAC")}}, {"u1"})};
  std::mutex m;
  std::condition_variable cv;
  bool g2_read = false;
  h.source.on_emit = [&](const Change& c) {
    if (c.record.id != "g2") return;
    std::lock_guard<std::mutex> lock(m);
    g2_read = true;
    cv.notify_all();
  };
  // The sink takes g1 only once the source has moved on to g2: a run that
  // writes groups in step with reading them would wait here for nothing.
  bool overlapped = false;
  h.sink.on_apply = [&](const Operation& op) {
    if (op.source_id != "g1") return;
    std::unique_lock<std::mutex> lock(m);
    overlapped = cv.wait_for(lock, std::chrono::seconds(10), [&] { return g2_read; });
  };
  RunOptions one_per_batch;
  one_per_batch.batch_size = 1;
  auto r = h.run(one_per_batch);
  CHECK(overlapped);
  CHECK(r.status == "Success");
  CHECK(r.counts.created == 5);
  CHECK(r.counts.updated == 0);
  std::map<std::string, const FakeObject*> by_name;
  std::string g1_target;
  for (const auto& [id, o] : h.sink.objects) {
    if (o.type != ObjectType::group) continue;
    by_name[o.attributes.find("name")->as_string()] = &o;
    if (o.attributes.find("name")->as_string() == "Sales") g1_target = id;
  }
  REQUIRE(by_name.size() == 3);
  CHECK(by_name["EMEA"]->members.size() == 2);
  CHECK(by_name["EMEA"]->members.count(g1_target) == 1);
  CHECK(by_name["APAC"]->members.size() == 1);
  auto again = h.run(one_per_batch);
  CHECK(again.counts.updated == 0);
  CHECK(again.counts.created == 0);
}

TEST_CASE("a store from before wide hashes keeps FNV-1a: a rerun writes nothing, an update sends only the change") {
  Harness h;
  const auto path = h.dir / "t.state.db";
  auto query = [&](const char* sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK);
    std::string out;
    while (sqlite3_step(st) == SQLITE_ROW)
      out += sqlite3_column_text(st, 0) ? reinterpret_cast<const char*>(sqlite3_column_text(st, 0)) : "";
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  };
  const bool old_store = GENERATE(false, true);
  if (old_store) {
    h.state.reset();
    query("DELETE FROM meta WHERE key = 'object_hash' RETURNING key");
    h.state = std::make_unique<StateStore>(path, "t");
  }
  h.source.changes = {user("u1", person("a@x.com", "Ann")), user("u2", person("b@x.com", "Bob"))};
  CHECK(h.run().counts.created == 2);
  // Each user's written fingerprint names the hash its store holds.
  CHECK(query("SELECT substr(written, 1, 1) FROM links WHERE object_type = 0") == (old_store ? "FF" : "WW"));

  h.sink.log.clear();
  auto again = h.run();
  CHECK(again.counts.skipped == 2);
  CHECK(h.sink.log.empty());

  h.source.changes = {user("u1", person("a@x.com", "Ann Smith")), user("u2", person("b@x.com", "Bob"))};
  auto changed = h.run();
  CHECK(changed.counts.updated == 1);
  REQUIRE(h.sink.log.size() == 1);
  CHECK(h.sink.log[0].attributes.size() == 1);
  CHECK(query("SELECT substr(written, 1, 1) FROM links WHERE object_type = 0") == (old_store ? "FF" : "WW"));
}
