// The state store's link table: keyed lookups, updates in place, migration of
// a version-1 file.
#include "state/state_store.hpp"
#include <dirsync/error.hpp>
#include "support/test_support.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <csignal>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace dirsync;
using namespace dirsync::test;

namespace {

Link link_to(std::string target, std::uint64_t hash = 1) {
  Link l;
  l.target_id = std::move(target);
  l.hash = hash;
  l.written = "{}";
  return l;
}

void exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
  INFO((message ? message : ""));
  sqlite3_free(message);
  REQUIRE(rc == SQLITE_OK);
}

/// The key indexes of a state store file, as an operator's shell lists them.
std::vector<std::string> key_indexes(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db,
                             "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN "
                             "('links_source', 'links_target') ORDER BY name",
                             -1, &st, nullptr) == SQLITE_OK);
  std::vector<std::string> names;
  while (sqlite3_step(st) == SQLITE_ROW) names.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return names;
}

const std::vector<std::string> kBothIndexes{"links_source", "links_target"};

/// The file format's write version (header byte 18): 2 in WAL mode, 1 with a
/// rollback journal. Read from the file, so no connection of the test's own
/// takes a lock or changes a mode.
int write_version(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char header[20] = {};
  in.read(header, sizeof header);
  return header[18];
}

std::string integrity(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK);
  std::string result = sqlite3_step(st) == SQLITE_ROW ? reinterpret_cast<const char*>(sqlite3_column_text(st, 0)) : "";
  sqlite3_finalize(st);
  sqlite3_close(db);
  return result;
}

}  // namespace

TEST_CASE("links are found by source and by target, per pipeline and object type") {
  TempDir dir;
  StateStore a(dir / "s.db", "a");
  StateStore b(dir / "s.db", "b");
  a.begin();
  std::int64_t id = a.put_link(ObjectType::user, "u1", link_to("t1"));
  a.put_link(ObjectType::group, "u1", link_to("g1"));
  a.commit();
  b.begin();
  b.put_link(ObjectType::user, "u1", link_to("other"));
  b.commit();

  CHECK(a.find_link(ObjectType::user, "u1")->target_id == "t1");
  CHECK(a.find_link(ObjectType::user, "u1")->rowid == id);
  CHECK(a.target_of(ObjectType::group, "u1") == "g1");
  CHECK(b.target_of(ObjectType::user, "u1") == "other");
  CHECK(a.source_for_target(ObjectType::user, "t1") == "u1");
  CHECK_FALSE(a.source_for_target(ObjectType::user, "other"));
  CHECK_FALSE(a.find_link(ObjectType::user, "u2"));

  // Writing a link again updates the row: same rowid, new target, no second row.
  a.begin();
  CHECK(a.put_link(ObjectType::user, "u1", link_to("t2", 2)) == id);
  a.commit();
  CHECK(a.count_links(ObjectType::user) == 1);
  CHECK(a.find_link(ObjectType::user, "u1")->hash == 2);
  CHECK(a.source_for_target(ObjectType::user, "t2") == "u1");
  CHECK_FALSE(a.source_for_target(ObjectType::user, "t1"));

  a.begin();
  a.delete_link(ObjectType::user, "u1");
  a.commit();
  CHECK_FALSE(a.find_link(ObjectType::user, "u1"));
  CHECK(b.find_link(ObjectType::user, "u1"));
  CHECK(a.has_links(ObjectType::group));
  CHECK_FALSE(a.has_links(ObjectType::user));
}

