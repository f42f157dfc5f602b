#include "state/state_store.hpp"

#include <dirsync/error.hpp>

#include <sqlite3.h>
#include <sys/file.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

namespace dirsync {

namespace {

constexpr int kSchemaVersion = 2;

// Migrations are applied in order; each brings the schema from version i to i+1.
const char* const kMigrations[] = {
    R"sql(
    CREATE TABLE links (
      id INTEGER PRIMARY KEY,
      pipeline TEXT NOT NULL,
      object_type INTEGER NOT NULL,
      source_id TEXT NOT NULL,
      target_id TEXT NOT NULL,
      hash INTEGER NOT NULL,
      written TEXT NOT NULL,
      source TEXT NOT NULL,
      source_hash INTEGER NOT NULL,
      created_by_pipeline INTEGER NOT NULL,
      disabled INTEGER NOT NULL DEFAULT 0,
      UNIQUE (pipeline, object_type, source_id));
    CREATE INDEX links_target ON links (pipeline, object_type, target_id);
    CREATE TABLE cursors (
      pipeline TEXT PRIMARY KEY,
      cursor TEXT,
      config_hash TEXT NOT NULL DEFAULT '',
      updated_at TEXT NOT NULL);
    CREATE TABLE runs (
      id INTEGER PRIMARY KEY,
      pipeline TEXT NOT NULL,
      started_at TEXT NOT NULL,
      finished_at TEXT,
      mode TEXT NOT NULL,
      processed INTEGER NOT NULL DEFAULT 0,
      created INTEGER NOT NULL DEFAULT 0,
      updated INTEGER NOT NULL DEFAULT 0,
      disabled INTEGER NOT NULL DEFAULT 0,
      deleted INTEGER NOT NULL DEFAULT 0,
      skipped INTEGER NOT NULL DEFAULT 0,
      failed INTEGER NOT NULL DEFAULT 0,
      status TEXT NOT NULL,
      error TEXT NOT NULL DEFAULT '',
      note TEXT NOT NULL DEFAULT '');
    CREATE TABLE run_errors (
      run_id INTEGER NOT NULL,
      object_type TEXT NOT NULL,
      source_id TEXT NOT NULL,
      operation TEXT NOT NULL,
      message TEXT NOT NULL);
    CREATE INDEX run_errors_run ON run_errors (run_id);
    )sql",
    // v2: links are found through 64-bit keys (link_key() of pipeline, type and
    // id) instead of text indexes. A million links' key indexes take about
    // 20 MB each and stay in the page cache; the text indexes they replace took
    // 60 MB each, so a first sync of a million users read and rewrote index
    // pages from disk for every link. The key is not unique: a lookup also
    // compares the text columns, so a collision costs a row, not correctness.
    R"sql(
    CREATE TABLE links_v2 (
      id INTEGER PRIMARY KEY,
      pipeline TEXT NOT NULL,
      object_type INTEGER NOT NULL,
      source_key INTEGER NOT NULL,
      source_id TEXT NOT NULL,
      target_key INTEGER NOT NULL,
      target_id TEXT NOT NULL,
      hash INTEGER NOT NULL,
      written TEXT NOT NULL,
      source TEXT NOT NULL,
      source_hash INTEGER NOT NULL,
      created_by_pipeline INTEGER NOT NULL,
      disabled INTEGER NOT NULL DEFAULT 0);
    INSERT INTO links_v2 SELECT id, pipeline, object_type, link_key(pipeline, object_type, source_id), source_id,
      link_key(pipeline, object_type, target_id), target_id, hash, written, source, source_hash,
      created_by_pipeline, disabled FROM links;
    DROP TABLE links;
    ALTER TABLE links_v2 RENAME TO links;
    CREATE INDEX links_source ON links (source_key);
    CREATE INDEX links_target ON links (target_key);
    CREATE INDEX links_kind ON links (pipeline, object_type);
    )sql",
};

constexpr const char* kCacheSize = "PRAGMA cache_size=-65536";
constexpr const char* kKeyIndexes =
    "CREATE INDEX IF NOT EXISTS links_source ON links (source_key);"
    "CREATE INDEX IF NOT EXISTS links_target ON links (target_key)";

