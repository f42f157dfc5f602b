// Parser and evaluator for Entra's provisioning expressions.
//
// The text is parsed once into a tree of Nodes; each call node holds a pointer
// to its function's implementation, so evaluation is a tree walk without any
// lookup by name. Attribute and literal nodes lend their values (Res::borrow)
// instead of copying them, so a function only allocates for its own result.
#include "expression/expression.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <random>

#include "expression/attribute_ref.hpp"
#include "expression/datetime.hpp"
#include "expression/text.hpp"

namespace dirsync::expr {

namespace {

enum class NodeKind : std::uint8_t { empty, literal, attribute, call, compare };
enum class CmpOp : std::uint8_t { eq, ne, lt, le, gt, ge };

const Value kNull;

struct Ctx {
  const Object& attrs;
  const EvalHooks* hooks;
  bool ignore = false;
};

// A value that is either borrowed from the source object / the tree, or owned.
class Res {
 public:
  const Value& get() const { return ref_ ? *ref_ : own_; }
  const Value* operator->() const { return &get(); }
  bool borrowed() const { return ref_ != nullptr; }
  void borrow(const Value* v) { ref_ = v; }
  void set(Value v) {
    ref_ = nullptr;
    own_ = std::move(v);
  }
  Value take() && { return ref_ ? *ref_ : std::move(own_); }

 private:
  const Value* ref_ = nullptr;
  Value own_;
};

struct FunctionInfo;

}  // namespace

class Node {
 public:
  NodeKind kind = NodeKind::empty;
  CmpOp op = CmpOp::eq;
  std::uint8_t mode = 0;  // Replace: which of its five behaviours
  std::size_t offset = 0;
  Value literal;
  AttributeRef attribute;
  const FunctionInfo* fn = nullptr;
  std::vector<Node> args;
  std::shared_ptr<const text::Regex> regex;  // Replace with a constant pattern
  int group = -1;                            // Replace with a constant group name
};

namespace {

using Impl = void (*)(Ctx&, const Node&, Res&);
using Check = void (*)(Node&);

struct FunctionInfo {
  const char* name;
  int min_args;
  int max_args;  // -1: unbounded
  Impl impl;
  Check check;
};

void eval(Ctx& ctx, const Node& n, Res& out);

Res arg(Ctx& ctx, const Node& n, std::size_t i) {
  Res r;
  if (i < n.args.size()) eval(ctx, n.args[i], r);
  return r;
}

bool present(const Node& n, std::size_t i) { return i < n.args.size() && n.args[i].kind != NodeKind::empty; }

[[noreturn]] void fail(const Node& n, const std::string& message) {
  throw Error(ErrorKind::input, std::string(n.fn ? n.fn->name : "expression") + ": " + message);
}

std::string quote(const Value& v) {
  std::string s = v.is_string() ? v.as_string() : v.to_string();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return "'" + s + "'";
}

// Text of a value without copying strings; null is "".
std::string_view str(const Value& v, std::string& scratch) {
  if (v.is_string()) return v.as_string();
  if (v.is_null()) return {};
  scratch = v.to_string();
  return scratch;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::int64_t> to_int(const Value& v) {
  if (v.is_integer()) return v.as_integer();
  if (v.is_number()) {
    double d = v.as_number();
    if (d == static_cast<double>(static_cast<std::int64_t>(d))) return static_cast<std::int64_t>(d);
    return std::nullopt;
  }
  if (v.is_string()) {
    std::string_view s = trim(v.as_string());
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return n;
  }
  return std::nullopt;
}

std::int64_t need_int(const Node& n, const Value& v, const char* what) {
  auto i = to_int(v);
  if (!i) fail(n, std::string(what) + " must be an integer, got " + (v.is_null() ? "null" : quote(v)));
  return *i;
}

bool truthy(const Value& v) {
  if (v.is_bool()) return v.as_bool();
  if (v.is_integer()) return v.as_integer() != 0;
  if (v.is_number()) return v.as_number() != 0;
  if (v.is_string()) {
    const std::string& s = v.as_string();
    if (text::equals_ignore_case(s, "true")) return true;
    if (auto i = to_int(v)) return *i != 0;
  }
  return false;
}

dt::DateTime need_date(const Node& n, const Value& v, const char* what) {
  std::string scratch;
  auto d = dt::parse(str(v, scratch));
  if (!d) fail(n, std::string(what) + " " + quote(v) + " is not a date");
  return *d;
}

// Applies `f` to a string, or to each string of a list (proxyAddresses...).
template <typename F>
Value map_text(const Value& v, F f) {
  if (v.is_list()) {
    List out;
    out.reserve(v.as_list().size());
    std::string scratch;
    for (const Value& item : v.as_list())
      out.emplace_back(item.is_null() ? Value() : Value(f(str(item, scratch))));
    return out;
  }
  std::string scratch;
  return Value(f(str(v, scratch)));
}

// ---- functions, in Microsoft's documentation order ----

void fn_append(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_null()) return out.set(Value());
  Res b = arg(c, n, 1);
  std::string s1, s2;
  std::string_view x = str(a.get(), s1), y = str(b.get(), s2);
  std::string r;
  r.reserve(x.size() + y.size());
  r.append(x).append(y);
  out.set(std::move(r));
}

std::string role_name(const Value& v) {
  if (v.is_string()) return v.as_string();
  if (!v.is_object()) return v.to_string();
  for (const char* key : {"value", "displayName", "appRoleValue", "appRoleDisplayName"})
    if (const Value* f = v.as_object().find(key); f && !f->is_empty()) return f->to_string();
  return {};
}

std::string role_display(const Value& v) {
  if (v.is_object())
    for (const char* key : {"displayName", "appRoleDisplayName"})
      if (const Value* f = v.as_object().find(key); f && !f->is_empty()) return f->to_string();
  return role_name(v);
}

void fn_app_role_assignments_complex(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_empty()) return out.set(Value());
  List roles;
  auto add = [&](const Value& item) {
    // The shape Entra sends to SCIM apps for the "roles" attribute.
    roles.emplace_back(Object{{"primary", false},
                              {"type", "WindowsAzureActiveDirectoryRole"},
                              {"display", role_display(item)},
                              {"value", role_name(item)}});
  };
  if (a->is_list()) {
    for (const Value& item : a->as_list()) add(item);
  } else {
    add(a.get());
  }
  out.set(std::move(roles));
}

void fn_single_app_role_assignment(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_empty()) return out.set(Value());
  const Value& first = a->is_list() ? a->as_list().front() : a.get();
  std::string name = role_name(first);
  out.set(name.empty() ? Value() : Value(std::move(name)));
}

