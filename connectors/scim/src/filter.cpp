#include "filter.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace dirsync::scim {

namespace {

constexpr int kMaxDepth = 32;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool is_path_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '$' || c == ':' || c == '.';
}

bool is_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_path_char(c) || c == ':' || c == '.') return false;
  }
  return true;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  std::unique_ptr<Filter> parse_all() {
    auto f = parse_or();
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected '" + std::string(1, s_[pos_]) + "'");
    return f;
  }

  PatchPath parse_path_all() {
    PatchPath p;
    skip_ws();
    std::size_t start = pos_;
    std::string_view w = word();
    if (w.empty()) fail_path("expected an attribute path");
    p.attr = parse_attr_path_at(w, start, true);
    if (peek() == '[') {
      if (!p.attr.sub.empty()) fail_path("a value filter must follow a top-level attribute");
      ++pos_;
      ++brackets_;
      p.filter = parse_or();
      skip_ws();
      if (peek() != ']') fail_path("expected ']'");
      ++pos_;
      if (peek() == '.') {
        ++pos_;
        std::string_view sub = word();
        if (!is_name(sub)) fail_path("expected a sub-attribute name after ']. '");
        p.attr.sub = std::string(sub);
      }
    }
    skip_ws();
    if (pos_ != s_.size()) fail_path("unexpected '" + std::string(1, s_[pos_]) + "'");
    return p;
  }

  AttrPath parse_attr_path_at(std::string_view w, std::size_t at, bool path_error) {
    AttrPath p;
    std::string_view rest = w;
    if (starts_with_ci(w, "urn:")) {
      // A URN contains dots ("2.0"), so the attribute starts after its last ':'.
      auto colon = w.rfind(':');
      std::string_view tail = w.substr(colon + 1);
      std::string_view urn = w.substr(0, colon);
      for (std::string_view known : {kUserSchema, kGroupSchema, kEnterpriseSchema}) {
        if (iequals(w, known)) {
          p.urn = std::string(w);
          return p;
        }
      }
      if (tail.empty()) error(at, "empty attribute name after the schema urn", path_error);
      p.urn = std::string(urn);
      rest = tail;
    }
    auto dot = rest.find('.');
    std::string_view attr = rest.substr(0, dot);
    if (!is_name(attr)) error(at, "invalid attribute name '" + std::string(attr) + "'", path_error);
    p.attr = std::string(attr);
    if (dot != std::string_view::npos) {
      std::string_view sub = rest.substr(dot + 1);
      if (!is_name(sub)) error(at, "invalid sub-attribute name '" + std::string(sub) + "'", path_error);
      p.sub = std::string(sub);
    }
    return p;
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  int brackets_ = 0;

  [[noreturn]] void error(std::size_t at, const std::string& what, bool path) const {
    std::string message = what + " at offset " + std::to_string(at);
    if (path) throw invalid_path("invalid path: " + message);
    throw invalid_filter("invalid filter: " + message);
  }
  [[noreturn]] void fail(const std::string& what) const { error(pos_, what, false); }
  [[noreturn]] void fail_path(const std::string& what) const { error(pos_, what, true); }

  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_ws() {
    while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
  }
  std::string_view word() {
    std::size_t start = pos_;
    while (pos_ < s_.size() && is_path_char(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  std::string_view peek_word() {
    std::size_t save = pos_;
    std::string_view w = word();
    pos_ = save;
    return w;
  }

  std::unique_ptr<Filter> combine(Filter::Kind kind, std::unique_ptr<Filter> l, std::unique_ptr<Filter> r) {
    auto f = std::make_unique<Filter>();
    f->kind = kind;
    f->left = std::move(l);
    f->right = std::move(r);
    return f;
  }

  // Logical operators must be followed by a space or '(' so that an
  // attribute called "order" is not read as "or" + "der".
  bool keyword(std::string_view kw) {
    std::size_t save = pos_;
    skip_ws();
    std::string_view w = peek_word();
    if (save != pos_ && iequals(w, kw)) {
      pos_ += w.size();
      return true;
    }
    pos_ = save;
    return false;
  }

  std::unique_ptr<Filter> parse_or() {
    if (++depth_ > kMaxDepth) fail("filter nested deeper than " + std::to_string(kMaxDepth));
    auto left = parse_and();
    while (keyword("or")) left = combine(Filter::Kind::logical_or, std::move(left), parse_and());
    --depth_;
    return left;
  }

  std::unique_ptr<Filter> parse_and() {
    auto left = parse_unary();
    while (keyword("and")) left = combine(Filter::Kind::logical_and, std::move(left), parse_unary());
    return left;
  }

  std::unique_ptr<Filter> parse_unary() {
    skip_ws();
    if (peek() == '(') {
      ++pos_;
      auto f = parse_or();
      skip_ws();
      if (peek() != ')') fail("expected ')'");
      ++pos_;
      return f;
    }
    std::size_t start = pos_;
    std::string_view w = word();
    if (iequals(w, "not")) {
      skip_ws();
      if (peek() != '(') fail("expected '(' after 'not'");
      ++pos_;
      auto f = std::make_unique<Filter>();
      f->kind = Filter::Kind::logical_not;
      f->left = parse_or();
      skip_ws();
      if (peek() != ')') fail("expected ')'");
      ++pos_;
      return f;
    }
    if (w.empty()) fail(pos_ < s_.size() ? "expected an attribute path" : "unexpected end of filter");
    auto f = std::make_unique<Filter>();
    f->path = parse_attr_path_at(w, start, false);
    if (f->path.attr.empty()) error(start, "a schema urn alone is not an attribute", false);
    if (peek() == '[') {
      if (brackets_ > 0) fail("value filters cannot nest");
      if (!f->path.sub.empty()) fail("a value filter must follow a top-level attribute");
      ++pos_;
      ++brackets_;
      f->kind = Filter::Kind::value_path;
      f->left = parse_or();
      --brackets_;
      skip_ws();
      if (peek() != ']') fail("expected ']'");
      ++pos_;
      if (peek() != '.') return f;
      ++pos_;
      std::string_view sub = word();
      if (!is_name(sub)) fail("expected a sub-attribute name after '].'");
      f->path.sub = std::string(sub);
      f->sub_compare = true;
    } else {
      f->kind = Filter::Kind::compare;
    }
    parse_comparison(*f);
    return f;
  }

  void parse_comparison(Filter& f) {
    std::size_t before = pos_;
    skip_ws();
    if (before == pos_) fail("expected a space and an operator after the attribute path");
    std::size_t op_at = pos_;
    std::string_view op = word();
    static constexpr std::pair<std::string_view, CompareOp> kOps[] = {
        {"eq", CompareOp::eq}, {"ne", CompareOp::ne}, {"co", CompareOp::co}, {"sw", CompareOp::sw},
        {"ew", CompareOp::ew}, {"gt", CompareOp::gt}, {"ge", CompareOp::ge}, {"lt", CompareOp::lt},
        {"le", CompareOp::le}, {"pr", CompareOp::pr}};
    bool found = false;
    for (const auto& [name, value] : kOps) {
      if (iequals(op, name)) {
        f.op = value;
        found = true;
      }
    }
    if (!found) error(op_at, "unknown operator '" + std::string(op) + "'", false);
    if (f.op == CompareOp::pr) return;
    before = pos_;
    skip_ws();
    if (before == pos_) fail("expected a space and a value after '" + std::string(op) + "'");
    f.literal = parse_literal();
  }

  Value parse_literal() {
    std::size_t start = pos_;
    if (peek() == '"') {
      ++pos_;
      while (pos_ < s_.size() && s_[pos_] != '"') pos_ += s_[pos_] == '\\' ? 2 : 1;
      if (pos_ >= s_.size()) error(start, "unterminated string", false);
      ++pos_;
      try {
        Value v = parse_json(s_.substr(start, pos_ - start));
        if (v.is_string()) return v;
      } catch (const std::exception&) {
      }
      error(start, "invalid string literal", false);
    }
    while (pos_ < s_.size() && !is_space(s_[pos_]) && s_[pos_] != ')' && s_[pos_] != ']') ++pos_;
    std::string_view w = s_.substr(start, pos_ - start);
    if (iequals(w, "true")) return true;
    if (iequals(w, "false")) return false;
    if (iequals(w, "null")) return nullptr;
    if (w.empty()) error(start, "expected a comparison value", false);
    std::int64_t i = 0;
    auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), i);
    if (ec == std::errc() && end == w.data() + w.size()) return i;
    // strtod, not from_chars: libc++ 14 (the fuzz build) has no floating-point from_chars.
    std::string copy(w);
    char* dend = nullptr;
    double d = std::strtod(copy.c_str(), &dend);
    if (dend == copy.c_str() + copy.size() && (std::isdigit(static_cast<unsigned char>(copy.back())) != 0)) return d;
    error(start, "invalid comparison value '" + std::string(w) + "' (expected a quoted string, a number, "
                 "true, false or null)", false);
  }
};

// xsd:dateTime as SCIM uses it (2011-05-13T04:42:34.5Z, offsets allowed) to
// microseconds since the epoch. Kept free of Poco so the fuzz build (libc++)
// can compile this file.
std::optional<std::int64_t> parse_datetime(const std::string& s) {
  auto digits = [&](std::size_t at, std::size_t n, int& out) {
    if (at + n > s.size()) return false;
    out = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, sec;
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
      s[16] != ':' || !digits(0, 4, y) || !digits(5, 2, mo) || !digits(8, 2, d) || !digits(11, 2, h) ||
      !digits(14, 2, mi) || !digits(17, 2, sec) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
      sec > 60) {
    return std::nullopt;
  }
  std::size_t i = 19;
  std::int64_t micros = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    std::int64_t scale = 100000;
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      micros += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == start) return std::nullopt;
  }
  std::int64_t offset_minutes = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    if (i + 6 != s.size() || s[i + 3] != ':' || !digits(i + 1, 2, oh) || !digits(i + 4, 2, om)) return std::nullopt;
    offset_minutes = (s[i] == '+' ? 1 : -1) * (oh * 60 + om);
    i += 6;
  }
  if (i != s.size()) return std::nullopt;
  using namespace std::chrono;
  std::int64_t days = sys_days(year(y) / month(static_cast<unsigned>(mo)) / day(static_cast<unsigned>(d)))
                          .time_since_epoch()
                          .count();
  std::int64_t seconds = days * 86400 +
                         h * 3600 + mi * 60 + sec - offset_minutes * 60;
  return seconds * 1000000 + micros;
}

