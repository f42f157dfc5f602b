// The scim source's endpoint over real loopback HTTP: CRUD, PATCH, lists,
// Entra's quirks, auth, limits, concurrency, durability across kill -9, the
// host-facing read() and pull mode against the endpoint itself.
#include <catch2/catch.hpp>

#include "scim_fixture.hpp"
#include "support/test_support.hpp"

#include <dirsync/plugin.hpp>

#include <Poco/JWT/Signer.h>
#include <Poco/JWT/Token.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/URI.h>

#include <boost/dll/shared_library.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

using namespace dirsync;
using scim_test::Client;
using scim_test::Response;
namespace fs = std::filesystem;

namespace {

const std::string kToken = "test-token-0123456789abcdef";
const std::string kToken2 = "rotated-token-9876543210fedcba";
const std::string kEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

class CaptureLog : public Logger {
 public:
  void log(LogLevel, std::string_view message) override {
    std::lock_guard lock(mutex_);
    lines_.emplace_back(message);
    cv_.notify_all();
  }
  /// The first line containing `needle`; waits for it (the bound is a
  /// guard against a hung test, not a synchronisation delay).
  std::string wait_for(const std::string& needle) {
    std::unique_lock lock(mutex_);
    std::string found;
    cv_.wait_for(lock, std::chrono::seconds(60), [&] {
      for (const auto& l : lines_) {
        if (l.find(needle) != std::string::npos) {
          found = l;
          return true;
        }
      }
      return false;
    });
    return found;
  }
  std::string all() {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& l : lines_) out += l + "\n";
    return out;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
};

class Collect : public Emitter {
 public:
  void emit(Change&& c) override { changes.push_back(std::move(c)); }
  std::vector<Change> changes;
};

struct Plugin {
  boost::dll::shared_library lib{(test::plugin_dir() / "dirsync-scim.so").string()};
  const PluginDescriptor* d = lib.get_alias<PluginEntryPoint>("dirsync_plugin")();
};

Plugin& plugin() {
  static Plugin p;
  return p;
}

std::string encode(const std::string& text) {
  std::string out;
  Poco::URI::encode(text, "&=+?#\"[] ", out);
  return out;
}

std::string user_json(const std::string& name, const std::string& extra = {}) {
  return R"({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":")" + name +
         R"(","active":true,"name":{"givenName":"G)" + name + R"(","familyName":"F"},"emails":[{"primary":true,"type":"work","value":")" +
         name + R"("}])" + extra + "}";
}

/// The plugin serving on an ephemeral loopback port in this process.
class Endpoint {
 public:
  explicit Endpoint(const fs::path& dir, Object extra = {}) {
    Object settings{{"listen", "127.0.0.1:0"}, {"tokens", List{Value(kToken), Value(kToken2)}}, {"store", "scim.db"}};
    for (const auto& [k, v] : extra) settings.set(k, v);
    PluginContext ctx{"test", Settings(settings), dir, &log};
    source = plugin().d->make_source(ctx);
    thread = std::thread([this] {
      try {
        source->serve(stop, [this] { changes.fetch_add(1); });
      } catch (const std::exception& e) {
        log.log(LogLevel::error, std::string("serve failed: listening on nothing: ") + e.what());
      }
    });
    std::string line = log.wait_for("listening on");
    auto colon = line.rfind(':');
    REQUIRE(colon != std::string::npos);
    client.port = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
    client.token = kToken;
  }
  ~Endpoint() {
    stop = true;
    thread.join();
  }
  ReadResult read(ReadMode mode, const std::string& cursor, Collect& out) {
    ReadRequest req;
    req.mode = mode;
    req.cursor = cursor;
    req.groups = true;
    return source->read(req, out);
  }

  CaptureLog log;
  std::unique_ptr<Source> source;
  std::atomic<bool> stop{false};
  std::atomic<int> changes{0};
  std::thread thread;
  Client client;
};

std::string id_of(const Response& r) {
  INFO(r.body);
  REQUIRE(r.status / 100 == 2);
  return r.json().as_object().find("id")->as_string();
}

