// Process logging: spdlog with a redacting sink, readable on a terminal or
// JSON lines (--log-format json) for log shippers.
#pragma once

#include "logging/redactor.hpp"

#include <dirsync/plugin.hpp>

#include <spdlog/logger.h>

#include <memory>
#include <string>

namespace dirsync {

enum class LogFormat { text, json };

/// A logger writing to stderr through `redactor`.
std::shared_ptr<spdlog::logger> make_logger(LogFormat format, spdlog::level::level_enum level,
                                            std::shared_ptr<const Redactor> redactor);

/// The SDK's Logger interface over an spdlog logger, tagged with the plugin name.
class PluginLogger final : public Logger {
 public:
  PluginLogger(std::shared_ptr<spdlog::logger> logger, std::string plugin)
      : logger_(std::move(logger)), plugin_(std::move(plugin)) {}
  void log(LogLevel level, std::string_view message) override;

 private:
  std::shared_ptr<spdlog::logger> logger_;
  std::string plugin_;
};

}  // namespace dirsync
