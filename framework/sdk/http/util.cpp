// Retry timing, URL encoding, error descriptions and the page chain.
#include <dirsync/http.hpp>
#include <dirsync/serial_worker.hpp>
#include <dirsync/value.hpp>

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeParser.h>
#include <Poco/Exception.h>

#include <algorithm>
#include <cmath>
#include <optional>

namespace dirsync::http {

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return std::chrono::milliseconds(std::chrono::hours(24 * 365));
    return std::chrono::milliseconds(std::stoll(std::string(value)) * 1000);
  }
  try {
    int tz = 0;
    Poco::DateTime when;
    // RFC 9110 5.6.7: IMF-fixdate, plus the obsolete RFC 850 and asctime forms.
    std::string text(value);
    // Poco's parser is lenient and "parses" any word; every HTTP-date form has a time of day.
    if (text.find(':') == std::string::npos) return std::nullopt;
    if (!Poco::DateTimeParser::tryParse(Poco::DateTimeFormat::HTTP_FORMAT, text, when, tz) &&
        !Poco::DateTimeParser::tryParse(Poco::DateTimeFormat::RFC850_FORMAT, text, when, tz) &&
        !Poco::DateTimeParser::tryParse(Poco::DateTimeFormat::ASCTIME_FORMAT, text, when, tz))
      return std::nullopt;
    when.makeUTC(tz);
    auto at = std::chrono::system_clock::from_time_t(when.timestamp().epochTime());
    if (at <= now) return std::chrono::milliseconds(0);
    return std::chrono::duration_cast<std::chrono::milliseconds>(at - now);
  } catch (const Poco::Exception&) {
    return std::nullopt;
  }
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, double unit) {
  double base = static_cast<double>(policy.initial_backoff.count()) * std::pow(2.0, std::max(0, retry - 1));
  base = std::min(base, static_cast<double>(policy.max_backoff.count()));
  // "Equal jitter": a fixed part keeps waits growing, the random part
  // spreads clients that were throttled together.
  double jitter = std::clamp(policy.jitter, 0.0, 1.0);
  double wait = base * (1.0 - jitter) + base * jitter * std::clamp(unit, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(wait));
}

std::string url_encode(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += url_encode(k);
    out += '=';
    out += url_encode(v);
  }
  return out;
}

std::string redact_url(std::string_view url) {
  std::size_t q = url.find('?');
  std::string out(url.substr(0, q));
  // Userinfo may carry a password.
  if (auto scheme = out.find("://"); scheme != std::string::npos) {
    std::size_t host_end = out.find('/', scheme + 3);
    std::size_t at = out.rfind('@', host_end);
    if (at != std::string::npos && at > scheme) out.erase(scheme + 3, at - scheme - 2);
  }
  return out;
}

std::string describe_error_body(std::string_view body) {
  std::string out;
  try {
    Value doc = parse_json(body);
    if (!doc.is_object()) return {};
    const Object& o = doc.as_object();
    auto text = [](const Value* v) { return v && v->is_string() ? v->as_string() : std::string(); };
    const Value* error = o.find("error");
    if (error && error->is_object()) {
      out = text(error->as_object().find("code"));
      std::string message = text(error->as_object().find("message"));
      if (!message.empty()) out += (out.empty() ? "" : ": ") + message;
    } else if (error && error->is_string()) {
      out = error->as_string();
      std::string description = text(o.find("error_description"));
      if (!description.empty()) out += ": " + description;
    } else {
      out = text(o.find("detail"));
    }
  } catch (const Error&) {
    return {};
  }
  // AAD descriptions end with trace/correlation ids and timestamps: noise.
  if (auto trace = out.find("\r\n"); trace != std::string::npos) out.resize(trace);
  if (out.size() > 300) out = out.substr(0, 297) + "...";
  return out;
}

std::size_t follow_pages(const PageChain& chain, std::string first_url) {
  std::size_t pages = 0;
  Response current = chain.fetch(first_url);
  // One thread fetches ahead for the whole chain (serial_worker.hpp says
  // why not a thread per page). Declared after the page it fills: a throw
  // from process() lets the fetch in flight finish before the page goes.
  Response ahead_page;
  std::optional<SerialWorker> ahead;
  for (;;) {
    std::string next = chain.next_of(current);
    if (next.empty()) {
      chain.process(std::move(current));
      return ++pages;
    }
    if (!chain.prefetch) {
      chain.process(std::move(current));
      ++pages;
      current = chain.fetch(next);
      continue;
    }
    if (!ahead) ahead.emplace();  // from the second page: a one-page list needs no thread
    std::shared_future<void> fetched =
        ahead->post([&chain, &ahead_page, url = std::move(next)] { ahead_page = chain.fetch(url); });
    chain.process(std::move(current));
    ++pages;
    fetched.get();  // rethrows the fetch's failure
    current = std::move(ahead_page);
  }
}

}  // namespace dirsync::http
