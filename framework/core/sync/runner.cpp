#include "sync/runner.hpp"

#include "sync/fingerprint_set.hpp"
#include "sync/hash_set.hpp"
#include "sync/target_index.hpp"
#include "sync/written.hpp"

#include <dirsync/serial_worker.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <future>
#include <csignal>
#include <cstdlib>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

namespace dirsync {

namespace {

constexpr std::string_view kMembersKey = "__members";

/// Members (target ids) stored with the written attributes of a group.
std::vector<std::string> stored_members(const Object& written) {
  std::vector<std::string> out;
  if (const Value* v = written.find(kMembersKey); v && v->is_list())
    for (const Value& m : v->as_list()) out.push_back(m.to_string());
  return out;
}

Object parse_object(const std::string& json) {
  if (json.empty()) return {};
  Value v = parse_json(json);
  return v.is_object() ? std::move(v.as_object()) : Object{};
}

/// Group membership for `member_of` scoping clauses, from the groups the
/// state store knows (their snapshots as of the previous run's read: users are
/// read before groups, so this run's group changes count from the next run).
class StoredMembership final : public scope::Membership {
 public:
  explicit StoredMembership(StateStore& state) {
    state.for_each_link(ObjectType::group, [&](std::int64_t, std::string id, Link link) {
      Object snapshot = parse_object(link.source);
      std::size_t index = groups_.size();
      std::string name;
      if (const Value* n = snapshot.find("displayName")) name = n->to_string();
      else if (const Value* n2 = snapshot.find("name")) name = n2->to_string();
      groups_.push_back({id, name});
      index_[id] = index;
      if (const Value* m = snapshot.find(kMembersKey); m && m->is_list())
        for (const Value& member : m->as_list()) parents_[member.to_string()].push_back(index);
    });
  }

  bool is_member(std::string_view object_id, std::string_view group, bool transitive) const override {
    std::vector<std::size_t> frontier;
    if (auto it = parents_.find(std::string(object_id)); it != parents_.end()) frontier = it->second;
    std::set<std::size_t> visited;
    while (!frontier.empty()) {
      std::size_t g = frontier.back();
      frontier.pop_back();
      if (!visited.insert(g).second) continue;
      if (groups_[g].id == group || groups_[g].name == group) return true;
      if (!transitive) continue;
      if (auto it = parents_.find(groups_[g].id); it != parents_.end())
        frontier.insert(frontier.end(), it->second.begin(), it->second.end());
    }
    return false;
  }

 private:
  struct Group {
    std::string id, name;
  };
  std::vector<Group> groups_;
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::vector<std::size_t>> parents_;  ///< member id -> groups it is a direct member of
};

/// What one batch entry became.
struct Decision {
  Change change;
  std::optional<Link> link;
  bool has_op = false;
  Operation op;
  Link next;               ///< the link to store if the op succeeds (or when no op is needed)
  bool store_link = false; ///< write `next` even without an op (snapshot or adoption)
  bool drop_link = false;  ///< remove the link once the op succeeds
  bool intent = false;
  bool skipped = false;
  bool deferred = false;   ///< a group with members not written yet: decided again at the end
  bool learned = false;    ///< its link holds: the target index learns its target (Engine::learn)
  std::string error;       ///< decided as a per-object failure
};

class Engine final : public Emitter {
 public:
  Engine(const PipelineConfig& config, Sink& sink, StateStore& state, Logger& log, const RunOptions& options,
         RunReport& report, std::int64_t run_id)
      : config_(config), sink_(sink), state_(state), log_(log), options_(options), report_(report), run_id_(run_id) {
    seen_.resize(static_cast<std::size_t>(state_.max_link_rowid()) + 1, false);
    if (config_.users.scope.needs_membership() || config_.groups.scope.needs_membership())
      membership_ = std::make_unique<StoredMembership>(state_);
    for (ObjectType t : {ObjectType::user, ObjectType::group}) {
      const auto i = static_cast<std::size_t>(t);
      creation_differs_[i] = creation_differs(t);
      adds_only_[i] = creation_differs_[i] && config_.policy(t).mapper.creation_only_adds();
    }
    track_targets_ = config_.groups.enabled && config_.groups.members;
    for (ObjectType t : {ObjectType::user, ObjectType::group})
      for (const auto& m : config_.policy(t).mapper.mappings()) track_targets_ |= m.type == TargetType::reference;
    if (!options_.dry_run)
      for (ObjectType t : {ObjectType::user, ObjectType::group})
        for (auto& id : state_.intents(t)) recovering_.insert({t, id});
  }

  /// After the sink's prepare(): a type with no links and an empty target is
  /// a first sync, matched in memory (see `created_values_`).
  void start() {
    for (ObjectType t : {ObjectType::user, ObjectType::group}) {
      const ObjectPolicy& policy = config_.policy(t);
      if (!policy.enabled) continue;
      auto& fresh = fresh_[static_cast<std::size_t>(t)];
      had_links_[static_cast<std::size_t>(t)] = state_.has_links(t);
      fresh = !had_links_[static_cast<std::size_t>(t)] && sink_.is_empty(t);
      only_this_run_[static_cast<std::size_t>(t)] = fresh;
      if (!fresh) continue;
      auto& tracked = tracked_[static_cast<std::size_t>(t)];
      for (const MatchKey& key : policy.match) tracked.insert(key.target);
      bool references = false;
      for (const auto& m : policy.mapper.mappings()) {
        if (m.kind == mapping::Kind::expression && m.expression->selects_unique_value()) tracked.insert(m.target);
        references = references || m.type == TargetType::reference;
      }
      // Objects of a first sync need nothing from the store or the sink to be
      // decided (no links yet; matching in memory; members from the target
      // index), so the sink and the store write one batch while the next is
      // decided. References resolve through the store: they stay in step.
      pipelined_[static_cast<std::size_t>(t)] = !options_.dry_run && !references;
    }
    if (!options_.dry_run && (fresh_[0] || fresh_[1])) state_.begin_bulk_load();
  }

