// Every class of configuration error names file:line:column and the key, and
// exits 2 before anything connects.
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

using namespace dirsync::test;

namespace {

const std::string kValid = R"(version: 1
name: cfg
source:
  type: testsource
  count: 3
sink:
  type: sqlite
  path: out.db
users:
  match:
    - { target: email, source: mail }
  mappings:
    - { target: email, source: mail }
)";

CommandResult validate(const TempDir& dir, const std::string& yaml, const std::map<std::string, std::string>& env = {}) {
  write_file(dir / "p.yaml", yaml);
  return run_dirsync({"validate", (dir / "p.yaml").string(), "--plugin-dir", test_plugin_dir().string()}, env);
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  auto pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  return text.replace(pos, from.size(), to);
}

}  // namespace

TEST_CASE("a valid pipeline validates") {
  TempDir dir;
  auto r = validate(dir, kValid);
  INFO(r.all());
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("valid pipeline 'cfg'") != std::string::npos);
}

TEST_CASE("unknown key: location and did-you-mean") {
  TempDir dir;
  auto r = validate(dir, replace(kValid, "  mappings:", "  mapings:"));
  INFO(r.all());
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("p.yaml:12:3: error: unknown key 'mapings' in users (did you mean 'mappings'?)") !=
        std::string::npos);
  CHECK(r.err.find("  mapings:\n    ^") != std::string::npos);
}

TEST_CASE("unknown key in a plugin section is checked against the plugin's schema") {
  TempDir dir;
  auto r = validate(dir, replace(kValid, "  count: 3", "  cuont: 3"));
  INFO(r.all());
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("p.yaml:5:3: error: unknown key 'cuont' in source 'testsource' (did you mean 'count'?)") !=
        std::string::npos);
}

TEST_CASE("missing key") {
  TempDir dir;
  auto r = validate(dir, replace(kValid, "  path: out.db\n", ""));
  INFO(r.all());
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("p.yaml:7:3: error: missing key 'path' in sink 'sqlite'") != std::string::npos);
}

TEST_CASE("wrong type") {
  TempDir dir;
  auto r = validate(dir, replace(kValid, "count: 3", "count: three"));
  INFO(r.all());
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("p.yaml:5:10: error: 'count' must be an integer, not 'three'") != std::string::npos);
}

TEST_CASE("bad secret reference syntax") {
  TempDir dir;
  auto r = validate(dir, replace(kValid, "  count: 3", "  count: 3\n  token: ${envv:X}"));
  INFO(r.all());
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("p.yaml:6:10: error: bad secret reference in 'source.token': expected ${env:NAME} or "
                   "${file:PATH}") != std::string::npos);
}

TEST_CASE("secret reference to an unset variable fails at run time with its location") {
  TempDir dir;
  write_file(dir / "p.yaml", replace(kValid, "  count: 3", "  count: 3\n  token: ${env:DIRSYNC_TEST_UNSET_VAR}"));
  auto r = run_dirsync({"run", (dir / "p.yaml").string(), "--plugin-dir", test_plugin_dir().string()});
  INFO(r.all());
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("p.yaml:6:10: error: environment variable DIRSYNC_TEST_UNSET_VAR is not set (referenced by "
                   "'token')") != std::string::npos);
}

TEST_CASE("unknown plugin lists what is available") {
  TempDir dir;
  auto r = validate(dir, replace(kValid, "type: testsource", "type: testsorce"));
  INFO(r.all());
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("unknown source plugin 'testsorce' (available: ") != std::string::npos);
  CHECK(r.err.find("testsource") != std::string::npos);
}

TEST_CASE("malformed YAML") {
  TempDir dir;
  auto r = validate(dir, replace(kValid, "  count: 3", "  count: [3"));
  INFO(r.all());
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("p.yaml:") != std::string::npos);
  CHECK(r.err.find("malformed YAML") != std::string::npos);
}

TEST_CASE("bad enum value names the choices") {
  TempDir dir;
  auto r = validate(dir, kValid + "  on_missing: purge\n");
  INFO(r.all());
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("p.yaml:14:15: error: on_missing must be one of ignore | disable | delete, not 'purge'") !=
        std::string::npos);
}

TEST_CASE("a match key must name a mapped target") {
  TempDir dir;
  auto r = validate(dir, replace(kValid, "- { target: email, source: mail }\n  mappings", "- { target: mail, source: mail }\n  mappings"));
  INFO(r.all());
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("match target 'mail' is not a mapped target attribute") != std::string::npos);
}

TEST_CASE("missing pipeline file") {
  TempDir dir;
  auto r = run_dirsync({"validate", (dir / "nope.yaml").string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("nope.yaml: error: cannot open pipeline file") != std::string::npos);
}
