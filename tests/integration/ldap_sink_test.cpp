// The LDAP sink against a real slapd: creates, changed-only modifies,
// renames, disables, deletes, matching, DN escaping and per-object errors.
#include <catch2/catch.hpp>

#include "integration/ldap_fixture.hpp"

#include <set>

using namespace dirsync;
using namespace dirsync::test;

namespace {

const std::string kPeople = "ou=people,dc=example,dc=com";

struct Env {
  Slapd slapd{sink_slapd_options()};
  LdapPlugin plugin;
  CaptureLogger log;
  std::unique_ptr<Sink> sink;
  explicit Env(const Object& extra = {}) {
    add_service_account(slapd);
    sink = plugin.make(slapd.url(), extra, &log);
    sink->prepare(default_schema());
  }
  std::string create(const std::string& uid) {
    auto r = apply_one(*sink, create_user(uid));
    INFO(r.error);
    REQUIRE(r.ok);
    REQUIRE(!r.target_id.empty());
    return r.target_id;
  }
};

}  // namespace

TEST_CASE("ldap sink: descriptor marks the bind password secret", "[ldap]") {
  LdapPlugin plugin;
  const auto& d = plugin.descriptor();
  CHECK(d.name == "ldap");
  CHECK(d.kind == PluginKind::sink);
  CHECK(d.abi_version == kAbiVersion);
  bool found = false;
  for (const auto& f : d.schema)
    if (f.key == "bind_password") found = f.secret;
  CHECK(found);
}

TEST_CASE("ldap sink: create returns the entryUUID and writes the mapped attributes", "[ldap]") {
  Env env;
  std::string id = env.create("jdoe");
  auto entry = env.slapd.read("uid=jdoe," + kPeople);
  REQUIRE(entry.dn == "uid=jdoe," + kPeople);
  CHECK(entry.value("entryUUID") == id);
  CHECK(entry.value("cn") == "User jdoe");
  CHECK(entry.value("mail") == "jdoe@example.com");
  CHECK(entry.values("objectClass").size() == 4);
}

TEST_CASE("ldap sink: multi-valued lists, booleans and integers", "[ldap]") {
  Env env;
  auto op = create_user("multi");
  op.attributes.set("telephoneNumber", List{"+1 555 0100", "+1 555 0101"});
  op.attributes.set("employeeNumber", std::int64_t{4711});
  op.attributes.set("description", Value());  // null: simply not written
  auto r = apply_one(*env.sink, op);
  REQUIRE(r.ok);
  auto entry = env.slapd.read("uid=multi," + kPeople);
  CHECK(entry.values("telephoneNumber") == std::vector<std::string>{"+1 555 0100", "+1 555 0101"});
  CHECK(entry.value("employeeNumber") == "4711");
  CHECK(entry.values("description").empty());
}

TEST_CASE("ldap sink: update writes only the changed attributes", "[ldap]") {
  Env env;
  std::string id = env.create("upd");
  const std::string dn = "uid=upd," + kPeople;
  // An administrator changes cn behind our back; an update of mail must not
  // rewrite it, which a full-entry rewrite would.
  {
    TempDir tmp;
    write_file(tmp / "m.ldif", "dn: " + dn + "\nchangetype: modify\nreplace: cn\ncn: Admin Edited\n");
    auto r = env.slapd.tool("ldapmodify", {"-f", (tmp / "m.ldif").string()});
    REQUIRE(r.exit_code == 0);
  }
  auto before = env.slapd.read(dn);
  auto r = apply_one(*env.sink, op_on(OpKind::update, ObjectType::user, id,
                                   Object{{"mail", "new@example.com"}, {"telephoneNumber", "+1 555 0199"}}));
  INFO(r.error);
  REQUIRE(r.ok);
  auto after = env.slapd.read(dn);
  CHECK(after.value("mail") == "new@example.com");
  CHECK(after.value("telephoneNumber") == "+1 555 0199");
  CHECK(after.value("cn") == "Admin Edited");
  CHECK(after.value("entryCSN") != before.value("entryCSN"));

  SECTION("null deletes an attribute, also when already absent") {
    auto r2 = apply_one(*env.sink, op_on(OpKind::update, ObjectType::user, id,
                                      Object{{"telephoneNumber", Value()}, {"description", Value()}}));
    INFO(r2.error);
    REQUIRE(r2.ok);
    CHECK(env.slapd.read(dn).values("telephoneNumber").empty());
  }
  SECTION("an empty update writes nothing") {
    auto csn = env.slapd.read(dn).value("entryCSN");
    REQUIRE(apply_one(*env.sink, op_on(OpKind::update, ObjectType::user, id)).ok);
    CHECK(env.slapd.read(dn).value("entryCSN") == csn);
  }
  SECTION("a fresh sink finds the entry by its id") {
    auto other = env.plugin.make(env.slapd.url());
    other->prepare(default_schema());
    auto r3 = apply_one(*other, op_on(OpKind::update, ObjectType::user, id, Object{{"sn", "Changed"}}));
    INFO(r3.error);
    REQUIRE(r3.ok);
    CHECK(env.slapd.read(dn).value("sn") == "Changed");
  }
}

