// The state store: what a pipeline remembers between runs (SQLite, WAL).
//
// Guarantees:
//   1. A link (pipeline, object type, source id) -> target id is written in
//      the same transaction as the run's counters for the batch that created
//      or changed it; a batch is all-or-nothing in the store.
//   2. Before a batch with creations reaches the sink, its intent (the source
//      ids about to be created) is committed to the intent journal, a separate
//      file beside the store. The store's own transaction may then span many
//      sink batches (large transactions are what make random-keyed links
//      cheap); a crash loses that window's links but not its intents, and the
//      next run re-matches those objects by key and adopts them instead of
//      creating duplicates. Lost updates are simply decided again.
//   3. The cursor is written only by finish_run() of a run whose read ended
//      and whose writes all committed (STYLE.md: acknowledge before advancing).
//   4. A run row exists from begin_run(); a run that never reaches
//      finish_run() (crash, kill) is marked Failed by the next begin_run().
// One process at a time works on a pipeline: begin_run() takes an exclusive
// lock file next to the database for the life of the StateStore.
#pragma once

#include <dirsync/record.hpp>
#include <dirsync/value.hpp>

#include "state/object_hash.hpp"

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace dirsync {

struct Link {
  std::int64_t rowid = 0;
  std::string target_id;
  std::uint64_t hash = 0;        ///< of the mapped attributes last written (update-relevant subset)
  std::string written;           ///< JSON object: target attributes last written (+ "__members")
  std::string source;            ///< JSON object: last full source state (for delta merges)
  std::uint64_t source_hash = 0;
  bool created_by_pipeline = false;
  bool disabled = false;
};

struct RunCounts {
  std::int64_t processed = 0, created = 0, updated = 0, disabled = 0, deleted = 0, skipped = 0, failed = 0;
};

struct RunRow {
  std::int64_t id = 0;
  std::string pipeline, started_at, finished_at, mode, status, error, note;
  RunCounts counts;
};

struct RunError {
  std::string object_type, source_id, operation, message;
};

class StateStore {
 public:
  /// Opens (creating and migrating as needed). Throws Error(connection) when
  /// the file cannot be opened or written.
  StateStore(const std::filesystem::path& path, std::string pipeline);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  /// Takes the pipeline lock, marks interrupted runs Failed, inserts a run row.
  /// Throws Error(config) when another process holds the lock.
  std::int64_t begin_run(std::string_view mode);
  void finish_run(std::int64_t run_id, std::string_view status, const RunCounts& counts, std::string_view mode,
                  std::string_view error, std::string_view note, const std::optional<std::string>& cursor,
                  const std::string& config_hash);

  std::optional<Link> find_link(ObjectType type, std::string_view source_id);
  /// The link in row `rowid` (as write_link() returned it): needs no key
  /// index, so a bulk load goes on.
  std::optional<Link> link_at(std::int64_t rowid);
  /// Just the target id of a link: member resolution asks this once per
  /// member and must not copy the stored snapshots.
  std::optional<std::string> target_of(ObjectType type, std::string_view source_id);
  /// Links whose target id is `target_id` (adoption checks).
  std::optional<std::string> source_for_target(ObjectType type, std::string_view target_id);

  /// On a store with no links at all, drops the key indexes until
  /// end_bulk_load() (or the first lookup by key) rebuilds them: a first sync
  /// appends instead of updating random index pages. The load writes through
  /// a rollback journal until then. False: not empty.
  bool begin_bulk_load();
  /// The load is over: builds the key indexes; the small page cache of the
  /// load stays until the store is opened again.
  void end_bulk_load();
  /// Copies the intent journal's WAL into its file and empties the WAL (the
  /// journal has its own connection: safe beside a call on the store's).
  void checkpoint_journal();
  /// Between begin_bulk_load() and the end of the load (or its interruption).
  bool bulk_loading() const { return bulk_; }

  // Batch writes: call between begin() and commit().
  void begin();
  /// A read transaction: many lookups under one lock instead of one each.
  void begin_read();
  void commit();
  bool in_transaction() const;
  void rollback();
  /// Inserts or replaces; returns the link's rowid.
  std::int64_t put_link(ObjectType type, std::string_view source_id, const Link& link);
  /// put_link() for a caller that knows whether the link exists: link.rowid
  /// from find_link() updates that row, 0 inserts (no probe of the key index:
  /// the engine's hot path, where the probe was a third of a link's cost).
  std::int64_t write_link(ObjectType type, std::string_view source_id, const Link& link);
  void delete_link(ObjectType type, std::string_view source_id);
  void add_error(std::int64_t run_id, const RunError& error);
  /// Records that `source_ids` are about to be created; returns the intent's id.
  /// The intent calls may run on another thread than the rest of the store's
  /// (one thread each for add_intents and for the others).
  std::int64_t add_intents(ObjectType type, std::span<const std::string_view> source_ids, std::int64_t run_id);
  void clear_intents(std::int64_t intent_id);
  /// After a complete run: intents of earlier runs have been re-matched.
  void clear_intents_before(std::int64_t run_id);
  /// Source ids of creations a crashed run may have left half-done.
  std::vector<std::string> intents(ObjectType type);

  /// Calls `fn(rowid, source_id, link)` for each link of `type`, in rowid
  /// order; with `wanted`, only for the rowids it accepts, and the rows it
  /// refuses are never read (a full read's removal pass scans the small
  /// per-type index, not a million rows of source snapshots).
  template <typename Fn>
  void for_each_link(ObjectType type, Fn&& fn, const std::function<bool(std::int64_t)>& wanted = {});
  std::int64_t count_links(ObjectType type);
  bool has_links(ObjectType type);
  std::int64_t max_link_rowid();

  std::optional<std::string> cursor();
  std::string config_hash();
  /// The hash this store's links hold (object_hash.hpp).
  ObjectHash object_hash() const { return object_hash_; }

  std::vector<RunRow> runs(int limit);
  std::vector<RunError> run_errors(std::int64_t run_id, int limit);

 private:
  sqlite3_stmt* prepare(const char* sql);
  static sqlite3_stmt* prepare_on(sqlite3* db, const char* sql);
  void open_journal();
  void exec(const char* sql);
  Link read_link(sqlite3_stmt* st, int first_column);
  /// Binds ?1..?4 of a keyed lookup: key, pipeline, object type, id.
  void bind_key(sqlite3_stmt* st, ObjectType type, std::string_view id);
  /// Finalizes the statements and closes the connections and the lock.
  void release();
  void for_each_link_impl(ObjectType type, const std::function<void(std::int64_t, std::string, Link)>& fn,
                          const std::function<bool(std::int64_t)>& wanted);

  std::filesystem::path path_;
  std::string pipeline_;
  ObjectHash object_hash_ = ObjectHash::wide;
  sqlite3* db_ = nullptr;
  sqlite3* journal_ = nullptr;  ///< intents: committed independently of db_'s open transaction
  int lock_fd_ = -1;
  /// A lookup during a load: the indexes are built and the cache is full size again.
  void interrupt_bulk_load();
  bool bulk_ = false;  ///< the key indexes are dropped (begin_bulk_load)
  bool rollback_journal_ = false;  ///< a load writes through a rollback journal, not the WAL
  /// Sets the journal mode; returns the mode in force (the old one when it could not change).
  std::string journal_mode(const char* mode);
  void restore_wal();
  struct Statements;
  std::unique_ptr<Statements> st_;
};

template <typename Fn>
void StateStore::for_each_link(ObjectType type, Fn&& fn, const std::function<bool(std::int64_t)>& wanted) {
  for_each_link_impl(
      type, [&](std::int64_t rowid, std::string source_id, Link link) { fn(rowid, std::move(source_id), std::move(link)); },
      wanted);
}

}  // namespace dirsync
