// End to end through `dirsync run`: the demo export (1,000 users, 50 groups,
// file source) into a real slapd with the LDAP sink. A first run creates, a
// rerun writes nothing (entryCSNs unchanged), an edit updates only the edited
// entry, a user gone from the export is disabled, wrong credentials exit 3
// without printing the password, and an unreachable server removes nothing.
#include <catch2/catch.hpp>

#include "integration/ldap_fixture.hpp"

#include <map>
#include <set>
#include <thread>

namespace fs = std::filesystem;
using namespace dirsync::test;

namespace {

const std::string kPeople = "ou=people,dc=example,dc=com";
const std::string kGroups = "ou=groups,dc=example,dc=com";

std::string pipeline_yaml(const std::string& url) {
  return R"(version: 1
name: demo-file-to-ldap
source:
  type: file
  users: data/demo-users.csv
  groups: data/demo-groups.jsonl
sink:
  type: ldap
  url: )" + url + R"(
  bind_dn: cn=sync,dc=example,dc=com
  bind_password: ${env:LDAP_BIND_PASSWORD}
  base_dn: dc=example,dc=com
  user_dn: "uid={uid},ou=people,dc=example,dc=com"
  group_dn: "cn={cn},ou=groups,dc=example,dc=com"
  disable_attributes: { employeeType: disabled }
state: { path: state.db }
users:
  match:
    - { target: uid, source: employeeId }
  mappings:
    - { target: uid, source: employeeId }
    - { target: cn, source: displayName }
    - { target: sn, source: surname }
    - { target: givenName, source: givenName }
    - { target: mail, source: mail }
    - { target: title, source: jobTitle }
    - { target: departmentNumber, source: department }
    - { target: employeeNumber, source: employeeId }
  on_missing: disable
groups:
  match:
    - { target: cn, source: displayName }
  mappings:
    - { target: cn, source: displayName }
    - { target: description, source: mail }
  members: true
  on_missing: delete
)";
}

struct Pipeline {
  Slapd slapd{sink_slapd_options()};
  TempDir dir;
  fs::path file = dir / "demo-file-to-ldap.yaml";
  fs::path users = dir / "data" / "demo-users.csv";

  Pipeline() {
    add_service_account(slapd);
    fs::create_directories(dir / "data");
    fs::copy(source_dir() / "pipelines" / "data" / "demo-users.csv", users);
    fs::copy(source_dir() / "pipelines" / "data" / "demo-groups.jsonl", dir / "data" / "demo-groups.jsonl");
    write_file(file, pipeline_yaml(slapd.url()));
  }
  CommandResult run(const std::string& password = kSyncPassword) {
    return run_dirsync({"run", file.string()}, {{"LDAP_BIND_PASSWORD", password}});
  }
  std::map<std::string, std::string> csns() { return slapd.entry_csns(); }
};

}  // namespace

