// Placeholder until the full operator set lands: EQUALS, NOT EQUALS, IS TRUE,
// IS FALSE, IS NULL, IS NOT NULL.
#include "scope/scope_filter.hpp"

namespace dirsync::scope {

class CompiledClause {
 public:
  Clause clause;
};

ScopeFilter ScopeFilter::compile(const std::vector<std::vector<Clause>>& filters) {
  ScopeFilter f;
  for (std::size_t i = 0; i < filters.size(); ++i) {
    std::vector<std::shared_ptr<const CompiledClause>> compiled;
    for (std::size_t j = 0; j < filters[i].size(); ++j) {
      const Clause& c = filters[i][j];
      static const char* known[] = {"EQUALS", "NOT EQUALS", "IS TRUE", "IS FALSE", "IS NULL", "IS NOT NULL"};
      bool ok = false;
      for (const char* k : known) ok |= c.op == k;
      if (!ok) throw ClauseError(i, j, "operator", "unknown operator '" + c.op + "'");
      auto cc = std::make_shared<CompiledClause>();
      cc->clause = c;
      compiled.push_back(cc);
    }
    f.filters_.push_back(std::move(compiled));
  }
  return f;
}

static bool clause_matches(const Clause& c, const Object& attributes) {
  const Value* v = lookup_path(attributes, c.attribute);
  if (c.op == "IS NULL") return !v || v->is_empty();
  if (c.op == "IS NOT NULL") return v && !v->is_empty();
  if (!v || v->is_empty()) return false;
  if (c.op == "IS TRUE") return v->is_bool() ? v->as_bool() : v->to_string() == "True" || v->to_string() == "true";
  if (c.op == "IS FALSE") return v->is_bool() ? !v->as_bool() : v->to_string() == "False" || v->to_string() == "false";
  bool eq = v->to_string() == c.value.to_string();
  return c.op == "EQUALS" ? eq : !eq;
}

bool ScopeFilter::matches(const Object& attributes, std::string_view, const Membership*) const {
  if (filters_.empty()) return true;
  for (const auto& filter : filters_) {
    bool all = true;
    for (const auto& c : filter) {
      if (!clause_matches(c->clause, attributes)) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

std::vector<std::string> ScopeFilter::attributes() const {
  std::vector<std::string> out;
  for (const auto& filter : filters_)
    for (const auto& c : filter) out.push_back(c->clause.attribute);
  return out;
}

}  // namespace dirsync::scope
