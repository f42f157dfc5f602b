// Scoping filters: Entra's operators as documented in "Scoping users or
// groups to be provisioned with scoping filters"
// (define-conditional-rules-for-provisioning-user-accounts), plus DirSync's
// member_of, org_unit, value lists and list attributes.
#include "scope/scope_filter.hpp"

#include <catch2/catch.hpp>
#include <set>

using namespace dirsync;
using dirsync::scope::Clause;
using dirsync::scope::ClauseError;
using dirsync::scope::ScopeFilter;

namespace {
Clause clause(std::string attribute, std::string op, Value value = {}, bool ignore_case = false,
              std::string quantifier = {}) {
  return Clause{std::move(attribute), std::move(op), std::move(value), ignore_case, std::move(quantifier)};
}
bool match1(const Clause& c, const Object& o) { return ScopeFilter::compile({{c}}).matches(o); }

ClauseError compile_error(const std::vector<std::vector<Clause>>& filters) {
  try {
    ScopeFilter::compile(filters);
  } catch (const ClauseError& e) {
    CHECK(e.kind() == ErrorKind::config);
    return e;
  }
  FAIL("expected a ClauseError");
  return ClauseError(0, 0, "", "");
}

struct Groups : scope::Membership {
  std::set<std::pair<std::string, std::string>> direct, nested;
  bool is_member(std::string_view id, std::string_view group, bool transitive) const override {
    std::pair<std::string, std::string> key{std::string(id), std::string(group)};
    return direct.count(key) || (transitive && nested.count(key));
  }
};
}  // namespace

TEST_CASE("doc construction: New York, Engineering, employee id range, title not null") {
  // The documented example filter: four clauses ANDed.
  auto f = ScopeFilter::compile(
      {{clause("state", "EQUALS", "New York"), clause("department", "EQUALS", "Engineering"),
        clause("employeeId", "Greater_Than_OR_EQUALS", 1000000),
        clause("employeeId", "Less_Than_OR_EQUALS", 2000000), clause("jobTitle", "IS NOT NULL")}});
  Object o{
      {"state", "New York"}, {"department", "Engineering"}, {"employeeId", "1500000"}, {"jobTitle", "Dev"}};
  CHECK(f.matches(o));
  o.set("employeeId", 2500000);
  CHECK_FALSE(f.matches(o));
  o.set("employeeId", "1000000");
  CHECK(f.matches(o));
  o.set("jobTitle", "");
  CHECK_FALSE(f.matches(o));
}

TEST_CASE("filters are ORed, clauses ANDed, no filter means everything") {
  auto f =
      ScopeFilter::compile({{clause("department", "EQUALS", "Sales"), clause("accountEnabled", "IS TRUE")},
                            {clause("department", "EQUALS", "Support")}});
  CHECK(f.matches({{"department", "Sales"}, {"accountEnabled", true}}));
  CHECK_FALSE(f.matches({{"department", "Sales"}, {"accountEnabled", false}}));
  CHECK(f.matches({{"department", "Support"}}));
  CHECK_FALSE(f.matches({{"department", "HR"}}));
  CHECK(ScopeFilter::compile({}).matches({}));
  CHECK(ScopeFilter().empty());
  CHECK(f.attributes() == std::vector<std::string>{"department", "accountEnabled"});
}

TEST_CASE("doc EQUALS and NOT EQUALS are case-sensitive unless ignore_case") {
  Object o{{"department", "Sales"}};
  CHECK(match1(clause("department", "EQUALS", "Sales"), o));
  CHECK_FALSE(match1(clause("department", "EQUALS", "sales"), o));
  CHECK(match1(clause("department", "EQUALS", "sales", true), o));
  CHECK(match1(clause("department", "NOT EQUALS", "sales"), o));
  CHECK_FALSE(match1(clause("department", "NOT EQUALS", "sales", true), o));
  CHECK(match1(clause("n", "EQUALS", 5), {{"n", 5}}));
  CHECK(match1(clause("b", "EQUALS", "true"), {{"b", true}}));
}

