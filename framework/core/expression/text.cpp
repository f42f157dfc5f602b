#include "expression/text.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace dirsync::expr::text {

char32_t next_code_point(std::string_view s, std::size_t& i) {
  auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) {
    ++i;
    return b;
  }
  int extra = b >= 0xF0 && b < 0xF5 ? 3 : b >= 0xE0 && b < 0xF0 ? 2 : b >= 0xC2 && b < 0xE0 ? 1 : -1;
  if (extra < 0 || i + static_cast<std::size_t>(extra) >= s.size()) {
    ++i;
    return b;
  }
  char32_t cp = b & (extra == 1 ? 0x1F : extra == 2 ? 0x0F : 0x07);
  for (int k = 1; k <= extra; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) {
      ++i;
      return b;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  i += extra + 1;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::size_t length(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++n) next_code_point(s, i);
  return n;
}

std::size_t byte_offset(std::string_view s, std::size_t n) {
  std::size_t i = 0;
  while (n > 0 && i < s.size()) {
    next_code_point(s, i);
    --n;
  }
  return i;
}

char32_t lower(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x130) return 'i';
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c % 2 == 0 ? c + 1 : c;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return c % 2 == 1 ? c + 1 : c;
    if (c == 0x178) return 0xFF;
    return c;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  return c;
}

char32_t upper(char32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z' ? c - 32 : c;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 0x20;
  if (c == 0xFF) return 0x178;
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x131) return 'I';
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c % 2 == 1 ? c - 1 : c;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return c % 2 == 0 ? c - 1 : c;
    return c;
  }
  if (c == 0x3C2) return 0x3A3;
  if (c >= 0x3B1 && c <= 0x3C9) return c - 0x20;
  if (c >= 0x430 && c <= 0x44F) return c - 0x20;
  if (c >= 0x450 && c <= 0x45F) return c - 0x50;
  return c;
}

bool is_letter_or_digit(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  if (c < 0xC0 || c == 0xD7 || c == 0xF7) return false;  // Latin-1 punctuation and symbols
  if (c >= 0x2000 && c <= 0x2BFF) return false;          // punctuation, symbols, arrows
  if (c >= 0x3000 && c <= 0x303F) return false;          // CJK punctuation
  return true;
}

namespace {
bool is_ascii(std::string_view s) {
  unsigned char any = 0;
  for (char c : s) any |= static_cast<unsigned char>(c);
  return any < 0x80;
}

template <typename F>
void map_case_into(std::string& out, std::string_view s, F f) {
  out.clear();
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {  // ASCII fast path: most directory data
      char32_t r = f(b);
      if (r < 0x80)
        out.push_back(static_cast<char>(r));
      else
        append_utf8(out, r);  // Turkic dotted/dotless i
      ++i;
      continue;
    }
    append_utf8(out, f(next_code_point(s, i)));
  }
}

template <typename F>
std::string map_case(std::string_view s, F f) {
  std::string out;
  map_case_into(out, s, f);
  return out;
}
}  // namespace

void to_lower_into(std::string& out, std::string_view s) {
  map_case_into(out, s, [](char32_t c) { return lower(c); });
}

std::string to_lower(std::string_view s, bool turkic) {
  if (turkic)
    return map_case(s, [](char32_t c) -> char32_t { return c == 'I' ? 0x131 : c == 0x130 ? 'i' : lower(c); });
  return map_case(s, [](char32_t c) { return lower(c); });
}

std::string to_upper(std::string_view s, bool turkic) {
  if (turkic) return map_case(s, [](char32_t c) -> char32_t { return c == 'i' ? 0x130 : upper(c); });
  return map_case(s, [](char32_t c) { return upper(c); });
}

