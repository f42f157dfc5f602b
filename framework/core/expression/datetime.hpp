// Date and time handling for the expression functions (CDate, DateAdd,
// DateDiff, FormatDateTime, NumFromDate, DateFromNum, Now) and for
// date-time mapping targets.
//
// Values are instants in 100-ns ticks since the Unix epoch, in UTC: an input
// with an offset is converted, an input without one is taken as UTC (Entra's
// servers run in UTC, so its "local" time is UTC too). Years 1..9999 only,
// as in .NET, which also keeps every computation far from overflow.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dirsync::expr::dt {

inline constexpr std::int64_t kTicksPerSecond = 10'000'000;
inline constexpr std::int64_t kTicksPerDay = 86'400 * kTicksPerSecond;
/// Ticks between 1601-01-01 (Active Directory / FILETIME epoch) and 1970-01-01.
inline constexpr std::int64_t kFileTimeEpochOffset = 116'444'736'000'000'000;

struct DateTime {
  std::int64_t ticks = 0;   ///< UTC, 100 ns since 1970-01-01T00:00:00Z
  bool has_offset = false;  ///< the input named its offset (Z, +hh:mm)
};

struct Civil {
  int year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0;
  std::int64_t fraction = 0;  ///< ticks within the second
};

Civil to_civil(std::int64_t ticks);
/// nullopt when a field is out of range (month 13, February 30, ...).
std::optional<std::int64_t> from_civil(const Civil& c);

/// ISO 8601 in its common shapes ("2021-06-30", "2021-06-30+08:00",
/// "2009-06-15T01:45:30-07:00", "2021-08-24 10:00:00Z"), LDAP generalized
/// time ("20150123105347.1Z") and Entra's own output shape
/// ("3/16/2020 7:00:00 AM").
std::optional<DateTime> parse(std::string_view text);
/// .NET DateTime.ParseExact with a custom format string.
std::optional<DateTime> parse_exact(std::string_view text, std::string_view format);
/// .NET custom format string (yyyy, MM, dd, HH, hh, mm, ss, fff, tt, zzz, K, ...).
std::string format(const DateTime& t, std::string_view format);
/// Entra's date string: "M/d/yyyy h:mm:ss tt" in UTC.
std::string format_entra(const DateTime& t);
/// "yyyy-MM-ddTHH:mm:ss[.fffffff]Z".
std::string format_iso(const DateTime& t);

/// DateAdd intervals: yyyy, q, m, y, d, w, ww, h, n, s. nullopt for an unknown one.
std::optional<DateTime> add(std::string_view interval, std::int64_t amount, const DateTime& t);
/// DateDiff (b - a) with Visual Basic's boundary-counting semantics.
std::optional<std::int64_t> diff(std::string_view interval, const DateTime& a, const DateTime& b);

DateTime now();

}  // namespace dirsync::expr::dt
