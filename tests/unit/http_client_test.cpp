// The SDK's HTTP machinery against a scripted loopback server: retries,
// Retry-After, budgets, truncated bodies, token caching and 401 refresh.
#include <catch2/catch.hpp>

#include "support/self_signed.hpp"
#include "support/test_support.hpp"

#include <dirsync/http.hpp>
#include <dirsync/http_config.hpp>
#include <dirsync/oauth.hpp>
#include <dirsync/plugin.hpp>

#include <Poco/Crypto/RSADigestEngine.h>
#include <Poco/Crypto/RSAKey.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>

#include <atomic>
#include <functional>
#include <future>
#include <set>
#include <mutex>
#include <sstream>
#include <thread>

using namespace dirsync;
using namespace dirsync::http;
using namespace std::chrono_literals;

namespace {

struct Seen {
  std::string method, uri, body, authorization;
};

/// A loopback HTTP server whose answers a test scripts as a function of the
/// request number (0-based).
class ScriptedServer {
 public:
  using Script = std::function<void(int n, Poco::Net::HTTPServerRequest&, Poco::Net::HTTPServerResponse&)>;

  explicit ScriptedServer(Script script) : script_(std::move(script)) {
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0));
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(4);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), socket, params);
    server_->start();
    port_ = socket.address().port();
  }
  ~ScriptedServer() { server_->stopAll(true); }

  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::vector<Seen> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  int count() {
    std::lock_guard lock(mutex_);
    return static_cast<int>(seen_.size());
  }

 private:
  struct Handler : Poco::Net::HTTPRequestHandler {
    explicit Handler(ScriptedServer& s) : server(s) {}
    void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) override {
      Seen s{req.getMethod(), req.getURI(), {}, req.get("Authorization", "")};
      Poco::StreamCopier::copyToString(req.stream(), s.body);
      int n;
      {
        std::lock_guard lock(server.mutex_);
        n = static_cast<int>(server.seen_.size());
        server.seen_.push_back(s);
      }
      server.script_(n, req, resp);
    }
    ScriptedServer& server;
  };
  struct Factory : Poco::Net::HTTPRequestHandlerFactory {
    explicit Factory(ScriptedServer& s) : server(s) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
      return new Handler(server);
    }
    ScriptedServer& server;
  };

  Script script_;
  std::unique_ptr<Poco::Net::HTTPServer> server_;
  std::uint16_t port_ = 0;
  std::mutex mutex_;
  std::vector<Seen> seen_;
};

void reply(Poco::Net::HTTPServerResponse& resp, int status, const std::string& body,
           const std::string& type = "application/json") {
  resp.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
  resp.setContentType(type);
  resp.setContentLength(static_cast<std::streamsize>(body.size()));
  resp.send() << body;
}

/// Records sleeps instead of sleeping; time only moves when a test says so.
class FakeClock : public Clock {
 public:
  std::chrono::system_clock::time_point now() override { return now_; }
  void sleep_for(std::chrono::milliseconds d) override {
    sleeps.push_back(d);
    now_ += d;
  }
  void advance(std::chrono::milliseconds d) { now_ += d; }
  std::vector<std::chrono::milliseconds> sleeps;

 private:
  std::chrono::system_clock::time_point now_ = std::chrono::system_clock::from_time_t(1'700'000'000);
};

class CapturingLog : public Logger {
 public:
  void log(LogLevel, std::string_view m) override { lines += std::string(m) + "\n"; }
  std::string lines;
};

ClientOptions fake_options(FakeClock& clock) {
  ClientOptions o;
  o.clock = &clock;
  o.retry.initial_backoff = 100ms;
  o.retry.max_backoff = 1000ms;
  o.retry.max_attempts = 5;
  o.retry.budget = 10'000ms;
  return o;
}

}  // namespace

TEST_CASE("a URL with no path is requested as /, a bare query as /?query") {
  ScriptedServer server([](int, auto&, auto& resp) { reply(resp, 200, "{}"); });
  Client client;
  CHECK(client.send({"GET", server.url(""), {}, {}}).status == 200);
  CHECK(client.send({"GET", server.url("?a=1"), {}, {}}).status == 200);
  REQUIRE(server.count() == 2);
  CHECK(server.seen()[0].uri == "/");
  CHECK(server.seen()[1].uri == "/?a=1");
}