bool is_turkic_culture(std::string_view culture) {
  if (culture.size() < 2) return false;
  char a = static_cast<char>(lower(static_cast<unsigned char>(culture[0])));
  char b = static_cast<char>(lower(static_cast<unsigned char>(culture[1])));
  bool lang = (a == 't' && b == 'r') || (a == 'a' && b == 'z');
  return lang && (culture.size() == 2 || culture[2] == '-' || culture[2] == '_');
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (lower(next_code_point(a, i)) != lower(next_code_point(b, j))) return false;
  }
  return i == a.size() && j == b.size();
}

namespace {
struct Fold {
  char32_t cp;
  const char* ascii;
};
// Entra's documented table (functions-for-customizing-application-data,
// NormalizeDiacritics) in precomposed form, sorted by code point. Sequences
// with combining marks reduce to these once the marks are dropped.
constexpr Fold kFolds[] = {
    {0xC0, "A"},   {0xC1, "A"},   {0xC2, "A"},   {0xC3, "A"},   {0xC4, "A"},   {0xC5, "A"},   {0xC6, "AE"},
    {0xC7, "C"},   {0xC8, "E"},   {0xC9, "E"},   {0xCA, "E"},   {0xCB, "E"},   {0xCC, "I"},   {0xCD, "I"},
    {0xCE, "I"},   {0xCF, "I"},   {0xD0, "D"},   {0xD1, "N"},   {0xD2, "O"},   {0xD3, "O"},   {0xD4, "O"},
    {0xD5, "O"},   {0xD6, "O"},   {0xD8, "OE"},  {0xD9, "U"},   {0xDA, "U"},   {0xDB, "U"},   {0xDC, "U"},
    {0xDD, "Y"},   {0xDF, "ss"},  {0xE0, "a"},   {0xE1, "a"},   {0xE2, "a"},   {0xE3, "a"},   {0xE4, "a"},
    {0xE5, "a"},   {0xE6, "ae"},  {0xE7, "c"},   {0xE8, "e"},   {0xE9, "e"},   {0xEA, "e"},   {0xEB, "e"},
    {0xEC, "i"},   {0xED, "i"},   {0xEE, "i"},   {0xEF, "i"},   {0xF0, "d"},   {0xF1, "n"},   {0xF2, "o"},
    {0xF3, "o"},   {0xF4, "o"},   {0xF5, "o"},   {0xF6, "o"},   {0xF8, "oe"},  {0xF9, "u"},   {0xFA, "u"},
    {0xFB, "u"},   {0xFC, "u"},   {0xFD, "y"},   {0xFF, "y"},   {0x130, "I"},  {0x131, "i"},  {0x132, "IJ"},
    {0x133, "ij"}, {0x138, "k"},  {0x149, "n"},  {0x152, "OE"}, {0x153, "oe"}, {0x178, "Y"},  {0x17F, "s"},
    {0x1CD, "A"},  {0x1CE, "a"},  {0x1CF, "I"},  {0x1D0, "i"},  {0x1D1, "O"},  {0x1D2, "o"},  {0x1D3, "U"},
    {0x1D4, "u"},  {0x1D5, "U"},  {0x1D6, "u"},  {0x1D7, "U"},  {0x1D8, "u"},  {0x1D9, "U"},  {0x1DA, "u"},
    {0x1DB, "U"},  {0x1DC, "u"},  {0x1DE, "A"},  {0x1DF, "a"},  {0x1E0, "A"},  {0x1E1, "a"},  {0x1E2, "AE"},
    {0x1E3, "ae"}, {0x1EC, "O"},  {0x1ED, "o"},  {0x218, "S"},  {0x219, "s"},  {0x21A, "T"},  {0x21B, "t"},
    {0x22A, "O"},  {0x22B, "o"},  {0x22C, "O"},  {0x22D, "o"},  {0x230, "O"},  {0x231, "o"},  {0x232, "Y"},
    {0x233, "y"},  {0x1E0E, "D"}, {0x1E0F, "d"}, {0x1E14, "E"}, {0x1E15, "e"}, {0x1E16, "E"}, {0x1E17, "e"},
    {0x1E20, "G"}, {0x1E21, "g"}, {0x1E38, "L"}, {0x1E39, "l"}, {0x1E3A, "L"}, {0x1E3B, "l"}, {0x1E48, "N"},
    {0x1E49, "n"}, {0x1E50, "O"}, {0x1E51, "o"}, {0x1E52, "O"}, {0x1E53, "o"}, {0x1E5C, "R"}, {0x1E5D, "r"},
    {0x1E5E, "R"}, {0x1E5F, "r"}, {0x1E6E, "T"}, {0x1E6F, "t"}, {0x1E7A, "U"}, {0x1E7B, "u"}, {0x1E94, "Z"},
    {0x1E95, "z"},
};

// Latin Extended-A comes in upper/lower pairs; one base letter per pair.
constexpr char kExtA[] =  // U+0100..U+017F; '.' = see kFolds
    "AaAaAa"
    "CcCcCcCc"
    "DdDd"
    "EeEeEeEeEe"
    "GgGgGgGg"
    "HhHh"
    "IiIiIiIi"
    "Ii"
    ".."
    "Jj"
    "Kk"
    "k"
    "LlLlLlLlLlNnNnNn"
    "n"
    "Nn"
    "OoOoOo"
    ".."
    "RrRrRr"
    "SsSsSsSs"
    "TtTtTt"
    "UuUuUuUuUuUu"
    "Ww"
    "Yy"
    "Y"
    "ZzZzZz"
    "s";
static_assert(sizeof(kExtA) == 0x80 + 1);
}  // namespace

