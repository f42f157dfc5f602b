// RS256 JWT verification (jwt.hpp).
#include <dirsync/error.hpp>
#include <dirsync/jwt.hpp>

#include <Poco/Crypto/RSADigestEngine.h>
#include <Poco/Crypto/RSAKey.h>
#include <Poco/Exception.h>

#include <memory>
#include <sstream>
#include <vector>

namespace dirsync::http {

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-' || c == '+') v = 62;
    else if (c == '_' || c == '/') v = 63;
    else if (c == '=') break;
    else return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::optional<DecodedJwt> verify_rs256_jwt(std::string_view jwt, const std::string& key_pem) {
  std::size_t dot1 = jwt.find('.');
  std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : jwt.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || jwt.find('.', dot2 + 1) != std::string_view::npos) return std::nullopt;
  auto header = base64url_decode(jwt.substr(0, dot1));
  auto payload = base64url_decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = base64url_decode(jwt.substr(dot2 + 1));
  if (!header || !payload || !signature || signature->empty()) return std::nullopt;
  std::string_view signed_part = jwt.substr(0, dot2);
  std::unique_ptr<Poco::Crypto::RSAKey> key;
  try {
    std::istringstream stream(key_pem);
    if (key_pem.find("PRIVATE KEY") != std::string::npos)
      key = std::make_unique<Poco::Crypto::RSAKey>(nullptr, &stream, "");
    else
      key = std::make_unique<Poco::Crypto::RSAKey>(&stream);
  } catch (const Poco::Exception&) {
    throw Error(ErrorKind::config, "cannot read the RSA key (expected PEM)");
  }
  try {
    Poco::Crypto::RSADigestEngine engine(*key, "SHA256");
    engine.update(signed_part.data(), static_cast<unsigned>(signed_part.size()));
    std::vector<unsigned char> sig(signature->begin(), signature->end());
    if (!engine.verify(sig)) return std::nullopt;
  } catch (const Poco::Exception&) {
    return std::nullopt;
  }
  return DecodedJwt{std::move(*header), std::move(*payload)};
}

}  // namespace dirsync::http
