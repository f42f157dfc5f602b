// OAuth2 bearer tokens for the REST connectors.
//
// A TokenGrant knows how to obtain a token (client credentials with a secret,
// client credentials with a signed assertion, Google's JWT-bearer grant...);
// a TokenProvider caches what a grant returned until `expires_in` minus a
// margin; an AuthorizedClient attaches the token and, on a 401, drops the
// cached token and retries the request exactly once with a fresh one.
//
// Tokens, secrets and private keys never appear in an Error message or a log
// line: token endpoint failures are described by status, OAuth `error` code
// and `error_description` only.
#pragma once

#include <dirsync/http.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

namespace dirsync::http {

struct AccessToken {
  std::string value;
  std::chrono::seconds expires_in{3600};
};

class TokenGrant {
 public:
  virtual ~TokenGrant() = default;
  /// Throws Error(auth) when the endpoint refuses, Error(connection) when it
  /// cannot be reached.
  virtual AccessToken acquire(Client& client) = 0;
};

/// POSTs `fields` (form-encoded) to `token_url` and reads access_token and
/// expires_in from the JSON answer: the shape every grant below shares, and
/// the building block for new ones.
AccessToken request_token(Client& client, const std::string& token_url,
                          const std::vector<std::pair<std::string, std::string>>& fields);

/// RFC 6749 4.4: client_id + client_secret.
std::unique_ptr<TokenGrant> client_secret_grant(std::string token_url, std::string client_id,
                                                std::string client_secret, std::string scope);

/// Client credentials with a certificate (RFC 7523 client assertion): an RS256
/// JWT whose header carries the certificate's SHA-1 thumbprint as `x5t`, as
/// Microsoft identity platform requires.
std::unique_ptr<TokenGrant> client_assertion_grant(std::string token_url, std::string client_id,
                                                   std::string scope, std::string certificate_pem,
                                                   std::string private_key_pem, Clock* clock = nullptr);

/// RFC 7523 2.1 JWT-bearer grant (Google service accounts): the assertion is
/// an RS256 JWT with the given claims plus iat/exp.
std::unique_ptr<TokenGrant> jwt_bearer_grant(std::string token_url, std::string issuer, std::string scope,
                                             std::string subject, std::string private_key_pem,
                                             Clock* clock = nullptr);

/// Signs `header_json`.`payload_json` with RS256 and returns the compact JWT.
/// Throws Error(config) on an unreadable key (without quoting it).
std::string sign_rs256_jwt(const std::string& header_json, const std::string& payload_json,
                           const std::string& private_key_pem);

/// Base64url of the SHA-1 digest of a PEM certificate's DER form (JWT `x5t`).
std::string certificate_thumbprint_x5t(const std::string& certificate_pem);

class TokenProvider {
 public:
  TokenProvider(std::unique_ptr<TokenGrant> grant, Client& client,
                std::chrono::seconds margin = std::chrono::seconds(300));
  /// The cached token, or a fresh one when none is cached or it is about to
  /// expire. Thread-safe.
  std::string token();
  /// Forgets the cached token (after the API answered 401).
  void invalidate(const std::string& rejected);
  /// The API answered a request that carried `token`.
  void accepted(const std::string& token);
  /// Whether the API ever answered a request carrying `token`.
  bool was_accepted(const std::string& token);
  std::size_t acquisitions() const { return acquisitions_; }

 private:
  std::unique_ptr<TokenGrant> grant_;
  Client& client_;
  std::chrono::seconds margin_;
  std::mutex mutex_;
  std::string token_;
  std::string accepted_;  ///< the newest token the API answered to
  std::chrono::system_clock::time_point refresh_at_{};
  std::size_t acquisitions_ = 0;
};

class AuthorizedClient {
 public:
  AuthorizedClient(Client& client, TokenProvider& tokens) : client_(client), tokens_(tokens) {}
  /// Sends with `Authorization: Bearer`, retrying per the client's policy;
  /// on 401 refreshes the token and resends. A fresh token refused too is an
  /// answer (bad credentials or consent); a token that had worked and is now
  /// refused has expired in flight, and is replaced again (a few times at most).
  Response send(Request request);
  Client& client() { return client_; }

 private:
  Client& client_;
  TokenProvider& tokens_;
};

}  // namespace dirsync::http