std::string normalize_diacritics(std::string_view s) {
  if (is_ascii(s)) return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
      ++i;
      continue;
    }
    char32_t cp = next_code_point(s, i);
    if (cp >= 0x300 && cp <= 0x36F) continue;  // combining diacritical marks
    if (cp >= 0x100 && cp <= 0x17F && kExtA[cp - 0x100] != '.') {
      out.push_back(kExtA[cp - 0x100]);
      continue;
    }
    auto it = std::lower_bound(std::begin(kFolds), std::end(kFolds), cp,
                               [](const Fold& f, char32_t c) { return f.cp < c; });
    if (it != std::end(kFolds) && it->cp == cp) {
      out += it->ascii;
    } else {
      append_utf8(out, cp);
    }
  }
  return out;
}

std::string base64(const std::string& in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out.push_back(tbl[(v >> 18) & 63]);
    out.push_back(tbl[(v >> 12) & 63]);
    out.push_back(tbl[(v >> 6) & 63]);
    out.push_back(tbl[v & 63]);
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out.push_back(tbl[(v >> 18) & 63]);
    out.push_back(tbl[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? tbl[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string base64_utf16le(std::string_view s) {
  std::string bytes;
  bytes.reserve(s.size() * 2);
  auto unit = [&](unsigned u) {
    bytes.push_back(static_cast<char>(u & 0xFF));
    bytes.push_back(static_cast<char>(u >> 8));
  };
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = next_code_point(s, i);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      unit(0xD800 + (cp >> 10));
      unit(0xDC00 + (cp & 0x3FF));
    } else {
      unit(cp);
    }
  }
  return base64(bytes);
}

std::string utf8_hex(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 2);
  for (char c : s) {
    auto b = static_cast<unsigned char>(c);
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 15]);
  }
  return out;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string w = to_lower(word);
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, w.size() / 3) + 1;
  for (std::string_view c : candidates) {
    std::string l = to_lower(c);
    // Levenshtein distance, two rows.
    std::vector<std::size_t> prev(l.size() + 1), cur(l.size() + 1);
    for (std::size_t j = 0; j <= l.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= w.size(); ++i) {
      cur[0] = i;
      for (std::size_t j = 1; j <= l.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (w[i - 1] == l[j - 1] ? 0 : 1)});
      std::swap(prev, cur);
    }
    if (prev[l.size()] < best_d) {
      best_d = prev[l.size()];
      best = std::string(c);
    }
  }
  return best;
}

