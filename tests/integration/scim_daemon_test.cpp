// The scim source inside the real host: `dirsync daemon` serves the endpoint,
// is killed with SIGKILL right after its 2xx answers, and a later
// `dirsync run` still applies every accepted change to the sqlite sink.
#include <catch2/catch.hpp>

#include "support/test_support.hpp"

#include <dirsync/value.hpp>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

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

int call(std::uint16_t port, const std::string& method, const std::string& path, const std::string& body,
         std::string* out = nullptr) {
  Poco::Net::HTTPClientSession s("127.0.0.1", port);
  Poco::Net::HTTPRequest req(method, "/scim/v2" + path, Poco::Net::HTTPMessage::HTTP_1_1);
  req.set("Authorization", "Bearer " + kToken);
  req.setContentType("application/scim+json");
  req.setContentLength(static_cast<std::streamsize>(body.size()));
  s.sendRequest(req) << body;
  Poco::Net::HTTPResponse resp;
  std::istream& in = s.receiveResponse(resp);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (out) *out = text;
  return resp.getStatus();
}

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
  int err_pipe[2];
  REQUIRE(pipe(err_pipe) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(err_pipe[1], 2);
    dup2(err_pipe[1], 1);
    close(err_pipe[0]);
    close(err_pipe[1]);
    setenv("SCIM_TEST_TOKEN", kToken.c_str(), 1);
    setenv("DIRSYNC_PLUGIN_PATH", test::plugin_dir().c_str(), 1);
    std::string exe = test::dirsync_exe().string();
    execl(exe.c_str(), exe.c_str(), "daemon", pipeline.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(err_pipe[1]);
  std::string output;
  std::string::size_type at;
  char buf[4096];
  while ((at = output.find("listening on http://127.0.0.1:")) == std::string::npos ||
         output.find('\n', at) == std::string::npos) {
    ssize_t n = read(err_pipe[0], buf, sizeof buf);
    INFO(output);
    REQUIRE(n > 0);
    output.append(buf, static_cast<std::size_t>(n));
  }
  std::string line = output.substr(at, output.find('\n', at) - at);
  auto port = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));

  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    std::string body;
    int status = call(port, "POST", "/Users",
                      R"({"userName":"d)" + std::to_string(i) + R"(@x.com","active":true,)"
                      R"("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"D)" +
                          std::to_string(i) + R"("}})",
                      &body);
    REQUIRE(status == 201);
    ids.push_back(parse_json(body).as_object().find("id")->as_string());
  }
  REQUIRE(call(port, "PATCH", "/Users/" + ids[3],
               R"({"Operations":[{"op":"Replace","path":"active","value":"False"}]})") == 200);
  REQUIRE(call(port, "POST", "/Groups", R"({"displayName":"Team","members":[{"value":")" + ids[0] +
                                            R"("},{"value":")" + ids[1] + R"("}]})") == 201);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  close(err_pipe[0]);
  REQUIRE(WIFSIGNALED(status));

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
