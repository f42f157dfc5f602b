#include "ldap_sink.hpp"

#include <dirsync/jwt.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace dirsync::ldap {

namespace {

/// A per-object failure: becomes that operation's OpResult, the batch goes on.
struct OpFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

const Value* find_ci(const Object& object, std::string_view key) {
  if (const Value* v = object.find(key)) return v;
  for (const auto& [k, v] : object)
    if (iequals(k, key)) return &v;
  return nullptr;
}

// ISO 8601 ("2024-05-06T07:08:09Z", "...+02:00", fractions dropped) to
// GeneralizedTime ("20240506070809Z"); anything else passes unchanged.
std::string to_generalized_time(const std::string& s) {
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ')) return s;
  std::string out;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return s;
    out += s[i];
  }
  std::size_t pos = 19;
  while (pos < s.size() && (s[pos] == '.' || std::isdigit(static_cast<unsigned char>(s[pos])))) ++pos;
  if (pos >= s.size() || s[pos] == 'Z') return out + "Z";
  if ((s[pos] == '+' || s[pos] == '-') && s.size() >= pos + 6) return out + s.substr(pos, 3) + s.substr(pos + 4, 2);
  return out + "Z";
}

struct Control {
  LDAPControl* ctrl = nullptr;
  ~Control() {
    if (ctrl) ldap_control_free(ctrl);
  }
};

// RFC 4527 post-read: the add response carries the new entry's id, saving a
// search per created object.
void make_postread(Control& c, const std::string& attribute) {
  BerElement* ber = ber_alloc_t(LBER_USE_DER);
  if (!ber) return;
  char* attrs[] = {const_cast<char*>(attribute.c_str()), nullptr};
  berval bv{0, nullptr};
  if (ber_printf(ber, "{v}", attrs) != -1 && ber_flatten2(ber, &bv, 0) != -1)
    ldap_control_create(LDAP_CONTROL_POST_READ, 0, &bv, 1, &c.ctrl);
  ber_free(ber, 1);
}

std::optional<std::string> parse_postread(LDAPControl** ctrls, const std::string& attribute) {
  LDAPControl* c = ldap_control_find(LDAP_CONTROL_POST_READ, ctrls, nullptr);
  if (!c) return std::nullopt;
  BerElement* ber = ber_init(&c->ldctl_value);
  if (!ber) return std::nullopt;
  std::optional<std::string> out;
  berval bv{0, nullptr};
  if (ber_scanf(ber, "{m{", &bv) != LBER_ERROR) {
    while (ber_scanf(ber, "{m", &bv) != LBER_ERROR) {
      BerVarray vals = nullptr;
      if (ber_scanf(ber, "[W]", &vals) == LBER_ERROR || !vals) break;
      if (iequals(std::string_view(bv.bv_val, bv.bv_len), attribute) && vals[0].bv_val)
        out = std::string(vals[0].bv_val, vals[0].bv_len);
      ber_bvarray_free(vals);
    }
  }
  ber_free(ber, 1);
  return out;
}

std::string to_hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// A hex id as a filter value: each byte escaped (RFC 4515 allows \xx for any byte).
std::optional<std::string> hex_to_filter(std::string_view hex) {
  if (hex.empty() || hex.size() % 2) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    if (!std::isxdigit(static_cast<unsigned char>(hex[i])) || !std::isxdigit(static_cast<unsigned char>(hex[i + 1])))
      return std::nullopt;
    out += '\\';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(hex[i])));
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(hex[i + 1])));
  }
  return out;
}

// Base64 (either alphabet) as sources export binary values; line breaks allowed.
std::optional<std::string> base64_decode(std::string_view in) {
  std::string compact;
  for (char c : in)
    if (c != '\n' && c != '\r' && c != ' ') compact += c;
  return http::base64url_decode(compact);
}

/// A NULL-terminated attribute list that owns its strings.
class AttrList {
 public:
  explicit AttrList(std::vector<std::string> names) : names_(std::move(names)) {
    for (auto& n : names_) ptrs_.push_back(n.data());
    ptrs_.push_back(nullptr);
  }
  AttrList(const AttrList&) = delete;
  AttrList& operator=(const AttrList&) = delete;
  char** data() { return ptrs_.data(); }

 private:
  std::vector<std::string> names_;
  std::vector<char*> ptrs_;
};

std::string join_some(const std::vector<std::string>& items, std::size_t limit = 5) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < limit; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > limit) out += ", ... (" + std::to_string(items.size()) + " in all)";
  return out;
}

class NullLogger : public Logger {
 public:
  void log(LogLevel, std::string_view) override {}
};
NullLogger null_logger;

}  // namespace

/// Owns the strings behind an LDAPMod array for one request.
class ModList {
 public:
  void add(int op, std::string type, std::vector<std::string> values) {
    auto item = std::make_unique<Item>();
    item->op = op;
    item->type = std::move(type);
    item->values = std::move(values);
    items_.push_back(std::move(item));
  }
  bool empty() const { return items_.empty(); }
  LDAPMod** build() {
    ptrs_.clear();
    for (auto& it : items_) {
      it->bvs.resize(it->values.size());
      it->bvp.clear();
      for (std::size_t i = 0; i < it->values.size(); ++i) {
        it->bvs[i].bv_len = it->values[i].size();
        it->bvs[i].bv_val = it->values[i].data();
        it->bvp.push_back(&it->bvs[i]);
      }
      it->bvp.push_back(nullptr);
      it->mod.mod_op = it->op | LDAP_MOD_BVALUES;
      it->mod.mod_type = it->type.data();
      it->mod.mod_bvalues = it->values.empty() ? nullptr : it->bvp.data();
      ptrs_.push_back(&it->mod);
    }
    ptrs_.push_back(nullptr);
    return ptrs_.data();
  }

 private:
  struct Item {
    int op = 0;
    std::string type;
    std::vector<std::string> values;
    std::vector<berval> bvs;
    std::vector<berval*> bvp;
    LDAPMod mod{};
  };
  std::vector<std::unique_ptr<Item>> items_;
  std::vector<LDAPMod*> ptrs_;
};


struct LdapSink::Pending {
  std::size_t index = 0;
  int msgid = 0;
  std::string dn;
  std::vector<std::string> extra_members;  // beyond the first chunk, added after the entry exists
};

// ------------------------------------------------------------- config ---