TEST_CASE("ldap sink: changing the RDN attribute renames the entry and keeps its id", "[ldap]") {
  Env env;
  std::string id = env.create("old");
  auto r = apply_one(*env.sink, op_on(OpKind::update, ObjectType::user, id, Object{{"uid", "new"}, {"sn", "Renamed"}}));
  INFO(r.error);
  REQUIRE(r.ok);
  CHECK(env.slapd.read("uid=old," + kPeople).dn.empty());
  auto entry = env.slapd.read("uid=new," + kPeople);
  REQUIRE(!entry.dn.empty());
  CHECK(entry.value("entryUUID") == id);
  CHECK(entry.values("uid") == std::vector<std::string>{"new"});
  CHECK(entry.value("sn") == "Renamed");

  SECTION("a template attribute in the parent moves the entry") {
    env.slapd.add("ou=sales," + kPeople, {{"objectClass", {"organizationalUnit"}}, {"ou", {"sales"}}});
    env.slapd.add("ou=it," + kPeople, {{"objectClass", {"organizationalUnit"}}, {"ou", {"it"}}});
    auto sink = env.plugin.make(env.slapd.url(), Object{{"user_dn", "uid={uid},ou={ou},ou=people,dc=example,dc=com"}});
    sink->prepare(default_schema());
    auto op = create_user("mover");
    op.attributes.set("ou", "sales");
    auto c = apply_one(*sink, op);
    INFO(c.error);
    REQUIRE(c.ok);
    REQUIRE(!env.slapd.read("uid=mover,ou=sales," + kPeople).dn.empty());
    auto u = apply_one(*sink, op_on(OpKind::update, ObjectType::user, c.target_id, Object{{"ou", "it"}}));
    INFO(u.error);
    REQUIRE(u.ok);
    CHECK(env.slapd.read("uid=mover,ou=sales," + kPeople).dn.empty());
    CHECK(env.slapd.read("uid=mover,ou=it," + kPeople).value("entryUUID") == c.target_id);
  }
}

TEST_CASE("ldap sink: special characters in DNs are escaped per RFC 4514", "[ldap]") {
  Env env;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a,b", "uid=a\\,b"},          {"c+d", "uid=c\\+d"},       {"e\"f", "uid=e\\\"f"},
      {"g\\h", "uid=g\\\\h"},        {"#hash", "uid=\\#hash"},   {"ünïcødé", "uid=ünïcødé"},
      {" lead", "uid=\\ lead"},      {"trail ", "uid=trail\\ "}, {"x=y;z<w>", "uid=x\\=y\\;z\\<w\\>"},
      {"paren(*)", "uid=paren(*)"},
  };
  int n = 0;
  for (const auto& [uid, rdn] : cases) {
    INFO("uid: [" << uid << "]");
    auto op = create_user(uid);
    op.attributes.set("mail", "special" + std::to_string(n++) + "@example.com");  // mail is IA5 (ASCII)
    auto r = apply_one(*env.sink, op);
    INFO(r.error);
    REQUIRE(r.ok);
    auto entry = env.slapd.read(rdn + "," + kPeople);
    REQUIRE(!entry.dn.empty());
    CHECK(entry.value("entryUUID") == r.target_id);
    CHECK(entry.value("uid") == uid);
    // RFC 4515: the same value works as a filter assertion.
    CHECK(env.sink->find(ObjectType::user, "uid", uid, false) == std::vector<std::string>{r.target_id});
    auto u = apply_one(*env.sink, op_on(OpKind::update, ObjectType::user, r.target_id, Object{{"sn", "Escaped"}}));
    INFO(u.error);
    CHECK(u.ok);
  }
}