  void emit(Change&& change) override {
    if (!batch_.empty() && batch_.back().record.type != change.record.type) flush();
    if (change.record.type == ObjectType::group && last_type_ == ObjectType::user) end_user_matching();
    last_type_ = change.record.type;
    // One object twice in one batch (Graph's delta pages may repeat an object)
    // would be decided twice against the same stored state: two creates, or a
    // partial record merged over a stale snapshot. The repeat starts a new
    // batch, decided after the first is written.
    std::uint64_t key = HashSet64::hash(change.record.id, std::uint64_t(change.record.type) + 1);
    if (batch_ids_.contains(key)) flush();
    batch_ids_.insert(key);
    batch_members_ += change.record.members.size() + change.record.members_removed.size();
    batch_.push_back(std::move(change));
    // Member lists count towards the batch: fifty groups of 20,000 members
    // are a million references, and a batch is held in memory several times
    // over (records, decisions, operations). Pipelined, three batches are
    // held at once (deciding, in the sink, in the store): a smaller share
    // each keeps the peak where it was in step.
    const std::size_t members_cap = overlaps(change.record.type) ? kMembersPerBatch / 3 : kMembersPerBatch;
    if (batch_.size() >= options_.batch_size || batch_members_ >= members_cap) flush();
  }

  /// Whether a batch of `type` can be decided while the workers write the
  /// ones before it: nothing in its decisions may read the store or the
  /// sink. A group's members resolve from the target index alone while both
  /// types are this run's only links (store_may_know); a member missing
  /// there waits for the batches in flight (resolve_members).
  bool overlaps(ObjectType type) {
    const auto t = static_cast<std::size_t>(type);
    if (!pipelined_[t] || !fresh_[t]) return false;
    if (type == ObjectType::user) return true;
    return !store_may_know(ObjectType::user) && !store_may_know(ObjectType::group);
  }

  void flush() {
    free_retired();
    if (batch_.empty()) return;
    batch_ids_.clear();
    const bool overlap = overlaps(batch_.front().record.type);
    if (!overlap) drain();
    std::vector<Decision> decisions;
    decisions.reserve(batch_.size());
    if (options_.dry_run) {
      // Plans read under one read transaction per batch and write nothing.
      state_.begin_read();
      try {
        for (Change& c : batch_) decisions.push_back(decide(std::move(c)));
        state_.commit();
      } catch (...) {
        state_.rollback();
        throw;
      }
    } else {
      if (!overlap) open_window();
      for (Change& c : batch_) decisions.push_back(decide(std::move(c)));
    }
    batch_.clear();
    batch_members_ = 0;
    if (!overlap) {
      apply(decisions);
      report_progress();
      return;
    }
    // Three stages, each in batch order: this thread decides batch N+2 while
    // the sink writes N+1 and the store links N. The sink takes one batch at
    // a time, and a failed one stops the run here before the next starts.
    // At most one batch waits for the store besides the one it is linking:
    // memory stays flat when the store is the slowest stage.
    if (sink_done_.valid()) sink_done_.get();
    if (state_waited_.valid()) state_waited_.get();
    report_progress();
    // Each task lets go of what it holds when done, or every batch would stay
    // reachable through the chain of `previous` futures.
    auto batch = std::make_shared<Batch>(Batch{std::move(decisions), {}, {}, {}});
    std::shared_future<void> sink = sink_worker_.post([this, batch]() mutable {
      apply_sink(*batch);
      batch.reset();
    });
    std::shared_future<void> previous = state_done_;
    state_done_ = state_worker_.post([this, batch, sink, previous]() mutable {
      auto done = [&] {
        retire(std::move(batch));
        sink = {}, previous = {};
      };
      try {
        if (previous.valid()) previous.get();
        sink.get();
        apply_state(*batch);
      } catch (...) {
        done();
        throw;
      }
      done();
    });
    state_waited_ = std::move(previous);
    sink_done_ = std::move(sink);
  }

  /// Waits for the batches in the sink's and the store's hands; rethrows the
  /// first failure. Before the engine touches the sink or the store itself,
  /// and at the end.
  void drain() {
    if (state_done_.valid()) {
      auto sink = std::move(sink_done_);
      auto waited = std::move(state_waited_);
      auto state = std::move(state_done_);
      state.get();  // after sink's batch, so both are done; rethrows either's failure
      report_progress();
    }
    free_retired();
  }

  /// Batches in the workers' hands, or linked and not yet learned from.
  bool in_flight() {
    if (state_done_.valid()) return true;
    std::lock_guard<std::mutex> lock(retired_mutex_);
    return !retired_.empty();
  }

  /// Flushes and waits: everything emitted is written (or has failed).
  void finish() {
    flush();
    drain();
    // The first-sync filters go now: a later decision (a deferred group)
    // asks the sink instead. The target index stays for the deferred groups'
    // members. The store's key indexes are built at the end of the run
    // (finish_writes), or by the first lookup that needs them.
    created_values_ = {};
    decided_ids_ = FingerprintSet{};
    fresh_ = {};
  }

  /// Users read before groups are done with matching in memory: their
  /// created values go, or they would be held through the groups phase,
  /// where a first sync reaches its peak (10 MB at a million users, the part
  /// of that peak that grows with the directory). A user read after a group
  /// (a source that interleaves types) is then matched through the store and
  /// the sink, as on a later run: correct, only slower.
  void end_user_matching() {
    const auto u = static_cast<std::size_t>(ObjectType::user);
    if (!fresh_[u]) return;
    created_values_[u] = FingerprintSet{};
    fresh_[u] = false;
    pipelined_[u] = false;  // a user batch now reads the store: never beside its worker
    // The groups' members resolve through the target index, which learns
    // the last users' targets when the store has linked them.
    drain();
  }

  /// Waits for the worker, then commits the store's window.
  void commit_all() {
    drain();
    close_window();
  }