std::vector<ConfigField> config_schema() {
  using F = FieldType;
  return {
      {"url", F::string, true, false, "", "ldap://host[:port] or ldaps://host[:port]"},
      {"start_tls", F::boolean, false, false, "false", "upgrade an ldap:// connection with StartTLS"},
      {"tls_verify", F::boolean, false, false, "true", "verify the server certificate and host name"},
      {"tls_ca_file", F::string, false, false, "", "PEM file of CA certificates to trust (default: system store)"},
      {"bind_dn", F::string, false, false, "", "DN for the simple bind (empty: anonymous)"},
      {"bind_password", F::string, false, true, "", "password for the simple bind"},
      {"timeout", F::duration, false, false, "30s", "connect and per-operation timeout"},
      {"base_dn", F::string, true, false, "", "subtree searched for matching and for target ids"},
      {"id_attribute", F::string, false, false, "entryUUID",
       "attribute used as the stable target id (entryUUID; nsUniqueId on 389-DS)"},
      {"id_binary", F::boolean, false, false, "",
       "id_attribute holds bytes (AD objectGUID): ids are their hex; default true for objectGUID/objectSid"},
      {"binary_attributes", F::list, false, false, "",
       "attributes whose mapped values are base64 text, written as raw bytes (jpegPhoto, userCertificate;binary)"},
      {"user_dn", F::string, false, false, "", "DN template for users, e.g. uid={uid},ou=people,dc=example,dc=com"},
      // List defaults live in the code (the host reads default_value as scalar text).
      {"user_object_classes", F::list, false, false, "",
       "object classes of created users (default [top, person, organizationalPerson, inetOrgPerson])"},
      {"user_search_base", F::string, false, false, "", "base for matching users (default: base_dn)"},
      {"group_dn", F::string, false, false, "", "DN template for groups, e.g. cn={cn},ou=groups,dc=example,dc=com"},
      {"group_object_classes", F::list, false, false, "",
       "object classes of created groups (default [top, groupOfNames])"},
      {"group_search_base", F::string, false, false, "", "base for matching groups (default: base_dn)"},
      {"member_attribute", F::string, false, false, "member",
       "member (groupOfNames), uniqueMember (groupOfUniqueNames) or memberUid (posixGroup)"},
      {"member_uid_attribute", F::string, false, false, "uid",
       "with memberUid: the member entry's attribute whose value is written"},
      {"empty_group_member", F::string, false, false, "cn=nobody",
       "placeholder DN that keeps an empty groupOfNames valid (member is required)"},
      {"disable_action", F::string, false, false, "attributes",
       "attributes (set disable_attributes), move (to disabled_container) or delete"},
      {"disable_attributes", F::object, false, false, "",
       "attributes set on disable, e.g. {employeeType: disabled} or {nsAccountLock: 'TRUE'}"},
      {"disabled_container", F::string, false, false, "", "parent DN that disabled entries move under"},
      {"page_size", F::integer, false, false, "500", "paged-results page size for searches (RFC 2696)"},
      {"member_batch_size", F::integer, false, false, "1000", "member values per modify request"},
      {"pipeline_depth", F::integer, false, false, "64", "adds in flight at once during a batch"},
      {"find_preload_after", F::integer, false, false, "100",
       "after this many lookups of one match attribute, load all its values in one paged search (0: never)"},
  };
}

SinkConfig SinkConfig::from(const Settings& s) {
  SinkConfig c;
  c.connection.url = s.string("url");
  c.connection.start_tls = s.boolean("start_tls", false);
  c.connection.tls_verify = s.boolean("tls_verify", true);
  c.connection.tls_ca_file = s.string("tls_ca_file");
  c.connection.bind_dn = s.string("bind_dn");
  c.connection.bind_password = s.string("bind_password");
  c.connection.timeout_ms = s.duration_ms("timeout", 30000);
  if (c.connection.url.empty()) throw Error(ErrorKind::config, "ldap sink: 'url' is required, e.g. ldap://host:389");
  if (c.connection.url.rfind("ldaps://", 0) == 0 && c.connection.start_tls)
    throw Error(ErrorKind::config, "ldap sink: start_tls with an ldaps:// url; use one or the other");
  if (c.connection.timeout_ms <= 0)
    throw Error(ErrorKind::config, "ldap sink: timeout must be positive, got " +
                                       std::to_string(c.connection.timeout_ms) + "ms");
  c.base_dn = s.string("base_dn");
  if (c.base_dn.empty()) throw Error(ErrorKind::config, "ldap sink: 'base_dn' is required");
  c.id_attribute = s.string("id_attribute", "entryUUID");
  c.id_binary = s.boolean("id_binary", iequals(c.id_attribute, "objectGUID") || iequals(c.id_attribute, "objectSid"));
  c.binary_attributes = s.strings("binary_attributes");

  auto type = [&](const std::string& prefix, std::vector<std::string> classes) {
    TypeConfig t;
    std::string tmpl = s.string(prefix + "_dn");
    if (!tmpl.empty()) t.dn = DnTemplate(tmpl);
    t.object_classes = s.has(prefix + "_object_classes") ? s.strings(prefix + "_object_classes") : classes;
    if (t.object_classes.empty())
      throw Error(ErrorKind::config, "ldap sink: '" + prefix + "_object_classes' must name at least one class");
    t.search_base = s.string(prefix + "_search_base", c.base_dn);
    t.match_class = t.object_classes.back();  // the most specific, by convention listed last
    return t;
  };
  c.users = type("user", {"top", "person", "organizationalPerson", "inetOrgPerson"});
  c.groups = type("group", {"top", "groupOfNames"});

  c.member_attribute = s.string("member_attribute", "member");
  if (!iequals(c.member_attribute, "member") && !iequals(c.member_attribute, "uniqueMember") &&
      !iequals(c.member_attribute, "memberUid"))
    throw Error(ErrorKind::config, "ldap sink: member_attribute is '" + c.member_attribute +
                                       "'; expected member, uniqueMember or memberUid");
  c.member_uid_attribute = s.string("member_uid_attribute", "uid");
  c.empty_group_member = s.string("empty_group_member", "cn=nobody");

  std::string action = lower(s.string("disable_action", "attributes"));
  if (action == "attributes" || action == "set") {
    c.disable_action = DisableAction::attributes;
  } else if (action == "move") {
    c.disable_action = DisableAction::move;
  } else if (action == "delete" || action == "remove") {
    c.disable_action = DisableAction::remove;
  } else {
    throw Error(ErrorKind::config,
                "ldap sink: disable_action is '" + action + "'; expected attributes, move or delete");
  }
  if (const Value* v = s.find("disable_attributes"); v && v->is_object()) c.disable_attributes = v->as_object();
  c.disabled_container = s.string("disabled_container");
  if (c.disable_action == DisableAction::move && c.disabled_container.empty())
    throw Error(ErrorKind::config, "ldap sink: disable_action 'move' needs 'disabled_container'");
  c.page_size = static_cast<int>(std::clamp<std::int64_t>(s.integer("page_size", 500), 1, 100000));
  c.member_batch_size = static_cast<int>(std::clamp<std::int64_t>(s.integer("member_batch_size", 1000), 1, 100000));
  c.pipeline_depth = static_cast<int>(std::clamp<std::int64_t>(s.integer("pipeline_depth", 64), 1, 1024));
  c.find_preload_after = static_cast<int>(std::max<std::int64_t>(s.integer("find_preload_after", 100), 0));
  return c;
}