std::string text_at(const Object& o, std::string_view path) {
  const Value* v = lookup_path(o, path);
  return v ? v->to_string() : "<absent>";
}

std::string scim_type(const Response& r) {
  const Value* t = r.json().as_object().find("scimType");
  return t ? t->as_string() : std::string();
}

void check_error_body(const Response& r, int status) {
  INFO(r.body);
  CHECK(r.status == status);
  Value v = r.json();
  CHECK(to_json(*v.as_object().find("schemas")) == R"(["urn:ietf:params:scim:api:messages:2.0:Error"])");
  CHECK(v.as_object().find("status")->as_string() == std::to_string(status));
  CHECK(v.as_object().find("detail"));
}

}  // namespace

TEST_CASE("scim endpoint: user CRUD with ETags") {
  test::TempDir dir;
  Endpoint ep(dir.path());
  const Client& c = ep.client;

  Response created = c.post("/Users", user_json("ann@example.com"));
  REQUIRE(created.status == 201);
  std::string id = id_of(created);
  CHECK(created.head.get("Location").ends_with("/scim/v2/Users/" + id));
  CHECK(created.head.get("ETag") == "W/\"1\"");
  CHECK(created.head.getContentType().starts_with("application/scim+json"));

  Response got = c.get("/Users/" + id);
  REQUIRE(got.status == 200);
  CHECK(lookup_path(got.json().as_object(), "name.givenName")->as_string() == "Gann@example.com");
  CHECK(lookup_path(got.json().as_object(), "meta.resourceType")->as_string() == "User");
  CHECK(c.call("GET", "/Users/" + id, {}, {{"If-None-Match", "W/\"1\""}}).status == 304);

  Response replaced = c.call("PUT", "/Users/" + id, user_json("ann@example.com", R"(,"title":"Boss")"));
  REQUIRE(replaced.status == 200);
  CHECK(replaced.head.get("ETag") == "W/\"2\"");
  CHECK(lookup_path(replaced.json().as_object(), "title")->as_string() == "Boss");
  CHECK(lookup_path(replaced.json().as_object(), "meta.created")->as_string() ==
        lookup_path(created.json().as_object(), "meta.created")->as_string());

  // A stale If-Match loses; the current one wins.
  check_error_body(c.call("PATCH", "/Users/" + id,
                          R"({"Operations":[{"op":"replace","path":"title","value":"X"}]})", {{"If-Match", "W/\"1\""}}),
                   412);
  Response patched = c.call("PATCH", "/Users/" + id, R"({"Operations":[{"op":"replace","path":"title","value":"X"}]})",
                            {{"If-Match", "W/\"2\""}});
  CHECK(patched.status == 200);
  CHECK(patched.head.get("ETag") == "W/\"3\"");

  CHECK(c.call("DELETE", "/Users/" + id).status == 204);
  check_error_body(c.get("/Users/" + id), 404);
  check_error_body(c.call("DELETE", "/Users/" + id), 404);
  check_error_body(c.patch("/Users/nope", R"([{"op":"add","path":"title","value":"x"}])"), 404);
}

TEST_CASE("scim endpoint: userName is unique, case-insensitively") {
  test::TempDir dir;
  Endpoint ep(dir.path());
  const Client& c = ep.client;
  Response first = c.post("/Users", user_json("Bob@Example.com"));
  REQUIRE(first.status == 201);
  Response dup = c.post("/Users", user_json("bob@example.COM"));
  check_error_body(dup, 409);
  CHECK(scim_type(dup) == "uniqueness");
  Response other = c.post("/Users", user_json("carl@example.com"));
  REQUIRE(other.status == 201);
  Response rename = c.patch("/Users/" + id_of(other), R"([{"op":"replace","path":"userName","value":"BOB@example.com"}])");
  check_error_body(rename, 409);
  check_error_body(c.post("/Users", R"({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"name":{}})"), 400);
}

