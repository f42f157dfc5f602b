// Plugin discovery: ABI mismatches are refused with both versions and the file.
#include "support/test_support.hpp"

#include <dirsync/plugin.hpp>

#include <catch2/catch.hpp>

using namespace dirsync::test;

TEST_CASE("dirsync plugins lists name, kind, version, file and config keys") {
  auto r = run_dirsync({"plugins", "--plugin-dir", test_plugin_dir().string()});
  INFO(r.all());
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("testsource  source  v1.0.0  ") != std::string::npos);
  CHECK(r.out.find("token (string, secret)") != std::string::npos);
  CHECK(r.out.find("sqlite  sink") != std::string::npos);
}

TEST_CASE("a plugin built for another ABI version is refused, naming both versions and the file") {
  auto r = run_dirsync({"plugins", "--plugin-dir", test_plugin_dir().string()});
  CHECK(r.out.find("from-the-future") == std::string::npos);
  CHECK(r.err.find("dirsync-abi-mismatch.so: plugin built for plugin ABI version 999, but this dirsync uses ABI "
                   "version " + std::to_string(dirsync::kAbiVersion) +
                   "; rebuild the plugin against the installed SDK") != std::string::npos);
}

TEST_CASE("--json output is one object per plugin") {
  auto r = run_dirsync({"plugins", "--json", "--plugin-dir", test_plugin_dir().string()});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("{\"name\":\"testsource\",\"kind\":\"source\"") != std::string::npos);
}