// --------------------------------------------------------------- sink ---

LdapSink::LdapSink(SinkConfig config, Logger* log)
    : config_(std::move(config)), log_(log ? log : &null_logger) {
  conn_ = std::make_unique<Connection>(config_.connection, log_);
  for (const auto& a : config_.binary_attributes) binary_.insert(lower(a));
}

LdapSink::~LdapSink() = default;

const TypeConfig& LdapSink::type_config(ObjectType type) const {
  return type == ObjectType::group ? config_.groups : config_.users;
}

bool LdapSink::uses_dn_members() const { return !iequals(config_.member_attribute, "memberUid"); }
bool LdapSink::needs_placeholder() const { return uses_dn_members() && !config_.empty_group_member.empty(); }

void LdapSink::prepare(const std::vector<TargetSchema>& schema) {
  for (const auto& s : schema) {
    if (type_config(s.type).dn.empty())
      throw Error(ErrorKind::config, std::string("ldap sink: the pipeline writes ") + std::string(to_string(s.type)) +
                                         "s but '" + (s.type == ObjectType::group ? "group_dn" : "user_dn") +
                                         "' is not set");
    for (const auto& [name, t] : s.attributes) {
      if (t == TargetType::reference) references_.insert({s.type, lower(name)});
      if (t == TargetType::datetime) datetimes_.insert({s.type, lower(name)});
    }
  }
  conn_->get();
  postread_ = conn_->supports_control(LDAP_CONTROL_POST_READ);
  permissive_ = conn_->supports_control(LDAP_CONTROL_X_PERMISSIVE_MODIFY);
}

std::vector<std::string> LdapSink::test_connection() {
  std::vector<std::string> lines;
  conn_->get();
  lines.push_back("connected to " + config_.connection.url +
                  (config_.connection.start_tls ? " with StartTLS" : "") + " and bound as '" +
                  (config_.connection.bind_dn.empty() ? std::string("anonymous") : config_.connection.bind_dn) + "'");
  std::vector<Resolved> found;
  int rc = search(config_.base_dn, LDAP_SCOPE_BASE, "(objectClass=*)", {"1.1"}, 1, found);
  if (rc != LDAP_SUCCESS)
    throw Error(rc == LDAP_INSUFFICIENT_ACCESS ? ErrorKind::auth : ErrorKind::config,
                "ldap sink: cannot read base_dn '" + config_.base_dn + "': " + conn_->describe(rc));
  lines.push_back("base_dn '" + config_.base_dn + "' exists");
  lines.push_back(std::string("server controls: paged results ") +
                  (conn_->supports_control(LDAP_CONTROL_PAGEDRESULTS) ? "yes" : "no") + ", post-read " +
                  (conn_->supports_control(LDAP_CONTROL_POST_READ) ? "yes" : "no") + ", permissive modify " +
                  (conn_->supports_control(LDAP_CONTROL_X_PERMISSIVE_MODIFY) ? "yes" : "no"));
  return lines;
}

std::vector<std::string> LdapSink::ldap_values(ObjectType type, const std::string& attribute, const Value& value) {
  std::vector<std::string> out;
  switch (value.kind()) {
    case Value::Kind::null:
      break;
    case Value::Kind::boolean:
      out.push_back(value.as_bool() ? "TRUE" : "FALSE");  // LDAP Boolean syntax
      break;
    case Value::Kind::list:
      for (const Value& v : value.as_list()) {
        auto more = ldap_values(type, attribute, v);
        out.insert(out.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
      }
      break;
    case Value::Kind::string: {
      const std::string& s = value.as_string();
      if (s.empty()) break;  // LDAP has no empty values for directory strings: "" means absent
      const auto key = std::make_pair(type, lower(attribute));
      if (binary_.count(lower(attribute))) {
        auto bytes = base64_decode(s);
        if (!bytes) throw OpFailed("attribute '" + attribute + "' is listed in binary_attributes but its value is not base64");
        out.push_back(std::move(*bytes));
      } else if (references_.count(key)) {
        out.push_back(dn_of(type, s));
      } else if (datetimes_.count(key)) {
        out.push_back(to_generalized_time(s));
      } else {
        out.push_back(s);
      }
      break;
    }
    default:
      out.push_back(value.to_string());
  }
  return out;
}

std::string LdapSink::render_dn(const Operation& op) {
  const DnTemplate& tmpl = type_config(op.type).dn;
  if (tmpl.empty())
    throw OpFailed(std::string("no dn template for ") + std::string(to_string(op.type)) + "s (set " +
                   (op.type == ObjectType::group ? "group_dn" : "user_dn") + ")");
  std::string missing;
  auto dn = tmpl.render(
      [&](const std::string& name) -> std::optional<std::string> {
        const Value* v = find_ci(op.attributes, name);
        if (!v) return std::nullopt;
        auto vals = ldap_values(op.type, name, *v);
        if (vals.empty()) return std::nullopt;
        return vals.front();
      },
      &missing);
  if (!dn) throw OpFailed("dn template '" + tmpl.text() + "' needs attribute '" + missing + "', which is empty");
  return *dn;
}

// ------------------------------------------------------------- lookups ---

int LdapSink::search(const std::string& base, int scope, const std::string& filter,
                     const std::vector<std::string>& attributes, int limit, std::vector<Resolved>& out,
                     const berval* cookie, berval** next_cookie) {
  AttrList attrs(attributes);
  LDAPMessage* res = nullptr;
  int rc = conn_->call(
      [&](LDAP* ld) {
        if (res) ldap_msgfree(res);
        res = nullptr;
        Control page;
        if (next_cookie)
          ldap_create_page_control(ld, config_.page_size, const_cast<berval*>(cookie), 0, &page.ctrl);
        LDAPControl* ctrls[] = {page.ctrl, nullptr};
        return ldap_search_ext_s(ld, base.c_str(), scope, filter.c_str(), attrs.data(), 0,
                                 page.ctrl ? ctrls : nullptr, nullptr, nullptr, limit, &res);
      },
      "searching " + filter + " under '" + base + "'");
  LDAP* ld = conn_->get();
  for (LDAPMessage* e = ldap_first_entry(ld, res); e; e = ldap_next_entry(ld, e)) {
    Resolved r;
    char* dn = ldap_get_dn(ld, e);
    r.dn = dn ? dn : "";
    ldap_memfree(dn);
    for (const auto& a : attributes) {
      berval** vals = ldap_get_values_len(ld, e, a.c_str());
      for (int i = 0; vals && vals[i]; ++i) r.attributes[lower(a)].emplace_back(vals[i]->bv_val, vals[i]->bv_len);
      ldap_value_free_len(vals);
    }
    out.push_back(std::move(r));
  }
  if (next_cookie) {
    *next_cookie = nullptr;
    LDAPControl** rctrls = nullptr;
    if (res && ldap_parse_result(ld, res, nullptr, nullptr, nullptr, nullptr, &rctrls, 0) == LDAP_SUCCESS) {
      if (LDAPControl* pr = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, rctrls, nullptr)) {
        ber_int_t estimate = 0;
        berval next{0, nullptr};
        if (ldap_parse_pageresponse_control(ld, pr, &estimate, &next) == LDAP_SUCCESS && next.bv_len > 0)
          *next_cookie = ber_bvdup(&next);
        if (next.bv_val) ber_memfree(next.bv_val);
      }
      ldap_controls_free(rctrls);
    }
  }
  ldap_msgfree(res);
  return rc;
}

