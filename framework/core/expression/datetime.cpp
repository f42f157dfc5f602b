#include "expression/datetime.hpp"

#include <array>
#include <chrono>
#include <cstdio>

namespace dirsync::expr::dt {

namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int days_in_month(int y, int m) {
  static constexpr int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : d[m - 1];
}

constexpr std::array<const char*, 12> kMonths = {"January",   "February", "March",    "April",
                                                 "May",       "June",     "July",     "August",
                                                 "September", "October",  "November", "December"};
constexpr std::array<const char*, 7> kDays = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                              "Thursday", "Friday", "Saturday"};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads between min and max digits.
bool digits(std::string_view s, std::size_t& i, int min, int max, int& out) {
  if (max > 9) max = 9;  // an int holds nine digits safely
  if (min > max) return false;
  int n = 0;
  out = 0;
  while (n < max && i < s.size() && is_digit(s[i])) {
    out = out * 10 + (s[i] - '0');
    ++i;
    ++n;
  }
  return n >= min;
}

bool ieq_prefix(std::string_view s, std::size_t i, std::string_view word) {
  if (s.size() - i < word.size()) return false;
  for (std::size_t k = 0; k < word.size(); ++k) {
    char a = s[i + k], b = word[k];
    if (a >= 'A' && a <= 'Z') a += 32;
    if (b >= 'A' && b <= 'Z') b += 32;
    if (a != b) return false;
  }
  return true;
}

// "+08:00", "-0800", "+08", "Z".
bool offset(std::string_view s, std::size_t& i, int& minutes) {
  if (i < s.size() && s[i] == 'Z') {
    ++i;
    minutes = 0;
    return true;
  }
  if (i >= s.size() || (s[i] != '+' && s[i] != '-')) return false;
  int sign = s[i] == '-' ? -1 : 1;
  std::size_t j = i + 1;
  int h = 0, m = 0;
  if (!digits(s, j, 2, 2, h)) return false;
  if (j < s.size() && s[j] == ':') {
    ++j;
    if (!digits(s, j, 2, 2, m)) return false;
  } else if (j + 1 < s.size() && is_digit(s[j])) {
    if (!digits(s, j, 2, 2, m)) return false;
  }
  if (h > 14 || m > 59) return false;
  minutes = sign * (h * 60 + m);
  i = j;
  return true;
}

std::optional<DateTime> finish(const Civil& c, bool has_offset, int offset_minutes) {
  auto t = from_civil(c);
  if (!t) return std::nullopt;
  return DateTime{*t - std::int64_t{offset_minutes} * 60 * kTicksPerSecond, has_offset};
}

std::int64_t fraction_ticks(std::string_view s, std::size_t& i) {
  std::int64_t f = 0;
  int n = 0;
  while (i < s.size() && is_digit(s[i])) {
    if (n < 7) f = f * 10 + (s[i] - '0'), ++n;
    ++i;
  }
  while (n < 7) f *= 10, ++n;
  return f;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Civil to_civil(std::int64_t ticks) {
  std::int64_t days = floor_div(ticks, kTicksPerDay);
  std::int64_t rem = ticks - days * kTicksPerDay;
  std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  Civil c;
  c.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  c.year = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (c.month <= 2));
  std::int64_t secs = rem / kTicksPerSecond;
  c.fraction = rem % kTicksPerSecond;
  c.hour = static_cast<int>(secs / 3600);
  c.minute = static_cast<int>(secs / 60 % 60);
  c.second = static_cast<int>(secs % 60);
  return c;
}

std::optional<std::int64_t> from_civil(const Civil& c) {
  if (c.year < 1 || c.year > 9999 || c.month < 1 || c.month > 12 || c.day < 1 ||
      c.day > days_in_month(c.year, c.month) || c.hour < 0 || c.hour > 23 || c.minute < 0 || c.minute > 59 ||
      c.second < 0 || c.second > 59 || c.fraction < 0 || c.fraction >= kTicksPerSecond)
    return std::nullopt;
  std::int64_t days = days_from_civil(c.year, static_cast<unsigned>(c.month), static_cast<unsigned>(c.day));
  return days * kTicksPerDay + (std::int64_t{c.hour} * 3600 + c.minute * 60 + c.second) * kTicksPerSecond +
         c.fraction;
}