  /// Objects linked but not seen in a complete full read.
  void remove_missing() {
    struct Missing {
      ObjectType type;
      std::string source_id;
      Link link;
      OnMissing action;
    };
    std::vector<Missing> missing;
    std::int64_t total = 0;
    for (ObjectType type : {ObjectType::user, ObjectType::group}) {
      const ObjectPolicy& policy = config_.policy(type);
      if (!policy.enabled || policy.on_missing == OnMissing::ignore) continue;
      // Every link of a type that had none before this run was made from an
      // object this run read: none is missing, and the scan (a read of the
      // whole kind index) would only say so.
      if (!had_links_[static_cast<std::size_t>(type)]) continue;
      total += state_.count_links(type);
      state_.for_each_link(
          type,
          [&](std::int64_t, std::string source_id, Link link) {
            if (policy.on_missing == OnMissing::disable && link.disabled) return;
            if (policy.ownership == Ownership::created_by_pipeline && !link.created_by_pipeline) return;
            missing.push_back({type, std::move(source_id), std::move(link), policy.on_missing});
          },
          [&](std::int64_t rowid) { return !is_seen(rowid); });
    }
    if (missing.empty()) return;
    const Safety& safety = config_.safety;
    double percent = total > 0 ? 100.0 * double(missing.size()) / double(total) : 0;
    bool over = (safety.max_deletions >= 0 && std::int64_t(missing.size()) > safety.max_deletions) ||
                (safety.max_deletions_percent >= 0 && percent > safety.max_deletions_percent);
    if (over && !options_.accept_deletions && !options_.dry_run) {
      char pct[32];
      std::snprintf(pct, sizeof pct, "%.1f%%", percent);
      std::string limit = safety.max_deletions >= 0 ? std::to_string(safety.max_deletions)
                                                    : std::to_string(safety.max_deletions_percent) + "%";
      throw Error(ErrorKind::safety,
                  std::to_string(missing.size()) + " objects (" + pct + " of " + std::to_string(total) +
                      " linked) are no longer in the source and would be disabled or deleted, above "
                      "safety.max_deletions (" + limit + "); nothing was removed. Check the source, review with "
                      "`dirsync plan`, then rerun with --accept-deletions to confirm");
    }
    std::vector<Decision> decisions;
    for (auto& m : missing) {
      Decision d;
      d.change.record.type = m.type;
      d.change.record.id = m.source_id;
      d.link = m.link;
      d.next = m.link;
      d.has_op = true;
      d.op.type = m.type;
      d.op.source_id = m.source_id;
      d.op.target_id = m.link.target_id;
      if (m.action == OnMissing::disable) {
        d.op.kind = OpKind::disable;
        d.op.attributes = config_.policy(m.type).disable_set;
        d.next.disabled = true;
      } else {
        d.op.kind = OpKind::remove;
        d.drop_link = true;
      }
      decisions.push_back(std::move(d));
      if (decisions.size() >= options_.batch_size) {
        apply(decisions);
        decisions.clear();
      }
    }
    apply(decisions);
  }

  /// Groups whose members included objects not written yet (a nested group
  /// that came later in the read) are decided once more at the end, from
  /// their stored snapshot: Entra's reference-resolution step.
  ///
  /// Their links are read by rowid and handed to decide(): on a first sync
  /// the store's key indexes are not built yet, and a lookup by key would
  /// build them here instead of at the end, beside the sink's (finish_writes).
  void resolve_deferred() {
    if (options_.dry_run || deferred_groups_.empty()) return;
    std::vector<std::pair<std::string, std::int64_t>> groups;
    groups.swap(deferred_groups_);
    recount_ = false;
    std::set<std::string, std::less<>> done;  // a group the read repeated is decided once more, not twice
    for (auto& [id, rowid] : groups) {
      if (!done.insert(id).second) continue;
      auto link = state_.link_at(rowid);
      if (!link) continue;
      Change c;
      c.record.type = ObjectType::group;
      c.record.id = id;
      c.record.attributes = parse_object(link->source);
      if (const Value* m = c.record.attributes.find(kMembersKey); m && m->is_list())
        for (const Value& v : m->as_list()) c.record.members.push_back(v.to_string());
      c.record.attributes.erase(kMembersKey);
      deferred_links_.insert_or_assign(id, std::move(*link));
      emit(std::move(c));
    }
    flush();
    recount_ = true;
  }

  /// After the read and its deferred groups: the target index is let go
  /// before the removal pass scans the store, so that the two never add up.
  void end_read() {
    targets_ = TargetIndex{};
    only_this_run_ = {};
  }

  const Progress& progress() const { return progress_; }

 private:
  /// The state store's write transaction spans many sink batches: inserting
  /// random-keyed links touches about one B-tree page per link, and a large
  /// transaction writes each touched page once instead of once per batch.
  static constexpr std::size_t kWindow = 50'000;
  /// Group members held per batch beyond `batch_size` objects.
  static constexpr std::size_t kMembersPerBatch = 50'000;

 public:
  void open_window() {
    if (!options_.dry_run && !state_.in_transaction()) state_.begin();
  }
  /// Commits the window; its intents are then done with.
  void close_window() {
    if (options_.dry_run || !state_.in_transaction()) return;
    state_.commit();
    for (std::int64_t id : window_intents_) state_.clear_intents(id);
    window_intents_.clear();
    window_objects_ = 0;
  }

 private:
  /// Fault injection for the crash tests: DIRSYNC_TEST_CRASH_AFTER_SINK_BATCH=N
  /// kills the process right after the sink committed its Nth batch and
  /// before the state store records it: the window the intents protect.
  void crash_point_after_sink() {
    static const char* env = std::getenv("DIRSYNC_TEST_CRASH_AFTER_SINK_BATCH");
    if (env && ++sink_batches_ == std::atoi(env)) std::raise(SIGKILL);
  }

  bool is_seen(std::int64_t rowid) const {
    return rowid >= 0 && static_cast<std::size_t>(rowid) < seen_.size() && seen_[static_cast<std::size_t>(rowid)];
  }
  void link_written(const Decision& d, std::int64_t rowid) {
    mark_seen(rowid);
    if (d.deferred) {
      std::lock_guard<std::mutex> lock(deferred_mutex_);
      deferred_groups_.emplace_back(d.change.record.id, rowid);
    }
  }

  void mark_seen(std::int64_t rowid) {
    if (rowid < 0) return;
    if (static_cast<std::size_t>(rowid) >= seen_.size()) seen_.resize(static_cast<std::size_t>(rowid) * 2 + 1, false);
    seen_[static_cast<std::size_t>(rowid)] = true;
  }