std::string LdapSink::id_of(const Resolved& entry) const {
  std::string raw = first_value(entry, config_.id_attribute);
  return config_.id_binary && !raw.empty() ? to_hex(raw) : raw;
}

std::string LdapSink::id_filter(const std::string& id) const {
  std::optional<std::string> value;
  if (config_.id_binary) value = hex_to_filter(id);
  return "(" + config_.id_attribute + "=" + (value ? *value : escape_filter_value(id)) + ")";
}

std::string LdapSink::first_value(const Resolved& entry, const std::string& attribute) {
  auto it = entry.attributes.find(lower(attribute));
  return it == entry.attributes.end() || it->second.empty() ? std::string() : it->second.front();
}

std::optional<LdapSink::Resolved> LdapSink::lookup_id(const std::string& id,
                                                      const std::vector<std::string>& attributes) {
  const std::string filter = id_filter(id);
  std::vector<Resolved> found;
  int rc = search(config_.base_dn, LDAP_SCOPE_SUBTREE, filter,
                  attributes.empty() ? std::vector<std::string>{"1.1"} : attributes, 2, found);
  if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED && rc != LDAP_NO_SUCH_OBJECT)
    throw OpFailed("search " + filter + " under '" + config_.base_dn + "': " + conn_->describe(rc));
  if (found.empty()) return std::nullopt;
  dn_cache_[id] = found.front().dn;
  return std::move(found.front());
}

std::string LdapSink::dn_of(ObjectType, const std::string& id) {
  if (id.empty()) throw OpFailed("empty target id");
  if (auto it = dn_cache_.find(id); it != dn_cache_.end()) return it->second;
  auto r = lookup_id(id, {});
  if (!r) throw OpFailed("no entry with " + config_.id_attribute + "=" + id + " under '" + config_.base_dn + "'");
  return r->dn;
}

std::optional<std::string> LdapSink::read_id(const std::string& dn) {
  std::vector<Resolved> found;
  int rc = search(dn, LDAP_SCOPE_BASE, "(objectClass=*)", {config_.id_attribute}, 1, found);
  if (rc != LDAP_SUCCESS || found.empty()) return std::nullopt;
  std::string id = id_of(found.front());
  if (id.empty()) return std::nullopt;
  return id;
}

void LdapSink::resolve_many(const std::vector<std::string>& ids, bool want_uid) {
  std::vector<std::string> todo;
  for (const auto& id : ids) {
    if (id.empty()) continue;
    if (want_uid ? !uid_cache_.count(id) : !dn_cache_.count(id)) todo.push_back(id);
  }
  std::sort(todo.begin(), todo.end());
  todo.erase(std::unique(todo.begin(), todo.end()), todo.end());
  // OR-filters of 100 ids keep requests small and each page within any server size limit.
  const std::size_t chunk = 100;
  for (std::size_t start = 0; start < todo.size(); start += chunk) {
    std::string filter = "(|";
    for (std::size_t i = start; i < std::min(todo.size(), start + chunk); ++i)
      filter += id_filter(todo[i]);
    filter += ")";
    std::vector<Resolved> found;
    int rc = search(config_.base_dn, LDAP_SCOPE_SUBTREE, filter, {config_.id_attribute, config_.member_uid_attribute},
                    LDAP_NO_LIMIT, found);
    if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT)
      throw OpFailed("resolving member ids under '" + config_.base_dn + "': " + conn_->describe(rc));
    for (const auto& entry : found) {
      std::string id = id_of(entry);
      if (id.empty()) continue;
      dn_cache_[id] = entry.dn;
      std::string uid = first_value(entry, config_.member_uid_attribute);
      if (!uid.empty()) uid_cache_[id] = uid;
    }
  }
}

std::vector<std::string> LdapSink::member_values(const std::vector<std::string>& ids, bool for_removal,
                                                 std::vector<std::string>& missing) {
  resolve_many(ids, !uses_dn_members());
  std::vector<std::string> out;
  out.reserve(ids.size());
  auto& cache = uses_dn_members() ? dn_cache_ : uid_cache_;
  for (const auto& id : ids) {
    auto it = cache.find(id);
    if (it != cache.end()) {
      out.push_back(it->second);
    } else if (!for_removal) {
      // A removed member whose entry is already gone needs no value delete.
      missing.push_back(id);
    }
  }
  return out;
}

// ------------------------------------------------------------- find ---

