#include <catch2/catch.hpp>
#include <dirsync/error.hpp>
#include <dirsync/value.hpp>

#include <set>
#include <string>

using namespace dirsync;

TEST_CASE("json round trip keeps types and order") {
  Value v = parse_json(R"({"id":"1","n":3,"ok":true,"x":null,"l":[1,"a"],"o":{"k":"v"}})");
  REQUIRE(v.is_object());
  CHECK(to_json(v) == R"({"id":"1","n":3,"ok":true,"x":null,"l":[1,"a"],"o":{"k":"v"}})");
}

TEST_CASE("stable hash ignores key order") {
  CHECK(stable_hash(parse_json(R"({"a":1,"b":2})")) == stable_hash(parse_json(R"({"b":2,"a":1})")));
  CHECK(stable_hash(parse_json(R"({"a":1})")) != stable_hash(parse_json(R"({"a":2})")));
  CHECK(wide_hash(parse_json(R"({"a":1,"b":2})")) == wide_hash(parse_json(R"({"b":2,"a":1})")));
  CHECK(wide_hash(parse_json(R"({"a":1})")) != wide_hash(parse_json(R"({"a":2})")));
  const Object o = parse_json(R"({"b":[1,"x",null],"a":{"k":true}})").as_object();
  CHECK(stable_hash(o) == stable_hash(Value(o)));
  CHECK(wide_hash(o) == wide_hash(Value(o)));
}

TEST_CASE("stored hashes never change: FNV-1a over the canonical walk, and wide_hash's pinned values") {
  // State stores keep these values: a change here makes every link of every
  // existing store look changed. FNV-1a is recomputed by hand over the walk:
  // kind tag, 8-byte little-endian length, bytes; objects end with 0x1e.
  auto fnv = [](std::string_view bytes) {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
    return h;
  };
  auto text = [](std::string_view s) {
    std::string out(8, '\0');
    out[0] = char(s.size());
    return out + std::string(s);
  };
  const std::string walk = std::string(1, char(Value::Kind::object)) + text("a") +
                           std::string(1, char(Value::Kind::string)) + text("x") + "\x1e";
  const Value v = parse_json(R"({"a":"x"})");
  CHECK(stable_hash(v) == fnv(walk));
  CHECK(wide_hash(v) == 0xd0fa86dec89dd8edull);
  CHECK(wide_hash(parse_json(R"({"id":"c86eebe5-0339-46b4-8e5d-4f471c58dfff","accountEnabled":true,"n":[1,2.5]})")) ==
        0xd111f423a0c1d9aeull);
}

TEST_CASE("wide hash: every length and split of the bytes gives its own value") {
  // Words of eight bytes, a tail, and the total length: strings that only
  // differ in where a boundary falls, or in trailing zero bytes, differ.
  std::set<std::uint64_t> seen;
  std::string s;
  for (int n = 0; n < 40; ++n) {
    CHECK(seen.insert(wide_hash(Value(s))).second);
    s.push_back('\0');
  }
  CHECK(wide_hash(Value(List{Value("ab"), Value("c")})) != wide_hash(Value(List{Value("a"), Value("bc")})));
  CHECK(wide_hash(Value(List{Value("abcdefgh"), Value("")})) != wide_hash(Value(List{Value(""), Value("abcdefgh")})));
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

TEST_CASE("parse_json_items: the items of a page's list, with only the kept keys") {
  const std::string page = R"({"kind":"admin#directory#users","users":[
      {"id":"1","primaryEmail":"a@example.com","name":{"givenName":"A","fullName":"A B"},"etag":"\"x\"",
       "emails":[{"address":"a@example.com","primary":true}],"phones":[{"value":"+1"}]},
      "not an object",
      {"id":"2","primaryEmail":"b@example.com","suspended":true}
    ],"nextPageToken":"t"})";
  std::vector<Object> items;
  parse_json_items(page, "users", [](std::string_view k) { return k == "id" || k == "name" || k == "suspended"; },
                   [&](Object&& o) { items.push_back(std::move(o)); });
  REQUIRE(items.size() == 2);
  CHECK(items[0].size() == 2);
  CHECK(items[0].find("id")->as_string() == "1");
  CHECK(to_json(*items[0].find("name")) == R"({"givenName":"A","fullName":"A B"})");
  CHECK_FALSE(items[0].find("primaryEmail"));
  CHECK_FALSE(items[0].find("emails"));
  CHECK(items[1].find("suspended")->as_bool());

  items.clear();
  parse_json_items(page, "users", {}, [&](Object&& o) { items.push_back(std::move(o)); });
  REQUIRE(items.size() == 2);
  CHECK(items[0].size() == 6);  // every key when nothing is filtered
  CHECK(items[0].find("emails")->as_list().size() == 1);

  int calls = 0;
  parse_json_items(R"({"kind":"admin#directory#users","etag":"e"})", "users", {}, [&](Object&&) { ++calls; });
  CHECK(calls == 0);  // Google omits an empty list

  auto fails = [](const std::string& text) {
    try {
      parse_json_items(text, "users", {}, [](Object&&) {});
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::input);
      return true;
    }
    return false;
  };
  CHECK(fails(R"({"users":{"id":"1"}})"));           // not a list
  CHECK(fails(R"({"users":[{"id":"1","name":{)"));   // truncated
  CHECK(fails(R"({"users":[{"id":"1")" + std::string(200, ']') + "}"));
}