template <typename T>
bool ordered(CompareOp op, const T& a, const T& b) {
  switch (op) {
    case CompareOp::eq: return a == b;
    case CompareOp::ne: return a != b;
    case CompareOp::gt: return a > b;
    case CompareOp::ge: return a >= b;
    case CompareOp::lt: return a < b;
    case CompareOp::le: return a <= b;
    default: return false;
  }
}

const char* op_name(CompareOp op) {
  static constexpr const char* kNames[] = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"};
  return kNames[static_cast<int>(op)];
}

// One candidate value against the literal; `op` is never ne (handled as !eq).
bool compare_one(const Value& c, CompareOp op, const Value& literal, bool case_exact) {
  if (literal.is_null()) return c.is_null();
  if (literal.is_bool()) {
    if (op != CompareOp::eq) throw invalid_filter(std::string("invalid filter: '") + op_name(op) + "' on a boolean");
    if (c.is_bool()) return c.as_bool() == literal.as_bool();
    return c.is_string() && iequals(c.as_string(), literal.as_bool() ? "true" : "false");
  }
  if (literal.is_integer() || literal.is_number()) {
    if (op == CompareOp::co || op == CompareOp::sw || op == CompareOp::ew)
      throw invalid_filter(std::string("invalid filter: '") + op_name(op) + "' on a number");
    double l = literal.is_integer() ? static_cast<double>(literal.as_integer()) : literal.as_number();
    if (c.is_integer()) return ordered(op, static_cast<double>(c.as_integer()), l);
    if (c.is_number()) return ordered(op, c.as_number(), l);
    return false;
  }
  if (!c.is_string()) {
    // Booleans stored from Entra's "True"/"False" strings compare by their text.
    if (c.is_bool() && op == CompareOp::eq) return iequals(literal.as_string(), c.as_bool() ? "true" : "false");
    return false;
  }
  const std::string& lit = literal.as_string();
  const std::string& val = c.as_string();
  if (op != CompareOp::co && op != CompareOp::sw && op != CompareOp::ew) {
    if (auto a = parse_datetime(val)) {
      if (auto b = parse_datetime(lit)) return ordered(op, *a, *b);
    }
  }
  std::string a = case_exact ? val : to_lower(val);
  std::string b = case_exact ? lit : to_lower(lit);
  switch (op) {
    case CompareOp::co: return a.find(b) != std::string::npos;
    case CompareOp::sw: return a.starts_with(b);
    case CompareOp::ew: return a.ends_with(b);
    default: return ordered(op, a, b);
  }
}

