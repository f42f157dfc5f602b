// The configuration keys every HTTP-based plugin shares (TLS, timeouts,
// retries), so pipelines spell them the same way for Entra, Google and SCIM
// and each plugin declares them with one call.
#pragma once

#include <dirsync/http.hpp>
#include <dirsync/plugin.hpp>

#include <string>
#include <vector>

namespace dirsync::http {

/// insecure_skip_tls_verify, ca_file, proxy, request_timeout, max_attempts,
/// retry_initial_backoff, retry_max_backoff, retry_budget.
std::vector<ConfigField> config_fields();

/// ClientOptions from the keys above (defaults for absent ones). Logs a
/// warning through `log` when TLS verification is off, naming `plugin`.
ClientOptions client_options(const Settings& settings, Logger* log, const std::string& plugin);

}  // namespace dirsync::http