void LdapSink::paged_search(const std::string& base, const std::string& filter,
                            const std::vector<std::string>& attributes,
                            const std::function<void(const Resolved&)>& each) {
  berval* cookie = nullptr;
  do {
    std::vector<Resolved> found;
    berval* next = nullptr;
    int rc = search(base, LDAP_SCOPE_SUBTREE, filter, attributes, LDAP_NO_LIMIT, found, cookie, &next);
    if (cookie) ber_bvfree(cookie);
    cookie = next;
    if (rc == LDAP_NO_SUCH_OBJECT) break;
    if (rc != LDAP_SUCCESS) {
      if (cookie) ber_bvfree(cookie);
      throw Error(ErrorKind::read, "ldap sink: search " + filter + " under '" + base + "': " + conn_->describe(rc));
    }
    for (const auto& entry : found) each(entry);
  } while (cookie);
  if (cookie) ber_bvfree(cookie);
}

void LdapSink::FindIndex::insert(const std::string& value, const std::string& id) {
  std::string key = lower(value);
  by_value[key].emplace_back(value, id);
  by_id[id].push_back(std::move(key));
}

void LdapSink::FindIndex::erase(const std::string& id) {
  auto it = by_id.find(id);
  if (it == by_id.end()) return;
  for (const auto& key : it->second) {
    auto& list = by_value[key];
    list.erase(std::remove_if(list.begin(), list.end(), [&](const auto& p) { return p.second == id; }), list.end());
  }
  by_id.erase(it);
}

void LdapSink::index_written(ObjectType type, const std::string& id, const Object& attributes, bool removed) {
  for (auto& [key, index] : find_index_) {
    if (key.first != type || !index.loaded) continue;
    if (removed) {
      index.erase(id);
      continue;
    }
    const Value* v = find_ci(attributes, key.second);
    if (!v) continue;
    index.erase(id);
    for (const auto& text : ldap_values(type, key.second, *v)) index.insert(text, id);
  }
}

std::vector<std::string> LdapSink::find(ObjectType type, const std::string& attribute, const Value& value,
                                        bool ignore_case) {
  const Value* v = &value;
  if (value.is_list()) {
    if (value.as_list().empty()) return {};
    v = &value.as_list().front();
  }
  if (v->is_empty()) return {};
  const std::string wanted = v->is_bool() ? (v->as_bool() ? "TRUE" : "FALSE") : v->to_string();
  const TypeConfig& tc = type_config(type);
  const std::string match_class = "(objectClass=" + escape_filter_value(tc.match_class) + ")";
  std::vector<std::string> ids;
  auto collect = [&](const Resolved& entry) {
    std::string id = id_of(entry);
    if (id.empty()) return;
    dn_cache_[id] = entry.dn;
    ids.push_back(std::move(id));
  };

  // A first sync asks for every object: after enough single lookups, one
  // paged search of all (value, id) pairs beats a round trip per object.
  FindIndex& index = find_index_[{type, lower(attribute)}];
  if (!index.loaded && config_.find_preload_after > 0 && ++index.lookups > config_.find_preload_after) {
    paged_search(tc.search_base, "(&" + match_class + "(" + attribute + "=*))", {config_.id_attribute, attribute},
                 [&](const Resolved& entry) {
                   std::string id = id_of(entry);
                   if (id.empty()) return;
                   dn_cache_[id] = entry.dn;
                   if (auto it = entry.attributes.find(lower(attribute)); it != entry.attributes.end())
                     for (const auto& val : it->second) index.insert(val, id);
                 });
    index.loaded = true;
    log_->debug("ldap: loaded " + std::to_string(index.by_id.size()) + " " + attribute +
                " values for matching in one paged search");
  }
  if (index.loaded) {
    if (auto it = index.by_value.find(lower(wanted)); it != index.by_value.end())
      for (const auto& [val, id] : it->second)
        if (ignore_case || val == wanted) ids.push_back(id);
    return ids;
  }

  // The server's matching rule decides case: most naming attributes are
  // caseIgnore, so a case-sensitive match is checked again here.
  paged_search(tc.search_base, "(&" + match_class + "(" + attribute + "=" + escape_filter_value(wanted) + "))",
               {config_.id_attribute, attribute}, [&](const Resolved& entry) {
                 if (!ignore_case) {
                   auto it = entry.attributes.find(lower(attribute));
                   if (it == entry.attributes.end() ||
                       std::find(it->second.begin(), it->second.end(), wanted) == it->second.end())
                     return;
                 }
                 collect(entry);
               });
  return ids;
}

// ------------------------------------------------------------- writes ---

int LdapSink::modify_rc(const std::string& dn, ModList& mods, const std::string& what, bool permissive) {
  Control ctrl;
  if (permissive) ldap_control_create(LDAP_CONTROL_X_PERMISSIVE_MODIFY, 0, nullptr, 0, &ctrl.ctrl);
  LDAPControl* ctrls[] = {ctrl.ctrl, nullptr};
  return conn_->call(
      [&](LDAP* ld) {
        return ldap_modify_ext_s(ld, dn.c_str(), mods.build(), ctrl.ctrl ? ctrls : nullptr, nullptr);
      },
      what);
}

void LdapSink::modify(const std::string& dn, ModList& mods, const std::string& what, bool permissive) {
  if (mods.empty()) return;
  int rc = modify_rc(dn, mods, what, permissive);
  if (rc != LDAP_SUCCESS) throw OpFailed(what + " " + dn + ": " + conn_->describe(rc));
}

ModList LdapSink::attribute_mods(ObjectType type, const Object& attributes, bool skip_empty) {
  ModList mods;
  for (const auto& [name, value] : attributes) {
    auto vals = ldap_values(type, name, value);
    if (vals.empty() && skip_empty) continue;
    // Replace with no values deletes the attribute and, unlike delete, does
    // not fail when it is already absent.
    mods.add(LDAP_MOD_REPLACE, name, std::move(vals));
  }
  return mods;
}

void LdapSink::write_attributes(ObjectType type, const std::string& dn, const Object& attributes, bool skip_empty) {
  ModList mods = attribute_mods(type, attributes, skip_empty);
  modify(dn, mods, "modify");
}

bool LdapSink::pipelinable(const Operation& op) const {
  if (op.kind == OpKind::create) return true;
  if (op.kind != OpKind::update || op.attributes.empty() || !dn_cache_.count(op.target_id)) return false;
  if (!op.members_add.empty() || !op.members_remove.empty()) return false;
  const DnTemplate& tmpl = type_config(op.type).dn;
  for (const auto& [name, value] : op.attributes)
    if (tmpl.uses(name)) return false;  // a rename: modrdn first, synchronously
  return true;
}