void fn_bit_and(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0), b = arg(c, n, 1);
  if (a->is_null() || b->is_null()) return out.set(Value());
  out.set(need_int(n, a.get(), "value1") & need_int(n, b.get(), "value2"));
}

void fn_cbool(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_null()) return out.set(Value());
  if (a->is_string()) {
    const std::string& s = a->as_string();
    if (!text::equals_ignore_case(s, "true") && !text::equals_ignore_case(s, "false") && !to_int(a.get()))
      fail(n, "cannot convert " + quote(a.get()) + " to a boolean");
  }
  out.set(truthy(a.get()));
}

void fn_cdate(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_empty()) return out.set(Value());
  out.set(dt::format_entra(need_date(n, a.get(), "value")));
}

void fn_coalesce(Ctx& c, const Node& n, Res& out) {
  // An empty string counts as null: CSV and LDAP sources cannot tell them apart.
  for (std::size_t i = 0; i < n.args.size(); ++i) {
    eval(c, n.args[i], out);
    if (!out->is_empty()) return;
  }
  // All empty: the last argument (the default) as given, "" included.
}

void fn_convert_to_base64(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_null()) return out.set(Value());
  std::string s;
  out.set(text::base64_utf16le(str(a.get(), s)));
}

void fn_convert_to_utf8_hex(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_null()) return out.set(Value());
  std::string s;
  out.set(text::utf8_hex(str(a.get(), s)));
}

void fn_count(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_null()) return out.set(std::int64_t{0});
  out.set(static_cast<std::int64_t>(a->is_list() ? a->as_list().size() : 1));
}

void fn_cstr(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_null() || a->is_string()) return out = std::move(a), void();
  out.set(a->to_string());
}

const char* kIntervals = "yyyy, q, m, y, d, w, ww, h, n or s";

void fn_date_add(Ctx& c, const Node& n, Res& out) {
  Res interval = arg(c, n, 0), amount = arg(c, n, 1), date = arg(c, n, 2);
  if (date->is_empty() || amount->is_null()) return out.set(Value());
  std::string s;
  auto r = dt::add(str(interval.get(), s), need_int(n, amount.get(), "value"),
                   need_date(n, date.get(), "dateTime"));
  if (!r) {
    if (!dt::add(s, 0, dt::DateTime{}))
      fail(n, "unknown interval " + quote(interval.get()) + " (expected " + kIntervals + ")");
    fail(n, "the result is outside years 1 to 9999");
  }
  out.set(dt::format_entra(*r));
}

void fn_date_diff(Ctx& c, const Node& n, Res& out) {
  Res interval = arg(c, n, 0), a = arg(c, n, 1), b = arg(c, n, 2);
  if (a->is_empty() || b->is_empty()) return out.set(Value());
  std::string s;
  auto r = dt::diff(str(interval.get(), s), need_date(n, a.get(), "date1"), need_date(n, b.get(), "date2"));
  if (!r) fail(n, "unknown interval " + quote(interval.get()) + " (expected " + kIntervals + ")");
  out.set(*r);
}

void check_interval(Node& n) {
  const Node& i = n.args[0];
  if (i.kind == NodeKind::literal && !dt::diff(i.literal.to_string(), dt::DateTime{}, dt::DateTime{}))
    throw ParseError(i.offset, "unknown interval " + quote(i.literal) + " (expected " + kIntervals + ")");
}

void fn_date_from_num(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_empty()) return out.set(Value());
  std::int64_t v = need_int(n, a.get(), "value");
  // 0 and the largest value are Active Directory's "never".
  if (v <= 0 || v == INT64_MAX) return out.set(Value());
  dt::DateTime t{v - dt::kFileTimeEpochOffset, true};
  if (dt::to_civil(t.ticks).year > 9999) fail(n, "value " + quote(a.get()) + " is past year 9999");
  out.set(dt::format_entra(t));
}

void fn_format_date_time(Ctx& c, const Node& n, Res& out) {
  Res src = arg(c, n, 0);
  if (src->is_empty()) return out.set(Value());
  Res in = arg(c, n, 2), outf = arg(c, n, 3);
  std::string s1, s2, s3;
  std::string_view text = str(src.get(), s1), in_format = str(in.get(), s2);
  auto t = in_format.empty() ? dt::parse(text) : dt::parse_exact(text, in_format);
  if (!t) fail(n, quote(src.get()) + " does not match the input format " + quote(in.get()));
  out.set(dt::format(*t, str(outf.get(), s3)));
}

void fn_guid(Ctx&, const Node&, Res& out) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uint64_t hi = rng(), lo = rng();
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  out.set(std::string(buf));
}

