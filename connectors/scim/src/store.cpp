#include "store.hpp"

#include <dirsync/error.hpp>

#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Timestamp.h>

#include <sqlite3.h>

namespace dirsync::scim {

namespace {

[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  throw Error(ErrorKind::internal, "scim store: " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

int kind_code(ResourceKind k) { return k == ResourceKind::user ? 0 : 1; }

}  // namespace

std::string now_iso8601() {
  return Poco::DateTimeFormatter::format(Poco::Timestamp(), "%Y-%m-%dT%H:%M:%S.%iZ");
}

// ------------------------------------------------------------------ Stmt ---

Stmt::Stmt(sqlite3* db, const char* sql) : db_(db) {
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK)
    fail(db, std::string("cannot prepare '") + sql + "'");
}
Stmt::~Stmt() { sqlite3_finalize(stmt_); }
Stmt& Stmt::bind(int i, std::int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}
Stmt& Stmt::bind(int i, std::string_view v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind_null(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}
bool Stmt::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, "step failed");
}
void Stmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}
std::int64_t Stmt::integer(int col) const { return sqlite3_column_int64(stmt_, col); }
std::string Stmt::text(int col) const { return std::string(view(col)); }
std::string_view Stmt::view(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string_view{};
}
bool Stmt::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

// ------------------------------------------------------------ Connection ---

Connection::Connection(const std::filesystem::path& path, bool sync_full) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string message = "cannot open '" + path.string() + "': " + (db_ ? sqlite3_errmsg(db_) : "out of memory");
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(ErrorKind::config, "scim store: " + message);
  }
  sqlite3_busy_timeout(db_, 10000);
  exec("PRAGMA journal_mode=WAL");
  exec(sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
}

Connection::~Connection() {
  cache_.clear();
  sqlite3_close(db_);
}

void Connection::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string message = err ? err : "unknown error";
    sqlite3_free(err);
    throw Error(ErrorKind::internal, std::string("scim store: '") + sql + "' failed: " + message);
  }
}

Stmt& Connection::stmt(const char* sql) {
  for (auto& [key, s] : cache_) {
    if (key == sql) {
      s->reset();
      return *s;
    }
  }
  cache_.emplace_back(sql, std::make_unique<Stmt>(db_, sql));
  return *cache_.back().second;
}

// -------------------------------------------------------------------- Tx ---

namespace {

constexpr const char* kGet = "SELECT version, json FROM resources WHERE kind=?1 AND id=?2";
// INDEXED BY: without statistics SQLite 3.40 prefers a scan of the primary
// key's kind prefix to these two-column equality lookups.
constexpr const char* kByName =
    "SELECT id FROM resources INDEXED BY resources_by_name WHERE kind=0 AND name_lc=?1";
constexpr const char* kPut =
    "INSERT INTO resources(kind, id, name_lc, external_id, version, json) VALUES(?1,?2,?3,?4,?5,?6) "
    "ON CONFLICT(kind, id) DO UPDATE SET name_lc=excluded.name_lc, external_id=excluded.external_id, "
    "version=excluded.version, json=excluded.json";
constexpr const char* kErase = "DELETE FROM resources WHERE kind=?1 AND id=?2";
constexpr const char* kEvent = "INSERT INTO events(kind, change, id, json, at) VALUES(?1,?2,?3,?4,?5)";

std::optional<StoredResource> get_on(Connection& c, ResourceKind kind, const std::string& id) {
  Stmt& s = c.stmt(kGet);
  s.bind(1, kind_code(kind)).bind(2, id);
  if (!s.step()) return std::nullopt;
  StoredResource r;
  r.id = id;
  r.version = s.integer(0);
  Value v = parse_json(s.view(1));
  r.resource = std::move(v.as_object());
  s.reset();
  return r;
}

}  // namespace

std::optional<StoredResource> Tx::get(ResourceKind kind, const std::string& id) { return get_on(c_, kind, id); }

std::optional<std::string> Tx::user_id_by_name(const std::string& user_name) {
  Stmt& s = c_.stmt(kByName);
  s.bind(1, to_lower(user_name));
  if (!s.step()) return std::nullopt;
  std::string id = s.text(0);
  s.reset();
  return id;
}