std::uint64_t fnv(std::string_view bytes, std::uint64_t h) {
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}

/// The lookup key of a link's source or target id within a pipeline.
std::int64_t link_key(std::string_view pipeline, int object_type, std::string_view id) {
  std::uint64_t h = fnv(pipeline, 1469598103934665603ull);
  h = fnv(std::string_view("\x1f", 1), h);
  h = (h ^ std::uint64_t(object_type)) * 1099511628211ull;
  h = fnv(id, h);
  return static_cast<std::int64_t>(h);
}

void link_key_sql(sqlite3_context* ctx, int, sqlite3_value** args) {
  auto text = [&](int i) {
    const unsigned char* p = sqlite3_value_text(args[i]);
    return std::string_view(p ? reinterpret_cast<const char*>(p) : "", std::size_t(sqlite3_value_bytes(args[i])));
  };
  sqlite3_result_int64(ctx, link_key(text(0), sqlite3_value_int(args[1]), text(2)));
}

std::string now_utc() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string column_text(sqlite3_stmt* st, int i) {
  auto p = sqlite3_column_text(st, i);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(st, i)))
           : std::string();
}

/// Resets a statement on scope exit, so an exception never leaves it busy.
struct Reset {
  sqlite3_stmt* st;
  ~Reset() {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
  }
};