TEST_CASE("ldap sink: find escapes filter values and honours ignore_case", "[ldap]") {
  Env env;
  std::string id = env.create("Alice");
  CHECK(env.sink->find(ObjectType::user, "uid", "Alice", false) == std::vector<std::string>{id});
  CHECK(env.sink->find(ObjectType::user, "uid", "alice", true) == std::vector<std::string>{id});
  CHECK(env.sink->find(ObjectType::user, "uid", "alice", false).empty());
  CHECK(env.sink->find(ObjectType::user, "uid", "A*", true).empty());  // '*' is a literal, not a wildcard
  CHECK(env.sink->find(ObjectType::user, "uid", "*", true).empty());
  CHECK(env.sink->find(ObjectType::user, "mail", "Alice@example.com", true) == std::vector<std::string>{id});
  CHECK(env.sink->find(ObjectType::user, "uid", Value(), true).empty());
  CHECK(env.sink->find(ObjectType::group, "cn", "User Alice", true).empty());  // wrong object class
}

TEST_CASE("ldap sink: find pages past the server size limit (RFC 2696)", "[ldap]") {
  Env env(Object{{"page_size", std::int64_t{40}}});
  std::vector<Operation> ops;
  for (int i = 0; i < 250; ++i) {
    auto op = create_user("bulk" + std::to_string(i));
    op.attributes.set("employeeType", "bulk");
    ops.push_back(op);
  }
  for (const auto& r : apply_ops(*env.sink, ops)) REQUIRE(r.ok);
  // The service account's size limit is 100: without paging this search fails.
  auto unpaged = run({"/usr/bin/ldapsearch", "-x", "-H", env.slapd.url(), "-D", kSyncDn, "-w", kSyncPassword, "-b",
                       kPeople, "(employeeType=bulk)", "1.1"});
  CHECK(unpaged.exit_code == 4);  // sizeLimitExceeded
  auto ids = env.sink->find(ObjectType::user, "employeeType", "bulk", true);
  CHECK(ids.size() == 250);
}

TEST_CASE("ldap sink: disable actions", "[ldap]") {
  SECTION("set attributes") {
    Env env(Object{{"disable_attributes", Object{{"employeeType", "disabled"}, {"description", "left"}}}});
    std::string id = env.create("leaver");
    auto r = apply_one(*env.sink, op_on(OpKind::disable, ObjectType::user, id, Object{{"title", "Former"}}));
    INFO(r.error);
    REQUIRE(r.ok);
    auto e = env.slapd.read("uid=leaver," + kPeople);
    CHECK(e.value("employeeType") == "disabled");
    CHECK(e.value("description") == "left");
    CHECK(e.value("title") == "Former");
  }
  SECTION("move to the disabled container, keep it there on later renames") {
    Env env(Object{{"disable_action", "move"},
                   {"disabled_container", "ou=disabled,dc=example,dc=com"},
                   {"disable_attributes", Object{{"employeeType", "disabled"}}}});
    std::string id = env.create("mover");
    auto r = apply_one(*env.sink, op_on(OpKind::disable, ObjectType::user, id));
    INFO(r.error);
    REQUIRE(r.ok);
    CHECK(env.slapd.read("uid=mover," + kPeople).dn.empty());
    auto e = env.slapd.read("uid=mover,ou=disabled,dc=example,dc=com");
    CHECK(e.value("entryUUID") == id);
    CHECK(e.value("employeeType") == "disabled");
    auto u = apply_one(*env.sink, op_on(OpKind::update, ObjectType::user, id, Object{{"uid", "mover2"}}));
    INFO(u.error);
    REQUIRE(u.ok);
    CHECK(env.slapd.read("uid=mover2,ou=disabled,dc=example,dc=com").value("entryUUID") == id);
  }
  SECTION("delete") {
    Env env(Object{{"disable_action", "delete"}});
    std::string id = env.create("gone");
    REQUIRE(apply_one(*env.sink, op_on(OpKind::disable, ObjectType::user, id)).ok);
    CHECK(env.slapd.read("uid=gone," + kPeople).dn.empty());
  }
  SECTION("move without a container is a configuration error") {
    Slapd slapd;
    LdapPlugin plugin;
    try {
      plugin.make(slapd.url(), Object{{"disable_action", "move"}});
      FAIL("expected a configuration error");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::config);
      CHECK(std::string(e.what()).find("disabled_container") != std::string::npos);
    }
  }
}

