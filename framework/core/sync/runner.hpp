// One run of a pipeline: source -> scope -> mapping -> matching -> reconcile -> sink.
//
// The runner streams: a source emits changes, the runner collects them into
// batches (one object type per batch, so a group batch always sees the links
// of the users before it), decides an operation per object, hands the batch to
// the sink, and records the outcome in the state store. Memory is bounded by
// the batch size plus one bit per known link (the "seen" set used to find
// objects missing from a complete full read).
//
// Safety invariants (DESIGN.md):
//   - removals for "not seen" happen only after a complete full read;
//   - they are counted before any is written, and a count above
//     safety.max_deletions stops the run (ErrorKind::safety) unless accepted;
//   - an unchanged object costs one state-store read and no write;
//   - the cursor moves only when the read completed and every batch committed.
#pragma once

#include "config/pipeline_config.hpp"
#include "logging/redactor.hpp"
#include "state/state_store.hpp"

#include <dirsync/plugin.hpp>

#include <functional>
#include <string>
#include <vector>

namespace dirsync {

struct Progress {
  std::int64_t read = 0;
  std::int64_t written = 0;
};

struct RunOptions {
  bool full = false;              ///< ignore the cursor
  bool dry_run = false;           ///< plan: decide, but write nothing to sink or state
  bool accept_deletions = false;  ///< confirm removals above the safety threshold
  std::size_t batch_size = 1000;
  std::size_t plan_limit = 20;    ///< operations kept for the plan output
  /// Keep each user's last full source state (needed to merge partial
  /// records; see PluginDescriptor::partial_records). Groups always keep it.
  bool keep_source_state = true;
  std::function<void(const Progress&)> progress;
};

struct PlannedOp {
  OpKind kind = OpKind::create;
  ObjectType type = ObjectType::user;
  std::string source_id;
  std::string target_id;
  Object attributes;
  std::size_t members_add = 0, members_remove = 0;
};

struct RunReport {
  std::int64_t run_id = 0;
  std::string status;  ///< Success | Partial | Failed
  std::string mode;    ///< full | incremental
  RunCounts counts;
  std::string error;
  std::string note;
  std::vector<PlannedOp> plan;
  std::vector<RunError> errors;  ///< first few per-object errors
  int exit_code = 0;
};

class Runner {
 public:
  Runner(const PipelineConfig& config, Source& source, Sink& sink, StateStore& state, Logger& log,
         const Redactor& redactor)
      : config_(config), source_(source), sink_(sink), state_(state), log_(log), redactor_(redactor) {}

  /// Runs once. Per-object failures and read failures are reported in the
  /// RunReport (status, exit code); configuration and safety stops, and a sink
  /// that cannot be reached before anything was written, throw Error.
  RunReport run(const RunOptions& options);

 private:
  const PipelineConfig& config_;
  Source& source_;
  Sink& sink_;
  StateStore& state_;
  Logger& log_;
  const Redactor& redactor_;
};

}  // namespace dirsync
