// The file source through its built shared library, as the host loads it.
#include <catch2/catch.hpp>
#include <dirsync/plugin.hpp>

#include <boost/dll/shared_library.hpp>

#include "support/test_support.hpp"

using namespace dirsync;
namespace fs = std::filesystem;

namespace {

struct NullLogger : Logger {
  void log(LogLevel, std::string_view) override {}
};

struct Collect : Emitter {
  std::vector<Change> changes;
  void emit(Change&& change) override { changes.push_back(std::move(change)); }
};

// Reads with the file plugin from files written into a temp dir (the pipeline's folder).
struct FileFixture {
  boost::dll::shared_library lib{(test::plugin_dir() / "dirsync-file.so").string()};
  const PluginDescriptor& descriptor = *lib.get_alias<PluginEntryPoint>("dirsync_plugin")();
  NullLogger logger;
  test::TempDir dir;

  std::unique_ptr<Source> make(Object settings) {
    return descriptor.make_source(PluginContext{"test", Settings(std::move(settings)), dir.path(), &logger});
  }
  std::vector<Change> read(Object settings, bool groups = false) {
    Collect out;
    ReadRequest request;
    request.groups = groups;
    ReadResult result = make(std::move(settings))->read(request, out);
    REQUIRE(result.complete);
    return std::move(out.changes);
  }
  // The Error a read throws; fails the test when it does not throw.
  Error read_error(Object settings, bool groups = false) {
    try {
      read(std::move(settings), groups);
    } catch (const Error& e) {
      return e;
    }
    FAIL("read did not throw");
    return Error(ErrorKind::internal, "");
  }
  void write(const std::string& name, const std::string& text) { test::write_file(dir / name, text); }
};

const Value& at(const Change& c, std::string_view path) {
  const Value* v = lookup_path(c.record.attributes, path);
  REQUIRE(v);
  return *v;
}

}  // namespace

TEST_CASE("file source reads RFC 4180 CSV") {
  FileFixture f;
  f.write("users.csv",
          "\xEF\xBB\xBFid,mail,displayName,note,accountEnabled\r\n"
          "u1,ada@example.com,\"Lovelace, Ada\",\"she said \"\"hi\"\"\",true\r\n"
          "u2,,Bob,\"two\r\nlines\",\r\n"
          "u3,\"\",\"\",plain,\"\"\r\n"
          "\r\n");
  auto changes = f.read(Object{{"users", "users.csv"}});
  REQUIRE(changes.size() == 3);
  const Change& ada = changes[0];
  CHECK(ada.kind == ChangeKind::upsert);
  CHECK(ada.record.type == ObjectType::user);
  CHECK(ada.record.id == "u1");
  CHECK(at(ada, "id") == Value("u1"));  // the id stays an attribute, so mappings can use it
  CHECK(at(ada, "displayName") == Value("Lovelace, Ada"));
  CHECK(at(ada, "note") == Value("she said \"hi\""));
  CHECK(at(ada, "accountEnabled") == Value("true"));  // CSV values stay strings
  CHECK(at(changes[1], "mail").is_null());            // empty field: null
  CHECK(at(changes[1], "note") == Value("two\nlines"));
  CHECK(at(changes[1], "accountEnabled").is_null());
  CHECK(at(changes[2], "mail") == Value(""));         // quoted empty field: empty string
  CHECK(at(changes[2], "displayName") == Value(""));
  CHECK(at(changes[2], "accountEnabled") == Value(""));  // last field too
}

TEST_CASE("file source turns dotted CSV headers into nested objects") {
  FileFixture f;
  f.write("users.csv", "id;name.givenName;name.familyName;address.home.city\nu1;Ada;Lovelace;London\n");
  auto changes = f.read(Object{{"users", "users.csv"}, {"delimiter", ";"}});
  REQUIRE(changes.size() == 1);
  CHECK(at(changes[0], "name") == Value(Object{{"givenName", "Ada"}, {"familyName", "Lovelace"}}));
  CHECK(at(changes[0], "address.home.city") == Value("London"));

  f.write("clash.csv", "id,name,name.givenName\nu1,a,b\n");
  Error e = f.read_error(Object{{"users", "clash.csv"}});
  CHECK(e.kind() == ErrorKind::input);
  CHECK(std::string(e.what()) == "clash.csv:1: column 'name.givenName' collides with column 'name'");
}

TEST_CASE("file source names file and line of bad CSV") {
  FileFixture f;
  SECTION("ragged row, counted in lines even after a multi-line field") {
    f.write("users.csv", "id,a,b\nu1,\"x\ny\",z\nu2,1\n");
    Error e = f.read_error(Object{{"users", "users.csv"}});
    CHECK(e.kind() == ErrorKind::input);
    CHECK(std::string(e.what()) == "users.csv:4: row has 2 fields, header has 3");
  }
  SECTION("unclosed quote") {
    f.write("users.csv", "id,a\nu1,\"open\nstill open\n");
    CHECK(std::string(f.read_error(Object{{"users", "users.csv"}}).what()) ==
          "users.csv:2: quoted field is not closed before the end of the file");
  }
  SECTION("text after a closing quote") {
    f.write("users.csv", "id,a\nu1,\"x\"y\n");
    CHECK(std::string(f.read_error(Object{{"users", "users.csv"}}).what()) ==
          "users.csv:2: unexpected text after the closing quote of field 2");
  }
  SECTION("empty id") {
    f.write("users.csv", "mail,id\na@x,u1\nb@x,\n");
    CHECK(std::string(f.read_error(Object{{"users", "users.csv"}}).what()) == "users.csv:3: row has an empty 'id'");
  }
  SECTION("no id column") {
    f.write("users.csv", "mail\na@x\n");
    CHECK(std::string(f.read_error(Object{{"users", "users.csv"}, {"id_column", "objectId"}}).what()) ==
          "users.csv:1: no 'objectId' column in the header (set `id_column`)");
  }
}

