// RFC 7644 filter grammar and evaluation of the scim source's endpoint.
#include <catch2/catch.hpp>

#include "filter.hpp"

#include <dirsync/value.hpp>

using namespace dirsync;
using namespace dirsync::scim;

namespace {

Object user() {
  return parse_json(R"({
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
    "id": "2819c223-7f76-453a-919d-413861904646",
    "externalId": "Ext-1",
    "userName": "Bjensen@Example.com",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "title": "Tour Guide",
    "active": true,
    "loginCount": 42,
    "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
               {"value": "babs@jensen.org", "type": "home"}],
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984", "department": "Tour Operations",
        "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}},
    "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34.5Z"}
  })").as_object();
}

bool eval(const std::string& filter, const Object& resource = user()) {
  return matches(*parse_filter(filter), resource, ResourceKind::user);
}

void expect_invalid(const std::string& filter) {
  INFO("filter: " << filter);
  try {
    auto f = parse_filter(filter);
    FAIL("parsed a malformed filter");
  } catch (const ScimError& e) {
    CHECK(e.status() == 400);
    CHECK(e.scim_type() == "invalidFilter");
  }
}

}  // namespace

TEST_CASE("scim filter: attribute operators") {
  CHECK(eval(R"(userName eq "bjensen@example.com")"));  // userName is caseExact=false
  CHECK_FALSE(eval(R"(userName eq "someone@example.com")"));
  CHECK(eval(R"(userName ne "someone@example.com")"));
  CHECK(eval(R"(title co "guide")"));
  CHECK(eval(R"(title sw "Tour")"));
  CHECK(eval(R"(title ew "Guide")"));
  CHECK_FALSE(eval(R"(title sw "Guide")"));
  CHECK(eval("title pr"));
  CHECK_FALSE(eval("nickName pr"));
  CHECK(eval(R"(userName gt "a")"));
  CHECK(eval(R"(userName lt "c")"));
  CHECK(eval(R"(userName ge "bjensen@example.com")"));
  CHECK(eval(R"(userName le "bjensen@example.com")"));
  CHECK(eval("loginCount gt 41"));
  CHECK_FALSE(eval("loginCount gt 42"));
  CHECK(eval("loginCount ge 42.0"));
  CHECK(eval("active eq true"));
  CHECK_FALSE(eval("active eq false"));
  CHECK(eval("nickName eq null"));
  CHECK(eval("title ne null"));
}

