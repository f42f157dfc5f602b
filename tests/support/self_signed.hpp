// A throw-away RSA key and self-signed certificate, made in-process (no
// openssl CLI needed), for TLS servers and certificate credentials in tests.
#pragma once

#include <string>

namespace dirsync::test {

struct SelfSigned {
  std::string key_pem;   ///< PKCS#8 private key
  std::string cert_pem;  ///< X.509 certificate, valid for one day
};

SelfSigned make_self_signed(const std::string& common_name = "127.0.0.1");

}  // namespace dirsync::test
