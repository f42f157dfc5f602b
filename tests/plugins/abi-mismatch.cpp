// A plugin that claims a future ABI: the host must refuse it by its version
// alone, without reading anything else of the descriptor.
#include <dirsync/plugin.hpp>

namespace {

const dirsync::PluginDescriptor* descriptor() {
  static const dirsync::PluginDescriptor d = [] {
    dirsync::PluginDescriptor d;
    d.abi_version = 999;
    d.name = "from-the-future";
    return d;
  }();
  return &d;
}

}  // namespace

DIRSYNC_PLUGIN(descriptor)
