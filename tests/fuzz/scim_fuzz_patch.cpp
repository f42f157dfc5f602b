// libFuzzer target: the scim endpoint's PATCH engine on a fixed user and
// group. Input is a JSON PatchOp body; it must be applied or refused with a
// ScimError (400), and a refused or applied patch must leave a resource that
// still serializes.
#include <cstdlib>
#include <dirsync/error.hpp>
#include <string_view>

#include "resource.hpp"
#include "scim_error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, unsigned long size) {
  using namespace dirsync;
  using namespace dirsync::scim;
  Value body;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // The endpoint refuses deeper bodies before parsing (parse_json recurses).
  if (!json_depth_within(text, 32)) return 0;
  try {
    body = parse_json(text);
  } catch (const Error&) {
    return 0;
  }
  static const Object user = parse_json(R"({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
      "userName":"a@x","active":true,"name":{"givenName":"A"},"emails":[{"value":"a@x","type":"work"}],
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"D"}})")
                                 .as_object();
  static const Object group =
      parse_json(R"({"displayName":"G","members":[{"value":"u1"},{"value":"u2"}]})").as_object();
  for (ResourceKind kind : {ResourceKind::user, ResourceKind::group}) {
    Object r = kind == ResourceKind::user ? user : group;
    try {
      apply_patch(r, body, kind);
    } catch (const ScimError& e) {
      if (e.status() != 400) std::abort();
    }
    (void)to_json(Value(r));
  }
  return 0;
}
