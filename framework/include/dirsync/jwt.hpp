// Verifying RS256 JSON Web Tokens: the other half of sign_rs256_jwt
// (oauth.hpp). Token endpoints in the simulators use it to check a client's
// assertion the way the real authority would; a push source could use it to
// check bearer tokens.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dirsync::http {

struct DecodedJwt {
  std::string header_json;
  std::string payload_json;
};

/// Checks `jwt` (compact form) against the RSA key in `key_pem` (a public key,
/// or a private key whose public half is used) and returns its decoded header
/// and payload when the signature is a valid RS256 signature; nullopt when the
/// token is malformed or the signature does not verify. Claims are not
/// checked: that is the caller's policy. Throws Error(config) on an
/// unreadable key (without quoting it).
std::optional<DecodedJwt> verify_rs256_jwt(std::string_view jwt, const std::string& key_pem);

/// Base64url (RFC 4648 section 5, no padding) decoding; nullopt on a
/// character outside the alphabet.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace dirsync::http
