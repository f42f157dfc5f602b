// The `sqlite` sink: users, groups and memberships as tables of one SQLite file.
//
// Guarantees:
// - One transaction per apply(). When apply returns, the batch is durable; when the database
//   itself fails (I/O, disk full, locked past busy_timeout) apply throws Error(connection) and
//   nothing of the batch is written.
// - A per-object failure (say, a UNIQUE index an operator added, or an update of a row someone
//   deleted) becomes that object's OpResult and the rest of the batch commits. The fast path
//   runs without savepoints; only a batch that saw a failure is rolled back and replayed with one
//   SAVEPOINT per operation, so a failed object never leaves half of its statements behind.
// - The schema only grows: tables and columns are created on first use and never dropped or
//   retyped, so hand-written views and queries keep working.
// - Target ids are UUIDs in the version-7 layout (time, then a counter), so inserts append to
//   the primary-key index instead of touching random pages (DESIGN.md: about 2x on 1M rows).
#include <dirsync/plugin.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace {

using namespace dirsync;
namespace fs = std::filesystem;

std::string quote(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out += '"';
}

// Column affinity per mapped type. `any` gets none, so values keep the type they arrive with.
std::string_view column_type(TargetType type) {
  switch (type) {
    case TargetType::boolean:
    case TargetType::integer: return " INTEGER";
    case TargetType::any: return "";
    default: return " TEXT";
  }
}

TargetType type_of(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::boolean: return TargetType::boolean;
    case Value::Kind::integer: return TargetType::integer;
    case Value::Kind::list:
    case Value::Kind::object: return TargetType::list;
    case Value::Kind::string: return TargetType::string;
    default: return TargetType::any;
  }
}

// The object's own data broke a rule; any other code means the database is unusable.
bool is_per_object(int rc) {
  rc &= 0xff;
  return rc == SQLITE_CONSTRAINT || rc == SQLITE_MISMATCH || rc == SQLITE_TOOBIG;
}

struct ObjectFailure {
  std::string message;
};

// Time-ordered UUIDs: 48 bits of Unix milliseconds, then a 74-bit counter starting at a random
// point (top bits clear so it cannot wrap). Later runs start at a later time, so they append too.
class IdGenerator {
 public:
  IdGenerator() {
    std::random_device rd;
    std::uint64_t r = (std::uint64_t{rd()} << 32) ^ rd();
    high_ = r & 0x3ff;                                          // 12 bits, top two clear
    low_ = ((std::uint64_t{rd()} << 32) ^ rd()) & ((1ull << 61) - 1);  // 62 bits, top clear
    ms_ = std::uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count());
  }

  std::string next() {
    if (++low_ == (1ull << 62)) low_ = 0, ++high_;
    std::uint64_t a = (ms_ << 16) | 0x7000 | (high_ & 0xfff);
    std::uint64_t b = (0b10ull << 62) | low_;
    static constexpr char hex[] = "0123456789abcdef";
    std::string out(36, '-');
    int pos = 0;
    auto put = [&](std::uint64_t word) {
      for (int shift = 60; shift >= 0; shift -= 4) {
        if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
        out[pos++] = hex[(word >> shift) & 0xf];
      }
    };
    put(a);
    put(b);
    return out;
  }

 private:
  std::uint64_t ms_, high_, low_;
};

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

class SqliteSink final : public Sink {
 public:
  explicit SqliteSink(const PluginContext& ctx) {
    const Settings& s = ctx.settings;
    path_ = s.string("path");
    if (path_.empty()) throw Error(ErrorKind::config, "sqlite sink: `path` is empty");
    if (path_.is_relative()) path_ = ctx.base_dir / path_;
    tables_[0].name = s.string("users_table", "users");
    tables_[1].name = s.string("groups_table", "groups");
    members_table_ = s.string("members_table", "group_members");
    if (tables_[0].name.empty() || tables_[1].name.empty() || members_table_.empty() ||
        tables_[0].name == tables_[1].name || members_table_ == tables_[0].name ||
        members_table_ == tables_[1].name)
      throw Error(ErrorKind::config, "sqlite sink: users_table, groups_table and members_table must be "
                                     "three different non-empty names");
    busy_timeout_ms_ = s.duration_ms("busy_timeout", 5000);
    synchronous_ = s.string("synchronous", "NORMAL");
    for (char& c : synchronous_) c = char(std::toupper(static_cast<unsigned char>(c)));
    if (synchronous_ != "OFF" && synchronous_ != "NORMAL" && synchronous_ != "FULL" && synchronous_ != "EXTRA")
      throw Error(ErrorKind::config, "sqlite sink: synchronous is '" + synchronous_ +
                                         "', expected OFF, NORMAL, FULL or EXTRA");
  }