TEST_CASE("a GET sends the path and query verbatim and returns status, headers and body") {
  ScriptedServer server([](int, auto&, auto& resp) {
    resp.set("X-Thing", "42");
    reply(resp, 200, R"({"ok":true})");
  });
  Client client;
  Response r = client.send({"GET", server.url("/v1.0/users?$select=id,mail&$skiptoken=RFNUMDE%3d"), {}, {}});
  CHECK(r.status == 200);
  CHECK(r.ok());
  CHECK(r.body == R"({"ok":true})");
  CHECK(r.header("x-thing") == "42");
  CHECK(r.header("absent").empty());
  REQUIRE(server.count() == 1);
  CHECK(server.seen()[0].uri == "/v1.0/users?$select=id,mail&$skiptoken=RFNUMDE%3d");
}

TEST_CASE("connections are reused across requests") {
  ScriptedServer server([](int, auto&, auto& resp) { reply(resp, 200, "{}"); });
  Client client;
  for (int i = 0; i < 20; ++i) CHECK(client.send({"GET", server.url("/x"), {}, {}}).status == 200);
  CHECK(server.count() == 20);
}

TEST_CASE("429 is retried after the Retry-After seconds the server asks for") {
  ScriptedServer server([](int n, auto&, auto& resp) {
    if (n < 2) {
      resp.set("Retry-After", n == 0 ? "3" : "1");
      reply(resp, 429, R"({"error":{"code":"TooManyRequests","message":"slow down"}})");
    } else {
      reply(resp, 200, "{}");
    }
  });
  FakeClock clock;
  CapturingLog log;
  auto options = fake_options(clock);
  options.log = &log;
  Client client(options);
  Response r = client.send({"GET", server.url("/users?$skiptoken=abc"), {}, {}});
  CHECK(r.status == 200);
  REQUIRE(clock.sleeps.size() == 2);
  CHECK(clock.sleeps[0] == 3000ms);
  CHECK(clock.sleeps[1] == 1000ms);
  CHECK(log.lines.find("status 429, retrying in 3000 ms") != std::string::npos);
  CHECK(log.lines.find("skiptoken") == std::string::npos);
}

TEST_CASE("503 and 504 without Retry-After back off exponentially within the jitter window") {
  ScriptedServer server([](int n, auto&, auto& resp) { reply(resp, n < 3 ? (n % 2 ? 504 : 503) : 200, "{}"); });
  FakeClock clock;
  Client client(fake_options(clock));
  CHECK(client.send({"GET", server.url("/x"), {}, {}}).status == 200);
  REQUIRE(clock.sleeps.size() == 3);
  // jitter 0.5: wait in [base/2, base]
  CHECK(clock.sleeps[0] >= 50ms);
  CHECK(clock.sleeps[0] <= 100ms);
  CHECK(clock.sleeps[1] >= 100ms);
  CHECK(clock.sleeps[1] <= 200ms);
  CHECK(clock.sleeps[2] >= 200ms);
  CHECK(clock.sleeps[2] <= 400ms);
}

TEST_CASE("backoff is capped and jitter stays in its window") {
  RetryPolicy p;
  p.initial_backoff = 100ms;
  p.max_backoff = 1000ms;
  p.jitter = 0.5;
  CHECK(backoff_delay(p, 1, 0.0) == 50ms);
  CHECK(backoff_delay(p, 1, 1.0) == 100ms);
  CHECK(backoff_delay(p, 3, 1.0) == 400ms);
  CHECK(backoff_delay(p, 10, 1.0) == 1000ms);
  CHECK(backoff_delay(p, 10, 0.0) == 500ms);
}

TEST_CASE("other statuses are not retried") {
  ScriptedServer server([](int, auto&, auto& resp) { reply(resp, 500, "{}"); });
  FakeClock clock;
  Client client(fake_options(clock));
  CHECK(client.send({"GET", server.url("/x"), {}, {}}).status == 500);
  CHECK(server.count() == 1);
  CHECK(clock.sleeps.empty());
}

TEST_CASE("retries stop at max_attempts and return the last answer") {
  ScriptedServer server([](int, auto&, auto& resp) { reply(resp, 503, "{}"); });
  FakeClock clock;
  Client client(fake_options(clock));
  CHECK(client.send({"GET", server.url("/x"), {}, {}}).status == 503);
  CHECK(server.count() == 5);
  CHECK(clock.sleeps.size() == 4);
}