void bind_text(sqlite3_stmt* st, int i, std::string_view text) {
  sqlite3_bind_text(st, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

/// For text that outlives the statement's step (the caller's link and ids):
/// not copied. Every use binds all its parameters again before stepping.
void bind_static(sqlite3_stmt* st, int i, std::string_view text) {
  sqlite3_bind_text(st, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

}  // namespace

struct StateStore::Statements {
  sqlite3_stmt* find_link = nullptr;
  sqlite3_stmt* link_at = nullptr;
  sqlite3_stmt* target_of = nullptr;
  sqlite3_stmt* link_id = nullptr;
  sqlite3_stmt* insert_link = nullptr;
  sqlite3_stmt* update_link = nullptr;
  sqlite3_stmt* delete_link = nullptr;
  sqlite3_stmt* source_for_target = nullptr;
  sqlite3_stmt* add_error = nullptr;
  sqlite3_stmt* add_intent = nullptr;
  sqlite3_stmt* clear_intent = nullptr;
};

StateStore::StateStore(const std::filesystem::path& path, std::string pipeline)
    : path_(path), pipeline_(std::move(pipeline)), st_(std::make_unique<Statements>()) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(ErrorKind::connection, "cannot open state store " + path.string() + ": " + message);
  }
  // A constructor that throws runs no destructor: what is open so far is
  // closed here (a refused store must not leak its connections).
  try {
    sqlite3_busy_timeout(db_, 10000);
    try {
      exec("PRAGMA journal_mode=WAL");
      exec("PRAGMA synchronous=NORMAL");
      // Links are looked up at random (source ids are GUIDs): a larger page
      // cache and fewer checkpoints keep a million-object run off the disk.
      exec(kCacheSize);
      exec("PRAGMA wal_autocheckpoint=10000");
      exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    } catch (const Error& e) {
      throw Error(ErrorKind::connection, "cannot use state store " + path.string() + ": " + e.what());
    }
    sqlite3_create_function(db_, "link_key", 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, link_key_sql, nullptr,
                            nullptr);
    int version = 0;
    {
      sqlite3_stmt* st = prepare("SELECT value FROM meta WHERE key = 'schema_version'");
      if (sqlite3_step(st) == SQLITE_ROW) version = std::stoi(column_text(st, 0));
      sqlite3_finalize(st);
    }
    if (version > kSchemaVersion)
      throw Error(ErrorKind::config, "state store " + path.string() + " has schema version " + std::to_string(version) +
                                         ", newer than this dirsync understands (" + std::to_string(kSchemaVersion) + ")");
    const bool created = version == 0;
    for (; version < kSchemaVersion; ++version) {
      exec("BEGIN IMMEDIATE");
      try {
        exec(kMigrations[version]);
        std::string set = "INSERT OR REPLACE INTO meta VALUES ('schema_version', '" + std::to_string(version + 1) + "')";
        exec(set.c_str());
        exec("COMMIT");
      } catch (...) {
        exec("ROLLBACK");
        throw;
      }
    }
    // A store from before this setting holds FNV-1a (object_hash.hpp).
    exec(created ? "INSERT OR IGNORE INTO meta VALUES ('object_hash', 'wide')"
                 : "INSERT OR IGNORE INTO meta VALUES ('object_hash', 'fnv1a')");
    {
      sqlite3_stmt* st = prepare("SELECT value FROM meta WHERE key = 'object_hash'");
      const std::string hash = sqlite3_step(st) == SQLITE_ROW ? column_text(st, 0) : "";
      sqlite3_finalize(st);
      if (hash == "wide") object_hash_ = ObjectHash::wide;
      else if (hash == "fnv1a") object_hash_ = ObjectHash::fnv1a;
      else
        throw Error(ErrorKind::config, "state store " + path.string() + " holds object hashes '" + hash +
                                           "', which this dirsync does not know (it knows 'wide' and 'fnv1a')");
    }
    // A run that loaded an empty store in bulk (begin_bulk_load) and died
    // before it rebuilt the key indexes left them dropped.
    exec(kKeyIndexes);
    // ?1 key, ?2 pipeline, ?3 object type, ?4 id: the key finds the rows, the
    // text columns settle a collision. INDEXED BY: without statistics the
    // planner would prefer links_kind, which matches two columns, and scan.
    const std::string by_source =
        " FROM links INDEXED BY links_source WHERE source_key = ?1 AND pipeline = ?2 AND object_type = ?3 AND source_id = ?4";
    // In read_link()'s order.
    const std::string link_columns = "SELECT id, target_id, hash, written, source, source_hash, created_by_pipeline, disabled";
    st_->find_link = prepare((link_columns + by_source).c_str());
    st_->link_at = prepare((link_columns + " FROM links WHERE id = ?1").c_str());
    st_->target_of = prepare(("SELECT target_id" + by_source).c_str());
    st_->link_id = prepare(("SELECT id" + by_source).c_str());
    st_->insert_link = prepare(
        "INSERT INTO links (source_key, pipeline, object_type, source_id, target_key, target_id, hash, written, source, "
        "source_hash, created_by_pipeline, disabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    st_->update_link = prepare(
        "UPDATE links SET target_key = ?5, target_id = ?6, hash = ?7, written = ?8, source = ?9, source_hash = ?10, "
        "created_by_pipeline = ?11, disabled = ?12 WHERE id = ?1");
    st_->delete_link = prepare(("DELETE" + by_source).c_str());
    st_->source_for_target = prepare(
        "SELECT source_id FROM links INDEXED BY links_target WHERE target_key = ?1 AND pipeline = ?2 AND object_type = ?3 AND target_id = ?4");
    st_->add_error = prepare("INSERT INTO run_errors VALUES (?1, ?2, ?3, ?4, ?5)");
    open_journal();
    st_->add_intent = prepare_on(journal_, "INSERT INTO intents (pipeline, object_type, source_ids, run_id) VALUES (?1, ?2, ?3, ?4)");
    st_->clear_intent = prepare_on(journal_, "DELETE FROM intents WHERE id = ?1");
  } catch (...) {
    release();
    throw;
  }
}

StateStore::~StateStore() { release(); }

void StateStore::release() {
  for (sqlite3_stmt* st : {st_->find_link, st_->link_at, st_->target_of, st_->link_id, st_->insert_link, st_->update_link, st_->delete_link, st_->source_for_target, st_->add_error,
                           st_->add_intent, st_->clear_intent})
    sqlite3_finalize(st);
  sqlite3_close(db_);
  sqlite3_close(journal_);
  if (lock_fd_ >= 0) close(lock_fd_);
}

// The intent journal is its own file with its own connection, so an intent
// commits while the main store's long write transaction is still open. The
// engine records a batch's intents while another thread commits the window of
// earlier batches and clears theirs: this connection is serialized (FULLMUTEX),
// one lock per batch.
void StateStore::open_journal() {
  std::string path = path_.string() + "-intents";
  if (sqlite3_open_v2(path.c_str(), &journal_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK)
    throw Error(ErrorKind::connection, "cannot open intent journal " + path);
  sqlite3_busy_timeout(journal_, 10000);
  const char* setup =
      // Each batch of a first sync adds a row of a thousand ids and deletes
      // it again: checkpoints every 1,000 pages (SQLite's default) were a
      // hundred fsyncs a million users; every 10,000, as the store, ten.
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=10000;"
      "CREATE TABLE IF NOT EXISTS intents (id INTEGER PRIMARY KEY, pipeline TEXT NOT NULL, "
      "object_type INTEGER NOT NULL, source_ids TEXT NOT NULL, run_id INTEGER NOT NULL)";
  if (sqlite3_exec(journal_, setup, nullptr, nullptr, nullptr) != SQLITE_OK)
    throw Error(ErrorKind::connection, "cannot use intent journal " + path + ": " + sqlite3_errmsg(journal_));
}

sqlite3_stmt* StateStore::prepare_on(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK)
    throw Error(ErrorKind::internal, std::string("state store: ") + sqlite3_errmsg(db));
  return st;
}

sqlite3_stmt* StateStore::prepare(const char* sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK)
    throw Error(ErrorKind::internal, std::string("state store: ") + sqlite3_errmsg(db_));
  return st;
}