std::optional<DateTime> parse(std::string_view text) {
  std::string_view s = trim(text);
  Civil c;
  std::size_t i = 0;
  int off = 0;
  bool has_off = false;
  // LDAP generalized time: yyyyMMddHHmmss[.f][Z|+hhmm]
  if (s.size() >= 14 && is_digit(s[4]) && is_digit(s[8]) && is_digit(s[13])) {
    if (!digits(s, i, 4, 4, c.year) || !digits(s, i, 2, 2, c.month) || !digits(s, i, 2, 2, c.day) ||
        !digits(s, i, 2, 2, c.hour) || !digits(s, i, 2, 2, c.minute) || !digits(s, i, 2, 2, c.second))
      return std::nullopt;
    if (i < s.size() && (s[i] == '.' || s[i] == ',')) ++i, c.fraction = fraction_ticks(s, i);
    if (i < s.size()) has_off = offset(s, i, off);
    if (i != s.size()) return std::nullopt;
    return finish(c, has_off, off);
  }
  if (s.size() >= 10 && s[4] == '-') {  // ISO 8601
    if (!digits(s, i, 4, 4, c.year) || s[i++] != '-' || !digits(s, i, 2, 2, c.month) || i >= s.size() ||
        s[i++] != '-' || !digits(s, i, 2, 2, c.day))
      return std::nullopt;
    if (i < s.size() && (s[i] == 'T' || s[i] == ' ') && i + 1 < s.size() && is_digit(s[i + 1])) {
      ++i;
      if (!digits(s, i, 1, 2, c.hour) || i >= s.size() || s[i++] != ':' || !digits(s, i, 2, 2, c.minute))
        return std::nullopt;
      if (i < s.size() && s[i] == ':') {
        ++i;
        if (!digits(s, i, 2, 2, c.second)) return std::nullopt;
        if (i < s.size() && (s[i] == '.' || s[i] == ',')) ++i, c.fraction = fraction_ticks(s, i);
      }
    }
    while (i < s.size() && s[i] == ' ') ++i;
    if (i < s.size()) {
      has_off = offset(s, i, off);
      if (!has_off) return std::nullopt;
    }
    if (i != s.size()) return std::nullopt;
    return finish(c, has_off, off);
  }
  // M/d/yyyy [h:mm[:ss] [AM|PM]]
  if (!digits(s, i, 1, 2, c.month) || i >= s.size() || s[i++] != '/' || !digits(s, i, 1, 2, c.day) ||
      i >= s.size() || s[i++] != '/' || !digits(s, i, 4, 4, c.year))
    return std::nullopt;
  while (i < s.size() && s[i] == ' ') ++i;
  if (i < s.size() && is_digit(s[i])) {
    if (!digits(s, i, 1, 2, c.hour) || i >= s.size() || s[i++] != ':' || !digits(s, i, 2, 2, c.minute))
      return std::nullopt;
    if (i < s.size() && s[i] == ':') {
      ++i;
      if (!digits(s, i, 2, 2, c.second)) return std::nullopt;
    }
    while (i < s.size() && s[i] == ' ') ++i;
    if (ieq_prefix(s, i, "AM") || ieq_prefix(s, i, "PM")) {
      if (c.hour < 1 || c.hour > 12) return std::nullopt;
      bool pm = s[i] == 'P' || s[i] == 'p';
      c.hour = c.hour % 12 + (pm ? 12 : 0);
      i += 2;
    }
    while (i < s.size() && s[i] == ' ') ++i;
  }
  if (i < s.size()) {
    has_off = offset(s, i, off);
    if (!has_off || i != s.size()) return std::nullopt;
  }
  return finish(c, has_off, off);
}

namespace {
// Length of the run of `c` starting at f[i].
std::size_t run(std::string_view f, std::size_t i) {
  std::size_t n = 1;
  while (i + n < f.size() && f[i + n] == f[i]) ++n;
  return n;
}
}  // namespace

