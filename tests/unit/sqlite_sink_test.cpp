// The sqlite sink through its built shared library, as the host loads it.
#include <catch2/catch.hpp>
#include <dirsync/plugin.hpp>
#include <sqlite3.h>

#include <boost/dll/shared_library.hpp>

#include "support/test_support.hpp"

using namespace dirsync;
namespace fs = std::filesystem;

namespace {

struct NullLogger : Logger {
  void log(LogLevel, std::string_view) override {}
};

// Keeps the library loaded for as long as the sinks it made are alive.
struct SqlitePlugin {
  boost::dll::shared_library lib{(test::plugin_dir() / "dirsync-sqlite.so").string()};
  const PluginDescriptor& descriptor = *lib.get_alias<PluginEntryPoint>("dirsync_plugin")();
  NullLogger logger;

  std::unique_ptr<Sink> make(const fs::path& base_dir, Object settings) {
    PluginContext ctx{"test", Settings(std::move(settings)), base_dir, &logger};
    return descriptor.make_sink(ctx);
  }
};

// A second connection, as an operator's sqlite3 shell would see the file.
class Db {
 public:
  explicit Db(const fs::path& path) { REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK); }
  ~Db() { sqlite3_close(db_); }
  // Column `index` of every row of `sql`, as text ("NULL" for null).
  std::vector<std::string> column(const std::string& sql, int index = 0) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    std::vector<std::string> out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      auto text = sqlite3_column_text(stmt, index);
      out.emplace_back(text ? reinterpret_cast<const char*>(text) : "NULL");
    }
    sqlite3_finalize(stmt);
    return out;
  }
  std::string one(const std::string& sql) {
    auto rows = column(sql);
    REQUIRE(rows.size() == 1);
    return rows[0];
  }
  void exec(const std::string& sql) { REQUIRE(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK); }

 private:
  sqlite3* db_ = nullptr;
};

Operation op(OpKind kind, ObjectType type, std::string source_id, std::string target_id, Object attributes) {
  Operation o;
  o.kind = kind;
  o.type = type;
  o.source_id = std::move(source_id);
  o.target_id = std::move(target_id);
  o.attributes = std::move(attributes);
  return o;
}

std::vector<OpResult> apply_ops(Sink& sink, const std::vector<Operation>& ops) {
  std::vector<OpResult> results(ops.size());
  sink.apply(ops, results);
  return results;
}

std::vector<TargetSchema> user_schema() {
  return {{ObjectType::user,
           {{"email", TargetType::string}, {"active", TargetType::boolean}, {"tags", TargetType::list}}}};
}

}  // namespace

