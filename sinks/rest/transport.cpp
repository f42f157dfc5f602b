#include "transport.hpp"

#include "template.hpp"

#include <dirsync/plugin.hpp>

#include <algorithm>
#include <random>

namespace dirsync::rest {

namespace {

std::string base64(std::string_view in) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += alphabet[(v >> shift) & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool is_write(const std::string& method) { return method != "GET" && method != "HEAD"; }

}  // namespace

void RateLimiter::acquire() {
  const auto interval = per_second_ > 0 ? std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                              std::chrono::duration<double>(1.0 / per_second_))
                                        : std::chrono::system_clock::duration::zero();
  for (;;) {
    auto now = clock_.now();
    std::chrono::system_clock::time_point start;
    {
      std::lock_guard lock(mutex_);
      start = std::max({now, next_, paused_until_});
      next_ = start + interval;
    }
    if (start <= now) return;
    clock_.sleep_for(std::chrono::ceil<std::chrono::milliseconds>(start - now));
    // A pause asked for while this thread slept holds its start too.
    std::lock_guard lock(mutex_);
    if (paused_until_ <= clock_.now()) return;
  }
}

void RateLimiter::pause_until(std::chrono::system_clock::time_point until) {
  std::lock_guard lock(mutex_);
  paused_until_ = std::max(paused_until_, until);
}

Transport::Transport(std::string base_url, http::Headers headers, AuthConfig auth, http::ClientOptions options,
                     double requests_per_second, std::string media_type)
    : base_url_(std::move(base_url)),
      media_type_(std::move(media_type)),
      headers_(std::move(headers)),
      auth_(std::move(auth)),
      client_(std::make_unique<http::Client>(std::move(options))),
      clock_(client_->options().clock ? *client_->options().clock : http::Clock::system()),
      limiter_(requests_per_second, clock_) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  switch (auth_.kind) {
    case AuthConfig::Kind::bearer: static_authorization_ = "Bearer " + auth_.token; break;
    case AuthConfig::Kind::basic:
      static_authorization_ = "Basic " + base64(auth_.username + ":" + auth_.password);
      break;
    case AuthConfig::Kind::oauth2:
      tokens_ = std::make_unique<http::TokenProvider>(
          http::client_secret_grant(auth_.token_url, auth_.client_id, auth_.client_secret, auth_.scope), *client_);
      break;
    default: break;
  }
}

std::string Transport::url(const std::string& path_or_url) const {
  if (path_or_url.starts_with("http://") || path_or_url.starts_with("https://")) return path_or_url;
  if (path_or_url.empty()) return base_url_;
  return base_url_ + (path_or_url.front() == '/' || path_or_url.front() == '?' ? "" : "/") + path_or_url;
}

void Transport::authenticate() {
  if (tokens_) tokens_->token();
}

http::Response Transport::attempt(http::Request& request) {
  for (int round = 0;; ++round) {
    std::string token;
    if (tokens_) {
      token = tokens_->token();
      {
        std::lock_guard lock(mutex_);
        last_token_ = token;
      }
      request.headers.back().second = "Bearer " + token;
    }
    limiter_.acquire();
    http::Response response = client_->send_once(request);
    if (response.status != 401) return response;
    if (tokens_ && round == 0) {
      tokens_->invalidate(token);
      continue;
    }
    throw Error(ErrorKind::auth, request.method + " " + http::redact_url(request.url) +
                                     " answered 401: the credentials were refused" +
                                     (tokens_ ? " (also with a fresh token)" : ""));
  }
}

