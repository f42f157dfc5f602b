// The REST sink's pure parts: templates (escaping per context, typed whole
// values, dropped entries), JSON pointers, and the SCIM request builders.
#include <catch2/catch.hpp>

// Compiled in: the plugin is a loadable module, these files have no I/O.
#include "../../sinks/rest/scim.cpp"
#include "../../sinks/rest/template.cpp"

#include <random>

using namespace dirsync;
using namespace dirsync::rest;

namespace {

std::string body(const Value& spec, const Object& attributes) {
  Vars vars(&attributes);
  auto doc = BodyTemplate::parse(spec, "users.create.body").render(vars);
  return doc ? to_json(*doc) : "<none>";
}

}  // namespace

TEST_CASE("body templates JSON-escape quotes, backslashes, newlines and keep unicode") {
  Object attrs{{"name", Value("Ann \"The Boss\" O'Neil\\\nline2\ttab")}, {"city", Value("Zürich 東京 😀")}};
  std::string out = body(Value(Object{{"display", Value("{{name}}")}, {"where", Value("in {{city}}!")}}), attrs);
  CHECK(out == "{\"display\":\"Ann \\\"The Boss\\\" O'Neil\\\\\\nline2\\ttab\",\"where\":\"in Zürich 東京 😀!\"}");
  // And it parses back to the same values: the escaping is JSON's, not ad hoc.
  Value back = parse_json(out);
  CHECK(back.as_object().find("display")->as_string() == attrs.find("name")->as_string());
}

TEST_CASE("a string that is one placeholder keeps the value's JSON type") {
  Object attrs{{"active", Value(false)}, {"age", Value(42)}, {"tags", Value(List{Value("a"), Value("b")})},
               {"manager", Value()}};
  Value spec = Object{{"active", Value("{{active}}")},
                      {"age", Value("{{ age }}")},
                      {"tags", Value("{{tags}}")},
                      {"manager", Value("{{manager}}")},
                      {"text", Value("is {{active}}")},
                      {"fixed", Value(7)}};
  CHECK(body(spec, attrs) ==
        R"({"active":false,"age":42,"tags":["a","b"],"manager":null,"text":"is false","fixed":7})");
}

TEST_CASE("entries whose attributes the operation does not carry are left out") {
  Value spec = Object{{"email", Value("{{email}}")},
                      {"name", Value(Object{{"given", Value("{{given}}")}, {"family", Value("{{family}}")}})},
                      {"kind", Value("person")}};
  CHECK(body(spec, Object{{"given", Value("Ann")}}) == R"({"name":{"given":"Ann"},"kind":"person"})");
  CHECK(body(Value(Object{{"email", Value("{{email}}")}}), Object{}) == "<none>");
}

TEST_CASE("a body given as JSON text is parsed once; {{$attributes}} is the whole object") {
  Object attrs{{"email", Value("a@x.example")}, {"active", Value(true)}};
  CHECK(body(Value(R"({"user": {"mail": "{{email}}", "on": "{{active}}"}})"), attrs) ==
        R"({"user":{"mail":"a@x.example","on":true}})");
  CHECK(body(Value("{{$attributes}}"), attrs) == R"({"email":"a@x.example","active":true})");
  CHECK_THROWS_WITH(BodyTemplate::parse(Value("{\"a\": }"), "users.create.body"),
                    Catch::Contains("'users.create.body': not valid JSON"));
}

TEST_CASE("URL templates percent-encode every value unless raw") {
  Object attrs{{"email", Value("a b/c?d=e&f@x.example")}, {"name", Value("Zoë \"Q\"")}, {"path", Value("x/y")}};
  Vars vars(&attrs);
  vars.set("$id", Value("id/1"));
  auto url = [&](const std::string& text) { return TextTemplate::parse(text, "k").render(vars, Context::url); };
  CHECK(url("/users/{{$id}}?mail={{email}}") == "/users/id%2F1?mail=a%20b%2Fc%3Fd%3De%26f%40x.example");
  CHECK(url("/q?n={{name}}") == "/q?n=Zo%C3%AB%20%22Q%22");
  CHECK(url("/q?n={{name | url}}") == "/q?n=Zo%C3%AB%20%22Q%22");  // not encoded twice
  CHECK(url("/{{path | raw}}/{{email | lower | upper}}") == "/x/y/A%20B%2FC%3FD%3DE%26F%40X.EXAMPLE");
  CHECK(url("/missing/{{nope}}") == "/missing/");
}

TEST_CASE("header templates refuse line breaks; filters apply in order") {
  Object attrs{{"evil", Value("x\r\nX-Injected: 1")}, {"name", Value("Ann")}};
  Vars vars(&attrs);
  CHECK_THROWS_AS(TextTemplate::parse("{{evil}}", "h").render(vars, Context::header), ObjectFailure);
  CHECK(TextTemplate::parse("n={{name|upper}}", "h").render(vars, Context::header) == "n=ANN");
  CHECK(TextTemplate::parse("{{name | json}}", "h").render(vars, Context::body) == "\"Ann\"");
}

TEST_CASE("template errors name the config key") {
  CHECK_THROWS_WITH(TextTemplate::parse("/u/{{email", "users.update.url"),
                    Catch::Contains("'users.update.url'") && Catch::Contains("never closed"));
  CHECK_THROWS_WITH(TextTemplate::parse("/u/{{ | url}}", "users.update.url"), Catch::Contains("empty placeholder"));
  CHECK_THROWS_WITH(TextTemplate::parse("{{email | exec}}", "groups.create.body.x"),
                    Catch::Contains("'groups.create.body.x'") && Catch::Contains("unknown filter 'exec'"));
  CHECK_THROWS_WITH(BodyTemplate::parse(Value(Object{{"a", Value(List{Value("{{x|nope}}")})}}), "users.create.body"),
                    Catch::Contains("'users.create.body.a[0]'"));
}

