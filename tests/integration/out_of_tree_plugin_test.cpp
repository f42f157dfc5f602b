// Installs DirSync into a temporary prefix, builds tests/out-of-tree-plugin
// against it with find_package(DirSync), and loads the result.
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

using namespace dirsync::test;

TEST_CASE("an out-of-tree plugin builds against the installed SDK and runs") {
  TempDir dir;
  auto prefix = dir / "prefix";
  auto install = run({"/usr/bin/cmake", "--install", binary_dir().string(), "--prefix", prefix.string()});
  INFO(install.all());
  REQUIRE(install.exit_code == 0);
  REQUIRE(std::filesystem::exists(prefix / "include/dirsync/plugin.hpp"));

  auto configure = run({"/usr/bin/cmake", "-S", (source_dir() / "tests/out-of-tree-plugin").string(), "-B",
                        (dir / "build").string(), "-DCMAKE_PREFIX_PATH=" + prefix.string(),
                        "-DCMAKE_BUILD_TYPE=Release"});
  INFO(configure.all());
  REQUIRE(configure.exit_code == 0);
  auto build = run({"/usr/bin/cmake", "--build", (dir / "build").string()});
  INFO(build.all());
  REQUIRE(build.exit_code == 0);
  REQUIRE(std::filesystem::exists(dir / "build/dirsync-hello.so"));

  // The installed dirsync, with no DIRSYNC_PLUGIN_PATH: it finds its own
  // plugins in the prefix and the new one through --plugin-dir.
  auto exe = (prefix / "bin/dirsync").string();
  auto plugins = run({exe, "plugins", "--plugin-dir", (dir / "build").string()});
  INFO(plugins.all());
  CHECK(plugins.exit_code == 0);
  CHECK(plugins.out.find("hello  source  v0.1.0") != std::string::npos);
  CHECK(plugins.out.find("sqlite  sink") != std::string::npos);

  write_file(dir / "p.yaml",
             "version: 1\nname: hello\nsource: { type: hello, domain: example.net }\n"
             "sink: { type: sqlite, path: out.db }\n"
             "users:\n  mappings:\n    - { target: email, source: mail }\n");
  auto r = run({exe, "run", (dir / "p.yaml").string(), "--plugin-dir", (dir / "build").string()});
  INFO(r.all());
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("created 2") != std::string::npos);
}
