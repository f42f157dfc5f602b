// LDAP sink connections: bind failures, TLS (ldaps and StartTLS, verified
// against a throwaway CA), and the server going away mid-run.
#include <catch2/catch.hpp>

#include "integration/ldap_fixture.hpp"

#include <thread>

using namespace dirsync;
using namespace dirsync::test;

namespace {

const std::string kPeople = "ou=people,dc=example,dc=com";

ErrorKind prepare_error(Sink& sink, std::string& message) {
  try {
    sink.prepare(default_schema());
  } catch (const Error& e) {
    message = e.what();
    return e.kind();
  }
  FAIL("prepare did not throw");
  return ErrorKind::internal;
}

// A server with the service account and a prepared sink bound to it.
struct Running {
  Slapd slapd{sink_slapd_options()};
  LdapPlugin plugin;
  CaptureLogger log;
  std::unique_ptr<Sink> sink;
  Running() {
    add_service_account(slapd);
    sink = plugin.make(slapd.url(), {}, &log);
    sink->prepare(default_schema());
  }
};

}  // namespace

TEST_CASE("ldap connection: a wrong bind password is an auth error without the password", "[ldap]") {
  Slapd slapd(sink_slapd_options());
  add_service_account(slapd);
  LdapPlugin plugin;
  CaptureLogger log;
  const std::string wrong = "Wr0ng-Pa55-e7c1";
  auto sink = plugin.make(slapd.url(), Object{{"bind_password", wrong}}, &log);
  std::string message;
  CHECK(prepare_error(*sink, message) == ErrorKind::auth);
  CHECK(exit_code_for(ErrorKind::auth) == 3);
  CHECK(message.find("Invalid credentials") != std::string::npos);
  CHECK(message.find(kSyncDn) != std::string::npos);
  CHECK(message.find(wrong) == std::string::npos);
  CHECK(log.all().find(wrong) == std::string::npos);

  SECTION("apply fails the same way, never as per-object results") {
    std::vector<OpResult> results(1);
    std::vector<Operation> ops{create_user("x")};
    try {
      sink->apply(ops, results);
      FAIL("apply did not throw");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::auth);
      CHECK(std::string(e.what()).find(wrong) == std::string::npos);
    }
  }
}

TEST_CASE("ldap connection: an unreachable server is a connection error", "[ldap]") {
  Slapd slapd;
  const std::string url = slapd.url();
  slapd.stop();
  LdapPlugin plugin;
  auto sink = plugin.make(url, Object{{"bind_dn", slapd.root_dn()}, {"bind_password", slapd.root_password()}});
  std::string message;
  CHECK(prepare_error(*sink, message) == ErrorKind::connection);
  CHECK(message.find(url) != std::string::npos);
  CHECK(message.find(slapd.root_password()) == std::string::npos);
}

TEST_CASE("ldap connection: bad configuration is reported before any I/O", "[ldap]") {
  LdapPlugin plugin;
  auto expect_config = [&](const Object& settings, const std::string& needle) {
    try {
      plugin.make("ldap://127.0.0.1:1", settings);
      FAIL("expected a configuration error");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::config);
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
  };
  expect_config(Object{{"user_dn", "ou=people,dc=example,dc=com"}}, "names no attribute");
  expect_config(Object{{"user_dn", "uid={uid,ou=people"}}, "unclosed");
  expect_config(Object{{"member_attribute", "members"}}, "expected member, uniqueMember or memberUid");
  expect_config(Object{{"disable_action", "archive"}}, "expected attributes, move or delete");
  expect_config(Object{{"url", "ldaps://127.0.0.1:1"}, {"start_tls", true}}, "start_tls");
}

TEST_CASE("ldap connection: the server stopping mid-run fails the batch with a connection error", "[ldap]") {
  Running env;
  auto& [slapd, plugin, log, sink] = env;
  auto first = apply_one(*sink, create_user("before"));
  REQUIRE(first.ok);

  slapd.stop();
  std::vector<Operation> batch{create_user("during1"), create_user("during2"),
                               op_on(OpKind::update, ObjectType::user, first.target_id, Object{{"sn", "X"}})};
  std::vector<OpResult> results(batch.size());
  try {
    sink->apply(batch, results);
    FAIL("apply did not throw");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::connection);
    CHECK(std::string(e.what()).find(kSyncPassword) == std::string::npos);
  }

  SECTION("after the server is back, the rerun of the same batch converges") {
    slapd.start();
    auto again = apply_ops(*sink, batch);
    for (const auto& r : again) {
      INFO(r.error);
      CHECK(r.ok);
    }
    CHECK(slapd.search(kPeople, "(uid=during*)").size() == 2);
    CHECK(slapd.read("uid=before," + kPeople).value("sn") == "X");
    CHECK(log.all().find(kSyncPassword) == std::string::npos);
  }
}

TEST_CASE("ldap connection: a dropped connection is re-established once, transparently", "[ldap]") {
  Running env;
  auto& [slapd, plugin, log, sink] = env;
  auto first = apply_one(*sink, create_user("one"));
  REQUIRE(first.ok);
  // The restart drops the sink's connection; the next operations find it gone.
  slapd.stop();
  slapd.start();
  auto results = apply_ops(*sink, {create_user("two"), create_user("three"),
                                   op_on(OpKind::update, ObjectType::user, first.target_id, Object{{"sn", "Y"}})});
  for (const auto& r : results) {
    INFO(r.error);
    CHECK(r.ok);
  }
  CHECK(log.all().find("reconnecting") != std::string::npos);
  CHECK(slapd.read("uid=three," + kPeople).value("entryUUID") == results[1].target_id);
  CHECK(slapd.read("uid=one," + kPeople).value("sn") == "Y");

  slapd.stop();
  slapd.start();
  CHECK(sink->find(ObjectType::user, "uid", "two", true) == std::vector<std::string>{results[0].target_id});
}

