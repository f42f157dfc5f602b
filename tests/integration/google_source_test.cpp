// The `google` source through `dirsync run` / `dirsync test-connection`
// against dirsync-sim's Google module, with a throwaway RSA key generated per
// test (never a real one).
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <dirsync/jwt.hpp>
#include <dirsync/oauth.hpp>
#include <dirsync/value.hpp>
#include <sstream>

#include "google_fixture.hpp"
#include "support/sim_process.hpp"
#include "support/test_support.hpp"

using namespace dirsync;
using dirsync::test::CommandResult;
using dirsync::test::SimProcess;
using dirsync::test::TempDir;

namespace {

const std::string kPrefix = "https://www.googleapis.com/auth/admin.directory.";

std::string new_key_pem() { return test::new_google_test_key(); }

std::string key_json(const std::string& pem) { return test::google_key_json(pem); }

/// A domain in the simulator, a key it trusts, and a pipeline writing SQLite.
struct Domain {
  TempDir dir;
  std::string pem = new_key_pem();
  SimProcess sim;

  explicit Domain(std::vector<std::string> args) : sim(start(dir, pem, std::move(args))) {}

  static std::vector<std::string> start(TempDir& dir, const std::string& pem, std::vector<std::string> args) {
    test::write_file(dir / "sa.json", key_json(pem));
    args.insert(args.end(), {"--google-service-account", (dir / "sa.json").string(), "--graph-users", "0",
                             "--graph-groups", "0"});
    return args;
  }

  std::string extra_mappings;  ///< YAML lines added to users.mappings

  /// `source_extra` and `users_extra` are YAML lines appended to those blocks.
  void pipeline(const std::string& source_extra = "", const std::string& users_extra = "",
                const std::string& key_file = "sa.json", const std::string& subject = "admin@example.com") {
    std::string y =
        "version: 1\nname: google-test\nsource:\n  type: google\n  credentials: ${file:" + key_file +
        "}\n  api_url: " + sim.url() + "\n  token_url: " + sim.url() +
        "/token\n  page_size: 50\n  group_page_size: 2\n  retry_initial_backoff: 1ms\n"
        "  retry_max_backoff: 4ms\n" +
        (subject.empty() ? "" : "  subject: " + subject + "\n") + source_extra +
        "sink: { type: sqlite, path: out.db }\nstate: { path: state.db }\n"
        "users:\n  match:\n    - { target: email, source: primaryEmail, ignore_case: true }\n"
        "  mappings:\n    - { target: email, source: primaryEmail }\n"
        "    - { target: given_name, source: name.givenName }\n"
        "    - { target: department, source: organizations.department }\n"
        "    - { target: ou, source: orgUnitPath }\n"
        "    - { target: manager, source: manager }\n"
        "    - { target: active, source: active, type: boolean }\n" +
        extra_mappings + "  on_missing: disable\n" + users_extra +
        "groups:\n  match:\n    - { target: name, source: email }\n  mappings:\n"
        "    - { target: name, source: email }\n    - { target: all_users, source: includesAllUsers }\n"
        "    - { target: owners, source: owners }\n"
        "  members: true\n  on_missing: delete\n";
    test::write_file(dir / "p.yaml", y);
  }