std::optional<DateTime> parse_exact(std::string_view text, std::string_view f) {
  std::string_view s = trim(text);
  Civil c;
  std::size_t i = 0;
  int off = 0, pm = -1;
  bool has_off = false;
  for (std::size_t k = 0; k < f.size();) {
    char ch = f[k];
    std::size_t n = run(f, k);
    auto num = [&](int& out, int min, int max) { return digits(s, i, min, max, out); };
    switch (ch) {
      case 'y':
        if (!(n <= 2 ? num(c.year, n == 1 ? 1 : 2, 2)
                     : num(c.year, static_cast<int>(n), std::max<int>(4, static_cast<int>(n)))))
          return std::nullopt;
        if (n <= 2) c.year += c.year <= 49 ? 2000 : 1900;
        break;
      case 'M':
        if (n >= 3) {
          bool found = false;
          for (std::size_t m = 0; m < 12 && !found; ++m) {
            std::string_view name = kMonths[m];
            if (n == 3) name = name.substr(0, 3);
            if (ieq_prefix(s, i, name)) c.month = static_cast<int>(m) + 1, i += name.size(), found = true;
          }
          if (!found) return std::nullopt;
        } else if (!num(c.month, static_cast<int>(n), 2)) {
          return std::nullopt;
        }
        break;
      case 'd':
        if (n >= 3) {
          bool found = false;
          for (std::size_t d = 0; d < 7 && !found; ++d) {
            std::string_view name = kDays[d];
            if (n == 3) name = name.substr(0, 3);
            if (ieq_prefix(s, i, name)) i += name.size(), found = true;
          }
          if (!found) return std::nullopt;
        } else if (!num(c.day, static_cast<int>(n), 2)) {
          return std::nullopt;
        }
        break;
      case 'H':
      case 'h':
        if (!num(c.hour, static_cast<int>(std::min<std::size_t>(n, 2)), 2)) return std::nullopt;
        if (ch == 'h' && pm < 0) pm = 0;  // 12-hour clock; AM unless tt says PM
        break;
      case 'm':
        if (!num(c.minute, static_cast<int>(std::min<std::size_t>(n, 2)), 2)) return std::nullopt;
        break;
      case 's':
        if (!num(c.second, static_cast<int>(std::min<std::size_t>(n, 2)), 2)) return std::nullopt;
        break;
      case 'f':
      case 'F': {
        std::size_t start = i;
        while (i < s.size() && is_digit(s[i]) && i - start < n) ++i;
        if (ch == 'f' && i - start != n) return std::nullopt;
        std::size_t j = start;
        std::string_view digits_only = s.substr(start, i - start);
        std::size_t jj = 0;
        c.fraction = fraction_ticks(digits_only, jj);
        (void)j;
        break;
      }
      case 't':
        if (ieq_prefix(s, i, n == 1 ? "A" : "AM"))
          pm = 0, i += n == 1 ? 1 : 2;
        else if (ieq_prefix(s, i, n == 1 ? "P" : "PM"))
          pm = 1, i += n == 1 ? 1 : 2;
        else
          return std::nullopt;
        break;
      case 'z':
      case 'K':
        if (ch == 'K' && (i >= s.size() || (s[i] != 'Z' && s[i] != '+' && s[i] != '-'))) break;
        if (!offset(s, i, off)) return std::nullopt;
        has_off = true;
        break;
      case '\'':
      case '"': {
        auto end = f.find(ch, k + 1);
        if (end == std::string_view::npos) return std::nullopt;
        std::string_view lit = f.substr(k + 1, end - k - 1);
        if (s.substr(i, lit.size()) != lit) return std::nullopt;
        i += lit.size();
        k = end + 1;
        continue;
      }
      case '\\':
      case '%':
        if (ch == '\\') {
          if (k + 1 >= f.size() || i >= s.size() || s[i] != f[k + 1]) return std::nullopt;
          ++i;
          k += 2;
          continue;
        }
        k += 1;
        continue;
      default:
        for (std::size_t r = 0; r < n; ++r) {
          if (i >= s.size() || s[i] != ch) return std::nullopt;
          ++i;
        }
    }
    k += n;
  }
  if (i != s.size()) return std::nullopt;
  if (pm >= 0) {
    if (c.hour < 1 || c.hour > 12) return std::nullopt;
    c.hour = c.hour % 12 + (pm == 1 ? 12 : 0);
  }
  return finish(c, has_off, off);
}

