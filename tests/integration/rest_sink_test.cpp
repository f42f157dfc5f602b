// The REST sink's generic profile and its HTTP rules against a loopback
// server: escaping on the wire, per-object failures, 429 storms, lost create
// responses, OAuth refresh, rate limits, secrets. Waits go through a manual
// clock, so retries and rate limits are checked exactly and never slept.
#include <catch2/catch.hpp>

#include "support/http_test_server.hpp"

#include <set>

// The plugin is a loadable module; its sources are compiled in to build the
// sink with a manual clock.
#include "../../sinks/rest/config.cpp"
#include "../../sinks/rest/rest_sink.cpp"
#include "../../sinks/rest/scim.cpp"
#include "../../sinks/rest/template.cpp"
#include "../../sinks/rest/transport.cpp"

using namespace dirsync;
using namespace dirsync::rest;
using namespace dirsync::test;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  ManualClock clock;
  CapturingLogger log;
  std::unique_ptr<RestSink> sink;

  void make(Object settings) {
    Settings s(std::move(settings));
    sink = std::make_unique<RestSink>(RestConfig::from(s), s, &log, &clock);
  }
  std::vector<OpResult> apply(const std::vector<Operation>& ops) {
    std::vector<OpResult> results(ops.size());
    sink->apply(ops, results);
    return results;
  }
};

/// A device-management-style user list: POST /users, PATCH /users/{id}, lookup by email.
Object generic_settings(const std::string& base) {
  return Object{
      {"base_url", Value(base)},
      {"auth", Value("api_key")},
      {"api_key_header", Value("X-Api-Key")},
      {"api_key", Value("k3y-S3cret-value")},
      {"concurrency", Value(1)},
      {"users", Value(Object{
                    {"create", Value(Object{{"url", Value("/users")},
                                            {"body", Value(Object{{"email", Value("{{email}}")},
                                                                  {"name", Value("{{name}}")},
                                                                  {"active", Value("{{active}}")}})},
                                            {"success", Value(List{Value(201)})},
                                            {"id_pointer", Value("/data/id")}})},
                    {"update", Value(Object{{"method", Value("PATCH")},
                                            {"url", Value("/users/{{$id}}")},
                                            {"headers", Value(Object{{"Content-Type", Value("application/merge-patch+json")},
                                                                     {"X-Source", Value("{{$source_id}}")}})},
                                            {"body", Value(Object{{"email", Value("{{email}}")},
                                                                  {"name", Value("{{name}}")},
                                                                  {"active", Value("{{active}}")}})}})},
                    {"delete", Value(Object{{"url", Value("/users/{{$id}}")}})},
                    {"lookup", Value(Object{{"url", Value("/users?email={{$value}}")},
                                            {"results", Value("/items")},
                                            {"id_pointer", Value("/id")},
                                            {"key", Value("email")}})}})}};
}

Object oauth_settings(const HttpTestServer& server) {
  Object s = generic_settings(server.url());
  s.set("auth", Value("oauth2"));
  s.set("token_url", Value(server.url("/token")));
  s.set("client_id", Value("app"));
  s.set("client_secret", Value("cl1ent-S3cret"));
  return s;
}

Operation create_user(const std::string& source_id, const std::string& email, const std::string& name = "N") {
  Operation op;
  op.kind = OpKind::create;
  op.source_id = source_id;
  op.attributes = Object{{"email", Value(email)}, {"name", Value(name)}, {"active", Value(true)}};
  return op;
}

Operation change_user(const std::string& target_id, Object attributes, OpKind kind = OpKind::update) {
  Operation op;
  op.kind = kind;
  op.source_id = "s-" + target_id;
  op.target_id = target_id;
  op.attributes = std::move(attributes);
  return op;
}

/// `n` updates of the name of users u-0, u-1, ...
std::vector<Operation> renames(int n) {
  std::vector<Operation> ops;
  for (int i = 0; i < n; ++i) ops.push_back(change_user("u-" + std::to_string(i), Object{{"name", Value("n")}}));
  return ops;
}

/// A user store behind the generic API, by email.
struct UserApi {
  std::map<std::string, std::string> by_email;  // email -> id
  int next = 1;

  HttpReply operator()(const HttpExchange& x) {
    if (x.method == "GET" && x.path == "/users") {
      std::string email = x.query.substr(x.query.find('=') + 1);
      List items;
      if (by_email.count(email)) items.emplace_back(Object{{"id", Value(by_email[email])}, {"email", Value(email)}});
      return HttpReply::json(200, Value(Object{{"items", Value(std::move(items))}}));
    }
    if (x.method == "POST" && x.path == "/users") {
      std::string email = parse_json(x.body).as_object().find("email")->as_string();
      std::string id = "u-" + std::to_string(next++);
      by_email[email] = id;
      return HttpReply::json(201, Value(Object{{"data", Value(Object{{"id", Value(id)}})}}));
    }
    return HttpReply::json(200, Value(Object{}));
  }
};

}  // namespace