  CommandResult run(const std::string& command = "run", std::vector<std::string> extra = {}) {
    std::vector<std::string> args{command, (dir / "p.yaml").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_dirsync(args, {}, dir.path());
  }

  long long stat(const std::string& name) const {
    Value v = parse_json(sim.admin("GET", "/_admin/google/stats"));
    return v.as_object().find(name)->as_integer();
  }

  std::vector<std::vector<std::string>> query(const std::string& sql) const {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2((dir / "out.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
    std::vector<std::vector<std::string>> rows;
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        const unsigned char* t = sqlite3_column_text(st, i);
        row.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rows;
  }
  std::string scalar(const std::string& sql) const {
    auto rows = query(sql);
    REQUIRE(rows.size() == 1);
    return rows[0][0];
  }
};

/// No line of the PEM body and no token may show in what dirsync printed.
void check_no_secrets(const CommandResult& r, const std::string& pem) {
  std::istringstream lines(pem);
  std::string line;
  while (std::getline(lines, line))
    if (line.size() > 20 && line.find("-----") == std::string::npos)
      CHECK(r.all().find(line) == std::string::npos);
  CHECK(r.all().find("PRIVATE KEY") == std::string::npos);
  CHECK(r.all().find("ya29.") == std::string::npos);
}

}  // namespace

TEST_CASE("the JWT-bearer assertion carries Google's claims and verifies with the key") {
  std::string pem = new_key_pem();
  std::string jwt = http::sign_rs256_jwt(R"({"alg":"RS256","typ":"JWT"})", R"({"iss":"a","sub":"b"})", pem);
  auto decoded = http::verify_rs256_jwt(jwt, pem);
  REQUIRE(decoded);
  CHECK(decoded->payload_json == R"({"iss":"a","sub":"b"})");
  CHECK_FALSE(http::verify_rs256_jwt(jwt, new_key_pem()));
  std::string tampered = jwt;
  tampered[jwt.find('.') + 3] ^= 1;
  CHECK_FALSE(http::verify_rs256_jwt(tampered, pem));
}

TEST_CASE("a full sync pages users, groups and members, keeps nesting, and a resync writes nothing") {
  Domain d({"--google-users", "230", "--google-groups", "12", "--seed", "3"});
  d.pipeline();
  CommandResult r = d.run();
  INFO(r.all());
  REQUIRE(r.exit_code == 0);
  CHECK(d.scalar("select count(*) from users") == "230");
  CHECK(d.scalar("select count(*) from groups") == "12");
  CHECK(d.stat("user_pages") == 5);    // 230 users, 50 per page
  CHECK(d.stat("group_pages") == 6);   // 12 groups, 2 per page
  CHECK(d.stat("member_pages") > 12);  // several pages per group
  // Nested: group2 contains group1 (a GROUP member), resolved to its row.
  CHECK(
      d.scalar("select count(*) from group_members m join groups g on g._id = m.group_id join groups c on "
               "c._id = m.member_id where g.name = 'group2@example.com' and c.name = 'group1@example.com'") ==
      "1");
  // A CUSTOMER member means everyone; the outsider is no row.
  CHECK(d.scalar("select all_users from groups where name = 'group0@example.com'") == "1");
  // Roles come with the members: each generated group's first member is its owner.
  CHECK(d.scalar("select count(*) from groups where owners like '[\"%\"]'") == "12");
  // Nested fields reach mappings: name.givenName, organizations.department, relations -> manager.
  CHECK(d.scalar("select count(*) from users where given_name is null or department is null") == "0");
  CHECK(d.scalar("select manager from users where email = 'admin@example.com'") == "");
  CHECK(std::stoi(d.scalar("select count(*) from users where manager like '%@example.com'")) == 229);

  long long requests = d.stat("requests");
  CommandResult again = d.run();
  INFO(again.all());
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("created 0  updated 0") != std::string::npos);
  CHECK(d.stat("requests") > requests);  // Google has no delta: a full read again
}

TEST_CASE("suspended and archived users are inactive") {
  Domain d({"--google-users", "60", "--google-groups", "0"});
  d.pipeline();
  REQUIRE(d.run().exit_code == 0);
  std::string email =
      d.scalar("select email from users where active = 1 and email <> 'admin@example.com' limit 1");
  d.sim.admin("PATCH", "/_admin/google/users/" + email, R"({"suspended":true})");
  std::string other = d.scalar(
      "select email from users where active = 1 and email <> 'admin@example.com' and "
      "email <> '" +
      email + "' limit 1");
  d.sim.admin("PATCH", "/_admin/google/users/" + other, R"({"archived":true})");
  CommandResult r = d.run();
  INFO(r.all());
  REQUIRE(r.exit_code == 0);
  CHECK(d.scalar("select active from users where email = '" + email + "'") == "0");
  CHECK(d.scalar("select active from users where email = '" + other + "'") == "0");
  CHECK(r.out.find("updated 2") != std::string::npos);
}

TEST_CASE("org unit scoping: org_unit_path includes sub-units, a pipeline scope narrows further") {
  Domain d({"--google-users", "200", "--google-groups", "0"});
  SECTION("source org_unit_path") {
    d.pipeline("  org_unit_path: /Sales\n");
    CommandResult r = d.run();
    INFO(r.all());
    REQUIRE(r.exit_code == 0);
    CHECK(d.scalar("select count(*) from users where ou not in ('/Sales', '/Sales/EMEA')") == "0");
    CHECK(d.scalar("select count(*) from users where ou = '/Sales'") != "0");
    CHECK(d.scalar("select count(*) from users where ou = '/Sales/EMEA'") != "0");
  }
  SECTION("pipeline scope with the org_unit operator includes sub-units") {
    d.pipeline("", "  scope:\n    - - { attribute: orgUnitPath, operator: org_unit, value: /Engineering }\n");
    CommandResult r = d.run();
    INFO(r.all());
    REQUIRE(r.exit_code == 0);
    CHECK(d.scalar("select count(*) from users where ou not in ('/Engineering', '/Engineering/Platform')") ==
          "0");
    CHECK(d.scalar("select count(*) from users where ou = '/Engineering'") != "0");
    CHECK(d.scalar("select count(*) from users where ou = '/Engineering/Platform'") != "0");
  }
  SECTION("pipeline scope on orgUnitPath and a query passthrough") {
    d.pipeline("  query: isSuspended=false isArchived=false\n",
               "  scope:\n    - - { attribute: orgUnitPath, operator: EQUALS, value: /Engineering }\n");
    CommandResult r = d.run();
    INFO(r.all());
    REQUIRE(r.exit_code == 0);
    CHECK(d.scalar("select count(*) from users where ou <> '/Engineering'") == "0");
    CHECK(d.scalar("select count(*) from users") != "0");
    CHECK(d.scalar("select count(*) from users where active = 0") == "0");
  }
}

TEST_CASE("a quota storm is retried by error reason and the sync completes") {
  Domain d({"--google-users", "120", "--google-groups", "4"});
  d.pipeline("  max_attempts: 10\n");
  std::string reason = GENERATE(std::string("userRateLimitExceeded"), std::string("quotaExceeded"),
                                std::string("rateLimitExceeded"));
  d.sim.admin("POST", "/_admin/google/faults",
              R"({"quota_next":6,"quota_every":3,"quota_reason":")" + reason + "\"}");
  CommandResult r = d.run();
  INFO(reason << "\n" << r.all());
  CHECK(r.exit_code == 0);
  CHECK(d.scalar("select count(*) from users") == "120");
  CHECK(d.stat("quota") >= 6);
  CHECK(r.all().find(reason == "rateLimitExceeded" ? "status 429" : "status 403") != std::string::npos);
}

TEST_CASE("a 403 for a permission is not retried, and says which scope to delegate") {
  Domain d({"--google-users", "10", "--google-groups", "2"});
  d.pipeline("  scopes: [admin.directory.user.readonly]\n");
  CommandResult r = d.run();
  INFO(r.all());
  CHECK(r.exit_code == 3);
  CHECK(r.all().find("insufficientPermissions") != std::string::npos);
  CHECK(r.all().find("Domain-wide delegation") != std::string::npos);
  CHECK(r.all().find("100000000000000000042") != std::string::npos);
  CHECK(d.stat("quota") == 0);
  check_no_secrets(r, d.pem);
}

TEST_CASE("auth failures exit 3 with an actionable message and no key material") {
  Domain d({"--google-users", "10", "--google-groups", "1", "--google-delegated-scopes",
            kPrefix + "user.readonly," + kPrefix + "group.readonly," + kPrefix + "orgunit.readonly"});
  SECTION("a key the service account does not have") {
    std::string other = new_key_pem();
    test::write_file(d.dir / "other.json", key_json(other));
    d.pipeline("", "", "other.json");
    CommandResult r = d.run();
    INFO(r.all());
    CHECK(r.exit_code == 3);
    CHECK(r.all().find("Invalid JWT Signature") != std::string::npos);
    CHECK(r.all().find("create a new JSON key") != std::string::npos);
    check_no_secrets(r, other);
    check_no_secrets(r, d.pem);
  }
  SECTION("no subject") {
    d.pipeline("  scopes: [admin.directory.user.readonly]\n", "", "sa.json", "");
    CommandResult r = d.run();
    INFO(r.all());
    CHECK(r.exit_code == 3);
    CHECK(r.all().find("set 'subject' to a super admin") != std::string::npos);
    check_no_secrets(r, d.pem);
  }
  SECTION("a subject that is no admin") {
    d.sim.admin("POST", "/_admin/google/users", R"({"primaryEmail":"pat@example.com"})");
    d.pipeline("  scopes: [admin.directory.user.readonly]\n", "", "sa.json", "pat@example.com");
    CommandResult r = d.run();
    INFO(r.all());
    CHECK(r.exit_code == 3);
    CHECK(r.all().find("must be an administrator") != std::string::npos);
  }
  SECTION("a scope not delegated: run refuses, test-connection names it") {
    d.pipeline();
    CommandResult r = d.run();
    INFO(r.all());
    CHECK(r.exit_code == 3);
    CHECK(r.all().find("unauthorized_client") != std::string::npos);
    CHECK(r.all().find("authorise client id 100000000000000000042") != std::string::npos);
    check_no_secrets(r, d.pem);
    CommandResult t = d.run("test-connection");
    INFO(t.all());
    CHECK(t.exit_code == 3);
    CHECK(t.all().find("for the scope(s) " + kPrefix + "group.member.readonly (already delegated: " +
                       kPrefix + "user.readonly, ") != std::string::npos);
    check_no_secrets(t, d.pem);
  }
}

TEST_CASE("a page that keeps failing makes the run partial and removes nothing") {
  Domain d({"--google-users", "200", "--google-groups", "2"});
  d.pipeline("  max_attempts: 3\n");
  REQUIRE(d.run().exit_code == 0);
  // A change on the first page, a deletion on the last, and page 2 failing.
  std::string first = d.scalar("select email from users where email like '%.1@example.com'");
  std::string last = d.scalar("select email from users where email like '%.199@example.com'");
  d.sim.admin("PATCH", "/_admin/google/users/" + first, R"({"department":"Legal"})");
  d.sim.admin("DELETE", "/_admin/google/users/" + last);
  d.sim.admin("POST", "/_admin/google/faults", R"({"fail_page":2})");
  // Small batches: what the first pages brought is written before the failure.
  CommandResult r = d.run("run", {"--batch-size", "10"});
  INFO(r.all());
  CHECK(r.exit_code == 1);
  CHECK(r.all().find("Partial") != std::string::npos);
  CHECK(r.all().find("backendError") != std::string::npos);
  CHECK(d.scalar("select department from users where email = '" + first + "'") == "Legal");
  CHECK(d.scalar("select _disabled from users where email = '" + last + "'") == "0");
  CHECK(d.scalar("select count(*) from users where _disabled = 1") == "0");

  d.sim.admin("POST", "/_admin/google/faults", R"({"fail_page":-1})");
  CommandResult ok = d.run();
  INFO(ok.all());
  CHECK(ok.exit_code == 0);
  CHECK(d.scalar("select _disabled from users where email = '" + last + "'") == "1");
}

namespace {
/// Real time, recorded sleeps: retries are counted without waiting.
class RecordingClock : public http::Clock {
 public:
  std::chrono::system_clock::time_point now() override { return std::chrono::system_clock::now(); }
  void sleep_for(std::chrono::milliseconds d) override { sleeps.push_back(d); }
  std::vector<std::chrono::milliseconds> sleeps;
};
}  // namespace

TEST_CASE("the SDK retries a 403 only when retry_if says its reason is a quota") {
  Domain d({"--google-users", "3", "--google-groups", "0"});
  RecordingClock clock;
  http::ClientOptions options;
  options.clock = &clock;
  options.retry.max_attempts = 5;
  bool with_predicate = GENERATE(true, false);
  if (with_predicate)
    options.retry.retry_if = [](const http::Response& r) {
      return r.status == 403 && r.body.find("userRateLimitExceeded") != std::string::npos;
    };
  http::Client client(options);
  http::TokenProvider tokens(
      http::jwt_bearer_grant(d.sim.url() + "/token", "dirsync@dirsync-test.iam.gserviceaccount.com",
                             kPrefix + "user.readonly", "admin@example.com", d.pem, &clock),
      client);
  http::AuthorizedClient api(client, tokens);
  tokens.token();  // the token request itself is not what the faults hit
  d.sim.admin("POST", "/_admin/google/faults", R"({"quota_next":3})");
  http::Response r =
      api.send({"GET", d.sim.url() + "/admin/directory/v1/users?customer=my_customer", {}, {}});
  if (with_predicate) {
    CHECK(r.status == 200);
    CHECK(clock.sleeps.size() == 3);
    CHECK(d.stat("quota") == 3);
  } else {
    CHECK(r.status == 403);
    CHECK(clock.sleeps.empty());
    CHECK(d.stat("quota") == 1);
  }
  // A permission 403 is never retried, predicate or not.
  d.sim.admin("POST", "/_admin/google/faults", R"({"admins":[]})");
  std::size_t before = clock.sleeps.size();
  CHECK(api.send({"GET", d.sim.url() + "/admin/directory/v1/users?customer=my_customer", {}, {}}).status ==
        403);
  CHECK(clock.sleeps.size() == before);
}

TEST_CASE("reading a custom schema field switches users.list to projection custom with that schema") {
  Domain d({"--google-users", "20", "--google-groups", "0"});
  d.extra_mappings = "    - { target: cost_center, source: customSchemas.HR.costCenter }\n";
  SECTION("projection chosen from the mappings") {
    d.pipeline();
    CommandResult r = d.run();
    INFO(r.all());
    REQUIRE(r.exit_code == 0);
    CHECK(d.scalar("select count(*) from users where cost_center like 'CC%'") == "20");
  }
  SECTION("projection basic leaves custom schemas out") {
    d.pipeline("  projection: basic\n");
    CommandResult r = d.run();
    INFO(r.all());
    REQUIRE(r.exit_code == 0);
    CHECK(d.scalar("select count(*) from users where cost_center is not null") == "0");
  }
}

TEST_CASE("an attribute Google's user resource does not have is named in a warning") {
  Domain d({"--google-users", "5", "--google-groups", "0"});
  d.extra_mappings = "    - { target: suspended_flag, source: isSuspended }\n";
  d.pipeline();
  CommandResult r = d.run();
  INFO(r.all());
  CHECK(r.exit_code == 0);
  CHECK(r.all().find("reads 'isSuspended', which Google's user resource does not have; did you mean "
                     "'suspended' or 'active'?") != std::string::npos);
  CHECK(r.all().find("reads 'primaryEmail'") == std::string::npos);
}

TEST_CASE("truncated pages, 5xx answers and expired tokens are survived and the sync completes") {
  Domain d({"--google-users", "150", "--google-groups", "3"});
  d.pipeline("  max_attempts: 6\n");
  d.sim.admin("POST", "/_admin/google/faults",
              R"({"truncate_every":4,"error_every":5,"error_status":503,"revoke_every":7})");
  CommandResult r = d.run();
  INFO(r.all());
  CHECK(r.exit_code == 0);
  CHECK(d.scalar("select count(*) from users") == "150");
  CHECK(d.scalar("select count(*) from groups") == "3");
  CHECK(d.stat("errors") > 2);
  CHECK(d.stat("unauthorized") >= 1);  // an expired token is replaced once and the request resent
  CHECK(d.stat("tokens") >= 2);
}