std::string format(const DateTime& t, std::string_view f) {
  Civil c = to_civil(t.ticks);
  std::string out;
  char buf[16];
  auto pad = [&](long v, std::size_t width) {
    std::snprintf(buf, sizeof buf, "%0*ld", static_cast<int>(width), v);
    out += buf;
  };
  for (std::size_t k = 0; k < f.size();) {
    char ch = f[k];
    std::size_t n = run(f, k);
    switch (ch) {
      case 'y':
        if (n <= 2)
          pad(c.year % 100, n);
        else
          pad(c.year, n);
        break;
      case 'M':
        if (n >= 4)
          out += kMonths[c.month - 1];
        else if (n == 3)
          out += std::string_view(kMonths[c.month - 1]).substr(0, 3);
        else
          pad(c.month, n);
        break;
      case 'd':
        if (n >= 3) {
          std::int64_t days = floor_div(t.ticks, kTicksPerDay);
          std::string_view name = kDays[static_cast<std::size_t>(((days % 7) + 11) % 7)];
          out += n == 3 ? name.substr(0, 3) : name;
        } else {
          pad(c.day, n);
        }
        break;
      case 'H':
        pad(c.hour, std::min<std::size_t>(n, 2));
        break;
      case 'h':
        pad(c.hour % 12 == 0 ? 12 : c.hour % 12, std::min<std::size_t>(n, 2));
        break;
      case 'm':
        pad(c.minute, std::min<std::size_t>(n, 2));
        break;
      case 's':
        pad(c.second, std::min<std::size_t>(n, 2));
        break;
      case 'f':
      case 'F': {
        std::size_t w = std::min<std::size_t>(n, 7);
        std::int64_t v = c.fraction;
        for (std::size_t r = w; r < 7; ++r) v /= 10;
        std::snprintf(buf, sizeof buf, "%0*ld", static_cast<int>(w), static_cast<long>(v));
        std::string digits_s = buf;
        if (ch == 'F') {
          while (!digits_s.empty() && digits_s.back() == '0') digits_s.pop_back();
          if (digits_s.empty() && !out.empty() && out.back() == '.') out.pop_back();
        }
        out += digits_s;
        break;
      }
      case 't':
        out += n == 1 ? (c.hour < 12 ? "A" : "P") : (c.hour < 12 ? "AM" : "PM");
        break;
      case 'z':
        if (n == 1)
          out += "+0";
        else if (n == 2)
          out += "+00";
        else
          out += "+00:00";
        break;
      case 'K':
        out += t.has_offset ? "Z" : "";
        break;
      case '\'':
      case '"': {
        auto end = f.find(ch, k + 1);
        if (end == std::string_view::npos) end = f.size();
        out.append(f.substr(k + 1, end - k - 1));
        k = end + 1;
        continue;
      }
      case '\\':
        if (k + 1 < f.size()) out += f[k + 1];
        k += 2;
        continue;
      case '%':
        k += 1;
        continue;
      default:
        out.append(n, ch);
    }
    k += n;
  }
  return out;
}

std::string format_entra(const DateTime& t) { return format(t, "M/d/yyyy h:mm:ss tt"); }

std::string format_iso(const DateTime& t) {
  Civil c = to_civil(t.ticks);
  char buf[48];
  if (c.fraction == 0) {
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", c.year, c.month, c.day, c.hour, c.minute,
                  c.second);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%07ld", c.year, c.month, c.day, c.hour,
                c.minute, c.second, static_cast<long>(c.fraction));
  std::string s = buf;
  while (s.back() == '0') s.pop_back();
  return s + "Z";
}