void Tx::put(ResourceKind kind, const std::string& id, std::int64_t version, const Object& resource,
             const std::string& json) {
  const char* name_key = kind == ResourceKind::user ? "userName" : "displayName";
  const Value* name = resource.find(name_key);
  const Value* external = resource.find("externalId");
  Stmt& s = c_.stmt(kPut);
  s.bind(1, kind_code(kind)).bind(2, id);
  if (name && name->is_string()) {
    s.bind(3, to_lower(name->as_string()));
  } else {
    s.bind_null(3);
  }
  if (external && external->is_string()) {
    s.bind(4, external->as_string());
  } else {
    s.bind_null(4);
  }
  s.bind(5, version).bind(6, json);
  s.step();
  s.reset();
}

void Tx::erase(ResourceKind kind, const std::string& id) {
  Stmt& s = c_.stmt(kErase);
  s.bind(1, kind_code(kind)).bind(2, id);
  s.step();
  s.reset();
}

void Tx::append_event(ResourceKind kind, EventKind change, const std::string& id, const std::string& json) {
  Stmt& s = c_.stmt(kEvent);
  s.bind(1, kind_code(kind)).bind(2, change == EventKind::upsert ? "upsert" : "deleted").bind(3, id).bind(4, json);
  s.bind(5, now_iso8601());
  s.step();
  s.reset();
}

void Tx::prune_events(std::int64_t seq) {
  static constexpr const char* kPrune = "DELETE FROM events WHERE seq <= ?1";
  static constexpr const char* kMark =
      "INSERT INTO meta(key, value) VALUES('pruned_through', ?1) "
      "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)";
  Stmt& p = c_.stmt(kPrune);
  p.bind(1, seq);
  p.step();
  p.reset();
  Stmt& m = c_.stmt(kMark);
  m.bind(1, seq);
  m.step();
  m.reset();
}

// ----------------------------------------------------------------- Store ---

Store::Store(std::filesystem::path path, bool sync_full) : path_(std::move(path)), sync_full_(sync_full) {
  writer_ = std::make_unique<Connection>(path_, sync_full_);
  writer_->exec(
      "CREATE TABLE IF NOT EXISTS resources(kind INTEGER NOT NULL, id TEXT NOT NULL, name_lc TEXT, "
      "external_id TEXT, version INTEGER NOT NULL, json TEXT NOT NULL, PRIMARY KEY(kind, id)) WITHOUT ROWID;"
      "CREATE INDEX IF NOT EXISTS resources_by_name ON resources(kind, name_lc);"
      "CREATE INDEX IF NOT EXISTS resources_by_external_id ON resources(kind, external_id);"
      "CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER NOT NULL, "
      "change TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL, at TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);");
  thread_ = std::thread([this] { writer_loop(); });
}

Store::~Store() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Store::on_commit(std::function<void()> hook) {
  std::lock_guard lock(hook_mutex_);
  hook_ = std::move(hook);
}

void Store::write(const std::function<void(Tx&)>& job) {
  Job j{&job, nullptr, false, {}};
  std::unique_lock lock(mutex_);
  if (stopping_) throw Error(ErrorKind::internal, "scim store: closed");
  queue_.push_back(&j);
  if (queue_.size() == 1) cv_.notify_one();
  j.cv.wait(lock, [&] { return j.done; });
  if (j.error) std::rethrow_exception(j.error);
}

void Store::writer_loop() {
  constexpr std::size_t kMaxBatch = 256;
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping with nothing left
    std::vector<Job*> batch;
    while (!queue_.empty() && batch.size() < kMaxBatch) {
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
    lock.unlock();
    bool wrote = false;
    try {
      writer_->exec("BEGIN IMMEDIATE");
      Tx tx(*writer_);
      for (Job* j : batch) {
        writer_->exec("SAVEPOINT job");
        try {
          (*j->fn)(tx);
          writer_->exec("RELEASE job");
          wrote = true;
        } catch (...) {
          j->error = std::current_exception();
          writer_->exec("ROLLBACK TO job");
          writer_->exec("RELEASE job");
        }
      }
      writer_->exec("COMMIT");
    } catch (...) {
      // The commit itself failed: nothing of the batch is durable.
      std::exception_ptr e = std::current_exception();
      try {
        writer_->exec("ROLLBACK");
      } catch (...) {
      }
      for (Job* j : batch) j->error = e;
      wrote = false;
    }
    if (wrote) {
      std::lock_guard hook_lock(hook_mutex_);
      if (hook_) hook_();
    }
    lock.lock();
    for (Job* j : batch) {
      j->done = true;
      j->cv.notify_one();
    }
  }
}

