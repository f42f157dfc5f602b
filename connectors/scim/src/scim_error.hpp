// The failure a SCIM request ends in: an HTTP status plus RFC 7644's scimType,
// rendered by the server as an urn:ietf:params:scim:api:messages:2.0:Error body.
#pragma once

#include <stdexcept>
#include <string>

namespace dirsync::scim {

class ScimError : public std::runtime_error {
 public:
  ScimError(int status, std::string scim_type, const std::string& detail)
      : std::runtime_error(detail), status_(status), scim_type_(std::move(scim_type)) {}
  int status() const { return status_; }
  /// Empty when RFC 7644 defines no scimType for the failure (404, 412, ...).
  const std::string& scim_type() const { return scim_type_; }

 private:
  int status_;
  std::string scim_type_;
};

inline ScimError invalid_filter(const std::string& detail) { return ScimError(400, "invalidFilter", detail); }
inline ScimError invalid_value(const std::string& detail) { return ScimError(400, "invalidValue", detail); }
inline ScimError invalid_syntax(const std::string& detail) { return ScimError(400, "invalidSyntax", detail); }
inline ScimError invalid_path(const std::string& detail) { return ScimError(400, "invalidPath", detail); }
inline ScimError no_target(const std::string& detail) { return ScimError(400, "noTarget", detail); }
inline ScimError mutability(const std::string& detail) { return ScimError(400, "mutability", detail); }

}  // namespace dirsync::scim