TEST_CASE("ldap pipeline: dirsync run syncs the demo export into slapd and converges", "[ldap]") {
  Pipeline p;
  auto first = p.run();
  INFO(first.all());
  REQUIRE(first.exit_code == 0);
  CHECK(p.slapd.search(kPeople, "(objectClass=inetOrgPerson)", {"1.1"}).size() == 1000);
  auto groups = p.slapd.search(kGroups, "(objectClass=groupOfNames)", {"member"});
  CHECK(groups.size() == 50);
  auto eng = p.slapd.read("cn=Engineering," + kGroups, {"member"});
  CHECK(eng.values("member").size() > 10);
  auto leila = p.slapd.read("uid=E100000," + kPeople);
  CHECK(leila.value("cn") == "Leila de la Cruz");
  CHECK(leila.value("departmentNumber") == "Engineering");

  auto before = p.csns();
  auto second = p.run();
  INFO(second.all());
  REQUIRE(second.exit_code == 0);
  CHECK(p.csns() == before);  // a no-change rerun makes zero LDAP writes

  SECTION("an edited user is updated alone, a removed one is disabled") {
    std::string text = read_file(p.users);
    auto pos = text.find("Leila,de la Cruz,Leila de la Cruz,Engineering,SRE");
    REQUIRE(pos != std::string::npos);
    text.replace(text.find("SRE", pos), 3, "Staff SRE");
    auto tariq = text.find("daaf6ec4-a380-426b-9d1c-84e44fa930d7");
    REQUIRE(tariq != std::string::npos);
    text.erase(tariq, text.find('\n', tariq) + 1 - tariq);
    write_file(p.users, text);

    auto third = p.run();
    INFO(third.all());
    REQUIRE(third.exit_code == 0);
    CHECK(p.slapd.read("uid=E100000," + kPeople).value("title") == "Staff SRE");
    CHECK(p.slapd.read("uid=E100001," + kPeople).value("employeeType") == "disabled");
    auto after = p.csns();
    int changed = 0;
    for (const auto& [dn, csn] : after)
      if (before[dn] != csn) ++changed;
    // The two users, plus groups whose membership dropped the removed user.
    CHECK(changed >= 2);
    CHECK(changed <= 2 + 50);
    CHECK(after.size() == before.size());
  }
  SECTION("a wrong bind password exits 3 without printing it") {
    const std::string wrong = "Not-The-Password-51x";
    auto r = p.run(wrong);
    CHECK(r.exit_code == 3);
    CHECK(r.all().find(wrong) == std::string::npos);
    CHECK(r.all().find("Invalid credentials") != std::string::npos);
    CHECK(p.csns() == before);
  }
  SECTION("an unreachable server exits 3, removes nothing, and the next run converges") {
    p.slapd.stop();
    auto r = p.run();
    CHECK(r.exit_code == 3);
    CHECK(r.all().find(kSyncPassword) == std::string::npos);
    p.slapd.start();
    CHECK(p.csns() == before);
    auto again = p.run();
    INFO(again.all());
    CHECK(again.exit_code == 0);
    CHECK(p.csns() == before);
  }
}

TEST_CASE("ldap pipeline: the server stopping mid-run fails the run; the rerun converges without duplicates",
          "[ldap]") {
  Pipeline p;
  std::thread killer([&] {
    for (int attempt = 0; attempt < 100000; ++attempt) {
      std::size_t n = 0;
      try {
        n = p.slapd.search(kPeople, "(objectClass=inetOrgPerson)", {"1.1"}).size();
      } catch (const std::exception&) {
      }
      if (n >= 100) break;
    }
    p.slapd.stop();
  });
  auto first = p.run();
  killer.join();
  INFO(first.all());
  CHECK(first.exit_code != 0);
  CHECK(first.all().find(kSyncPassword) == std::string::npos);

  p.slapd.start();
  auto second = p.run();
  INFO(second.all());
  REQUIRE(second.exit_code == 0);
  auto people = p.slapd.search(kPeople, "(objectClass=inetOrgPerson)", {"uid"});
  CHECK(people.size() == 1000);
  std::set<std::string> uids;
  for (const auto& e : people) uids.insert(e.value("uid"));
  CHECK(uids.size() == 1000);
  CHECK(p.slapd.search(kGroups, "(objectClass=groupOfNames)", {"1.1"}).size() == 50);

  auto before = p.csns();
  auto third = p.run();
  INFO(third.all());
  CHECK(third.exit_code == 0);
  CHECK(p.csns() == before);
}

TEST_CASE("ldap pipeline: dirsync test-connection binds, reads base_dn and reports the server's controls", "[ldap]") {
  Pipeline p;
  auto ok = run_dirsync({"test-connection", p.file.string()}, {{"LDAP_BIND_PASSWORD", kSyncPassword}});
  INFO(ok.all());
  CHECK(ok.exit_code == 0);
  CHECK(ok.all().find("bound as 'cn=sync,dc=example,dc=com'") != std::string::npos);
  CHECK(ok.all().find("paged results yes, post-read yes") != std::string::npos);
  CHECK(ok.all().find(kSyncPassword) == std::string::npos);

  const std::string wrong = "Wrong-Again-77q";
  auto bad = run_dirsync({"test-connection", p.file.string()}, {{"LDAP_BIND_PASSWORD", wrong}});
  CHECK(bad.exit_code == 3);
  CHECK(bad.all().find(wrong) == std::string::npos);
}
