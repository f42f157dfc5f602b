// Masks known secret values in any text before it leaves the process.
//
// Secrets are registered when they are resolved (config fields marked secret,
// ${file:...} contents). Every log line, printed error, plan line and sync-log
// row passes through redact(): a plugin that formats a secret into a message
// by mistake still does not leak it.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace dirsync {

class Redactor {
 public:
  /// Values shorter than 4 characters are not registered: masking them would
  /// garble ordinary text while protecting nothing.
  void add(std::string_view secret);
  std::string redact(std::string_view text) const;
  bool empty() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> secrets_;
};

}  // namespace dirsync