TEST_CASE("generic: bodies and URLs carry quotes, newlines and unicode escaped on the wire") {
  UserApi api;
  HttpTestServer server([&](const HttpExchange& x, int) { return api(x); });
  Fixture f;
  f.make(generic_settings(server.url()));
  std::string email = "o\"brien+x/y?z&w@zürich.example";
  std::string name = "Ann \"The\" Boss\nsecond line\t\\ 東京 😀";
  auto r = f.apply({create_user("s1", email, name)});
  REQUIRE(r[0].ok);
  CHECK(r[0].target_id == "u-1");
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].header("Content-Type") == "application/json");
  CHECK(reqs[0].body.find(R"(\"The\" Boss\nsecond line\t\\ 東京 😀)") != std::string::npos);
  Value sent = parse_json(reqs[0].body);
  CHECK(sent.as_object().find("email")->as_string() == email);
  CHECK(sent.as_object().find("name")->as_string() == name);
  CHECK(sent.as_object().find("active")->as_bool() == true);

  // The lookup URL percent-encodes the value: it cannot add a path segment or a query parameter.
  auto ids = f.sink->find(ObjectType::user, "email", Value(email), true);
  CHECK(ids == std::vector<std::string>{"u-1"});
  reqs = server.requests();
  CHECK(reqs.back().uri == "/users?email=o%22brien%2Bx%2Fy%3Fz%26w%40z%C3%BCrich.example");
}

TEST_CASE("generic: an update sends only the entries of changed attributes; nothing changed, no request") {
  HttpTestServer server([](const HttpExchange&, int) { return HttpReply::json(200, Value(Object{})); });
  Fixture f;
  f.make(generic_settings(server.url()));
  Operation op;
  op.kind = OpKind::update;
  op.target_id = "u/7";
  op.source_id = "s7";
  op.attributes = Object{{"name", Value("New")}};
  Operation nothing = op;
  nothing.attributes = Object{{"unmapped_in_body", Value("x")}};
  auto r = f.apply({op, nothing});
  CHECK(r[0].ok);
  CHECK(r[1].ok);
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].method == "PATCH");
  CHECK(reqs[0].uri == "/users/u%2F7");
  CHECK(reqs[0].body == R"({"name":"New"})");
  CHECK(reqs[0].header("Content-Type") == "application/merge-patch+json");  // the operation's header wins
  CHECK(reqs[0].header("X-Source") == "s7");
  CHECK(reqs[0].header("X-Api-Key") == "k3y-S3cret-value");
}

TEST_CASE("generic: a 4xx fails that object with status and detail; the batch goes on") {
  UserApi api;
  HttpTestServer server([&](const HttpExchange& x, int) {
    if (x.method == "POST" && x.body.find("bad@") != std::string::npos)
      return HttpReply::json(422, Value(Object{{"detail", Value("email domain not allowed")}}));
    return api(x);
  });
  Fixture f;
  f.make(generic_settings(server.url()));
  auto r = f.apply({create_user("s1", "a@x.example"), create_user("s2", "bad@y.example"),
                    create_user("s3", "c@x.example")});
  CHECK(r[0].ok);
  CHECK_FALSE(r[1].ok);
  CHECK(r[1].error == "POST " + server.url("/users") + " answered 422: email domain not allowed");
  CHECK(r[2].ok);
  CHECK(server.count("POST") == 3);
}

TEST_CASE("generic: a 429 storm is waited out as Retry-After says, without duplicates") {
  UserApi api;
  HttpTestServer server([&](const HttpExchange& x, int n) {
    if (n < 5) {
      HttpReply busy = HttpReply::json(429, Value(Object{{"detail", Value("slow down")}}));
      busy.headers.emplace_back("Retry-After", "7");
      return busy;
    }
    return api(x);
  });
  Fixture f;
  f.make(generic_settings(server.url()));
  auto r = f.apply({create_user("s1", "a@x.example")});
  REQUIRE(r[0].ok);
  CHECK(server.count("POST") == 6);
  CHECK(server.count("GET") == 0);  // a 429 was not processed: resent without a lookup
  CHECK(f.clock.sleeps() == std::vector<std::chrono::milliseconds>(5, 7000ms));
  CHECK(api.by_email.size() == 1);
  CHECK(f.log.text().find("status 429, retrying in 7000 ms") != std::string::npos);
}

TEST_CASE("generic: a 429 that never ends fails the object after max_attempts") {
  HttpTestServer server([](const HttpExchange&, int) {
    HttpReply busy = HttpReply::json(429, Value(Object{{"detail", Value("quota exceeded")}}));
    busy.headers.emplace_back("Retry-After", "1");
    return busy;
  });
  Fixture f;
  Object s = generic_settings(server.url());
  s.set("max_attempts", Value(3));
  f.make(s);
  auto r = f.apply({create_user("s1", "a@x.example")});
  CHECK_FALSE(r[0].ok);
  CHECK(r[0].error.find("answered 429: quota exceeded") != std::string::npos);
  CHECK(server.count("POST") == 3);
}