TEST_CASE("a Retry-After beyond the remaining budget ends the retries at once") {
  ScriptedServer server([](int, auto&, auto& resp) {
    resp.set("Retry-After", "4");
    reply(resp, 429, "{}");
  });
  FakeClock clock;
  Client client(fake_options(clock));  // budget 10 s
  CHECK(client.send({"GET", server.url("/x"), {}, {}}).status == 429);
  CHECK(clock.sleeps.size() == 2);  // 4 s + 4 s, a third would exceed 10 s
  CHECK(server.count() == 3);
}

TEST_CASE("Retry-After as HTTP-date and as seconds") {
  auto now = std::chrono::system_clock::from_time_t(1'445'412'480);  // Wed, 21 Oct 2015 07:28:00 GMT
  CHECK(parse_retry_after("120", now) == 120'000ms);
  CHECK(parse_retry_after(" 0 ", now) == 0ms);
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now) == 30'000ms);
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now) == 0ms);
  CHECK_FALSE(parse_retry_after("soon", now).has_value());
  CHECK_FALSE(parse_retry_after("", now).has_value());
}

TEST_CASE("a body shorter than its Content-Length is a transport fault and is retried") {
  ScriptedServer server([](int n, auto&, Poco::Net::HTTPServerResponse& resp) {
    if (n == 0) {
      resp.setKeepAlive(false);
      resp.setContentLength(1000);
      resp.send() << R"({"value":[{"id":"1"},)";
    } else {
      reply(resp, 200, R"({"value":[]})");
    }
  });
  FakeClock clock;
  Client client(fake_options(clock));
  Response r = client.send({"GET", server.url("/x"), {}, {}});
  CHECK(r.body == R"({"value":[]})");
  CHECK(clock.sleeps.size() == 1);
}

TEST_CASE("a permanently truncated body ends in Error(connection)") {
  ScriptedServer server([](int, auto&, Poco::Net::HTTPServerResponse& resp) {
    resp.setKeepAlive(false);
    resp.setContentLength(1000);
    resp.send() << "{";
  });
  FakeClock clock;
  Client client(fake_options(clock));
  try {
    client.send({"GET", server.url("/x?secret-ish=1"), {}, {}});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::connection);
    CHECK_THAT(e.what(), Catch::Contains("truncated body") && Catch::Contains("after 5 attempts"));
    CHECK_THAT(e.what(), !Catch::Contains("secret-ish"));
  }
}

TEST_CASE("connection refused is retried then reported") {
  std::uint16_t port;
  {
    Poco::Net::ServerSocket s(Poco::Net::SocketAddress("127.0.0.1", 0));
    port = s.address().port();
  }
  FakeClock clock;
  Client client(fake_options(clock));
  try {
    client.send({"GET", "http://127.0.0.1:" + std::to_string(port) + "/x", {}, {}});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::connection);
    CHECK_THAT(e.what(), Catch::Contains("connection refused"));
  }
  CHECK(clock.sleeps.size() == 4);
}

TEST_CASE("an invalid url is a config error") {
  Client client;
  CHECK_THROWS_AS(client.send({"GET", "ftp://x/y", {}, {}}), Error);
  CHECK_THROWS_AS(client.send({"GET", "http://:80/y", {}, {}}), Error);
}

TEST_CASE("encoding helpers") {
  CHECK(url_encode("a b&c=d/é~") == "a%20b%26c%3Dd%2F%C3%A9~");
  CHECK(form_encode({{"grant_type", "client_credentials"}, {"scope", "https://x/.default"}}) ==
        "grant_type=client_credentials&scope=https%3A%2F%2Fx%2F.default");
  CHECK(redact_url("https://user:pw@host:8/p?q=1") == "https://host:8/p");
  CHECK(describe_error_body(R"({"error":"invalid_client","error_description":"AADSTS7000215: bad.\r\nTrace ID: x"})") ==
        "invalid_client: AADSTS7000215: bad.");
  CHECK(describe_error_body(R"({"error":{"code":"Authorization_RequestDenied","message":"no"}})") ==
        "Authorization_RequestDenied: no");
  CHECK(describe_error_body("<html>") == "");
}

