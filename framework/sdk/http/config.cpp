#include <dirsync/http_config.hpp>

#include <algorithm>

namespace dirsync::http {

std::vector<ConfigField> config_fields() {
  using F = FieldType;
  return {
      {"insecure_skip_tls_verify", F::boolean, false, false, "false",
       "skip TLS certificate and host name checks (test setups only; logs a warning)"},
      {"ca_file", F::string, false, false, "", "extra trusted CA certificates (PEM file)"},
      {"proxy", F::string, false, false, "", "forward proxy, http://host:port (HTTPS tunnels through it)"},
      {"request_timeout", F::duration, false, false, "60s", "timeout of one HTTP exchange"},
      {"max_attempts", F::integer, false, false, "8", "attempts per request on 429/503/504 and network faults"},
      {"retry_initial_backoff", F::duration, false, false, "500ms", "first backoff when there is no Retry-After"},
      {"retry_max_backoff", F::duration, false, false, "30s", "cap of one computed backoff"},
      {"retry_budget", F::duration, false, false, "5m", "total waiting allowed for one request"},
  };
}

ClientOptions client_options(const Settings& s, Logger* log, const std::string& plugin) {
  ClientOptions o;
  o.insecure_skip_tls_verify = s.boolean("insecure_skip_tls_verify", false);
  o.ca_file = s.string("ca_file");
  o.proxy = s.string("proxy");
  o.io_timeout = std::chrono::milliseconds(s.duration_ms("request_timeout", 60'000));
  o.retry.max_attempts = static_cast<int>(std::max<std::int64_t>(1, s.integer("max_attempts", 8)));
  o.retry.initial_backoff = std::chrono::milliseconds(s.duration_ms("retry_initial_backoff", 500));
  o.retry.max_backoff = std::chrono::milliseconds(s.duration_ms("retry_max_backoff", 30'000));
  o.retry.budget = std::chrono::milliseconds(s.duration_ms("retry_budget", 300'000));
  o.user_agent = "dirsync-" + plugin;
  o.log = log;
  if (o.insecure_skip_tls_verify && log)
    log->warn(plugin + ": TLS certificate verification is disabled (insecure_skip_tls_verify: true)");
  return o;
}

}  // namespace dirsync::http