std::optional<http::Response> Transport::send(http::Request request, Resend resend,
                                              const std::function<bool()>& recover) {
  // The client sets headers in order, the last one of a name winning: the
  // operation's own headers override the sink's, which override the defaults.
  http::Headers headers{{"Accept", media_type_}};
  if (is_write(request.method) && !request.body.empty()) headers.emplace_back("Content-Type", media_type_);
  headers.insert(headers.end(), headers_.begin(), headers_.end());
  headers.insert(headers.end(), request.headers.begin(), request.headers.end());
  request.headers = std::move(headers);
  switch (auth_.kind) {
    case AuthConfig::Kind::bearer:
    case AuthConfig::Kind::basic: request.headers.emplace_back("Authorization", static_authorization_); break;
    case AuthConfig::Kind::api_key: request.headers.emplace_back(auth_.api_key_header, auth_.api_key); break;
    default: break;
  }
  if (tokens_) request.headers.emplace_back("Authorization", std::string());  // set per attempt

  const http::ClientOptions& options = client_->options();
  const http::RetryPolicy& policy = options.retry;
  std::chrono::milliseconds waited{0};
  std::mt19937_64 rng{std::random_device{}()};
  for (int n = 1;; ++n) {
    std::optional<http::Response> response;
    std::string why;
    bool uncertain = false;  // the request may have taken effect
    try {
      response = attempt(request);
      bool retryable = std::find(policy.statuses.begin(), policy.statuses.end(), response->status) !=
                       policy.statuses.end();
      if (!retryable) return response;
      why = "status " + std::to_string(response->status);
      uncertain = response->status != 429;
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::connection || !policy.retry_transport_errors) throw;
      if (n >= policy.max_attempts)
        throw Error(ErrorKind::connection, std::string(e.what()) + " (after " + std::to_string(n) + " attempts)");
      why = e.what();
      uncertain = true;
    }
    std::optional<std::chrono::milliseconds> server_wait;
    if (response) server_wait = http::parse_retry_after(response->header("Retry-After"), clock_.now());
    // The server speaks for the endpoint, not for this request: every worker
    // holds, even when this request goes no further. A pause longer than any
    // request could wait is not imposed; those requests fail on their own.
    if (server_wait && *server_wait <= policy.budget) limiter_.pause_until(clock_.now() + *server_wait);
    if (n >= policy.max_attempts) return response;
    if (uncertain && resend == Resend::after_lookup && !recover)
      throw ObjectFailure(request.method + " " + http::redact_url(request.url) + " failed (" + why +
                          ") and may have taken effect; not resent, to avoid a duplicate (no lookup key configured)");
    std::chrono::milliseconds wait =
        server_wait ? *server_wait
                    : http::backoff_delay(policy, n, std::uniform_real_distribution<double>(0.0, 1.0)(rng));
    if (waited + wait > policy.budget) {
      if (response) return response;
      throw Error(ErrorKind::connection, request.method + " " + http::redact_url(request.url) +
                                             " failed: retry budget of " + std::to_string(policy.budget.count()) +
                                             " ms exhausted: " + why);
    }
    if (options.log)
      options.log->warn("rest: " + (response ? request.method + " " + http::redact_url(request.url) + ": " : "") + why +
                        ", retrying in " + std::to_string(wait.count()) + " ms (attempt " + std::to_string(n + 1) +
                        " of " + std::to_string(policy.max_attempts) + ")");
    clock_.sleep_for(wait);
    waited += wait;
    if (uncertain && resend == Resend::after_lookup && recover()) return std::nullopt;
  }
}

std::string Transport::scrub(std::string text) const {
  std::vector<std::string> secrets{auth_.token, auth_.password, auth_.api_key, auth_.client_secret,
                                   static_authorization_};
  {
    std::lock_guard lock(mutex_);
    secrets.push_back(last_token_);
  }
  for (const std::string& s : secrets) {
    if (s.size() < 4) continue;
    for (std::size_t at; (at = text.find(s)) != std::string::npos;) text.replace(at, s.size(), "***");
  }
  return text;
}

std::string Transport::excerpt(const http::Response& response) const {
  std::string text = http::describe_error_body(response.body);
  if (text.empty()) {
    text = response.body.substr(0, 160);
    for (char& c : text)
      if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    if (response.body.size() > 160) text += "...";
  }
  return scrub(std::move(text));
}

}  // namespace dirsync::rest
