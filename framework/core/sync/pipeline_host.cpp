#include "sync/pipeline_host.hpp"

namespace dirsync {

PipelineHost::PipelineHost(const std::filesystem::path& pipeline, const HostOptions& options,
                           std::shared_ptr<spdlog::logger> logger, std::shared_ptr<Redactor> redactor)
    : config_(load_pipeline(pipeline)),
      registry_(PluginRegistry::scan(PluginRegistry::default_dirs(options.plugin_dirs))),
      logger_(std::move(logger)),
      redactor_(std::move(redactor)) {
  if (options.state_path) config_.state_path = *options.state_path;
  source_ = &registry_.require(config_.source.type, PluginKind::source);
  sink_ = &registry_.require(config_.sink.type, PluginKind::sink);
  // Validate both sections now, before anything connects.
  plugin_settings(config_, config_.source, *source_->descriptor, false, redactor_.get());
  plugin_settings(config_, config_.sink, *sink_->descriptor, false, redactor_.get());
  host_log_ = std::make_unique<PluginLogger>(logger_, "pipeline " + config_.name);
  source_log_ = std::make_unique<PluginLogger>(logger_, "source " + source_->descriptor->name);
  sink_log_ = std::make_unique<PluginLogger>(logger_, "sink " + sink_->descriptor->name);
}

PluginContext PipelineHost::context(const PluginSection& section, const LoadedPlugin& plugin, Logger& log) {
  PluginContext ctx;
  ctx.pipeline = config_.name;
  ctx.settings = plugin_settings(config_, section, *plugin.descriptor, true, redactor_.get());
  ctx.base_dir = std::filesystem::absolute(config_.file).parent_path();
  ctx.log = &log;
  return ctx;
}

std::unique_ptr<Source> PipelineHost::make_source() {
  const auto& d = *source_->descriptor;
  if (!d.make_source) throw Error(ErrorKind::config, "plugin '" + d.name + "' has no source factory");
  auto source = d.make_source(context(config_.source, *source_, *source_log_));
  if (!source) throw Error(ErrorKind::internal, "plugin '" + d.name + "' returned no source");
  return source;
}

std::unique_ptr<Sink> PipelineHost::make_sink() {
  const auto& d = *sink_->descriptor;
  if (!d.make_sink) throw Error(ErrorKind::config, "plugin '" + d.name + "' has no sink factory");
  auto sink = d.make_sink(context(config_.sink, *sink_, *sink_log_));
  if (!sink) throw Error(ErrorKind::internal, "plugin '" + d.name + "' returned no sink");
  return sink;
}

}  // namespace dirsync
