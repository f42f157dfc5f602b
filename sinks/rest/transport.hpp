// The REST sink's HTTP side: credentials, the shared rate limit, and the
// retry rules that keep creates from being duplicated.
//
// Guarantees of Transport::send:
//   - every attempt (retries included) first takes a token from one bucket of
//     `requests_per_second`, shared by all the sink's worker threads;
//   - 429/503/504 (the SDK policy's statuses) and transport faults are
//     retried after Retry-After or the SDK's backoff, up to `max_attempts`
//     and `retry_budget`, all waits through the SDK Clock;
//   - a Retry-After (within `retry_budget`) pauses every worker: the server
//     speaks for the endpoint, so no attempt of any thread starts before the
//     moment it named (requests already sent are not recalled);
//   - a non-idempotent request (given a `recover` function) is resent only
//     after `recover` says the first one did not take effect: after a fault
//     or a 5xx the request may have been applied, so the caller looks first;
//     a 429 means "not processed" and is resent directly;
//   - oauth2: a 401 drops the cached token and resends once; a second 401, or
//     any 401 with a static credential, throws Error(auth);
//   - header values, bodies and secrets never reach a message or a log line.
// The SDK's Client::send retries every method; this loop is here because the
// rate limit applies per attempt and a create must look before it resends.
#pragma once

#include <dirsync/http.hpp>
#include <dirsync/oauth.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace dirsync::rest {

struct AuthConfig {
  enum class Kind { none, bearer, basic, api_key, oauth2 } kind = Kind::none;
  std::string token;
  std::string username, password;
  std::string api_key_header = "X-API-Key", api_key;
  std::string token_url, client_id, client_secret, scope;
};

/// Paces the requests of one sink, across all its worker threads: starts are
/// spaced 1/rate apart (a token bucket of one), and once the server asked for
/// a pause (Retry-After) no request starts before that moment. Owned by the
/// sink's Transport, so two sinks never hold each other up.
class RateLimiter {
 public:
  RateLimiter(double per_second, http::Clock& clock) : per_second_(per_second), clock_(clock) {}
  /// Blocks until the caller may start a request.
  void acquire();
  /// No request starts before `until`; an earlier moment never shortens a pause.
  void pause_until(std::chrono::system_clock::time_point until);

 private:
  double per_second_;
  http::Clock& clock_;
  std::mutex mutex_;
  std::chrono::system_clock::time_point next_{};
  std::chrono::system_clock::time_point paused_until_{};
};

class Transport {
 public:
  /// `media_type` goes in Accept and in the Content-Type of bodies.
  Transport(std::string base_url, http::Headers headers, AuthConfig auth, http::ClientOptions options,
            double requests_per_second, std::string media_type = "application/json");

  /// `path_or_url` relative to base_url unless it is absolute.
  std::string url(const std::string& path_or_url) const;
  enum class Resend { blindly, after_lookup };
  /// With Resend::after_lookup (creates), an attempt whose outcome is unknown
  /// is resent only when `recover` returns false; when it returns true send
  /// returns nullopt (the caller found the object). Without `recover` such a
  /// request is not resent: ObjectFailure.
  std::optional<http::Response> send(http::Request request, Resend resend = Resend::blindly,
                                     const std::function<bool()>& recover = {});
  /// A short description of an error answer, without secrets.
  std::string excerpt(const http::Response& response) const;
  /// Fetches a token when oauth2 is configured (test-connection).
  void authenticate();
  http::Clock& clock() { return clock_; }
  const std::string& base_url() const { return base_url_; }

 private:
  http::Response attempt(http::Request& request);
  std::string scrub(std::string text) const;

  std::string base_url_;
  std::string media_type_;
  http::Headers headers_;
  AuthConfig auth_;
  std::unique_ptr<http::Client> client_;
  std::unique_ptr<http::TokenProvider> tokens_;
  http::Clock& clock_;
  RateLimiter limiter_;
  std::string static_authorization_;
  mutable std::mutex mutex_;
  std::string last_token_;  // scrubbed from excerpts too
};

}  // namespace dirsync::rest
