// The scim source inside the real host: `dirsync daemon` serves the endpoint,
// is killed with SIGKILL right after its 2xx answers, and a later
// `dirsync run` still applies every accepted change to the sqlite sink.
#include <catch2/catch.hpp>

#include "scim_fixture.hpp"
#include "support/test_support.hpp"

#include <dirsync/value.hpp>

#include <sqlite3.h>

using namespace dirsync;

namespace {

const std::string kToken = "daemon-test-token-0123456789";

const char* kPipeline = R"(version: 1
name: scim-daemon-test
source:
  type: scim
  listen: 127.0.0.1:0
  store: endpoint.db
  tokens: [ "${env:SCIM_TEST_TOKEN}" ]
sink:
  type: sqlite
  path: assets.db
state: { path: state.db }
users:
  match:
    - { target: email, source: userName, ignore_case: true }
  mappings:
    - { target: email, source: userName }
    - { target: department, source: department }
    - { target: active, source: active, type: boolean }
  on_missing: ignore
groups:
  match:
    - { target: name, source: displayName }
  mappings:
    - { target: name, source: displayName }
  members: true
  on_missing: delete
)";

std::vector<std::string> rows(const std::filesystem::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  std::vector<std::string> out;
  sqlite3_exec(
      h, sql.c_str(),
      [](void* p, int n, char** values, char**) {
        std::string row;
        for (int i = 0; i < n; ++i) row += std::string(i ? "|" : "") + (values[i] ? values[i] : "NULL");
        static_cast<std::vector<std::string>*>(p)->push_back(row);
        return 0;
      },
      &out, nullptr);
  sqlite3_close(h);
  return out;
}

}  // namespace

TEST_CASE("scim daemon: changes acknowledged before kill -9 reach the sink on the next run") {
  test::TempDir dir;
  auto pipeline = dir / "pipeline.yaml";
  test::write_file(pipeline, kPipeline);
  scim_test::Child daemon({test::dirsync_exe().string(), "daemon", pipeline.string()},
                          {{"SCIM_TEST_TOKEN", kToken}, {"DIRSYNC_PLUGIN_PATH", test::plugin_dir().string()}});
  scim_test::Client c{daemon.port, kToken};

  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    scim_test::Response r = c.post("/Users", R"({"userName":"d)" + std::to_string(i) + R"(@x.com","active":true,)"
                                             R"("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":)"
                                             R"({"department":"D)" + std::to_string(i) + R"("}})");
    REQUIRE(r.status == 201);
    ids.push_back(r.json().as_object().find("id")->as_string());
  }
  REQUIRE(c.patch("/Users/" + ids[3], R"([{"op":"Replace","path":"active","value":"False"}])").status == 200);
  REQUIRE(c.post("/Groups", R"({"displayName":"Team","members":[{"value":")" + ids[0] + R"("},{"value":")" + ids[1] +
                                R"("}]})")
              .status == 201);
  REQUIRE(daemon.kill9());

  test::CommandResult run = test::run_dirsync({"run", pipeline.string()}, {{"SCIM_TEST_TOKEN", kToken}});
  INFO(run.all());
  REQUIRE(run.exit_code == 0);
  CHECK(run.all().find(kToken) == std::string::npos);
  auto users = rows(dir / "assets.db", "SELECT email, department, active FROM users ORDER BY email");
  REQUIRE(users.size() == 10);
  CHECK(users[0] == "d0@x.com|D0|1");
  CHECK(users[3] == "d3@x.com|D3|0");  // Entra's soft delete as the string "False"
  CHECK(rows(dir / "assets.db", "SELECT name FROM groups") == std::vector<std::string>{"Team"});
  CHECK(rows(dir / "assets.db", "SELECT count(*) FROM group_members") == std::vector<std::string>{"2"});

  // Nothing new in the endpoint's log: a second run changes nothing.
  test::CommandResult again = test::run_dirsync({"run", pipeline.string()}, {{"SCIM_TEST_TOKEN", kToken}});
  INFO(again.all());
  CHECK(again.exit_code == 0);
  CHECK(rows(dir / "assets.db", "SELECT count(*) FROM users") == std::vector<std::string>{"10"});
}