void fn_ignore_flow(Ctx& c, const Node& n, Res& out) {
  eval(c, n.args[0], out);
  if (out->is_empty()) {
    c.ignore = true;
    out.set(Value());
  }
}

void fn_iif(Ctx& c, const Node& n, Res& out) {
  Res cond = arg(c, n, 0);
  eval(c, n.args[truthy(cond.get()) ? 1 : 2], out);
}

void fn_instr(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0), b = arg(c, n, 1);
  if (a->is_null() || b->is_null()) return out.set(Value());
  std::int64_t start = 1;
  if (present(n, 2)) {
    Res s = arg(c, n, 2);
    if (!s->is_null()) start = std::max<std::int64_t>(1, need_int(n, s.get(), "start"));
  }
  bool ignore_case = false;
  if (present(n, 3)) {
    Res t = arg(c, n, 3);
    std::string s;
    std::string_view mode = str(t.get(), s);
    ignore_case = mode == "vbTextCompare" || mode == "1";
  }
  std::string s1, s2;
  std::string hay(str(a.get(), s1)), needle(str(b.get(), s2));
  if (ignore_case) hay = text::to_lower(hay), needle = text::to_lower(needle);
  std::size_t from = text::byte_offset(hay, static_cast<std::size_t>(start - 1));
  if (static_cast<std::size_t>(start - 1) > text::length(hay)) return out.set(std::int64_t{0});
  std::size_t pos = hay.find(needle, from);
  if (pos == std::string::npos) return out.set(std::int64_t{0});
  out.set(static_cast<std::int64_t>(text::length(std::string_view(hay).substr(0, pos)) + 1));
}

void fn_is_null(Ctx& c, const Node& n, Res& out) { out.set(arg(c, n, 0)->is_null()); }
void fn_is_null_or_empty(Ctx& c, const Node& n, Res& out) { out.set(arg(c, n, 0)->is_empty()); }
void fn_is_present(Ctx& c, const Node& n, Res& out) { out.set(!arg(c, n, 0)->is_empty()); }
void fn_is_string(Ctx& c, const Node& n, Res& out) { out.set(arg(c, n, 0)->is_string()); }

void fn_item(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0), i = arg(c, n, 1);
  if (a->is_null() || i->is_null()) return out.set(Value());
  std::int64_t index = need_int(n, i.get(), "index");
  if (!a->is_list()) {
    if (index != 1) return out.set(Value());
    out = std::move(a);
    return;
  }
  const List& l = a->as_list();
  if (index < 1 || static_cast<std::size_t>(index) > l.size()) return out.set(Value());
  if (a.borrowed()) return out.borrow(&l[static_cast<std::size_t>(index - 1)]);
  out.set(l[static_cast<std::size_t>(index - 1)]);
}

void fn_join(Ctx& c, const Node& n, Res& out) {
  Res sep = arg(c, n, 0);
  std::string s0, scratch;
  std::string_view separator = str(sep.get(), s0);
  std::string r;
  bool first = true;
  auto add = [&](const Value& v) {
    if (v.is_empty()) return;  // Entra skips null and "" sources ("Add a comma..." example)
    if (!first) r += separator;
    first = false;
    r += str(v, scratch);
  };
  for (std::size_t i = 1; i < n.args.size(); ++i) {
    Res v;
    eval(c, n.args[i], v);
    if (v->is_list()) {
      for (const Value& item : v->as_list()) add(item);
    } else {
      add(v.get());
    }
  }
  out.set(std::move(r));
}

void fn_left(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_null()) return out.set(std::string());
  std::int64_t count = need_int(n, arg(c, n, 1).get(), "numChars");
  std::string s;
  std::string_view v = str(a.get(), s);
  if (count < 0) return out.set(std::string(v));
  out.set(std::string(v.substr(0, text::byte_offset(v, static_cast<std::size_t>(count)))));
}

void fn_mid(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_null()) return out.set(Value());
  std::int64_t start = need_int(n, arg(c, n, 1).get(), "start");
  std::int64_t len = need_int(n, arg(c, n, 2).get(), "length");
  if (start < 1) start = 1;
  if (len < 0) len = 0;
  std::string s;
  std::string_view v = str(a.get(), s);
  std::size_t from = text::byte_offset(v, static_cast<std::size_t>(start - 1));
  std::string_view rest = v.substr(from);
  out.set(std::string(rest.substr(0, text::byte_offset(rest, static_cast<std::size_t>(len)))));
}

void fn_normalize_diacritics(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_null()) return out.set(Value());
  out.set(map_text(a.get(), [](std::string_view s) { return text::normalize_diacritics(s); }));
}

void fn_not(Ctx& c, const Node& n, Res& out) { out.set(!truthy(arg(c, n, 0).get())); }

void fn_now(Ctx&, const Node&, Res& out) { out.set(dt::format_entra(dt::now())); }

void fn_num_from_date(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_empty()) return out.set(Value());
  out.set(need_date(n, a.get(), "value").ticks + dt::kFileTimeEpochOffset);
}

void fn_pcase(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_null()) return out.set(Value());
  std::string s0, s1;
  std::string_view v = str(a.get(), s0);
  bool custom = present(n, 1);
  std::u32string seps;
  if (custom) {
    Res sep = arg(c, n, 1);
    std::string_view sv = str(sep.get(), s1);
    for (std::size_t i = 0; i < sv.size();) seps.push_back(text::next_code_point(sv, i));
    custom = !seps.empty();
  }
  std::string r;
  r.reserve(v.size());
  bool start = true;
  for (std::size_t i = 0; i < v.size();) {
    char32_t cp = text::next_code_point(v, i);
    // Without explicit separators, .NET's ToTitleCase keeps apostrophes inside words.
    bool sep = custom ? seps.find(cp) != std::u32string::npos : (!text::is_letter_or_digit(cp) && cp != '\'');
    if (sep) {
      text::append_utf8(r, cp);
      start = true;
      continue;
    }
    text::append_utf8(r, start ? text::upper(cp) : text::lower(cp));
    start = false;
  }
  out.set(std::move(r));
}

