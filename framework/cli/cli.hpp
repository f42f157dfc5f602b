// The `dirsync` command line: shared option parsing and the commands.
#pragma once

#include "logging/log.hpp"
#include "logging/redactor.hpp"
#include "sync/pipeline_host.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dirsync::cli {

struct Options {
  std::string command;
  std::vector<std::string> args;  ///< positional arguments after the command
  HostOptions host;
  LogFormat log_format = LogFormat::text;
  spdlog::level::level_enum log_level = spdlog::level::info;
  bool full = false;
  bool accept_deletions = false;
  bool json = false;
  bool errors = false;
  std::size_t limit = 20;
  std::size_t batch_size = 1000;
  std::string expression;  ///< eval
  std::string object;      ///< eval: path of a JSON sample
};

/// Everything a command needs; created once in main.
struct Context {
  Options options;
  std::shared_ptr<Redactor> redactor = std::make_shared<Redactor>();
  std::shared_ptr<spdlog::logger> logger;
  /// Prints to stdout through the redactor.
  void out(const std::string& text) const;
};

int cmd_validate(Context& ctx);
int cmd_run(Context& ctx, bool dry_run);
int cmd_runs(Context& ctx);
int cmd_plugins(Context& ctx);
int cmd_test_connection(Context& ctx);
int cmd_daemon(Context& ctx);
int cmd_test(Context& ctx);
int cmd_eval(Context& ctx);

}  // namespace dirsync::cli