struct Context {
  const Object& object;
  ResourceKind kind;
  std::string_view parent;  ///< non-empty inside a value filter
};

const Object* base_object(const Context& ctx, const AttrPath& p) {
  if (p.urn.empty() || iequals(p.urn, core_schema(ctx.kind))) return &ctx.object;
  const Value* ext = find_ci(ctx.object, p.urn);
  return ext && ext->is_object() ? &ext->as_object() : nullptr;
}

const Value* find_attribute(const Context& ctx, const AttrPath& p) {
  const Object* base = base_object(ctx, p);
  if (!base) return nullptr;
  if (p.attr.empty()) return find_ci(ctx.object, p.urn);
  const Value* v = find_ci(*base, p.attr);
  if (!v && p.urn.empty() && ctx.parent.empty()) {
    for (const auto& [key, value] : ctx.object) {
      if (value.is_object() && starts_with_ci(key, "urn:")) {
        if ((v = find_ci(value.as_object(), p.attr))) break;
      }
    }
  }
  return v;
}

void collect(const Context& ctx, const AttrPath& p, std::vector<const Value*>& out) {
  const Value* v = find_attribute(ctx, p);
  if (!v) return;
  auto add_sub = [&](const Value& item, std::string_view sub) {
    if (!item.is_object()) return;
    if (const Value* s = find_ci(item.as_object(), sub)) out.push_back(s);
  };
  if (p.sub.empty()) {
    if (!v->is_list()) {
      out.push_back(v);
      return;
    }
    // A multi-valued complex attribute compared as a whole compares its "value".
    for (const Value& item : v->as_list()) {
      if (item.is_object()) {
        add_sub(item, "value");
      } else {
        out.push_back(&item);
      }
    }
  } else if (v->is_list()) {
    for (const Value& item : v->as_list()) add_sub(item, p.sub);
  } else {
    add_sub(*v, p.sub);
  }
}