TEST_CASE("sqlite sink creates, updates, disables and deletes users") {
  test::TempDir dir;
  SqlitePlugin plugin;
  auto sink = plugin.make(dir.path(), Object{{"path", "out.db"}});  // relative: resolves against base_dir
  sink->prepare(user_schema());

  auto created = apply_ops(*sink, {op(OpKind::create, ObjectType::user, "s1", "",
                                  {{"email", "Ada@Example.com"}, {"active", true}, {"tags", List{"a", "b"}}}),
                               op(OpKind::create, ObjectType::user, "s2", "",
                                  {{"email", "bob@example.com"}, {"active", false}, {"tags", nullptr}})});
  REQUIRE(created[0].ok);
  REQUIRE(created[1].ok);
  const std::string ada = created[0].target_id, bob = created[1].target_id;
  CHECK(ada.size() == 36);
  CHECK(ada[14] == '7');  // UUID version 7: time-ordered
  CHECK(ada < bob);       // later creates sort later, so primary-key inserts append

  Db db(dir / "out.db");
  CHECK(db.one("SELECT _source_id || '|' || email || '|' || active || '|' || tags || '|' || _disabled FROM users "
               "WHERE _id = '" + ada + "'") == "s1|Ada@Example.com|1|[\"a\",\"b\"]|0");
  CHECK(db.one("SELECT typeof(active) FROM users WHERE _id = '" + bob + "'") == "integer");
  CHECK(db.one("SELECT tags FROM users WHERE _id = '" + bob + "'") == "NULL");
  CHECK(db.one("SELECT _updated_at FROM users WHERE _id = '" + bob + "'").ends_with("Z"));

  auto updated = apply_ops(*sink, {op(OpKind::update, ObjectType::user, "s1", ada, {{"active", false}}),
                               op(OpKind::disable, ObjectType::user, "s2", bob, {{"email", nullptr}})});
  CHECK(updated[0].ok);
  CHECK(updated[1].ok);
  CHECK(db.one("SELECT email || '|' || active || '|' || _disabled FROM users WHERE _id = '" + ada + "'") ==
        "Ada@Example.com|0|0");
  CHECK(db.one("SELECT coalesce(email, 'NULL') || '|' || _disabled FROM users WHERE _id = '" + bob + "'") ==
        "NULL|1");

  SECTION("an update re-enables a disabled row") {
    CHECK(apply_ops(*sink, {op(OpKind::update, ObjectType::user, "s2", bob, {{"email", "bob@example.com"}})})[0].ok);
    CHECK(db.one("SELECT _disabled FROM users WHERE _id = '" + bob + "'") == "0");
  }
  SECTION("remove deletes the row and is idempotent") {
    CHECK(apply_ops(*sink, {op(OpKind::remove, ObjectType::user, "s2", bob, {})})[0].ok);
    CHECK(apply_ops(*sink, {op(OpKind::remove, ObjectType::user, "s2", bob, {})})[0].ok);
    CHECK(db.column("SELECT _id FROM users") == std::vector<std::string>{ada});
  }
  SECTION("an update of a missing row is that object's failure") {
    auto r = apply_ops(*sink, {op(OpKind::update, ObjectType::user, "s9", "no-such-id", {{"active", true}}),
                           op(OpKind::update, ObjectType::user, "s1", ada, {{"active", true}})});
    CHECK_FALSE(r[0].ok);
    CHECK(r[0].error == "user no-such-id not found in table users");
    CHECK(r[1].ok);
    CHECK(db.one("SELECT active FROM users WHERE _id = '" + ada + "'") == "1");
  }
}

TEST_CASE("sqlite sink finds by attribute, exactly or ignoring case, through an index") {
  test::TempDir dir;
  SqlitePlugin plugin;
  auto sink = plugin.make(dir.path(), Object{{"path", (dir / "out.db").string()}});
  // A plan (finds only) before the first run must not create the database.
  CHECK(sink->find(ObjectType::user, "email", "Ada@Example.com", true).empty());
  CHECK_FALSE(fs::exists(dir / "out.db"));
  sink->prepare(user_schema());
  auto r = apply_ops(*sink, {op(OpKind::create, ObjectType::user, "s1", "", {{"email", "Ada@Example.com"}}),
                         op(OpKind::create, ObjectType::user, "s2", "", {{"email", "bob@example.com"}})});

  CHECK(sink->find(ObjectType::user, "email", "Ada@Example.com", false) == std::vector<std::string>{r[0].target_id});
  CHECK(sink->find(ObjectType::user, "email", "ada@example.com", false).empty());
  CHECK(sink->find(ObjectType::user, "email", "ada@EXAMPLE.com", true) == std::vector<std::string>{r[0].target_id});
  CHECK(sink->find(ObjectType::user, "email", nullptr, true).empty());
  CHECK(sink->find(ObjectType::user, "no_such_column", "x", false).empty());
  CHECK(sink->find(ObjectType::group, "email", "Ada@Example.com", false).empty());

  // Finds share one read transaction until the next apply, which must still see its own writes.
  auto later = apply_ops(*sink, {op(OpKind::create, ObjectType::user, "s3", "", {{"email", "CAROL@example.com"}})});
  REQUIRE(later[0].ok);
  CHECK(sink->find(ObjectType::user, "email", "carol@example.com", true) == std::vector<std::string>{later[0].target_id});

  Db db(dir / "out.db");
  db.exec("INSERT INTO users (_id, email) VALUES ('external', 'dave@example.com')");  // another writer meanwhile
  auto indexes = db.column("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'users' ORDER BY name");
  CHECK(std::find(indexes.begin(), indexes.end(), "ix_users_email") != indexes.end());
  CHECK(std::find(indexes.begin(), indexes.end(), "ix_users_email_nocase") != indexes.end());
  // Column 3 of EXPLAIN QUERY PLAN is the plan's text.
  CHECK(db.column("EXPLAIN QUERY PLAN SELECT _id FROM users WHERE email = 'x' COLLATE NOCASE", 3) ==
        std::vector<std::string>{"SEARCH users USING INDEX ix_users_email_nocase (email=?)"});
}

