// Reads a domain from a running dirsync-sim through the google plugin alone
// (no mapping, no state, no sink) and prints objects/s and peak RSS: the
// source's share of an end-to-end sync (bench/google/run.sh).
//
//   google_read_bench PLUGIN_DIR SIM_URL KEY_JSON [--no-prefetch] [--groups]
//
// Build (not part of the CMake build):
//   g++ -std=c++20 -O2 -I framework/include bench/google/google_read_bench.cpp -o /tmp/google_read_bench
//       -L build/lib -ldirsync-sdk -lboost_filesystem -ldl -Wl,-rpath,$PWD/build/lib   (one line)
#include <dirsync/plugin.hpp>

#include <boost/dll/shared_library.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace {

class Quiet : public dirsync::Logger {
 public:
  void log(dirsync::LogLevel level, std::string_view m) override {
    if (level >= dirsync::LogLevel::warn) std::fprintf(stderr, "%.*s\n", int(m.size()), m.data());
  }
};

class Count : public dirsync::Emitter {
 public:
  void emit(dirsync::Change&& c) override {
    ++objects;
    attributes += c.record.attributes.size();
  }
  std::size_t objects = 0, attributes = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: google_read_bench PLUGIN_DIR SIM_URL KEY_JSON [--no-prefetch] [--groups]\n");
    return 2;
  }
  bool prefetch = true, groups = false;
  for (int i = 4; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--no-prefetch")) prefetch = false;
    if (!std::strcmp(argv[i], "--groups")) groups = true;
  }
  std::ifstream in(argv[3]);
  std::stringstream key;
  key << in.rdbuf();
  boost::dll::shared_library lib(std::string(argv[1]) + "/dirsync-google.so");
  const dirsync::PluginDescriptor* d = lib.get_alias<dirsync::PluginEntryPoint>("dirsync_plugin")();
  Quiet log;
  dirsync::PluginContext ctx;
  ctx.log = &log;
  std::string url = argv[2];
  ctx.settings = dirsync::Settings(dirsync::Object{{"credentials", key.str()},
                                                   {"subject", "admin@example.com"},
                                                   {"api_url", url},
                                                   {"token_url", url + "/token"},
                                                   {"prefetch", prefetch}});
  auto source = d->make_source(ctx);
  dirsync::ReadRequest request;
  request.groups = groups;
  // What pipelines/google-to-sqlite.yaml reads.
  request.user_attributes = {"primaryEmail", "name.fullName", "name.givenName", "name.familyName",
                             "organizations.department", "organizations.title", "employeeId", "manager",
                             "orgUnitPath", "active"};
  request.group_attributes = {"email", "name", "description", "includesAllUsers"};
  Count out;
  auto start = std::chrono::steady_clock::now();
  source->read(request, out);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("objects %zu  attributes %zu  %.2f s  %.0f objects/s  peak RSS %ld MB  cpu %.2f s\n", out.objects,
              out.attributes, s, out.objects / s, ru.ru_maxrss / 1024,
              ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
  return 0;
}