// Microsoft's password complexity reference: the non-alphanumeric characters.
constexpr std::string_view kSpecial = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/";

void fn_random_string(Ctx& c, const Node& n, Res& out) {
  static const char* names[] = {"Length", "MinimumNumbers", "MinimumSpecialCharacters", "MinimumCapital",
                                "MinimumLowerCase"};
  std::int64_t v[5];
  for (std::size_t i = 0; i < 5; ++i) {
    v[i] = need_int(n, arg(c, n, i).get(), names[i]);
    if (v[i] < 0) fail(n, std::string(names[i]) + " must not be negative");
  }
  if (v[0] > 256) fail(n, "Length must be at most 256");
  if (v[1] + v[2] + v[3] + v[4] > v[0]) fail(n, "the minimums add up to more than Length");
  std::string avoid_s;
  std::string_view avoid;
  Res av;
  if (present(n, 5)) {
    av = arg(c, n, 5);
    avoid = str(av.get(), avoid_s);
  }
  auto filtered = [&](std::string_view set) {
    std::string r;
    for (char ch : set)
      if (avoid.find(ch) == std::string_view::npos) r += ch;
    return r;
  };
  std::string sets[4] = {filtered("0123456789"), filtered(kSpecial), filtered("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                         filtered("abcdefghijklmnopqrstuvwxyz")};
  std::string all = sets[0] + sets[1] + sets[2] + sets[3];
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string r;
  for (std::size_t k = 0; k < 4; ++k) {
    if (v[k + 1] > 0 && sets[k].empty()) fail(n, "CharactersToAvoid excludes every candidate character");
    for (std::int64_t i = 0; i < v[k + 1]; ++i) r += sets[k][rng() % sets[k].size()];
  }
  if (static_cast<std::int64_t>(r.size()) < v[0] && all.empty())
    fail(n, "CharactersToAvoid excludes every character");
  while (static_cast<std::int64_t>(r.size()) < v[0]) r += all[rng() % all.size()];
  std::shuffle(r.begin(), r.end(), rng);
  out.set(std::move(r));
}

void fn_redact(Ctx& c, const Node& n, Res& out) { eval(c, n.args[0], out); }

void fn_remove_duplicates(Ctx& c, const Node& n, Res& out) {
  eval(c, n.args[0], out);
  if (!out->is_list()) return;
  List r;
  for (const Value& v : out->as_list())
    if (std::find(r.begin(), r.end(), v) == r.end()) r.push_back(v);
  out.set(std::move(r));
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  if (from.empty()) return std::string(s);
  std::string r;
  std::size_t last = 0;
  for (std::size_t pos = s.find(from); pos != std::string_view::npos; pos = s.find(from, last)) {
    r.append(s.substr(last, pos - last));
    r.append(to);
    last = pos + from.size();
  }
  r.append(s.substr(last));
  return r;
}

enum ReplaceMode : std::uint8_t { kOldValue = 1, kTemplate, kRegex, kRegexGroup, kRegexAttribute };

void fn_replace(Ctx& c, const Node& n, Res& out) {
  Res src = arg(c, n, 0);
  std::string s0, s1, s2;
  if (n.mode == kRegexAttribute && !src->is_empty()) return out = std::move(src), void();
  if (n.mode != kRegexAttribute && src->is_null()) return out.set(Value());
  if (n.mode == kOldValue || n.mode == kTemplate) {
    Res old = arg(c, n, 1);
    std::string_view from = str(old.get(), s1);
    if (n.mode == kOldValue) {
      Res to = arg(c, n, 4);
      return out.set(replace_all(str(src.get(), s0), from, str(to.get(), s2)));
    }
    Res tmpl = arg(c, n, 6);
    return out.set(replace_all(str(tmpl.get(), s2), from, str(src.get(), s0)));
  }
  std::shared_ptr<const text::Regex> rx = n.regex;
  if (!rx) {
    Res pattern = arg(c, n, 2);
    try {
      rx = std::make_shared<text::Regex>(text::compile_regex(str(pattern.get(), s1)));
    } catch (const std::invalid_argument& e) {
      fail(n, "invalid regular expression " + quote(pattern.get()) + ": " + e.what());
    }
  }
  int group = n.group;
  if (n.mode != kRegex && group < 0) {
    Res name = arg(c, n, 3);
    group = rx->group_number(str(name.get(), s2));
    if (group < 0) fail(n, "the regular expression has no group named " + quote(name.get()));
  }
  if (n.mode == kRegex) {
    Res repl = arg(c, n, 4);
    return out.set(text::regex_replace(str(src.get(), s0), *rx, str(repl.get(), s2)));
  }
  if (n.mode == kRegexGroup) {
    Res repl = arg(c, n, 4);
    std::string_view input = str(src.get(), s0), to = str(repl.get(), s2);
    std::string r;
    const char* last = input.data();
    const char* end = input.data() + input.size();
    for (std::cregex_iterator it(input.data(), end, rx->re), stop; it != stop; ++it) {
      const auto& g = (*it)[group];
      if (!g.matched || g.first < last) continue;
      r.append(last, g.first);
      r.append(to);
      last = g.second;
    }
    r.append(last, end);
    return out.set(std::move(r));
  }
  Res other = arg(c, n, 5);  // kRegexAttribute, source empty
  std::string_view input = str(other.get(), s1);
  std::cmatch m;
  if (!std::regex_search(input.data(), input.data() + input.size(), m, rx->re) || !m[group].matched)
    return out.set(Value());
  out.set(std::string(m[group].first, m[group].second));
}

void check_replace(Node& n) {
  bool old = present(n, 1), pattern = present(n, 2), group = present(n, 3), repl = present(n, 4),
       attr = present(n, 5), tmpl = present(n, 6);
  if (pattern) {
    if (group && attr)
      n.mode = kRegexAttribute;
    else if (group && repl)
      n.mode = kRegexGroup;
    else if (group)
      throw ParseError(n.args[3].offset,
                       "Replace with regexGroupName needs replacementValue or replacementAttributeName");
    else if (repl)
      n.mode = kRegex;
    else
      throw ParseError(n.args[2].offset, "Replace with regexPattern needs replacementValue");
    const Node& p = n.args[2];
    if (p.kind == NodeKind::literal) {
      try {
        n.regex = std::make_shared<text::Regex>(text::compile_regex(p.literal.to_string()));
      } catch (const std::invalid_argument& e) {
        throw ParseError(p.offset, std::string("invalid regular expression: ") + e.what());
      }
      if (group && n.args[3].kind == NodeKind::literal) {
        n.group = n.regex->group_number(n.args[3].literal.to_string());
        if (n.group < 0)
          throw ParseError(n.args[3].offset,
                           "the regular expression has no group named " + quote(n.args[3].literal));
      }
    }
  } else if (old) {
    if (tmpl)
      n.mode = kTemplate;
    else if (repl)
      n.mode = kOldValue;
    else
      throw ParseError(n.args[1].offset, "Replace with oldValue needs replacementValue or template");
  } else {
    throw ParseError(n.offset, "Replace needs oldValue or regexPattern");
  }
}

void fn_select_unique_value(Ctx& c, const Node& n, Res& out) {
  std::vector<Value> taken;
  for (const Node& rule : n.args) {
    Res candidate;
    eval(c, rule, candidate);
    if (candidate->is_empty()) continue;
    if (!c.hooks || !c.hooks->is_unique || c.hooks->is_unique(candidate.get())) {
      out = std::move(candidate);
      return;
    }
    taken.push_back(std::move(candidate).take());
  }
  if (taken.empty()) return out.set(Value());
  std::string list;
  for (const Value& v : taken) list += (list.empty() ? "" : ", ") + quote(v);
  fail(n, "every candidate is already taken (" + list + ")");
}

void fn_split(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0), d = arg(c, n, 1);
  if (a->is_null()) return out.set(Value());
  std::string s0, s1;
  std::string_view v = str(a.get(), s0), delim = str(d.get(), s1);
  List parts;
  if (delim.empty()) {
    parts.emplace_back(std::string(trim(v)));
  } else {
    std::size_t last = 0;
    for (std::size_t pos = v.find(delim); pos != std::string_view::npos; pos = v.find(delim, last)) {
      parts.emplace_back(std::string(trim(v.substr(last, pos - last))));
      last = pos + delim.size();
    }
    parts.emplace_back(std::string(trim(v.substr(last))));
  }
  out.set(std::move(parts));
}

void fn_strip_spaces(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_null()) return out.set(Value());
  out.set(map_text(a.get(), [](std::string_view s) {
    std::string r;
    r.reserve(s.size());
    for (char ch : s)
      if (ch != ' ') r += ch;
    return r;
  }));
}

