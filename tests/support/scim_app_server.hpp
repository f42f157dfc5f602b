// Runs tests/scim-app-server (an independent SCIM 2.0 service provider built on
// the npm packages scimmy and scimmy-routers) as a child process for a test's
// lifetime: `node server.js --port 0`, its port read from the one line it
// prints once listening, stopped with SIGTERM on destruction (and killed with
// the test process if that dies first). The bearer token reaches it through
// the environment, never its command line.
//
// Node.js and the server's node_modules come from .ci/install-deps.sh; when
// either is missing the constructor throws, naming that script, so a test
// fails rather than silently skipping the check against a real SCIM server.
#pragma once

#include <dirsync/http.hpp>
#include <dirsync/value.hpp>

#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace dirsync::test {

class ScimAppServer {
 public:
  static constexpr const char* kDefaultToken = "scim-app-T0ken-4c1f9";

  /// `args` are server options, e.g. {"--groups-update-only", "--seed-groups", path}.
  explicit ScimAppServer(const std::vector<std::string>& args = {}, std::string token = kDefaultToken);
  ~ScimAppServer();
  ScimAppServer(const ScimAppServer&) = delete;
  ScimAppServer& operator=(const ScimAppServer&) = delete;

  /// http://127.0.0.1:PORT/scim/v2, the SCIM base URL a client is given.
  const std::string& base_url() const { return base_url_; }
  /// http://127.0.0.1:PORT
  const std::string& origin() const { return origin_; }
  const std::string& token() const { return token_; }

  /// One SCIM request, no retries: `path` is relative to base_url() ("/Users?...").
  /// With `authorize` false the Authorization header is left out.
  http::Response scim(const std::string& method, const std::string& path, const std::string& body = {},
                      bool authorize = true) const;
  /// Every stored resource: {"Users": [...], "Groups": [...]}.
  Value dump() const;
  /// The SCIM requests received since start or the last clear_requests(),
  /// each {"method", "path", "query", "body", "status"}.
  List requests() const;
  void clear_requests() const;
  /// Creates a resource through the admin API, allowed even with
  /// --groups-update-only; `json` may fix the "id". Returns the stored resource.
  Value seed_user(const std::string& json) const;
  Value seed_group(const std::string& json) const;

 private:
  std::string admin(const std::string& method, const std::string& path, const std::string& body = {}) const;

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string token_;
  std::string origin_;
  std::string base_url_;
  std::unique_ptr<http::Client> client_;
};

/// The first resource of `kind` ("Users" or "Groups") in a dump() whose
/// top-level `key` is the string `value` (a copy: dumps are often temporaries).
std::optional<Object> find_resource(const Value& dump, const std::string& kind, const std::string& key,
                                    const std::string& value);

}  // namespace dirsync::test