  ~SqliteSink() override {
    if (db_ && !sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    statements_.clear();
    if (db_) sqlite3_close_v2(db_);
  }

  void prepare(const std::vector<TargetSchema>& schema) override {
    open();
    for (const TargetSchema& ts : schema)
      for (const auto& [name, type] : ts.attributes) ensure_column(table(ts.type), name, type);
    if (table_is_empty(members_table_)) {
      exec("DROP INDEX IF EXISTS " + member_index());
      member_index_deferred_ = true;  // see finish()
    }
    // Into an empty database every write appends and the engine matches in memory: the page
    // cache would only hold pages nothing reads again, so it stays small until finish().
    bulk_cache_ = is_empty(ObjectType::user) && is_empty(ObjectType::group);
    if (bulk_cache_) exec("PRAGMA cache_size=-8192");
  }

  std::vector<std::string> find(ObjectType type, const std::string& attribute, const Value& value,
                                bool ignore_case) override {
    // `dirsync plan` only finds: it must not leave a new database file behind, and a database
    // that does not exist holds nothing to match.
    if (!db_ && !fs::exists(path_)) return {};
    open();
    Table& t = table(type);
    if (value.is_null() || !t.columns.contains(attribute)) return {};
    ignore_case = ignore_case && value.is_string();
    const char* collate = ignore_case ? " COLLATE NOCASE" : "";
    std::string key = std::string("f") + collate + '\0' + t.name + '\0' + attribute;
    sqlite3_stmt* stmt = statement(key, [&] {
      end_read();
      // The index is built the first time a run matches on this column; the COLLATE NOCASE
      // variant is a separate index because SQLite only uses an index whose collation matches.
      std::string index = "ix_" + t.name + "_" + attribute + (ignore_case ? "_nocase" : "");
      exec("CREATE INDEX IF NOT EXISTS " + quote(index) + " ON " + quote(t.name) + " (" + quote(attribute) +
           collate + ")");
      return "SELECT \"_id\" FROM " + quote(t.name) + " WHERE " + quote(attribute) + " = ?1" + collate;
    });
    begin_read();
    std::string json;
    bind(stmt, 1, value, json);
    std::vector<std::string> ids;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
      ids.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) fail("find on " + t.name + "." + attribute);
    return ids;
  }

  void apply(std::span<const Operation> ops, std::span<OpResult> results) override {
    open();
    end_read();
    // Outside the batch's transaction: a rolled-back batch must not take the index with it.
    if (member_index_deferred_ && std::any_of(ops.begin(), ops.end(), [](const Operation& op) {
          return op.kind == OpKind::remove;
        }))
      finish();
    // Schema changes first, in their own transactions: a batch rolled back later must not
    // leave the known-column sets out of step with the file.
    for (const Operation& op : ops)
      for (const auto& [name, value] : op.attributes) ensure_column(table(op.type), name, type_of(value));
    now_ = utc_now();
    if (!run_batch(ops, results, false)) run_batch(ops, results, true);
  }

  // A first sync writes each group's members in member order, so the member index,
  // ordered by member across all groups, took a random page per row: on a million
  // memberships it outgrew the page cache and cost more than the rest of the groups'
  // writes. Built once from the finished table it is a single sort.
  void finish() override {
    if (!db_) return;
    end_read();
    if (member_index_deferred_) {
      create_member_index();
      member_index_deferred_ = false;
    }
    if (bulk_cache_) {
      exec("PRAGMA cache_size=-65536");
      bulk_cache_ = false;
    }
    // The run's pages go from the WAL into the database file, and the WAL is
    // emptied, now, while the host finishes the state store, rather than in
    // the close that ends the run (50 MB after 200,000 new users, which the
    // close also had to drop from the page cache). A reader is never waited
    // for: with no busy timeout, what it holds back is left to the close or
    // a later checkpoint.
    sqlite3_busy_timeout(db_, 0);
    sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    sqlite3_busy_timeout(db_, int(busy_timeout_ms_));
  }