  /// This run's links first (the target index), then the store's.
  std::optional<std::string> target_of(ObjectType type, const std::string& source_id) {
    if (auto known = known_target(type, source_id)) return known;
    if (!store_may_know(type)) return std::nullopt;
    return state_.target_of(type, source_id);
  }

  /// Whether a miss in the target index must be asked of the store. On a
  /// first sync every link of the type was made by this run and is in the
  /// index: asking would only end the store's bulk load early (its indexes
  /// built mid-run, its page cache back to full size while group rows of a
  /// megabyte each go through it) to learn nothing.
  bool store_may_know(ObjectType type) {
    if (!only_this_run_[static_cast<std::size_t>(type)]) return true;
    return !targets_.complete();
  }

  /// What the target index learns from a batch the store has linked: the
  /// decisions apply_state() marked `learned`. On the engine's thread, which
  /// alone touches the index: shared with the store's worker under a mutex,
  /// the two took turns on it for every user, and a third of a first sync's
  /// users waited for the lock (365,000 futex calls a million users).
  void learn(const std::vector<Decision>& decisions) {
    if (!track_targets_) return;
    for (const Decision& d : decisions) {
      if (!d.learned) continue;
      const Record& rec = d.change.record;
      if (d.drop_link) targets_.erase(rec.type, rec.id);
      else if (!d.next.target_id.empty()) targets_.put(rec.type, rec.id, d.next.target_id);
    }
  }

  std::optional<std::string> known_target(ObjectType type, const std::string& source_id) {
    auto known = targets_.find(type, source_id);
    return known ? std::optional<std::string>(*known) : std::nullopt;
  }

  /// Whether a first sync decided this object before (a duplicate in the
  /// read, or a replay). With a target index, its entries answer; without
  /// one, a set of fingerprints does.
  bool decided_before(const Record& rec) {
    if (track_targets_) return targets_.mark(rec.type, rec.id);
    const std::uint64_t key = HashSet64::hash(rec.id, std::uint64_t(rec.type) + 1);
    const bool seen = decided_ids_.contains(key);
    decided_ids_.insert(key);
    return seen;
  }

  /// Reference-typed targets hold source ids; the sink needs target ids.
  void resolve_references(const ObjectPolicy& policy, Object& mapped) {
    for (const auto& m : policy.mapper.mappings()) {
      if (m.type != TargetType::reference) continue;
      Value* v = mapped.find(m.target);
      if (!v || v->is_null()) continue;
      std::string id = v->is_object() && v->as_object().find("id") ? v->as_object().find("id")->to_string()
                                                                    : v->to_string();
      auto target = target_of(ObjectType::user, id);
      if (!target) target = target_of(ObjectType::group, id);
      // Unresolved now (the referenced object is not written yet): null this
      // run; the next run resolves it because the hash will differ then.
      *v = target ? Value(*target) : Value();
    }
  }

