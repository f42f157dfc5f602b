// Distinguished names and filters: escaping (RFC 4514, RFC 4515), DN
// templates, and the small amount of DN parsing the sink needs.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dirsync::ldap {

/// An attribute value escaped for use inside a DN (RFC 4514 section 2.4):
/// `"+,;<>\` and `=` get a backslash, as do a leading space or `#` and a
/// trailing space; NUL becomes `\00`. UTF-8 passes through unchanged.
std::string escape_dn_value(std::string_view value);

/// An assertion value escaped for a search filter (RFC 4515 section 3):
/// `*()\` and NUL become `\2a \28 \29 \5c \00`.
std::string escape_filter_value(std::string_view value);

/// A DN template such as `uid={uid},ou=people,dc=example,dc=com`: the parts in
/// braces name target attributes whose values are substituted, escaped.
class DnTemplate {
 public:
  DnTemplate() = default;
  /// Throws Error(config) on unbalanced braces or an empty placeholder.
  explicit DnTemplate(std::string text);

  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }
  /// Attribute names referenced by the template, in order of appearance.
  const std::vector<std::string>& attributes() const { return attributes_; }
  bool uses(std::string_view attribute) const;
  /// Renders the DN; `lookup` returns the raw value of an attribute, or
  /// nullopt when absent (then render returns nullopt and sets `missing`).
  std::optional<std::string> render(const std::function<std::optional<std::string>(const std::string&)>& lookup,
                                    std::string* missing = nullptr) const;

 private:
  std::string text_;
  std::vector<std::string> attributes_;
};

/// Splits a DN into its first RDN and its parent ("" for a one-RDN DN).
std::pair<std::string, std::string> split_dn(std::string_view dn);

/// A comparable form of a DN: parsed and re-serialised by libldap (so
/// `\2C` and `\,` compare equal), then ASCII-lowercased. Falls back to the
/// lowercased text when libldap cannot parse it.
std::string normalize_dn(std::string_view dn);

bool iequals(std::string_view a, std::string_view b);

}  // namespace dirsync::ldap