TEST_CASE("a version-1 state store is migrated with its links") {
  TempDir dir;
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((dir / "old.db").c_str(), &db) == SQLITE_OK);
    exec(db, R"sql(
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO meta VALUES ('schema_version', '1');
      CREATE TABLE links (id INTEGER PRIMARY KEY, pipeline TEXT NOT NULL, object_type INTEGER NOT NULL,
        source_id TEXT NOT NULL, target_id TEXT NOT NULL, hash INTEGER NOT NULL, written TEXT NOT NULL,
        source TEXT NOT NULL, source_hash INTEGER NOT NULL, created_by_pipeline INTEGER NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0, UNIQUE (pipeline, object_type, source_id));
      CREATE INDEX links_target ON links (pipeline, object_type, target_id);
      CREATE TABLE cursors (pipeline TEXT PRIMARY KEY, cursor TEXT, config_hash TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL);
      CREATE TABLE runs (id INTEGER PRIMARY KEY, pipeline TEXT NOT NULL, started_at TEXT NOT NULL,
        finished_at TEXT, mode TEXT NOT NULL, processed INTEGER NOT NULL DEFAULT 0,
        created INTEGER NOT NULL DEFAULT 0, updated INTEGER NOT NULL DEFAULT 0,
        disabled INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0,
        skipped INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL,
        error TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '');
      CREATE TABLE run_errors (run_id INTEGER NOT NULL, object_type TEXT NOT NULL, source_id TEXT NOT NULL,
        operation TEXT NOT NULL, message TEXT NOT NULL);
      INSERT INTO links VALUES (7, 'p', 0, 'src-1', 'tgt-1', 42, '{"email":"a@x.com"}', '{}', 0, 1, 0);
      INSERT INTO cursors VALUES ('p', 'delta-cursor', 'cfg', '2026-11-01T00:00:00Z');
    )sql");
    sqlite3_close(db);
  }
  StateStore s(dir / "old.db", "p");
  auto link = s.find_link(ObjectType::user, "src-1");
  REQUIRE(link);
  CHECK(link->rowid == 7);
  CHECK(link->target_id == "tgt-1");
  CHECK(link->hash == 42);
  CHECK(link->written == R"({"email":"a@x.com"})");
  CHECK(link->created_by_pipeline);
  CHECK(s.source_for_target(ObjectType::user, "tgt-1") == "src-1");
  CHECK(s.cursor() == "delta-cursor");
  CHECK(s.max_link_rowid() == 7);
  CHECK(s.object_hash() == ObjectHash::fnv1a);  // its hash 42 was FNV-1a's
}

TEST_CASE("a new store holds wide hashes; one from before the setting keeps FNV-1a; an unknown one is refused") {
  TempDir dir;
  const auto path = dir / "s.db";
  auto set_meta = [&](const char* sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    exec(db, sql);
    sqlite3_close(db);
  };
  CHECK(StateStore(path, "p").object_hash() == ObjectHash::wide);
  CHECK(StateStore(path, "p").object_hash() == ObjectHash::wide);
  // The schema of the release before, which had no such key: FNV-1a, and
  // it stays so once written down.
  set_meta("DELETE FROM meta WHERE key = 'object_hash'");
  CHECK(StateStore(path, "p").object_hash() == ObjectHash::fnv1a);
  CHECK(StateStore(path, "p").object_hash() == ObjectHash::fnv1a);
  set_meta("UPDATE meta SET value = 'md5' WHERE key = 'object_hash'");
  try {
    StateStore store(path, "p");
    FAIL("opened a store with unknown hashes");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains(path.string()) && Catch::Contains("'md5'"));
    CHECK(e.kind() == ErrorKind::config);
  }
}

TEST_CASE("an empty store is loaded without its key indexes, which are rebuilt at the end or by the first lookup") {
  TempDir dir;
  const auto path = dir / "s.db";
  {
    StateStore s(path, "p");
    REQUIRE(s.begin_bulk_load());
    CHECK(key_indexes(path).empty());
    s.begin();
    s.write_link(ObjectType::user, "u1", link_to("t1"));
    s.write_link(ObjectType::user, "u2", link_to("t2"));
    s.commit();
    s.end_bulk_load();
    CHECK(key_indexes(path) == kBothIndexes);
    CHECK(s.source_for_target(ObjectType::user, "t2") == "u2");
    // Not empty any more: a second load keeps the indexes.
    CHECK_FALSE(s.begin_bulk_load());
    CHECK(key_indexes(path) == kBothIndexes);
  }
  {
    // A lookup during the load (a duplicate in the read) ends it first.
    StateStore s(dir / "t.db", "p");
    REQUIRE(s.begin_bulk_load());
    s.begin();
    s.write_link(ObjectType::user, "u1", link_to("t1"));
    CHECK(s.find_link(ObjectType::user, "u1")->target_id == "t1");
    s.commit();
    CHECK(key_indexes(dir / "t.db") == kBothIndexes);
  }
  {
    // A run that died during its load: the next open rebuilds the indexes.
    {
      StateStore s(dir / "u.db", "p");
      REQUIRE(s.begin_bulk_load());
      s.begin();
      s.write_link(ObjectType::user, "u1", link_to("t1"));
      s.commit();
    }
    CHECK(key_indexes(dir / "u.db").empty());
    StateStore s(dir / "u.db", "p");
    CHECK(key_indexes(dir / "u.db") == kBothIndexes);
    CHECK(s.target_of(ObjectType::user, "u1") == "t1");
  }
}

