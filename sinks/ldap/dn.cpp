#include "dn.hpp"

#include <dirsync/error.hpp>

#include <ldap.h>

#include <cctype>

namespace dirsync::ldap {

namespace {
const char kHex[] = "0123456789abcdef";

void append_hex(std::string& out, unsigned char c) {
  out += '\\';
  out += kHex[c >> 4];
  out += kHex[c & 15];
}
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string escape_dn_value(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 8);
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    switch (c) {
      case '"': case '+': case ',': case ';': case '<': case '>': case '\\': case '=':
        out += '\\';
        out += c;
        break;
      case '\0':
        append_hex(out, 0);
        break;
      case '#':
        if (i == 0) out += '\\';
        out += c;
        break;
      case ' ':
        if (i == 0 || i + 1 == value.size()) out += '\\';
        out += c;
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string escape_filter_value(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 8);
  for (char c : value) {
    if (c == '*' || c == '(' || c == ')' || c == '\\' || c == '\0')
      append_hex(out, static_cast<unsigned char>(c));
    else
      out += c;
  }
  return out;
}

DnTemplate::DnTemplate(std::string text) : text_(std::move(text)) {
  std::size_t pos = 0;
  while ((pos = text_.find('{', pos)) != std::string::npos) {
    std::size_t end = text_.find('}', pos);
    if (end == std::string::npos)
      throw Error(ErrorKind::config, "dn template '" + text_ + "' has an unclosed '{'");
    std::string name = text_.substr(pos + 1, end - pos - 1);
    if (name.empty()) throw Error(ErrorKind::config, "dn template '" + text_ + "' has an empty placeholder '{}'");
    attributes_.push_back(name);
    pos = end + 1;
  }
  if (attributes_.empty())
    throw Error(ErrorKind::config,
                "dn template '" + text_ + "' names no attribute; expected e.g. 'uid={uid},ou=people,dc=example,dc=com'");
}

bool DnTemplate::uses(std::string_view attribute) const {
  for (const auto& a : attributes_)
    if (iequals(a, attribute)) return true;
  return false;
}

std::optional<std::string> DnTemplate::render(
    const std::function<std::optional<std::string>(const std::string&)>& lookup, std::string* missing) const {
  std::string out;
  out.reserve(text_.size() + 32);
  std::size_t pos = 0;
  while (pos < text_.size()) {
    std::size_t open = text_.find('{', pos);
    if (open == std::string::npos) {
      out.append(text_, pos, std::string::npos);
      break;
    }
    out.append(text_, pos, open - pos);
    std::size_t close = text_.find('}', open);
    std::string name = text_.substr(open + 1, close - open - 1);
    auto value = lookup(name);
    if (!value || value->empty()) {
      if (missing) *missing = name;
      return std::nullopt;
    }
    out += escape_dn_value(*value);
    pos = close + 1;
  }
  return out;
}

std::pair<std::string, std::string> split_dn(std::string_view dn) {
  bool quoted = false;
  for (std::size_t i = 0; i < dn.size(); ++i) {
    const char c = dn[i];
    if (c == '\\') {
      ++i;  // the escaped character (or first hex digit) cannot end the RDN
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      std::size_t parent = i + 1;
      while (parent < dn.size() && dn[parent] == ' ') ++parent;
      return {std::string(dn.substr(0, i)), std::string(dn.substr(parent))};
    }
  }
  return {std::string(dn), std::string()};
}

std::string normalize_dn(std::string_view dn) {
  std::string in(dn);
  char* out = nullptr;
  std::string result;
  if (ldap_dn_normalize(in.c_str(), LDAP_DN_FORMAT_LDAP, &out, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS && out) {
    result = out;
    ldap_memfree(out);
  } else {
    result = in;
  }
  for (char& c : result) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

}  // namespace dirsync::ldap
