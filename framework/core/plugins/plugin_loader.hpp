// Finds and loads plugin shared libraries.
//
// Search order: --plugin-dir options, then DIRSYNC_PLUGIN_PATH (colon
// separated), then the install's plugin folder (next to the executable:
// ../lib/dirsync/plugins). The first plugin of a given name wins. A library
// built for another ABI version is refused before any other member of its
// descriptor is read, with a message naming both versions and the file.
#pragma once

#include <dirsync/plugin.hpp>

#include <boost/dll/shared_library.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace dirsync {

struct LoadedPlugin {
  std::filesystem::path file;
  boost::dll::shared_library library;  ///< keeps the code mapped while the descriptor is used
  const PluginDescriptor* descriptor = nullptr;
};

class PluginRegistry {
 public:
  /// Scans `dirs` in order. Files that are not plugins, or are refused, are
  /// recorded in problems() and skipped.
  static PluginRegistry scan(const std::vector<std::filesystem::path>& dirs);
  /// The default search path for the current process.
  static std::vector<std::filesystem::path> default_dirs(const std::vector<std::filesystem::path>& explicit_dirs);

  const LoadedPlugin* find(std::string_view name) const;
  /// Like find, but throws Error(config) naming what is available and what was refused.
  const LoadedPlugin& require(std::string_view name, PluginKind kind) const;

  const std::vector<std::unique_ptr<LoadedPlugin>>& plugins() const { return plugins_; }
  const std::vector<std::string>& problems() const { return problems_; }
  const std::vector<std::filesystem::path>& dirs() const { return dirs_; }

 private:
  std::vector<std::unique_ptr<LoadedPlugin>> plugins_;
  std::vector<std::string> problems_;
  std::vector<std::filesystem::path> dirs_;
};

}  // namespace dirsync
