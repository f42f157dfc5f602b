// Expression::parse on arbitrary text: it must either build a tree or throw
// ParseError with an offset inside the text, never crash or hang; a tree it
// builds must evaluate to a value or throw dirsync::Error.
#include <cstdio>
#include <cstdlib>

#include "expression/expression.hpp"

using namespace dirsync;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::optional<expr::Expression> e;
  try {
    e = expr::Expression::parse(text);
  } catch (const expr::ParseError& error) {
    if (error.offset() > size) {
      std::fprintf(stderr, "offset %zu past the end of %zu bytes\n", error.offset(), size);
      std::abort();
    }
    return 0;
  }
  static const Object object{
      {"givenName", "Zoë"},
      {"surname", "O'Brien"},
      {"mail", "zoe@contoso.com"},
      {"n", 42},
      {"date", "2021-08-24T10:00:00Z"},
      {"enabled", true},
      {"list", List{"a", "b", "a"}},
      {"name", Object{{"givenName", "Zoë"}}},
      {"appRoleAssignments", List{Object{{"displayName", "Admin"}, {"value", "admin"}}}},
  };
  expr::EvalHooks hooks;
  hooks.is_unique = [](const Value& v) { return v.to_string().size() % 2 == 0; };
  try {
    (void)e->evaluate(object, &hooks);
    (void)e->evaluate(Object{}, nullptr);
  } catch (const Error&) {
  }
  return 0;
}