TEST_CASE("file source streams: objects before a bad line are emitted first") {
  FileFixture f;
  f.write("users.jsonl", "{\"id\":\"u1\"}\n{\"id\":\"u2\"}\n{\"id\":\n");
  Collect out;
  CHECK_THROWS_AS(f.make(Object{{"users", "users.jsonl"}})->read(ReadRequest{}, out), Error);
  CHECK(out.changes.size() == 2);
}

TEST_CASE("file source reads JSON Lines with their JSON types") {
  FileFixture f;
  f.write("users.ndjson",
          "{\"objectId\":\"u1\",\"accountEnabled\":true,\"level\":3,\"name\":{\"givenName\":\"Ada\"},"
          "\"emails\":[\"a@x\",\"b@x\"]}\n"
          "   \n"
          "{\"objectId\":42}\r\n");
  auto changes = f.read(Object{{"users", "users.ndjson"}, {"id_column", "objectId"}});
  REQUIRE(changes.size() == 2);
  CHECK(changes[0].record.id == "u1");
  CHECK(at(changes[0], "accountEnabled") == Value(true));
  CHECK(at(changes[0], "level") == Value(3));
  CHECK(at(changes[0], "name.givenName") == Value("Ada"));
  CHECK(at(changes[0], "emails") == Value(List{"a@x", "b@x"}));
  CHECK(changes[1].record.id == "42");

  f.write("bad.jsonl", "{\"id\":\"u1\"}\n{\"id\": \"u2\",\n");
  Error e = f.read_error(Object{{"users", "bad.jsonl"}});
  CHECK(e.kind() == ErrorKind::input);
  CHECK(std::string(e.what()).starts_with("bad.jsonl:2: malformed JSON"));

  f.write("noid.jsonl", "{\"id\":\"u1\"}\n[1,2]\n");
  CHECK(std::string(f.read_error(Object{{"users", "noid.jsonl"}}).what()) == "noid.jsonl:2: expected a JSON object");
  f.write("noid.jsonl", "{\"id\":\"u1\"}\n{\"mail\":\"x\"}\n");
  CHECK(std::string(f.read_error(Object{{"users", "noid.jsonl"}}).what()) == "noid.jsonl:2: object has no 'id'");
}

TEST_CASE("file source reads group members from JSONL lists and CSV fields") {
  FileFixture f;
  f.write("users.csv", "id\nu1\nu2\n");
  f.write("groups.jsonl", "{\"id\":\"g1\",\"displayName\":\"Ops\",\"members\":[\"u1\",\"u2\",\"g2\"]}\n"
                          "{\"id\":\"g2\",\"members\":[]}\n");
  auto changes = f.read(Object{{"users", "users.csv"}, {"groups", "groups.jsonl"}}, true);
  REQUIRE(changes.size() == 4);
  CHECK(changes[1].record.type == ObjectType::user);  // users before groups
  const Record& g1 = changes[2].record;
  CHECK(g1.type == ObjectType::group);
  CHECK(g1.members == std::vector<std::string>{"u1", "u2", "g2"});
  CHECK(g1.attributes.find("members") == nullptr);  // membership is not an attribute
  CHECK(changes[3].record.members.empty());

  f.write("groups.csv", "id,displayName,owners\ng1,Ops,\"u1; u2;;\"\ng2,Empty,\n");
  changes = f.read(Object{{"users", "users.csv"}, {"groups", "groups.csv"}, {"members_column", "owners"}}, true);
  REQUIRE(changes.size() == 4);
  CHECK(changes[2].record.members == std::vector<std::string>{"u1", "u2"});
  CHECK(changes[3].record.members.empty());

  f.write("groups.jsonl", "{\"id\":\"g1\",\"members\":\"u1\"}\n");
  CHECK(std::string(f.read_error(Object{{"users", "users.csv"}, {"groups", "groups.jsonl"}}, true).what()) ==
        "groups.jsonl:1: 'members' is not a list of ids");
}

TEST_CASE("file source refuses what it cannot read safely") {
  FileFixture f;
  f.write("users.csv", "id\nu1\n");
  // Without a groups file, "all groups read" would mean "every group is gone".
  Collect none;
  ReadRequest both;
  both.groups = true;
  try {
    f.make(Object{{"users", "users.csv"}})->read(both, none);
    FAIL("read groups without a groups file");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::config);
    CHECK(std::string(e.what()) == "the pipeline syncs groups but the file source has no `groups` file");
  }
  CHECK(none.changes.empty());  // refused before emitting anything

  Error e = f.read_error(Object{{"users", "missing.csv"}});
  CHECK(e.kind() == ErrorKind::connection);
  CHECK(std::string(e.what()) == "cannot open missing.csv: No such file or directory");

  CHECK_THROWS_WITH(f.make(Object{{"users", "users.txt"}}),
                    "file source: cannot tell the format of users.txt from its extension (expected .csv, .jsonl "
                    "or .ndjson); set `format`");
  CHECK_NOTHROW(f.make(Object{{"users", "users.txt"}, {"format", "csv"}}));
  CHECK_THROWS_WITH(f.make(Object{{"users", "users.csv"}, {"delimiter", "::"}}),
                    "file source: delimiter is '::', expected one character");

  auto lines = f.make(Object{{"users", "users.csv"}})->test_connection();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "users: " + (f.dir / "users.csv").string() + " is readable (csv)");
}
