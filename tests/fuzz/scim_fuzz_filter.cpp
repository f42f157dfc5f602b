// libFuzzer target: the scim endpoint's filter parser and evaluator, and its
// PATCH path parser. Any input must end in a parse result or a ScimError
// (400); anything else (another exception, a crash, unbounded recursion) is a bug.
#include <cstdlib>
#include <string_view>

#include "filter.hpp"

namespace {

const dirsync::Object& sample() {
  static const dirsync::Object user = dirsync::parse_json(R"({
    "id":"2819c223","externalId":"e1","userName":"bjensen@example.com","active":true,"loginCount":3,
    "name":{"givenName":"Barbara","familyName":"Jensen"},
    "emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"b@home.example","type":"home"}],
    "members":["plain", {"value":"x"}],
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ops","manager":{"value":"m1"}},
    "meta":{"lastModified":"2011-05-13T04:42:34.5Z"}})")
                                          .as_object();
  return user;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, unsigned long size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace dirsync::scim;
  try {
    auto filter = parse_filter(text);
    try {
      // The scan's text pre-check must never reject a resource the filter matches.
      static const std::string json = dirsync::to_json(dirsync::Value(sample()));
      if (matches(*filter, sample(), ResourceKind::user) && !contains_all_ci(json, required_text(*filter)))
        std::abort();
      (void)matches(*filter, sample(), ResourceKind::group);
    } catch (const ScimError& e) {
      if (e.status() != 400) std::abort();
    }
  } catch (const ScimError& e) {
    if (e.status() != 400) std::abort();
  }
  try {
    PatchPath p = parse_patch_path(text);
    if (p.filter) (void)matches_element(*p.filter, dirsync::Value("x"), ResourceKind::user, p.attr.attr);
  } catch (const ScimError& e) {
    if (e.status() != 400) std::abort();
  }
  return 0;
}