void StateStore::exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    throw Error(ErrorKind::connection, "state store " + path_.string() + ": " + text);
  }
}

std::int64_t StateStore::begin_run(std::string_view mode) {
  if (lock_fd_ < 0) {
    std::string lock_path = path_.string() + ".lock";
    lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) throw Error(ErrorKind::connection, "cannot create lock file " + lock_path);
    if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      close(lock_fd_);
      lock_fd_ = -1;
      throw Error(ErrorKind::config, "pipeline '" + pipeline_ + "' is already running (lock " + lock_path + " is held)");
    }
  }
  begin();
  sqlite3_stmt* st = prepare(
      "UPDATE runs SET status = 'Failed', finished_at = ?2, "
      "error = 'interrupted: the process ended before the run finished' WHERE pipeline = ?1 AND status = 'Running'");
  bind_text(st, 1, pipeline_);
  bind_text(st, 2, now_utc());
  sqlite3_step(st);
  sqlite3_finalize(st);
  st = prepare("INSERT INTO runs (pipeline, started_at, mode, status) VALUES (?1, ?2, ?3, 'Running')");
  bind_text(st, 1, pipeline_);
  bind_text(st, 2, now_utc());
  bind_text(st, 3, mode);
  sqlite3_step(st);
  sqlite3_finalize(st);
  std::int64_t id = sqlite3_last_insert_rowid(db_);
  commit();
  return id;
}

void StateStore::finish_run(std::int64_t run_id, std::string_view status, const RunCounts& c, std::string_view mode,
                            std::string_view error, std::string_view note, const std::optional<std::string>& cursor,
                            const std::string& config_hash) {
  begin();
  try {
    sqlite3_stmt* st = prepare(
        "UPDATE runs SET finished_at = ?2, status = ?3, processed = ?4, created = ?5, updated = ?6, disabled = ?7, "
        "deleted = ?8, skipped = ?9, failed = ?10, error = ?11, note = ?12, mode = ?13 WHERE id = ?1");
    sqlite3_bind_int64(st, 1, run_id);
    bind_text(st, 2, now_utc());
    bind_text(st, 3, status);
    std::int64_t values[] = {c.processed, c.created, c.updated, c.disabled, c.deleted, c.skipped, c.failed};
    for (int i = 0; i < 7; ++i) sqlite3_bind_int64(st, 4 + i, values[i]);
    bind_text(st, 11, error);
    bind_text(st, 12, note);
    bind_text(st, 13, mode);
    sqlite3_step(st);
    sqlite3_finalize(st);
    if (cursor) {
      st = prepare(
          "INSERT INTO cursors (pipeline, cursor, config_hash, updated_at) VALUES (?1, ?2, ?3, ?4) "
          "ON CONFLICT (pipeline) DO UPDATE SET cursor = excluded.cursor, config_hash = excluded.config_hash, "
          "updated_at = excluded.updated_at");
      bind_text(st, 1, pipeline_);
      if (cursor->empty()) sqlite3_bind_null(st, 2); else bind_text(st, 2, *cursor);
      bind_text(st, 3, config_hash);
      bind_text(st, 4, now_utc());
      sqlite3_step(st);
      sqlite3_finalize(st);
    }
    commit();
  } catch (...) {
    rollback();
    throw;
  }
}

