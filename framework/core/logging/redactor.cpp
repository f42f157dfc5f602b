#include "logging/redactor.hpp"

#include <algorithm>

namespace dirsync {

void Redactor::add(std::string_view secret) {
  if (secret.size() < 4) return;
  std::lock_guard lock(mutex_);
  if (std::find(secrets_.begin(), secrets_.end(), secret) != secrets_.end()) return;
  secrets_.emplace_back(secret);
  // Longest first, so a secret containing another is masked whole.
  std::sort(secrets_.begin(), secrets_.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

bool Redactor::empty() const {
  std::lock_guard lock(mutex_);
  return secrets_.empty();
}

std::string Redactor::redact(std::string_view text) const {
  std::string out(text);
  std::lock_guard lock(mutex_);
  for (const auto& secret : secrets_) {
    std::size_t pos = 0;
    while ((pos = out.find(secret, pos)) != std::string::npos) {
      out.replace(pos, secret.size(), "***");
      pos += 3;
    }
  }
  return out;
}

}  // namespace dirsync
