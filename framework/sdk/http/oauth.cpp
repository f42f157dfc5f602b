// OAuth2 grants, the token cache and the 401-refreshing client (oauth.hpp).
#include <dirsync/oauth.hpp>
#include <dirsync/value.hpp>

#include <Poco/Crypto/RSADigestEngine.h>
#include <Poco/Crypto/RSAKey.h>
#include <Poco/Crypto/X509Certificate.h>
#include <Poco/Exception.h>

#include <random>
#include <sstream>

namespace dirsync::http {

namespace {

std::string base64url(const unsigned char* data, std::size_t size) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < size; i += 3) {
    unsigned v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == size) {
    unsigned v = data[i] << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
  } else if (i + 2 == size) {
    unsigned v = (data[i] << 16) | (data[i + 1] << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
  }
  return out;
}

std::string base64url(std::string_view text) {
  return base64url(reinterpret_cast<const unsigned char*>(text.data()), text.size());
}

std::string random_id() {
  std::random_device rd;
  unsigned char bytes[16];
  for (auto& b : bytes) b = static_cast<unsigned char>(rd());
  return base64url(bytes, sizeof bytes);
}

std::int64_t unix_now(Clock* clock) {
  auto now = (clock ? *clock : Clock::system()).now();
  return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
}

class SecretGrant final : public TokenGrant {
 public:
  SecretGrant(std::string url, std::string id, std::string secret, std::string scope)
      : url_(std::move(url)), id_(std::move(id)), secret_(std::move(secret)), scope_(std::move(scope)) {}
  AccessToken acquire(Client& client) override {
    return request_token(client, url_,
                         {{"grant_type", "client_credentials"},
                          {"client_id", id_},
                          {"client_secret", secret_},
                          {"scope", scope_}});
  }