TEST_CASE("ldap connection: TLS verifies the server certificate by default", "[ldap]") {
  Slapd slapd(sink_slapd_options(true));
  add_service_account(slapd);
  LdapPlugin plugin;
  const std::string ca = slapd.ca_file().string();

  SECTION("ldaps with the CA file") {
    auto sink = plugin.make(slapd.ldaps_url(), Object{{"tls_ca_file", ca}});
    sink->prepare(default_schema());
    auto r = apply_one(*sink, create_user("tls1"));
    INFO(r.error);
    CHECK(r.ok);
    auto lines = sink->test_connection();
    REQUIRE(!lines.empty());
    CHECK(lines[0].find(slapd.ldaps_url()) != std::string::npos);
  }
  SECTION("StartTLS with the CA file") {
    auto sink = plugin.make(slapd.url(), Object{{"tls_ca_file", ca}, {"start_tls", true}});
    sink->prepare(default_schema());
    CHECK(apply_one(*sink, create_user("tls2")).ok);
  }
  SECTION("ldaps without a trusted CA is refused") {
    auto sink = plugin.make(slapd.ldaps_url());
    std::string message;
    CHECK(prepare_error(*sink, message) == ErrorKind::connection);
    CHECK(message.find(kSyncPassword) == std::string::npos);
  }
  SECTION("StartTLS without a trusted CA is refused") {
    auto sink = plugin.make(slapd.url(), Object{{"start_tls", true}});
    std::string message;
    CHECK(prepare_error(*sink, message) == ErrorKind::connection);
    CHECK(message.find("starttls") != std::string::npos);
  }
  SECTION("tls_verify: false accepts any certificate") {
    auto sink = plugin.make(slapd.ldaps_url(), Object{{"tls_verify", false}});
    sink->prepare(default_schema());
    CHECK(apply_one(*sink, create_user("tls3")).ok);
  }
}

TEST_CASE("ldap connection: the server dying during pipelined creates loses nothing and duplicates nothing", "[ldap]") {
  Running env;
  auto& [slapd, plugin, log, sink] = env;
  std::vector<Operation> batch;
  for (int i = 0; i < 3000; ++i) batch.push_back(create_user("crash" + std::to_string(i)));

  // Stop the server once the sink has written some entries; wherever the
  // stop lands, the assertions below must hold.
  std::thread killer([&] {
    for (int attempt = 0; attempt < 100000; ++attempt) {
      std::size_t n = 0;
      try {
        n = slapd.search(kPeople, "(uid=crash*)", {"1.1"}).size();
      } catch (const std::exception&) {
      }
      if (n >= 300) break;
    }
    slapd.stop();
  });
  std::vector<OpResult> results(batch.size());
  bool threw = false;
  try {
    sink->apply(batch, results);
  } catch (const Error& e) {
    threw = true;
    CHECK(e.kind() == ErrorKind::connection);
  }
  killer.join();
  INFO("apply threw: " << threw);

  // The next run: a new sink, the same creates (their ids were never stored).
  slapd.start();
  auto rerun = plugin.make(slapd.url());
  rerun->prepare(default_schema());
  auto again = apply_ops(*rerun, batch);
  std::map<std::string, std::string> by_dn;
  for (const auto& e : slapd.search(kPeople, "(uid=crash*)", {"entryUUID"})) by_dn[e.dn] = e.value("entryUUID");
  CHECK(by_dn.size() == 3000);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    INFO(i << ": " << again[i].error);
    REQUIRE(again[i].ok);
    REQUIRE(by_dn["uid=crash" + std::to_string(i) + "," + kPeople] == again[i].target_id);
  }
}

TEST_CASE("ldap connection: a server that stops answering is a connection error, not a hang", "[ldap]") {
  Slapd slapd(sink_slapd_options());
  add_service_account(slapd);
  LdapPlugin plugin;
  auto sink = plugin.make(slapd.url(), Object{{"timeout", std::int64_t{500}}});
  sink->prepare(default_schema());
  auto first = apply_one(*sink, create_user("frozen"));
  REQUIRE(first.ok);

  slapd.pause();
  for (const auto& op : {create_user("during"), op_on(OpKind::update, ObjectType::user, first.target_id,
                                                      Object{{"sn", "Later"}})}) {
    std::vector<OpResult> results(1);
    try {
      sink->apply(std::vector<Operation>{op}, results);
      FAIL("apply did not throw");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::connection);
    }
  }
  SECTION("and prepare against a frozen server fails the same way") {
    auto other = plugin.make(slapd.url(), Object{{"timeout", std::int64_t{500}}});
    std::string message;
    CHECK(prepare_error(*other, message) == ErrorKind::connection);
  }
  slapd.resume();
  auto later = apply_one(*sink, op_on(OpKind::update, ObjectType::user, first.target_id, Object{{"sn", "Later"}}));
  INFO(later.error);
  CHECK(later.ok);
  CHECK(slapd.read("uid=frozen," + kPeople).value("sn") == "Later");
}
