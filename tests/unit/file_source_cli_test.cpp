// The demo pipeline (file source -> sqlite sink) through the `dirsync` command, on a copy of
// pipelines/ in a temp dir: a real sync, a no-change resync, removals after a complete read,
// and bad input that fails the run with its location and removes nothing.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include "support/test_support.hpp"

namespace fs = std::filesystem;
using dirsync::test::CommandResult;

namespace {

// The number in the first row of `sql` against the database at `path`.
long long scalar(const fs::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  long long value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

struct Demo {
  dirsync::test::TempDir dir;
  fs::path pipeline = dir / "demo-file-to-sqlite.yaml";
  fs::path db = dir / "demo-assets.db";
  fs::path users = dir / "data" / "demo-users.csv";
  fs::path groups = dir / "data" / "demo-groups.jsonl";

  Demo() {
    fs::copy(dirsync::test::source_dir() / "pipelines", dir.path(), fs::copy_options::recursive);
    // A demo run in the source tree leaves databases there; start from none.
    for (const auto& entry : fs::directory_iterator(dir.path()))
      if (entry.path().filename().string().find(".db") != std::string::npos) fs::remove(entry.path());
  }
  CommandResult run() { return dirsync::test::run_dirsync({"run", pipeline.string()}); }

  // Rewrites the users export through `edit`, one line at a time (false drops the line).
  template <class Edit>
  void edit_users(Edit edit) {
    std::string text = dirsync::test::read_file(users), out;
    std::size_t line = 0;
    for (std::size_t start = 0; start < text.size();) {
      std::size_t end = text.find('\n', start);
      std::string row = text.substr(start, end - start);
      if (edit(++line, row)) out += row + "\n";
      start = end == std::string::npos ? text.size() : end + 1;
    }
    dirsync::test::write_file(users, out);
  }
};

}  // namespace

TEST_CASE("the demo pipeline syncs the sample export and converges") {
  Demo demo;
  CommandResult first = demo.run();
  INFO(first.all());
  REQUIRE(first.exit_code == 0);
  CHECK(first.out.find("created 1050") != std::string::npos);
  CHECK(scalar(demo.db, "SELECT count(*) FROM users") == 1000);
  CHECK(scalar(demo.db, "SELECT count(*) FROM groups") == 50);
  CHECK(scalar(demo.db, "SELECT count(*) FROM users WHERE typeof(active) = 'integer'") == 1000);
  CHECK(scalar(demo.db, "SELECT count(*) FROM group_members") > 1000);

  // Nested groups reference groups created later in the same run; after at most one more run
  // nothing changes any more.
  demo.run();
  CommandResult steady = demo.run();
  INFO(steady.all());
  REQUIRE(steady.exit_code == 0);
  CHECK(steady.out.find("created 0  updated 0  disabled 0  deleted 0") != std::string::npos);

  // Ten users (1%, under the 5% threshold) leave the export: a complete read disables them.
  demo.edit_users([](std::size_t line, std::string&) { return line == 1 || line > 11; });
  CommandResult removal = demo.run();
  INFO(removal.all());
  REQUIRE(removal.exit_code == 0);
  CHECK(scalar(demo.db, "SELECT count(*) FROM users WHERE _disabled = 1") == 10);
  CHECK(scalar(demo.db, "SELECT count(*) FROM users") == 1000);
}

TEST_CASE("bad export lines fail the demo run with their location and remove nothing") {
  Demo demo;
  REQUIRE(demo.run().exit_code == 0);

  SECTION("ragged CSV row") {
    // Line 57 loses its last field; line 900 disappears, which a complete read would disable.
    demo.edit_users([](std::size_t line, std::string& row) {
      if (line == 57) row.erase(row.rfind(','));
      return line != 900;
    });
    CommandResult r = demo.run();
    CHECK(r.exit_code == 1);
    CHECK(r.all().find("data/demo-users.csv:57: row has 10 fields, header has 11") != std::string::npos);
  }
  SECTION("broken JSON line") {
    std::string text = dirsync::test::read_file(demo.groups);
    std::size_t third = text.find('\n', text.find('\n') + 1) + 1;
    text.insert(third, "{\"id\": \"broken\",\n");
    dirsync::test::write_file(demo.groups, text);
    CommandResult r = demo.run();
    CHECK(r.exit_code == 1);
    CHECK(r.all().find("data/demo-groups.jsonl:3: malformed JSON") != std::string::npos);
  }
  CHECK(scalar(demo.db, "SELECT count(*) FROM users WHERE _disabled = 1") == 0);
  CHECK(scalar(demo.db, "SELECT count(*) FROM groups") == 50);
}

TEST_CASE("an unwritable sqlite path fails the demo run as a connection error naming it") {
  Demo demo;
  std::string text = dirsync::test::read_file(demo.pipeline);
  std::string from = "path: demo-assets.db";
  REQUIRE(text.find(from) != std::string::npos);
  text.replace(text.find(from), from.size(), "path: missing/demo-assets.db");
  dirsync::test::write_file(demo.pipeline, text);
  CommandResult r = demo.run();
  CHECK(r.exit_code == 3);
  CHECK(r.all().find("cannot open sqlite database " + (demo.dir / "missing" / "demo-assets.db").string() +
                     ": folder " + (demo.dir / "missing").string() + " does not exist") != std::string::npos);
}