TEST_CASE("generic: a create whose response is lost is looked up, not duplicated") {
  UserApi api;
  bool lose = true;
  HttpTestServer server([&](const HttpExchange& x, int) {
    HttpReply reply = api(x);
    if (x.method == "POST" && lose) {
      lose = false;
      reply.drop = true;  // created, but the answer never arrives
    }
    return reply;
  });
  Fixture f;
  f.make(generic_settings(server.url()));
  // A first request leaves a pooled keep-alive connection: the lost POST goes over a reused one.
  CHECK(f.sink->find(ObjectType::user, "email", Value("nobody@x.example"), true).empty());
  auto r = f.apply({create_user("s1", "a@x.example")});
  REQUIRE(r[0].ok);
  CHECK(r[0].target_id == "u-1");
  CHECK(server.count("POST") == 1);
  CHECK(api.by_email.size() == 1);
  CHECK(f.log.text().find("found it as u-1, not resent") != std::string::npos);
}

TEST_CASE("generic: a create answered 503 after it took effect is adopted, one that did not is resent") {
  UserApi api;
  int posts = 0;
  HttpTestServer server([&](const HttpExchange& x, int) {
    if (x.method == "POST" && ++posts == 1) {
      api(x);  // applied, then the gateway fails
      return HttpReply::json(503, Value(Object{}));
    }
    if (x.method == "POST" && posts == 2) return HttpReply::json(503, Value(Object{}));  // not applied
    return api(x);
  });
  Fixture f;
  f.make(generic_settings(server.url()));
  auto r = f.apply({create_user("s1", "a@x.example"), create_user("s2", "b@x.example")});
  REQUIRE(r[0].ok);
  REQUIRE(r[1].ok);
  CHECK(r[0].target_id == api.by_email["a@x.example"]);
  CHECK(r[1].target_id == api.by_email["b@x.example"]);
  CHECK(api.by_email.size() == 2);
  CHECK(server.count("POST") == 3);  // s1 once, s2 twice (its first POST did nothing)
}

TEST_CASE("generic: without a lookup key a create whose outcome is unknown is reported, not resent") {
  HttpTestServer server([](const HttpExchange&, int) { return HttpReply::json(503, Value(Object{})); });
  Fixture f;
  Object s = generic_settings(server.url());
  s.find("users")->as_object().erase("lookup");
  f.make(s);
  auto r = f.apply({create_user("s1", "a@x.example")});
  CHECK_FALSE(r[0].ok);
  CHECK(r[0].error.find("may have taken effect; not resent") != std::string::npos);
  CHECK(server.count("POST") == 1);
}

TEST_CASE("generic: oauth2 tokens are cached, refreshed after a 401, and never leak") {
  int tokens_issued = 0;
  std::string current;
  HttpTestServer server([&](const HttpExchange& x, int) {
    if (x.path == "/token") {
      CHECK(x.body.find("client_secret=cl1ent-S3cret") != std::string::npos);
      current = "tok-" + std::to_string(++tokens_issued) + "-zz9";
      return HttpReply::json(200, Value(Object{{"access_token", Value(current)}, {"expires_in", Value(3600)}}));
    }
    if (x.header("Authorization") != "Bearer " + current)
      return HttpReply::json(401, Value(Object{{"detail", Value("token " + x.header("Authorization") + " rejected")}}));
    if (x.method == "POST")
      return HttpReply::json(400, Value(Object{{"detail", Value("you sent " + x.header("Authorization"))}}));
    return HttpReply::json(200, Value(Object{}));
  });
  Fixture f;
  f.make(oauth_settings(server));
  Operation up;
  up.kind = OpKind::update;
  up.target_id = "u-1";
  up.attributes = Object{{"name", Value("x")}};
  auto r = f.apply({up, up});
  CHECK(r[0].ok);
  CHECK(r[1].ok);
  CHECK(tokens_issued == 1);  // cached

  current = "tok-revoked";  // the API revokes the token: the next request gets a 401
  r = f.apply({up});
  CHECK(r[0].ok);
  CHECK(tokens_issued == 2);

  // An error body echoing the token is reported without it.
  r = f.apply({create_user("s9", "z@x.example")});
  REQUIRE_FALSE(r[0].ok);
  CHECK(r[0].error.find("you sent Bearer ***") != std::string::npos);
  CHECK(r[0].error.find("tok-2-zz9") == std::string::npos);
  CHECK(f.log.text().find("tok-") == std::string::npos);
  CHECK(f.log.text().find("cl1ent-S3cret") == std::string::npos);

  // An hour later the cached token is near its expiry: a new one is fetched before the request.
  f.clock.sleep_for(std::chrono::hours(1));
  std::size_t rejected = server.requests().size();
  r = f.apply({up});
  CHECK(r[0].ok);
  CHECK(tokens_issued == 3);
  CHECK(server.requests().size() == rejected + 2);  // token, PATCH: no 401 first
}

