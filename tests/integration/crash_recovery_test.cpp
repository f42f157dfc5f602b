// SIGKILL at several points of a run; the rerun converges with no duplicate
// objects and an honest sync log.
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace dirsync::test;

namespace {

std::string pipeline(int count, const std::string& extra) {
  return "version: 1\nname: crash\nsource:\n  type: testsource\n  count: " + std::to_string(count) + "\n" + extra +
         "sink:\n  type: sqlite\n  path: out.db\n"
         "users:\n  match:\n    - { target: email, source: mail }\n  mappings:\n"
         "    - { target: email, source: mail }\n    - { target: name, source: displayName }\n"
         "  on_missing: disable\n";
}

long long scalar(const std::filesystem::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
  long long v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(h);
  return v;
}

/// Starts `dirsync run`, waits until the source announces its pause on the
/// FIFO, then kills it with SIGKILL.
void run_and_kill_at_pause(const TempDir& dir) {
  std::string fifo = (dir / "pause.fifo").string();
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    setenv("DIRSYNC_PLUGIN_PATH", plugin_dir().c_str(), 1);
    std::string exe = dirsync_exe().string(), file = (dir / "p.yaml").string(), tp = test_plugin_dir().string();
    execl(exe.c_str(), exe.c_str(), "run", file.c_str(), "--plugin-dir", tp.c_str(), "--batch-size", "100",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  int fd = open(fifo.c_str(), O_RDONLY);  // blocks until the plugin opens it for writing
  REQUIRE(fd >= 0);
  char buf[16];
  REQUIRE(read(fd, buf, sizeof buf) > 0);
  close(fd);
  REQUIRE(kill(pid, SIGKILL) == 0);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  std::filesystem::remove(fifo);
}

void check_converged(const TempDir& dir, int count) {
  write_file(dir / "p.yaml", pipeline(count, ""));
  auto r = run_dirsync({"run", (dir / "p.yaml").string(), "--plugin-dir", test_plugin_dir().string()});
  INFO(r.all());
  REQUIRE(r.exit_code == 0);
  CHECK(scalar(dir / "out.db", "SELECT count(*) FROM users") == count);
  CHECK(scalar(dir / "out.db", "SELECT count(DISTINCT email) FROM users") == count);
  CHECK(scalar(dir / "out.db", "SELECT count(*) FROM users WHERE _disabled = 1") == 0);
  // A second run has nothing left to do.
  auto again = run_dirsync({"run", (dir / "p.yaml").string(), "--plugin-dir", test_plugin_dir().string()});
  CHECK(again.out.find("created 0  updated 0  disabled 0  deleted 0") != std::string::npos);
  // The killed run is in the sync log as Failed, not stuck as Running.
  auto runs = run_dirsync({"runs", (dir / "p.yaml").string(), "--plugin-dir", test_plugin_dir().string(), "--json"});
  CHECK(runs.out.find("\"status\":\"Running\"") == std::string::npos);
  CHECK(runs.out.find("interrupted: the process ended before the run finished") != std::string::npos);
}

}  // namespace

TEST_CASE("SIGKILL mid-read, between batches") {
  TempDir dir;
  write_file(dir / "p.yaml", pipeline(1000, "  pause_after: 450\n  pause_fifo: " + (dir / "pause.fifo").string() + "\n"));
  run_and_kill_at_pause(dir);
  // Four batches of 100 were handed to the sink before the pause; the sink
  // writes one batch while the engine decides the next, so the fourth may or
  // may not have committed when the kill came.
  long long written = scalar(dir / "out.db", "SELECT count(*) FROM users");
  CHECK(written >= 300);
  CHECK(written <= 400);
  check_converged(dir, 1000);
}

TEST_CASE("SIGKILL after the sink committed a batch but before the state store did") {
  TempDir dir;
  write_file(dir / "p.yaml", pipeline(1000, ""));
  auto r = run_dirsync({"run", (dir / "p.yaml").string(), "--plugin-dir", test_plugin_dir().string(), "--batch-size",
                        "100"},
                       {{"DIRSYNC_TEST_CRASH_AFTER_SINK_BATCH", "3"}});
  REQUIRE(r.exit_code == -SIGKILL);
  // The sink has three batches; the state store knows only two of them.
  CHECK(scalar(dir / "out.db", "SELECT count(*) FROM users") == 300);
  check_converged(dir, 1000);
}

TEST_CASE("SIGKILL before the first batch") {
  TempDir dir;
  write_file(dir / "p.yaml", pipeline(500, "  pause_after: 0\n  pause_fifo: " + (dir / "pause.fifo").string() + "\n"));
  run_and_kill_at_pause(dir);
  check_converged(dir, 500);
}
