// A loopback HTTP server for tests of HTTP clients: it records every request
// and answers what the test's handler returns, one request at a time (the
// handler runs under a lock, so scripts need no locking of their own).
//
// A reply can also drop the connection without answering after the request
// was read and handled, which is how a test loses a response that the
// server did act on.
//
// FakeScim builds a small SCIM 2.0 service provider on it: /Users and /Groups
// held in memory, `filter=<attr> eq "<value>"` on top-level attributes, POST
// (409 on a taken userName/displayName), PATCH (replace/add/remove of
// top-level paths and of members), DELETE. Enough to drive a SCIM client and
// check what it sent; tests/scim-app-server is the independent, complete one.
#pragma once

#include <dirsync/http.hpp>
#include <dirsync/plugin.hpp>
#include <dirsync/value.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace Poco::Net {
class HTTPServer;
}

namespace dirsync::test {

struct HttpExchange {
  std::string method;
  std::string uri;    ///< path and query as sent
  std::string path;   ///< decoded path
  std::string query;  ///< decoded query (after '?')
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  /// Case-insensitive; empty when absent.
  std::string header(const std::string& name) const;
};

struct HttpReply {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  /// Close the connection without answering.
  bool drop = false;

  static HttpReply json(int status, const Value& body);
  /// From a FakeScim::before hook: no reply of its own, the fake answers.
  static HttpReply pass() {
    HttpReply r;
    r.status = 0;
    return r;
  }
};

class HttpTestServer {
 public:
  /// `n` counts requests from 0.
  using Handler = std::function<HttpReply(const HttpExchange& request, int n)>;

  explicit HttpTestServer(Handler handler);
  ~HttpTestServer();
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  /// http://127.0.0.1:PORT + path
  std::string url(const std::string& path = "") const;
  std::vector<HttpExchange> requests() const;
  /// Requests with this method whose path starts with `path_prefix`.
  std::size_t count(const std::string& method, const std::string& path_prefix = "") const;

 private:
  friend struct HttpTestHandler;
  HttpReply handle(HttpExchange exchange);

  Handler handler_;
  mutable std::mutex mutex_;
  std::vector<HttpExchange> requests_;
  std::unique_ptr<Poco::Net::HTTPServer> server_;
  int port_ = 0;
};

/// Time that moves only when something sleeps: retry and rate-limit waits
/// are recorded instead of slept, so tests check them exactly and fast.
class ManualClock final : public http::Clock {
 public:
  std::chrono::system_clock::time_point now() override;
  void sleep_for(std::chrono::milliseconds duration) override;
  std::vector<std::chrono::milliseconds> sleeps() const;
  std::chrono::milliseconds slept() const;

 private:
  mutable std::mutex mutex_;
  std::chrono::system_clock::time_point now_ = std::chrono::system_clock::now();
  std::vector<std::chrono::milliseconds> sleeps_;
};

/// Keeps every log line, to check what a plugin logged (and that no secret is in it).
class CapturingLogger final : public Logger {
 public:
  void log(LogLevel level, std::string_view message) override;
  std::string text() const;

 private:
  mutable std::mutex mutex_;
  std::string text_;
};

class FakeScim {
 public:
  /// `token` is the bearer token it accepts (401 otherwise); empty = no auth.
  explicit FakeScim(std::string token = {});

  /// The SCIM base URL: http://127.0.0.1:PORT/scim
  std::string base_url() const { return server_.url("/scim"); }
  HttpTestServer& server() { return server_; }

  /// Adds a resource ("Users" or "Groups") as if created outside DirSync; returns its id.
  std::string seed(const std::string& collection, Object resource);
  /// The stored resource, or null.
  Value get(const std::string& collection, const std::string& id) const;
  std::size_t size(const std::string& collection) const;
  std::vector<std::string> ids(const std::string& collection) const;

  /// Hook run before the fake answers (under the server lock): return a
  /// reply to answer with it instead, or HttpReply::pass() to go on.
  std::function<HttpReply(const HttpExchange&, int n)> before;
  /// Hook that may turn the fake's reply into something else (drop it...).
  std::function<HttpReply(const HttpExchange&, HttpReply)> after;

 private:
  HttpReply serve(const HttpExchange& request, int n);
  HttpReply route(const HttpExchange& request);

  std::string token_;
  std::map<std::string, std::map<std::string, Object>> store_;  // collection -> id -> resource
  int next_id_ = 1;
  HttpTestServer server_;
};

}  // namespace dirsync::test