TEST_CASE("generic: a 401 even with a fresh token stops the batch with an auth error") {
  HttpTestServer server([&](const HttpExchange& x, int) {
    if (x.path == "/token")
      return HttpReply::json(200, Value(Object{{"access_token", Value("t-abc-123")}, {"expires_in", Value(3600)}}));
    return HttpReply::json(401, Value(Object{}));
  });
  Fixture f;
  f.make(oauth_settings(server));
  try {
    f.apply({create_user("s1", "a@x.example"), create_user("s2", "b@x.example")});
    FAIL("expected an auth error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::auth);
    CHECK(std::string(e.what()).find("also with a fresh token") != std::string::npos);
    CHECK(std::string(e.what()).find("t-abc-123") == std::string::npos);
  }
  CHECK(server.count("POST", "/users") == 2);  // the same request, once per token
}

TEST_CASE("generic: static credentials go in the configured header; a 401 is an auth error") {
  HttpTestServer server([](const HttpExchange& x, int) {
    return x.header("Authorization") == "Basic YWRtaW46cEBzcw==" ? HttpReply::json(200, Value(Object{}))
                                                                : HttpReply::json(401, Value(Object{}));
  });
  Fixture f;
  Object s = generic_settings(server.url());
  s.set("auth", Value("basic"));
  s.set("username", Value("admin"));
  s.set("password", Value("p@ss"));
  f.make(s);
  Operation del;
  del.kind = OpKind::remove;
  del.target_id = "u-1";
  CHECK(f.apply({del})[0].ok);

  Fixture g;
  g.make(generic_settings(server.url()));
  CHECK_THROWS_AS(g.apply({del}), Error);
  CHECK(server.requests().back().header("X-Api-Key") == "k3y-S3cret-value");
}

TEST_CASE("generic: requests_per_second spaces request starts, retries included") {
  HttpTestServer server([](const HttpExchange&, int) { return HttpReply::json(200, Value(Object{})); });
  Fixture f;
  Object s = generic_settings(server.url());
  s.set("requests_per_second", Value(4));
  f.make(s);
  auto r = f.apply(renames(8));
  CHECK(std::all_of(r.begin(), r.end(), [](const OpResult& x) { return x.ok; }));
  CHECK(server.count("PATCH") == 8);
  CHECK(f.clock.slept() == 7 * 250ms);  // the first starts at once, then one every 250 ms
}

TEST_CASE("generic: concurrency runs a batch on several workers, every result filled") {
  UserApi api;
  HttpTestServer server([&](const HttpExchange& x, int) { return api(x); });
  Fixture f;
  Object s = generic_settings(server.url());
  s.set("concurrency", Value(4));
  f.make(s);
  std::vector<Operation> ops;
  for (int i = 0; i < 40; ++i) ops.push_back(create_user("s" + std::to_string(i), std::to_string(i) + "@x.example"));
  auto r = f.apply(ops);
  std::set<std::string> ids;
  for (std::size_t i = 0; i < r.size(); ++i) {
    CHECK(r[i].ok);
    CHECK(r[i].target_id == api.by_email[std::to_string(i) + "@x.example"]);
    ids.insert(r[i].target_id);
  }
  CHECK(ids.size() == 40);
}

TEST_CASE("generic: a refused connection stops the batch with a connection error after the retries") {
  std::string url;
  {
    HttpTestServer gone([](const HttpExchange&, int) { return HttpReply{}; });
    url = gone.url();
  }
  Fixture f;
  Object s = generic_settings(url);
  s.set("max_attempts", Value(3));
  f.make(s);
  Operation up;
  up.kind = OpKind::update;
  up.target_id = "u-1";
  up.attributes = Object{{"name", Value("x")}};
  try {
    f.apply({up});
    FAIL("expected a connection error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::connection);
    CHECK(std::string(e.what()).find("after 3 attempts") != std::string::npos);
  }
  CHECK(f.clock.sleeps().size() == 2);
}

TEST_CASE("generic: group members are added in chunks or one request per member") {
  HttpTestServer server([](const HttpExchange& x, int) {
    if (x.method == "POST" && x.path == "/groups")
      return HttpReply::json(201, Value(Object{{"id", Value("g-1")}}));
    return HttpReply::json(204, Value(Object{}));
  });
  Fixture f;
  f.make(Object{{"base_url", Value(server.url())},
                {"max_members_per_patch", Value(2)},
                {"concurrency", Value(1)},
                {"groups", Value(Object{
                               {"create", Value(Object{{"url", Value("/groups")},
                                                       {"body", Value(Object{{"name", Value("{{name}}")}})}})},
                               {"update", Value(Object{{"url", Value("/groups/{{$id}}")},
                                                       {"body", Value(Object{{"name", Value("{{name}}")}})}})},
                               {"members_add", Value(Object{{"url", Value("/groups/{{$id}}/members")},
                                                            {"body", Value(Object{{"ids", Value("{{$members}}")}})}})},
                               {"members_remove", Value(Object{{"url", Value("/groups/{{$id}}/members/{{$member}}")}})},
                           })}});
  Operation create;
  create.kind = OpKind::create;
  create.type = ObjectType::group;
  create.attributes = Object{{"name", Value("Eng")}};
  create.members_add = {"a", "b", "c"};
  Operation update;
  update.kind = OpKind::update;
  update.type = ObjectType::group;
  update.target_id = "g-9";
  update.members_remove = {"x/1", "y"};
  auto r = f.apply({create, update});
  CHECK(r[0].ok);
  CHECK(r[1].ok);
  std::vector<std::string> seen;
  for (const auto& x : server.requests()) seen.push_back(x.method + " " + x.uri + " " + x.body);
  CHECK(seen == std::vector<std::string>{"POST /groups {\"name\":\"Eng\"}",
                                         "POST /groups/g-1/members {\"ids\":[\"a\",\"b\"]}",
                                         "POST /groups/g-1/members {\"ids\":[\"c\"]}",
                                         "DELETE /groups/g-9/members/x%2F1 ", "DELETE /groups/g-9/members/y "});
}

TEST_CASE("generic: configuration errors name the key") {
  auto error_of = [](Object s) {
    try {
      RestConfig::from(Settings(std::move(s)));
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::config);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  Object s = generic_settings("http://127.0.0.1:1");
  s.find("users")->as_object().find("create")->as_object().set("url", Value("/u/{{email"));
  CHECK_THAT(error_of(s), Catch::Contains("'users.create.url'"));
  s = generic_settings("http://127.0.0.1:1");
  s.find("users")->as_object().find("create")->as_object().set("colour", Value("red"));
  CHECK_THAT(error_of(s), Catch::Contains("unknown key 'users.create.colour'"));
  s = generic_settings("http://127.0.0.1:1");
  s.find("users")->as_object().find("lookup")->as_object().set("id_pointer", Value("id"));
  CHECK_THAT(error_of(s), Catch::Contains("'users.lookup.id_pointer'"));
  s = generic_settings("ftp://x");
  CHECK_THAT(error_of(s), Catch::Contains("base_url 'ftp://x' must start with http"));
  s = generic_settings("http://127.0.0.1:1");
  s.set("auth", Value("bearer"));
  CHECK_THAT(error_of(s), Catch::Contains("auth: bearer needs 'token'"));
  s = generic_settings("http://127.0.0.1:1");
  s.find("users")->as_object().find("update")->as_object().set(
      "headers", Value(Object{{"Authorization", Value("Bearer ${env:API_TOKEN}")}}));
  CHECK_THAT(error_of(s), Catch::Contains("'users.update.headers.Authorization' holds a secret reference"));
  s = generic_settings("http://127.0.0.1:1");
  s.set("headers", Value(Object{{"X-Key", Value("${file:/run/key}")}}));
  CHECK_THAT(error_of(s), Catch::Contains("'headers.X-Key' holds a secret reference"));
  s = generic_settings("http://127.0.0.1:1");
  s.set("concurrency", Value(0));
  CHECK_THAT(error_of(s), Catch::Contains("concurrency must be between 1 and 64, got 0"));
}

TEST_CASE("generic: batch endpoints send up to batch_size objects per request, results per item") {
  std::map<std::string, std::string> store;  // email -> id
  bool lose_next = false;
  HttpTestServer server([&](const HttpExchange& x, int) {
    if (x.method == "GET") {
      std::string email = x.query.substr(x.query.find('=') + 1);
      List items;
      if (store.count(email)) items.emplace_back(Object{{"id", Value(store[email])}});
      return HttpReply::json(200, Value(Object{{"items", Value(std::move(items))}}));
    }
    List results;
    Value sent = parse_json(x.body);
    for (const Value& u : sent.as_object().find("users")->as_list()) {
      std::string email = u.as_object().find("email")->as_string();
      if (email.starts_with("bad")) {
        results.emplace_back(Object{{"error", Value("invalid email " + email)}});
        continue;
      }
      store[email] = "b-" + std::to_string(store.size() + 1);
      results.emplace_back(Object{{"id", Value(store[email])}});
    }
    HttpReply reply = HttpReply::json(200, Value(Object{{"results", Value(std::move(results))}}));
    reply.drop = std::exchange(lose_next, false);
    return reply;
  });
  Fixture f;
  Object s = generic_settings(server.url());
  Object& create = s.find("users")->as_object().find("create")->as_object();
  create.set("url", Value("/users/bulk"));
  create.set("batch_size", Value(3));
  create.set("item", Value(Object{{"email", Value("{{email}}")}, {"active", Value("{{active}}")}}));
  create.set("body", Value(Object{{"users", Value("{{$items}}")}}));
  create.set("results", Value("/results"));
  create.set("success", Value(List{Value(200)}));
  create.set("id_pointer", Value("/id"));
  f.make(s);

  std::vector<Operation> ops;
  for (std::string e : {"a", "b", "bad1", "c", "d", "e", "f"}) ops.push_back(create_user("s-" + e, e + "@x.example"));
  auto r = f.apply(ops);
  CHECK(server.count("POST", "/users/bulk") == 3);  // 3 + 3 + 1
  for (std::size_t i = 0; i < ops.size(); ++i) {
    INFO(ops[i].source_id);
    if (i == 2) {
      CHECK_FALSE(r[i].ok);
      CHECK(r[i].error == "users.create (batch item 2): invalid email bad1@x.example");
    } else {
      CHECK(r[i].ok);
      CHECK(r[i].target_id == store[ops[i].attributes.find("email")->as_string()]);
    }
  }

  // A batch whose answer is lost: what the lookups find is adopted, the rest is sent again.
  lose_next = true;
  std::size_t posts = server.count("POST");
  r = f.apply({create_user("s-g", "g@x.example"), create_user("s-h", "h@x.example")});
  CHECK(r[0].ok);
  CHECK(r[1].ok);
  CHECK(r[0].target_id == store["g@x.example"]);
  CHECK(server.count("POST") == posts + 1);  // both had been created: nothing resent
  CHECK(store.size() == 8);
}

TEST_CASE("generic: disable is the update with the pipeline's attributes; a 404 delete is done; switched-off operations send nothing") {
  HttpTestServer server([](const HttpExchange& x, int) {
    return x.method == "DELETE" ? HttpReply::json(404, Value(Object{})) : HttpReply::json(200, Value(Object{}));
  });
  Fixture f;
  f.make(generic_settings(server.url()));
  Operation disable;
  disable.kind = OpKind::disable;
  disable.target_id = "u-1";
  disable.attributes = Object{{"active", Value(false)}};
  Operation remove = disable;
  remove.kind = OpKind::remove;
  auto r = f.apply({disable, remove});
  CHECK(r[0].ok);
  CHECK(r[1].ok);
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].method + " " + reqs[0].uri + " " + reqs[0].body == R"(PATCH /users/u-1 {"active":false})");
  CHECK(reqs[1].method + " " + reqs[1].uri == "DELETE /users/u-1");

  Fixture off;
  Object s = generic_settings(server.url());
  s.find("users")->as_object().set("disable", Value(false));
  s.find("users")->as_object().set("delete", Value(false));
  s.find("users")->as_object().erase("lookup");
  off.make(s);
  r = off.apply({disable, remove});
  CHECK(r[0].ok);
  CHECK(r[1].ok);
  CHECK(server.requests().size() == 2);
  // Without a lookup, matching cannot work: an error for that object, never a silent "not found".
  CHECK_THROWS_WITH(off.sink->find(ObjectType::user, "email", Value("a@x.example"), true),
                    Catch::Contains("users.lookup is not configured"));
}

TEST_CASE("generic: a header rendered with a line break fails that object only") {
  UserApi api;
  HttpTestServer server([&](const HttpExchange& x, int) { return api(x); });
  Fixture f;
  Object s = generic_settings(server.url());
  s.find("users")->as_object().find("create")->as_object().set("headers", Value(Object{{"X-Name", Value("{{name}}")}}));
  f.make(s);
  auto r = f.apply({create_user("s1", "a@x.example", "Ann\r\nX-Admin: true"), create_user("s2", "b@x.example", "Bob")});
  CHECK_FALSE(r[0].ok);
  CHECK(r[0].error == "the header value rendered from 'name' holds a line break");
  CHECK(r[1].ok);
  CHECK(server.count("POST") == 1);
  CHECK(server.requests().back().header("X-Name") == "Bob");
}

namespace {

/// Calls `on_retry` whenever the sink logs that a request waits to be retried,
/// which the transport does after it has paused the other workers.
class RetryWatch final : public Logger {
 public:
  explicit RetryWatch(std::function<void()> on_retry) : on_retry_(std::move(on_retry)) {}
  void log(LogLevel, std::string_view message) override {
    if (message.find("retrying in") != std::string_view::npos) on_retry_();
  }

 private:
  std::function<void()> on_retry_;
};

std::string email_of(const HttpExchange& x) { return parse_json(x.body).as_object().find("email")->as_string(); }

}  // namespace

TEST_CASE("generic: a Retry-After holds every worker until the moment it names; each user is created once") {
  // The real clock: the point is the order of arrivals across threads, which a
  // clock that only moves when a thread sleeps cannot show. Costs one second.
  using SystemClock = std::chrono::system_clock;
  constexpr std::size_t kUsers = 120, kWorkers = 8;
  UserApi api;
  std::vector<SystemClock::time_point> arrived;  // by request number; the handler runs under the server's lock
  std::optional<SystemClock::time_point> resume;
  int throttled = -1, posts = 0;
  HttpTestServer server([&](const HttpExchange& x, int n) {
    arrived.push_back(SystemClock::now());
    if (x.method == "POST" && ++posts == 10) {  // every worker is busy by now
      HttpReply busy = HttpReply::json(429, Value(Object{{"detail", Value("slow down")}}));
      busy.headers.emplace_back("Retry-After", "1");
      throttled = n;
      resume = SystemClock::now() + 1s;
      return busy;
    }
    return api(x);
  });
  std::atomic<std::size_t> paused_at{SIZE_MAX};  // requests the server had seen when the client paused
  RetryWatch watch([&] {
    std::size_t none = SIZE_MAX;
    paused_at.compare_exchange_strong(none, server.requests().size());
  });
  Object s = generic_settings(server.url());
  s.set("concurrency", Value(static_cast<std::int64_t>(kWorkers)));
  Settings settings(s);
  RestSink sink(RestConfig::from(settings), settings, &watch);
  std::vector<Operation> ops;
  for (std::size_t i = 0; i < kUsers; ++i) ops.push_back(create_user("s" + std::to_string(i), std::to_string(i) + "@x.example"));
  std::vector<OpResult> results(ops.size());
  sink.apply(ops, results);

  for (std::size_t i = 0; i < results.size(); ++i) {
    INFO(i << ": " << results[i].error);
    CHECK(results[i].ok);
    CHECK(results[i].target_id == api.by_email[std::to_string(i) + "@x.example"]);
  }
  CHECK(api.by_email.size() == kUsers);
  CHECK(server.count("POST") == kUsers + 1);  // the throttled one was not processed, and sent again
  REQUIRE(resume);
  REQUIRE(paused_at != SIZE_MAX);
  auto reqs = server.requests();
  std::size_t early = 0;  // arrived after the client paused, yet before the moment the server named
  for (std::size_t n = paused_at; n < reqs.size(); ++n) {
    if (arrived[n] < *resume) ++early;
    if (static_cast<int>(n) > throttled && reqs[n].method == "POST" && email_of(reqs[n]) == email_of(reqs[throttled]))
      CHECK(arrived[n] >= *resume);
  }
  // Only a request another worker had already sent when the 429 came back may
  // arrive early: at most one per other worker. Without a shared pause the
  // other workers would go on writing through the whole second.
  CHECK(early <= kWorkers - 1);
}

TEST_CASE("generic: requests_per_second is one ceiling for all workers, not one per worker") {
  Fixture f;
  std::vector<std::chrono::system_clock::time_point> arrived;  // under the server's lock
  HttpTestServer server([&](const HttpExchange&, int) {
    arrived.push_back(f.clock.now());
    return HttpReply::json(200, Value(Object{}));
  });
  Object s = generic_settings(server.url());
  s.set("requests_per_second", Value(4));
  s.set("concurrency", Value(4));
  f.make(s);
  auto start = f.clock.now();
  auto r = f.apply(renames(16));
  CHECK(std::all_of(r.begin(), r.end(), [](const OpResult& x) { return x.ok; }));
  REQUIRE(arrived.size() == 16);
  // Each start has a slot of its own, 250 ms after the previous one, whichever worker takes it.
  for (std::size_t k = 0; k < arrived.size(); ++k) {
    INFO("request " << k);
    CHECK(arrived[k] >= start + static_cast<int>(k) * 250ms);
  }
}

TEST_CASE("generic: an update or delete whose answer is lost is sent again; a POST update is reported instead") {
  int patches = 0, deletes = 0;
  HttpTestServer server([&](const HttpExchange& x, int) {
    // Each first one is applied, then its answer is lost; the repeated delete finds nothing left.
    HttpReply reply = HttpReply::json(x.method == "DELETE" && deletes > 0 ? 404 : 200, Value(Object{}));
    if (x.method == "PATCH") reply.drop = patches++ == 0;
    if (x.method == "DELETE") reply.drop = deletes++ == 0;
    if (x.method == "POST") reply.drop = true;
    return reply;
  });
  Fixture f;
  f.make(generic_settings(server.url()));
  Operation up = change_user("u-1", Object{{"name", Value("Ann")}});
  auto r = f.apply({up, change_user("u-2", {}, OpKind::remove)});
  CHECK(r[0].ok);
  CHECK(r[1].ok);
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 4);
  CHECK(reqs[0].method + " " + reqs[0].uri + " " + reqs[0].body == R"(PATCH /users/u-1 {"name":"Ann"})");
  CHECK(reqs[1].method + " " + reqs[1].uri + " " + reqs[1].body == R"(PATCH /users/u-1 {"name":"Ann"})");
  CHECK(reqs[2].method + " " + reqs[2].uri == "DELETE /users/u-2");
  CHECK(reqs[3].method + " " + reqs[3].uri == "DELETE /users/u-2");

  // A POST may append (a history entry, a second object): not sent twice.
  Object s = generic_settings(server.url());
  s.find("users")->as_object().find("update")->as_object().set("method", Value("POST"));
  f.make(s);
  r = f.apply({up});
  CHECK_FALSE(r[0].ok);
  CHECK_THAT(r[0].error, Catch::Contains("may have taken effect; not resent"));
  CHECK(server.count("POST") == 1);
}