TEST_CASE("scim endpoint: lists with filter, paging, attributes and sorting") {
  test::TempDir dir;
  Endpoint ep(dir.path());
  const Client& c = ep.client;
  for (int i = 0; i < 7; ++i) {
    std::string ext = R"(,")" + kEnterprise + R"(":{"department":")" + (i % 2 ? "Sales" : "Ops") + R"("})";
    REQUIRE(c.post("/Users", user_json("u" + std::to_string(i) + "@x.com", ext)).status == 201);
  }
  Value all = c.get("/Users").json();
  CHECK(all.as_object().find("totalResults")->as_integer() == 7);
  CHECK(to_json(*all.as_object().find("schemas")) == R"(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])");

  // What Entra sends before every create.
  Value one = c.get("/Users?filter=" + encode(R"(userName eq "U3@X.COM")")).json();
  CHECK(one.as_object().find("totalResults")->as_integer() == 1);
  Value none = c.get("/Users?filter=" + encode(R"(userName eq "nobody@x.com")")).json();
  CHECK(none.as_object().find("totalResults")->as_integer() == 0);
  CHECK(none.as_object().find("Resources")->as_list().empty());

  Value sales = c.get("/Users?filter=" + encode(R"(department eq "sales" and emails[type eq "work"])")).json();
  CHECK(sales.as_object().find("totalResults")->as_integer() == 3);

  Value page = c.get("/Users?startIndex=3&count=2&sortBy=userName&sortOrder=descending").json();
  CHECK(page.as_object().find("totalResults")->as_integer() == 7);
  CHECK(page.as_object().find("startIndex")->as_integer() == 3);
  CHECK(page.as_object().find("itemsPerPage")->as_integer() == 2);
  const List& items = page.as_object().find("Resources")->as_list();
  REQUIRE(items.size() == 2);
  CHECK(items[0].as_object().find("userName")->as_string() == "u4@x.com");
  CHECK(items[1].as_object().find("userName")->as_string() == "u3@x.com");

  Value slim = c.get("/Users?count=1&attributes=userName,name.familyName").json();
  CHECK(to_json(slim.as_object().find("Resources")->as_list()[0].as_object().find("name") ? Value(true) : Value(false)) ==
        "true");
  Object first = slim.as_object().find("Resources")->as_list()[0].as_object();
  CHECK(first.find("id"));
  CHECK(first.find("userName"));
  CHECK_FALSE(first.find("emails"));
  CHECK(to_json(*first.find("name")) == R"({"familyName":"F"})");

  Value fat = c.get("/Users?count=1&excludedAttributes=emails,meta").json();
  Object f = fat.as_object().find("Resources")->as_list()[0].as_object();
  CHECK_FALSE(f.find("emails"));
  CHECK_FALSE(f.find("meta"));
  CHECK(f.find("userName"));

  CHECK(c.get("/Users?count=0").json().as_object().find("totalResults")->as_integer() == 7);
  Value tail = c.get("/Users?startIndex=6&count=5").json();
  CHECK(tail.as_object().find("totalResults")->as_integer() == 7);
  CHECK(tail.as_object().find("itemsPerPage")->as_integer() == 2);
  std::set<std::string> seen;
  for (int start = 1; start <= 7; start += 3) {
    Value page_of_3 = c.get("/Users?startIndex=" + std::to_string(start) + "&count=3").json();
    for (const Value& u : page_of_3.as_object().find("Resources")->as_list()) {
      seen.insert(u.as_object().find("id")->as_string());
    }
  }
  CHECK(seen.size() == 7);  // pages neither overlap nor skip

  for (const char* bad : {"userName eq", "userName eq \"a\" and", "(title pr", "emails[type eq \"w\"", "a xx 1"}) {
    Response r = c.get("/Users?filter=" + encode(bad));
    INFO(bad);
    check_error_body(r, 400);
    CHECK(scim_type(r) == "invalidFilter");
  }
}

