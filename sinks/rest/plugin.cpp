// Entry point of dirsync-rest.so.
#include "rest_sink.hpp"

namespace {

const dirsync::PluginDescriptor* rest_descriptor() {
  static const dirsync::PluginDescriptor descriptor = [] {
    dirsync::PluginDescriptor d;
    d.name = "rest";
    d.kind = dirsync::PluginKind::sink;
    d.version = "0.1.0";
    d.summary = "writes users and groups through an HTTP API: templated requests or a SCIM 2.0 client";
    d.schema = dirsync::rest::config_schema();
    d.make_sink = [](const dirsync::PluginContext& context) -> std::unique_ptr<dirsync::Sink> {
      return std::make_unique<dirsync::rest::RestSink>(dirsync::rest::RestConfig::from(context.settings),
                                                       context.settings, context.log);
    };
    return d;
  }();
  return &descriptor;
}

}  // namespace

DIRSYNC_PLUGIN(rest_descriptor)