TEST_CASE("JSON pointers follow RFC 6901") {
  Value doc = parse_json(R"({"data": {"items": [{"id": 7}, {"a/b": "s", "m~n": "t"}]}})");
  CHECK(to_json(*JsonPointer::parse("/data/items/0/id", "k").resolve(doc)) == "7");
  CHECK(JsonPointer::parse("/data/items/1/a~1b", "k").resolve(doc)->as_string() == "s");
  CHECK(JsonPointer::parse("/data/items/1/m~0n", "k").resolve(doc)->as_string() == "t");
  CHECK(JsonPointer::parse("/data/items/2", "k").resolve(doc) == nullptr);
  CHECK(JsonPointer::parse("/data/items/x", "k").resolve(doc) == nullptr);
  CHECK(JsonPointer::parse("", "k").resolve(doc) == &doc);
  CHECK_THROWS_WITH(JsonPointer::parse("data/id", "users.create.id_pointer"),
                    Catch::Contains("'users.create.id_pointer'"));
}

TEST_CASE("SCIM resources nest attribute paths, multi-valued filters and extensions") {
  Object attrs{{"userName", Value("ann@x.example")},
               {"name.givenName", Value("Ann")},
               {"name.familyName", Value("Lee")},
               {"emails[type eq \"work\"].value", Value("ann@x.example")},
               {"phoneNumbers[type eq \"mobile\"].value", Value("+1 555")},
               {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", Value("Sales")},
               {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", Value("mgr-id")},
               {"active", Value(true)},
               {"title", Value()}};
  CHECK(to_json(Value(scim::resource(ObjectType::user, attrs, {}))) ==
        R"({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",)"
        R"("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"userName":"ann@x.example",)"
        R"("name":{"givenName":"Ann","familyName":"Lee"},"emails":[{"type":"work","value":"ann@x.example"}],)"
        R"("phoneNumbers":[{"type":"mobile","value":"+1 555"}],)"
        R"("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales",)"
        R"("manager":{"value":"mgr-id"}},"active":true})");
  CHECK(to_json(Value(scim::resource(ObjectType::group, Object{{"displayName", Value("Eng")}}, {"u1", "u2"}))) ==
        R"({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Eng",)"
        R"("members":[{"value":"u1"},{"value":"u2"}]})");
}

TEST_CASE("SCIM patches replace changed attributes and remove cleared ones") {
  Object changed{{"name.givenName", Value("Bea")}, {"active", Value(false)}, {"title", Value()}};
  CHECK(to_json(scim::patch_message(scim::patch_operations(changed))) ==
        R"({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[)"
        R"({"op":"replace","path":"name.givenName","value":"Bea"},{"op":"replace","path":"active","value":false},)"
        R"({"op":"remove","path":"title"}]})");
  CHECK(to_json(scim::member_operation("add", {"a", "b", "c"}, 1, 3)) ==
        R"({"op":"add","path":"members","value":[{"value":"b"},{"value":"c"}]})");
}

TEST_CASE("SCIM equality filters escape quotes and backslashes (RFC 7644 3.4.2.2)") {
  CHECK(scim::equality_filter("userName", Value("o\"brien\\x@y")) == R"(userName eq "o\"brien\\x@y")");
  CHECK(scim::equality_filter("active", Value(true)) == "active eq true");
  CHECK(scim::equality_filter("emails[type eq \"work\"].value", Value("a@x")) ==
        R"(emails[type eq "work" and value eq "a@x"])");
}

TEST_CASE("SCIM: a refused value-path PATCH is redone by adding the missing elements whole") {
  List ops = scim::patch_operations(Object{{"emails[type eq \"work\"].value", Value("a@x.example")},
                                           {"phoneNumbers[type eq \"mobile\"].value", Value()},
                                           {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
                                            "addresses[type eq \"work\"].locality",
                                            Value("Oslo")},
                                           {"title", Value("CTO")}});
  auto fixed = scim::add_missing_elements(ops);
  REQUIRE(fixed);
  CHECK(to_json(Value(*fixed)) ==
        R"([{"op":"add","path":"emails","value":[{"type":"work","value":"a@x.example"}]},)"
        R"({"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:addresses",)"
        R"("value":[{"type":"work","locality":"Oslo"}]},{"op":"replace","path":"title","value":"CTO"}])");
  CHECK_FALSE(scim::add_missing_elements(scim::patch_operations(Object{{"title", Value("x")}})));
}

TEST_CASE("arbitrary template and pointer text either parses or is a config error, never anything else") {
  std::mt19937 rng(20261125);  // fixed seed: a failure reproduces
  const std::string alphabet = "{}|$ ab~/01\"\\\n";
  Object attrs{{"a", Value("x\"y")}, {"b", Value(List{Value(1)})}};
  Vars vars(&attrs);
  vars.set("$id", Value("i/d"));
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    for (std::size_t n = rng() % 24; n > 0; --n) text += alphabet[rng() % alphabet.size()];
    INFO(text);
    try {
      TextTemplate t = TextTemplate::parse(text, "k");
      for (Context c : {Context::url, Context::body}) (void)t.render(vars, c);
      try {
        (void)t.render(vars, Context::header);
      } catch (const ObjectFailure&) {
      }
      if (auto doc = BodyTemplate::parse(Value(text), "k").render(vars)) (void)to_json(*doc);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::config);
    }
    try {
      (void)JsonPointer::parse(text, "k").resolve(Value(attrs));
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::config);
    }
  }
}