TEST_CASE("doc: null or empty values make every clause false except IS NULL") {
  for (const Object& o : {Object{}, Object{{"x", ""}}, Object{{"x", nullptr}}, Object{{"x", List{}}}}) {
    for (const char* op : {"EQUALS", "NOT EQUALS", "ENDS_WITH", "Includes", "REGEX MATCH", "NOT REGEX MATCH",
                           "&", "!&", "Greater_Than", "Less_Than"})
      CHECK_FALSE(match1(clause("x", op, "a"), o));
    CHECK_FALSE(match1(clause("x", "IS TRUE"), o));
    CHECK_FALSE(match1(clause("x", "IS FALSE"), o));
    CHECK_FALSE(match1(clause("x", "IS NOT NULL"), o));
    CHECK(match1(clause("x", "IS NULL"), o));
  }
  CHECK_FALSE(match1(clause("x", "IS NULL"), {{"x", "v"}}));
}

TEST_CASE("doc ENDS_WITH and Includes") {
  Object o{{"mail", "Ann@Contoso.com"}};
  CHECK(match1(clause("mail", "ENDS_WITH", "@Contoso.com"), o));
  CHECK_FALSE(match1(clause("mail", "ENDS_WITH", "@contoso.com"), o));
  CHECK(match1(clause("mail", "ENDS_WITH", "@contoso.com", true), o));
  CHECK(match1(clause("mail", "Includes", "@Cont"), o));
  CHECK_FALSE(match1(clause("mail", "Includes", "@cont"), o));
  CHECK(match1(clause("mail", "STARTS_WITH", "Ann"), o));
}

TEST_CASE("doc Greater_Than family compares integers numerically") {
  Object o{{"employeeId", "900"}};
  CHECK(match1(clause("employeeId", "Greater_Than", 100), o));
  CHECK_FALSE(match1(clause("employeeId", "Greater_Than", 900), o));
  CHECK(match1(clause("employeeId", "Greater_Than_OR_EQUALS", "900"), o));
  CHECK(match1(clause("employeeId", "Less_Than", "1000"), o));  // numeric, not "900" > "1000" as text
  CHECK_FALSE(match1(clause("employeeId", "Less_Than_OR_EQUALS", 899), o));
  CHECK(match1(clause("hired", "Less_Than", "2024-01-01"), {{"hired", "2023-06-30"}}));
}

TEST_CASE("doc IS TRUE and IS FALSE read booleans and their text") {
  CHECK(match1(clause("accountEnabled", "IS TRUE"), {{"accountEnabled", true}}));
  CHECK(match1(clause("accountEnabled", "IS TRUE"), {{"accountEnabled", "True"}}));
  CHECK_FALSE(match1(clause("accountEnabled", "IS TRUE"), {{"accountEnabled", false}}));
  CHECK(match1(clause("accountEnabled", "IS FALSE"), {{"accountEnabled", "false"}}));
  CHECK_FALSE(match1(clause("accountEnabled", "IS FALSE"), {{"accountEnabled", "no"}}));
}

TEST_CASE("doc common scoping filters: REGEX MATCH and NOT REGEX MATCH") {
  Object in{{"userPrincipalName", "ann@domain.com"}}, out{{"userPrincipalName", "ann@other.com"}};
  CHECK(match1(clause("userPrincipalName", "REGEX MATCH", ".*\\@domain.com"), in));
  CHECK_FALSE(match1(clause("userPrincipalName", "REGEX MATCH", ".*\\@domain.com"), out));
  CHECK_FALSE(match1(clause("userPrincipalName", "NOT REGEX MATCH", ".*\\@domain.com"), in));
  CHECK(match1(clause("userPrincipalName", "NOT REGEX MATCH", ".*\\@domain.com"), out));
  auto worker = clause("workerID", "REGEX MATCH", "(1[0-9][0-9][0-9][0-9][0-9][0-9])");
  CHECK(match1(worker, {{"workerID", "1234567"}}));
  CHECK_FALSE(match1(worker, {{"workerID", "2234567"}}));
  CHECK(match1(clause("n", "REGEX MATCH", "([1-9][0-9])"), {{"n", 42}}));
  CHECK_FALSE(match1(clause("d", "REGEX MATCH", "^sales$"), {{"d", "Sales"}}));
  CHECK(match1(clause("d", "REGEX MATCH", "^sales$", true), {{"d", "Sales"}}));
  CHECK(match1(clause("d", "REGEX MATCH", "^(?<dept>S)"), {{"d", "Sales"}}));
}