bool case_exact_for(const Context& ctx, const AttrPath& p) {
  const AttrDef* d = ctx.parent.empty() ? find_attr(ctx.kind, p.attr, p.sub) : find_attr(ctx.kind, ctx.parent, p.attr);
  return d && d->case_exact;
}

bool compare(const std::vector<const Value*>& candidates, CompareOp op, const Value& literal, bool case_exact) {
  if (op == CompareOp::pr) {
    for (const Value* c : candidates) {
      if (!c->is_empty()) return true;
    }
    return false;
  }
  if (op == CompareOp::ne) return !compare(candidates, CompareOp::eq, literal, case_exact);
  if (literal.is_null() && op != CompareOp::eq) throw invalid_filter("invalid filter: only eq and ne compare with null");
  if (literal.is_null() && candidates.empty()) return true;
  for (const Value* c : candidates) {
    if (compare_one(*c, op, literal, case_exact)) return true;
  }
  return false;
}

bool eval(const Filter& f, const Context& ctx) {
  switch (f.kind) {
    case Filter::Kind::logical_and: return eval(*f.left, ctx) && eval(*f.right, ctx);
    case Filter::Kind::logical_or: return eval(*f.left, ctx) || eval(*f.right, ctx);
    case Filter::Kind::logical_not: return !eval(*f.left, ctx);
    case Filter::Kind::compare: {
      std::vector<const Value*> candidates;
      collect(ctx, f.path, candidates);
      return compare(candidates, f.op, f.literal, case_exact_for(ctx, f.path));
    }
    case Filter::Kind::value_path: {
      AttrPath top{f.path.urn, f.path.attr, {}};
      const Value* v = find_attribute(ctx, top);
      if (!v) return false;
      auto element_matches = [&](const Value& item) {
        if (!matches_element(*f.left, item, ctx.kind, f.path.attr)) return false;
        if (!f.sub_compare) return true;
        std::vector<const Value*> candidates;
        if (item.is_object()) {
          if (const Value* s = find_ci(item.as_object(), f.path.sub)) candidates.push_back(s);
        }
        const AttrDef* d = find_attr(ctx.kind, f.path.attr, f.path.sub);
        return compare(candidates, f.op, f.literal, d && d->case_exact);
      };
      if (v->is_list()) {
        for (const Value& item : v->as_list()) {
          if (element_matches(item)) return true;
        }
        return false;
      }
      return element_matches(*v);
    }
  }
  return false;
}

}  // namespace

std::string AttrPath::to_string() const {
  std::string out = urn;
  if (!urn.empty() && !attr.empty()) out += ':';
  out += attr;
  if (!sub.empty()) out += "." + sub;
  return out;
}

std::unique_ptr<Filter> parse_filter(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) throw invalid_filter("invalid filter: empty");
  return Parser(text).parse_all();
}