TEST_CASE("sqlite sink adds a column when a mapping adds an attribute") {
  test::TempDir dir;
  SqlitePlugin plugin;
  fs::path path = dir / "out.db";
  {
    auto sink = plugin.make(dir.path(), Object{{"path", path.string()}});
    sink->prepare(user_schema());
    REQUIRE(apply_ops(*sink, {op(OpKind::create, ObjectType::user, "s1", "", {{"email", "a@x"}})})[0].ok);
  }
  // A later run whose pipeline maps one more attribute.
  auto sink = plugin.make(dir.path(), Object{{"path", path.string()}});
  auto schema = user_schema();
  schema[0].attributes.emplace_back("department", TargetType::string);
  sink->prepare(schema);
  // An attribute absent from the schema still gets its column instead of failing the batch.
  auto r = apply_ops(*sink, {op(OpKind::create, ObjectType::user, "s2", "",
                            {{"email", "b@x"}, {"department", "Ops"}, {"level", 3}})});
  REQUIRE(r[0].ok);
  Db db(path);
  CHECK(db.column("SELECT name FROM pragma_table_info('users') ORDER BY cid") ==
        std::vector<std::string>{"_id", "_source_id", "_disabled", "_updated_at", "email", "active", "tags",
                                 "department", "level"});
  CHECK(db.column("SELECT coalesce(department, 'NULL') FROM users ORDER BY _source_id") ==
        std::vector<std::string>{"NULL", "Ops"});
  CHECK(db.one("SELECT typeof(level) FROM users WHERE _source_id = 's2'") == "integer");
}

TEST_CASE("sqlite sink keeps group membership in the members table") {
  test::TempDir dir;
  SqlitePlugin plugin;
  fs::path path = dir / "out.db";
  auto sink = plugin.make(dir.path(), Object{{"path", path.string()}, {"groups_table", "teams"},
                                              {"members_table", "team_members"}});
  sink->prepare({{ObjectType::group, {{"name", TargetType::string}}}});
  auto users = apply_ops(*sink, {op(OpKind::create, ObjectType::user, "u1", "", {}),
                             op(OpKind::create, ObjectType::user, "u2", "", {}),
                             op(OpKind::create, ObjectType::user, "u3", "", {})});
  const std::string u1 = users[0].target_id, u2 = users[1].target_id, u3 = users[2].target_id;
  Operation create = op(OpKind::create, ObjectType::group, "g1", "", {{"name", "Ops"}});
  create.members_add = {u1, u2};
  auto g = apply_ops(*sink, {create});
  REQUIRE(g[0].ok);
  const std::string group = g[0].target_id;
  Db db(path);
  auto members = [&] {
    return db.column("SELECT member_id FROM team_members WHERE group_id = '" + group + "' ORDER BY member_id");
  };
  CHECK(members() == std::vector<std::string>{u1, u2});

  Operation update = op(OpKind::update, ObjectType::group, "g1", group, {});
  update.members_add = {u3, u1};  // adding an existing member is a no-op
  update.members_remove = {u2};
  REQUIRE(apply_ops(*sink, {update})[0].ok);
  CHECK(members() == std::vector<std::string>{u1, u3});

  // Removing a user drops its memberships; removing the group drops the rest.
  REQUIRE(apply_ops(*sink, {op(OpKind::remove, ObjectType::user, "u1", u1, {})})[0].ok);
  CHECK(members() == std::vector<std::string>{u3});
  REQUIRE(apply_ops(*sink, {op(OpKind::remove, ObjectType::group, "g1", group, {})})[0].ok);
  CHECK(db.one("SELECT count(*) FROM team_members") == "0");
  CHECK(db.one("SELECT count(*) FROM teams") == "0");
}