void fn_switch(Ctx& c, const Node& n, Res& out) {
  Res src = arg(c, n, 0);
  std::string s0, s1;
  std::string_view v = str(src.get(), s0);  // null matches the key ""
  for (std::size_t i = 2; i + 1 < n.args.size(); i += 2) {
    Res key;
    eval(c, n.args[i], key);
    if (str(key.get(), s1) == v) return eval(c, n.args[i + 1], out);
  }
  eval(c, n.args[1], out);
}

void check_switch(Node& n) {
  if (n.args.size() % 2 != 0)
    throw ParseError(n.offset,
                     "function 'Switch' expects an even number of arguments (source, defaultValue, then key, "
                     "value pairs), got " +
                         std::to_string(n.args.size()));
}

template <bool Upper>
void fn_case(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_null()) return out.set(Value());
  bool turkic = false;
  if (present(n, 1)) {
    Res culture = arg(c, n, 1);
    std::string s;
    turkic = text::is_turkic_culture(str(culture.get(), s));
  }
  out.set(map_text(a.get(), [turkic](std::string_view s) {
    return Upper ? text::to_upper(s, turkic) : text::to_lower(s, turkic);
  }));
}

void fn_word(Ctx& c, const Node& n, Res& out) {
  Res a = arg(c, n, 0);
  if (a->is_null()) return out.set(std::string());
  std::int64_t number = need_int(n, arg(c, n, 1).get(), "WordNumber");
  Res d = arg(c, n, 2);
  std::string s0, s1;
  std::string_view v = str(a.get(), s0), delims = str(d.get(), s1);
  if (number < 1) return out.set(std::string());
  std::u32string seps;
  for (std::size_t i = 0; i < delims.size();) seps.push_back(text::next_code_point(delims, i));
  std::int64_t word = 0;
  std::size_t begin = 0;
  bool in_word = false;
  for (std::size_t i = 0; i <= v.size();) {
    std::size_t at = i;
    bool sep = true;
    if (i < v.size())
      sep = seps.find(text::next_code_point(v, i)) != std::u32string::npos;
    else
      ++i;
    if (!sep && !in_word) in_word = true, begin = at;
    if (sep && in_word) {
      in_word = false;
      if (++word == number) return out.set(std::string(v.substr(begin, at - begin)));
    }
  }
  out.set(std::string());
}