Store::Lease::~Lease() {
  if (!c_) return;
  std::lock_guard lock(s_.pool_mutex_);
  s_.pool_.push_back(std::move(c_));
}

Store::Lease Store::lease() {
  {
    std::lock_guard lock(pool_mutex_);
    if (!pool_.empty()) {
      auto c = std::move(pool_.back());
      pool_.pop_back();
      return Lease(*this, std::move(c));
    }
  }
  return Lease(*this, std::make_unique<Connection>(path_, sync_full_));
}

std::optional<StoredResource> Store::get(ResourceKind kind, const std::string& id) {
  Lease c = lease();
  return get_on(*c, kind, id);
}

std::vector<std::string> Store::find_json(ResourceKind kind, std::string_view column, const std::string& value) {
  static constexpr const char* kById = "SELECT json FROM resources WHERE kind=?1 AND id=?2";
  static constexpr const char* kByExternal =
      "SELECT json FROM resources INDEXED BY resources_by_external_id WHERE kind=?1 AND external_id=?2";
  static constexpr const char* kByNameLc =
      "SELECT json FROM resources INDEXED BY resources_by_name WHERE kind=?1 AND name_lc=?2";
  const char* sql = column == "id" ? kById : column == "externalId" ? kByExternal : kByNameLc;
  Lease c = lease();
  Stmt& s = c->stmt(sql);
  s.bind(1, kind_code(kind)).bind(2, column == "name" ? to_lower(value) : value);
  std::vector<std::string> out;
  while (s.step()) out.push_back(s.text(0));
  s.reset();
  return out;
}

void Store::scan(ResourceKind kind, const std::function<bool(std::string_view json)>& fn) {
  static constexpr const char* kScan = "SELECT json FROM resources WHERE kind=?1 ORDER BY id";
  Lease c = lease();
  Stmt& s = c->stmt(kScan);
  s.bind(1, kind_code(kind));
  try {
    while (s.step()) {
      if (!fn(s.view(0))) break;
    }
  } catch (...) {
    s.reset();
    throw;
  }
  s.reset();
}

std::int64_t Store::scalar(const char* sql, std::optional<std::int64_t> arg) {
  Lease c = lease();
  Stmt& s = c->stmt(sql);
  if (arg) s.bind(1, *arg);
  s.step();
  std::int64_t n = s.integer(0);
  s.reset();
  return n;
}

std::int64_t Store::count(ResourceKind kind) {
  static constexpr const char* kCount = "SELECT count(*) FROM resources WHERE kind=?1";
  return scalar(kCount, kind_code(kind));
}

std::vector<std::string> Store::page(ResourceKind kind, std::int64_t offset, std::int64_t limit) {
  static constexpr const char* kPage = "SELECT json FROM resources WHERE kind=?1 ORDER BY id LIMIT ?2 OFFSET ?3";
  Lease c = lease();
  Stmt& s = c->stmt(kPage);
  s.bind(1, kind_code(kind)).bind(2, limit).bind(3, offset);
  std::vector<std::string> out;
  while (s.step()) out.push_back(s.text(0));
  s.reset();
  return out;
}

std::int64_t Store::max_seq() {
  static constexpr const char* kMax = "SELECT coalesce(max(seq), 0) FROM events";
  return scalar(kMax, std::nullopt);
}

std::int64_t Store::pruned_through() {
  static constexpr const char* kPruned = "SELECT coalesce(max(value), 0) FROM meta WHERE key = 'pruned_through'";
  return scalar(kPruned, std::nullopt);
}

void Store::snapshot(const std::function<void(Connection&)>& fn) {
  Lease c = lease();
  c->exec("BEGIN");
  try {
    fn(*c);
  } catch (...) {
    c->exec("ROLLBACK");
    throw;
  }
  c->exec("COMMIT");
}

}  // namespace dirsync::scim