TEST_CASE("sqlite sink builds the member index of an empty members table once, at finish()") {
  test::TempDir dir;
  SqlitePlugin plugin;
  auto member_index = [](const fs::path& path) {
    return Db(path).column("SELECT name FROM sqlite_master WHERE name = 'ix_group_members_member'").size();
  };
  auto load_group = [&](Sink& sink) {
    sink.prepare({{ObjectType::group, {{"name", TargetType::string}}}});
    auto users = apply_ops(sink, {op(OpKind::create, ObjectType::user, "u1", "", {}),
                                  op(OpKind::create, ObjectType::user, "u2", "", {})});
    Operation create = op(OpKind::create, ObjectType::group, "g1", "", {{"name", "Ops"}});
    create.members_add = {users[0].target_id, users[1].target_id};
    REQUIRE(apply_ops(sink, {create})[0].ok);
    return users;
  };

  fs::path path = dir / "finished.db";
  {
    auto sink = plugin.make(dir.path(), Object{{"path", path.string()}});
    load_group(*sink);
    CHECK(member_index(path) == 0);
    sink->finish();
    CHECK(member_index(path) == 1);
  }

  // A run that never reached finish(): the next prepare() builds it.
  path = dir / "interrupted.db";
  {
    auto sink = plugin.make(dir.path(), Object{{"path", path.string()}});
    load_group(*sink);
  }
  CHECK(member_index(path) == 0);
  {
    auto sink = plugin.make(dir.path(), Object{{"path", path.string()}});
    sink->prepare({});
    CHECK(member_index(path) == 1);
  }

  // A removal during the load needs the index: it is built before the batch.
  path = dir / "removal.db";
  {
    auto sink = plugin.make(dir.path(), Object{{"path", path.string()}});
    auto users = load_group(*sink);
    REQUIRE(apply_ops(*sink, {op(OpKind::remove, ObjectType::user, "u1", users[0].target_id, {})})[0].ok);
    CHECK(member_index(path) == 1);
    CHECK(Db(path).one("SELECT count(*) FROM group_members") == "1");
  }
}

TEST_CASE("sqlite sink empties its WAL into the database at finish(), unless a reader holds it") {
  test::TempDir dir;
  SqlitePlugin plugin;
  fs::path path = dir / "wal.db";
  fs::path wal = path.string() + "-wal";
  auto load = [&](Sink& sink, int from) {
    std::vector<Operation> ops;
    for (int i = from; i < from + 500; ++i)
      ops.push_back(op(OpKind::create, ObjectType::user, "u" + std::to_string(i), "",
                       {{"email", "user" + std::to_string(i) + "@example.com"}}));
    for (const OpResult& r : apply_ops(sink, ops)) REQUIRE(r.ok);
  };
  auto sink = plugin.make(dir.path(), Object{{"path", path.string()}});
  sink->prepare(user_schema());
  load(*sink, 0);
  REQUIRE(fs::file_size(wal) > 0);
  sink->finish();
  CHECK(fs::file_size(wal) == 0);  // copied and truncated while the sink is still open
  CHECK(Db(path).one("SELECT count(*) FROM users") == "500");

  // A reader in a read transaction is not waited for: finish() returns, the
  // WAL stays for the close or a later checkpoint, and nothing is lost.
  load(*sink, 500);
  Db reader(path);
  reader.exec("BEGIN");
  CHECK(reader.one("SELECT count(*) FROM users") == "1000");
  load(*sink, 1000);
  sink->finish();
  CHECK(fs::file_size(wal) > 0);
  reader.exec("COMMIT");
  CHECK(Db(path).one("SELECT count(*) FROM users") == "1500");
}

TEST_CASE("sqlite sink reports a per-object failure and commits the rest of the batch") {
  test::TempDir dir;
  SqlitePlugin plugin;
  fs::path path = dir / "out.db";
  auto sink = plugin.make(dir.path(), Object{{"path", path.string()}});
  sink->prepare(user_schema());
  Db db(path);
  db.exec("CREATE UNIQUE INDEX operator_rule ON users(email)");  // a rule the sink does not know about

  auto r = apply_ops(*sink, {op(OpKind::create, ObjectType::user, "s1", "", {{"email", "a@x"}}),
                         op(OpKind::create, ObjectType::user, "s2", "", {{"email", "a@x"}}),
                         op(OpKind::create, ObjectType::user, "s3", "", {{"email", "c@x"}})});
  CHECK(r[0].ok);
  CHECK_FALSE(r[1].ok);
  CHECK(r[1].target_id.empty());
  CHECK(r[1].error.find("UNIQUE constraint failed: users.email") != std::string::npos);
  CHECK(r[2].ok);
  CHECK(db.column("SELECT _source_id FROM users ORDER BY _source_id") == std::vector<std::string>{"s1", "s3"});
  // The ids reported are the ids stored (the batch was replayed after the failure).
  CHECK(db.one("SELECT _id FROM users WHERE _source_id = 's3'") == r[2].target_id);
}

