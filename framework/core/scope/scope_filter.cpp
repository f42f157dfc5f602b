// Scoping filters. Clauses are compiled once: operator names resolved to an
// enum, values converted to their text, case-folded and numeric forms, and
// regular expressions built, so matching an object does no parsing.
//
// Semantics (docs/scoping-filters.md): a null or empty attribute makes every
// clause false except IS NULL; a value list matches when any value does; a
// list attribute matches when any (or, with quantifier all, every) element
// does; the negated operators (NOT EQUALS, NOT REGEX MATCH, !&) are the
// negation of their positive form over the same values and quantifier.
#include "scope/scope_filter.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "expression/attribute_ref.hpp"
#include "expression/text.hpp"

namespace dirsync::scope {

namespace {

enum class Op : std::uint8_t {
  bit_and,
  ends_with,
  starts_with,
  equals,
  greater,
  greater_or_equal,
  less,
  less_or_equal,
  includes,
  is_true,
  is_false,
  is_null,
  is_not_null,
  regex_match,
  member_of,
  org_unit,
};

struct OperatorName {
  const char* normalized;  // upper case, words separated by one space
  const char* display;     // as Entra spells it
  Op op;
  bool negated;
};

constexpr OperatorName kOperators[] = {
    {"&", "&", Op::bit_and, false},
    {"!&", "!&", Op::bit_and, true},
    {"ENDS WITH", "ENDS_WITH", Op::ends_with, false},
    {"STARTS WITH", "STARTS_WITH", Op::starts_with, false},
    {"EQUALS", "EQUALS", Op::equals, false},
    {"NOT EQUALS", "NOT EQUALS", Op::equals, true},
    {"GREATER THAN", "Greater_Than", Op::greater, false},
    {"GREATER THAN OR EQUALS", "Greater_Than_OR_EQUALS", Op::greater_or_equal, false},
    {"LESS THAN", "Less_Than", Op::less, false},
    {"LESS THAN OR EQUALS", "Less_Than_OR_EQUALS", Op::less_or_equal, false},
    {"INCLUDES", "Includes", Op::includes, false},
    {"IS TRUE", "IS TRUE", Op::is_true, false},
    {"IS FALSE", "IS FALSE", Op::is_false, false},
    {"IS NULL", "IS NULL", Op::is_null, false},
    {"IS NOT NULL", "IS NOT NULL", Op::is_not_null, false},
    {"REGEX MATCH", "REGEX MATCH", Op::regex_match, false},
    {"NOT REGEX MATCH", "NOT REGEX MATCH", Op::regex_match, true},
    // Beyond Entra: negations for the text operators, and Entra's own
    // (unsupported there) IsMemberOf spelling for member_of.
    {"NOT ENDS WITH", "NOT ENDS_WITH", Op::ends_with, true},
    {"NOT STARTS WITH", "NOT STARTS_WITH", Op::starts_with, true},
    {"NOT INCLUDES", "NOT Includes", Op::includes, true},
    {"MEMBER OF", "member_of", Op::member_of, false},
    {"ISMEMBEROF", "IsMemberOf", Op::member_of, false},
    {"IS MEMBER OF", "IS MEMBER OF", Op::member_of, false},
    {"ORG UNIT", "org_unit", Op::org_unit, false},
};

std::string normalize_operator(std::string_view op) {
  std::string out;
  for (char c : op) {
    if (c == '_' || c == '-' || c == ' ' || c == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
      continue;
    }
    out += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_number(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  // strtod rather than from_chars: libc++ 14 (the fuzz build) has no
  // floating-point from_chars.
  if (s.empty() || s.size() > 63) return std::nullopt;
  char buf[64];
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  char* end = nullptr;
  double v = std::strtod(buf, &end);
  if (end != buf + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

struct Operand {
  std::string text;  // as written, or case-folded when the clause ignores case
  std::optional<std::int64_t> integer;
  std::optional<double> number;
  std::shared_ptr<const expr::text::Regex> regex;
};

std::string org_path(std::string_view p) {
  std::string s(p);
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  if (s.empty() || s.front() != '/') s.insert(s.begin(), '/');
  return s;
}

}  // namespace

class CompiledClause {
 public:
  Clause clause;
  expr::AttributeRef attribute;
  Op op = Op::equals;
  bool negated = false;
  bool all = false;
  bool transitive = false;
  std::vector<Operand> values;

  bool matches(const Object& attributes, std::string_view object_id, const Membership* membership) const;

 private:
  bool scalar_matches(const Value& v) const;
};

bool CompiledClause::scalar_matches(const Value& v) const {
  if (v.is_empty()) return false;
  if (op == Op::is_true || op == Op::is_false) {
    bool want = op == Op::is_true;
    if (v.is_bool()) return v.as_bool() == want;
    return v.is_string() && expr::text::equals_ignore_case(v.as_string(), want ? "true" : "false");
  }
  std::string scratch;
  std::string_view s;
  if (v.is_string()) {
    s = v.as_string();
  } else {
    scratch = v.to_string();
    s = scratch;
  }
  if (clause.ignore_case) {
    thread_local std::string folded;  // reused: folding must not allocate per object
    expr::text::to_lower_into(folded, s);
    s = folded;
  }
  for (const Operand& o : values) {
    bool hit = false;
    switch (op) {
      case Op::bit_and: {
        auto a = v.is_integer() ? std::optional<std::int64_t>(v.as_integer()) : parse_int(s);
        hit = a && o.integer ? (*a & *o.integer) != 0
                             : std::string_view(o.text).find(s) != std::string_view::npos;
        break;
      }
      case Op::ends_with:
        hit = s.ends_with(o.text);
        break;
      case Op::starts_with:
        hit = s.starts_with(o.text);
        break;
      case Op::includes:
        hit = s.find(o.text) != std::string_view::npos;
        break;
      case Op::equals:
        hit = s == o.text || (v.is_bool() && expr::text::equals_ignore_case(s, o.text)) ||
              (o.number && v.is_number() && v.as_number() == *o.number) ||
              (o.integer && v.is_integer() && v.as_integer() == *o.integer);
        break;
      case Op::greater:
      case Op::greater_or_equal:
      case Op::less:
      case Op::less_or_equal: {
        int cmp;
        auto n = v.is_integer()  ? std::optional<double>(static_cast<double>(v.as_integer()))
                 : v.is_number() ? std::optional<double>(v.as_number())
                                 : parse_number(s);
        if (n && o.number) {
          cmp = *n < *o.number ? -1 : *n > *o.number ? 1 : 0;
        } else {
          int c = s.compare(o.text);  // ordinal: ISO dates and fixed-width codes order correctly
          cmp = c < 0 ? -1 : c > 0 ? 1 : 0;
        }
        hit = op == Op::greater            ? cmp > 0
              : op == Op::greater_or_equal ? cmp >= 0
              : op == Op::less             ? cmp < 0
                                           : cmp <= 0;
        break;
      }
      case Op::regex_match: {
        std::string_view raw = v.is_string() ? std::string_view(v.as_string()) : std::string_view(scratch);
        hit = std::regex_search(raw.begin(), raw.end(), o.regex->re);
        break;
      }
      case Op::org_unit: {
        if (o.text == "/") {
          hit = !s.empty() && s.front() == '/';
        } else {
          hit = s.starts_with(o.text) && (s.size() == o.text.size() || s[o.text.size()] == '/');
        }
        break;
      }
      default:
        break;
    }
    if (hit) return true;
  }
  return false;
}

bool CompiledClause::matches(const Object& attributes, std::string_view object_id,
                             const Membership* membership) const {
  if (op == Op::member_of) {
    if (!membership)
      throw Error(ErrorKind::config,
                  "a member_of scoping clause needs group membership, which this source does not provide");
    for (const Operand& o : values)
      if (membership->is_member(object_id, o.text, transitive)) return true;
    return false;
  }
  const Value* v = attribute.find(attributes);
  if (op == Op::is_null) return !v || v->is_empty();
  if (op == Op::is_not_null) return v && !v->is_empty();
  if (!v || v->is_empty())
    return false;  // Entra: null or empty makes the clause false, negated ones included
  bool positive;
  if (v->is_list()) {
    const List& l = v->as_list();
    if (all) {
      positive = true;
      for (const Value& item : l)
        if (!scalar_matches(item)) {
          positive = false;
          break;
        }
    } else {
      positive = false;
      for (const Value& item : l)
        if (scalar_matches(item)) {
          positive = true;
          break;
        }
    }
  } else {
    positive = scalar_matches(*v);
  }
  return negated ? !positive : positive;
}

ScopeFilter ScopeFilter::compile(const std::vector<std::vector<Clause>>& filters) {
  ScopeFilter f;
  for (std::size_t i = 0; i < filters.size(); ++i) {
    std::vector<std::shared_ptr<const CompiledClause>> compiled;
    for (std::size_t j = 0; j < filters[i].size(); ++j) {
      const Clause& c = filters[i][j];
      auto cc = std::make_shared<CompiledClause>();
      cc->clause = c;
      std::string norm = normalize_operator(c.op);
      const OperatorName* found = nullptr;
      for (const OperatorName& o : kOperators)
        if (norm == o.normalized) found = &o;
      if (!found) {
        if (norm.empty()) throw ClauseError(i, j, "operator", "missing operator");
        std::vector<std::string_view> names;
        for (const OperatorName& o : kOperators) names.emplace_back(o.display);
        std::string hint = expr::text::did_you_mean(norm, names);
        throw ClauseError(
            i, j, "operator",
            "unknown operator '" + c.op + "'" + (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
      }
      cc->op = found->op;
      cc->negated = found->negated;
      std::string q = expr::text::to_lower(c.quantifier);
      if (q == "all")
        cc->all = true;
      else if (q == "transitive" && cc->op == Op::member_of)
        cc->transitive = true;
      else if (!(q.empty() || q == "any" || (q == "direct" && cc->op == Op::member_of)))
        throw ClauseError(i, j, "quantifier",
                          "unknown quantifier '" + c.quantifier + "' (expected " +
                              (cc->op == Op::member_of ? "direct or transitive" : "any or all") + ")");
      cc->transitive = cc->transitive || c.transitive;
      if (cc->op == Op::org_unit && c.attribute.empty())
        cc->clause.attribute = "orgUnitPath";  // Google's field
      if (cc->op != Op::member_of && cc->clause.attribute.empty())
        throw ClauseError(i, j, "attribute", "missing attribute");
      cc->attribute = expr::AttributeRef(cc->clause.attribute);
      bool needs_value = cc->op != Op::is_true && cc->op != Op::is_false && cc->op != Op::is_null &&
                         cc->op != Op::is_not_null;
      if (needs_value) {
        std::vector<const Value*> items;
        if (c.value.is_list()) {
          for (const Value& v : c.value.as_list()) items.push_back(&v);
        } else if (!c.value.is_null()) {
          items.push_back(&c.value);
        }
        if (items.empty())
          throw ClauseError(i, j, "value", "operator '" + std::string(found->display) + "' needs a value");
        for (const Value* v : items) {
          if (v->is_list() || v->is_object() || v->is_null())
            throw ClauseError(i, j, "value", "a value list may hold only strings, numbers and booleans");
          Operand o;
          o.text = v->to_string();
          if (cc->op == Op::regex_match) {
            try {
              o.regex = std::make_shared<expr::text::Regex>(expr::text::compile_regex(o.text, c.ignore_case));
            } catch (const std::invalid_argument& e) {
              throw ClauseError(i, j, "value", "bad regular expression '" + o.text + "': " + e.what());
            }
          }
          if (cc->op == Op::org_unit) o.text = org_path(o.text);
          if (c.ignore_case) o.text = expr::text::to_lower(o.text);
          o.integer = v->is_integer() ? std::optional<std::int64_t>(v->as_integer()) : parse_int(o.text);
          o.number = v->is_number() ? std::optional<double>(v->as_number()) : parse_number(o.text);
          cc->values.push_back(std::move(o));
        }
      }
      if (cc->op == Op::member_of) f.needs_membership_ = true;
      compiled.push_back(std::move(cc));
    }
    f.filters_.push_back(std::move(compiled));
  }
  return f;
}

bool ScopeFilter::matches(const Object& attributes, std::string_view object_id,
                          const Membership* membership) const {
  if (filters_.empty()) return true;
  for (const auto& filter : filters_) {
    bool all = true;
    for (const auto& c : filter) {
      if (!c->matches(attributes, object_id, membership)) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

std::uint64_t ScopeFilter::fingerprint() const {
  List filters;
  for (const auto& filter : filters_) {
    List clauses;
    for (const auto& c : filter) {
      std::string op;
      for (const OperatorName& o : kOperators)
        if (o.op == c->op && o.negated == c->negated) op = o.normalized;
      clauses.emplace_back(Object{{"attribute", c->clause.attribute},
                                  {"op", op},
                                  {"value", c->clause.value},
                                  {"ignore_case", c->clause.ignore_case},
                                  {"all", c->all},
                                  {"transitive", c->transitive}});
    }
    filters.emplace_back(std::move(clauses));
  }
  return stable_hash(Value(std::move(filters)));
}

std::vector<std::string> ScopeFilter::attributes() const {
  std::vector<std::string> out;
  for (const auto& filter : filters_)
    for (const auto& c : filter)
      if (!c->clause.attribute.empty() && c->op != Op::member_of &&
          std::find(out.begin(), out.end(), c->clause.attribute) == out.end())
        out.push_back(c->clause.attribute);
  return out;
}

}  // namespace dirsync::scope
