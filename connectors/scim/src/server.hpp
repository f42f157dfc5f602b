// The SCIM 2.0 service-provider endpoint (RFC 7644) over Poco's HTTPServer.
//
// Every write is committed to the Store (resource + event, one transaction)
// before its response is sent. Bearer tokens are compared in constant time
// against all configured tokens (rotation); they never reach a log line: the
// audit line names the token by its position ("token#2").
#pragma once

#include "store.hpp"

#include <dirsync/plugin.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dirsync::scim {

struct ServerConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8443;
  std::string base_path = "/scim/v2";
  std::vector<std::string> tokens;  ///< secret
  /// OAuth2 JWT access tokens (RFC 9068) accepted besides `tokens`: HS256
  /// with a shared secret, or RS256 with a public key file; never both, so a
  /// token cannot pick the algorithm (alg confusion). `exp` is required.
  std::string jwt_hs256_secret;     ///< secret
  std::string jwt_public_key;       ///< PEM file
  std::string jwt_issuer;           ///< required `iss` when set
  std::string jwt_audience;         ///< required in `aud` when set
  std::string tls_cert;             ///< PEM file; TLS when set
  std::string tls_key;              ///< PEM file
  std::int64_t max_body_bytes = 1 << 20;
  int rate_limit_per_minute = 0;    ///< per client address; 0 = unlimited
  int max_results = 1000;           ///< largest page a list returns
  int threads = 16;
  std::string public_url;           ///< base for meta.location; default: from the Host header
  bool inactive_is_soft_delete = false;
};

class Server {
 public:
  Server(ServerConfig config, Store& store, Logger& log);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  /// Binds and starts accepting; returns the bound port (useful with port 0).
  std::uint16_t start();
  void stop();
  /// "http://127.0.0.1:8443/scim/v2"
  std::string url() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// Parses "host:port" ("127.0.0.1:8443", "[::1]:8443", ":8443").
void parse_listen(const std::string& listen, std::string& host, std::uint16_t& port);

}  // namespace dirsync::scim