// Sorted by name for the did-you-mean list; lookup is a linear scan at parse time only.
const FunctionInfo kFunctions[] = {
    {"Append", 2, 2, fn_append, nullptr},
    {"AppRoleAssignmentsComplex", 1, 1, fn_app_role_assignments_complex, nullptr},
    {"BitAnd", 2, 2, fn_bit_and, nullptr},
    {"CBool", 1, 1, fn_cbool, nullptr},
    {"CDate", 1, 1, fn_cdate, nullptr},
    {"Coalesce", 1, -1, fn_coalesce, nullptr},
    {"ConvertToBase64", 1, 1, fn_convert_to_base64, nullptr},
    {"ConvertToUTF8Hex", 1, 1, fn_convert_to_utf8_hex, nullptr},
    {"Count", 1, 1, fn_count, nullptr},
    {"CStr", 1, 1, fn_cstr, nullptr},
    {"DateAdd", 3, 3, fn_date_add, check_interval},
    {"DateDiff", 3, 3, fn_date_diff, check_interval},
    {"DateFromNum", 1, 1, fn_date_from_num, nullptr},
    {"FormatDateTime", 4, 4, fn_format_date_time, nullptr},
    {"Guid", 0, 0, fn_guid, nullptr},
    {"IgnoreFlowIfNullOrEmpty", 1, 1, fn_ignore_flow, nullptr},
    {"IIF", 3, 3, fn_iif, nullptr},
    {"InStr", 2, 4, fn_instr, nullptr},
    {"IsNull", 1, 1, fn_is_null, nullptr},
    {"IsNullOrEmpty", 1, 1, fn_is_null_or_empty, nullptr},
    {"IsPresent", 1, 1, fn_is_present, nullptr},
    {"IsString", 1, 1, fn_is_string, nullptr},
    {"Item", 2, 2, fn_item, nullptr},
    {"Join", 2, -1, fn_join, nullptr},
    {"Left", 2, 2, fn_left, nullptr},
    {"Mid", 3, 3, fn_mid, nullptr},
    {"NormalizeDiacritics", 1, 1, fn_normalize_diacritics, nullptr},
    {"Not", 1, 1, fn_not, nullptr},
    {"Now", 0, 0, fn_now, nullptr},
    {"NumFromDate", 1, 1, fn_num_from_date, nullptr},
    {"PCase", 1, 2, fn_pcase, nullptr},
    {"RandomString", 5, 6, fn_random_string, nullptr},
    {"Redact", 1, 1, fn_redact, nullptr},
    {"RemoveDuplicates", 1, 1, fn_remove_duplicates, nullptr},
    {"Replace", 7, 7, fn_replace, check_replace},
    {"SelectUniqueValue", 2, -1, fn_select_unique_value, nullptr},
    {"SingleAppRoleAssignment", 1, 1, fn_single_app_role_assignment, nullptr},
    {"Split", 2, 2, fn_split, nullptr},
    {"StripSpaces", 1, 1, fn_strip_spaces, nullptr},
    {"Switch", 2, -1, fn_switch, check_switch},
    {"ToLower", 1, 2, fn_case<false>, nullptr},
    {"ToUpper", 1, 2, fn_case<true>, nullptr},
    {"Word", 3, 3, fn_word, nullptr},
};

// Bare identifiers Entra accepts as arguments (InStr's compareType).
constexpr std::string_view kConstants[] = {"vbBinaryCompare", "vbTextCompare"};

int compare_values(const Value& a, const Value& b) {
  if (a.is_string() && b.is_string() && a.as_string() == b.as_string()) return 0;  // the common "=" case
  auto ia = to_int(a), ib = to_int(b);
  if (ia && ib) return *ia < *ib ? -1 : *ia > *ib ? 1 : 0;
  std::string s1, s2;
  int r = str(a, s1).compare(str(b, s2));
  return r < 0 ? -1 : r > 0 ? 1 : 0;
}

void eval(Ctx& ctx, const Node& n, Res& out) {
  switch (n.kind) {
    case NodeKind::empty:
      out.borrow(&kNull);
      return;
    case NodeKind::literal:
      out.borrow(&n.literal);
      return;
    case NodeKind::attribute: {
      const Value* v = n.attribute.find(ctx.attrs);
      out.borrow(v ? v : &kNull);
      return;
    }
    case NodeKind::call:
      n.fn->impl(ctx, n, out);
      return;
    case NodeKind::compare: {
      Res a, b;
      eval(ctx, n.args[0], a);
      eval(ctx, n.args[1], b);
      // Unlike Entra, a null operand compares as "" instead of failing the
      // condition, so IIF([country]="", ...) works as written.
      int r = compare_values(a.get(), b.get());
      bool v = false;
      switch (n.op) {
        case CmpOp::eq:
          v = r == 0;
          break;
        case CmpOp::ne:
          v = r != 0;
          break;
        case CmpOp::lt:
          v = r < 0;
          break;
        case CmpOp::le:
          v = r <= 0;
          break;
        case CmpOp::gt:
          v = r > 0;
          break;
        case CmpOp::ge:
          v = r >= 0;
          break;
      }
      out.set(v);
      return;
    }
  }
}

// ---- parser ----