void LdapSink::submit(std::span<const Operation> ops, std::size_t index, std::vector<Pending>& inflight) {
  const Operation& op = ops[index];
  Pending p;
  p.index = index;
  ModList mods;
  Control postread;
  if (op.kind == OpKind::create) {
    p.dn = render_dn(op);
    mods.add(LDAP_MOD_ADD, "objectClass", type_config(op.type).object_classes);
    for (const auto& [name, value] : op.attributes) {
      auto vals = ldap_values(op.type, name, value);
      if (!vals.empty()) mods.add(LDAP_MOD_ADD, name, std::move(vals));
    }
    if (op.type == ObjectType::group) {
      std::vector<std::string> missing;
      auto members = member_values(op.members_add, false, missing);
      if (!missing.empty()) throw OpFailed("members not found by " + config_.id_attribute + ": " + join_some(missing));
      const std::size_t first = std::min<std::size_t>(members.size(), config_.member_batch_size);
      std::vector<std::string> now(members.begin(), members.begin() + static_cast<std::ptrdiff_t>(first));
      p.extra_members.assign(members.begin() + static_cast<std::ptrdiff_t>(first), members.end());
      if (now.empty() && needs_placeholder()) now.push_back(config_.empty_group_member);
      if (!now.empty()) mods.add(LDAP_MOD_ADD, config_.member_attribute, std::move(now));
    }
    if (postread_) make_postread(postread, config_.id_attribute);
  } else {
    p.dn = dn_cache_.at(op.target_id);
    mods = attribute_mods(op.type, op.attributes, false);
  }
  LDAPControl* ctrls[] = {postread.ctrl, nullptr};
  LDAPMod** array = mods.build();
  auto send = [&]() {
    if (op.kind == OpKind::create)
      return ldap_add_ext(conn_->get(), p.dn.c_str(), array, postread.ctrl ? ctrls : nullptr, nullptr, &p.msgid);
    return ldap_modify_ext(conn_->get(), p.dn.c_str(), array, nullptr, nullptr, &p.msgid);
  };
  int rc = send();
  if (is_connection_loss(rc)) {
    resubmit(ops, inflight);  // reconnects; requests in flight on the old connection are sent again
    rc = send();
  }
  if (is_connection_loss(rc))
    throw Error(ErrorKind::connection, "ldap sink: connection lost twice while writing " + p.dn);
  if (rc != LDAP_SUCCESS) throw OpFailed(std::string(op.kind == OpKind::create ? "add " : "modify ") + p.dn + ": " +
                                         conn_->describe(rc));
  inflight.push_back(std::move(p));
}

void LdapSink::resubmit(std::span<const Operation> ops, std::vector<Pending>& inflight) {
  if (resubmitting_)
    throw Error(ErrorKind::connection, "ldap sink: connection to " + config_.connection.url +
                                           " lost again while resending adds");
  resubmitting_ = true;
  struct Guard {
    bool& flag;
    ~Guard() { flag = false; }
  } guard{resubmitting_};
  try {
    conn_->reconnect();
  } catch (const Error& e) {
    throw Error(ErrorKind::connection,
                std::string("ldap sink: connection lost with adds in flight and reconnecting failed: ") + e.what());
  }
  if (inflight.empty()) return;
  // An add that the server applied before the drop comes back as "already
  // exists" and is adopted, and a replace is idempotent, so resending is safe.
  std::vector<Pending> old;
  old.swap(inflight);
  for (auto& p : old) {
    std::vector<Pending> tmp;
    submit(ops, p.index, tmp);
    inflight.insert(inflight.end(), std::make_move_iterator(tmp.begin()), std::make_move_iterator(tmp.end()));
  }
}

void LdapSink::reap_one(std::span<const Operation> ops, std::span<OpResult> results, std::vector<Pending>& inflight) {
  LDAP* ld = conn_->get();
  timeval tv{conn_->timeout_ms() / 1000, (conn_->timeout_ms() % 1000) * 1000};
  LDAPMessage* msg = nullptr;
  int type = ldap_result(ld, LDAP_RES_ANY, LDAP_MSG_ALL, &tv, &msg);
  if (type == 0) {
    throw Error(ErrorKind::connection, "ldap sink: no answer from " + config_.connection.url + " within " +
                                           std::to_string(conn_->timeout_ms()) + "ms");
  }
  if (type < 0) {
    if (msg) ldap_msgfree(msg);
    resubmit(ops, inflight);
    return;
  }
  const int msgid = ldap_msgid(msg);
  auto it = std::find_if(inflight.begin(), inflight.end(), [&](const Pending& p) { return p.msgid == msgid; });
  if (it == inflight.end()) {
    ldap_msgfree(msg);
    return;
  }
  Pending p = std::move(*it);
  inflight.erase(it);
  int err = LDAP_OTHER;
  char* diag = nullptr;
  LDAPControl** ctrls = nullptr;
  int rc = ldap_parse_result(ld, msg, &err, nullptr, &diag, nullptr, &ctrls, 1);
  if (rc != LDAP_SUCCESS) err = rc;
  std::string detail = ldap_err2string(err);
  if (diag && *diag) detail += std::string(": ") + diag;
  if (diag) ldap_memfree(diag);
  std::optional<std::string> id;
  if (err == LDAP_SUCCESS && ctrls) id = parse_postread(ctrls, config_.id_attribute);
  if (id && config_.id_binary) id = to_hex(*id);
  ldap_controls_free(ctrls);
  const Operation& op = ops[p.index];
  if (op.kind != OpKind::create) {
    if (err == LDAP_SUCCESS) {
      index_written(op.type, op.target_id, op.attributes, false);
      results[p.index] = OpResult{true, op.target_id, {}};
    } else {
      results[p.index] = OpResult{false, op.target_id, "modify " + p.dn + ": " + detail};
    }
    return;
  }
  try {
    results[p.index] = finish_create(op, p.dn, err, detail, id);
    if (results[p.index].ok && !p.extra_members.empty()) {
      for (std::size_t start = 0; start < p.extra_members.size();
           start += static_cast<std::size_t>(config_.member_batch_size)) {
        auto end = std::min(p.extra_members.size(), start + static_cast<std::size_t>(config_.member_batch_size));
        ModList m;
        m.add(LDAP_MOD_ADD, config_.member_attribute,
              std::vector<std::string>(p.extra_members.begin() + static_cast<std::ptrdiff_t>(start),
                                       p.extra_members.begin() + static_cast<std::ptrdiff_t>(end)));
        modify(p.dn, m, "add members to", permissive_);
      }
    }
  } catch (const OpFailed& e) {
    results[p.index] = OpResult{false, results[p.index].target_id, e.what()};
  }
}