std::optional<DateTime> add(std::string_view interval, std::int64_t amount, const DateTime& t) {
  auto plus = [&](std::int64_t unit) -> std::optional<DateTime> {
    // Bound the amount so that the product cannot overflow; the result must
    // still land inside years 1..9999.
    constexpr std::int64_t kMaxSeconds = 400'000'000'000LL;  // ~12,700 years: past 1..9999 either way
    if (amount > kMaxSeconds / (unit / kTicksPerSecond) || amount < -kMaxSeconds / (unit / kTicksPerSecond))
      return std::nullopt;
    DateTime r{t.ticks + amount * unit, t.has_offset};
    Civil c = to_civil(r.ticks);
    if (c.year < 1 || c.year > 9999) return std::nullopt;
    return r;
  };
  auto months = [&](std::int64_t n) -> std::optional<DateTime> {
    if (n > 120000 || n < -120000) return std::nullopt;
    Civil c = to_civil(t.ticks);
    std::int64_t m = std::int64_t{c.year} * 12 + (c.month - 1) + n;
    c.year = static_cast<int>(floor_div(m, 12));
    c.month = static_cast<int>(m - std::int64_t{c.year} * 12) + 1;
    if (c.year < 1 || c.year > 9999) return std::nullopt;
    c.day = std::min(c.day, days_in_month(c.year, c.month));  // Jan 31 + 1 month = Feb 28/29, as .NET does
    auto ticks = from_civil(c);
    if (!ticks) return std::nullopt;
    return DateTime{*ticks, t.has_offset};
  };
  if (amount > 120000 || amount < -120000) {
    if (interval == "yyyy" || interval == "q" || interval == "m") return std::nullopt;
  }
  if (interval == "yyyy") return months(amount * 12);
  if (interval == "q") return months(amount * 3);
  if (interval == "m") return months(amount);
  if (interval == "d" || interval == "y" || interval == "w") return plus(kTicksPerDay);
  if (interval == "ww") return plus(7 * kTicksPerDay);
  if (interval == "h") return plus(3600 * kTicksPerSecond);
  if (interval == "n") return plus(60 * kTicksPerSecond);
  if (interval == "s") return plus(kTicksPerSecond);
  return std::nullopt;
}

std::optional<std::int64_t> diff(std::string_view interval, const DateTime& a, const DateTime& b) {
  Civil ca = to_civil(a.ticks), cb = to_civil(b.ticks);
  std::int64_t da = floor_div(a.ticks, kTicksPerDay), db = floor_div(b.ticks, kTicksPerDay);
  if (interval == "yyyy") return cb.year - ca.year;
  if (interval == "q") return (cb.year * 4 + (cb.month - 1) / 3) - (ca.year * 4 + (ca.month - 1) / 3);
  if (interval == "m") return (cb.year * 12 + cb.month) - (ca.year * 12 + ca.month);
  if (interval == "d" || interval == "y") return db - da;
  if (interval == "w") return (db - da) / 7;
  // 1970-01-01 was a Thursday: day + 4 counts from the Sunday before it, so
  // this counts the Sundays crossed, as Visual Basic's DateDiff("ww") does.
  if (interval == "ww") return floor_div(db + 4, 7) - floor_div(da + 4, 7);
  if (interval == "h")
    return floor_div(b.ticks, 3600 * kTicksPerSecond) - floor_div(a.ticks, 3600 * kTicksPerSecond);
  if (interval == "n")
    return floor_div(b.ticks, 60 * kTicksPerSecond) - floor_div(a.ticks, 60 * kTicksPerSecond);
  if (interval == "s") return floor_div(b.ticks, kTicksPerSecond) - floor_div(a.ticks, kTicksPerSecond);
  return std::nullopt;
}

DateTime now() {
  auto d = std::chrono::system_clock::now().time_since_epoch();
  return DateTime{std::chrono::duration_cast<std::chrono::nanoseconds>(d).count() / 100, true};
}

}  // namespace dirsync::expr::dt