TEST_CASE("scim filter: attribute names and operators are case-insensitive") {
  CHECK(eval(R"(USERNAME EQ "BJENSEN@EXAMPLE.COM")"));
  CHECK(eval(R"(name.GIVENNAME Sw "bar")"));
  CHECK(eval(R"(urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen@example.com")"));
  CHECK(eval("TITLE PR AND Active Eq True"));
}

TEST_CASE("scim filter: case-exact attributes compare exactly") {
  CHECK(eval(R"(externalId eq "Ext-1")"));
  CHECK_FALSE(eval(R"(externalId eq "ext-1")"));
  CHECK_FALSE(eval(R"(id eq "2819C223-7F76-453A-919D-413861904646")"));
}

TEST_CASE("scim filter: logical operators, precedence and grouping") {
  CHECK(eval(R"(title pr and userName sw "bj")"));
  CHECK_FALSE(eval(R"(title pr and userName sw "x")"));
  CHECK(eval(R"(userName sw "x" or title pr)"));
  // and binds tighter than or: false or (true and true)
  CHECK(eval(R"(userName eq "x" or title pr and active eq true)"));
  // (false or true) and false
  CHECK_FALSE(eval(R"((userName eq "x" or title pr) and active eq false)"));
  CHECK(eval(R"(not (userName eq "x"))"));
  CHECK_FALSE(eval(R"(not(title pr))"));
  CHECK(eval(R"(((title pr)))"));
}

TEST_CASE("scim filter: multi-valued and complex attributes") {
  CHECK(eval(R"(emails co "jensen.org")"));
  CHECK(eval(R"(emails.value eq "babs@jensen.org")"));
  CHECK(eval(R"(emails.type eq "home")"));
  CHECK(eval(R"(emails[type eq "work" and value co "@example.com"])"));
  CHECK_FALSE(eval(R"(emails[type eq "home" and value co "@example.com"])"));
  CHECK(eval(R"(emails[type eq "work"].value eq "bjensen@example.com")"));
  CHECK_FALSE(eval(R"(emails[type eq "home"].value eq "bjensen@example.com")"));
  CHECK(eval(R"(emails[not (type eq "work")])"));
}

TEST_CASE("scim filter: enterprise extension attributes, qualified or not") {
  CHECK(eval(R"(urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984")"));
  CHECK(eval(R"(employeeNumber eq "701984")"));
  CHECK(eval(R"(urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d")"));
  CHECK(eval(R"(department co "operations")"));
}

TEST_CASE("scim filter: dateTime values compare as instants") {
  CHECK(eval(R"(meta.lastModified gt "2011-05-13T04:42:34Z")"));  // .5 s later, text order would disagree
  CHECK(eval(R"(meta.lastModified lt "2011-05-13T06:42:35+02:00")"));
  CHECK(eval(R"(meta.created eq "2010-01-23T04:56:22.000Z")"));
  CHECK_FALSE(eval(R"(meta.created gt "2010-01-23T04:56:22Z")"));
}

TEST_CASE("scim filter: forbidden comparisons are invalidFilter") {
  CHECK_THROWS_AS(eval("active gt true"), ScimError);
  CHECK_THROWS_AS(eval("loginCount co 4"), ScimError);
  CHECK_THROWS_AS(eval("title gt null"), ScimError);
}

TEST_CASE("scim filter: malformed filters are invalidFilter with an offset") {
  for (const char* bad : {"", "   ", "userName", "userName eq", R"(userName xx "a")", R"((userName eq "a")",
                          R"(userName eq "a)", R"(userName eq "a" and)", R"(emails[type eq "w")",
                          R"(not userName eq "a")", R"(a[b[c eq 1]])", R"(userName eq "a" extra)", R"(userName eq bare)",
                          R"(userName eq "a" or or title pr)", "urn:ietf:params:scim:schemas:core:2.0:User eq 1",
                          R"(user!Name eq "a")", R"(userName eq "bad \q escape")", R"(title pr))", "[", "]"}) {
    expect_invalid(bad);
  }
  try {
    parse_filter(R"(userName eq "a" extra)");
  } catch (const ScimError& e) {
    CHECK(std::string(e.what()).find("offset 16") != std::string::npos);
  }
}

TEST_CASE("scim filter: hostile nesting is refused, not a stack overflow") {
  expect_invalid(std::string(100000, '(') + "title pr" + std::string(100000, ')'));
  expect_invalid(std::string(50000, 'n') + "ot (");
  std::string nots;
  for (int i = 0; i < 10000; ++i) nots += "not (";
  expect_invalid(nots + "title pr");
}

TEST_CASE("scim filter: simple eq is recognised for index lookups") {
  auto eq = as_simple_eq(*parse_filter(R"(userName eq "X@y.com")"));
  REQUIRE(eq);
  CHECK(eq->attr == "userName");
  CHECK(eq->value == "X@y.com");
  CHECK_FALSE(as_simple_eq(*parse_filter(R"(userName eq "a" or userName eq "b")")));
  CHECK_FALSE(as_simple_eq(*parse_filter(R"(name.givenName eq "a")")));
  CHECK_FALSE(as_simple_eq(*parse_filter("loginCount eq 1")));
}

TEST_CASE("scim patch paths") {
  PatchPath p = parse_patch_path(R"(members[value eq "2819c223"])");
  CHECK(p.attr.attr == "members");
  REQUIRE(p.filter);
  CHECK(p.attr.sub.empty());

  p = parse_patch_path(R"(emails[type eq "work"].value)");
  CHECK(p.attr.attr == "emails");
  CHECK(p.attr.sub == "value");
  REQUIRE(p.filter);

  p = parse_patch_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager");
  CHECK(p.attr.urn == "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
  CHECK(p.attr.attr == "manager");

  p = parse_patch_path("name.givenName");
  CHECK(p.attr.attr == "name");
  CHECK(p.attr.sub == "givenName");
  CHECK_FALSE(p.filter);

  for (const char* bad : {"", "members[", R"(members[value eq "x")", "a.b.c", "name.givenName[type eq 1]", "a b",
                          R"(members[value eq "x"]extra)"}) {
    INFO("path: " << bad);
    try {
      parse_patch_path(bad);
      FAIL("parsed a malformed path");
    } catch (const ScimError& e) {
      CHECK(e.status() == 400);
      CHECK((e.scim_type() == "invalidPath" || e.scim_type() == "invalidFilter"));
    }
  }
}

TEST_CASE("scim filter: the scan pre-check never rejects a matching resource") {
  std::string json = to_json(Value(user()));
  for (const char* f : {R"(userName eq "BJENSEN@example.com")", R"(title co "guide" and emails[type eq "work"])",
                        R"(emails[type eq "work"].value eq "bjensen@example.com")", R"(department sw "tour")",
                        R"(meta.created eq "2010-01-23T04:56:22.000Z")", R"(userName eq "x" or title pr)",
                        R"(not (userName eq "x"))", R"(name.givenName ew "ARA" and active eq true)"}) {
    INFO(f);
    auto filter = parse_filter(f);
    REQUIRE(matches(*filter, user(), ResourceKind::user));
    CHECK(contains_all_ci(json, required_text(*filter)));
  }
  CHECK(required_text(*parse_filter(R"(title co "Guide" and userName sw "BJ")")) ==
        std::vector<std::string>{"guide", "bj"});  // longest first
  CHECK(required_text(*parse_filter(R"(title co "a" or userName sw "b")")).empty());
  CHECK(required_text(*parse_filter(R"(meta.created eq "2010-01-23T04:56:22Z")")).empty());
  CHECK_FALSE(contains_all_ci(json, {"nobody"}));
}