Link StateStore::read_link(sqlite3_stmt* st, int c) {
  Link link;
  link.rowid = sqlite3_column_int64(st, c);
  link.target_id = column_text(st, c + 1);
  link.hash = static_cast<std::uint64_t>(sqlite3_column_int64(st, c + 2));
  link.written = column_text(st, c + 3);
  link.source = column_text(st, c + 4);
  link.source_hash = static_cast<std::uint64_t>(sqlite3_column_int64(st, c + 5));
  link.created_by_pipeline = sqlite3_column_int(st, c + 6) != 0;
  link.disabled = sqlite3_column_int(st, c + 7) != 0;
  return link;
}

void StateStore::bind_key(sqlite3_stmt* st, ObjectType type, std::string_view id) {
  sqlite3_bind_int64(st, 1, link_key(pipeline_, static_cast<int>(type), id));
  bind_static(st, 2, pipeline_);
  sqlite3_bind_int(st, 3, static_cast<int>(type));
  bind_static(st, 4, id);
}

std::optional<Link> StateStore::find_link(ObjectType type, std::string_view source_id) {
  interrupt_bulk_load();
  sqlite3_stmt* st = st_->find_link;
  Reset reset{st};
  bind_key(st, type, source_id);
  if (sqlite3_step(st) != SQLITE_ROW) return std::nullopt;
  return read_link(st, 0);
}

std::optional<Link> StateStore::link_at(std::int64_t rowid) {
  sqlite3_stmt* st = st_->link_at;
  Reset reset{st};
  sqlite3_bind_int64(st, 1, rowid);
  if (sqlite3_step(st) != SQLITE_ROW) return std::nullopt;
  return read_link(st, 0);
}

std::optional<std::string> StateStore::target_of(ObjectType type, std::string_view source_id) {
  interrupt_bulk_load();
  sqlite3_stmt* st = st_->target_of;
  Reset reset{st};
  bind_key(st, type, source_id);
  if (sqlite3_step(st) != SQLITE_ROW) return std::nullopt;
  return column_text(st, 0);
}

std::optional<std::string> StateStore::source_for_target(ObjectType type, std::string_view target_id) {
  interrupt_bulk_load();
  sqlite3_stmt* st = st_->source_for_target;
  Reset reset{st};
  bind_key(st, type, target_id);
  if (sqlite3_step(st) != SQLITE_ROW) return std::nullopt;
  return column_text(st, 0);
}

// A first sync into an empty store inserts a million links whose key
// indexes are random (hashes of GUIDs): each window then rewrote most pages of
// both indexes, and once they outgrew the page cache every insert read one
// back from disk (a million users took 23 s, 200,000 took 3). Without the
// indexes the inserts only append; CREATE INDEX then sorts once. Any lookup
// by key ends the bulk load first, so a run that does look up stays correct.
bool StateStore::begin_bulk_load() {
  sqlite3_stmt* st = prepare("SELECT 1 FROM links LIMIT 1");
  bool empty = sqlite3_step(st) != SQLITE_ROW;
  sqlite3_finalize(st);
  if (!empty) return false;
  // Appended pages are not read again during the load: a small cache
  // spills them as a large one would at commit, in less memory.
  exec("DROP INDEX IF EXISTS links_source; DROP INDEX IF EXISTS links_target; PRAGMA cache_size=-8192");
  // WAL writes every page twice, to the log and again at the checkpoint. A
  // rollback journal records only pages that existed before the transaction,
  // and a load into an empty table appends: each page is written once (a
  // million links: 1.5 GB of writes and 0.9 million syscalls fewer). A crash
  // still rolls back to the last commit. FULL, because NORMAL without WAL may
  // lose a commit to a power cut. Another connection on the file (a status
  // query) keeps WAL in place, and the load is then only slower.
  if (journal_mode("truncate") == "truncate") {
    exec("PRAGMA synchronous=FULL");
    rollback_journal_ = true;
  }
  bulk_ = true;
  return true;
}