int Regex::group_number(std::string_view name) const {
  for (const auto& [n, i] : names)
    if (n == name) return i;
  return -1;
}

Regex compile_regex(std::string_view p, bool ignore_case) {
  std::string out;
  out.reserve(p.size());
  // .NET numbers unnamed groups first, then named ones; std::regex numbers
  // them all left to right. Track both so "$1" means what it means in .NET.
  std::vector<std::string> group_names;  // per ECMAScript group, "" = unnamed
  int depth = 0;
  // std::regex compiles recursively and expands counted repetitions into
  // states: bound both so that a pipeline file cannot exhaust the stack or memory.
  if (p.size() > 4096) throw std::invalid_argument("pattern longer than 4096 characters");
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == ')' && depth > 0) --depth;
    if (c == '{') {
      std::size_t j = i + 1;
      long count = 0;
      while (j < p.size() && ((p[j] >= '0' && p[j] <= '9') || p[j] == ',')) {
        if (p[j] != ',')
          count = std::min<long>(count * 10 + (p[j] - '0'), 100000);
        else
          count = 0;
        if (count > 1000) throw std::invalid_argument("repetition count above 1000");
        ++j;
      }
    }
    if (c == '\\') {
      if (i + 1 >= p.size()) throw std::invalid_argument("pattern ends with a lone backslash");
      char n = p[i + 1];
      if (n == 'A') {
        out += '^';
      } else if (n == 'z' || n == 'Z') {
        out += '$';
      } else if (n == 'k' && i + 2 < p.size() && (p[i + 2] == '<' || p[i + 2] == '\'')) {
        char close = p[i + 2] == '<' ? '>' : '\'';
        auto end = p.find(close, i + 3);
        if (end == std::string_view::npos) throw std::invalid_argument("unterminated named back-reference");
        std::string name(p.substr(i + 3, end - i - 3));
        int idx = -1;
        for (std::size_t g = 0; g < group_names.size(); ++g)
          if (group_names[g] == name) idx = static_cast<int>(g) + 1;
        if (idx < 0) throw std::invalid_argument("back-reference to undefined group '" + name + "'");
        out += '\\' + std::to_string(idx);
        i = end;
        continue;
      } else {
        out += c;
        out += n;
      }
      ++i;
      continue;
    }
    if (c == '[') {
      std::size_t j = i + 1;
      if (j < p.size() && p[j] == '^') ++j;
      if (j < p.size() && p[j] == ']') ++j;
      while (j < p.size() && p[j] != ']') j += p[j] == '\\' ? 2 : 1;
      if (j >= p.size()) throw std::invalid_argument("unterminated character class");
      out.append(p.substr(i, j - i + 1));
      i = j;
      continue;
    }
    if (c == '(') {
      if (++depth > 100) throw std::invalid_argument("groups nest deeper than 100 levels");
      if (i + 1 < p.size() && p[i + 1] == '?') {
        std::string_view rest = p.substr(i + 2);
        if (rest.starts_with(":") || rest.starts_with("=") || rest.starts_with("!")) {
          out += "(?";
          out += rest[0];
          i += 2;
          continue;
        }
        if (rest.starts_with("<=") || rest.starts_with("<!"))
          throw std::invalid_argument("look-behind assertions are not supported");
        std::size_t start = 0;
        char close = 0;
        if (rest.starts_with("<"))
          start = 1, close = '>';
        else if (rest.starts_with("'"))
          start = 1, close = '\'';
        else if (rest.starts_with("P<"))
          start = 2, close = '>';
        if (!close)
          throw std::invalid_argument("unsupported group construct '(?" + std::string(rest.substr(0, 1)) +
                                      "'");
        auto end = rest.find(close, start);
        if (end == std::string_view::npos) throw std::invalid_argument("unterminated group name");
        std::string name(rest.substr(start, end - start));
        if (name.empty()) throw std::invalid_argument("empty group name");
        group_names.push_back(name);
        out += '(';
        i += 2 + end;
        continue;
      }
      group_names.push_back({});
      out += '(';
      continue;
    }
    out += c;
  }
  Regex rx;
  try {
    auto flags = std::regex::ECMAScript | (ignore_case ? std::regex::icase : std::regex::ECMAScript);
    rx.re = std::regex(out, flags);
  } catch (const std::regex_error& e) {
    // libstdc++ says "Unexpected end of regex when in bracket expression.":
    // make it read like our other messages.
    std::string m = e.what();
    if (!m.empty()) m[0] = static_cast<char>(lower(static_cast<unsigned char>(m[0])));
    if (!m.empty() && m.back() == '.') m.pop_back();
    throw std::invalid_argument(m);
  }
  int dotnet = 0;
  for (std::size_t g = 0; g < group_names.size(); ++g)
    if (group_names[g].empty()) rx.names.emplace_back(std::to_string(++dotnet), static_cast<int>(g) + 1);
  for (std::size_t g = 0; g < group_names.size(); ++g) {
    if (group_names[g].empty()) continue;
    if (rx.group_number(group_names[g]) >= 0) continue;
    rx.names.emplace_back(group_names[g], static_cast<int>(g) + 1);
    rx.names.emplace_back(std::to_string(++dotnet), static_cast<int>(g) + 1);
  }
  return rx;
}