PatchPath parse_patch_path(std::string_view text) { return Parser(text).parse_path_all(); }

AttrPath parse_attr_path(std::string_view text) {
  Parser p(text);
  for (char c : text) {
    if (!is_path_char(c)) throw invalid_path("invalid path: unexpected '" + std::string(1, c) + "' in '" +
                                             std::string(text) + "'");
  }
  return p.parse_attr_path_at(text, 0, true);
}

bool matches(const Filter& filter, const Object& resource, ResourceKind kind) {
  return eval(filter, Context{resource, kind, {}});
}

bool matches_element(const Filter& filter, const Value& element, ResourceKind kind, std::string_view parent) {
  // A multi-valued attribute of plain strings: the element itself is its "value".
  static const Object kEmpty;
  Object wrapped;
  const Object* obj = &kEmpty;
  if (element.is_object()) {
    obj = &element.as_object();
  } else {
    wrapped.set("value", element);
    obj = &wrapped;
  }
  return eval(filter, Context{*obj, kind, parent});
}

std::vector<std::string> required_text(const Filter& filter) {
  std::vector<std::string> out;
  auto add_literal = [&](CompareOp op, const Value& literal) {
    if (!literal.is_string() || literal.as_string().empty()) return;
    if (op != CompareOp::eq && op != CompareOp::co && op != CompareOp::sw && op != CompareOp::ew) return;
    const std::string& text = literal.as_string();
    // Stored JSON escapes only quotes, backslashes and control characters;
    // dateTimes match other spellings of the same instant.
    for (char c : text) {
      if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return;
    }
    if (parse_datetime(text)) return;
    out.push_back(to_lower(text));
  };
  switch (filter.kind) {
    case Filter::Kind::logical_and:
      out = required_text(*filter.left);
      for (std::string& t : required_text(*filter.right)) out.push_back(std::move(t));
      break;
    case Filter::Kind::compare: add_literal(filter.op, filter.literal); break;
    case Filter::Kind::value_path:
      out = required_text(*filter.left);
      if (filter.sub_compare) add_literal(filter.op, filter.literal);
      break;
    default: break;  // or / not: no single text is required
  }
  // Longest first: usually the rarest, so most rows are rejected by one search.
  std::stable_sort(out.begin(), out.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

namespace {

// memchr for the first byte in either case, then a case-insensitive compare:
// several times faster than std::search with a folding predicate.
bool contains_ci(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return true;
  const char lower = needle[0];
  const char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(lower)));
  const char* p = hay.data();
  const char* end = hay.data() + hay.size();
  while (static_cast<std::size_t>(end - p) >= needle.size()) {
    const char* a = static_cast<const char*>(std::memchr(p, lower, static_cast<std::size_t>(end - p)));
    const char* b =
        upper == lower ? nullptr : static_cast<const char*>(std::memchr(p, upper, static_cast<std::size_t>(end - p)));
    const char* at = !a ? b : !b ? a : std::min(a, b);
    if (!at || static_cast<std::size_t>(end - at) < needle.size()) return false;
    std::size_t i = 1;
    while (i < needle.size() && std::tolower(static_cast<unsigned char>(at[i])) == needle[i]) ++i;
    if (i == needle.size()) return true;
    p = at + 1;
  }
  return false;
}

}  // namespace

bool contains_all_ci(std::string_view json, const std::vector<std::string>& needles) {
  for (const std::string& n : needles) {
    if (!contains_ci(json, n)) return false;
  }
  return true;
}

std::optional<SimpleEq> as_simple_eq(const Filter& filter) {
  if (filter.kind != Filter::Kind::compare || filter.op != CompareOp::eq || !filter.literal.is_string() ||
      !filter.path.sub.empty() || filter.path.attr.empty()) {
    return std::nullopt;
  }
  if (!filter.path.urn.empty() && !iequals(filter.path.urn, kUserSchema) && !iequals(filter.path.urn, kGroupSchema))
    return std::nullopt;
  return SimpleEq{filter.path.attr, filter.literal.as_string()};
}

const Value* find_ci(const Object& object, std::string_view name) {
  if (const Value* exact = object.find(name)) return exact;
  for (const auto& [key, value] : object) {
    if (iequals(key, name)) return &value;
  }
  return nullptr;
}

Value* find_ci(Object& object, std::string_view name) {
  if (Value* exact = object.find(name)) return exact;
  for (auto& [key, value] : object) {
    if (iequals(key, name)) return &value;
  }
  return nullptr;
}

}  // namespace dirsync::scim
