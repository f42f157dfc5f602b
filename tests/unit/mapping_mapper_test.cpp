// Mapping semantics: Entra's mapping types (direct, constant, expression,
// none with a default), "apply: always | on_create", "default value if null"
// on creation only, and typed targets.
#include <catch2/catch.hpp>

#include "mapping/attribute_mapping.hpp"

using namespace dirsync;
using namespace dirsync::mapping;

namespace {
AttributeMapping direct(std::string target, std::string source, TargetType type = TargetType::any) {
  AttributeMapping m;
  m.target = std::move(target);
  m.kind = Kind::direct;
  m.source = std::move(source);
  m.type = type;
  return m;
}
AttributeMapping expression(std::string target, std::string_view text, TargetType type = TargetType::any) {
  AttributeMapping m;
  m.target = std::move(target);
  m.kind = Kind::expression;
  m.expression = expr::Expression::parse(text);
  m.type = type;
  return m;
}
AttributeMapping constant(std::string target, Value v, Apply apply = Apply::always) {
  AttributeMapping m;
  m.target = std::move(target);
  m.kind = Kind::constant;
  m.constant = std::move(v);
  m.apply = apply;
  return m;
}
}  // namespace

TEST_CASE("direct, constant and expression mappings") {
  Mapper mapper({direct("display_name", "displayName"), direct("given", "name.givenName"),
                 constant("role", "viewer"), expression("email", "Coalesce([mail], [userPrincipalName])")});
  Object src{
      {"displayName", "Ann Lee"}, {"name", Object{{"givenName", "Ann"}}}, {"userPrincipalName", "ann@x.com"}};
  Object out = mapper.map(src, true);
  CHECK(out ==
        Object{{"display_name", "Ann Lee"}, {"given", "Ann"}, {"role", "viewer"}, {"email", "ann@x.com"}});
  CHECK(mapper.source_attributes() ==
        std::vector<std::string>{"displayName", "name.givenName", "mail", "userPrincipalName"});
  CHECK(mapper.target_schema().size() == 4);
}

TEST_CASE("a missing direct source maps to null, which clears the target") {
  Mapper mapper({direct("office", "officeLocation")});
  Object out = mapper.map({}, false);
  REQUIRE(out.find("office"));
  CHECK(out.find("office")->is_null());
}

TEST_CASE("apply on_create mappings only run when creating") {
  Mapper mapper({constant("role", "viewer", Apply::on_create), direct("name", "displayName")});
  CHECK(mapper.map({{"displayName", "A"}}, true).find("role"));
  CHECK_FALSE(mapper.map({{"displayName", "A"}}, false).find("role"));
}

TEST_CASE("an update's mapping plus add_creation_only is the create's mapping") {
  AttributeMapping typed = direct("hired", "hireDate", TargetType::integer);
  Mapper mapper({constant("role", "viewer", Apply::on_create), direct("name", "displayName"),
                 expression("upper", "ToUpper([displayName])"), typed});
  REQUIRE(mapper.creation_only_adds());
  Object src{{"displayName", "Ann"}, {"hireDate", "2024"}};
  Object mapped = mapper.map(src, false);
  CHECK_FALSE(mapped.find("role"));
  mapper.add_creation_only(src, mapped);
  CHECK(mapped == mapper.map(src, true));  // the same entries; order aside
  CHECK(mapped.find("hired")->as_integer() == 2024);
}

TEST_CASE("creating maps twice when it differs by more than on_create attributes") {
  AttributeMapping create_only = direct("country", "country");
  create_only.default_value = "US";
  create_only.default_if_null = true;
  CHECK_FALSE(Mapper({create_only}).creation_only_adds());
  CHECK_FALSE(Mapper({expression("login", "SelectUniqueValue([a], [b])")}).creation_only_adds());
  AttributeMapping manager = direct("manager", "manager");
  manager.type = TargetType::reference;
  manager.apply = Apply::on_create;
  CHECK_FALSE(Mapper({manager}).creation_only_adds());
  manager.apply = Apply::always;
  CHECK(Mapper({manager, constant("role", "viewer", Apply::on_create)}).creation_only_adds());
}

TEST_CASE("default value: always, or with default_if_null only on creation") {
  AttributeMapping always = direct("dept", "department");
  always.default_value = "Unassigned";
  AttributeMapping create_only = direct("country", "country");
  create_only.default_value = "US";
  create_only.default_if_null = true;
  Mapper mapper({always, create_only});
  CHECK(mapper.map({}, true) == Object{{"dept", "Unassigned"}, {"country", "US"}});
  Object update = mapper.map({}, false);
  CHECK(update.find("dept")->as_string() == "Unassigned");
  CHECK(update.find("country")->is_null());
  CHECK(mapper.map({{"department", "Sales"}, {"country", "FR"}}, false) ==
        Object{{"dept", "Sales"}, {"country", "FR"}});
}

TEST_CASE("none with a default is a default-only mapping") {
  AttributeMapping m;
  m.target = "usageLocation";
  m.kind = Kind::none;
  m.default_value = "US";
  CHECK(Mapper({m}).map({}, true) == Object{{"usageLocation", "US"}});
}

