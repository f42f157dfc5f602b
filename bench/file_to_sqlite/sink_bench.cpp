// The sqlite sink alone, loaded from its .so as the host loads it: N creates of 8-attribute
// users in batches of 1,000, optionally each preceded by the two ignore-case lookups a first
// sync makes (--finds), or with random instead of sink-generated ids (--random-ids).
//
//   sink_bench PLUGIN_DIR DB_PATH [N] [--finds] [--random-ids]
//
// run.sh builds and runs it; the numbers are in bench/README.md.
#include <dirsync/plugin.hpp>

#include <boost/dll/shared_library.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>

using namespace dirsync;

namespace {
struct NullLogger : Logger {
  void log(LogLevel, std::string_view) override {}
};
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: sink_bench PLUGIN_DIR DB_PATH [N] [--finds] [--random-ids]\n");
    return 2;
  }
  int n = 100000;
  bool finds = false, random_ids = false;
  for (int i = 3; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--finds")) finds = true;
    else if (!std::strcmp(argv[i], "--random-ids")) random_ids = true;
    else n = std::atoi(argv[i]);
  }
  boost::dll::shared_library lib(std::string(argv[1]) + "/dirsync-sqlite.so");
  const PluginDescriptor* d = lib.get_alias<PluginEntryPoint>("dirsync_plugin")();
  NullLogger log;
  auto sink = d->make_sink(PluginContext{"bench", Settings(Object{{"path", argv[2]}}), ".", &log});
  const char* names[] = {"email", "upn", "display_name", "department", "job_title", "employee_id", "office"};
  TargetSchema schema{ObjectType::user, {{"active", TargetType::boolean}}};
  for (const char* name : names) schema.attributes.emplace_back(name, TargetType::string);
  sink->prepare({schema});

  std::mt19937_64 rng(1);
  std::vector<Operation> ops(1000);
  std::vector<OpResult> results(ops.size());
  auto start = std::chrono::steady_clock::now();
  for (int done = 0; done < n; done += int(ops.size())) {
    for (std::size_t j = 0; j < ops.size(); ++j) {
      std::string k = std::to_string(done + int(j));
      std::string mail = "user" + k + "@contoso.example";
      if (finds) {
        sink->find(ObjectType::user, "email", Value(mail), true);
        sink->find(ObjectType::user, "upn", Value(mail), true);
      }
      Operation& op = ops[j];
      op.kind = OpKind::create;
      op.source_id = "src-" + k;
      if (random_ids) {
        char id[33];
        std::snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                      static_cast<unsigned long long>(rng()));
        op.target_id = id;
      }
      op.attributes = Object{{"email", mail},           {"upn", mail},
                             {"display_name", "User " + k}, {"department", "Engineering"},
                             {"job_title", "Engineer"}, {"employee_id", "E" + k},
                             {"office", "London"},      {"active", true}};
    }
    sink->apply(ops, results);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d creates%s%s: %.2f s, %.0f rows/s\n", n, finds ? " with 2 finds each" : "",
              random_ids ? " (random ids)" : "", secs, n / secs);
}
