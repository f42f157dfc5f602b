// Shared by the google_*_test.cpp files: throwaway service-account keys.
// Each test generates its own RSA key; no real key is ever involved.
#pragma once

#include <Poco/Crypto/RSAKey.h>

#include <dirsync/value.hpp>
#include <sstream>
#include <string>

namespace dirsync::test {

inline const std::string kGoogleTestEmail = "dirsync@dirsync-test.iam.gserviceaccount.com";

/// A fresh 2048-bit RSA private key, PEM.
inline std::string new_google_test_key() {
  Poco::Crypto::RSAKey key(Poco::Crypto::RSAKey::KL_2048, Poco::Crypto::RSAKey::EXP_LARGE);
  std::ostringstream pub, priv;
  key.save(&pub, &priv);
  return priv.str();
}

/// A service-account key JSON document around `pem`, shaped like Google's.
inline std::string google_key_json(const std::string& pem) {
  std::string out =
      R"({"type":"service_account","project_id":"dirsync-test","private_key_id":"0","private_key":)";
  append_json_string(out, pem);
  out += R"(,"client_email":")" + kGoogleTestEmail +
         R"(","client_id":"100000000000000000042",)"
         R"("token_uri":"https://oauth2.googleapis.com/token"})";
  return out;
}

}  // namespace dirsync::test