 private:
  std::string url_, id_, secret_, scope_;
};

// https://learn.microsoft.com/entra/identity-platform/certificate-credentials
class AssertionGrant final : public TokenGrant {
 public:
  AssertionGrant(std::string url, std::string id, std::string scope, std::string cert, std::string key,
                 Clock* clock)
      : url_(std::move(url)), id_(std::move(id)), scope_(std::move(scope)), key_(std::move(key)), clock_(clock) {
    x5t_ = certificate_thumbprint_x5t(cert);
  }
  AccessToken acquire(Client& client) override {
    std::int64_t now = unix_now(clock_);
    std::string header = R"({"alg":"RS256","typ":"JWT","x5t":")" + x5t_ + R"("})";
    std::string payload;
    payload += R"({"aud":)";
    append_json_string(payload, url_);
    payload += R"(,"iss":)";
    append_json_string(payload, id_);
    payload += R"(,"sub":)";
    append_json_string(payload, id_);
    payload += R"(,"jti":")" + random_id() + R"(","nbf":)" + std::to_string(now) + R"(,"iat":)" +
               std::to_string(now) + R"(,"exp":)" + std::to_string(now + 600) + "}";
    return request_token(client, url_,
                         {{"grant_type", "client_credentials"},
                          {"client_id", id_},
                          {"scope", scope_},
                          {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                          {"client_assertion", sign_rs256_jwt(header, payload, key_)}});
  }

 private:
  std::string url_, id_, scope_, key_, x5t_;
  Clock* clock_;
};

// https://developers.google.com/identity/protocols/oauth2/service-account#httprest
class BearerGrant final : public TokenGrant {
 public:
  BearerGrant(std::string url, std::string issuer, std::string scope, std::string subject, std::string key,
              Clock* clock)
      : url_(std::move(url)),
        issuer_(std::move(issuer)),
        scope_(std::move(scope)),
        subject_(std::move(subject)),
        key_(std::move(key)),
        clock_(clock) {}
  AccessToken acquire(Client& client) override {
    std::int64_t now = unix_now(clock_);
    std::string payload = "{\"iss\":";
    append_json_string(payload, issuer_);
    payload += ",\"scope\":";
    append_json_string(payload, scope_);
    payload += ",\"aud\":";
    append_json_string(payload, url_);
    if (!subject_.empty()) {
      payload += ",\"sub\":";
      append_json_string(payload, subject_);
    }
    payload += ",\"iat\":" + std::to_string(now) + ",\"exp\":" + std::to_string(now + 3600) + "}";
    return request_token(client, url_,
                         {{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
                          {"assertion", sign_rs256_jwt(R"({"alg":"RS256","typ":"JWT"})", payload, key_)}});
  }

 private:
  std::string url_, issuer_, scope_, subject_, key_;
  Clock* clock_;
};

}  // namespace

AccessToken request_token(Client& client, const std::string& token_url,
                          const std::vector<std::pair<std::string, std::string>>& fields) {
  Request req;
  req.method = "POST";
  req.url = token_url;
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  req.body = form_encode(fields);
  Response resp = client.send(req);
  if (!resp.ok()) {
    std::string detail = describe_error_body(resp.body);
    ErrorKind kind = resp.status >= 500 ? ErrorKind::connection : ErrorKind::auth;
    throw Error(kind, "token request to " + redact_url(token_url) + " refused with status " +
                          std::to_string(resp.status) + (detail.empty() ? "" : ": " + detail));
  }
  Value doc;
  try {
    doc = parse_json(resp.body);
  } catch (const Error&) {
  }
  const Value* token = doc.is_object() ? doc.as_object().find("access_token") : nullptr;
  if (!token || !token->is_string() || token->as_string().empty())
    throw Error(ErrorKind::auth, "token response from " + redact_url(token_url) + " has no access_token");
  AccessToken out;
  out.value = token->as_string();
  // Some authorities (ADFS) send expires_in as a string.
  if (const Value* e = doc.as_object().find("expires_in")) {
    if (e->is_integer()) out.expires_in = std::chrono::seconds(e->as_integer());
    else if (e->is_string()) {
      try {
        out.expires_in = std::chrono::seconds(std::stoll(e->as_string()));
      } catch (const std::exception&) {
      }
    }
  }
  return out;
}

std::unique_ptr<TokenGrant> client_secret_grant(std::string token_url, std::string client_id,
                                                std::string client_secret, std::string scope) {
  return std::make_unique<SecretGrant>(std::move(token_url), std::move(client_id), std::move(client_secret),
                                       std::move(scope));
}

std::unique_ptr<TokenGrant> client_assertion_grant(std::string token_url, std::string client_id,
                                                   std::string scope, std::string certificate_pem,
                                                   std::string private_key_pem, Clock* clock) {
  return std::make_unique<AssertionGrant>(std::move(token_url), std::move(client_id), std::move(scope),
                                          std::move(certificate_pem), std::move(private_key_pem), clock);
}

std::unique_ptr<TokenGrant> jwt_bearer_grant(std::string token_url, std::string issuer, std::string scope,
                                             std::string subject, std::string private_key_pem, Clock* clock) {
  return std::make_unique<BearerGrant>(std::move(token_url), std::move(issuer), std::move(scope),
                                       std::move(subject), std::move(private_key_pem), clock);
}

std::string sign_rs256_jwt(const std::string& header_json, const std::string& payload_json,
                           const std::string& private_key_pem) {
  std::string input = base64url(header_json) + "." + base64url(payload_json);
  try {
    std::istringstream key_stream(private_key_pem);
    Poco::Crypto::RSAKey key(nullptr, &key_stream, "");
    Poco::Crypto::RSADigestEngine engine(key, "SHA256");
    engine.update(input.data(), static_cast<unsigned>(input.size()));
    const auto& signature = engine.signature();
    return input + "." + base64url(signature.data(), signature.size());
  } catch (const Poco::Exception&) {
    throw Error(ErrorKind::config, "cannot read the RSA private key (expected PEM, PKCS#1 or PKCS#8)");
  }
}

std::string certificate_thumbprint_x5t(const std::string& certificate_pem) {
  try {
    std::istringstream in(certificate_pem);
    Poco::Crypto::X509Certificate cert(in);
    auto digest = cert.fingerprint("SHA1");
    return base64url(digest.data(), digest.size());
  } catch (const Poco::Exception&) {
    throw Error(ErrorKind::config, "cannot read the certificate (expected PEM)");
  }
}

TokenProvider::TokenProvider(std::unique_ptr<TokenGrant> grant, Client& client, std::chrono::seconds margin)
    : grant_(std::move(grant)), client_(client), margin_(margin) {}

std::string TokenProvider::token() {
  std::lock_guard lock(mutex_);
  Clock& clock = client_.options().clock ? *client_.options().clock : Clock::system();
  auto now = clock.now();
  if (!token_.empty() && now < refresh_at_) return token_;
  AccessToken fresh = grant_->acquire(client_);
  ++acquisitions_;
  // Short-lived tokens (tests, some proxies) would otherwise never be cached.
  auto life = fresh.expires_in > 2 * margin_ ? fresh.expires_in - margin_ : fresh.expires_in / 2;
  token_ = std::move(fresh.value);
  refresh_at_ = now + life;
  return token_;
}

void TokenProvider::invalidate(const std::string& rejected) {
  std::lock_guard lock(mutex_);
  // Another thread may already have replaced the rejected token.
  if (token_ == rejected) token_.clear();
}

void TokenProvider::accepted(const std::string& token) {
  std::lock_guard lock(mutex_);
  if (accepted_ != token) accepted_ = token;
}

bool TokenProvider::was_accepted(const std::string& token) {
  std::lock_guard lock(mutex_);
  return accepted_ == token;
}

// Requests on other connections share the token: one refreshed for this
// request may be used, and expire, before this request's resend reaches the
// API (the Google simulator's revoke_every under load did exactly that).
Response AuthorizedClient::send(Request request) {
  constexpr int kRounds = 4;
  request.headers.emplace_back("Authorization", std::string());
  for (int round = 0;; ++round) {
    std::string token = tokens_.token();
    request.headers.back().second = "Bearer " + token;
    Response resp = client_.send(request);
    if (resp.status != 401) {
      tokens_.accepted(token);
      return resp;
    }
    if (round + 1 == kRounds || (round >= 1 && !tokens_.was_accepted(token))) return resp;
    tokens_.invalidate(token);
  }
}

}  // namespace dirsync::http
