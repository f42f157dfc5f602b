// `dirsync run` of a file export into a SCIM app through the rest sink: the
// whole engine (matching, hashes, on_missing, sync log, exit codes) against a
// loopback SCIM service provider.
#include <catch2/catch.hpp>

#include "support/http_test_server.hpp"
#include "support/test_support.hpp"

#include <filesystem>

using namespace dirsync;
using namespace dirsync::test;
namespace fs = std::filesystem;

namespace {

const std::string kToken = "cli-SCIM-t0ken-77aa";

std::string pipeline_yaml(const std::string& base_url, bool groups) {
  std::string yaml = R"(version: 1
name: file-to-scim
source:
  type: file
  users: users.csv
)" + std::string(groups ? "  groups: groups.jsonl\n" : "") +
                     R"(sink:
  type: rest
  profile: scim
  base_url: )" + base_url +
                     R"(
  auth: bearer
  token: ${env:APP_SCIM_TOKEN}
  concurrency: 2
  max_members_per_patch: 2
  groups: { create: false, delete: false }
state: { path: state.db }
users:
  match:
    - { target: userName, source: mail, ignore_case: true }
  mappings:
    - { target: userName, source: mail }
    - { target: name.givenName, source: givenName }
    - { target: title, source: jobTitle }
    - { target: externalId, source: id }
    - { target: active, constant: "true", type: boolean }
  on_missing: disable
)";
  if (groups)
    yaml += R"(groups:
  match:
    - { target: displayName, source: displayName }
  mappings:
    - { target: displayName, source: displayName }
  members: true
)";
  return yaml;
}

const std::string kUsers =
    "id,mail,givenName,jobTitle\n"
    "u1,ann@contoso.example,Ann,Analyst\n"
    "u2,bob@contoso.example,Bob,\"Engineer, \"\"Senior\"\"\"\n"
    "u3,cem@contoso.example,Cem,Designer\n";

struct Pipeline {
  FakeScim app{kToken};
  TempDir dir;
  fs::path file = dir / "file-to-scim.yaml";

  explicit Pipeline(bool groups = false) {
    write_file(dir / "users.csv", kUsers);
    write_file(file, pipeline_yaml(app.base_url(), groups));
  }
  CommandResult run(const std::string& command = "run") {
    auto r = run_dirsync({command, file.string()}, {{"APP_SCIM_TOKEN", kToken}});
    CHECK(r.all().find(kToken) == std::string::npos);
    return r;
  }
  std::string user_id(const std::string& user_name) {
    for (const auto& id : app.ids("Users"))
      if (app.get("Users", id).as_object().find("userName")->as_string() == user_name) return id;
    return {};
  }
};

}  // namespace

TEST_CASE("rest cli: users are created, a rerun writes nothing, a change PATCHes that attribute alone") {
  Pipeline p;
  auto first = p.run();
  INFO(first.all());
  REQUIRE(first.exit_code == 0);
  REQUIRE(p.app.size("Users") == 3);
  Value bob = p.app.get("Users", p.user_id("bob@contoso.example"));
  CHECK(bob.as_object().find("title")->as_string() == "Engineer, \"Senior\"");
  CHECK(to_json(*bob.as_object().find("name")) == R"({"givenName":"Bob"})");
  CHECK(bob.as_object().find("active")->as_bool());

  std::size_t before = p.app.server().requests().size();
  auto second = p.run();
  INFO(second.all());
  REQUIRE(second.exit_code == 0);
  // Unchanged: no lookup, no write; only the credentials probe of the run.
  CHECK(p.app.server().requests().size() == before + 1);
  CHECK(p.app.server().requests().back().uri == "/scim/Users?startIndex=1&count=1");
  before += 1;

  std::string text = kUsers;
  text.replace(text.find("Designer"), 8, "Lead Designer");
  text.erase(text.find("u1,"), text.find("u2,") - text.find("u1,"));
  write_file(p.dir / "users.csv", text);
  auto third = run_dirsync({"run", p.file.string(), "--accept-deletions"}, {{"APP_SCIM_TOKEN", kToken}});
  INFO(third.all());
  REQUIRE(third.exit_code == 0);
  auto reqs = p.app.server().requests();
  std::vector<std::string> patches;
  for (std::size_t i = before + 1; i < reqs.size(); ++i) {
    REQUIRE(reqs[i].method == "PATCH");
    patches.push_back(reqs[i].path + " " + reqs[i].body);
  }
  std::sort(patches.begin(), patches.end());
  std::vector<std::string> expected{
      "/scim/Users/" + p.user_id("ann@contoso.example") +
          R"( {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]})",
      "/scim/Users/" + p.user_id("cem@contoso.example") +
          R"( {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"Lead Designer"}]})"};
  std::sort(expected.begin(), expected.end());
  CHECK(patches == expected);
}

TEST_CASE("rest cli: a 4xx for one user is recorded in the sync log and the run is partial") {
  Pipeline p;
  p.app.before = [](const HttpExchange& x, int) {
    if (x.method == "POST" && x.body.find("bob@") != std::string::npos)
      return HttpReply::json(400, Value(Object{{"detail", Value("title too long for this plan")}}));
    return HttpReply::pass();
  };
  auto r = p.run();
  INFO(r.all());
  CHECK(r.exit_code == 1);
  CHECK(p.app.size("Users") == 2);
  auto log = run_dirsync({"runs", p.file.string(), "--errors"});
  INFO(log.all());
  CHECK(log.all().find("title too long for this plan") != std::string::npos);
  CHECK(log.all().find("answered 400") != std::string::npos);
}

TEST_CASE("rest cli: a wrong token stops the run with exit code 3 and does not print it") {
  Pipeline p;
  auto r = run_dirsync({"run", p.file.string()}, {{"APP_SCIM_TOKEN", "wrong-T0ken-123"}});
  INFO(r.all());
  CHECK(r.exit_code == 3);
  CHECK(r.all().find("wrong-T0ken-123") == std::string::npos);
  CHECK(p.app.size("Users") == 0);
}

TEST_CASE("rest cli: update-only groups: an existing group gets its members, a missing one is not created") {
  Pipeline p(true);
  std::string sales = p.app.seed("Groups", Object{{"displayName", Value("Sales")}});
  write_file(p.dir / "groups.jsonl",
             "{\"id\": \"g1\", \"displayName\": \"Sales\", \"members\": [\"u1\", \"u2\", \"u3\"]}\n"
             "{\"id\": \"g2\", \"displayName\": \"Marketing\", \"members\": [\"u1\"]}\n");
  auto r = p.run();
  INFO(r.all());
  CHECK(r.exit_code == 1);  // Marketing could not be created: the sync log says why
  CHECK(p.app.server().count("POST", "/scim/Groups") == 0);
  CHECK(p.app.size("Groups") == 1);
  CHECK(p.app.get("Groups", sales).as_object().find("members")->as_list().size() == 3);
  // Three members with max_members_per_patch 2: two PATCHes.
  CHECK(p.app.server().count("PATCH", "/scim/Groups/" + sales) == 2);
  auto log = run_dirsync({"runs", p.file.string(), "--errors"});
  CHECK(log.all().find("skipped: groups.create is false") != std::string::npos);
}
