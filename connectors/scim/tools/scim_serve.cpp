// scim-serve PLUGIN SETTINGS_JSON [BASE_DIR] [--no-read]
//
// Hosts the scim plugin's endpoint the way `dirsync serve` will: serve()
// until SIGINT/SIGTERM, answering each on_change with an incremental read
// from the cursor it keeps in memory (changes are counted, not applied).
// Log lines go to stdout, one per line, flushed: tests and the benchmark read
// the "listening on" line to learn the port.
#include <dirsync/plugin.hpp>

#include <boost/dll/shared_library.hpp>

#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

class StdoutLogger : public dirsync::Logger {
 public:
  void log(dirsync::LogLevel level, std::string_view message) override {
    static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
    std::lock_guard lock(mutex_);
    std::cout << kNames[static_cast<int>(level)] << ": " << message << std::endl;
  }

 private:
  std::mutex mutex_;
};

class CountingEmitter : public dirsync::Emitter {
 public:
  void emit(dirsync::Change&&) override { ++count; }
  std::size_t count = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: scim-serve PLUGIN SETTINGS_JSON [BASE_DIR] [--no-read]\n";
    return 2;
  }
  bool do_read = true;
  std::filesystem::path base_dir = std::filesystem::current_path();
  for (int i = 3; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no-read") == 0) {
      do_read = false;
    } else {
      base_dir = argv[i];
    }
  }
  try {
    std::ifstream in(argv[2]);
    std::stringstream text;
    text << in.rdbuf();
    dirsync::Value settings = dirsync::parse_json(text.str());
    boost::dll::shared_library lib(argv[1]);
    auto& entry = lib.get_alias<dirsync::PluginEntryPoint>("dirsync_plugin");
    const dirsync::PluginDescriptor* d = entry();
    if (d->abi_version != dirsync::kAbiVersion) {
      std::cerr << "abi mismatch: plugin " << d->abi_version << ", host " << dirsync::kAbiVersion << "\n";
      return 2;
    }
    StdoutLogger log;
    dirsync::PluginContext ctx{"scim-serve", dirsync::Settings(settings.as_object()), base_dir, &log};
    std::unique_ptr<dirsync::Source> source = d->make_source(ctx);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::string cursor;
    source->serve(g_stop, [&] {
      if (!do_read) return;
      dirsync::ReadRequest request;
      request.mode = cursor.empty() ? dirsync::ReadMode::full : dirsync::ReadMode::incremental;
      request.cursor = cursor;
      request.groups = true;
      CountingEmitter out;
      dirsync::ReadResult result = source->read(request, out);
      cursor = result.cursor;
      log.debug("read " + std::to_string(out.count) + " changes, cursor " + cursor);
    });
    source.reset();
  } catch (const std::exception& e) {
    std::cerr << "scim-serve: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