TEST_CASE("scim endpoint: groups with members patched in batches, as Entra does") {
  test::TempDir dir;
  Endpoint ep(dir.path());
  const Client& c = ep.client;
  std::vector<std::string> users;
  for (int i = 0; i < 5; ++i) users.push_back(id_of(c.post("/Users", user_json("m" + std::to_string(i) + "@x.com"))));
  Response g = c.post("/Groups", R"({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Sales"})");
  REQUIRE(g.status == 201);
  std::string gid = id_of(g);

  CHECK(c.patch("/Groups/" + gid, R"([{"op":"Add","path":"members","value":[{"value":")" + users[0] + R"("},{"value":")" +
                                     users[1] + R"("}]}])").status == 200);
  CHECK(c.patch("/Groups/" + gid, R"([{"op":"Add","path":"members","value":[{"value":")" + users[2] + R"("}]}])").status ==
        200);
  CHECK(c.patch("/Groups/" + gid, R"([{"op":"Remove","path":"members[value eq \")" + users[0] + R"(\"]"}])").status == 200);
  Value group = c.get("/Groups/" + gid).json();
  CHECK(group.as_object().find("members")->as_list().size() == 2);

  Value lookup = c.get("/Groups?filter=" + encode(R"(displayName eq "sales")") + "&excludedAttributes=members").json();
  REQUIRE(lookup.as_object().find("totalResults")->as_integer() == 1);
  CHECK_FALSE(lookup.as_object().find("Resources")->as_list()[0].as_object().find("members"));
  Value by_member = c.get("/Groups?filter=" + encode("members[value eq \"" + users[2] + "\"]")).json();
  CHECK(by_member.as_object().find("totalResults")->as_integer() == 1);

  Collect out;
  ReadResult full = ep.read(ReadMode::full, {}, out);
  CHECK(full.complete);
  REQUIRE(out.changes.size() == 6);
  const Record& rec = out.changes.back().record;
  CHECK(rec.type == ObjectType::group);
  CHECK(rec.id == gid);
  CHECK(rec.members == std::vector<std::string>{users[1], users[2]});
  CHECK(rec.attributes.find("displayName")->as_string() == "Sales");
}

TEST_CASE("scim endpoint: Entra's provisioning sequence and soft delete flow to read()") {
  test::TempDir dir;
  Endpoint ep(dir.path());
  const Client& c = ep.client;
  Collect initial;
  ReadResult start = ep.read(ReadMode::full, {}, initial);
  CHECK(start.complete);
  CHECK(start.cursor == "0");

  // Lookup, then create with the enterprise extension.
  CHECK(c.get("/Users?filter=" + encode(R"(userName eq "dana@contoso.com")")).json().as_object().find("totalResults")->as_integer() == 0);
  Response created = c.post("/Users", user_json("dana@contoso.com", R"(,"externalId":"dana",")" + kEnterprise +
                                                                       R"(":{"employeeNumber":"42","department":"Sales"})"));
  REQUIRE(created.status == 201);
  std::string id = id_of(created);
  Response manager = c.post("/Users", user_json("boss@contoso.com"));
  std::string boss = id_of(manager);

  Response soft = c.patch("/Users/" + id, R"([{"op":"Replace","path":"active","value":"False"},
      {"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":")" + boss + R"("}])");
  REQUIRE(soft.status == 200);
  CHECK(soft.json().as_object().find("active")->as_bool() == false);
  // Entra re-sends unchanged values: same version, no new event.
  Response again = c.patch("/Users/" + id, R"([{"op":"Replace","path":"active","value":"False"}])");
  CHECK(again.head.get("ETag") == soft.head.get("ETag"));

  Collect delta;
  ReadResult r = ep.read(ReadMode::incremental, start.cursor, delta);
  CHECK(r.complete);
  CHECK(r.mode == ReadMode::incremental);
  REQUIRE(delta.changes.size() == 2);  // latest state per resource, in the order of their last change
  CHECK(delta.changes[0].record.id == boss);
  const Change& dana = delta.changes[1];
  CHECK(dana.kind == ChangeKind::upsert);
  CHECK(dana.record.id == id);
  const Object& a = dana.record.attributes;
  CHECK(a.find("active")->as_bool() == false);
  // Mapping-style lookups reach core, multi-valued and flattened enterprise attributes.
  CHECK(text_at(a, "userName") == "dana@contoso.com");
  CHECK(text_at(a, "name.givenName") == "Gdana@contoso.com");
  CHECK(text_at(a, "emails.value") == "dana@contoso.com");
  CHECK(lookup_path(a, "emails")->is_list());
  CHECK(text_at(a, "department") == "Sales");
  CHECK(text_at(a, "employeeNumber") == "42");
  CHECK(text_at(a, "manager.value") == boss);
  CHECK(lookup_path(a, kEnterprise)->is_object());

  CHECK(c.call("DELETE", "/Users/" + id).status == 204);
  Collect after_delete;
  ReadResult r2 = ep.read(ReadMode::incremental, r.cursor, after_delete);
  REQUIRE(after_delete.changes.size() == 1);
  CHECK(after_delete.changes[0].kind == ChangeKind::deleted);
  CHECK(after_delete.changes[0].record.id == id);
  Collect nothing;
  ReadResult r3 = ep.read(ReadMode::incremental, r2.cursor, nothing);
  CHECK(nothing.changes.empty());
  CHECK(r3.cursor == r2.cursor);

  // Reading from r2's cursor pruned the events the host had applied: an
  // older cursor now needs a full read, and says so.
  Collect stale;
  ReadResult old = ep.read(ReadMode::incremental, start.cursor, stale);
  CHECK(old.mode == ReadMode::full);
  CHECK(old.note.find("pruned") != std::string::npos);
  CHECK(stale.changes.size() == 1);

  Collect fallback;
  ReadResult r4 = ep.read(ReadMode::incremental, "999999", fallback);
  CHECK(r4.mode == ReadMode::full);
  CHECK(fallback.changes.size() == 1);  // only the manager is left
  CHECK(ep.log.all().find("action=patch") != std::string::npos);
}