TEST_CASE("client-credentials tokens are cached until expires_in minus the margin") {
  ScriptedServer server([](int n, auto&, auto& resp) {
    reply(resp, 200, R"({"token_type":"Bearer","expires_in":3599,"access_token":"tok-)" + std::to_string(n) + "\"}");
  });
  FakeClock clock;
  Client client(fake_options(clock));
  TokenProvider tokens(client_secret_grant(server.url("/t/oauth2/v2.0/token"), "app", "s3cr3t", "scope/.default"),
                       client, 300s);
  CHECK(tokens.token() == "tok-0");
  CHECK(tokens.token() == "tok-0");
  clock.advance(3298s);
  CHECK(tokens.token() == "tok-0");
  clock.advance(2s);
  CHECK(tokens.token() == "tok-1");
  CHECK(tokens.acquisitions() == 2);
  auto seen = server.seen();
  CHECK(seen[0].method == "POST");
  CHECK(seen[0].body == "grant_type=client_credentials&client_id=app&client_secret=s3cr3t&scope=scope%2F.default");
}

TEST_CASE("a refused token request is an auth error without the secret") {
  ScriptedServer server([](int, auto&, auto& resp) {
    reply(resp, 401,
          R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"})");
  });
  Client client;
  TokenProvider tokens(client_secret_grant(server.url("/t/token"), "app", "hunter2-secret", "s"), client);
  try {
    tokens.token();
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::auth);
    CHECK_THAT(e.what(), Catch::Contains("status 401") && Catch::Contains("AADSTS7000215"));
    CHECK_THAT(e.what(), !Catch::Contains("hunter2"));
  }
}

TEST_CASE("a 401 from the API refreshes the token once and resends") {
  int token_requests = 0;
  ScriptedServer server([&](int, Poco::Net::HTTPServerRequest& req, auto& resp) {
    if (req.getURI() == "/token") {
      reply(resp, 200, R"({"expires_in":3600,"access_token":"t)" + std::to_string(token_requests++) + "\"}");
    } else if (req.get("Authorization", "") == "Bearer t0") {
      reply(resp, 401, R"({"error":{"code":"InvalidAuthenticationToken","message":"expired"}})");
    } else {
      reply(resp, 200, R"({"value":[]})");
    }
  });
  FakeClock clock;
  Client client(fake_options(clock));
  TokenProvider tokens(client_secret_grant(server.url("/token"), "a", "b", "c"), client);
  AuthorizedClient api(client, tokens);
  CHECK(api.send({"GET", server.url("/users"), {}, {}}).status == 200);
  CHECK(api.send({"GET", server.url("/users"), {}, {}}).status == 200);
  CHECK(tokens.acquisitions() == 2);
}

TEST_CASE("a persistent 401 is returned after exactly one refresh") {
  ScriptedServer server([](int, Poco::Net::HTTPServerRequest& req, auto& resp) {
    if (req.getURI() == "/token")
      reply(resp, 200, R"({"expires_in":"3600","access_token":"t"})");
    else
      reply(resp, 401, "{}");
  });
  Client client;
  TokenProvider tokens(client_secret_grant(server.url("/token"), "a", "b", "c"), client);
  AuthorizedClient api(client, tokens);
  CHECK(api.send({"GET", server.url("/users"), {}, {}}).status == 401);
  CHECK(server.count() == 4);  // token, api, token, api
}

TEST_CASE("a refreshed token that worked, then expired before this request's resend, is refreshed again") {
  // t0 has expired; t1, fetched for this request's resend, answers another
  // connection first and expires before the resend arrives; t2 works.
  int token_requests = 0;
  TokenProvider* provider = nullptr;
  ScriptedServer server([&](int, Poco::Net::HTTPServerRequest& req, auto& resp) {
    std::string auth = req.get("Authorization", "");
    if (req.getURI() == "/token") {
      reply(resp, 200, R"({"expires_in":3600,"access_token":"t)" + std::to_string(token_requests++) + "\"}");
    } else if (auth == "Bearer t2") {
      reply(resp, 200, R"({"value":[]})");
    } else {
      if (auth == "Bearer t1") provider->accepted("t1");  // the other connection's answer
      reply(resp, 401, "{}");
    }
  });
  Client client;
  TokenProvider tokens(client_secret_grant(server.url("/token"), "a", "b", "c"), client);
  provider = &tokens;
  AuthorizedClient api(client, tokens);
  CHECK(api.send({"GET", server.url("/users"), {}, {}}).status == 200);
  CHECK(tokens.acquisitions() == 3);
}

