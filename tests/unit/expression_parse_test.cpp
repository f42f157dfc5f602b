// Syntax and error messages: each error carries the byte offset of the bad
// token, which the pipeline loader turns into file:line:column and a caret.
#include <catch2/catch.hpp>

#include "expression/expression.hpp"

using namespace dirsync;
using dirsync::expr::Expression;
using dirsync::expr::ParseError;

namespace {
struct Failure {
  std::size_t offset;
  std::string message;
};
Failure parse_error(std::string_view text) {
  try {
    Expression::parse(text);
  } catch (const ParseError& e) {
    CHECK(e.kind() == ErrorKind::config);
    return {e.offset(), e.what()};
  }
  FAIL("expected a parse error for: " << text);
  return {};
}
}  // namespace

TEST_CASE("literals, attributes and escapes") {
  CHECK(Expression::parse(R"("Company name: \"Contoso\"")").evaluate({}) ==
        std::optional<Value>(Value("Company name: \"Contoso\"")));
  CHECK(Expression::parse(R"("a\\b")").evaluate({}) == std::optional<Value>(Value("a\\b")));
  CHECK(Expression::parse(R"("\d+")").evaluate({}) == std::optional<Value>(Value("\\d+")));
  CHECK(Expression::parse("[ displayName ]").evaluate({{"displayName", "x"}}) ==
        std::optional<Value>(Value("x")));
  CHECK(Expression::parse("-42").evaluate({}) == std::optional<Value>(Value(-42)));
  CHECK(Expression::parse("  Join( \",\" ,\n [a] , [b] )  ").evaluate({{"a", "1"}, {"b", "2"}}) ==
        std::optional<Value>(Value("1,2")));
  CHECK(Expression::parse("Guid( )").text() == "Guid( )");
}

TEST_CASE("error: unknown function with did-you-mean") {
  auto f = parse_error(R"(Join(" ", ToLowr([a])))");
  CHECK(f.offset == 10);
  CHECK(f.message == "unknown function 'ToLowr'; did you mean 'ToLower'?");
  f = parse_error("join(\",\", [a])");
  CHECK(f.offset == 0);
  CHECK(f.message == "unknown function 'join'; did you mean 'Join'?");
  f = parse_error("Frobnicate([a])");
  CHECK(f.message == "unknown function 'Frobnicate'");
}

TEST_CASE("error: wrong arity names the function, expected and actual counts") {
  auto f = parse_error(R"(Append([a], Mid([b], 1)))");
  CHECK(f.offset == 12);
  CHECK(f.message == "function 'Mid' expects 3 arguments, got 2");
  CHECK(parse_error("Join([a])").message == "function 'Join' expects at least 2 arguments, got 1");
  CHECK(parse_error("ToLower()").message == "function 'ToLower' expects 1 or 2 arguments, got 0");
  CHECK(parse_error("InStr([a])").message == "function 'InStr' expects 2 to 4 arguments, got 1");
  CHECK(parse_error("Guid([a])").message == "function 'Guid' expects 0 arguments, got 1");
  CHECK(parse_error("Not()").message == "function 'Not' expects 1 argument, got 0");
  CHECK(parse_error(R"(Replace([a], "x", "y"))").message == "function 'Replace' expects 7 arguments, got 3");
  CHECK(parse_error(R"(Switch([a], "d", "k"))").message ==
        "function 'Switch' expects an even number of arguments (source, defaultValue, then key, value "
        "pairs), got 3");
}

TEST_CASE("error: unclosed string, bracket and parenthesis") {
  auto f = parse_error(R"(Join(" ", "abc))");
  CHECK(f.offset == 10);
  CHECK(f.message == "unterminated string literal (missing closing '\"')");
  f = parse_error(R"(Join(" ", [givenName, [sn]))");
  CHECK(f.offset == 10);
  CHECK(f.message.find("unclosed '['") == 0);
  f = parse_error(R"(Join(" ", [a])");
  CHECK(f.offset == 4);
  CHECK(f.message == "unclosed '(' of 'Join' (missing ')')");
  f = parse_error(R"(Join(" " [a]))");
  CHECK(f.offset == 9);
  CHECK(f.message == "expected ',' or ')' in the arguments of 'Join', found '['");
}