TEST_CASE("scim endpoint: inactive_is_soft_delete turns active=false into soft deletions") {
  test::TempDir dir;
  Endpoint ep(dir.path(), Object{{"inactive_is_soft_delete", true}});
  std::string id = id_of(ep.client.post("/Users", user_json("eve@x.com")));
  ep.client.patch("/Users/" + id, R"([{"op":"replace","value":{"active":"False"}}])");
  Collect out;
  ep.read(ReadMode::full, {}, out);
  REQUIRE(out.changes.size() == 1);
  CHECK(out.changes[0].kind == ChangeKind::soft_deleted);
}

TEST_CASE("scim endpoint: bearer authentication, rotation, and no token in logs") {
  test::TempDir dir;
  Endpoint ep(dir.path());
  Client none = ep.client;
  none.token.clear();
  Response r = none.get("/Users");
  check_error_body(r, 401);
  CHECK(r.head.get("WWW-Authenticate").starts_with("Bearer"));

  Client wrong = ep.client;
  wrong.token = kToken.substr(0, kToken.size() - 1) + "X";
  Response w = wrong.post("/Users", user_json("x@x.com"));
  check_error_body(w, 401);
  CHECK(w.head.get("WWW-Authenticate").find("invalid_token") != std::string::npos);
  Client prefix = ep.client;
  prefix.token = kToken + "extra";
  CHECK(prefix.get("/Users").status == 401);
  Response basic = ep.client.call("GET", "/Users", {}, {{"Authorization", "Basic " + kToken}});
  CHECK(basic.status == 401);

  Client rotated = ep.client;
  rotated.token = kToken2;
  CHECK(rotated.post("/Users", user_json("y@x.com")).status == 201);
  CHECK(ep.client.get("/ServiceProviderConfig").status == 200);
  CHECK(none.get("/ServiceProviderConfig").status == 401);

  std::string logs = ep.log.all();
  CHECK(logs.find("who=token#2") != std::string::npos);
  CHECK(logs.find(kToken) == std::string::npos);
  CHECK(logs.find(kToken2) == std::string::npos);
  CHECK(logs.find(kToken.substr(0, 10)) == std::string::npos);
}