void LdapSink::drain(std::span<const Operation> ops, std::span<OpResult> results, std::vector<Pending>& inflight) {
  while (!inflight.empty()) reap_one(ops, results, inflight);
}

OpResult LdapSink::finish_create(const Operation& op, const std::string& dn, int rc, const std::string& detail,
                                 std::optional<std::string> id) {
  if (rc == LDAP_ALREADY_EXISTS) return adopt(op, dn);
  if (rc != LDAP_SUCCESS) return OpResult{false, {}, "add " + dn + ": " + detail};
  if (!id) id = read_id(dn);
  if (!id) return OpResult{false, {}, "added " + dn + " but cannot read its " + config_.id_attribute};
  dn_cache_[*id] = dn;
  index_written(op.type, *id, op.attributes, false);
  return OpResult{true, *id, {}};
}

OpResult LdapSink::adopt(const Operation& op, const std::string& dn) {
  auto id = read_id(dn);
  if (!id) return OpResult{false, {}, "add " + dn + ": already exists, but its " + config_.id_attribute +
                                          " cannot be read to adopt it"};
  dn_cache_[*id] = dn;
  write_attributes(op.type, dn, op.attributes, true);
  if (op.type == ObjectType::group && !op.members_add.empty()) {
    std::string problems;
    change_members(dn, op.members_add, {}, problems);
    if (!problems.empty()) return OpResult{false, *id, "adopted existing " + dn + " but " + problems};
  }
  index_written(op.type, *id, op.attributes, false);
  log_->info("ldap: " + dn + " already existed; adopted it as " + *id);
  return OpResult{true, *id, {}};
}

std::string LdapSink::rename_if_needed(const Operation& op, const std::string& dn) {
  const DnTemplate& tmpl = type_config(op.type).dn;
  bool touched = false;
  for (const auto& [name, value] : op.attributes)
    if (tmpl.uses(name)) touched = true;
  if (!touched || tmpl.empty()) return dn;

  std::vector<std::string> current_needed;
  for (const auto& a : tmpl.attributes())
    if (!find_ci(op.attributes, a)) current_needed.push_back(a);
  std::map<std::string, std::vector<std::string>> current;
  if (!current_needed.empty()) {
    std::vector<Resolved> found;
    int rc = search(dn, LDAP_SCOPE_BASE, "(objectClass=*)", current_needed, 1, found);
    if (rc != LDAP_SUCCESS || found.empty())
      throw OpFailed("read " + dn + " before rename: " + conn_->describe(rc));
    current = std::move(found.front().attributes);
  }
  std::string missing;
  auto new_dn = tmpl.render(
      [&](const std::string& name) -> std::optional<std::string> {
        if (const Value* v = find_ci(op.attributes, name)) {
          auto vals = ldap_values(op.type, name, *v);
          if (vals.empty()) return std::nullopt;
          return vals.front();
        }
        auto it = current.find(lower(name));
        if (it == current.end() || it->second.empty()) return std::nullopt;
        return it->second.front();
      },
      &missing);
  if (!new_dn) throw OpFailed("cannot rename " + dn + ": dn template needs '" + missing + "', which would be empty");

  auto [new_rdn, new_parent] = split_dn(*new_dn);
  auto [cur_rdn, cur_parent] = split_dn(dn);
  // A disabled entry stays in the disabled container until it is enabled.
  if (!config_.disabled_container.empty() &&
      normalize_dn(cur_parent) == normalize_dn(config_.disabled_container))
    new_parent = cur_parent;
  const bool move = normalize_dn(new_parent) != normalize_dn(cur_parent);
  if (!move && normalize_dn(new_rdn) == normalize_dn(cur_rdn)) return dn;
  int rc = conn_->call(
      [&](LDAP* ld) {
        return ldap_rename_s(ld, dn.c_str(), new_rdn.c_str(), move ? new_parent.c_str() : nullptr, 1, nullptr,
                             nullptr);
      },
      "renaming " + dn);
  if (rc != LDAP_SUCCESS) throw OpFailed("rename " + dn + " to " + *new_dn + ": " + conn_->describe(rc));
  std::string result = new_rdn + "," + (move ? new_parent : cur_parent);
  dn_cache_[op.target_id] = result;
  return result;
}