  bool is_empty(ObjectType type) override {
    open();
    return table_is_empty(table(type).name);
  }

  std::vector<std::string> test_connection() override {
    open();
    end_read();
    std::vector<std::string> lines;
    lines.push_back("opened sqlite database " + path_.string() + " (sqlite " + sqlite3_libversion() +
                    ", journal_mode wal, synchronous " + synchronous_ + ")");
    exec("BEGIN IMMEDIATE");
    exec("ROLLBACK");
    lines.push_back("write lock acquired and released");
    for (const std::string& name : {tables_[0].name, tables_[1].name, members_table_}) {
      sqlite3_stmt* stmt = statement("count\0" + name, [&] { return "SELECT count(*) FROM " + quote(name); });
      if (sqlite3_step(stmt) != SQLITE_ROW) fail("count rows of " + name);
      lines.push_back("table " + name + ": " + std::to_string(sqlite3_column_int64(stmt, 0)) + " rows");
      sqlite3_reset(stmt);
    }
    return lines;
  }

 private:
  struct Table {
    std::string name;
    std::unordered_set<std::string> columns;
  };

  struct StatementDeleter {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };

  Table& table(ObjectType type) { return tables_[type == ObjectType::user ? 0 : 1]; }
  std::string member_index() const { return quote("ix_" + members_table_ + "_member"); }
  // Removing a user must drop its memberships without scanning every group.
  void create_member_index() {
    exec("CREATE INDEX IF NOT EXISTS " + member_index() + " ON " + quote(members_table_) + " (\"member_id\")");
  }

  bool table_is_empty(const std::string& name) {
    end_read();
    sqlite3_stmt* stmt = statement("empty " + name, [&] { return "SELECT 1 FROM " + quote(name) + " LIMIT 1"; });
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail("reading " + name);
    return rc == SQLITE_DONE;
  }

  [[noreturn]] void fail(const std::string& what) {
    throw Error(ErrorKind::connection, "sqlite database " + path_.string() + ": " + what + " failed: " +
                                           (db_ ? sqlite3_errmsg(db_) : "not open"));
  }

