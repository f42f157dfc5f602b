// The SCIM endpoint's own store: the current resources (what GET answers,
// whatever the pipeline's sink is) and an append-only event log (what the
// host's incremental read consumes).
//
// Guarantees:
// - A write is one SQLite transaction holding both the resource change and its
//   event; write() returns only after COMMIT, so a response sent after it
//   survives kill -9 (and, with synchronous=FULL, power loss).
// - Writes are serialized through one writer thread that commits the jobs
//   queued meanwhile together (group commit): each job runs in its own
//   SAVEPOINT, so one job's failure (409, 412) rolls back only that job.
// - Event seq numbers are strictly increasing; the read cursor is a seq. A
//   resource's latest event in a range describes its state at the range end.
// - Readers use their own connections (WAL), never blocking the writer.
// - Events are pruned only up to a cursor the host has already stored (the one
//   it passes to an incremental read); a cursor older than the pruned range
//   is detectable (pruned_through) and answered with a full read.
#pragma once

#include "schema.hpp"

#include <dirsync/value.hpp>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace dirsync::scim {

/// RAII prepared statement.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& bind(int i, std::int64_t v);
  Stmt& bind(int i, std::string_view v);
  Stmt& bind_null(int i);
  bool step();  ///< true while a row is available
  void reset();
  std::int64_t integer(int col) const;
  std::string text(int col) const;
  std::string_view view(int col) const;
  bool is_null(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

/// One SQLite connection with cached statements.
class Connection {
 public:
  Connection(const std::filesystem::path& path, bool sync_full);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  void exec(const char* sql);
  Stmt& stmt(const char* sql);  ///< cached by the literal's address; reset before use
  sqlite3* handle() { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::vector<std::pair<const char*, std::unique_ptr<Stmt>>> cache_;
};

struct StoredResource {
  std::string id;
  std::int64_t version = 0;
  Object resource;  ///< the full stored JSON, id and meta included
};

enum class EventKind : std::uint8_t { upsert, deleted };

struct Event {
  std::int64_t seq = 0;
  ResourceKind kind = ResourceKind::user;
  EventKind change = EventKind::upsert;
  std::string id;
  std::string json;  ///< the resource after the change (before it, for deletions)
};

/// What a write job sees: the writer connection, inside its savepoint.
class Tx {
 public:
  explicit Tx(Connection& c) : c_(c) {}
  std::optional<StoredResource> get(ResourceKind kind, const std::string& id);
  /// Id of the user whose userName equals `user_name` case-insensitively.
  std::optional<std::string> user_id_by_name(const std::string& user_name);
  /// `json` is `resource` serialized (callers already have it for the event).
  void put(ResourceKind kind, const std::string& id, std::int64_t version, const Object& resource,
           const std::string& json);
  void erase(ResourceKind kind, const std::string& id);
  void append_event(ResourceKind kind, EventKind change, const std::string& id, const std::string& json);
  /// Drops the events up to `seq` and records that they are gone.
  void prune_events(std::int64_t seq);

 private:
  Connection& c_;
};

class Store {
 public:
  Store(std::filesystem::path path, bool sync_full);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Runs `job` in the writer transaction and returns after it committed;
  /// rethrows what the job threw (its changes rolled back).
  void write(const std::function<void(Tx&)>& job);
  /// Called (from the writer thread) after each commit that wrote something.
  /// Replacing it waits for a running call, so the old hook's captures may
  /// be destroyed once on_commit returns.
  void on_commit(std::function<void()> hook);

  // Reads, each on a pooled read connection.
  std::optional<StoredResource> get(ResourceKind kind, const std::string& id);
  /// Resources whose indexed column equals `value`: column is "id",
  /// "externalId" or "name" (userName / displayName, case-insensitive).
  std::vector<std::string> find_json(ResourceKind kind, std::string_view column, const std::string& value);
  /// Every resource of a kind, in id order; `fn` returns false to stop.
  void scan(ResourceKind kind, const std::function<bool(std::string_view json)>& fn);
  std::int64_t count(ResourceKind kind);
  /// One page of resources in id order (unfiltered lists).
  std::vector<std::string> page(ResourceKind kind, std::int64_t offset, std::int64_t limit);
  std::int64_t max_seq();
  /// Events up to this seq were pruned (0: none); older cursors need a full read.
  std::int64_t pruned_through();
  /// A consistent snapshot (one read transaction) for the host's reads.
  void snapshot(const std::function<void(Connection&)>& fn);

  const std::filesystem::path& path() const { return path_; }

 private:
  struct Job {
    const std::function<void(Tx&)>* fn;
    std::exception_ptr error;
    bool done = false;
    // Its own condition: waking only the finished job's thread avoids a
    // thundering herd of every waiting request on each commit.
    std::condition_variable cv;
  };
  class Lease;
  Lease lease();
  std::int64_t scalar(const char* sql, std::optional<std::int64_t> arg);
  void writer_loop();

  std::filesystem::path path_;
  bool sync_full_;
  std::unique_ptr<Connection> writer_;
  std::mutex mutex_;
  std::condition_variable cv_;  ///< the writer waits on it for jobs
  std::deque<Job*> queue_;
  bool stopping_ = false;
  std::mutex hook_mutex_;  ///< held while the hook runs, so on_commit(nullptr) waits for it
  std::function<void()> hook_;
  std::thread thread_;

  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<Connection>> pool_;
};

class Store::Lease {
 public:
  Lease(Store& s, std::unique_ptr<Connection> c) : s_(s), c_(std::move(c)) {}
  ~Lease();
  Lease(Lease&&) = default;
  Connection& operator*() { return *c_; }
  Connection* operator->() { return c_.get(); }

 private:
  Store& s_;
  std::unique_ptr<Connection> c_;
};

/// ISO 8601 UTC with milliseconds, as meta.created/lastModified.
std::string now_iso8601();

}  // namespace dirsync::scim
