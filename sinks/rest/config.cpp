#include "config.hpp"

#include <dirsync/http_config.hpp>

#include <algorithm>
#include <cctype>

namespace dirsync::rest {

namespace {

[[noreturn]] void bad(const std::string& what) { throw Error(ErrorKind::config, "rest sink: " + what); }

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

const std::vector<std::string> kOperationKeys = {"method",     "url",  "headers", "body",         "success",
                                                 "id_pointer", "item", "results", "error_pointer", "batch_size"};

void check_keys(const Object& o, const std::string& where, const std::vector<std::string>& allowed) {
  for (const auto& [k, v] : o)
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      bad("unknown key '" + where + "." + k + "' (expected one of " + list + ")");
    }
}

std::string text(const Object& o, const char* key, const std::string& where, std::string fallback = {}) {
  const Value* v = o.find(key);
  if (!v || v->is_null()) return fallback;
  if (!v->is_string() && !v->is_integer() && !v->is_bool())
    bad("'" + where + "." + key + "' must be a string");
  return v->is_string() ? v->as_string() : text_of(*v);
}

std::vector<std::pair<std::string, TextTemplate>> header_templates(const Object& o, const std::string& where) {
  std::vector<std::pair<std::string, TextTemplate>> out;
  const Value* v = o.find("headers");
  if (!v || v->is_null()) return out;
  if (!v->is_object()) bad("'" + where + ".headers' must be a mapping of header names to templates");
  for (const auto& [name, value] : v->as_object())
    out.emplace_back(name, TextTemplate::parse(text_of(value), where + ".headers." + name));
  return out;
}

// The host resolves ${env:...} and ${file:...} only in top-level string keys;
// one inside a template would be sent as written, and is most likely a credential.
void reject_references(const Value& v, const std::string& where) {
  if (v.is_string() && (v.as_string().find("${env:") != std::string::npos ||
                        v.as_string().find("${file:") != std::string::npos))
    bad("'" + where + "' holds a secret reference, which is only resolved in top-level keys: put credentials in "
        "token, password, api_key or client_secret");
  if (v.is_object())
    for (const auto& [k, child] : v.as_object()) reject_references(child, where + "." + k);
  if (v.is_list())
    for (std::size_t i = 0; i < v.as_list().size(); ++i)
      reject_references(v.as_list()[i], where + "[" + std::to_string(i) + "]");
}

bool uses(const TextTemplate& t, std::string_view name) {
  auto names = t.names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

OpSpec parse_operation(const Object* type, const char* key, const std::string& where, Profile profile,
                       const char* default_method) {
  OpSpec op;
  op.name = where;
  op.method = default_method;
  op.id_pointer = JsonPointer::parse("/id", where);
  const Value* v = type ? type->find(key) : nullptr;
  if (profile == Profile::scim) {
    // Built-in requests; the keys are capability switches.
    if (v && !v->is_null() && !v->is_bool()) bad("'" + where + "' takes true or false in the scim profile");
    op.allowed = !v || v->is_null() || v->as_bool();
    return op;
  }
  if (!v || v->is_null()) return op;
  if (v->is_bool()) {
    if (v->as_bool()) bad("'" + where + "' needs an operation object (method, url, body...) in the generic profile");
    return op;
  }
  if (!v->is_object()) bad("'" + where + "' must be false or an operation object");
  const Object& o = v->as_object();
  check_keys(o, where, kOperationKeys);
  op.allowed = op.custom = true;
  op.method = upper(text(o, "method", where, default_method));
  std::string url = text(o, "url", where);
  if (url.empty()) bad("missing key '" + where + ".url'");
  op.url = TextTemplate::parse(url, where + ".url");
  op.headers = header_templates(o, where);
  if (const Value* body = o.find("body")) op.body = BodyTemplate::parse(*body, where + ".body");
  if (const Value* success = o.find("success")) {
    List codes = success->is_list() ? success->as_list() : List{*success};
    for (const Value& c : codes) {
      if (!c.is_integer() || c.as_integer() < 100 || c.as_integer() > 599)
        bad("'" + where + ".success' must list HTTP status codes, got " + to_json(c));
      op.success.push_back(static_cast<int>(c.as_integer()));
    }
  }
  op.id_pointer = JsonPointer::parse(text(o, "id_pointer", where, "/id"), where + ".id_pointer");
  op.per_member = uses(op.url, "$member");
  if (const Value* size = o.find("batch_size")) {
    if (!size->is_integer() || size->as_integer() < 1 || size->as_integer() > 1000)
      bad("'" + where + ".batch_size' must be an integer from 1 to 1000, got " + to_json(*size));
    op.batch_size = static_cast<std::size_t>(size->as_integer());
  }
  if (const Value* item = o.find("item")) op.item = BodyTemplate::parse(*item, where + ".item");
  if (op.batch_size > 1 && !op.item.defined())
    bad("'" + where + ".batch_size' is " + std::to_string(op.batch_size) + " but '" + where +
        ".item' (the per-object template) is missing");
  if (op.batch_size > 1 && std::string_view(key) != "create" && std::string_view(key) != "update" &&
      std::string_view(key) != "delete")
    bad("'" + where + ".batch_size': only create, update and delete can be batched");
  op.results = JsonPointer::parse(text(o, "results", where), where + ".results");
  op.error_pointer = JsonPointer::parse(text(o, "error_pointer", where, "/error"), where + ".error_pointer");
  return op;
}

LookupSpec parse_lookup(const Object* type, const std::string& where) {
  LookupSpec l;
  const Value* v = type ? type->find("lookup") : nullptr;
  if (!v || v->is_null() || (v->is_bool() && !v->as_bool())) return l;
  if (!v->is_object()) bad("'" + where + "' must be an object (url, results, id_pointer, key)");
  const Object& o = v->as_object();
  check_keys(o, where, {"method", "url", "headers", "results", "id_pointer", "key"});
  l.defined = true;
  l.method = upper(text(o, "method", where, "GET"));
  std::string url = text(o, "url", where);
  if (url.empty()) bad("missing key '" + where + ".url'");
  l.url = TextTemplate::parse(url, where + ".url");
  l.headers = header_templates(o, where);
  l.results = JsonPointer::parse(text(o, "results", where), where + ".results");
  l.id_pointer = JsonPointer::parse(text(o, "id_pointer", where, "/id"), where + ".id_pointer");
  l.key = text(o, "key", where);
  return l;
}

TypeSpec parse_type(const Settings& s, const char* key, Profile profile) {
  const Value* v = s.find(key);
  if (v && !v->is_null() && !v->is_object()) bad("'" + std::string(key) + "' must be a mapping");
  const Object* o = v && v->is_object() ? &v->as_object() : nullptr;
  std::string k = key;
  bool users = k == "users";
  if (o) reject_references(*v, k);
  if (o) {
    std::vector<std::string> allowed{"create", "update", "disable", "delete"};
    if (profile == Profile::scim) {
      allowed.insert(allowed.end(), {"path", "match_attribute"});
    } else {
      allowed.push_back("lookup");
      if (!users) allowed.insert(allowed.end(), {"members_add", "members_remove"});
    }
    check_keys(*o, k, allowed);
  }
  TypeSpec t;
  t.create = parse_operation(o, "create", k + ".create", profile, "POST");
  t.update = parse_operation(o, "update", k + ".update", profile, "PATCH");
  t.disable = parse_operation(o, "disable", k + ".disable", profile, "PATCH");
  t.remove = parse_operation(o, "delete", k + ".delete", profile, "DELETE");
  t.members_add = parse_operation(o, "members_add", k + ".members_add", profile, "POST");
  t.members_remove = parse_operation(o, "members_remove", k + ".members_remove", profile, "DELETE");
  t.lookup = parse_lookup(o, k + ".lookup");
  if (profile == Profile::scim) {
    t.path = o ? text(*o, "path", k, users ? "/Users" : "/Groups") : (users ? "/Users" : "/Groups");
    t.match_attribute = o ? text(*o, "match_attribute", k, users ? "userName" : "displayName")
                          : (users ? "userName" : "displayName");
    t.members_add.allowed = t.members_remove.allowed = t.update.allowed;
  } else {
    // Without its own object, disable is an update carrying the pipeline's disable.set attributes.
    bool disable_set = o && o->find("disable");
    if (!disable_set && t.update.allowed) {
      std::string name = t.disable.name;
      t.disable = t.update;
      t.disable.name = name;
    }
  }
  return t;
}

}  // namespace

bool OpSpec::succeeded(int status) const {
  if (success.empty()) return status >= 200 && status < 300;
  return std::find(success.begin(), success.end(), status) != success.end();
}

RestConfig RestConfig::from(const Settings& s) {
  RestConfig c;
  std::string profile = s.string("profile", "generic");
  if (profile == "generic") c.profile = Profile::generic;
  else if (profile == "scim") c.profile = Profile::scim;
  else bad("profile is '" + profile + "', expected generic or scim");

  c.base_url = s.string("base_url");
  while (!c.base_url.empty() && c.base_url.back() == '/') c.base_url.pop_back();
  if (!c.base_url.starts_with("http://") && !c.base_url.starts_with("https://"))
    bad("base_url '" + http::redact_url(c.base_url) + "' must start with http:// or https://");

  if (const Value* h = s.find("headers")) reject_references(*h, "headers");
  if (const Value* h = s.find("headers"); h && h->is_object())
    for (const auto& [name, value] : h->as_object()) c.headers.emplace_back(name, text_of(value));

  std::string auth = s.string("auth", "none");
  AuthConfig& a = c.auth;
  auto need = [&](const char* key, const std::string& value) {
    if (value.empty()) bad("auth: " + auth + " needs '" + key + "'");
  };
  if (auth == "none") {
    a.kind = AuthConfig::Kind::none;
  } else if (auth == "bearer") {
    a.kind = AuthConfig::Kind::bearer;
    need("token", a.token = s.string("token"));
  } else if (auth == "basic") {
    a.kind = AuthConfig::Kind::basic;
    need("username", a.username = s.string("username"));
    a.password = s.string("password");
  } else if (auth == "api_key") {
    a.kind = AuthConfig::Kind::api_key;
    a.api_key_header = s.string("api_key_header", "X-API-Key");
    need("api_key_header", a.api_key_header);
    need("api_key", a.api_key = s.string("api_key"));
  } else if (auth == "oauth2") {
    a.kind = AuthConfig::Kind::oauth2;
    need("token_url", a.token_url = s.string("token_url"));
    need("client_id", a.client_id = s.string("client_id"));
    need("client_secret", a.client_secret = s.string("client_secret"));
    a.scope = s.string("scope");
  } else {
    bad("auth is '" + auth + "', expected none, bearer, basic, api_key or oauth2");
  }

  std::int64_t rps = s.integer("requests_per_second", 0);
  if (rps < 0) bad("requests_per_second must be 0 (no ceiling) or more, got " + std::to_string(rps));
  c.requests_per_second = static_cast<double>(rps);
  std::int64_t concurrency = s.integer("concurrency", 4);
  if (concurrency < 1 || concurrency > 64) bad("concurrency must be between 1 and 64, got " + std::to_string(concurrency));
  c.concurrency = static_cast<int>(concurrency);
  std::int64_t members = s.integer("max_members_per_patch", 100);
  if (members < 1) bad("max_members_per_patch must be 1 or more, got " + std::to_string(members));
  c.max_members_per_patch = static_cast<std::size_t>(members);

  c.users = parse_type(s, "users", c.profile);
  c.groups = parse_type(s, "groups", c.profile);
  return c;
}

std::vector<ConfigField> config_schema() {
  using F = FieldType;
  std::vector<ConfigField> schema = {
      {"profile", F::string, false, false, "generic", "generic (templated requests) or scim (SCIM 2.0 client)"},
      {"base_url", F::string, true, false, "", "API root; relative operation URLs are appended to it"},
      {"auth", F::string, false, false, "none", "none, bearer, basic, api_key or oauth2 (client credentials)"},
      {"token", F::string, false, true, "", "auth: bearer: the bearer token"},
      {"username", F::string, false, false, "", "auth: basic: user name"},
      {"password", F::string, false, true, "", "auth: basic: password"},
      {"api_key_header", F::string, false, false, "X-API-Key", "auth: api_key: header that carries the key"},
      {"api_key", F::string, false, true, "", "auth: api_key: the key"},
      {"token_url", F::string, false, false, "", "auth: oauth2: token endpoint"},
      {"client_id", F::string, false, false, "", "auth: oauth2: client id"},
      {"client_secret", F::string, false, true, "", "auth: oauth2: client secret"},
      {"scope", F::string, false, false, "", "auth: oauth2: scope asked for"},
      {"headers", F::object, false, false, "", "extra headers for every request (not secret)"},
      {"requests_per_second", F::integer, false, false, "0",
       "ceiling on requests started per second, shared by all workers; 0 = none"},
      {"concurrency", F::integer, false, false, "4", "requests in flight at once within a batch (1-64)"},
      {"max_members_per_patch", F::integer, false, false, "100", "member values per membership request"},
      {"users", F::object, false, false, "",
       "user operations (create, update, disable, delete, lookup) or scim capability switches"},
      {"groups", F::object, false, false, "",
       "group operations (also members_add, members_remove) or scim capability switches"},
  };
  for (auto& f : http::config_fields()) schema.push_back(std::move(f));
  return schema;
}

}  // namespace dirsync::rest
