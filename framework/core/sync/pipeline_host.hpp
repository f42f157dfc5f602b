// Loads a pipeline file and the plugins it names, and builds its source and
// sink with validated, secret-resolved settings. Owns everything those
// plugins borrow (libraries, loggers), so it must outlive them.
#pragma once

#include "config/pipeline_config.hpp"
#include "logging/log.hpp"
#include "logging/redactor.hpp"
#include "plugins/plugin_loader.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

namespace dirsync {

struct HostOptions {
  std::vector<std::filesystem::path> plugin_dirs;
  std::optional<std::filesystem::path> state_path;
};

class PipelineHost {
 public:
  /// Loads and validates the pipeline and both plugin sections (no I/O, no
  /// secret resolution). Throws Error(config).
  PipelineHost(const std::filesystem::path& pipeline, const HostOptions& options,
               std::shared_ptr<spdlog::logger> logger, std::shared_ptr<Redactor> redactor);

  const PipelineConfig& config() const { return config_; }
  const PluginRegistry& registry() const { return registry_; }
  const LoadedPlugin& source_plugin() const { return *source_; }
  const LoadedPlugin& sink_plugin() const { return *sink_; }

  /// Resolve secrets and instantiate. Throws Error(config) for a missing
  /// environment variable or secret file, naming file:line:column.
  std::unique_ptr<Source> make_source();
  std::unique_ptr<Sink> make_sink();

  Logger& host_log() { return *host_log_; }
  spdlog::logger& logger() { return *logger_; }

 private:
  PluginContext context(const PluginSection& section, const LoadedPlugin& plugin, Logger& log);

  PipelineConfig config_;
  PluginRegistry registry_;
  const LoadedPlugin* source_ = nullptr;
  const LoadedPlugin* sink_ = nullptr;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<Redactor> redactor_;
  std::unique_ptr<PluginLogger> host_log_, source_log_, sink_log_;
};

}  // namespace dirsync