TEST_CASE("RS256 JWTs verify with the public key and x5t is a SHA-1 thumbprint") {
  Poco::Crypto::RSAKey key(Poco::Crypto::RSAKey::KL_2048, Poco::Crypto::RSAKey::EXP_LARGE);
  std::ostringstream pub, priv;
  key.save(&pub, &priv);
  std::string jwt = sign_rs256_jwt(R"({"alg":"RS256"})", R"({"sub":"x"})", priv.str());
  auto first_dot = jwt.find('.');
  auto last_dot = jwt.rfind('.');
  REQUIRE(first_dot != last_dot);
  CHECK(jwt.substr(0, first_dot) == "eyJhbGciOiJSUzI1NiJ9");
  std::string signature_b64 = jwt.substr(last_dot + 1);
  CHECK(signature_b64.find('=') == std::string::npos);
  CHECK(signature_b64.size() == 342);  // 256 bytes, unpadded base64url

  CHECK_THROWS_AS(sign_rs256_jwt("{}", "{}", "not a key"), Error);
  try {
    sign_rs256_jwt("{}", "{}", "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), !Catch::Contains("c2VjcmV0"));
  }
}

TEST_CASE("follow_pages processes every page in order, with and without prefetch") {
  for (bool prefetch : {true, false}) {
    ScriptedServer server([](int, Poco::Net::HTTPServerRequest& req, auto& resp) {
      std::string uri = req.getURI();
      int page = uri.back() - '0';
      reply(resp, 200, page < 3 ? "next=/p" + std::to_string(page + 1) : "last");
    });
    Client client;
    std::vector<std::string> bodies;
    PageChain chain;
    chain.fetch = [&](const std::string& url) { return client.send({"GET", url, {}, {}}); };
    chain.next_of = [&](const Response& r) {
      return r.body.starts_with("next=") ? server.url(r.body.substr(5)) : std::string();
    };
    chain.process = [&](Response&& r) { bodies.push_back(r.body); };
    chain.prefetch = prefetch;
    CHECK(follow_pages(chain, server.url("/p0")) == 4);
    CHECK(bodies == std::vector<std::string>{"next=/p1", "next=/p2", "next=/p3", "last"});
  }
}

TEST_CASE("follow_pages fetches ahead on one thread for the whole chain") {
  // A thread per page started each fetch behind the busy threads; one thread
  // that sleeps between pages is woken at once.
  ScriptedServer server([](int, Poco::Net::HTTPServerRequest& req, auto& resp) {
    int page = req.getURI().back() - '0';
    reply(resp, 200, page < 5 ? "/p" + std::to_string(page + 1) : "last");
  });
  Client client;
  std::atomic<int> most_on_one_thread{0};
  std::thread::id caller = std::this_thread::get_id();
  std::atomic<bool> on_caller{false};
  PageChain chain;
  chain.fetch = [&](const std::string& url) {
    thread_local int fetched_here = 0;
    if (url != server.url("/p0")) {
      on_caller = on_caller || std::this_thread::get_id() == caller;
      most_on_one_thread = std::max(most_on_one_thread.load(), ++fetched_here);
    }
    return client.send({"GET", url, {}, {}});
  };
  chain.next_of = [&](const Response& r) { return r.body == "last" ? std::string() : server.url(r.body); };
  int processed = 0;
  chain.process = [&](Response&&) { ++processed; };
  CHECK(follow_pages(chain, server.url("/p0")) == 6);
  CHECK(processed == 6);
  CHECK_FALSE(on_caller);
  CHECK(most_on_one_thread == 5);
}

TEST_CASE("follow_pages lets the page in flight finish when processing throws") {
  ScriptedServer server([](int, Poco::Net::HTTPServerRequest& req, auto& resp) {
    reply(resp, 200, req.getURI() == "/p0" ? "/p1" : "last");
  });
  Client client;
  std::promise<void> fetching, thrown;
  std::shared_future<void> fetching_seen = fetching.get_future().share(), thrown_seen = thrown.get_future().share();
  std::atomic<int> in_flight{0};
  PageChain chain;
  chain.fetch = [&](const std::string& url) {
    if (url == server.url("/p0")) return client.send({"GET", url, {}, {}});
    ++in_flight;
    fetching.set_value();
    thrown_seen.wait();  // the chain's caller is unwinding while this runs
    Response r = client.send({"GET", url, {}, {}});
    --in_flight;
    return r;
  };
  chain.next_of = [&](const Response& r) { return r.body == "last" ? std::string() : server.url(r.body); };
  chain.process = [&](Response&&) {
    fetching_seen.wait();
    thrown.set_value();
    throw Error(ErrorKind::input, "bad page");
  };
  CHECK_THROWS_WITH(follow_pages(chain, server.url("/p0")), "bad page");
  CHECK(in_flight == 0);  // nothing uses `chain` once follow_pages is gone
}

TEST_CASE("follow_pages stops on the first failing page") {
  ScriptedServer server([](int, Poco::Net::HTTPServerRequest& req, auto& resp) {
    reply(resp, req.getURI() == "/p2" ? 500 : 200, req.getURI() == "/p0" ? "/p1" : "/p2");
  });
  Client client;
  int processed = 0;
  PageChain chain;
  chain.fetch = [&](const std::string& url) {
    Response r = client.send({"GET", url, {}, {}});
    if (!r.ok()) throw Error(ErrorKind::read, "page failed");
    return r;
  };
  chain.next_of = [&](const Response& r) { return server.url(r.body); };
  chain.process = [&](Response&&) { ++processed; };
  CHECK_THROWS_AS(follow_pages(chain, server.url("/p0")), Error);
  CHECK(processed <= 2);
}

TEST_CASE("the shared HTTP config keys become client options") {
  std::set<std::string> keys;
  for (const auto& f : config_fields()) keys.insert(f.key);
  CHECK(keys.count("insecure_skip_tls_verify"));
  CHECK(keys.count("retry_budget"));
  CapturingLog log;
  ClientOptions o = client_options(Settings(Object{{"insecure_skip_tls_verify", true},
                                                   {"max_attempts", 3},
                                                   {"retry_initial_backoff", 250},
                                                   {"retry_budget", 60000}}),
                                   &log, "entra");
  CHECK(o.insecure_skip_tls_verify);
  CHECK(o.retry.max_attempts == 3);
  CHECK(o.retry.initial_backoff == 250ms);
  CHECK(o.retry.budget == 60000ms);
  CHECK(o.retry.max_backoff == 30000ms);
  CHECK_THAT(log.lines, Catch::Contains("entra: TLS certificate verification is disabled"));
  CapturingLog quiet;
  CHECK_FALSE(client_options(Settings(), &quiet, "entra").insecure_skip_tls_verify);
  CHECK(quiet.lines.empty());
}

TEST_CASE("TLS: a self-signed server is refused by default, accepted when trusted or insecure") {
  dirsync::test::TempDir dir;
  std::string key = (dir / "key.pem").string(), cert = (dir / "cert.pem").string();
  auto made = dirsync::test::make_self_signed("127.0.0.1");
  dirsync::test::write_file(key, made.key_pem);
  dirsync::test::write_file(cert, made.cert_pem);
  Poco::Net::initializeSSL();
  Poco::Net::Context::Ptr server_tls =
      new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, key, cert, "", Poco::Net::Context::VERIFY_NONE);
  Poco::Net::SecureServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0), 64, server_tls);
  struct Ok : Poco::Net::HTTPRequestHandler {
    void handleRequest(Poco::Net::HTTPServerRequest&, Poco::Net::HTTPServerResponse& resp) override {
      reply(resp, 200, "{}");
    }
  };
  struct Factory : Poco::Net::HTTPRequestHandlerFactory {
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
      return new Ok;
    }
  };
  Poco::Net::HTTPServer server(new Factory, socket, new Poco::Net::HTTPServerParams);
  server.start();
  std::string url = "https://127.0.0.1:" + std::to_string(socket.address().port()) + "/";

  ClientOptions strict;
  strict.retry.max_attempts = 1;
  try {
    Client(strict).send({"GET", url, {}, {}});
    FAIL("a self-signed certificate must be refused");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::connection);
    CHECK_THAT(e.what(), Catch::Contains("tls"));
  }
  ClientOptions trusted = strict;
  trusted.ca_file = cert;
  CHECK(Client(trusted).send({"GET", url, {}, {}}).status == 200);
  ClientOptions insecure = strict;
  insecure.insecure_skip_tls_verify = true;
  CHECK(Client(insecure).send({"GET", url, {}, {}}).status == 200);
  server.stopAll(true);
}

