// HTTP client machinery shared by the REST-shaped connectors (Entra, Google,
// SCIM): one client with keep-alive connections, TLS verification on unless a
// pipeline says otherwise, and one retry policy for throttling and transient
// faults. Poco stays behind a pimpl so out-of-tree plugins need only the SDK.
//
// Guarantees of Client::send:
//   - 429/503/504 (configurable) are retried after Retry-After (delta seconds
//     or HTTP-date) when the server sends one, otherwise after an exponential
//     backoff with jitter capped at `max_backoff`; transport faults (refused,
//     reset, timeout, truncated body) are retried the same way.
//   - retries stop at `max_attempts` or when the next wait would exceed the
//     remaining `budget`; the last response is returned (a transport fault is
//     thrown as Error(connection)), so callers decide what a final 503 means.
//   - every wait goes through the Clock, so tests never really sleep.
//   - no header values and no bodies are ever logged or put into messages;
//     URLs appear without their query string.
#pragma once

#include <dirsync/error.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dirsync {
class Logger;
}

namespace dirsync::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method = "GET";
  /// Absolute http(s) URL; the path and query are sent verbatim (paging links
  /// such as Graph's @odata.nextLink must not be re-encoded).
  std::string url;
  Headers headers;
  std::string body;
};

struct Response {
  int status = 0;
  Headers headers;
  std::string body;
  /// Case-insensitive header lookup; empty when absent.
  std::string_view header(std::string_view name) const;
  bool ok() const { return status >= 200 && status < 300; }
};

/// Time as the retry and token logic see it.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point now() = 0;
  virtual void sleep_for(std::chrono::milliseconds duration) = 0;
  /// The real clock.
  static Clock& system();
};

struct RetryPolicy {
  int max_attempts = 8;  ///< including the first
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};  ///< cap of one computed backoff
  std::chrono::milliseconds budget{300'000};      ///< total waiting allowed for one request
  double jitter = 0.5;                            ///< fraction of each backoff that is randomised
  std::vector<int> statuses{429, 503, 504};
  bool retry_transport_errors = true;
  /// Also retries a response this returns true for, e.g. Google's 403 whose
  /// error reason is userRateLimitExceeded (a status alone cannot tell it
  /// from a permission error). Called only for statuses not in `statuses`.
  std::function<bool(const Response&)> retry_if;
};

struct ClientOptions {
  /// Skips certificate and host name verification. Only for test setups;
  /// connectors log a warning when a pipeline sets it.
  bool insecure_skip_tls_verify = false;
  std::string ca_file;  ///< extra trusted CAs (PEM); the system store is always used
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds io_timeout{60'000};
  std::string user_agent = "dirsync";
  /// Forward proxy, "http://host:port" (HTTPS goes through it with CONNECT).
  std::string proxy;
  RetryPolicy retry;
  Clock* clock = nullptr;   ///< nullptr = Clock::system()
  Logger* log = nullptr;    ///< retries are logged at warn level
};

/// Thread-safe: connections are pooled per scheme/host/port.
class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// One attempt. Throws Error(connection) when the exchange fails at the
  /// transport level (including a body shorter than its Content-Length).
  Response send_once(const Request& request);
  /// With retries per the policy; see the guarantees above.
  Response send(const Request& request);

  const ClientOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Parses a Retry-After value: delta seconds or an HTTP-date (RFC 9110
/// 10.2.3). Dates in the past give zero; unparsable values give nullopt.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

/// The exponential backoff before retry number `retry` (1-based), capped,
/// with `unit` in [0,1) choosing where in the jitter window it falls.
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, double unit);

/// RFC 3986 percent-encoding of everything but unreserved characters.
std::string url_encode(std::string_view text);
/// application/x-www-form-urlencoded body.
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);
/// The URL without its query string, for messages and logs.
std::string redact_url(std::string_view url);
/// A short human description of an error body: OAuth2 `error` and
/// `error_description`, Graph/Google `error.code` and `error.message`, SCIM
/// `detail`; falls back to nothing for non-JSON bodies. At most ~300 chars.
std::string describe_error_body(std::string_view body);

/// Follows a chain of pages. `fetch` gets one page; `next_of` returns the
/// URL of the next page (empty on the last one) and must be cheap; `process`
/// consumes a page. With `prefetch`, the next page is fetched on another
/// thread while the current one is processed, so network and parsing
/// overlap; exceptions from either side propagate and stop the chain.
struct PageChain {
  std::function<Response(const std::string& url)> fetch;
  std::function<std::string(const Response& page)> next_of;
  std::function<void(Response&& page)> process;
  bool prefetch = true;
};
/// Returns the number of pages processed.
std::size_t follow_pages(const PageChain& chain, std::string first_url);

}  // namespace dirsync::http