TEST_CASE("generic: batch updates, disables and deletes send up to batch_size objects per request") {
  std::map<std::string, Object> users;  // id -> attributes
  for (std::string id : {"u-1", "u-2", "u-3", "u-4", "u-5", "u-6"})
    users[id] = Object{{"name", Value("old")}, {"active", Value(true)}};
  bool lose_next = false;
  HttpTestServer server([&](const HttpExchange& x, int) {
    Value sent = parse_json(x.body);
    List results;
    auto missing = [&](const std::string& id) {
      bool gone = users.count(id) == 0;
      results.emplace_back(gone ? Object{{"error", Value("no user " + id)}} : Object{{"ok", Value(true)}});
      return gone;
    };
    if (x.method == "PATCH" && x.path == "/users/bulk") {
      for (const Value& item : sent.as_object().find("users")->as_list()) {
        const Object& o = item.as_object();
        std::string id = o.find("id")->as_string();
        if (missing(id)) continue;
        for (const auto& [k, v] : o)
          if (k != "id") users[id].set(k, v);
      }
    } else if (x.method == "POST" && x.path == "/users/bulk-delete") {
      for (const Value& id : sent.as_object().find("ids")->as_list())
        if (!missing(id.as_string())) users.erase(id.as_string());
    } else {
      return HttpReply::json(404, Value(Object{}));
    }
    HttpReply reply = HttpReply::json(200, Value(Object{{"results", Value(std::move(results))}}));
    reply.drop = std::exchange(lose_next, false);
    return reply;
  });
  Fixture f;
  Object s = generic_settings(server.url());
  Object& type = s.find("users")->as_object();
  type.set("update", Value(Object{{"url", Value("/users/bulk")},
                                  {"batch_size", Value(3)},
                                  {"item", Value(Object{{"id", Value("{{$id}}")},
                                                        {"name", Value("{{name}}")},
                                                        {"active", Value("{{active}}")}})},
                                  {"body", Value(Object{{"users", Value("{{$items}}")}})},
                                  {"results", Value("/results")}}));
  type.set("delete", Value(Object{{"method", Value("POST")},
                                  {"url", Value("/users/bulk-delete")},
                                  {"batch_size", Value(3)},
                                  {"item", Value("{{$id}}")},
                                  {"body", Value(Object{{"ids", Value("{{$items}}")}})},
                                  {"results", Value("/results")}}));
  f.make(s);
  Object renamed{{"name", Value("new")}};
  std::vector<Operation> ops{change_user("u-1", renamed),
                            change_user("u-2", renamed),
                            change_user("u-9", renamed),
                            change_user("u-3", renamed),
                            change_user("u-4", Object{{"active", Value(false)}}, OpKind::disable),
                            change_user("u-5", {}, OpKind::remove),
                            change_user("u-6", {}, OpKind::remove)};
  auto r = f.apply(ops);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    INFO(ops[i].target_id);
    if (ops[i].target_id == "u-9") {
      CHECK_FALSE(r[i].ok);
      CHECK(r[i].error == "users.update (batch item 2): no user u-9");
    } else {
      CHECK(r[i].ok);
      CHECK(r[i].target_id == ops[i].target_id);
    }
  }
  std::vector<std::string> sent;
  for (const auto& x : server.requests()) sent.push_back(x.method + " " + x.path + " " + x.body);
  CHECK(sent == std::vector<std::string>{
                    R"(PATCH /users/bulk {"users":[{"id":"u-1","name":"new"},{"id":"u-2","name":"new"},{"id":"u-9","name":"new"}]})",
                    R"(PATCH /users/bulk {"users":[{"id":"u-3","name":"new"}]})",
                    R"(PATCH /users/bulk {"users":[{"id":"u-4","active":false}]})",
                    R"(POST /users/bulk-delete {"ids":["u-5","u-6"]})"});
  CHECK(users["u-3"].find("name")->as_string() == "new");
  CHECK(users["u-4"].find("active")->as_bool() == false);
  CHECK(users.count("u-5") == 0);
  CHECK(users.count("u-6") == 0);

  // A batch update whose answer is lost is sent again; a batch delete through
  // POST is reported for each of its objects instead.
  lose_next = true;
  std::size_t before = server.requests().size();
  r = f.apply({change_user("u-1", Object{{"name", Value("newer")}}), change_user("u-2", renamed)});
  CHECK(r[0].ok);
  CHECK(r[1].ok);
  CHECK(users["u-1"].find("name")->as_string() == "newer");
  CHECK(server.requests().size() == before + 2);
  lose_next = true;
  r = f.apply({change_user("u-1", {}, OpKind::remove), change_user("u-2", {}, OpKind::remove)});
  CHECK_FALSE(r[0].ok);
  CHECK_FALSE(r[1].ok);
  CHECK_THAT(r[1].error, Catch::Contains("may have taken effect; not resent"));
  CHECK(server.count("POST", "/users/bulk-delete") == 2);
}