TEST_CASE("& and !& : bit test on integers, containment on text") {
  CHECK(match1(clause("userAccountControl", "&", 2), {{"userAccountControl", 514}}));
  CHECK_FALSE(match1(clause("userAccountControl", "&", 2), {{"userAccountControl", 512}}));
  CHECK(match1(clause("userAccountControl", "!&", 2), {{"userAccountControl", "512"}}));
  CHECK(match1(clause("country", "&", "US,CA,MX"), {{"country", "CA"}}));
  CHECK(match1(clause("country", "!&", "US,CA,MX"), {{"country", "FR"}}));
}

TEST_CASE("operator spelling: any case, underscores or spaces") {
  Object o{{"n", 5}};
  for (const char* op : {"greater_than", "Greater Than", "GREATER_THAN", "greater-than", " Greater__Than "})
    CHECK(match1(clause("n", op, 4), o));
  CHECK(match1(clause("x", "is_not_null"), {{"x", "v"}}));
  CHECK(match1(clause("x", "ends with", "v"), {{"x", "v"}}));
}

TEST_CASE("value lists match any value; negated operators exclude every value") {
  Clause in = clause("department", "EQUALS", List{"Sales", "Support"});
  CHECK(match1(in, {{"department", "Support"}}));
  CHECK_FALSE(match1(in, {{"department", "HR"}}));
  Clause out = clause("department", "NOT EQUALS", List{"Sales", "Support"});
  CHECK(match1(out, {{"department", "HR"}}));
  CHECK_FALSE(match1(out, {{"department", "Sales"}}));
  CHECK(match1(clause("mail", "ENDS_WITH", List{"@a.com", "@b.com"}), {{"mail", "x@b.com"}}));
}

TEST_CASE("list attributes with quantifier any and all") {
  Object o{{"proxyAddresses", List{"smtp:a@contoso.com", "smtp:b@fabrikam.com"}}};
  CHECK(match1(clause("proxyAddresses", "ENDS_WITH", "@fabrikam.com"), o));
  CHECK(match1(clause("proxyAddresses", "ENDS_WITH", "@fabrikam.com", false, "any"), o));
  CHECK_FALSE(match1(clause("proxyAddresses", "ENDS_WITH", "@fabrikam.com", false, "all"), o));
  CHECK(
      match1(clause("proxyAddresses", "ENDS_WITH", List{"@fabrikam.com", "@contoso.com"}, false, "all"), o));
  CHECK_FALSE(match1(clause("proxyAddresses", "NOT EQUALS", "smtp:a@contoso.com"), o));  // it is in the list
  CHECK(match1(clause("proxyAddresses", "NOT EQUALS", "smtp:c@x.com"), o));
  CHECK(match1(clause("proxyAddresses", "IS NOT NULL"), o));
}

TEST_CASE("member_of asks the Membership, direct or transitive, by id or name") {
  Groups g;
  g.direct.insert({"u1", "g-sales"});
  g.nested.insert({"u2", "Sales Team"});
  auto direct = ScopeFilter::compile({{clause("", "member_of", List{"g-sales", "Sales Team"})}});
  CHECK(direct.needs_membership());
  CHECK(direct.matches({}, "u1", &g));
  CHECK_FALSE(direct.matches({}, "u2", &g));
  auto transitive = ScopeFilter::compile({{clause("", "member_of", "Sales Team", false, "transitive")}});
  CHECK(transitive.matches({}, "u2", &g));
  Clause flag = clause("", "MEMBER OF", "Sales Team");
  flag.transitive = true;
  CHECK(ScopeFilter::compile({{flag}}).matches({}, "u2", &g));
  CHECK_THROWS_WITH(direct.matches({}, "u1", nullptr), Catch::Contains("needs group membership"));
  CHECK(direct.attributes().empty());
  CHECK_FALSE(ScopeFilter::compile({{clause("a", "IS NULL")}}).needs_membership());
}

TEST_CASE("org_unit matches the OU and its sub-OUs on orgUnitPath") {
  auto f = ScopeFilter::compile({{clause("", "org_unit", "/Sales/")}});
  CHECK(f.matches({{"orgUnitPath", "/Sales"}}));
  CHECK(f.matches({{"orgUnitPath", "/Sales/EMEA/Paris"}}));
  CHECK_FALSE(f.matches({{"orgUnitPath", "/SalesOps"}}));
  CHECK_FALSE(f.matches({{"orgUnitPath", "/"}}));
  CHECK_FALSE(f.matches({}));
  CHECK(match1(clause("", "org_unit", "/"), {{"orgUnitPath", "/Anything"}}));
  CHECK(match1(clause("", "org_unit", "/sales", true), {{"orgUnitPath", "/Sales/EMEA"}}));
  CHECK(match1(clause("ou", "org_unit", "Sales"), {{"ou", "/Sales"}}));
  CHECK(f.attributes() == std::vector<std::string>{"orgUnitPath"});
}