std::string StateStore::journal_mode(const char* mode) {
  const std::string sql = std::string("PRAGMA journal_mode=") + mode;
  sqlite3_stmt* st = prepare(sql.c_str());
  const std::string now = sqlite3_step(st) == SQLITE_ROW ? column_text(st, 0) : "";
  sqlite3_finalize(st);
  return now;
}

// Back to WAL once no transaction is open (a mode change inside one fails):
// readers then see the last commit while later runs write.
void StateStore::restore_wal() {
  if (!rollback_journal_ || !sqlite3_get_autocommit(db_)) return;
  if (journal_mode("wal") != "wal")
    throw Error(ErrorKind::connection, "state store " + path_.string() + ": cannot return to WAL journal mode");
  exec("PRAGMA synchronous=NORMAL");
  rollback_journal_ = false;
}

// The small cache stays for the rest of the run: only the run's summary
// follows the index build. The next run opens the store with the full cache.
void StateStore::end_bulk_load() {
  if (!bulk_) return;
  bulk_ = false;
  // CREATE INDEX sorts in runs the size of the page cache, then merges them:
  // runs of 2 MB sort in the CPU's caches. A million links' two indexes took
  // 1.44 s with it against 1.81-1.99 s with the load's 8 MB (and 2.3 s with
  // 64 MB), in less memory.
  exec("PRAGMA cache_size=-2048");
  exec(kKeyIndexes);
  restore_wal();
}