TEST_CASE("ldap sink: delete, idempotent", "[ldap]") {
  Env env;
  std::string id = env.create("del");
  REQUIRE(apply_one(*env.sink, op_on(OpKind::remove, ObjectType::user, id)).ok);
  CHECK(env.slapd.read("uid=del," + kPeople).dn.empty());
  CHECK(apply_one(*env.sink, op_on(OpKind::remove, ObjectType::user, id)).ok);
  auto fresh = env.plugin.make(env.slapd.url());
  fresh->prepare(default_schema());
  CHECK(apply_one(*fresh, op_on(OpKind::remove, ObjectType::user, id)).ok);
}

TEST_CASE("ldap sink: per-object errors are results and the batch goes on", "[ldap]") {
  Env env;
  auto no_sn = create_user("nosn");
  no_sn.attributes.erase("sn");  // inetOrgPerson requires sn
  auto bad_attr = create_user("badattr");
  bad_attr.attributes.set("noSuchAttributeType", "x");
  auto no_uid = create_user("nouid");
  no_uid.attributes.erase("uid");
  auto two_names = create_user("twonames");
  two_names.attributes.set("displayName", List{"One", "Two"});  // displayName is SINGLE-VALUE
  auto results = apply_ops(*env.sink, {create_user("ok1"), no_sn, bad_attr, no_uid,
                                       op_on(OpKind::update, ObjectType::user, "00000000-0000-0000-0000-000000000000",
                                             Object{{"sn", "x"}}),
                                       create_user("ok2"), two_names});
  CHECK(results[0].ok);
  CHECK_FALSE(results[1].ok);
  CHECK(results[1].error.find("uid=nosn") != std::string::npos);
  CHECK(results[1].error.find("Object class violation") != std::string::npos);
  CHECK_FALSE(results[2].ok);
  CHECK(results[2].error.find("noSuchAttributeType") != std::string::npos);
  CHECK_FALSE(results[3].ok);
  CHECK(results[3].error.find("needs attribute 'uid'") != std::string::npos);
  CHECK_FALSE(results[4].ok);
  CHECK(results[4].error.find("no entry with entryUUID=00000000") != std::string::npos);
  CHECK(results[5].ok);
  CHECK(!env.slapd.read("uid=ok2," + kPeople).dn.empty());
  CHECK_FALSE(results[6].ok);
  CHECK(results[6].error.find("Constraint violation") != std::string::npos);
  // The same violation on an update is that object's failure too.
  auto u = apply_one(*env.sink, op_on(OpKind::update, ObjectType::user, results[0].target_id,
                                      Object{{"displayName", List{"A", "B"}}}));
  CHECK_FALSE(u.ok);
  CHECK(u.error.find("modify uid=ok1") != std::string::npos);
}