  void exec(const std::string& sql) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) fail(sql.substr(0, 40));
  }

  // Prepared statements live as long as the sink, keyed by table, operation and column set:
  // a run of a million creates prepares its INSERT once.
  template <class MakeSql>
  sqlite3_stmt* statement(const std::string& key, MakeSql&& make_sql) {
    auto it = statements_.find(key);
    if (it != statements_.end()) return it->second.get();
    std::string sql = make_sql();
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), int(sql.size()) + 1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) !=
        SQLITE_OK)
      fail("prepare of `" + sql.substr(0, 60) + "`");
    statements_.emplace(key, std::unique_ptr<sqlite3_stmt, StatementDeleter>(stmt));
    return stmt;
  }

  void open() {
    if (db_) return;
    std::error_code ec;
    if (fs::is_directory(path_, ec))
      throw Error(ErrorKind::connection, "cannot open sqlite database " + path_.string() + ": it is a folder");
    fs::path parent = path_.parent_path();
    if (!parent.empty() && !fs::is_directory(parent, ec))
      throw Error(ErrorKind::connection, "cannot open sqlite database " + path_.string() + ": folder " +
                                             parent.string() + " does not exist");
    // NOMUTEX: the host drives one sink from one thread at a time, so SQLite's per-call
    // connection mutex is pure overhead on the hot path.
    int rc = sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) {
      std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close_v2(db_);
      db_ = nullptr;
      throw Error(ErrorKind::connection, "cannot open sqlite database " + path_.string() + ": " + why);
    }
    try {
      sqlite3_busy_timeout(db_, int(busy_timeout_ms_));
      // WAL lets readers (reports, the operator's sqlite3 shell) see the last commit while a
      // run writes; NORMAL then only syncs at checkpoints, which is what makes batches cheap.
      exec("PRAGMA journal_mode=WAL");
      exec("PRAGMA synchronous=" + synchronous_);
      // Matching indexes are probed at random keys (emails, UPNs): a page cache
      // that holds them saves a pread per lookup on a first sync.
      exec("PRAGMA cache_size=-65536");
      // A checkpoint costs two fsyncs whatever it copies. SQLite's default (every
      // 1,000 pages, 4 MB) made a million-user first sync wait on about 300 of
      // them, each a disk flush that a shared cloud disk can stretch to tens of
      // milliseconds; 40 MB, as the state store, is a tenth of that.
      exec("PRAGMA wal_autocheckpoint=10000");
      if (sqlite3_db_readonly(db_, "main") == 1)
        throw Error(ErrorKind::connection, "cannot write sqlite database " + path_.string() + ": read-only");
      for (Table& t : tables_) {
        exec("CREATE TABLE IF NOT EXISTS " + quote(t.name) +
             " (\"_id\" TEXT PRIMARY KEY NOT NULL, \"_source_id\" TEXT, \"_disabled\" INTEGER NOT NULL "
             "DEFAULT 0, \"_updated_at\" TEXT)");
        load_columns(t);
      }
      exec("CREATE TABLE IF NOT EXISTS " + quote(members_table_) +
           " (\"group_id\" TEXT NOT NULL, \"member_id\" TEXT NOT NULL, PRIMARY KEY (\"group_id\", "
           "\"member_id\")) WITHOUT ROWID");
      // Also rebuilds the index after a first sync that deferred it and never reached finish().
      create_member_index();
    } catch (...) {
      statements_.clear();
      sqlite3_close_v2(db_);
      db_ = nullptr;
      throw;
    }
  }

  void load_columns(Table& t) {
    sqlite3_stmt* stmt = nullptr;
    std::string sql = "PRAGMA table_info(" + quote(t.name) + ")";
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) fail("reading columns of " + t.name);
    std::unique_ptr<sqlite3_stmt, StatementDeleter> guard(stmt);
    while (sqlite3_step(stmt) == SQLITE_ROW)
      t.columns.emplace(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)));
  }

  void ensure_column(Table& t, const std::string& name, TargetType type) {
    if (name == "_id" || name == "_source_id" || name == "_disabled" || name == "_updated_at")
      throw Error(ErrorKind::config, "sqlite sink: target attribute '" + name +
                                         "' is one of the sink's own columns; map it to another name");
    if (t.columns.contains(name)) return;
    exec("ALTER TABLE " + quote(t.name) + " ADD COLUMN " + quote(name) + std::string(column_type(type)));
    t.columns.insert(name);
  }

  // Binds with SQLITE_STATIC where the text outlives the step (the operation does); JSON is
  // built into `scratch`, which the caller keeps alive until the step.
  static void bind(sqlite3_stmt* stmt, int index, const Value& v, std::string& scratch) {
    switch (v.kind()) {
      case Value::Kind::null: sqlite3_bind_null(stmt, index); break;
      case Value::Kind::boolean: sqlite3_bind_int(stmt, index, v.as_bool() ? 1 : 0); break;
      case Value::Kind::integer: sqlite3_bind_int64(stmt, index, v.as_integer()); break;
      case Value::Kind::number: sqlite3_bind_double(stmt, index, v.as_number()); break;
      case Value::Kind::string:
        sqlite3_bind_text(stmt, index, v.as_string().data(), int(v.as_string().size()), SQLITE_STATIC);
        break;
      case Value::Kind::list:
      case Value::Kind::object:
        scratch.clear();
        append_json(scratch, v);
        sqlite3_bind_text(stmt, index, scratch.data(), int(scratch.size()), SQLITE_TRANSIENT);
        break;
    }
  }

  static void bind_text(sqlite3_stmt* stmt, int index, const std::string& text) {
    sqlite3_bind_text(stmt, index, text.data(), int(text.size()), SQLITE_STATIC);
  }

  // Runs a statement that returns no rows. Per-object failures become ObjectFailure.
  void step(sqlite3_stmt* stmt, const Operation& op) {
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE) return;
    if (is_per_object(rc))
      throw ObjectFailure{std::string(to_string(op.type)) + " " + (op.target_id.empty() ? op.source_id : op.target_id) +
                          ": " + sqlite3_errmsg(db_)};
    fail(std::string(to_string(op.kind)) + " of " + std::string(to_string(op.type)) + " " + op.source_id);
  }

  sqlite3_stmt* write_statement(const Table& t, const Operation& op) {
    // Built in a buffer kept across calls: this runs once per object written.
    std::string& key = key_;
    key.assign(1, char('0' + int(op.kind)));
    key += t.name;
    for (const auto& [name, value] : op.attributes) (key += '\0') += name;
    return statement(key, [&] {
      std::string sql;
      if (op.kind == OpKind::create) {
        // An upsert, so that a create replayed after a crash with the id recorded in the
        // state store converges instead of failing.
        std::string cols, params, updates;
        for (const auto& [name, value] : op.attributes) {
          cols += "," + quote(name);
          params += ",?";
          updates += "," + quote(name) + "=excluded." + quote(name);
        }
        sql = "INSERT INTO " + quote(t.name) + " (\"_id\",\"_source_id\",\"_disabled\",\"_updated_at\"" + cols +
              ") VALUES (?,?,0,?" + params +
              ") ON CONFLICT(\"_id\") DO UPDATE SET \"_source_id\"=excluded.\"_source_id\",\"_disabled\"=0,"
              "\"_updated_at\"=excluded.\"_updated_at\"" +
              updates;
      } else {
        // An update means the object is live in the source again, so it also re-enables.
        sql = "UPDATE " + quote(t.name) + " SET \"_updated_at\"=?1,\"_disabled\"=" +
              (op.kind == OpKind::disable ? "1" : "0");
        int index = 3;
        for (const auto& [name, value] : op.attributes) sql += "," + quote(name) + "=?" + std::to_string(index++);
        sql += " WHERE \"_id\"=?2";
      }
      return sql;
    });
  }

  void apply_one(const Operation& op, OpResult& result) {
    Table& t = table(op.type);
    if (op.kind == OpKind::remove) {
      remove(t, op);
      result.ok = true;
      return;
    }
    std::string id = op.kind == OpKind::create && op.target_id.empty() ? ids_.next() : op.target_id;
    if (id.empty()) throw ObjectFailure{std::string(to_string(op.kind)) + " of source " + op.source_id + " has no target id"};
    sqlite3_stmt* stmt = write_statement(t, op);
    bind_text(stmt, 1, op.kind == OpKind::create ? id : now_);
    int index = 2;
    if (op.kind == OpKind::create) {
      bind_text(stmt, index++, op.source_id);
      bind_text(stmt, index++, now_);
    } else {
      bind_text(stmt, index++, id);
    }
    // One scratch string per JSON value: SQLITE_TRANSIENT copies, so one buffer is enough.
    std::string scratch;
    for (const auto& [name, value] : op.attributes) bind(stmt, index++, value, scratch);
    step(stmt, op);
    if (op.kind != OpKind::create && sqlite3_changes(db_) == 0)
      throw ObjectFailure{std::string(to_string(op.type)) + " " + id + " not found in table " + t.name};
    if (op.type == ObjectType::group) update_members(id, op);
    result.ok = true;
    result.target_id = std::move(id);
  }

  void update_members(const std::string& group_id, const Operation& op) {
    if (!op.members_add.empty()) {
      sqlite3_stmt* add = statement("m+", [&] {
        return "INSERT OR IGNORE INTO " + quote(members_table_) + " (\"group_id\",\"member_id\") VALUES (?1,?2)";
      });
      for (const std::string& member : op.members_add) {
        bind_text(add, 1, group_id);
        bind_text(add, 2, member);
        step(add, op);
      }
    }
    if (!op.members_remove.empty()) {
      sqlite3_stmt* del = statement("m-", [&] {
        return "DELETE FROM " + quote(members_table_) + " WHERE \"group_id\"=?1 AND \"member_id\"=?2";
      });
      for (const std::string& member : op.members_remove) {
        bind_text(del, 1, group_id);
        bind_text(del, 2, member);
        step(del, op);
      }
    }
  }

  // Removing an object also removes every membership that names it, as group or as member, so
  // the members table never points at rows that are gone. Removing a missing row succeeds: a
  // rerun after a crash must converge.
  void remove(const Table& t, const Operation& op) {
    const std::string& id = op.target_id;
    sqlite3_stmt* row = statement("d" + t.name, [&] { return "DELETE FROM " + quote(t.name) + " WHERE \"_id\"=?1"; });
    bind_text(row, 1, id);
    step(row, op);
    sqlite3_stmt* as_member = statement("dm", [&] {
      return "DELETE FROM " + quote(members_table_) + " WHERE \"member_id\"=?1";
    });
    bind_text(as_member, 1, id);
    step(as_member, op);
    if (op.type == ObjectType::group) {
      sqlite3_stmt* as_group = statement("dg", [&] {
        return "DELETE FROM " + quote(members_table_) + " WHERE \"group_id\"=?1";
      });
      bind_text(as_group, 1, id);
      step(as_group, op);
    }
  }

  // Returns false when an object failed on the fast path (the transaction is then rolled back
  // and the caller replays the batch isolated); throws when the database fails.
  bool run_batch(std::span<const Operation> ops, std::span<OpResult> results, bool isolate) {
    sqlite3_stmt* begin = statement("BEGIN", [] { return std::string("BEGIN IMMEDIATE"); });
    sqlite3_stmt* commit = statement("COMMIT", [] { return std::string("COMMIT"); });
    sqlite3_stmt* savepoint = statement("SAVEPOINT", [] { return std::string("SAVEPOINT op"); });
    sqlite3_stmt* release = statement("RELEASE", [] { return std::string("RELEASE op"); });
    sqlite3_stmt* undo = statement("ROLLBACK TO", [] { return std::string("ROLLBACK TO op"); });
    auto run = [&](sqlite3_stmt* stmt, const char* what) {
      int rc = sqlite3_step(stmt);
      sqlite3_reset(stmt);
      if (rc != SQLITE_DONE) fail(what);
    };
    run(begin, "begin transaction");
    try {
      for (std::size_t i = 0; i < ops.size(); ++i) {
        results[i] = OpResult{};
        if (isolate) run(savepoint, "savepoint");
        try {
          apply_one(ops[i], results[i]);
        } catch (const ObjectFailure& failure) {
          if (!isolate) {
            rollback();
            return false;
          }
          run(undo, "rollback to savepoint");
          results[i] = OpResult{false, {}, failure.message};
        }
        if (isolate) run(release, "release savepoint");
      }
      run(commit, "commit");
    } catch (...) {
      rollback();
      throw;
    }
    return true;
  }

  // The host asks find() once or twice per unmatched object between batches. Outside a
  // transaction each query takes and drops the shared lock (two fcntl calls and a WAL check);
  // one read transaction spanning the finds up to the next apply() removes that cost.
  void begin_read() {
    if (!sqlite3_get_autocommit(db_)) return;
    sqlite3_stmt* begin = statement("BEGIN READ", [] { return std::string("BEGIN"); });
    int rc = sqlite3_step(begin);
    sqlite3_reset(begin);
    if (rc != SQLITE_DONE) fail("begin read transaction");
  }

  void end_read() {
    if (sqlite3_get_autocommit(db_)) return;
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) fail("end read transaction");
  }

  void rollback() {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

  fs::path path_;
  std::array<Table, 2> tables_;
  std::string members_table_;
  bool member_index_deferred_ = false;  ///< dropped by prepare() on an empty members table
  bool bulk_cache_ = false;             ///< a small page cache while loading an empty database
  std::string key_;                     ///< write_statement()'s buffer
  std::int64_t busy_timeout_ms_ = 5000;
  std::string synchronous_;
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, std::unique_ptr<sqlite3_stmt, StatementDeleter>> statements_;
  IdGenerator ids_;
  std::string now_;
};

const PluginDescriptor* descriptor() {
  static const PluginDescriptor d = [] {
    PluginDescriptor p;
    p.name = "sqlite";
    p.kind = PluginKind::sink;
    p.version = "1.0.0";
    p.summary = "users, groups and memberships as tables of a SQLite file";
    p.schema = {
        {"path", FieldType::string, true, false, "", "database file, created if missing (relative to the pipeline)"},
        {"users_table", FieldType::string, false, false, "users", "table for users"},
        {"groups_table", FieldType::string, false, false, "groups", "table for groups"},
        {"members_table", FieldType::string, false, false, "group_members", "table of (group_id, member_id)"},
        {"busy_timeout", FieldType::duration, false, false, "5s", "how long to wait for another writer's lock"},
        {"synchronous", FieldType::string, false, false, "NORMAL", "PRAGMA synchronous: OFF, NORMAL, FULL or EXTRA"},
    };
    p.make_sink = [](const PluginContext& ctx) { return std::make_unique<SqliteSink>(ctx); };
    return p;
  }();
  return &d;
}

}  // namespace

DIRSYNC_PLUGIN(descriptor)