// Each batch's intent is written and deleted again, so a first sync leaves
// tens of MB of the journal's WAL for the close to copy and delete, on the
// run's last stretch (and deleting a file is slow on a disk mounted with
// `discard`). Best effort: what a reader holds back goes at the close.
void StateStore::checkpoint_journal() {
  sqlite3_wal_checkpoint_v2(journal_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
}

// A lookup in the middle of a load: the run goes on looking up, with the
// full cache.
void StateStore::interrupt_bulk_load() {
  if (!bulk_) return;
  end_bulk_load();
  exec(kCacheSize);
}

void StateStore::begin() { exec("BEGIN IMMEDIATE"); }
bool StateStore::in_transaction() const { return !sqlite3_get_autocommit(db_); }
void StateStore::begin_read() { exec("BEGIN"); }
void StateStore::commit() {
  exec("COMMIT");
  if (!bulk_) restore_wal();  // a load interrupted inside a transaction
}
void StateStore::rollback() {
  if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

// No UNIQUE constraint to upsert against (the key index is not unique), so
// an insert is preceded by a probe of the key index, which is in the cache.
std::int64_t StateStore::put_link(ObjectType type, std::string_view source_id, const Link& link) {
  interrupt_bulk_load();
  Link located = link;
  located.rowid = 0;
  {
    sqlite3_stmt* st = st_->link_id;
    Reset reset{st};
    bind_key(st, type, source_id);
    if (sqlite3_step(st) == SQLITE_ROW) located.rowid = sqlite3_column_int64(st, 0);
  }
  return write_link(type, source_id, located);
}

std::int64_t StateStore::write_link(ObjectType type, std::string_view source_id, const Link& link) {
  const std::int64_t id = link.rowid;
  sqlite3_stmt* st = id ? st_->update_link : st_->insert_link;
  Reset reset{st};
  if (id) {
    sqlite3_bind_int64(st, 1, id);
  } else {
    bind_key(st, type, source_id);
  }
  sqlite3_bind_int64(st, 5, link_key(pipeline_, static_cast<int>(type), link.target_id));
  bind_static(st, 6, link.target_id);
  sqlite3_bind_int64(st, 7, static_cast<sqlite3_int64>(link.hash));
  // A blob: a user's `written` is a binary fingerprint (sync/written.hpp).
  sqlite3_bind_blob(st, 8, link.written.data(), static_cast<int>(link.written.size()), SQLITE_STATIC);
  bind_static(st, 9, link.source);
  sqlite3_bind_int64(st, 10, static_cast<sqlite3_int64>(link.source_hash));
  sqlite3_bind_int(st, 11, link.created_by_pipeline ? 1 : 0);
  sqlite3_bind_int(st, 12, link.disabled ? 1 : 0);
  if (sqlite3_step(st) != SQLITE_DONE)
    throw Error(ErrorKind::connection, std::string("state store: cannot write link: ") + sqlite3_errmsg(db_));
  return id ? id : sqlite3_last_insert_rowid(db_);
}

void StateStore::delete_link(ObjectType type, std::string_view source_id) {
  interrupt_bulk_load();
  sqlite3_stmt* st = st_->delete_link;
  Reset reset{st};
  bind_key(st, type, source_id);
  sqlite3_step(st);
}

void StateStore::add_error(std::int64_t run_id, const RunError& e) {
  sqlite3_stmt* st = st_->add_error;
  Reset reset{st};
  sqlite3_bind_int64(st, 1, run_id);
  bind_text(st, 2, e.object_type);
  bind_text(st, 3, e.source_id);
  bind_text(st, 4, e.operation);
  bind_text(st, 5, e.message);
  sqlite3_step(st);
}

std::int64_t StateStore::add_intents(ObjectType type, std::span<const std::string_view> source_ids,
                                     std::int64_t run_id) {
  // A JSON list of strings, written straight from the ids: a batch of a
  // first sync is a thousand of them, once per batch.
  std::string ids = "[";
  for (std::string_view id : source_ids) {
    if (ids.size() > 1) ids += ',';
    append_json_string(ids, id);
  }
  ids += ']';
  sqlite3_stmt* st = st_->add_intent;
  Reset reset{st};
  bind_text(st, 1, pipeline_);
  sqlite3_bind_int(st, 2, static_cast<int>(type));
  bind_static(st, 3, ids);
  sqlite3_bind_int64(st, 4, run_id);
  if (sqlite3_step(st) != SQLITE_DONE)
    throw Error(ErrorKind::connection, std::string("state store: cannot record intents: ") + sqlite3_errmsg(journal_));
  return sqlite3_last_insert_rowid(journal_);
}

void StateStore::clear_intents(std::int64_t intent_id) {
  sqlite3_stmt* st = st_->clear_intent;
  Reset reset{st};
  sqlite3_bind_int64(st, 1, intent_id);
  sqlite3_step(st);
}

void StateStore::clear_intents_before(std::int64_t run_id) {
  sqlite3_stmt* st = prepare_on(journal_, "DELETE FROM intents WHERE pipeline = ?1 AND run_id < ?2");
  bind_text(st, 1, pipeline_);
  sqlite3_bind_int64(st, 2, run_id);
  sqlite3_step(st);
  sqlite3_finalize(st);
}

std::vector<std::string> StateStore::intents(ObjectType type) {
  std::vector<std::string> out;
  sqlite3_stmt* st = prepare_on(journal_, "SELECT source_ids FROM intents WHERE pipeline = ?1 AND object_type = ?2");
  bind_text(st, 1, pipeline_);
  sqlite3_bind_int(st, 2, static_cast<int>(type));
  while (sqlite3_step(st) == SQLITE_ROW) {
    Value ids = parse_json(column_text(st, 0));
    if (ids.is_list())
      for (const Value& id : ids.as_list()) out.push_back(id.to_string());
  }
  sqlite3_finalize(st);
  return out;
}

void StateStore::for_each_link_impl(ObjectType type, const std::function<void(std::int64_t, std::string, Link)>& fn,
                                    const std::function<bool(std::int64_t)>& wanted) {
  constexpr const char* kColumns =
      "SELECT source_id, id, target_id, hash, written, source, source_hash, created_by_pipeline, disabled FROM links ";
  // Filtered: the rowids come from links_kind alone (a covering index), and
  // only the wanted rows are read from the table.
  const std::string scan = std::string(wanted ? "SELECT id FROM links " : kColumns) +
                           "WHERE pipeline = ?1 AND object_type = ?2 ORDER BY id";
  sqlite3_stmt* st = prepare(scan.c_str());
  sqlite3_stmt* row = wanted ? prepare((std::string(kColumns) + "WHERE id = ?1").c_str()) : nullptr;
  bind_text(st, 1, pipeline_);
  sqlite3_bind_int(st, 2, static_cast<int>(type));
  try {
    while (sqlite3_step(st) == SQLITE_ROW) {
      if (!wanted) {
        Link link = read_link(st, 1);
        fn(link.rowid, column_text(st, 0), std::move(link));
        continue;
      }
      const std::int64_t id = sqlite3_column_int64(st, 0);
      if (!wanted(id)) continue;
      Reset reset{row};
      sqlite3_bind_int64(row, 1, id);
      if (sqlite3_step(row) != SQLITE_ROW) continue;
      Link link = read_link(row, 1);
      fn(id, column_text(row, 0), std::move(link));
    }
  } catch (...) {
    sqlite3_finalize(st);
    sqlite3_finalize(row);
    throw;
  }
  sqlite3_finalize(st);
  sqlite3_finalize(row);
}

std::int64_t StateStore::count_links(ObjectType type) {
  sqlite3_stmt* st = prepare("SELECT count(*) FROM links WHERE pipeline = ?1 AND object_type = ?2");
  bind_text(st, 1, pipeline_);
  sqlite3_bind_int(st, 2, static_cast<int>(type));
  std::int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_finalize(st);
  return n;
}

bool StateStore::has_links(ObjectType type) {
  sqlite3_stmt* st = prepare("SELECT 1 FROM links WHERE pipeline = ?1 AND object_type = ?2 LIMIT 1");
  bind_text(st, 1, pipeline_);
  sqlite3_bind_int(st, 2, static_cast<int>(type));
  bool any = sqlite3_step(st) == SQLITE_ROW;
  sqlite3_finalize(st);
  return any;
}

std::int64_t StateStore::max_link_rowid() {
  sqlite3_stmt* st = prepare("SELECT coalesce(max(id), 0) FROM links");
  std::int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_finalize(st);
  return n;
}

std::optional<std::string> StateStore::cursor() {
  sqlite3_stmt* st = prepare("SELECT cursor FROM cursors WHERE pipeline = ?1");
  bind_text(st, 1, pipeline_);
  std::optional<std::string> out;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) out = column_text(st, 0);
  sqlite3_finalize(st);
  return out;
}

std::string StateStore::config_hash() {
  sqlite3_stmt* st = prepare("SELECT config_hash FROM cursors WHERE pipeline = ?1");
  bind_text(st, 1, pipeline_);
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW) out = column_text(st, 0);
  sqlite3_finalize(st);
  return out;
}

