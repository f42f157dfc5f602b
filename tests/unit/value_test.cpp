#include <catch2/catch.hpp>
#include <dirsync/error.hpp>
#include <dirsync/value.hpp>

using namespace dirsync;

TEST_CASE("json round trip keeps types and order") {
  Value v = parse_json(R"({"id":"1","n":3,"ok":true,"x":null,"l":[1,"a"],"o":{"k":"v"}})");
  REQUIRE(v.is_object());
  CHECK(to_json(v) == R"({"id":"1","n":3,"ok":true,"x":null,"l":[1,"a"],"o":{"k":"v"}})");
}

TEST_CASE("stable hash ignores key order") {
  CHECK(stable_hash(parse_json(R"({"a":1,"b":2})")) == stable_hash(parse_json(R"({"b":2,"a":1})")));
  CHECK(stable_hash(parse_json(R"({"a":1})")) != stable_hash(parse_json(R"({"a":2})")));
}

TEST_CASE("lookup_path enters nested objects and primary list items") {
  Value v = parse_json(R"({"name":{"givenName":"Ann"},"organizations":[{"department":"A"},{"department":"B","primary":true}]})");
  CHECK(lookup_path(v.as_object(), "name.givenName")->as_string() == "Ann");
  CHECK(lookup_path(v.as_object(), "organizations.department")->as_string() == "B");
  CHECK(lookup_path(v.as_object(), "name.missing") == nullptr);
}

TEST_CASE("malformed json is an input error") {
  CHECK_THROWS_AS(parse_json("{\"a\":"), Error);
}

TEST_CASE("deeply nested json is refused, not a stack overflow") {
  std::string deep(100000, '[');
  CHECK_THROWS_AS(parse_json(deep), Error);
  std::string ok = std::string(30, '[') + std::string(30, ']');
  CHECK(parse_json(ok).is_list());
}
