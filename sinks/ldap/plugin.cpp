// Entry point of dirsync-ldap.so.
#include "ldap_sink.hpp"

namespace {

const dirsync::PluginDescriptor* ldap_descriptor() {
  static const dirsync::PluginDescriptor descriptor = [] {
    dirsync::PluginDescriptor d;
    d.name = "ldap";
    d.kind = dirsync::PluginKind::sink;
    d.version = "0.1.0";
    d.summary = "writes users and groups into an LDAP directory (OpenLDAP, 389-DS, Active Directory)";
    d.schema = dirsync::ldap::config_schema();
    d.make_sink = [](const dirsync::PluginContext& context) -> std::unique_ptr<dirsync::Sink> {
      return std::make_unique<dirsync::ldap::LdapSink>(dirsync::ldap::SinkConfig::from(context.settings),
                                                       context.log);
    };
    return d;
  }();
  return &descriptor;
}

}  // namespace

DIRSYNC_PLUGIN(ldap_descriptor)
