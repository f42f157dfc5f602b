// ScopeFilter::compile on generated clauses (known and mangled operator
// names, value lists, regexes, quantifiers): it must compile or throw
// ClauseError with indexes inside the input, and a compiled filter must
// evaluate without crashing.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>

#include "scope/scope_filter.hpp"

using namespace dirsync;

namespace {
const char* kOperators[] = {"&",
                            "!&",
                            "ENDS_WITH",
                            "EQUALS",
                            "NOT EQUALS",
                            "Greater_Than",
                            "Greater_Than_OR_EQUALS",
                            "Less_Than",
                            "Less_Than_OR_EQUALS",
                            "Includes",
                            "IS TRUE",
                            "IS FALSE",
                            "IS NULL",
                            "IS NOT NULL",
                            "REGEX MATCH",
                            "NOT REGEX MATCH",
                            "member_of",
                            "org_unit",
                            "starts with"};
const char* kAttributes[] = {"",        "department", "mail",        "n",
                             "enabled", "list",       "orgUnitPath", "name.givenName"};
const char* kQuantifiers[] = {"", "any", "all", "transitive", "direct"};

struct Groups : scope::Membership {
  bool is_member(std::string_view id, std::string_view group, bool transitive) const override {
    return transitive || id.size() == group.size();
  }
};

Value scalar(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0:
      return Value(in.ConsumeIntegral<std::int64_t>());
    case 1:
      return Value(in.ConsumeBool());
    case 2:
      return Value(in.ConsumeFloatingPoint<double>());
    default:
      return Value(in.ConsumeRandomLengthString(64));
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  std::vector<std::vector<scope::Clause>> filters(in.ConsumeIntegralInRange<std::size_t>(0, 3));
  for (auto& filter : filters) {
    filter.resize(in.ConsumeIntegralInRange<std::size_t>(0, 4));
    for (auto& c : filter) {
      c.attribute = in.PickValueInArray(kAttributes);
      c.op =
          in.ConsumeBool() ? std::string(in.PickValueInArray(kOperators)) : in.ConsumeRandomLengthString(24);
      int shape = in.ConsumeIntegralInRange(0, 2);
      if (shape == 1) c.value = scalar(in);
      if (shape == 2) {
        List l;
        for (int k = in.ConsumeIntegralInRange(0, 3); k > 0; --k) l.push_back(scalar(in));
        c.value = Value(std::move(l));
      }
      c.ignore_case = in.ConsumeBool();
      c.quantifier =
          in.ConsumeBool() ? std::string(in.PickValueInArray(kQuantifiers)) : in.ConsumeRandomLengthString(8);
      c.transitive = in.ConsumeBool();
    }
  }
  scope::ScopeFilter f;
  try {
    f = scope::ScopeFilter::compile(filters);
  } catch (const scope::ClauseError& e) {
    if (e.filter() >= filters.size() || e.clause() >= filters[e.filter()].size()) std::abort();
    return 0;
  }
  const Object objects[] = {
      Object{},
      Object{{"department", "Sales"},
             {"mail", "a@contoso.com"},
             {"n", 514},
             {"enabled", true},
             {"list", List{"x", 3, Value()}},
             {"orgUnitPath", "/Sales/EMEA"},
             {"name", Object{{"givenName", "Ann"}}}},
      Object{{"department", ""}, {"mail", List{}}, {"n", "12"}, {"enabled", "False"}, {"orgUnitPath", "/"}},
  };
  Groups groups;
  for (const Object& o : objects) {
    try {
      (void)f.matches(o, "u1", &groups);
      (void)f.matches(o, "u1", nullptr);
    } catch (const Error&) {  // member_of without a Membership
    }
  }
  return 0;
}