TEST_CASE("scim endpoint: malformed json, oversized bodies, unknown routes") {
  test::TempDir dir;
  Endpoint ep(dir.path(), Object{{"max_body_bytes", 2048}});
  const Client& c = ep.client;
  Response bad = c.post("/Users", R"({"userName": "x",)");
  check_error_body(bad, 400);
  CHECK(scim_type(bad) == "invalidSyntax");
  check_error_body(c.post("/Users", "[1,2]"), 400);
  // Deep nesting is refused before parsing, not a stack overflow of the server.
  Endpoint deep(dir.path(), Object{{"store", "deep.db"}});
  Response nested = deep.client.post("/Users", std::string(100000, '['));
  check_error_body(nested, 400);
  CHECK(deep.client.post("/Users", user_json("after@x.com")).status == 201);
  Response big = c.post("/Users", user_json("big@x.com", R"(,"title":")" + std::string(4096, 'a') + "\""));
  check_error_body(big, 413);
  CHECK(c.post("/Users", user_json("small@x.com")).status == 201);
  check_error_body(c.get("/Nope"), 404);
  check_error_body(c.call("DELETE", "/Users"), 405);
  check_error_body(c.post("/Bulk", "{}"), 501);
}

TEST_CASE("scim endpoint: per-client rate limit answers 429 with Retry-After") {
  test::TempDir dir;
  Endpoint ep(dir.path(), Object{{"rate_limit_per_minute", 5}});
  int ok = 0;
  Response last;
  for (int i = 0; i < 6; ++i) {
    last = ep.client.get("/Users");
    if (last.status == 200) ++ok;
  }
  CHECK(ok == 5);
  check_error_body(last, 429);
  CHECK(std::stoi(last.head.get("Retry-After")) >= 1);
}

TEST_CASE("scim endpoint: discovery documents") {
  test::TempDir dir;
  Endpoint ep(dir.path());
  Value spc = ep.client.get("/ServiceProviderConfig").json();
  CHECK(lookup_path(spc.as_object(), "patch.supported")->as_bool());
  CHECK_FALSE(lookup_path(spc.as_object(), "bulk.supported")->as_bool());
  CHECK(lookup_path(spc.as_object(), "etag.supported")->as_bool());
  Value types = ep.client.get("/ResourceTypes").json();
  CHECK(types.as_object().find("totalResults")->as_integer() == 2);
  Value user_type = ep.client.get("/ResourceTypes/User").json();
  CHECK(user_type.as_object().find("endpoint")->as_string() == "/Users");
  Value ext = ep.client.get("/Schemas/" + kEnterprise).json();
  CHECK(ext.as_object().find("id")->as_string() == kEnterprise);
  bool has_manager = false;
  for (const Value& a : ext.as_object().find("attributes")->as_list()) {
    has_manager = has_manager || a.as_object().find("name")->as_string() == "manager";
  }
  CHECK(has_manager);
  check_error_body(ep.client.get("/Schemas/urn:nope"), 404);
}

TEST_CASE("scim endpoint: concurrent clients, one winner per userName") {
  test::TempDir dir;
  Endpoint ep(dir.path());
  constexpr int kThreads = 8;
  constexpr int kEach = 40;
  std::atomic<int> created{0};
  std::atomic<int> conflicts{0};
  std::mutex ids_mutex;
  std::set<std::string> ids;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        Response r = ep.client.post("/Users", user_json("c" + std::to_string(t) + "-" + std::to_string(i) + "@x.com"));
        if (r.status == 201) {
          created.fetch_add(1);
          std::lock_guard lock(ids_mutex);
          ids.insert(id_of(r));
        }
        // Every thread also races for the same names.
        Response dup = ep.client.post("/Users", user_json("shared" + std::to_string(i) + "@x.com"));
        if (dup.status == 409) conflicts.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(created == kThreads * kEach);
  CHECK(ids.size() == static_cast<std::size_t>(kThreads * kEach));
  CHECK(conflicts == (kThreads - 1) * kEach);
  Value list = ep.client.get("/Users?count=0").json();
  CHECK(list.as_object().find("totalResults")->as_integer() == kThreads * kEach + kEach);
  Collect out;
  ReadResult r = ep.read(ReadMode::incremental, "0", out);
  CHECK(out.changes.size() == static_cast<std::size_t>(kThreads * kEach + kEach));
  CHECK(r.cursor == std::to_string(kThreads * kEach + kEach));
}