TEST_CASE("IgnoreFlowIfNullOrEmpty leaves the attribute out entirely") {
  Mapper mapper({expression("dept", "IgnoreFlowIfNullOrEmpty([department])"), direct("id", "id")});
  Object out = mapper.map({{"id", "1"}}, false);
  CHECK_FALSE(out.find("dept"));
  CHECK(out.find("id"));
}

TEST_CASE("typed targets convert and normalise") {
  CHECK(convert(Value("TRUE"), TargetType::boolean) == Value(true));
  CHECK(convert(Value("no"), TargetType::boolean) == Value(false));
  CHECK(convert(Value(1), TargetType::boolean) == Value(true));
  CHECK(convert(Value(" 42 "), TargetType::integer) == Value(42));
  CHECK(convert(Value(42.0), TargetType::integer) == Value(42));
  CHECK(convert(Value(true), TargetType::integer) == Value(1));
  CHECK(convert(Value(true), TargetType::string) == Value("True"));
  CHECK(convert(Value(7), TargetType::string) == Value("7"));
  CHECK(convert(Value("2009-06-15T01:45:30-07:00"), TargetType::datetime) == Value("2009-06-15T08:45:30Z"));
  CHECK(convert(Value("3/16/2020 7:00:00 AM"), TargetType::datetime) == Value("2020-03-16T07:00:00Z"));
  CHECK(convert(Value("2021-06-30"), TargetType::datetime) == Value("2021-06-30T00:00:00Z"));
  CHECK(convert(Value("2021-06-30T10:00:00.1234567Z"), TargetType::datetime) ==
        Value("2021-06-30T10:00:00.1234567Z"));
  CHECK(convert(Value("a"), TargetType::list) == Value(List{"a"}));
  CHECK(convert(Value(List{"a", "b"}), TargetType::list) == Value(List{"a", "b"}));
  CHECK(convert(Value(Object{{"id", "m1"}, {"displayName", "Boss"}}), TargetType::reference) == Value("m1"));
  CHECK(convert(Value(List{Object{{"value", "u1"}}, "u2"}), TargetType::reference) ==
        Value(List{"u1", "u2"}));
  CHECK(convert(Value(), TargetType::integer).is_null());
}

TEST_CASE("conversion failures name the target attribute and the value") {
  Mapper mapper({direct("age", "age", TargetType::integer)});
  try {
    mapper.map({{"age", "forty"}}, true);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK(std::string(e.what()) == "target attribute 'age': cannot convert 'forty' to integer");
  }
  Mapper dates({direct("hired", "hireDate", TargetType::datetime)});
  CHECK_THROWS_WITH(dates.map({{"hireDate", "soon"}}, true),
                    Catch::StartsWith("target attribute 'hired': cannot convert 'soon' to date-time"));
  Mapper bad_expr({expression("x", "Mid([a], [b], 1)")});
  CHECK_THROWS_WITH(bad_expr.map({{"a", "abc"}, {"b", "z"}}, true),
                    "target attribute 'x': Mid: start must be an integer, got 'z'");
}

TEST_CASE("list targets from Split and multi-valued sources") {
  Mapper mapper({expression("groups", R"(Split([extensionAttribute5], ","))", TargetType::list),
                 direct("aliases", "proxyAddresses", TargetType::list)});
  Object out = mapper.map({{"extensionAttribute5", "A, B"}, {"proxyAddresses", "smtp:a@x"}}, true);
  CHECK(*out.find("groups") == Value(List{"A", "B"}));
  CHECK(*out.find("aliases") == Value(List{"smtp:a@x"}));
}

TEST_CASE("SelectUniqueValue asks the hook the runner provides") {
  Mapper mapper(
      {expression("upn", R"(SelectUniqueValue(Join("@", [a], "x.com"), Join("@", [b], "x.com")))")});
  expr::EvalHooks hooks;
  hooks.is_unique = [](const Value& v) { return v.as_string() != "ann@x.com"; };
  CHECK(mapper.map({{"a", "ann"}, {"b", "ann2"}}, true, &hooks) == Object{{"upn", "ann2@x.com"}});
  // On an update the current value would look taken by the object itself.
  CHECK_FALSE(mapper.map({{"a", "ann"}, {"b", "ann2"}}, false, &hooks).find("upn"));
}

TEST_CASE("target type names") {
  CHECK(target_type_from_string("date-time") == TargetType::datetime);
  CHECK(to_string(TargetType::reference) == "reference");
  CHECK_THROWS_AS(target_type_from_string("float"), std::invalid_argument);
}

TEST_CASE("fingerprint changes when a mapping changes") {
  Mapper a({direct("x", "a"), expression("y", "ToLower([b])")});
  Mapper same({direct("x", "a"), expression("y", "ToLower([b])")});
  Mapper other_expr({direct("x", "a"), expression("y", "ToUpper([b])")});
  Mapper other_type({direct("x", "a", TargetType::string), expression("y", "ToLower([b])")});
  CHECK(a.fingerprint() == same.fingerprint());
  CHECK(a.fingerprint() != other_expr.fingerprint());
  CHECK(a.fingerprint() != other_type.fingerprint());
}
