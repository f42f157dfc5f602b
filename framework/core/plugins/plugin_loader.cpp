#include "plugins/plugin_loader.hpp"

#include <boost/dll/runtime_symbol_info.hpp>

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace dirsync {

namespace fs = std::filesystem;

std::vector<fs::path> PluginRegistry::default_dirs(const std::vector<fs::path>& explicit_dirs) {
  std::vector<fs::path> dirs = explicit_dirs;
  if (const char* env = std::getenv("DIRSYNC_PLUGIN_PATH")) {
    std::stringstream ss(env);
    for (std::string part; std::getline(ss, part, ':');)
      if (!part.empty()) dirs.emplace_back(part);
  }
  boost::dll::fs::error_code ec;
  fs::path exe_dir = boost::dll::program_location(ec).parent_path().string();
  if (!ec) dirs.push_back((exe_dir / DIRSYNC_PLUGIN_RELATIVE_DIR).lexically_normal());
  return dirs;
}

PluginRegistry PluginRegistry::scan(const std::vector<fs::path>& dirs) {
  PluginRegistry registry;
  registry.dirs_ = dirs;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".so") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      auto loaded = std::make_unique<LoadedPlugin>();
      loaded->file = file;
      try {
        loaded->library.load(file.string(), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
      } catch (const std::exception& e) {
        registry.problems_.push_back(file.string() + ": cannot load: " + e.what());
        continue;
      }
      if (!loaded->library.has("dirsync_plugin")) {
        registry.problems_.push_back(file.string() + ": not a dirsync plugin (no dirsync_plugin entry point)");
        continue;
      }
      auto& entry = loaded->library.get_alias<PluginEntryPoint>("dirsync_plugin");
      const PluginDescriptor* descriptor = entry();
      if (!descriptor) {
        registry.problems_.push_back(file.string() + ": entry point returned no descriptor");
        continue;
      }
      // Only the first member is read before the version check: it is the one
      // member every ABI version agrees on.
      if (descriptor->abi_version != kAbiVersion) {
        registry.problems_.push_back(file.string() + ": plugin built for plugin ABI version " +
                                     std::to_string(descriptor->abi_version) + ", but this dirsync uses ABI version " +
                                     std::to_string(kAbiVersion) + "; rebuild the plugin against the installed SDK");
        continue;
      }
      if (registry.find(descriptor->name)) continue;  // earlier directories win
      loaded->descriptor = descriptor;
      registry.plugins_.push_back(std::move(loaded));
    }
  }
  return registry;
}

const LoadedPlugin* PluginRegistry::find(std::string_view name) const {
  for (const auto& p : plugins_)
    if (p->descriptor->name == name) return p.get();
  return nullptr;
}

const LoadedPlugin& PluginRegistry::require(std::string_view name, PluginKind kind) const {
  const LoadedPlugin* p = find(name);
  if (p && p->descriptor->kind == kind) return *p;
  std::string message;
  if (p) {
    message = "plugin '" + std::string(name) + "' is a " + std::string(to_string(p->descriptor->kind)) +
              ", not a " + std::string(to_string(kind));
  } else {
    std::string available;
    for (const auto& q : plugins_)
      if (q->descriptor->kind == kind) available += (available.empty() ? "" : ", ") + q->descriptor->name;
    message = "unknown " + std::string(to_string(kind)) + " plugin '" + std::string(name) + "' (available: " +
              (available.empty() ? "none" : available) + ")";
    for (const auto& problem : problems_) message += "\n  refused: " + problem;
    if (plugins_.empty() && problems_.empty()) {
      message += "\n  searched:";
      for (const auto& d : dirs_) message += " " + d.string();
    }
  }
  throw Error(ErrorKind::config, message);
}

}  // namespace dirsync