TEST_CASE("scim endpoint: a 2xx survives kill -9 of the server") {
  test::TempDir dir;
  fs::path settings = dir / "settings.json";
  test::write_file(settings, R"({"listen":"127.0.0.1:0","tokens":[")" + kToken + R"("],"store":"scim.db"})");
  scim_test::Child server({(test::binary_dir() / "bin" / "scim-serve").string(),
                           (test::plugin_dir() / "dirsync-scim.so").string(), settings.string(), dir.path().string(),
                           "--no-read"},
                          {});
  Client c{server.port, kToken};

  std::vector<std::string> ids;
  for (int i = 0; i < 25; ++i) {
    Response r = c.post("/Users", user_json("k" + std::to_string(i) + "@x.com"));
    REQUIRE(r.status == 201);
    ids.push_back(id_of(r));
  }
  std::string gid = id_of(c.post("/Groups", R"({"displayName":"G","members":[{"value":")" + ids[0] + R"("}]})"));
  REQUIRE(c.patch("/Users/" + ids[1], R"([{"op":"Replace","path":"active","value":"False"}])").status == 200);
  REQUIRE(c.call("DELETE", "/Users/" + ids[2]).status == 204);
  CHECK(server.kill9());

  Endpoint restarted(dir.path());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    INFO(i);
    CHECK(restarted.client.get("/Users/" + ids[i]).status == (i == 2 ? 404 : 200));
  }
  CHECK(restarted.client.get("/Users/" + ids[1]).json().as_object().find("active")->as_bool() == false);
  Collect events;
  restarted.read(ReadMode::incremental, "0", events);
  CHECK(events.changes.size() == 26);  // 24 users, 1 deletion, 1 group
  Collect full;
  restarted.read(ReadMode::full, {}, full);
  CHECK(full.changes.size() == 25);
  CHECK(full.changes.back().record.id == gid);
}

TEST_CASE("scim pull mode reads another provider, fully and incrementally") {
  test::TempDir dir;
  Endpoint provider(dir.path());
  for (int i = 0; i < 12; ++i) provider.client.post("/Users", user_json("p" + std::to_string(i) + "@x.com"));
  provider.client.post("/Groups", R"({"displayName":"All"})");

  std::string base = "http://127.0.0.1:" + std::to_string(provider.client.port) + "/scim/v2";
  CaptureLog log;
  Object settings{{"mode", "pull"}, {"base_url", base}, {"token", kToken}, {"page_size", 5},
                  {"filter", R"(userName sw "p1")"}};
  auto pull = plugin().d->make_source(PluginContext{"pull", Settings(settings), dir.path(), &log});
  CHECK_FALSE(pull->can_serve());
  CHECK(pull->test_connection().size() == 2);

  ReadRequest req;
  req.groups = true;
  Collect out;
  ReadResult full = pull->read(req, out);
  CHECK(full.complete);
  CHECK(out.changes.size() == 4);  // p1, p10, p11 and the group
  CHECK_FALSE(full.cursor.empty());

  Object everyone{{"mode", "pull"}, {"base_url", base}, {"token", kToken}, {"page_size", 5}};
  auto pull_all = plugin().d->make_source(PluginContext{"pull", Settings(everyone), dir.path(), &log});
  Collect all;
  ReadResult paged = pull_all->read(req, all);
  CHECK(all.changes.size() == 13);  // three pages of users, one of groups

  std::string target = all.changes[3].record.id;
  provider.client.patch("/Users/" + target, R"([{"op":"replace","path":"title","value":"Changed"}])");
  req.mode = ReadMode::incremental;
  req.cursor = paged.cursor;
  Collect delta;
  ReadResult inc = pull_all->read(req, delta);
  CHECK(inc.mode == ReadMode::incremental);
  bool saw = false;
  for (const Change& ch : delta.changes) saw = saw || ch.record.id == target;
  CHECK(saw);
  CHECK(delta.changes.size() < all.changes.size());

  Object bad{{"mode", "pull"}, {"base_url", base}, {"token", "wrong-token-but-long-enough"}};
  auto denied = plugin().d->make_source(PluginContext{"pull", Settings(bad), dir.path(), &log});
  try {
    Collect ignored;
    denied->read(ReadRequest{}, ignored);
    FAIL("read with a refused token");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::auth);
    CHECK(std::string(e.what()).find("wrong-token") == std::string::npos);
  }
}