namespace {
void expand(std::string& out, const std::cmatch& m, const Regex& rx, std::string_view input,
            std::string_view repl) {
  auto group = [&](int idx) {
    if (idx >= 0 && static_cast<std::size_t>(idx) < m.size() && m[idx].matched)
      out.append(m[idx].first, m[idx].second);
  };
  for (std::size_t i = 0; i < repl.size(); ++i) {
    char c = repl[i];
    if (c != '$' || i + 1 >= repl.size()) {
      out += c;
      continue;
    }
    char n = repl[i + 1];
    if (n == '$') {
      out += '$';
      ++i;
    } else if (n == '&') {
      group(0);
      ++i;
    } else if (n == '`') {
      out.append(input.data(), m[0].first - input.data());
      ++i;
    } else if (n == '\'') {
      out.append(m[0].second, input.data() + input.size() - m[0].second);
      ++i;
    } else if (n == '_') {
      out.append(input);
      ++i;
    } else if (n == '{') {
      auto end = repl.find('}', i + 2);
      if (end == std::string_view::npos) {
        out += c;
        continue;
      }
      std::string_view name = repl.substr(i + 2, end - i - 2);
      int idx = name == "0" ? 0 : rx.group_number(name);
      if (idx < 0) {
        out.append(repl.substr(i, end - i + 1));  // .NET keeps unknown references literally
      } else {
        group(idx);
      }
      i = end;
    } else if (n >= '0' && n <= '9') {
      std::size_t j = i + 1;
      while (j < repl.size() && repl[j] >= '0' && repl[j] <= '9') ++j;
      // The longest prefix of the digits that names a group, as .NET does.
      std::size_t k = j;
      int idx = -1;
      for (; k > i + 1; --k) {
        std::string_view num = repl.substr(i + 1, k - i - 1);
        idx = num == "0" ? 0 : rx.group_number(num);
        if (idx >= 0) break;
      }
      if (idx < 0) {
        out += c;
        continue;
      }
      group(idx);
      i = k - 1;
    } else {
      out += c;
    }
  }
}
}  // namespace

std::string regex_replace(std::string_view input, const Regex& rx, std::string_view replacement) {
  std::string out;
  const char* last = input.data();
  const char* end = input.data() + input.size();
  for (std::cregex_iterator it(input.data(), end, rx.re), stop; it != stop; ++it) {
    const std::cmatch& m = *it;
    out.append(last, m[0].first);
    expand(out, m, rx, input, replacement);
    last = m[0].second;
  }
  out.append(last, end);
  return out;
}

}  // namespace dirsync::expr::text