std::vector<RunRow> StateStore::runs(int limit) {
  std::vector<RunRow> out;
  sqlite3_stmt* st = prepare(
      "SELECT id, pipeline, started_at, coalesce(finished_at, ''), mode, status, error, note, processed, created, "
      "updated, disabled, deleted, skipped, failed FROM runs WHERE pipeline = ?1 ORDER BY id DESC LIMIT ?2");
  bind_text(st, 1, pipeline_);
  sqlite3_bind_int(st, 2, limit);
  while (sqlite3_step(st) == SQLITE_ROW) {
    RunRow r;
    r.id = sqlite3_column_int64(st, 0);
    r.pipeline = column_text(st, 1);
    r.started_at = column_text(st, 2);
    r.finished_at = column_text(st, 3);
    r.mode = column_text(st, 4);
    r.status = column_text(st, 5);
    r.error = column_text(st, 6);
    r.note = column_text(st, 7);
    std::int64_t* counts[] = {&r.counts.processed, &r.counts.created, &r.counts.updated, &r.counts.disabled,
                              &r.counts.deleted,   &r.counts.skipped, &r.counts.failed};
    for (int i = 0; i < 7; ++i) *counts[i] = sqlite3_column_int64(st, 8 + i);
    out.push_back(std::move(r));
  }
  sqlite3_finalize(st);
  return out;
}

std::vector<RunError> StateStore::run_errors(std::int64_t run_id, int limit) {
  std::vector<RunError> out;
  sqlite3_stmt* st = prepare(
      "SELECT object_type, source_id, operation, message FROM run_errors WHERE run_id = ?1 LIMIT ?2");
  sqlite3_bind_int64(st, 1, run_id);
  sqlite3_bind_int(st, 2, limit);
  while (sqlite3_step(st) == SQLITE_ROW)
    out.push_back({column_text(st, 0), column_text(st, 1), column_text(st, 2), column_text(st, 3)});
  sqlite3_finalize(st);
  return out;
}

}  // namespace dirsync