namespace {

std::string base64url_decode(const std::string& in) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    auto v = alphabet.find(c);
    if (v == std::string::npos) break;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

/// The decoded header and payload of the JWT sent in form field `field`.
std::pair<Value, Value> sent_jwt(const std::string& form, const std::string& field) {
  std::string prefix = field + "=";
  auto at = form.find(prefix);
  REQUIRE(at != std::string::npos);
  std::string jwt = form.substr(at + prefix.size(), form.find('&', at) - at - prefix.size());
  auto dot1 = jwt.find('.'), dot2 = jwt.rfind('.');
  REQUIRE(dot1 != dot2);
  return {parse_json(base64url_decode(jwt.substr(0, dot1))),
          parse_json(base64url_decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1)))};
}

}  // namespace

TEST_CASE("signed-assertion grants: Entra certificate credential and Google JWT bearer") {
  auto made = dirsync::test::make_self_signed("dirsync");
  const std::string& key_pem = made.key_pem;
  const std::string& cert_pem = made.cert_pem;
  ScriptedServer server([](int, auto&, auto& resp) { reply(resp, 200, R"({"access_token":"t","expires_in":3600})"); });
  FakeClock clock;
  Client client(fake_options(clock));

  client_assertion_grant(server.url("/tenant/oauth2/v2.0/token"), "app-id", "https://graph.microsoft.com/.default",
                         cert_pem, key_pem, &clock)
      ->acquire(client);
  std::string form = server.seen()[0].body;
  CHECK_THAT(form, Catch::Contains("grant_type=client_credentials") &&
                       Catch::Contains("client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"));
  CHECK_THAT(form, !Catch::Contains("client_secret"));
  auto [header, payload] = sent_jwt(form, "client_assertion");
  CHECK(header.as_object().find("alg")->as_string() == "RS256");
  CHECK(header.as_object().find("x5t")->as_string() == certificate_thumbprint_x5t(cert_pem));
  CHECK(header.as_object().find("x5t")->as_string().size() == 27);  // SHA-1, unpadded base64url
  CHECK(payload.as_object().find("iss")->as_string() == "app-id");
  CHECK(payload.as_object().find("sub")->as_string() == "app-id");
  CHECK(payload.as_object().find("aud")->as_string() == server.url("/tenant/oauth2/v2.0/token"));
  CHECK(payload.as_object().find("iat")->as_integer() == 1'700'000'000);
  CHECK(payload.as_object().find("exp")->as_integer() > 1'700'000'000);

  jwt_bearer_grant(server.url("/token"), "sa@project.iam.gserviceaccount.com",
                   "https://www.googleapis.com/auth/admin.directory.user.readonly", "admin@example.com", key_pem, &clock)
      ->acquire(client);
  form = server.seen()[1].body;
  CHECK_THAT(form, Catch::StartsWith("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="));
  auto [h2, p2] = sent_jwt(form, "assertion");
  CHECK(h2.as_object().find("alg")->as_string() == "RS256");
  CHECK(p2.as_object().find("iss")->as_string() == "sa@project.iam.gserviceaccount.com");
  CHECK(p2.as_object().find("sub")->as_string() == "admin@example.com");
  CHECK(p2.as_object().find("exp")->as_integer() - p2.as_object().find("iat")->as_integer() == 3600);

  CHECK_THROWS_AS(client_assertion_grant("http://x/t", "a", "s", "not a certificate", key_pem), Error);
}

TEST_CASE("requests go through a configured forward proxy with absolute URIs") {
  ScriptedServer proxy([](int, auto&, auto& resp) { reply(resp, 200, R"({"via":"proxy"})"); });
  ClientOptions o;
  o.proxy = proxy.url("");
  Client client(o);
  Response r = client.send({"GET", "http://graph.example.invalid/v1.0/users?$top=1", {}, {}});
  CHECK(r.body == R"({"via":"proxy"})");
  REQUIRE(proxy.count() == 1);
  CHECK(proxy.seen()[0].uri == "http://graph.example.invalid:80/v1.0/users?$top=1");  // absolute form
}