TEST_CASE("sqlite sink names the path it cannot open") {
  test::TempDir dir;
  SqlitePlugin plugin;
  auto expect_connection_error = [&](const fs::path& path, const std::string& why) {
    auto sink = plugin.make(dir.path(), Object{{"path", path.string()}});
    try {
      sink->prepare(user_schema());
      FAIL("prepare succeeded on " << path);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::connection);
      CHECK(std::string(e.what()) == "cannot open sqlite database " + path.string() + ": " + why);
    }
  };
  expect_connection_error(dir / "missing" / "out.db", "folder " + (dir / "missing").string() + " does not exist");
  expect_connection_error(dir.path(), "it is a folder");
  fs::path file = dir / "not-a-db.db";
  test::write_file(file, "this is not a database file, and it is long enough to have a header......");
  auto sink = plugin.make(dir.path(), Object{{"path", file.string()}});
  try {
    sink->prepare(user_schema());
    FAIL("prepare succeeded on a non-database file");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::connection);
    CHECK(std::string(e.what()).find(file.string()) != std::string::npos);
  }
}

TEST_CASE("sqlite sink validates its settings and tests its connection") {
  test::TempDir dir;
  SqlitePlugin plugin;
  try {
    plugin.make(dir.path(), Object{{"path", "x.db"}, {"synchronous", "sometimes"}});
    FAIL("factory accepted synchronous: sometimes");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::config);
    CHECK(std::string(e.what()) == "sqlite sink: synchronous is 'SOMETIMES', expected OFF, NORMAL, FULL or EXTRA");
  }
  CHECK_THROWS_AS(plugin.make(dir.path(), Object{{"path", "x.db"}, {"groups_table", "users"}}), Error);
  CHECK_THROWS_WITH(plugin.make(dir.path(), Object{{"path", "x.db"}})
                        ->prepare({{ObjectType::user, {{"_disabled", TargetType::boolean}}}}),
                    "sqlite sink: target attribute '_disabled' is one of the sink's own columns; map it to another "
                    "name");

  auto sink = plugin.make(dir.path(), Object{{"path", "x.db"}, {"synchronous", "full"}});
  auto lines = sink->test_connection();
  REQUIRE(lines.size() == 5);
  CHECK(lines[0].find((dir / "x.db").string()) != std::string::npos);
  CHECK(lines[0].find("synchronous FULL") != std::string::npos);
  CHECK(lines[2] == "table users: 0 rows");
  Db db(dir / "x.db");
  CHECK(db.one("PRAGMA journal_mode") == "wal");
}

TEST_CASE("sqlite sink fails the whole batch when the database is locked, then recovers") {
  test::TempDir dir;
  SqlitePlugin plugin;
  fs::path path = dir / "out.db";
  auto sink = plugin.make(dir.path(), Object{{"path", path.string()}, {"busy_timeout", 0}});
  sink->prepare(user_schema());
  std::vector<Operation> batch{op(OpKind::create, ObjectType::user, "s1", "", {{"email", "a@x"}}),
                               op(OpKind::create, ObjectType::user, "s2", "", {{"email", "b@x"}})};
  Db other(path);
  other.exec("BEGIN IMMEDIATE");  // another writer holds the lock
  try {
    apply_ops(*sink, batch);
    FAIL("apply succeeded while another writer held the lock");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::connection);
    CHECK(std::string(e.what()) == "sqlite database " + path.string() + ": begin transaction failed: database is locked");
  }
  other.exec("ROLLBACK");
  CHECK(other.one("SELECT count(*) FROM users") == "0");
  auto r = apply_ops(*sink, batch);
  CHECK((r[0].ok && r[1].ok));
  CHECK(other.one("SELECT count(*) FROM users") == "2");
}