TEST_CASE("ldap sink: a create that finds its DN taken adopts the entry", "[ldap]") {
  Env env;
  std::string id = env.create("twice");
  // As after a crash between the add and the state store's commit: the host
  // asks again to create the same object.
  auto again = create_user("twice");
  again.attributes.set("mail", "second@example.com");
  auto r = apply_one(*env.sink, again);
  INFO(r.error);
  REQUIRE(r.ok);
  CHECK(r.target_id == id);
  CHECK(env.slapd.read("uid=twice," + kPeople).value("mail") == "second@example.com");
  CHECK(env.slapd.search(kPeople, "(uid=twice)").size() == 1);
  CHECK(env.log.all().find("adopted") != std::string::npos);
}

TEST_CASE("ldap sink: many creates in one batch are pipelined and all answered", "[ldap]") {
  Env env(Object{{"pipeline_depth", std::int64_t{8}}});
  std::vector<Operation> ops;
  for (int i = 0; i < 300; ++i) ops.push_back(create_user("p" + std::to_string(i)));
  ops[150].attributes.erase("sn");  // one failure in the middle
  auto results = apply_ops(*env.sink, ops);
  std::set<std::string> ids;
  for (int i = 0; i < 300; ++i) {
    if (i == 150) {
      CHECK_FALSE(results[i].ok);
      continue;
    }
    INFO(i << ": " << results[i].error);
    REQUIRE(results[i].ok);
    ids.insert(results[i].target_id);
  }
  CHECK(ids.size() == 299);
  // Each result's id belongs to its own entry.
  CHECK(env.slapd.read("uid=p299," + kPeople).value("entryUUID") == results[299].target_id);
  CHECK(env.slapd.read("uid=p0," + kPeople).value("entryUUID") == results[0].target_id);
}

TEST_CASE("ldap sink: datetime targets become GeneralizedTime, references DNs", "[ldap]") {
  Env env;
  std::vector<TargetSchema> schema = default_schema();
  schema[0].attributes.push_back({"manager", TargetType::reference});
  env.sink->prepare(schema);
  std::string boss = env.create("boss");
  auto op = create_user("worker");
  op.attributes.set("manager", boss);
  auto r = apply_one(*env.sink, op);
  INFO(r.error);
  REQUIRE(r.ok);
  CHECK(env.slapd.read("uid=worker," + kPeople).value("manager") == "uid=boss," + kPeople);
}

TEST_CASE("ldap sink: after many lookups, matching is served from one paged load kept current", "[ldap]") {
  Env env(Object{{"find_preload_after", std::int64_t{3}}, {"page_size", std::int64_t{7}}});
  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(env.create("pre" + std::to_string(i)));
  for (int i = 0; i < 30; ++i) {  // the 4th lookup loads all uids, in pages of 7
    INFO(i);
    CHECK(env.sink->find(ObjectType::user, "uid", "pre" + std::to_string(i), false) ==
          std::vector<std::string>{ids[static_cast<std::size_t>(i)]});
  }
  CHECK(env.sink->find(ObjectType::user, "uid", "PRE1", true) == std::vector<std::string>{ids[1]});
  CHECK(env.sink->find(ObjectType::user, "uid", "PRE1", false).empty());
  CHECK(env.sink->find(ObjectType::user, "uid", "nobody", true).empty());

  std::string fresh = env.create("pre-new");
  CHECK(env.sink->find(ObjectType::user, "uid", "pre-new", false) == std::vector<std::string>{fresh});
  REQUIRE(apply_one(*env.sink, op_on(OpKind::update, ObjectType::user, ids[2], Object{{"uid", "pre-renamed"}})).ok);
  CHECK(env.sink->find(ObjectType::user, "uid", "pre2", false).empty());
  CHECK(env.sink->find(ObjectType::user, "uid", "pre-renamed", false) == std::vector<std::string>{ids[2]});
  REQUIRE(apply_one(*env.sink, op_on(OpKind::remove, ObjectType::user, ids[3])).ok);
  CHECK(env.sink->find(ObjectType::user, "uid", "pre3", false).empty());
}

