// Secrets never reach logs, errors, plan output or the sync log.
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

using namespace dirsync::test;

namespace {

const std::string kSecret = "s3cr3t-Value-9f8e7d";

std::string pipeline(const std::string& extra) {
  return "version: 1\nname: sec\nsource:\n  type: testsource\n  count: 3\n  token: ${env:TEST_TOKEN}\n" + extra +
         "sink:\n  type: sqlite\n  path: out.db\nusers:\n  mappings:\n    - { target: email, source: mail }\n";
}

}  // namespace

TEST_CASE("a secret the plugin logs is masked in text and JSON logs, plan and run output") {
  TempDir dir;
  write_file(dir / "p.yaml", pipeline(""));
  std::map<std::string, std::string> env{{"TEST_TOKEN", kSecret}};
  for (const char* command : {"plan", "run"}) {
    for (const char* format : {"text", "json"}) {
      auto r = run_dirsync({command, (dir / "p.yaml").string(), "--plugin-dir", test_plugin_dir().string(),
                            "--log-format", format, "--log-level", "debug"},
                           env);
      INFO(command << " " << format << "\n" << r.all());
      CHECK(r.exit_code == 0);
      CHECK(r.all().find("connecting with token ***") != std::string::npos);
      CHECK(r.all().find(kSecret) == std::string::npos);
    }
  }
}

TEST_CASE("a secret inside an error is masked in the message and in the sync log") {
  TempDir dir;
  write_file(dir / "p.yaml", pipeline("  fail_auth: true\n"));
  std::map<std::string, std::string> env{{"TEST_TOKEN", kSecret}};
  auto r = run_dirsync({"run", (dir / "p.yaml").string(), "--plugin-dir", test_plugin_dir().string()}, env);
  INFO(r.all());
  CHECK(r.exit_code == 3);
  CHECK(r.all().find("token *** was rejected") != std::string::npos);
  CHECK(r.all().find(kSecret) == std::string::npos);
  auto runs = run_dirsync({"runs", (dir / "p.yaml").string(), "--plugin-dir", test_plugin_dir().string(), "--json"},
                          env);
  CHECK(runs.out.find("\"status\":\"Failed\"") != std::string::npos);
  CHECK(runs.out.find("token *** was rejected") != std::string::npos);
  CHECK(runs.all().find(kSecret) == std::string::npos);
  CHECK(read_file(dir / "sec.state.db").find(kSecret) == std::string::npos);

  auto tc = run_dirsync({"test-connection", (dir / "p.yaml").string(), "--plugin-dir", test_plugin_dir().string()},
                        env);
  CHECK(tc.exit_code == 3);
  CHECK(tc.all().find(kSecret) == std::string::npos);
}

TEST_CASE("a secret read from a file is masked too") {
  TempDir dir;
  write_file(dir / "token.txt", kSecret + "\n");
  std::string yaml = pipeline("  fail_auth: true\n");
  yaml.replace(yaml.find("${env:TEST_TOKEN}"), 17, "${file:token.txt}");
  write_file(dir / "p.yaml", yaml);
  auto r = run_dirsync({"run", (dir / "p.yaml").string(), "--plugin-dir", test_plugin_dir().string()});
  INFO(r.all());
  CHECK(r.exit_code == 3);
  CHECK(r.all().find(kSecret) == std::string::npos);
}
