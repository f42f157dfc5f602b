// End to end through the `dirsync` CLI: dirsync-sim's Graph -> entra -> sqlite.
#include <catch2/catch.hpp>

#include "support/sim_process.hpp"
#include "support/test_support.hpp"

#include <dirsync/value.hpp>

#include <sqlite3.h>

using namespace dirsync;
using dirsync::test::SimProcess;
using dirsync::test::TempDir;

namespace {

const char* kSecret = "sim-secret";

std::string pipeline(const SimProcess& sim) {
  return "version: 1\n"
         "name: entra-e2e\n"
         "source:\n"
         "  type: entra\n"
         "  tenant_id: contoso\n"
         "  client_id: sim-client\n"
         "  client_secret: ${env:ENTRA_SECRET}\n"
         "  authority: " + sim.url() + "\n"
         "  graph_url: " + sim.url() + "\n"
         "  page_size: 7\n"
         "  max_attempts: 3\n"
         "  retry_initial_backoff: 1ms\n"
         "sink: { type: sqlite, path: out.db }\n"
         "users:\n"
         "  match: [{ target: email, source: userPrincipalName, ignore_case: true }]\n"
         "  mappings:\n"
         "    - { target: email, source: userPrincipalName }\n"
         "    - { target: mail, source: mail }\n"
         "    - { target: name, expression: 'Join(\" \", [givenName], [surname])' }\n"
         "    - { target: active, source: accountEnabled, type: boolean }\n"
         "  on_missing: disable\n"
         "groups:\n"
         "  match: [{ target: name, source: displayName }]\n"
         "  mappings: [{ target: name, source: displayName }]\n"
         "  members: true\n";
}

struct Env {
  explicit Env(const SimProcess& sim) { test::write_file(dir / "p.yaml", pipeline(sim)); }
  test::CommandResult dirsync(std::vector<std::string> args, const std::string& secret = kSecret) {
    args.push_back((dir / "p.yaml").string());
    return test::run_dirsync(args, {{"ENTRA_SECRET", secret}}, dir.path());
  }
  /// One integer from the sink's database.
  long long scalar(const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2((dir / "out.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    long long v = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
  }
  Value last_run() {
    auto r = dirsync({"runs", "--json", "--limit", "1"});
    REQUIRE(r.exit_code == 0);
    return parse_json(r.out.substr(0, r.out.find('\n')));
  }
  TempDir dir;
};

std::string id_of(const SimProcess& sim, int index) {
  Value ids = parse_json(sim.admin("GET", "/_admin/graph/ids?kind=users&from=" + std::to_string(index) + "&count=1"));
  return ids.as_list().at(0).as_string();
}

std::string text(const Value& run, const char* key) {
  REQUIRE(run.is_object());
  const Value* v = run.as_object().find(key);
  REQUIRE(v);
  return v->to_string();
}

}  // namespace

TEST_CASE("full sync, then deltas with soft and hard deletes, through the CLI") {
  SimProcess sim({"--graph-users", "30", "--graph-groups", "4"});
  Env env(sim);
  auto first = env.dirsync({"run"});
  INFO(first.all());
  REQUIRE(first.exit_code == 0);
  CHECK(env.scalar("SELECT count(*) FROM users") == 30);
  CHECK(env.scalar("SELECT count(*) FROM groups") == 4);
  CHECK(env.scalar("SELECT count(*) FROM group_members") == 30);
  CHECK(text(env.last_run(), "mode") == "full");

  auto again = env.dirsync({"run"});
  REQUIRE(again.exit_code == 0);
  Value run2 = env.last_run();
  CHECK(text(run2, "mode") == "incremental");
  CHECK(text(run2, "processed") == "0");

  std::string u1 = id_of(sim, 1), u2 = id_of(sim, 2), u5 = id_of(sim, 5);
  sim.admin("PATCH", "/_admin/graph/users/" + u1, R"({"givenName":"Zed"})");
  sim.admin("POST", "/_admin/graph/users/" + u2 + "/soft-delete");
  sim.admin("DELETE", "/_admin/graph/users/" + u5);
  sim.admin("POST", "/_admin/graph/users", R"({"userPrincipalName":"new@contoso.example","givenName":"New"})");
  auto delta = env.dirsync({"run"});
  INFO(delta.all());
  REQUIRE(delta.exit_code == 0);
  Value run3 = env.last_run();
  CHECK(text(run3, "mode") == "incremental");
  CHECK(env.scalar("SELECT count(*) FROM users") == 31);
  CHECK(env.scalar("SELECT count(*) FROM users WHERE name LIKE 'Zed %'") == 1);
  CHECK(env.scalar("SELECT count(*) FROM users WHERE _disabled = 1") == 2);  // soft and hard deleted
  CHECK(env.scalar("SELECT count(*) FROM users WHERE _source_id = '" + u2 + "' AND _disabled = 1") == 1);
  // Memberships of the removed users are gone from the sink.
  CHECK(env.scalar("SELECT count(*) FROM group_members") == 28);
}

TEST_CASE("a page failing for good: the run is not a success, nothing is removed, the cursor stays") {
  SimProcess sim({"--graph-users", "30", "--graph-groups", "2"});
  Env env(sim);
  REQUIRE(env.dirsync({"run"}).exit_code == 0);
  std::string gone = id_of(sim, 3);
  sim.admin("DELETE", "/_admin/graph/users/" + gone);
  sim.admin("POST", "/_admin/graph/faults", R"({"fail_page":2})");
  auto failed = env.dirsync({"run", "--full"});
  INFO(failed.all());
  CHECK(failed.exit_code != 0);
  CHECK(failed.exit_code != 2);
  CHECK(text(env.last_run(), "status") != "Success");
  CHECK(env.scalar("SELECT count(*) FROM users WHERE _disabled = 1") == 0);

  // The stored cursor predates the deletion, so the next delta still sees it.
  sim.admin("POST", "/_admin/graph/faults", R"({"fail_page":-1})");
  auto recovered = env.dirsync({"run"});
  INFO(recovered.all());
  REQUIRE(recovered.exit_code == 0);
  CHECK(env.scalar("SELECT count(*) FROM users WHERE _source_id = '" + gone + "' AND _disabled = 1") == 1);
}

TEST_CASE("an unknown delta token: the run falls back to a full read and the sync log says why") {
  SimProcess sim({"--graph-users", "12", "--graph-groups", "2"});
  Env env(sim);
  REQUIRE(env.dirsync({"run"}).exit_code == 0);
  sim.admin("POST", "/_admin/graph/faults", R"({"delta_gone":true})");
  auto r = env.dirsync({"run"});
  INFO(r.all());
  REQUIRE(r.exit_code == 0);
  Value run = env.last_run();
  CHECK(text(run, "mode") == "full");
  CHECK_THAT(text(run, "note"), Catch::Contains("syncStateNotFound"));
}

TEST_CASE("a wrong client secret exits 3 and never prints the secret") {
  SimProcess sim({"--graph-users", "3", "--graph-groups", "1"});
  Env env(sim);
  const std::string wrong = "N0t-The-R1ght-Secret";
  auto r = env.dirsync({"run"}, wrong);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.all(), Catch::Contains("AADSTS7000215"));
  CHECK(r.all().find(wrong) == std::string::npos);
  auto t = env.dirsync({"test-connection"}, wrong);
  CHECK(t.exit_code == 3);
  CHECK(t.all().find(wrong) == std::string::npos);
  auto runs = env.dirsync({"runs", "--json"}, wrong);
  CHECK(runs.all().find(wrong) == std::string::npos);
}

TEST_CASE("test-connection names the missing Graph permission") {
  SimProcess sim({"--graph-users", "3", "--graph-groups", "1", "--graph-deny", "GroupMember.Read.All"});
  Env env(sim);
  auto r = env.dirsync({"test-connection"});
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.all(), Catch::Contains("GroupMember.Read.All") && Catch::Contains("403"));
}