TEST_CASE("ldap sink: binary ids (as for AD objectGUID) round-trip as hex", "[ldap]") {
  // entryUUID read as bytes stands in for objectGUID: the ids become hex and
  // every lookup by id goes through \xx-escaped filter values.
  Env env(Object{{"id_binary", true}});
  std::string id = env.create("bin");
  auto entry = env.slapd.read("uid=bin," + kPeople);
  std::string uuid = entry.value("entryUUID");
  REQUIRE(id.size() == uuid.size() * 2);
  std::string hex;
  for (unsigned char c : uuid) {
    hex += "0123456789abcdef"[c >> 4];
    hex += "0123456789abcdef"[c & 15];
  }
  CHECK(id == hex);
  CHECK(env.sink->find(ObjectType::user, "uid", "bin", false) == std::vector<std::string>{id});
  auto fresh = env.plugin.make(env.slapd.url(), Object{{"id_binary", true}});
  fresh->prepare(default_schema());
  auto u = apply_one(*fresh, op_on(OpKind::update, ObjectType::user, id, Object{{"sn", "Hex"}}));
  INFO(u.error);
  REQUIRE(u.ok);
  CHECK(env.slapd.read("uid=bin," + kPeople).value("sn") == "Hex");
  CHECK_FALSE(apply_one(*fresh, op_on(OpKind::update, ObjectType::user, "zz-not-hex", Object{{"sn", "x"}})).ok);
}

TEST_CASE("ldap sink: binary attributes are written from base64 as raw bytes", "[ldap]") {
  Env env(Object{{"binary_attributes", List{"jpegPhoto"}}});
  const std::string bytes("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x7f\x80", 14);
  auto op = create_user("photo");
  op.attributes.set("jpegPhoto", "/9j/4AAQSkZJRgABf4A=");
  auto r = apply_one(*env.sink, op);
  INFO(r.error);
  REQUIRE(r.ok);
  CHECK(env.slapd.read("uid=photo," + kPeople, {"jpegPhoto"}).value("jpegPhoto") == bytes);
  auto bad = create_user("badphoto");
  bad.attributes.set("jpegPhoto", "not base64!");
  auto b = apply_one(*env.sink, bad);
  CHECK_FALSE(b.ok);
  CHECK(b.error.find("not base64") != std::string::npos);
}

TEST_CASE("ldap sink: a batch of updates by id is pipelined and answers each op", "[ldap]") {
  Env env;
  std::vector<Operation> creates;
  for (int i = 0; i < 200; ++i) creates.push_back(create_user("up" + std::to_string(i)));
  auto created = apply_ops(*env.sink, creates);
  // A new sink, as in the next run: nothing cached, DNs found by id in bulk.
  auto sink = env.plugin.make(env.slapd.url(), Object{{"pipeline_depth", std::int64_t{16}}});
  sink->prepare(default_schema());
  std::vector<Operation> updates;
  for (int i = 0; i < 200; ++i) {
    Object attrs{{"title", "T" + std::to_string(i)}};
    if (i == 50 || i == 150) attrs.set("displayName", List{"One", "Two"});  // constraint violation
    updates.push_back(op_on(OpKind::update, ObjectType::user, created[static_cast<std::size_t>(i)].target_id, attrs));
  }
  updates.push_back(op_on(OpKind::update, ObjectType::user, "no-such-id", Object{{"title", "x"}}));
  auto results = apply_ops(*sink, updates);
  for (int i = 0; i < 200; ++i) {
    INFO(i << ": " << results[static_cast<std::size_t>(i)].error);
    CHECK(results[static_cast<std::size_t>(i)].ok == (i != 50 && i != 150));
    CHECK(results[static_cast<std::size_t>(i)].target_id == created[static_cast<std::size_t>(i)].target_id);
  }
  CHECK(results[50].error.find("uid=up50,") != std::string::npos);
  CHECK_FALSE(results[200].ok);
  CHECK(env.slapd.read("uid=up199," + kPeople).value("title") == "T199");
  CHECK(env.slapd.read("uid=up50," + kPeople).value("title").empty());  // the failed modify wrote nothing
}