TEST_CASE("error: trailing tokens and empty input") {
  auto f = parse_error("[a] [b]");
  CHECK(f.offset == 4);
  CHECK(f.message == "unexpected '[' after the end of the expression");
  f = parse_error("ToLower([a]) extra");
  CHECK(f.offset == 13);
  CHECK(f.message == "unexpected 'extra' after the end of the expression");
  CHECK(parse_error("   ").message == "empty expression");
  CHECK(parse_error("[]").message == "empty attribute name");
  CHECK(parse_error("Join").message == "expected '(' after function name 'Join'");
  CHECK(parse_error("vbTextCompar").message == "unknown name 'vbTextCompar'; did you mean 'vbTextCompare'?");
  CHECK(parse_error("Join(\",\", )x").offset == 11);
}

TEST_CASE("error: bad regular expression and unknown group in Replace point at the argument") {
  auto f = parse_error(R"(Replace([a], , "(abc", , "x", , ))");
  CHECK(f.offset == 15);
  CHECK(f.message.find("invalid regular expression") == 0);
  f = parse_error(R"~(Replace([a], , "(?<x>a)", "y", "z", , ))~");
  CHECK(f.offset == 26);
  CHECK(f.message == "the regular expression has no group named 'y'");
  CHECK(parse_error(R"(Replace([a], , , , "z", , ))").message == "Replace needs oldValue or regexPattern");
  CHECK(parse_error(R"(Replace([a], , "(?<=a)b", , "z", , ))").message ==
        "invalid regular expression: look-behind assertions are not supported");
}

TEST_CASE("error: DateAdd interval, nesting of SelectUniqueValue, depth") {
  auto f = parse_error(R"(DateAdd("days", 1, Now()))");
  CHECK(f.offset == 8);
  CHECK(f.message == "unknown interval 'days' (expected yyyy, q, m, y, d, w, ww, h, n or s)");
  f = parse_error(R"(ToLower(SelectUniqueValue([a], [b])))");
  CHECK(f.offset == 8);
  CHECK(f.message == "SelectUniqueValue must be the outermost function");
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "ToLower(";
  deep += "[a]";
  for (int i = 0; i < 300; ++i) deep += ")";
  CHECK(parse_error(deep).message.find("nests deeper than") != std::string::npos);
}

TEST_CASE("evaluation errors are input errors naming the function") {
  auto e = Expression::parse(R"(Mid([a], [start], 2))");
  try {
    e.evaluate({{"a", "abc"}, {"start", "x"}});
    FAIL("expected an error");
  } catch (const Error& err) {
    CHECK(err.kind() == ErrorKind::input);
    CHECK(std::string(err.what()) == "Mid: start must be an integer, got 'x'");
  }
}

TEST_CASE("an expression is immutable and shareable across copies") {
  auto e = Expression::parse("ToUpper([a])");
  Expression copy = e;
  CHECK(copy.evaluate({{"a", "x"}}) == std::optional<Value>(Value("X")));
  CHECK(e.attributes() == std::vector<std::string>{"a"});
  CHECK(Expression::function_names().size() == 43);
}

TEST_CASE("error: unknown attribute against a known schema, with did-you-mean") {
  auto e = Expression::parse(R"(Join(" ", [givenName], [ surnme ], [name.familyName]))");
  CHECK_NOTHROW(e.check_attributes({"givenName", "surname", "surnme", "name"}));
  try {
    e.check_attributes({"givenName", "surname", "name"});
    FAIL("expected a parse error");
  } catch (const ParseError& err) {
    CHECK(err.offset() == 25);
    CHECK(std::string(err.what()) == "unknown attribute 'surnme'; did you mean 'surname'?");
  }
  CHECK_THROWS_WITH(Expression::parse("[x]").check_attributes({"mail"}), "unknown attribute 'x'");
}
