// Text helpers shared by the expression engine, scoping filters and
// mappings: UTF-8 aware case mapping, diacritics, encodings, .NET-style
// regular expressions and "did you mean" suggestions.
//
// Case mapping covers ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
// without ICU: directory names are overwhelmingly in those blocks, and a
// dependency the size of ICU is not worth the remainder.
#pragma once

#include <cstdint>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dirsync::expr::text {

/// Decodes the code point at `i` and advances `i`; invalid bytes decode as
/// themselves (Latin-1) so that no input is ever rejected.
char32_t next_code_point(std::string_view s, std::size_t& i);
void append_utf8(std::string& out, char32_t cp);
/// Number of code points.
std::size_t length(std::string_view s);
/// Byte offset of code point number `n` (0-based), or s.size() past the end.
std::size_t byte_offset(std::string_view s, std::size_t n);

char32_t lower(char32_t cp);
char32_t upper(char32_t cp);
bool is_letter_or_digit(char32_t cp);

/// `turkic` applies the dotted/dotless i rules of tr and az cultures.
std::string to_lower(std::string_view s, bool turkic = false);
std::string to_upper(std::string_view s, bool turkic = false);
/// to_lower into a caller's buffer (cleared first), for hot paths that reuse it.
void to_lower_into(std::string& out, std::string_view s);
/// True when `culture` (RFC 4646, e.g. "tr-TR") uses Turkic casing.
bool is_turkic_culture(std::string_view culture);

bool equals_ignore_case(std::string_view a, std::string_view b);

/// Entra's NormalizeDiacritics table, plus any combining mark dropped.
std::string normalize_diacritics(std::string_view s);

/// Base64 of the UTF-16LE encoding (what .NET's Encoding.Unicode produces).
std::string base64_utf16le(std::string_view s);
std::string base64(const std::string& bytes);
/// Upper-case hex of the UTF-8 bytes.
std::string utf8_hex(std::string_view s);

/// The candidate closest to `word` by edit distance (case-insensitive), or
/// empty when none is close enough to be a plausible typo.
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

/// A .NET regular expression translated to std::regex (ECMAScript): named
/// groups "(?<name>...)" become numbered groups whose numbers are kept here.
struct Regex {
  std::regex re;
  std::vector<std::pair<std::string, int>> names;  ///< group name -> number
  int group_number(std::string_view name) const;   ///< -1 when unknown
};

/// Throws std::invalid_argument on a bad pattern; the message says what is
/// wrong ("unterminated character class"), callers add which pattern.
Regex compile_regex(std::string_view pattern, bool ignore_case = false);

/// Regex.Replace: every match replaced by `replacement`, where $1, ${name},
/// $0, $& and $$ refer to the match as in .NET.
std::string regex_replace(std::string_view input, const Regex& rx, std::string_view replacement);

}  // namespace dirsync::expr::text