TEST_CASE("a bulk load writes through a rollback journal and leaves the store in WAL mode") {
  TempDir dir;
  const auto path = dir / "s.db";
  {
    StateStore s(path, "p");
    CHECK(write_version(path) == 2);
    REQUIRE(s.begin_bulk_load());
    CHECK(write_version(path) == 1);
    s.begin();
    s.write_link(ObjectType::user, "u1", link_to("t1"));
    s.commit();
    s.end_bulk_load();
    CHECK(write_version(path) == 2);
  }
  {
    // Interrupted inside a transaction, where the mode cannot change: WAL
    // comes back at the commit.
    StateStore s(dir / "t.db", "p");
    REQUIRE(s.begin_bulk_load());
    s.begin();
    s.write_link(ObjectType::user, "u1", link_to("t1"));
    s.delete_link(ObjectType::user, "u1");
    CHECK(write_version(dir / "t.db") == 1);
    s.commit();
    CHECK(write_version(dir / "t.db") == 2);
  }
}

TEST_CASE("a bulk load killed in the middle of a window rolls back to its last commit") {
  TempDir dir;
  const auto path = dir / "s.db";
  // Rows large enough that the second window spills pages into the file
  // before its commit (the load's page cache is 8 MB): what the journal
  // must undo.
  const std::string snapshot(4000, 'x');
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    StateStore s(path, "p");
    if (!s.begin_bulk_load()) _exit(2);
    for (int window = 0; window < 2; ++window) {
      s.begin();
      for (int i = window * 3000; i < (window + 1) * 3000; ++i) {
        Link l = link_to("t" + std::to_string(i));
        l.source = snapshot;
        s.write_link(ObjectType::user, "u" + std::to_string(i), l);
      }
      if (window == 0) s.commit();
    }
    std::raise(SIGKILL);
    _exit(3);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);
  // Pages written before the kill, and the journal that undoes them.
  CHECK(std::filesystem::file_size(path) > 3000u * 4000u);
  CHECK(std::filesystem::file_size(dir / "s.db-journal") > 0);

  StateStore s(path, "p");
  CHECK(s.count_links(ObjectType::user) == 3000);
  CHECK(s.target_of(ObjectType::user, "u2999") == "t2999");
  CHECK_FALSE(s.target_of(ObjectType::user, "u3000"));
  CHECK(key_indexes(path) == kBothIndexes);
  CHECK(write_version(path) == 2);
  CHECK(integrity(path) == "ok");
}

TEST_CASE("for_each_link with a filter reads only the wanted rows, in rowid order, of its type and pipeline") {
  TempDir dir;
  StateStore a(dir / "s.db", "a");
  StateStore b(dir / "s.db", "b");
  a.begin();
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(a.put_link(ObjectType::user, "u" + std::to_string(i), link_to("t" + std::to_string(i))));
  a.put_link(ObjectType::group, "g", link_to("tg"));
  a.commit();
  b.begin();
  b.put_link(ObjectType::user, "u0", link_to("other"));
  b.commit();

  std::vector<std::int64_t> asked;
  std::vector<std::string> got;
  a.for_each_link(
      ObjectType::user, [&](std::int64_t rowid, std::string source_id, Link link) {
        CHECK(link.rowid == rowid);
        got.push_back(source_id + "=" + link.target_id);
      },
      [&](std::int64_t rowid) {
        asked.push_back(rowid);
        return rowid % 3 == 0;
      });
  CHECK(asked == ids);  // every user row of pipeline a, once, in order; no group, nothing of b
  std::vector<std::string> expected;
  for (int i = 0; i < 10; ++i)
    if (ids[i] % 3 == 0) expected.push_back("u" + std::to_string(i) + "=t" + std::to_string(i));
  CHECK(got == expected);

  // Without a filter: every row of the type.
  got.clear();
  a.for_each_link(ObjectType::user, [&](std::int64_t, std::string source_id, Link) { got.push_back(source_id); });
  CHECK(got.size() == 10);
}