  std::vector<std::string> resolve_members(const std::vector<std::string>& source_ids) {
    std::vector<std::string> out;
    out.reserve(source_ids.size());
    for (const auto& id : source_ids) {
      // Both types in this run's index before either in the store: a nested
      // group's member is a group, and a store miss costs a read.
      std::optional<std::string> known = known_target(ObjectType::user, id);
      if (!known) known = known_target(ObjectType::group, id);
      if (!known && in_flight()) {
        // A group of a batch still in the workers' hands is not in the index
        // yet: once they are done, it is (or it is not this run's).
        drain();
        known = known_target(ObjectType::user, id);
        if (!known) known = known_target(ObjectType::group, id);
      }
      if (known) {
        out.push_back(std::move(*known));
        continue;
      }
      std::optional<std::string> target;
      if (store_may_know(ObjectType::user)) target = state_.target_of(ObjectType::user, id);
      if (!target && store_may_know(ObjectType::group)) target = state_.target_of(ObjectType::group, id);
      if (target) out.push_back(std::move(*target));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  std::uint64_t mapped_hash(const Object& mapped, const std::vector<std::string>* members) const {
    if (!members) return dirsync::hash_of(hash_, mapped);
    Object copy = mapped;
    if (members) {
      List list;
      for (const auto& m : *members) list.emplace_back(m);
      copy.set(std::string(kMembersKey), Value(std::move(list)));
    }
    return dirsync::hash_of(hash_, Value(std::move(copy)));
  }

  Decision decide(Change&& change) {
    Decision d;
    d.change = std::move(change);
    const Record& rec = d.change.record;
    const ObjectPolicy& policy = config_.policy(rec.type);
    if (recount_) {
      ++report_.counts.processed;
      ++progress_.read;
    }
    if (!policy.enabled) {
      d.skipped = true;
      return d;
    }
    if (auto known = deferred_links_.find(rec.id); known != deferred_links_.end() && rec.type == ObjectType::group) {
      d.link = std::move(known->second);
      deferred_links_.erase(known);
    } else if (fresh_[static_cast<std::size_t>(rec.type)]) {
      // A first sync has only the links this run made: ask the store only
      // when this id was already decided once (a duplicate or a replay).
      if (decided_before(rec)) {
        drain();
        d.link = state_.find_link(rec.type, rec.id);
      }
    } else {
      d.link = state_.find_link(rec.type, rec.id);
    }
    if (d.link) {
      mark_seen(d.link->rowid);
      d.next = *d.link;
    }
    auto removal = [&](OpKind kind) {
      if (!d.link || (kind == OpKind::disable && d.link->disabled)) {
        d.skipped = true;
        return;
      }
      if (policy.ownership == Ownership::created_by_pipeline && !d.link->created_by_pipeline) {
        d.skipped = true;
        return;
      }
      d.has_op = true;
      d.op.kind = kind;
      d.op.type = rec.type;
      d.op.source_id = rec.id;
      d.op.target_id = d.link->target_id;
      if (kind == OpKind::disable) {
        d.op.attributes = policy.disable_set;
        d.next.disabled = true;
      } else {
        d.drop_link = true;
      }
    };
    if (d.change.kind == ChangeKind::soft_deleted) {
      removal(OpKind::disable);
      return d;
    }
    if (d.change.kind == ChangeKind::deleted) {
      if (policy.on_missing == OnMissing::remove) removal(OpKind::remove);
      else if (policy.on_missing == OnMissing::disable) removal(OpKind::disable);
      else d.skipped = true;
      return d;
    }

    // The full source object: a partial record is merged over what we stored,
    // so expressions always see every attribute (a delta that omits an
    // unchanged input must not turn a Switch() into null).
    const Object* whole = &rec.attributes;
    Object merged_source;
    // Taken, not copied: nothing after decide() reads a record's members, and
    // a group's list is held in every batch still in the workers' hands.
    std::vector<std::string> member_ids = std::move(d.change.record.members);
    if (rec.partial && d.link) {
      Object merged = parse_object(d.link->source);
      std::vector<std::string> old_members;
      if (const Value* m = merged.find(kMembersKey); m && m->is_list())
        for (const Value& id : m->as_list()) old_members.push_back(id.to_string());
      merged.erase(kMembersKey);
      for (auto& [k, v] : rec.attributes) merged.set(k, v);
      merged_source = std::move(merged);
      whole = &merged_source;
      std::set<std::string> members(old_members.begin(), old_members.end());
      for (const auto& id : member_ids) members.insert(id);
      for (const auto& id : rec.members_removed) members.erase(id);
      member_ids.assign(members.begin(), members.end());
    }
    const Object& source = *whole;
    bool snapshot_changed = false;
    if (rec.type == ObjectType::group) {
      Object snapshot = source;
      List list;
      for (const auto& id : member_ids) list.emplace_back(id);
      snapshot.set(std::string(kMembersKey), Value(std::move(list)));
      d.next.source_hash = dirsync::hash_of(hash_, snapshot);
      snapshot_changed = !d.link || d.link->source_hash != d.next.source_hash;
      if (snapshot_changed) d.next.source = to_json(snapshot);
    } else if (options_.keep_source_state) {
      d.next.source_hash = dirsync::hash_of(hash_, source);
      snapshot_changed = !d.link || d.link->source_hash != d.next.source_hash;
      if (snapshot_changed) d.next.source = to_json(source);
    }

    if (!policy.scope.matches(source, rec.id, membership_.get())) {
      if (!d.link || d.link->disabled || policy.on_out_of_scope == OnOutOfScope::keep) {
        d.skipped = true;
        d.store_link = d.link && snapshot_changed;
        return d;
      }
      removal(policy.on_out_of_scope == OnOutOfScope::disable ? OpKind::disable : OpKind::remove);
      return d;
    }

    const bool group_members = rec.type == ObjectType::group && policy.members;
    std::vector<std::string> members;
    if (group_members) {
      members = resolve_members(member_ids);
      d.deferred = members.size() < member_ids.size() && recount_;
    }
    try {
      if (d.link) decide_update(d, policy, source, members, group_members, snapshot_changed);
      else decide_create(d, policy, source, members, group_members);
    } catch (const Error& e) {
      d.has_op = false;
      d.intent = false;
      d.error = e.what();
    }
    return d;
  }

  void decide_update(Decision& d, const ObjectPolicy& policy, const Object& source,
                         const std::vector<std::string>& members, bool group_members, bool snapshot_changed) {
    const Record& rec = d.change.record;
    if (policy.ownership == Ownership::created_by_pipeline && !d.link->created_by_pipeline) {
      d.skipped = true;
      d.store_link = snapshot_changed;
      return;
    }
    Object mapped = policy.mapper.map(source, false);
    resolve_references(policy, mapped);
    std::uint64_t hash = mapped_hash(mapped, group_members ? &members : nullptr);
    if (hash == d.link->hash && !d.link->disabled) {
      d.skipped = true;
      d.store_link = snapshot_changed;
      return;
    }
    Operation op;
    op.kind = OpKind::update;
    op.type = rec.type;
    op.source_id = rec.id;
    op.target_id = d.link->target_id;
    if (rec.type == ObjectType::group) {
      Object written = parse_object(d.link->written);
      for (const auto& [k, v] : mapped) {
        const Value* old = written.find(k);
        if (!old || *old != v) op.attributes.set(k, v);
      }
      if (group_members) {
        std::vector<std::string> old = stored_members(written);
        std::set_difference(members.begin(), members.end(), old.begin(), old.end(),
                            std::back_inserter(op.members_add));
        std::set_difference(old.begin(), old.end(), members.begin(), members.end(),
                            std::back_inserter(op.members_remove));
      }
      for (const auto& [k, v] : op.attributes) written.set(k, v);
      if (group_members) {
        List list;
        for (const auto& m : members) list.emplace_back(m);
        written.set(std::string(kMembersKey), Value(std::move(list)));
      }
      d.next.written = to_json(Value(std::move(written)));
    } else {
      op.attributes = written::changed(mapped, d.link->written);
      d.next.written = written::merge(d.link->written, op.attributes);
    }
    d.next.hash = hash;
    d.next.disabled = false;
    if (op.attributes.empty() && op.members_add.empty() && op.members_remove.empty() && !d.link->disabled) {
      // Same values, different hash input (e.g. a mapping was reordered).
      d.skipped = true;
      d.store_link = true;
      return;
    }
    d.has_op = true;
    d.op = std::move(op);
    return;
  }

  void decide_create(Decision& d, const ObjectPolicy& policy, const Object& source,
                         const std::vector<std::string>& members, bool group_members) {
    const Record& rec = d.change.record;
    // SelectUniqueValue asks the sink, and remembers what this run handed out
    // (two new objects of one batch are not in the sink yet).
    expr::EvalHooks hooks;
    hooks.is_unique_for = [&](std::string_view target, const Value& candidate) {
      std::string key = std::string(target) + '\x1f' + candidate.to_string();
      if (claimed_.count(key)) return false;
      if (!find_target(rec.type, std::string(target), candidate, true).empty()) return false;
      claimed_.insert(std::move(key));
      return true;
    };
    const bool differs = creation_differs_[static_cast<std::size_t>(rec.type)];
    // Creating adds only on_create attributes (a constant `kind`, say): the
    // update's attributes are mapped once, and the rest added if this turns
    // out a create. Mapping twice was a tenth of a first sync's engine thread.
    const bool adds_only = adds_only_[static_cast<std::size_t>(rec.type)];
    Object mapped_create, update_only;
    if (!adds_only) {
      mapped_create = policy.mapper.map(source, true, &hooks);
      resolve_references(policy, mapped_create);
    }
    if (differs) {
      update_only = policy.mapper.map(source, false);
      resolve_references(policy, update_only);
    }
    // Only one of the two is moved into the operation below.
    Object& mapped_update = differs ? update_only : mapped_create;

    // Matching: the first key with a value decides; two targets is an error.
    std::optional<std::string> matched;
    bool any_value = policy.match.empty();
    for (const MatchKey& key : policy.match) {
      const Value* v = lookup_path(source, key.source);
      if (!v || v->is_empty()) continue;
      any_value = true;
      std::vector<std::string> ids = find_target(rec.type, key.target, *v, key.ignore_case);
      if (ids.empty()) continue;
      if (ids.size() > 1)
        throw Error(ErrorKind::input, "matches " + std::to_string(ids.size()) + " target objects by " + key.target +
                                          " = '" + v->to_string() + "' (" + ids[0] + ", " + ids[1] +
                                          "); refusing to pick one");
      matched = ids[0];
      break;
    }
    if (!any_value) {
      std::string keys;
      for (const auto& k : policy.match) keys += (keys.empty() ? "" : ", ") + k.source;
      throw Error(ErrorKind::input, "has no value for any match key (" + keys + ")");
    }
    const bool recovering = !recovering_.empty() && recovering_.count({rec.type, rec.id}) > 0;
    // d.next already carries the source snapshot computed in decide().
    d.next.hash = mapped_hash(mapped_update, group_members ? &members : nullptr);
    Operation op;
    op.type = rec.type;
    op.source_id = rec.id;
    if (matched) {
      drain();
      if (auto other = state_.source_for_target(rec.type, *matched); other && *other != rec.id)
        throw Error(ErrorKind::input, "matches target " + *matched + ", which is already linked to source object " +
                                          *other);
      d.next.target_id = *matched;
      d.next.created_by_pipeline = recovering;
      if (policy.ownership == Ownership::created_by_pipeline && !recovering) {
        // Adopt the link so the object is recognised later, but leave it alone.
        d.next.written = "{}";
        d.skipped = true;
        d.store_link = true;
        return;
      }
      op.kind = OpKind::update;
      op.target_id = *matched;
      d.next.written = written_state(mapped_update, group_members ? &members : nullptr, rec.type);
      op.attributes = std::move(mapped_update);
      if (group_members) op.members_add = members;
    } else {
      op.kind = OpKind::create;
      if (adds_only) {
        policy.mapper.add_creation_only(source, update_only, &hooks);
        mapped_create = std::move(update_only);
      }
      if (fresh_[static_cast<std::size_t>(rec.type)])
        for (const auto& target : tracked_[static_cast<std::size_t>(rec.type)])
          if (const Value* v = mapped_create.find(target); v && !v->is_empty())
            created_values_[static_cast<std::size_t>(rec.type)].insert(value_key(target, *v));
      d.next.written = written_state(mapped_create, group_members ? &members : nullptr, rec.type);
      op.attributes = std::move(mapped_create);
      if (group_members) op.members_add = members;
      d.next.created_by_pipeline = true;
      d.intent = true;
    }
    d.has_op = true;
    d.op = std::move(op);
    return;
  }

  /// What the state store keeps of a write: a user's fingerprint
  /// (sync/written.hpp); a group's attributes as JSON, and its member target
  /// ids under kMembersKey.
  std::string written_state(const Object& attributes, const std::vector<std::string>* members,
                            ObjectType type) const {
    if (type == ObjectType::user) return written::fingerprint(attributes, hash_);
    if (!members) return to_json(attributes);
    Object written = attributes;
    List list;
    for (const auto& m : *members) list.emplace_back(m);
    written.set(std::string(kMembersKey), Value(std::move(list)));
    return to_json(written);
  }

  /// The sink's find(), except on a first sync into an empty target, where
  /// only values this run created can match: those are remembered as hashes,
  /// and only a hash hit (a real duplicate, or a collision) asks the sink.
  std::vector<std::string> find_target(ObjectType type, const std::string& attribute, const Value& value,
                                       bool ignore_case) {
    const auto t = static_cast<std::size_t>(type);
    if (fresh_[t] && !created_values_[t].contains(value_key(attribute, value))) return {};
    drain();  // the sink is the worker's while a batch is in flight
    return sink_.find(type, attribute, value, ignore_case);
  }

  /// Case-folded (ASCII, as SQLite's NOCASE) whatever the key's ignore_case:
  /// folding more only turns a miss into a find(). Folded in a buffer kept
  /// across calls: a first sync asks this three or four times per user.
  std::uint64_t value_key(std::string_view attribute, const Value& value) {
    if (value.is_string()) folded_.assign(value.as_string());
    else folded_ = value.to_string();
    for (char& c : folded_)
      if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return HashSet64::hash(folded_, HashSet64::hash(attribute));
  }

  /// Whether creating maps differently from updating (on_create mappings,
  /// creation-only defaults); when not, one mapping serves both. Once per
  /// run: see creation_differs_.
  bool creation_differs(ObjectType type) const {
    for (const auto& m : config_.policy(type).mapper.mappings())
      if (m.apply == mapping::Apply::on_create || m.default_if_null ||
          (m.kind == mapping::Kind::expression && m.expression->selects_unique_value()))
        return true;
    return false;
  }

  void count_op(OpKind kind) {
    switch (kind) {
      case OpKind::create: ++report_.counts.created; break;
      case OpKind::update: ++report_.counts.updated; break;
      case OpKind::disable: ++report_.counts.disabled; break;
      case OpKind::remove: ++report_.counts.deleted; break;
    }
  }

  void record_error(const Decision& d, std::string_view operation, const std::string& message) {
    ++report_.counts.failed;
    RunError e{std::string(to_string(d.change.record.type)), d.change.record.id, std::string(operation), message};
    log_.warn(std::string(to_string(d.change.record.type)) + " " + d.change.record.id + ": " + message);
    if (!options_.dry_run) state_.add_error(run_id_, e);
    if (report_.errors.size() < 20) report_.errors.push_back(std::move(e));
  }

  /// A batch on its way through the sink and the state store.
  struct Batch {
    std::vector<Decision> decisions;
    std::vector<OpResult> results;     ///< one per decision with an op, in order
    std::optional<std::int64_t> intent;
    std::vector<Operation> ops;        ///< the decisions' ops, moved out for the sink
  };

  /// Batches the workers are done with are freed on this thread, which
  /// allocated them: a free on another thread takes the allocating arena's
  /// lock, and this thread, allocating the next batch, waited on it (a fifth
  /// of a first sync's CPU went to malloc and its locks).
  void retire(std::shared_ptr<Batch> batch) {
    std::lock_guard<std::mutex> lock(retired_mutex_);
    retired_.push_back(std::move(batch));
  }
  /// Also where the target index learns from them, in batch order.
  void free_retired() {
    std::vector<std::shared_ptr<Batch>> gone;
    {
      std::lock_guard<std::mutex> lock(retired_mutex_);
      gone.swap(retired_);
    }
    for (const auto& batch : gone) learn(batch->decisions);
  }

  void apply(std::vector<Decision>& decisions) {
    if (decisions.empty()) return;
    if (options_.dry_run) {
      plan(decisions);
      return;
    }
    Batch batch{std::move(decisions), {}, {}, {}};
    apply_sink(batch);
    apply_state(batch);
    learn(batch.decisions);
  }

  void plan(std::vector<Decision>& decisions) {
    for (auto& d : decisions) {
      if (!d.error.empty()) {
        record_error(d, "match", d.error);
      } else if (d.skipped) {
        ++report_.counts.skipped;
      } else if (d.has_op) {
        count_op(d.op.kind);
        if (report_.plan.size() < options_.plan_limit)
          report_.plan.push_back({d.op.kind, d.op.type, d.op.source_id, d.op.target_id, d.op.attributes,
                                  d.op.members_add.size(), d.op.members_remove.size()});
      }
    }
  }

  /// The sink's half of a batch: the intent journal, then the sink. Touches
  /// nothing the state stage uses (the journal is its own connection).
  void apply_sink(Batch& batch) {
    std::vector<Operation>& ops = batch.ops;
    std::vector<std::string_view> creating;  // the decisions outlive the call
    for (Decision& d : batch.decisions) {
      if (d.intent) creating.push_back(d.change.record.id);
      if (d.has_op) ops.push_back(std::move(d.op));  // kind and type survive the move
    }
    // Intent first: a crash after the sink commits but before the store does
    // leaves a trace the next run uses to adopt instead of duplicating.
    if (!creating.empty())
      batch.intent = state_.add_intents(batch.decisions.front().change.record.type, creating, run_id_);
    batch.results.resize(ops.size());
    if (ops.empty()) return;
    sink_.apply(ops, batch.results);
    crash_point_after_sink();
  }

  /// The state store's half: links, counts and per-object errors.
  void apply_state(Batch& batch) {
    open_window();
    if (batch.intent) window_intents_.push_back(*batch.intent);
    std::size_t r = 0;
    for (Decision& d : batch.decisions) {
      const Record& rec = d.change.record;
      if (!d.error.empty()) {
        record_error(d, "match", d.error);
        continue;
      }
      if (d.has_op) {
        const OpResult& result = batch.results[r++];
        if (!result.ok) {
          record_error(d, to_string(d.op.kind), result.error.empty() ? "the sink reported a failure" : result.error);
          continue;
        }
        count_op(d.op.kind);
        ++written_;
        if (d.drop_link) {
          state_.delete_link(rec.type, rec.id);
        } else {
          if (d.op.kind == OpKind::create) d.next.target_id = result.target_id;
          link_written(d, state_.write_link(rec.type, rec.id, d.next));
        }
        d.learned = true;
        continue;
      }
      if (d.skipped && recount_) ++report_.counts.skipped;
      if (d.store_link) link_written(d, state_.write_link(rec.type, rec.id, d.next));
      d.learned = d.link || d.store_link;
    }
    window_objects_ += batch.decisions.size();
    if (window_objects_ >= kWindow) close_window();
  }

  /// On the engine's thread only: the callback must not race the worker.
  void report_progress() {
    progress_.written = written_.load();
    if (options_.progress) options_.progress(progress_);
  }

  const PipelineConfig& config_;
  Sink& sink_;
  StateStore& state_;
  Logger& log_;
  const RunOptions& options_;
  RunReport& report_;
  std::int64_t run_id_;
  std::vector<Change> batch_;
  HashSet64 batch_ids_;  ///< (type, source id) of the batch being filled
  std::size_t batch_members_ = 0;
  std::vector<bool> seen_;
  std::set<std::pair<ObjectType, std::string>> recovering_;
  std::mutex deferred_mutex_;
  std::vector<std::pair<std::string, std::int64_t>> deferred_groups_;  ///< source id, link rowid
  std::map<std::string, Link, std::less<>> deferred_links_;            ///< for decide(), by resolve_deferred()
  std::set<std::string> claimed_;  ///< SelectUniqueValue results of this run
  std::string folded_;             ///< value_key()'s buffer
  const ObjectHash hash_ = state_.object_hash();  ///< what the store's links hold
  std::array<bool, 2> fresh_{};    ///< per object type: first sync into an empty target
  /// Per object type: every link was made by this run and is in targets_
  /// (a first sync), so a miss there need not be asked of the store. Lasts
  /// past fresh_, through the deferred groups: a member out of scope would
  /// otherwise build the store's key indexes, with its full page cache, at
  /// the moment the run holds the most.
  std::array<bool, 2> only_this_run_{};
  std::array<bool, 2> creation_differs_{};  ///< per type: creation_differs()
  std::array<bool, 2> adds_only_{};  ///< per type: it differs, and Mapper::creation_only_adds()
  std::array<bool, 2> had_links_{true, true};  ///< per type: the store held links of it when the run started (start())
  std::array<std::set<std::string>, 2> tracked_;  ///< target attributes whose created values are remembered
  std::array<FingerprintSet, 2> created_values_;  ///< per object type: (attribute, value) this run created, fresh types only
  std::optional<ObjectType> last_type_;  ///< of the last object emitted
  FingerprintSet decided_ids_;     ///< (type, source id) decided this run, fresh types only, when no targets_
  std::mutex retired_mutex_;
  std::vector<std::shared_ptr<Batch>> retired_;  ///< done with by the store's worker, freed by free_retired()
  TargetIndex targets_;            ///< target ids of this run's links (and the first sync's decided ids)
  bool track_targets_ = false;     ///< only when groups resolve members or mappings hold references
  /// Per object type: batches are written by the workers while the next is
  /// decided (a first sync without references; see overlaps()).
  std::array<bool, 2> pipelined_{};
  std::atomic<std::int64_t> written_{0};
  std::unique_ptr<StoredMembership> membership_;
  bool recount_ = true;
  int sink_batches_ = 0;
  std::vector<std::int64_t> window_intents_;
  std::size_t window_objects_ = 0;  ///< false while re-deciding deferred groups: they were counted once
  Progress progress_;
  std::shared_future<void> sink_done_;   ///< the batch in the sink's hands
  std::shared_future<void> state_done_;  ///< the last batch in the store's hands
  std::shared_future<void> state_waited_;  ///< the one before it
  /// Last members: destroyed first, so the stages finish before anything
  /// they use goes; the store's first, as its tasks wait for the sink's.
  SerialWorker sink_worker_;
  SerialWorker state_worker_;
};

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

/// After a run's last apply: the sink builds what its bulk load deferred
/// while the store builds the key indexes its own load dropped. Two files,
/// two connections, each a sort over a million rows on a first sync: side by
/// side they take the time of the longer one. The sink's side then empties
/// the intent journal's WAL, which the close would otherwise do last.
void finish_writes(Sink& sink, StateStore& state) {
  auto sink_done = std::async(std::launch::async, [&sink, &state] {
    sink.finish();
    state.checkpoint_journal();
  });
  try {
    state.end_bulk_load();
  } catch (...) {
    sink_done.wait();
    throw;
  }
  sink_done.get();
}

}  // namespace

RunReport Runner::run(const RunOptions& options) {
  RunReport report;
  std::optional<std::string> cursor = state_.cursor();
  bool config_changed = !state_.config_hash().empty() && state_.config_hash() != config_.config_hash;
  ReadRequest request;
  request.mode = (options.full || !cursor || cursor->empty() || config_changed) ? ReadMode::full : ReadMode::incremental;
  if (request.mode == ReadMode::incremental) request.cursor = *cursor;
  if (config_changed && !options.full && cursor)
    report.note = "scope, matching or mappings changed since the last run: full evaluation";
  request.users = config_.users.enabled;
  request.groups = config_.groups.enabled;
  request.user_attributes = config_.users.source_attributes();
  request.group_attributes = config_.groups.source_attributes();
  report.mode = request.mode == ReadMode::full ? "full" : "incremental";

  if (!options.dry_run) report.run_id = state_.begin_run(report.mode);
  auto finish = [&](const std::string& status, const std::optional<std::string>& new_cursor) {
    report.status = status;
    if (!options.dry_run)
      state_.finish_run(report.run_id, status, report.counts, report.mode, redactor_.redact(report.error),
                        redactor_.redact(report.note), new_cursor, config_.config_hash);
  };

  Engine engine(config_, sink_, state_, log_, options, report, report.run_id);
  ReadResult result;
  try {
    if (!options.dry_run) {
      std::vector<TargetSchema> schema;
      if (config_.users.enabled) schema.push_back({ObjectType::user, config_.users.mapper.target_schema()});
      if (config_.groups.enabled) schema.push_back({ObjectType::group, config_.groups.mapper.target_schema()});
      sink_.prepare(schema);
      engine.start();
    }
    try {
      result = source_.read(request, engine);
      engine.finish();
      engine.resolve_deferred();
      engine.commit_all();
      engine.end_read();
    } catch (const Error& e) {
      // What was read before the failure is still written; nothing is removed
      // and the cursor stays where it was.
      if (e.kind() != ErrorKind::safety) {
        try {
          engine.finish();
        } catch (const Error&) {
        }
      }
      try {
        engine.commit_all();
      } catch (const Error&) {
      }
      throw;
    }
    if (!report.note.empty() && !result.note.empty()) report.note += "; ";
    report.note += result.note;
    report.mode = result.mode == ReadMode::full ? "full" : "incremental";
    if (result.complete && result.mode == ReadMode::full) {
      engine.remove_missing();
      engine.commit_all();
    } else if (!result.complete) {
      report.note += std::string(report.note.empty() ? "" : "; ") + "the read was incomplete: nothing was removed";
    }
    if (!options.dry_run) finish_writes(sink_, state_);
  } catch (const Error& e) {
    // What the sink already holds must be linked before the run row closes.
    try {
      engine.commit_all();
      if (!options.dry_run) finish_writes(sink_, state_);
    } catch (const Error&) {
    }
    report.error = redactor_.redact(e.what());
    if (e.kind() == ErrorKind::safety || e.kind() == ErrorKind::config) {
      finish("Failed", std::nullopt);
      throw Error(e.kind(), report.error);
    }
    bool partial = report.counts.created + report.counts.updated + report.counts.disabled + report.counts.deleted > 0;
    finish(partial ? "Partial" : "Failed", std::nullopt);
    // The error decides the exit code, whatever was written before it: an
    // operator must see "credentials/connection" (3) even when some objects
    // made it; read failures and bad input are 1.
    report.exit_code = exit_code_for(e.kind());
    log_.error("run " + std::string(partial ? "partial" : "failed") + ": " + first_line(report.error));
    return report;
  }
  std::optional<std::string> new_cursor;
  if (result.complete) new_cursor = result.cursor;
  // Every object a crashed run may have created was seen and re-matched by
  // this complete full read; their intents are done with.
  if (result.complete && result.mode == ReadMode::full && !options.dry_run) state_.clear_intents_before(report.run_id);
  std::string status = report.counts.failed > 0 || !result.complete ? "Partial" : "Success";
  finish(status, new_cursor);
  report.exit_code = status == "Success" ? 0 : 1;
  return report;
}

}  // namespace dirsync