constexpr int kMaxDepth = 200;

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Node parse_all() {
    skip_ws();
    if (i_ >= s_.size()) throw ParseError(0, "empty expression");
    Node root = parse_expr(0);
    skip_ws();
    if (i_ < s_.size()) throw ParseError(i_, "unexpected " + describe() + " after the end of the expression");
    return root;
  }

  std::vector<std::string> attributes;
  std::vector<std::size_t> attribute_offsets;
  bool redacts = false;

 private:
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  static bool ident_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
  static bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }

  std::string describe() const {
    if (i_ >= s_.size()) return "end of expression";
    if (ident_char(s_[i_])) {
      std::size_t j = i_;
      while (j < s_.size() && ident_char(s_[j])) ++j;
      return "'" + std::string(s_.substr(i_, j - i_)) + "'";
    }
    return "'" + std::string(1, s_[i_]) + "'";
  }

  Node parse_expr(int depth) {
    Node lhs = parse_operand(depth);
    skip_ws();
    if (i_ >= s_.size()) return lhs;
    std::size_t at = i_;
    CmpOp op;
    char c = s_[i_];
    char d = i_ + 1 < s_.size() ? s_[i_ + 1] : '\0';
    if (c == '=')
      op = CmpOp::eq, i_ += 1;
    else if (c == '<' && d == '>')
      op = CmpOp::ne, i_ += 2;
    else if (c == '<' && d == '=')
      op = CmpOp::le, i_ += 2;
    else if (c == '>' && d == '=')
      op = CmpOp::ge, i_ += 2;
    else if (c == '<')
      op = CmpOp::lt, i_ += 1;
    else if (c == '>')
      op = CmpOp::gt, i_ += 1;
    else
      return lhs;
    Node cmp;
    cmp.kind = NodeKind::compare;
    cmp.op = op;
    cmp.offset = at;
    cmp.args.push_back(std::move(lhs));
    skip_ws();
    cmp.args.push_back(parse_operand(depth));
    return cmp;
  }

  Node parse_operand(int depth) {
    if (depth > kMaxDepth)
      throw ParseError(i_, "expression nests deeper than " + std::to_string(kMaxDepth) + " levels");
    skip_ws();
    if (i_ >= s_.size())
      throw ParseError(i_,
                       "unexpected end of expression; expected an attribute, a string or a function call");
    Node n;
    n.offset = i_;
    char c = s_[i_];
    if (c == '[') {
      auto end = s_.find(']', i_ + 1);
      // Attribute names never contain '[': one before the ']' means this
      // bracket was left open, which is the error worth pointing at.
      if (end != std::string_view::npos &&
          s_.substr(i_ + 1, end - i_ - 1).find('[') != std::string_view::npos)
        end = std::string_view::npos;
      if (end == std::string_view::npos)
        throw ParseError(i_, "unclosed '[' (missing ']' after the attribute name)");
      std::string_view name = trim(s_.substr(i_ + 1, end - i_ - 1));
      if (name.empty()) throw ParseError(i_, "empty attribute name");
      n.kind = NodeKind::attribute;
      n.attribute = AttributeRef(std::string(name));
      if (std::find(attributes.begin(), attributes.end(), name) == attributes.end()) {
        attributes.emplace_back(name);
        attribute_offsets.push_back(i_ + 1 + (s_.substr(i_ + 1).find_first_not_of(" \t")));
      }
      i_ = end + 1;
      return n;
    }
    if (c == '"') {
      std::string value;
      std::size_t j = i_ + 1;
      for (;; ++j) {
        if (j >= s_.size()) throw ParseError(i_, "unterminated string literal (missing closing '\"')");
        if (s_[j] == '"') break;
        // Entra escapes only \" and \\; any other backslash is kept, so
        // regular expressions like "\d+" read as the user meant them.
        if (s_[j] == '\\' && j + 1 < s_.size() && (s_[j + 1] == '"' || s_[j + 1] == '\\')) ++j;
        value += s_[j];
      }
      n.kind = NodeKind::literal;
      n.literal = Value(std::move(value));
      i_ = j + 1;
      return n;
    }
    if ((c >= '0' && c <= '9') ||
        (c == '-' && i_ + 1 < s_.size() && s_[i_ + 1] >= '0' && s_[i_ + 1] <= '9')) {
      std::size_t j = i_ + 1;
      while (j < s_.size() && s_[j] >= '0' && s_[j] <= '9') ++j;
      std::int64_t v = 0;
      auto [end, ec] = std::from_chars(s_.data() + i_, s_.data() + j, v);
      if (ec != std::errc() || end != s_.data() + j) throw ParseError(i_, "integer literal out of range");
      n.kind = NodeKind::literal;
      n.literal = Value(v);
      i_ = j;
      return n;
    }
    if (c == '&' && i_ + 1 < s_.size() && (s_[i_ + 1] == 'H' || s_[i_ + 1] == 'h')) {  // VB hex: &HF7
      std::size_t j = i_ + 2;
      while (j < s_.size() && std::isxdigit(static_cast<unsigned char>(s_[j]))) ++j;
      std::uint64_t v = 0;
      auto [end, ec] = std::from_chars(s_.data() + i_ + 2, s_.data() + j, v, 16);
      if (j == i_ + 2) throw ParseError(i_, "expected hexadecimal digits after '&H'");
      if (ec != std::errc() || end != s_.data() + j) throw ParseError(i_, "hexadecimal literal out of range");
      n.kind = NodeKind::literal;
      n.literal = Value(static_cast<std::int64_t>(v));
      i_ = j;
      return n;
    }
    if (ident_start(c)) return parse_identifier(depth);
    throw ParseError(i_, "unexpected " + describe() + "; expected an attribute, a string or a function call");
  }

  Node parse_identifier(int depth) {
    Node n;
    n.offset = i_;
    std::size_t j = i_;
    while (j < s_.size() && ident_char(s_[j])) ++j;
    std::string_view name = s_.substr(i_, j - i_);
    std::size_t after = j;
    while (after < s_.size() && (s_[after] == ' ' || s_[after] == '\t')) ++after;
    bool call = after < s_.size() && s_[after] == '(';
    const FunctionInfo* fn = nullptr;
    for (const FunctionInfo& f : kFunctions)
      if (name == f.name) fn = &f;
    if (!call) {
      for (std::string_view k : kConstants) {
        if (name == k) {
          n.kind = NodeKind::literal;
          n.literal = Value(k);
          i_ = j;
          return n;
        }
      }
      if (fn) throw ParseError(j, "expected '(' after function name '" + std::string(name) + "'");
    }
    if (!fn) {
      std::vector<std::string_view> names = Expression::function_names();
      if (!call) names.insert(names.end(), std::begin(kConstants), std::end(kConstants));
      std::string hint = text::did_you_mean(name, names);
      throw ParseError(i_, std::string(call ? "unknown function '" : "unknown name '") + std::string(name) +
                               "'" + (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
    }
    if (!call) throw ParseError(j, "expected '(' after function name '" + std::string(name) + "'");
    n.kind = NodeKind::call;
    n.fn = fn;
    if (fn->impl == fn_redact) redacts = true;
    std::size_t open = after;
    i_ = after + 1;
    skip_ws();
    if (i_ < s_.size() && s_[i_] == ')') {
      ++i_;
    } else {
      for (;;) {
        skip_ws();
        if (i_ >= s_.size())
          throw ParseError(open, "unclosed '(' of '" + std::string(name) + "' (missing ')')");
        if (s_[i_] == ',' || s_[i_] == ')') {
          Node empty;
          empty.offset = i_;
          n.args.push_back(std::move(empty));  // omitted argument, as in Replace([x], "a", , , "b", , )
        } else {
          n.args.push_back(parse_expr(depth + 1));
        }
        skip_ws();
        if (i_ >= s_.size())
          throw ParseError(open, "unclosed '(' of '" + std::string(name) + "' (missing ')')");
        if (s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (s_[i_] == ')') {
          ++i_;
          break;
        }
        throw ParseError(
            i_, "expected ',' or ')' in the arguments of '" + std::string(name) + "', found " + describe());
      }
    }
    int count = static_cast<int>(n.args.size());
    if (count < fn->min_args || (fn->max_args >= 0 && count > fn->max_args)) {
      std::string expected;
      if (fn->max_args == fn->min_args)
        expected = std::to_string(fn->min_args);
      else if (fn->max_args < 0)
        expected = "at least " + std::to_string(fn->min_args);
      else if (fn->max_args == fn->min_args + 1)
        expected = std::to_string(fn->min_args) + " or " + std::to_string(fn->max_args);
      else
        expected = std::to_string(fn->min_args) + " to " + std::to_string(fn->max_args);
      bool one = expected == "1" || expected == "at least 1";
      throw ParseError(n.offset, "function '" + std::string(name) + "' expects " + expected +
                                     (one ? " argument" : " arguments") + ", got " + std::to_string(count));
    }
    if (fn->check) fn->check(n);
    return n;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

void reject_nested_unique(const Node& n, bool top) {
  if (n.kind == NodeKind::call && n.fn->impl == fn_select_unique_value && !top)
    throw ParseError(n.offset, "SelectUniqueValue must be the outermost function");
  for (const Node& a : n.args) reject_nested_unique(a, false);
}

}  // namespace

std::vector<std::string_view> Expression::function_names() {
  std::vector<std::string_view> out;
  for (const FunctionInfo& f : kFunctions) out.emplace_back(f.name);
  return out;
}

Expression Expression::parse(std::string_view text) {
  Parser p(text);
  auto root = std::make_shared<Node>(p.parse_all());
  reject_nested_unique(*root, true);
  Expression e;
  e.selects_unique_ = root->kind == NodeKind::call && root->fn->impl == fn_select_unique_value;
  e.redacts_ = p.redacts;
  e.root_ = std::move(root);
  e.attributes_ = std::make_shared<const std::vector<std::string>>(std::move(p.attributes));
  e.attribute_offsets_ = std::make_shared<const std::vector<std::size_t>>(std::move(p.attribute_offsets));
  e.text_ = std::make_shared<const std::string>(text);
  return e;
}

std::optional<Value> Expression::evaluate(const Object& attributes, const EvalHooks* hooks) const {
  if (!root_) return Value();
  Ctx ctx{attributes, hooks};
  Res r;
  eval(ctx, *root_, r);
  if (ctx.ignore) return std::nullopt;
  std::optional<Value> out;
  if (r.borrowed())
    out.emplace(r.get());
  else
    out.emplace(std::move(r).take());
  return out;
}

const std::vector<std::string>& Expression::attributes() const {
  static const std::vector<std::string> none;
  return attributes_ ? *attributes_ : none;
}

void Expression::check_attributes(const std::vector<std::string>& known) const {
  if (!attributes_) return;
  for (std::size_t i = 0; i < attributes_->size(); ++i) {
    const std::string& path = (*attributes_)[i];
    std::string_view first = std::string_view(path).substr(0, path.find('.'));
    if (std::find(known.begin(), known.end(), path) != known.end() ||
        std::find(known.begin(), known.end(), first) != known.end())
      continue;
    std::vector<std::string_view> names(known.begin(), known.end());
    std::string hint = text::did_you_mean(path, names);
    throw ParseError((*attribute_offsets_)[i], "unknown attribute '" + path + "'" +
                                                   (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
  }
}

const std::string& Expression::text() const {
  static const std::string none;
  return text_ ? *text_ : none;
}

}  // namespace dirsync::expr