TEST_CASE("errors: unknown operator with did-you-mean, missing value, bad regex, bad quantifier") {
  auto e = compile_error({{clause("a", "IS NULL")}, {clause("a", "IS NULL"), clause("b", "EQUAL", "x")}});
  CHECK(e.filter() == 1);
  CHECK(e.clause() == 1);
  CHECK(e.field() == "operator");
  CHECK(std::string(e.what()) == "unknown operator 'EQUAL'; did you mean 'EQUALS'?");
  e = compile_error({{clause("a", "greater_thn", 1)}});
  CHECK(std::string(e.what()) == "unknown operator 'greater_thn'; did you mean 'Greater_Than'?");
  e = compile_error({{clause("a", "EQUALS")}});
  CHECK(e.field() == "value");
  CHECK(std::string(e.what()) == "operator 'EQUALS' needs a value");
  e = compile_error({{clause("a", "REGEX MATCH", "([a-z")}});
  CHECK(e.field() == "value");
  CHECK(std::string(e.what()).find("bad regular expression '([a-z'") == 0);
  e = compile_error({{clause("a", "EQUALS", "x", false, "most")}});
  CHECK(e.field() == "quantifier");
  CHECK(std::string(e.what()) == "unknown quantifier 'most' (expected any or all)");
  e = compile_error({{clause("", "EQUALS", "x")}});
  CHECK(e.field() == "attribute");
  e = compile_error({{clause("a", "EQUALS", List{"x", List{"y"}})}});
  CHECK(e.field() == "value");
  e = compile_error({{clause("a", "")}});
  CHECK(std::string(e.what()) == "missing operator");
}

TEST_CASE("fingerprint changes with meaning, not with operator spelling") {
  auto a = ScopeFilter::compile({{clause("d", "Greater_Than", 5)}});
  auto b = ScopeFilter::compile({{clause("d", "greater than", 5)}});
  auto c = ScopeFilter::compile({{clause("d", "Greater_Than", 6)}});
  auto d = ScopeFilter::compile({{clause("d", "Greater_Than", 5, true)}});
  CHECK(a.fingerprint() == b.fingerprint());
  CHECK(a.fingerprint() != c.fingerprint());
  CHECK(a.fingerprint() != d.fingerprint());
  CHECK(ScopeFilter().fingerprint() != a.fingerprint());
}

TEST_CASE("dotted attribute paths read nested and primary values") {
  Value v = parse_json(
      R"({"name":{"givenName":"Ann"},"organizations":[{"department":"A"},{"department":"B","primary":true}]})");
  CHECK(match1(clause("name.givenName", "EQUALS", "Ann"), v.as_object()));
  CHECK(match1(clause("organizations.department", "EQUALS", "B"), v.as_object()));
  CHECK_FALSE(match1(clause("organizations.department", "EQUALS", "A"), v.as_object()));
  CHECK(match1(clause("name.familyName", "IS NULL"), v.as_object()));
}

TEST_CASE("beyond Entra: NOT ENDS_WITH, NOT STARTS_WITH, NOT Includes, IsMemberOf") {
  Object o{{"mail", "ann@contoso.com"}};
  CHECK_FALSE(match1(clause("mail", "NOT ENDS_WITH", "@contoso.com"), o));
  CHECK(match1(clause("mail", "NOT ENDS_WITH", List{"@fabrikam.com", "@example.com"}), o));
  CHECK(match1(clause("mail", "not starts with", "bob"), o));
  CHECK_FALSE(match1(clause("mail", "NOT Includes", "@"), o));
  CHECK_FALSE(match1(clause("none", "NOT Includes", "@"), o));  // null stays false
  Groups g;
  g.direct.insert({"u1", "g1"});
  CHECK(ScopeFilter::compile({{clause("", "IsMemberOf", "g1")}}).matches({}, "u1", &g));
}
