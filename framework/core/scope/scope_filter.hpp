// Scoping filters with Entra's semantics: clauses inside one filter are ANDed,
// filters are ORed; a null or empty attribute makes a clause false.
#pragma once

#include <cstdint>
#include <dirsync/error.hpp>
#include <dirsync/value.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dirsync::scope {

/// One clause as written in YAML; `op` is Entra's operator name
/// ("EQUALS", "IS TRUE", ...). `value` may be a list for multi-value operators.
struct Clause {
  std::string attribute;
  std::string op;
  Value value;
  bool ignore_case = false;
  std::string quantifier;  ///< "any" | "all" for list attributes; empty = any
  /// member_of only: also count membership through nested groups. The
  /// quantifier "transitive" says the same.
  bool transitive = false;
};

/// A clause that cannot be compiled (unknown operator, bad regex, missing
/// value). Indexes are 0-based; the loader maps them to YAML locations.
class ClauseError : public Error {
 public:
  ClauseError(std::size_t filter, std::size_t clause, std::string field, const std::string& message)
      : Error(ErrorKind::config, message), filter_(filter), clause_(clause), field_(std::move(field)) {}
  std::size_t filter() const { return filter_; }
  std::size_t clause() const { return clause_; }
  const std::string& field() const { return field_; }

 private:
  std::size_t filter_, clause_;
  std::string field_;
};

/// Answers group-membership clauses (member_of). The host implements it from
/// what the source and the state store know.
class Membership {
 public:
  virtual ~Membership() = default;
  virtual bool is_member(std::string_view object_id, std::string_view group, bool transitive) const = 0;
};

class CompiledClause;

class ScopeFilter {
 public:
  ScopeFilter() = default;
  /// Throws ClauseError.
  static ScopeFilter compile(const std::vector<std::vector<Clause>>& filters);

  /// No filters: everything is in scope.
  bool empty() const { return filters_.empty(); }
  bool matches(const Object& attributes, std::string_view object_id = {},
               const Membership* membership = nullptr) const;
  /// Source attributes the filters read.
  std::vector<std::string> attributes() const;
  /// Changes whenever the filters' meaning may change (operator spelling
  /// aside): a runner stores it and re-evaluates every object when it differs.
  std::uint64_t fingerprint() const;
  /// Some clause is member_of: matches() needs a Membership.
  bool needs_membership() const { return needs_membership_; }

 private:
  std::vector<std::vector<std::shared_ptr<const CompiledClause>>> filters_;
  bool needs_membership_ = false;
};

}  // namespace dirsync::scope