void LdapSink::change_members(const std::string& group_dn, const std::vector<std::string>& add_ids,
                              const std::vector<std::string>& remove_ids, std::string& problems) {
  std::vector<std::string> missing;
  auto to_add = member_values(add_ids, false, missing);
  auto to_remove = member_values(remove_ids, true, missing);
  if (!missing.empty()) problems = "members not found by " + config_.id_attribute + ": " + join_some(missing);
  const auto& attr = config_.member_attribute;
  const std::size_t batch = static_cast<std::size_t>(config_.member_batch_size);

  // Without the permissive-modify control, adding a present value or deleting
  // an absent one fails the whole request; then fall back to one value per
  // request and ignore exactly those two answers.
  auto one_by_one = [&](int op, const std::vector<std::string>& values) {
    log_->debug("ldap: " + group_dn + ": some of " + std::to_string(values.size()) +
                " member values already in place; writing them one value per request");
    for (const auto& v : values) {
      ModList m;
      m.add(op, attr, {v});
      int rc = modify_rc(group_dn, m, "changing members of", false);
      if (rc != LDAP_SUCCESS && rc != LDAP_TYPE_OR_VALUE_EXISTS && rc != LDAP_NO_SUCH_ATTRIBUTE)
        throw OpFailed("change members of " + group_dn + ": " + conn_->describe(rc));
    }
  };

  // The placeholder goes in the request that adds the first real member.
  // Without permissive modify, deleting it when absent would fail the whole
  // request, so ask first (a compare writes nothing).
  bool drop_placeholder = false;
  if (!to_add.empty() && needs_placeholder()) {
    drop_placeholder = permissive_;
    if (!permissive_) {
      berval bv{static_cast<ber_len_t>(config_.empty_group_member.size()), config_.empty_group_member.data()};
      int rc = conn_->call(
          [&](LDAP* ld) { return ldap_compare_ext_s(ld, group_dn.c_str(), attr.c_str(), &bv, nullptr, nullptr); },
          "reading members of " + group_dn);
      drop_placeholder = rc == LDAP_COMPARE_TRUE;
    }
  }
  for (std::size_t start = 0; start < to_add.size(); start += batch) {
    std::vector<std::string> chunk(to_add.begin() + static_cast<std::ptrdiff_t>(start),
                                   to_add.begin() + static_cast<std::ptrdiff_t>(std::min(to_add.size(), start + batch)));
    ModList m;
    m.add(LDAP_MOD_ADD, attr, chunk);
    if (start == 0 && drop_placeholder) m.add(LDAP_MOD_DELETE, attr, {config_.empty_group_member});
    int rc = modify_rc(group_dn, m, "adding members to", permissive_);
    if (rc == LDAP_TYPE_OR_VALUE_EXISTS || rc == LDAP_NO_SUCH_ATTRIBUTE) {
      one_by_one(LDAP_MOD_ADD, chunk);
      if (start == 0 && drop_placeholder) one_by_one(LDAP_MOD_DELETE, {config_.empty_group_member});
    } else if (rc != LDAP_SUCCESS) {
      throw OpFailed("add members to " + group_dn + ": " + conn_->describe(rc));
    }
  }
  for (std::size_t start = 0; start < to_remove.size(); start += batch) {
    std::vector<std::string> chunk(
        to_remove.begin() + static_cast<std::ptrdiff_t>(start),
        to_remove.begin() + static_cast<std::ptrdiff_t>(std::min(to_remove.size(), start + batch)));
    ModList m;
    m.add(LDAP_MOD_DELETE, attr, chunk);
    int rc = modify_rc(group_dn, m, "removing members from", permissive_);
    if (rc == LDAP_OBJECT_CLASS_VIOLATION && needs_placeholder()) {
      // The last members are leaving a groupOfNames: keep it valid.
      ModList m2;
      m2.add(LDAP_MOD_ADD, attr, {config_.empty_group_member});
      m2.add(LDAP_MOD_DELETE, attr, chunk);
      rc = modify_rc(group_dn, m2, "removing members from", permissive_);
    }
    if (rc == LDAP_NO_SUCH_ATTRIBUTE) {
      one_by_one(LDAP_MOD_DELETE, chunk);
    } else if (rc != LDAP_SUCCESS) {
      throw OpFailed("remove members from " + group_dn + ": " + conn_->describe(rc));
    }
  }
}

void LdapSink::update(const Operation& op) {
  std::string dn = dn_of(op.type, op.target_id);
  dn = rename_if_needed(op, dn);
  write_attributes(op.type, dn, op.attributes, false);
  index_written(op.type, op.target_id, op.attributes, false);
  if (op.type == ObjectType::group && (!op.members_add.empty() || !op.members_remove.empty())) {
    std::string problems;
    change_members(dn, op.members_add, op.members_remove, problems);
    if (!problems.empty()) throw OpFailed(problems);
  }
}

void LdapSink::disable(const Operation& op) {
  if (config_.disable_action == DisableAction::remove) return remove(op);
  std::string dn = dn_of(op.type, op.target_id);
  if (config_.disable_action == DisableAction::move) {
    auto [rdn, parent] = split_dn(dn);
    if (normalize_dn(parent) != normalize_dn(config_.disabled_container)) {
      int rc = conn_->call(
          [&](LDAP* ld) {
            return ldap_rename_s(ld, dn.c_str(), rdn.c_str(), config_.disabled_container.c_str(), 1, nullptr,
                                 nullptr);
          },
          "moving " + dn);
      if (rc != LDAP_SUCCESS)
        throw OpFailed("move " + dn + " to " + config_.disabled_container + ": " + conn_->describe(rc));
      dn = rdn + "," + config_.disabled_container;
      dn_cache_[op.target_id] = dn;
    }
  }
  Object attrs = config_.disable_attributes;
  for (const auto& [k, v] : op.attributes) attrs.set(k, v);
  write_attributes(op.type, dn, attrs, false);
  index_written(op.type, op.target_id, attrs, false);
}

void LdapSink::remove(const Operation& op) {
  std::string dn;
  if (auto it = dn_cache_.find(op.target_id); it != dn_cache_.end()) {
    dn = it->second;
  } else {
    auto r = lookup_id(op.target_id, {});
    if (!r) return;  // already gone: deleting is idempotent
    dn = r->dn;
  }
  int rc = conn_->call([&](LDAP* ld) { return ldap_delete_ext_s(ld, dn.c_str(), nullptr, nullptr); },
                       "deleting " + dn);
  if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) throw OpFailed("delete " + dn + ": " + conn_->describe(rc));
  index_written(op.type, op.target_id, {}, true);
  // The DN stays cached: a group update later in the run may still need it
  // to remove the deleted member's value.
}

void LdapSink::apply(std::span<const Operation> ops, std::span<OpResult> results) {
  if (results.size() < ops.size())
    throw Error(ErrorKind::internal, "ldap sink: apply got " + std::to_string(ops.size()) + " operations but " +
                                         std::to_string(results.size()) + " result slots");
  // One OR-search per 100 entries finds the DNs of the batch's updates,
  // disables and deletes, instead of one search each.
  std::vector<std::string> targets;
  for (const auto& op : ops)
    if (op.kind != OpKind::create && !op.target_id.empty() && !dn_cache_.count(op.target_id))
      targets.push_back(op.target_id);
  if (targets.size() > 1) {
    try {
      resolve_many(targets, false);
    } catch (const OpFailed& e) {
      log_->warn(std::string("ldap: prefetching DNs failed, looking them up one by one: ") + e.what());
    }
  }
  std::vector<Pending> inflight;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const Operation& op = ops[i];
    results[i] = OpResult{};
    try {
      if (pipelinable(op)) {
        // A new group's members must exist before it references them.
        if (op.kind == OpKind::create && op.type == ObjectType::group) drain(ops, results, inflight);
        while (inflight.size() >= static_cast<std::size_t>(config_.pipeline_depth)) reap_one(ops, results, inflight);
        submit(ops, i, inflight);
        continue;
      }
      // Later operations may depend on earlier creates (a group's new member).
      drain(ops, results, inflight);
      switch (op.kind) {
        case OpKind::update: update(op); break;
        case OpKind::disable: disable(op); break;
        case OpKind::remove: remove(op); break;
        case OpKind::create: break;
      }
      results[i] = OpResult{true, op.target_id, {}};
    } catch (const OpFailed& e) {
      results[i] = OpResult{false, op.target_id, e.what()};
    }
  }
  drain(ops, results, inflight);
}

}  // namespace dirsync::ldap