TEST_CASE("scim endpoint: serves https with a configured certificate") {
  if (!fs::exists("/usr/bin/openssl")) {
    WARN("openssl not installed: no certificate to test with");
    return;
  }
  test::TempDir dir;
  test::CommandResult gen = test::run({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                                       (dir / "key.pem").string(), "-out", (dir / "cert.pem").string(), "-days", "1",
                                       "-subj", "/CN=localhost"});
  REQUIRE(gen.exit_code == 0);
  Endpoint ep(dir.path(), Object{{"tls_cert", "cert.pem"}, {"tls_key", "key.pem"}});
  CHECK(ep.log.all().find("listening on https://") != std::string::npos);

  Poco::Net::Context::Ptr context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", "",
                                                           Poco::Net::Context::VERIFY_NONE);
  Poco::Net::HTTPSClientSession s("127.0.0.1", ep.client.port, context);
  Poco::Net::HTTPRequest req("GET", "/scim/v2/ServiceProviderConfig", Poco::Net::HTTPMessage::HTTP_1_1);
  req.set("Authorization", "Bearer " + kToken);
  s.sendRequest(req);
  Poco::Net::HTTPResponse resp;
  std::istream& in = s.receiveResponse(resp);
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(resp.getStatus() == 200);
  CHECK(body.find("ServiceProviderConfig") != std::string::npos);

  // Plain http to the TLS port gets no SCIM answer.
  CHECK_THROWS(ep.client.get("/ServiceProviderConfig"));
}

TEST_CASE("scim endpoint: OAuth2 JWT access tokens checked against a configured key") {
  const std::string secret = "jwt-shared-secret-0123456789abcdef0123";
  test::TempDir dir;
  Endpoint ep(dir.path(), Object{{"jwt_hs256_secret", secret}, {"jwt_issuer", "https://idp.example"},
                                 {"jwt_audience", "dirsync-scim"}});
  auto make = [&](const std::string& key, const std::string& iss, const std::string& aud, std::int64_t exp_offset_s,
                  const std::string& alg = Poco::JWT::Signer::ALGO_HS256) {
    Poco::JWT::Token t;
    t.setIssuer(iss);
    t.setSubject("entra-provisioning");
    t.setAudience(aud);
    t.setExpiration(Poco::Timestamp() + exp_offset_s * Poco::Timestamp::resolution());
    Poco::JWT::Signer signer(key);
    signer.addAlgorithm(alg);
    return signer.sign(t, alg);
  };
  Client c = ep.client;
  c.token = make(secret, "https://idp.example", "dirsync-scim", 3600);
  CHECK(c.post("/Users", user_json("jwt@x.com")).status == 201);
  CHECK(ep.log.all().find("who=jwt:entra-provisioning") != std::string::npos);
  CHECK(ep.log.all().find(c.token) == std::string::npos);

  Client expired = ep.client;
  expired.token = make(secret, "https://idp.example", "dirsync-scim", -3600);
  CHECK(expired.get("/Users").status == 401);
  Client other_key = ep.client;
  other_key.token = make("another-secret-of-enough-length-000000", "https://idp.example", "dirsync-scim", 3600);
  CHECK(other_key.get("/Users").status == 401);
  Client wrong_iss = ep.client;
  wrong_iss.token = make(secret, "https://evil.example", "dirsync-scim", 3600);
  CHECK(wrong_iss.get("/Users").status == 401);
  Client wrong_aud = ep.client;
  wrong_aud.token = make(secret, "https://idp.example", "other-api", 3600);
  CHECK(wrong_aud.get("/Users").status == 401);
  Client hs512 = ep.client;
  hs512.token = make(secret, "https://idp.example", "dirsync-scim", 3600, Poco::JWT::Signer::ALGO_HS512);
  CHECK(hs512.get("/Users").status == 401);  // only the configured algorithm
  Client static_token = ep.client;
  CHECK(static_token.get("/Users").status == 200);  // static tokens keep working alongside
}
