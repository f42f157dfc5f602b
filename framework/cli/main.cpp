// dirsync: validate, plan, run and serve directory-sync pipelines.
#include "cli.hpp"

#include <sqlite3.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <unistd.h>

namespace dirsync::cli {

namespace {

const char* const kUsage = R"(usage: dirsync <command> [options] [PIPELINE.yaml]

commands:
  validate PIPELINE         check the pipeline file and its plugins' settings; connect to nothing
  plan PIPELINE             dry run: what a run would create, update, disable and delete; writes nothing
  run PIPELINE              sync once (incremental when the source has a cursor)
  runs PIPELINE             the sync log: recent runs with their counts and status
  test-connection PIPELINE  check credentials and permissions of the source and the sink
  daemon PIPELINE...        run on each pipeline's schedule; serve push sources (SCIM)
  test FILE_test.yaml...    run a pipeline's unit tests: fixture objects in, expected operations out
  eval -e EXPR [--object F] evaluate an expression against a sample object (JSON)
  eval PIPELINE --object F  show scope and mapped attributes of a sample object
  plugins                   list the plugins found, with their configuration keys
  version                   print the version

options:
  --full                    ignore the stored cursor: read everything (run, plan)
  --accept-deletions        confirm removals above safety.max_deletions (run)
  --plugin-dir DIR          also look for plugins in DIR (repeatable; see DIRSYNC_PLUGIN_PATH)
  --state PATH              use this state store instead of the pipeline's
  --limit N                 operations shown by plan, runs shown by runs (default 20)
  --batch-size N            objects per sink batch and state transaction (default 1000)
  --errors                  runs: also list per-object errors
  --json                    runs, plugins: machine-readable output
  --log-format text|json    log lines on stderr (default text)
  --log-level LEVEL         debug, info, warn or error (default info)

exit codes: 0 success, 1 partial, 2 invalid configuration, 3 connection or authentication failure,
            4 stopped by a safety rule
)";

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "dirsync: error: %s\n(run `dirsync --help` for usage)\n", message.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= argc) usage_error(std::string(name) + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--full") {
      o.full = true;
    } else if (a == "--accept-deletions") {
      o.accept_deletions = true;
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--errors") {
      o.errors = true;
    } else if (a == "--plugin-dir") {
      o.host.plugin_dirs.emplace_back(value("--plugin-dir"));
    } else if (a == "--state") {
      o.host.state_path = value("--state");
    } else if (a == "--limit") {
      std::string v = value("--limit");
      try {
        o.limit = std::stoul(v);
      } catch (...) {
        usage_error("--limit needs a number, not '" + v + "'");
      }
    } else if (a == "--batch-size") {
      std::string v = value("--batch-size");
      try {
        o.batch_size = std::stoul(v);
      } catch (...) {
        usage_error("--batch-size needs a number, not '" + v + "'");
      }
      if (o.batch_size == 0) usage_error("--batch-size must be at least 1");
    } else if (a == "--expression" || a == "-e") {
      o.expression = value("--expression");
    } else if (a == "--object") {
      o.object = value("--object");
    } else if (a == "--log-format") {
      std::string v = value("--log-format");
      if (v == "json") o.log_format = LogFormat::json;
      else if (v == "text") o.log_format = LogFormat::text;
      else usage_error("--log-format must be text or json, not '" + v + "'");
    } else if (a == "--log-level") {
      std::string v = value("--log-level");
      auto level = spdlog::level::from_str(v == "warn" ? "warning" : v);
      if (level == spdlog::level::off && v != "off") usage_error("unknown log level '" + v + "'");
      o.log_level = level;
    } else if (a.size() > 1 && a[0] == '-') {
      usage_error("unknown option '" + a + "'");
    } else if (o.command.empty()) {
      o.command = a;
    } else {
      o.args.push_back(a);
    }
  }
  return o;
}

}  // namespace

void Context::out(const std::string& text) const {
  std::string safe = redactor->redact(text);
  std::fwrite(safe.data(), 1, safe.size(), stdout);
  std::fflush(stdout);
}

}  // namespace dirsync::cli

int main(int argc, char** argv) {
  using namespace dirsync;
  using namespace dirsync::cli;
  // Before SQLite's first use, for every connection in the process (the state
  // store's and the sqlite sink's): its allocation statistics take a global
  // mutex on every malloc, a few percent of a first sync, and nothing reads them.
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  Context ctx;
  ctx.options = parse(argc, argv);
  ctx.logger = make_logger(ctx.options.log_format, ctx.options.log_level, ctx.redactor);
  const std::string& cmd = ctx.options.command;
  try {
    if (cmd.empty()) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    if (cmd == "version" || cmd == "--version") {
      ctx.out(std::string("dirsync ") + DIRSYNC_VERSION + " (plugin ABI " + std::to_string(kAbiVersion) + ")\n");
      return 0;
    }
    if (cmd == "plugins") return cmd_plugins(ctx);
    if (cmd == "eval") return cmd_eval(ctx);
    if (cmd == "test") {
      if (ctx.options.args.empty()) usage_error("`dirsync test` needs one or more test files");
      return cmd_test(ctx);
    }
    bool needs_pipeline = cmd == "validate" || cmd == "plan" || cmd == "run" || cmd == "runs" ||
                          cmd == "test-connection" || cmd == "daemon";
    if (!needs_pipeline) usage_error("unknown command '" + cmd + "'");
    if (ctx.options.args.empty()) usage_error("`dirsync " + cmd + "` needs a pipeline file");
    if (cmd == "validate") return cmd_validate(ctx);
    if (cmd == "plan") return cmd_run(ctx, true);
    if (cmd == "run") return cmd_run(ctx, false);
    if (cmd == "runs") return cmd_runs(ctx);
    if (cmd == "test-connection") return cmd_test_connection(ctx);
    return cmd_daemon(ctx);
  } catch (const Error& e) {
    std::string message = ctx.redactor->redact(e.what());
    // Located messages already read "file:line:col: error: ..."
    if (message.find(": error: ") != std::string::npos) std::fprintf(stderr, "%s\n", message.c_str());
    else std::fprintf(stderr, "dirsync: error: %s\n", message.c_str());
    return exit_code_for(e.kind());
  } catch (const std::exception& e) {
    std::string message = ctx.redactor->redact(e.what());
    std::fprintf(stderr, "dirsync: internal error: %s\n", message.c_str());
    return 1;
  }
}
