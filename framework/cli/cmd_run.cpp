// `dirsync run` and `dirsync plan`.
#include "cli.hpp"
#include "sync/runner.hpp"

#include <chrono>
#include <filesystem>
#include <cstdio>
#include <unistd.h>

namespace dirsync::cli {

namespace {

std::string counts_line(const RunCounts& c) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "processed %lld  created %lld  updated %lld  disabled %lld  deleted %lld  skipped %lld  failed %lld",
                (long long)c.processed, (long long)c.created, (long long)c.updated, (long long)c.disabled,
                (long long)c.deleted, (long long)c.skipped, (long long)c.failed);
  return buf;
}

std::string describe(const PlannedOp& op) {
  std::string line = "  " + std::string(to_string(op.kind)) + " " + std::string(to_string(op.type)) + " " +
                     op.source_id;
  if (!op.target_id.empty()) line += " -> " + op.target_id;
  if (!op.attributes.empty()) line += " " + to_json(Value(op.attributes));
  if (op.members_add || op.members_remove)
    line += " members +" + std::to_string(op.members_add) + " -" + std::to_string(op.members_remove);
  return line + "\n";
}

}  // namespace

int cmd_run(Context& ctx, bool dry_run) {
  PipelineHost host(ctx.options.args[0], ctx.options.host, ctx.logger, ctx.redactor);
  const PipelineConfig& config = host.config();
  auto source = host.make_source();
  auto sink = host.make_sink();
  // A plan never creates the state store: with none yet, it plans against an
  // empty, throwaway one (everything would be created).
  std::filesystem::path state_path = config.state_path;
  std::filesystem::path scratch;
  if (dry_run && !std::filesystem::exists(state_path)) {
    scratch = std::filesystem::temp_directory_path() / ("dirsync-plan-" + std::to_string(getpid()));
    std::filesystem::create_directories(scratch);
    state_path = scratch / "state.db";
  }
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() {
      std::error_code ec;
      if (!dir.empty()) std::filesystem::remove_all(dir, ec);
    }
  } cleanup{scratch};
  StateStore state(state_path, config.name);

  RunOptions options;
  options.full = ctx.options.full;
  options.dry_run = dry_run;
  options.accept_deletions = ctx.options.accept_deletions;
  options.plan_limit = ctx.options.limit;
  options.batch_size = ctx.options.batch_size;
  options.keep_source_state = host.source_plugin().descriptor->partial_records;
  const bool tty = isatty(STDERR_FILENO) && ctx.options.log_format == LogFormat::text;
  auto started = std::chrono::steady_clock::now();
  auto last_print = started;
  if (tty) {
    options.progress = [&](const Progress& p) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_print < std::chrono::milliseconds(250)) return;
      last_print = now;
      double seconds = std::chrono::duration<double>(now - started).count();
      std::fprintf(stderr, "\r  read %lld  written %lld  (%.0f objects/s)   ", (long long)p.read,
                   (long long)p.written, seconds > 0 ? double(p.read) / seconds : 0.0);
      std::fflush(stderr);
    };
  }
  host.host_log().info(std::string(dry_run ? "planning" : "running") + " pipeline '" + config.name + "'");
  RunReport report = Runner(config, *source, *sink, state, host.host_log(), *ctx.redactor).run(options);
  if (tty) std::fprintf(stderr, "\r%60s\r", "");
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::string text;
  if (dry_run) {
    text += "plan for pipeline '" + config.name + "' (" + report.mode + "): nothing was written\n";
  } else {
    text += "run " + std::to_string(report.run_id) + " of pipeline '" + config.name + "' (" + report.mode +
            "): " + report.status + "\n";
  }
  text += "  " + counts_line(report.counts) + "\n";
  char rate[96];
  std::snprintf(rate, sizeof rate, "  %.2f s, %.0f objects/s\n", seconds,
                seconds > 0 ? double(report.counts.processed) / seconds : 0.0);
  text += rate;
  if (!report.note.empty()) text += "  note: " + report.note + "\n";
  if (!report.error.empty()) text += "  error: " + report.error + "\n";
  if (dry_run && !report.plan.empty()) {
    text += "first " + std::to_string(report.plan.size()) + " operations:\n";
    for (const auto& op : report.plan) text += describe(op);
  }
  for (const auto& e : report.errors)
    text += "  failed " + e.operation + " " + e.object_type + " " + e.source_id + ": " + e.message + "\n";
  ctx.out(text);
  return report.exit_code;
}

}  // namespace dirsync::cli
