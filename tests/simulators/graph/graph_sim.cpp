// The Microsoft Graph module of dirsync-sim: a generated (or loaded) tenant
// served through the token endpoint and the user/group read APIs, with the
// paging, delta and fault behaviours the Entra connector must survive.
//
// Options:
//   --graph-users N --graph-groups M --seed S   generated tenant (deterministic)
//   --graph-tenant FILE                         or a tenant from JSON {"users":[...],"groups":[...]}
//   --graph-client-id ID --graph-client-secret S  accepted credentials (sim-client / sim-secret)
//   --graph-token-ttl SECONDS                   expires_in of issued tokens (3599)
//   --graph-member-chunk K                      members@delta entries per group object (20)
//   fault knobs (also settable at runtime, POST /_admin/graph/faults):
//   --graph-throttle-every N --graph-retry-after S --graph-error-every N --graph-error-status C
//   --graph-truncate-every N --graph-slow-ms MS --graph-delta-gone --graph-fail-page P
//   --graph-delta-empty-pages N --graph-deny PERMISSION[,PERMISSION]
//
// Admin API (no auth): POST/PATCH/DELETE /_admin/graph/users[/{id}],
// POST /_admin/graph/users/{id}/soft-delete|restore, the same for groups,
// POST /_admin/graph/groups/{id}/members {"add":[ids],"remove":[ids]},
// POST /_admin/graph/faults {...}, POST /_admin/graph/expire-tokens,
// GET /_admin/graph/stats, GET /_admin/graph/ids?kind=users&from=0&count=10,
// POST /_admin/graph/touch {"every":100,"property":"jobTitle","value":"x"}.
//
// The state is held in memory, guarded by one reader/writer lock: reads
// (pages) share it, admin mutations take it exclusively, so a page never
// sees half a mutation.
#include "../sim.hpp"

#include <dirsync/value.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace dirsync::sim {
namespace {

enum class Kind : std::uint8_t { user, group };

/// Property names interned to small ids, so entities store 4-byte spans.
class PropTable {
 public:
  std::uint16_t id(const std::string& name) {
    auto it = ids_.find(name);
    if (it != ids_.end()) return it->second;
    auto id = static_cast<std::uint16_t>(names_.size());
    names_.push_back(name);
    quoted_.push_back(",\"" + name + "\":");
    ids_.emplace(name, id);
    return id;
  }
  const std::uint16_t* find(const std::string& name) const {
    auto it = ids_.find(name);
    return it == ids_.end() ? nullptr : &it->second;
  }
  const std::string& name(std::uint16_t id) const { return names_[id]; }
  /// `,"name":` ready to append.
  const std::string& quoted(std::uint16_t id) const { return quoted_[id]; }

 private:
  std::vector<std::string> names_, quoted_;
  std::unordered_map<std::string, std::uint16_t> ids_;
};

/// One user or group: pre-rendered JSON values in one blob, so a page is a
/// series of appends ("pre-rendered pages" without one copy per $select).
struct Entity {
  enum State : std::uint8_t { live, soft_deleted, gone };
  std::string id;
  std::string blob;
  std::vector<std::pair<std::uint16_t, std::uint16_t>> spans;  // (prop, end offset); begin = previous end
  State state = live;
  std::int32_t manager = -1;                 // users: index of the manager
  std::vector<std::uint32_t> members;        // groups: index | kGroupBit for groups

  std::string_view get(std::uint16_t prop) const {
    std::uint16_t begin = 0;
    for (const auto& [p, end] : spans) {
      if (p == prop) return std::string_view(blob).substr(begin, end - begin);
      begin = end;
    }
    return {};
  }
  /// Sets a property's JSON text; returns false when it was already equal.
  bool set(std::uint16_t prop, std::string_view json) {
    std::string fresh;
    std::vector<std::pair<std::uint16_t, std::uint16_t>> spans2;
    std::uint16_t begin = 0;
    bool found = false, changed = true;
    for (const auto& [p, end] : spans) {
      std::string_view v = std::string_view(blob).substr(begin, end - begin);
      if (p == prop) {
        found = true;
        changed = v != json;
        v = json;
      }
      fresh += v;
      spans2.emplace_back(p, static_cast<std::uint16_t>(fresh.size()));
      begin = end;
    }
    if (!found) {
      fresh += json;
      spans2.emplace_back(prop, static_cast<std::uint16_t>(fresh.size()));
    }
    blob = std::move(fresh);
    spans = std::move(spans2);
    return changed;
  }
  void append(std::uint16_t prop, std::string_view json) {
    blob += json;
    spans.emplace_back(prop, static_cast<std::uint16_t>(blob.size()));
  }
};

constexpr std::uint32_t kGroupBit = 0x80000000u;

struct Event {
  enum Type : std::uint8_t { props, created, soft_deleted, hard_deleted, restored, member_add, member_remove };
  std::uint64_t seq;
  Kind kind;
  Type type;
  std::uint32_t index;
  std::vector<std::uint16_t> changed;
  std::uint32_t member = 0;
};

struct Faults {
  long long throttle_every = 0;
  std::string retry_after = "1";
  long long error_every = 0;
  int error_status = 503;
  long long truncate_every = 0;
  int slow_ms = 0;
  bool delta_gone = false;
  long long fail_page = -1;
  long long delta_empty_pages = 0;
  std::set<std::string> deny;
};

/// A paging position behind an opaque $skiptoken (Graph: "treat the
/// nextLink as opaque", https://learn.microsoft.com/graph/paging).
struct Cursor {
  enum Mode : std::uint8_t { list, delta_initial, delta_changes, members } mode = list;
  Kind kind = Kind::user;
  std::vector<std::uint16_t> select;
  bool expand_manager = false;
  std::string filter;
  std::size_t top = 100;
  std::size_t pos = 0;         // entity index (list, users' initial delta) or page index
  long long page_index = 0;
  std::uint64_t seq = 0;       // delta: where the next round starts
  std::shared_ptr<const std::vector<std::string>> items;  // pre-rendered items
  std::shared_ptr<const std::vector<std::size_t>> page_ends;
  std::string path;            // the request path, reused in nextLink
};

// Tokens come from a per-thread generator: requests are served concurrently.
std::string random_token(std::size_t n) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += alphabet[rng() % 62];
  return out;
}

std::string guid(std::mt19937_64& rng) {
  char buf[40];
  std::uint64_t a = rng(), b = rng();
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

// Graph's default property sets when no $select is given:
// https://learn.microsoft.com/graph/api/user-list#response (and group-list).
const std::vector<std::string> kUserDefault = {"businessPhones", "displayName",       "givenName", "jobTitle",
                                               "mail",           "mobilePhone",       "officeLocation",
                                               "preferredLanguage", "surname",        "userPrincipalName"};
const std::vector<std::string> kGroupDefault = {"classification", "createdDateTime", "description", "displayName",
                                                "groupTypes",     "mail",            "mailEnabled", "mailNickname",
                                                "securityEnabled", "visibility"};
// Selectable properties beyond the generated ones (they render as null).
const std::vector<std::string> kUserKnown = {
    "accountEnabled", "userType", "department", "employeeId", "companyName", "city", "country",
    "createdDateTime", "onPremisesImmutableId", "onPremisesSamAccountName", "employeeType", "state",
    "streetAddress", "postalCode", "usageLocation", "otherMails", "proxyAddresses", "externalUserState",
    "identities", "ageGroup", "faxNumber", "preferredDataLocation", "onPremisesSyncEnabled", "deletedDateTime",
    "lastPasswordChangeDateTime", "employeeHireDate", "onPremisesExtensionAttributes"};
const std::vector<std::string> kGroupKnown = {"deletedDateTime", "onPremisesSyncEnabled", "proxyAddresses",
                                              "securityIdentifier", "membershipRule", "isAssignableToRole"};

class GraphModule final : public Module {
 public:
  explicit GraphModule(Args& args) {
    client_id_ = args.get("graph-client-id", "sim-client");
    client_secret_ = args.get("graph-client-secret", "sim-secret");
    token_ttl_ = args.integer("graph-token-ttl", 3599);
    member_chunk_ = static_cast<std::size_t>(std::max(1LL, args.integer("graph-member-chunk", 20)));
    faults_.throttle_every = args.integer("graph-throttle-every", 0);
    faults_.retry_after = args.get("graph-retry-after", "1");
    faults_.error_every = args.integer("graph-error-every", 0);
    faults_.error_status = static_cast<int>(args.integer("graph-error-status", 503));
    faults_.truncate_every = args.integer("graph-truncate-every", 0);
    faults_.slow_ms = static_cast<int>(args.integer("graph-slow-ms", 0));
    faults_.delta_gone = args.flag("graph-delta-gone");
    faults_.fail_page = args.integer("graph-fail-page", -1);
    faults_.delta_empty_pages = args.integer("graph-delta-empty-pages", 0);
    for (std::string d = args.get("graph-deny"); !d.empty();) {
      auto comma = d.find(',');
      faults_.deny.insert(d.substr(0, comma));
      d = comma == std::string::npos ? "" : d.substr(comma + 1);
    }
    rng_.seed(static_cast<std::uint64_t>(args.integer("seed", 1)));
    for (const auto& n : kUserDefault) user_props_.id(n);
    for (const auto& n : kUserKnown) user_props_.id(n);
    for (const auto& n : kGroupDefault) group_props_.id(n);
    for (const auto& n : kGroupKnown) group_props_.id(n);
    std::string file = args.get("graph-tenant");
    if (!file.empty())
      load(file);
    else
      generate(static_cast<std::size_t>(args.integer("graph-users", 100)),
               static_cast<std::size_t>(args.integer("graph-groups", 10)));
  }

  bool claims(const std::string& path) const override {
    return path.starts_with("/v1.0/") || path.starts_with("/_admin/graph/") ||
           path.ends_with("/oauth2/v2.0/token");
  }

  std::vector<std::string> describe() const override {
    return {"graph: " + std::to_string(users_.size()) + " users, " + std::to_string(groups_.size()) +
            " groups; token endpoint /{tenant}/oauth2/v2.0/token, API /v1.0"};
  }

  void handle(const SimRequest& r, SimResponse& out) override {
    if (r.path.ends_with("/oauth2/v2.0/token")) return token(r, out);
    if (r.path.starts_with("/_admin/graph/")) return admin(r, out);
    api(r, out);
  }

 private:
  // ------------------------------------------------------------- tenant ---

  void generate(std::size_t n_users, std::size_t n_groups) {
    static const char* given[] = {"Ada", "Ben", "Chloe", "Dan", "Eva", "Finn", "Gus", "Hana", "Ivan", "Jade",
                                  "Kai", "Lea", "Milo", "Nora", "Omar", "Pia", "Quinn", "Rosa", "Sam", "Tara"};
    static const char* family[] = {"Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes",
                                   "Ito", "Jones", "Kowalski", "Lopez", "Moreau", "Nguyen", "Okafor", "Patel"};
    static const char* depts[] = {"Sales", "Engineering", "Finance", "Marketing", "Support", "Legal", "HR", "IT"};
    static const char* titles[] = {"Engineer", "Manager", "Analyst", "Consultant", "Director", "Specialist"};
    static const char* cities[] = {"Seattle", "Berlin", "Paris", "Tokyo", "Lagos", "Madrid"};
    auto P = [this](const char* n) { return user_props_.id(n); };
    const std::uint16_t p_phones = P("businessPhones"), p_display = P("displayName"), p_given = P("givenName"),
                        p_job = P("jobTitle"), p_mail = P("mail"), p_mobile = P("mobilePhone"),
                        p_office = P("officeLocation"), p_lang = P("preferredLanguage"), p_surname = P("surname"),
                        p_upn = P("userPrincipalName"), p_enabled = P("accountEnabled"), p_type = P("userType"),
                        p_dept = P("department"), p_emp = P("employeeId"), p_company = P("companyName"),
                        p_city = P("city"), p_created = P("createdDateTime");
    users_.resize(n_users);
    char buf[160];
    for (std::size_t i = 0; i < n_users; ++i) {
      Entity& u = users_[i];
      u.id = guid(rng_);
      u.blob.reserve(420);
      const char* g = given[rng_() % 20];
      const char* f = family[rng_() % 16];
      bool guest = i % 20 == 7;
      std::snprintf(buf, sizeof buf, "%s.%s.%zu", g, f, i);
      std::string local = buf;
      for (auto& c : local) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      u.append(p_phones, i % 3 == 0 ? "[\"+1 425 555 " + std::to_string(1000 + i % 9000) + "\"]" : "[]");
      u.append(p_display, json_string(std::string(g) + " " + f));
      u.append(p_given, json_string(g));
      u.append(p_job, json_string(titles[i % 6]));
      // Real tenants: null mail for unlicensed users, #EXT# UPNs for guests.
      std::string mail = guest ? local + "@fabrikam.example" : local + "@contoso.example";
      u.append(p_mail, i % 25 == 3 ? "null" : json_string(mail));
      u.append(p_mobile, i % 4 == 0 ? json_string("+1 206 555 " + std::to_string(1000 + i % 9000)) : "null");
      u.append(p_office, json_string(std::to_string(i % 50) + "/" + std::to_string(1000 + i % 300)));
      u.append(p_lang, "\"en-US\"");
      u.append(p_surname, json_string(f));
      u.append(p_upn, json_string(guest ? local + "_fabrikam.example#EXT#@contoso.onmicrosoft.com"
                                        : local + "@contoso.example"));
      u.append(p_enabled, i % 30 == 11 ? "false" : "true");
      u.append(p_type, guest ? "\"Guest\"" : "\"Member\"");
      u.append(p_dept, json_string(depts[i % 8]));
      std::snprintf(buf, sizeof buf, "\"E%07zu\"", i);
      u.append(p_emp, buf);
      u.append(p_company, "\"Contoso\"");
      u.append(p_city, json_string(cities[i % 6]));
      std::snprintf(buf, sizeof buf, "\"20%02zu-%02zu-%02zuT08:%02zu:00Z\"", 15 + i % 10, 1 + i % 12, 1 + i % 28,
                    i % 60);
      u.append(p_created, buf);
      if (i > 0) u.manager = static_cast<std::int32_t>((i - 1) / 10);
    }
    auto G = [this](const char* n) { return group_props_.id(n); };
    groups_.resize(n_groups);
    for (std::size_t j = 0; j < n_groups; ++j) {
      Entity& g = groups_[j];
      g.id = guid(rng_);
      std::string name = "Group " + std::to_string(j) + " " + depts[j % 8];
      g.append(G("createdDateTime"), "\"2020-01-01T00:00:00Z\"");
      g.append(G("description"), json_string("Members of " + name));
      g.append(G("displayName"), json_string(name));
      g.append(G("groupTypes"), "[]");
      g.append(G("mail"), "null");
      g.append(G("mailEnabled"), "false");
      g.append(G("mailNickname"), json_string("group" + std::to_string(j)));
      g.append(G("securityEnabled"), "true");
      // Nested groups: every fifth group contains the one before it.
      if (j > 0 && j % 5 == 0) g.members.push_back(static_cast<std::uint32_t>(j - 1) | kGroupBit);
    }
    if (n_groups > 0)
      for (std::size_t i = 0; i < n_users; ++i) groups_[i % n_groups].members.push_back(static_cast<std::uint32_t>(i));
    index_all();
  }

  void load(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + file);
    std::stringstream ss;
    ss << in.rdbuf();
    Value doc = parse_json(ss.str());
    if (!doc.is_object()) throw std::runtime_error(file + ": expected a JSON object");
    auto list = [&](const char* key) -> const List* {
      const Value* v = doc.as_object().find(key);
      return v && v->is_list() ? &v->as_list() : nullptr;
    };
    std::vector<std::vector<std::string>> member_ids;
    for (auto [key, kind] : {std::pair{"users", Kind::user}, std::pair{"groups", Kind::group}}) {
      const List* items = list(key);
      if (!items) continue;
      for (const Value& item : *items) {
        if (!item.is_object()) continue;
        Entity e;
        std::vector<std::string> members;
        for (const auto& [k, v] : item.as_object()) {
          if (k == "id") e.id = v.to_string();
          else if (k == "members" && kind == Kind::group) {
            if (v.is_list())
              for (const Value& m : v.as_list()) members.push_back(m.to_string());
          } else {
            e.append(props(kind).id(k), to_json(v));
          }
        }
        if (e.id.empty()) e.id = guid(rng_);
        entities(kind).push_back(std::move(e));
        if (kind == Kind::group) member_ids.push_back(std::move(members));
      }
    }
    index_all();
    for (std::size_t j = 0; j < member_ids.size(); ++j)
      for (const auto& id : member_ids[j])
        if (auto ref = resolve(id)) groups_[j].members.push_back(*ref);
  }

  void index_all() {
    for (std::size_t i = 0; i < users_.size(); ++i) user_index_[users_[i].id] = static_cast<std::uint32_t>(i);
    for (std::size_t j = 0; j < groups_.size(); ++j) group_index_[groups_[j].id] = static_cast<std::uint32_t>(j);
  }

  std::optional<std::uint32_t> resolve(const std::string& id) const {
    if (auto it = user_index_.find(id); it != user_index_.end()) return it->second;
    if (auto it = group_index_.find(id); it != group_index_.end()) return it->second | kGroupBit;
    return std::nullopt;
  }

  std::vector<Entity>& entities(Kind k) { return k == Kind::user ? users_ : groups_; }
  PropTable& props(Kind k) { return k == Kind::user ? user_props_ : group_props_; }
  std::unordered_map<std::string, std::uint32_t>& index(Kind k) { return k == Kind::user ? user_index_ : group_index_; }

  // -------------------------------------------------------------- token ---

  // https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
  void token(const SimRequest& r, SimResponse& out) {
    auto form = [&](const std::string& name) {
      SimRequest body;
      body.query = r.body;
      return body.param(name);
    };
    auto oauth_error = [&](int status, const std::string& error, const std::string& description) {
      out.status = status;
      out.body = R"({"error":)" + json_string(error) + R"(,"error_description":)" +
                 json_string(description + "\r\nTrace ID: 00000000-0000-0000-0000-000000000000") +
                 R"(,"error_codes":[0]})";
    };
    if (r.method != "POST") return json_error(out, 405, "MethodNotAllowed", "use POST");
    if (form("grant_type") != "client_credentials")
      return oauth_error(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.");
    if (form("client_id") != client_id_)
      return oauth_error(400, "unauthorized_client",
                         "AADSTS700016: Application with identifier '" + form("client_id") +
                             "' was not found in the directory.");
    if (!form("scope").ends_with("/.default"))
      return oauth_error(400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid.");
    std::string assertion = form("client_assertion");
    bool assertion_ok = !assertion.empty() && std::count(assertion.begin(), assertion.end(), '.') == 2 &&
                        form("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    if (!assertion_ok && form("client_secret") != client_secret_)
      return oauth_error(401, "invalid_client",
                         "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
                         "request is the client secret value, not the client secret ID.");
    std::string value;
    {
      std::lock_guard lock(token_mutex_);
      value = "sim." + std::to_string(token_generation_) + "." + random_token(32);
      tokens_[value] = {token_generation_, std::chrono::steady_clock::now()};
    }
    ++stats_tokens_;
    out.body = R"({"token_type":"Bearer","expires_in":)" + std::to_string(token_ttl_) +
               R"(,"ext_expires_in":)" + std::to_string(token_ttl_) + R"(,"access_token":")" + value + "\"}";
  }

  bool authorized(const SimRequest& r) {
    std::string auth = r.header("authorization");
    if (!auth.starts_with("Bearer ")) return false;
    std::lock_guard lock(token_mutex_);
    auto it = tokens_.find(auth.substr(7));
    if (it == tokens_.end() || it->second.first != token_generation_) return false;
    return std::chrono::steady_clock::now() - it->second.second < std::chrono::seconds(token_ttl_);
  }

  // ---------------------------------------------------------------- API ---

  void api(const SimRequest& r, SimResponse& out) {
    ++stats_requests_;
    // https://learn.microsoft.com/graph/auth/auth-concepts#access-tokens
    if (!authorized(r)) {
      ++stats_unauthorized_;
      return json_error(out, 401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.");
    }
    Faults faults;
    {
      std::lock_guard lock(fault_mutex_);
      faults = faults_;
    }
    // https://learn.microsoft.com/graph/permissions-reference
    std::string needed = r.path.find("/members") != std::string::npos || r.path.find("transitiveMembers") != std::string::npos
                             ? "GroupMember.Read.All"
                         : r.path.starts_with("/v1.0/groups") ? "Group.Read.All"
                                                              : "User.Read.All";
    if (faults.deny.count(needed))
      return json_error(out, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
    long long n = ++counter_;
    out.delay_ms = faults.slow_ms;
    // https://learn.microsoft.com/graph/throttling
    if (faults.throttle_every > 0 && n % faults.throttle_every == 0) {
      ++stats_throttled_;
      out.headers.emplace_back("Retry-After", faults.retry_after);
      return json_error(out, 429, "TooManyRequests", "Too many requests. Please retry after the time specified.");
    }
    if (faults.error_every > 0 && n % faults.error_every == 0) {
      ++stats_errors_;
      return json_error(out, faults.error_status, "ServiceUnavailable", "The service is temporarily unavailable.");
    }
    std::shared_lock lock(state_mutex_);
    route(r, out, faults);
    if (faults.truncate_every > 0 && n % faults.truncate_every == 0 && out.status == 200) {
      ++stats_truncated_;
      out.truncate_at = static_cast<long long>(out.body.size() / 2);
    }
  }

  void route(const SimRequest& r, SimResponse& out, const Faults& faults) {
    std::string path = r.path.substr(5);  // drop "/v1.0"
    auto parts = split(path);
    if (r.method != "GET") return json_error(out, 405, "Request_BadRequest", "the simulator's Graph is read-only");
    if (parts.empty()) return json_error(out, 404, "Request_ResourceNotFound", "unknown resource");
    Kind kind;
    if (parts[0] == "users") kind = Kind::user;
    else if (parts[0] == "groups") kind = Kind::group;
    else return json_error(out, 404, "BadRequest", "Resource not found for the segment '" + parts[0] + "'.");

    if (r.has_param("$skiptoken")) return next_page(r, out, faults);
    if (parts.size() == 2 && parts[1] == "delta") return delta_start(r, out, kind, faults);
    if (parts.size() == 1) return list_start(r, out, kind, faults);
    auto& idx = index(kind);
    auto it = idx.find(parts[1]);
    if (it == idx.end() || entities(kind)[it->second].state != Entity::live)
      return json_error(out, 404, "Request_ResourceNotFound",
                        "Resource '" + parts[1] + "' does not exist or one of its queried reference-property "
                        "objects are not present.");
    if (parts.size() == 2) {
      Cursor c;
      c.kind = kind;
      if (!parse_select(r, c, out)) return;
      out.body.clear();
      render(out.body, kind, it->second, c.select, c.expand_manager);
      return;
    }
    if (kind == Kind::group && parts.size() == 3 && (parts[2] == "members" || parts[2] == "transitiveMembers"))
      return members_start(r, out, it->second, parts[2] == "transitiveMembers", faults);
    json_error(out, 404, "Request_ResourceNotFound", "unknown resource " + r.path);
  }

  static std::vector<std::string> split(const std::string& path) {
    std::vector<std::string> out;
    std::stringstream ss(path);
    for (std::string part; std::getline(ss, part, '/');)
      if (!part.empty()) out.push_back(part);
    return out;
  }

  // https://learn.microsoft.com/graph/query-parameters#select-parameter
  bool parse_select(const SimRequest& r, Cursor& c, SimResponse& out) {
    PropTable& table = props(c.kind);
    std::string select = r.param("$select");
    const auto& defaults = c.kind == Kind::user ? kUserDefault : kGroupDefault;
    if (select.empty()) {
      for (const auto& n : defaults) c.select.push_back(*table.find(n));
    } else {
      std::stringstream ss(select);
      for (std::string name; std::getline(ss, name, ',');) {
        if (name == "id" || name == "members" || name.empty()) continue;
        const std::uint16_t* id = table.find(name);
        if (!id && !name.starts_with("extension_")) {
          json_error(out, 400, "Request_BadRequest",
                     "Could not find a property named '" + name + "' on type 'microsoft.graph." +
                         (c.kind == Kind::user ? "user" : "group") + "'.");
          return false;
        }
        c.select.push_back(id ? *id : table.id(name));
      }
    }
    std::string expand = r.param("$expand");
    if (!expand.empty()) {
      if (c.kind != Kind::user || !expand.starts_with("manager")) {
        json_error(out, 400, "Request_BadRequest", "Parsing OData Select and Expand failed: unsupported $expand");
        return false;
      }
      c.expand_manager = true;
    }
    return true;
  }

  void render(std::string& out, Kind kind, std::uint32_t index, const std::vector<std::uint16_t>& select,
              bool manager) const {
    const Entity& e = (kind == Kind::user ? users_ : groups_)[index];
    const PropTable& table = kind == Kind::user ? user_props_ : group_props_;
    out += "{\"id\":\"";
    out += e.id;
    out += '"';
    for (std::uint16_t p : select) {
      out += table.quoted(p);
      std::string_view v = e.get(p);
      // Graph returns null for selected properties without a value.
      out += v.empty() ? std::string_view("null") : v;
    }
    if (manager && e.manager >= 0 && users_[static_cast<std::size_t>(e.manager)].state == Entity::live) {
      out += R"(,"manager":{"@odata.type":"#microsoft.graph.user","id":")";
      out += users_[static_cast<std::size_t>(e.manager)].id;
      out += "\"}";
    }
    out += '}';
  }

  // $filter: `prop eq 'x'`, `prop eq true`, `startswith(prop,'x')` joined by
  // `and`; `ne` and `endswith` are advanced queries needing
  // ConsistencyLevel: eventual (https://learn.microsoft.com/graph/aad-advanced-queries).
  struct Clause {
    std::string op;
    std::uint16_t prop;
    std::string literal;  // JSON text for eq/ne; raw text for starts/ends
  };

  bool parse_filter(const SimRequest& r, Kind kind, std::vector<Clause>& clauses, SimResponse& out) {
    std::string filter = r.param("$filter");
    bool eventual = r.header("consistencylevel") == "eventual";
    std::size_t pos = 0;
    auto bad = [&](const std::string& why) {
      json_error(out, 400, "Request_UnsupportedQuery", "Unsupported query: " + why);
      return false;
    };
    while (pos < filter.size()) {
      std::size_t end = filter.find(" and ", pos);
      std::string part = filter.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      pos = end == std::string::npos ? filter.size() : end + 5;
      Clause c;
      std::string name, literal;
      if (part.starts_with("startswith(") || part.starts_with("endswith(")) {
        c.op = part.starts_with("s") ? "startswith" : "endswith";
        auto open = part.find('('), comma = part.find(','), close = part.rfind(')');
        if (comma == std::string::npos || close == std::string::npos) return bad(part);
        name = part.substr(open + 1, comma - open - 1);
        literal = part.substr(comma + 1, close - comma - 1);
        if (literal.size() < 2 || literal.front() != '\'') return bad(part);
        c.literal = literal.substr(1, literal.size() - 2);
      } else {
        auto sp1 = part.find(' '), sp2 = part.find(' ', sp1 + 1);
        if (sp1 == std::string::npos || sp2 == std::string::npos) return bad(part);
        name = part.substr(0, sp1);
        c.op = part.substr(sp1 + 1, sp2 - sp1 - 1);
        literal = part.substr(sp2 + 1);
        if (c.op != "eq" && c.op != "ne") return bad("operator " + c.op);
        if (literal.front() == '\'') c.literal = json_string(literal.substr(1, literal.size() - 2));
        else if (literal == "true" || literal == "false" || literal == "null") c.literal = literal;
        else return bad(literal);
      }
      if ((c.op == "ne" || c.op == "endswith") && !eventual)
        return bad("'" + c.op + "' requires the ConsistencyLevel: eventual header and $count=true");
      const std::uint16_t* id = props(kind).find(name);
      if (!id) return bad("unknown property " + name);
      c.prop = *id;
      clauses.push_back(std::move(c));
    }
    return true;
  }

  static bool matches(const Entity& e, const std::vector<Clause>& clauses) {
    for (const auto& c : clauses) {
      std::string_view v = e.get(c.prop);
      if (v.empty()) v = "null";
      if (c.op == "eq" && v != c.literal) return false;
      if (c.op == "ne" && v == c.literal) return false;
      if (c.op == "startswith" && !(v.size() > c.literal.size() && v.substr(1, c.literal.size()) == c.literal))
        return false;
      if (c.op == "endswith" &&
          !(v.size() > c.literal.size() + 1 && v.substr(v.size() - 1 - c.literal.size(), c.literal.size()) == c.literal))
        return false;
    }
    return true;
  }

  std::size_t page_size(const SimRequest& r, std::size_t fallback, std::size_t max) {
    std::string top = r.param("$top");
    std::string prefer = r.header("prefer");
    if (auto p = prefer.find("odata.maxpagesize="); p != std::string::npos) top = prefer.substr(p + 18);
    if (top.empty()) return fallback;
    try {
      return std::clamp<std::size_t>(std::stoul(top), 1, max);
    } catch (const std::exception&) {
      return fallback;
    }
  }

  std::string store(Cursor c) {
    std::lock_guard lock(cursor_mutex_);
    std::string token = random_token(24);
    cursors_[token] = std::move(c);
    return token;
  }

  std::string next_link(const SimRequest& r, const Cursor& c, const std::string& token) const {
    return r.base_url + "/v1.0" + c.path + "?$skiptoken=" + token;
  }

  std::string context(const SimRequest& r, Kind kind) const {
    return r.base_url + "/v1.0/$metadata#" + (kind == Kind::user ? "users" : "groups");
  }

  // https://learn.microsoft.com/graph/api/user-list and /graph/paging
  void list_start(const SimRequest& r, SimResponse& out, Kind kind, const Faults& faults) {
    Cursor c;
    c.kind = kind;
    c.path = kind == Kind::user ? "/users" : "/groups";
    if (!parse_select(r, c, out)) return;
    std::vector<Clause> clauses;
    if (!parse_filter(r, kind, clauses, out)) return;
    c.filter = r.param("$filter");
    c.top = page_size(r, 100, 999);
    if (r.param("$count") == "true" && r.header("consistencylevel") != "eventual")
      return json_error(out, 400, "Request_BadRequest", "$count is only supported with ConsistencyLevel: eventual");
    std::string count;
    if (r.param("$count") == "true") {
      std::size_t n = 0;
      for (const auto& e : entities(kind)) n += e.state == Entity::live && matches(e, clauses);
      count = std::to_string(n);
    }
    list_page(r, out, std::move(c), clauses, count, faults);
  }

  void list_page(const SimRequest& r, SimResponse& out, Cursor c, const std::vector<Clause>& clauses,
                 const std::string& count, const Faults& faults) {
    if (faults.fail_page >= 0 && c.page_index == faults.fail_page) {
      ++stats_errors_;
      return json_error(out, 503, "ServiceUnavailable", "page " + std::to_string(c.page_index) + " fails (fault knob)");
    }
    const auto& list = entities(c.kind);
    std::string items;
    items.reserve(c.top * 460);
    std::size_t taken = 0, i = c.pos;
    for (; i < list.size() && taken < c.top; ++i) {
      if (list[i].state != Entity::live || !matches(list[i], clauses)) continue;
      if (taken++) items += ',';
      render(items, c.kind, static_cast<std::uint32_t>(i), c.select, c.expand_manager);
    }
    bool more = false;
    for (std::size_t k = i; k < list.size() && !more; ++k) more = list[k].state == Entity::live && matches(list[k], clauses);
    out.body.reserve(items.size() + 400);
    out.body = "{\"@odata.context\":" + json_string(context(r, c.kind));
    if (!count.empty()) out.body += ",\"@odata.count\":" + count;
    if (more) {
      Cursor next = c;
      next.pos = i;
      ++next.page_index;
      out.body += ",\"@odata.nextLink\":" + json_string(next_link(r, next, store(next)));
    }
    out.body += ",\"value\":[";
    out.body += items;
    out.body += "]}";
  }

  void next_page(const SimRequest& r, SimResponse& out, const Faults& faults) {
    Cursor c;
    {
      std::lock_guard lock(cursor_mutex_);
      auto it = cursors_.find(r.param("$skiptoken"));
      if (it == cursors_.end())
        return json_error(out, 400, "Request_BadRequest", "The specified page token value has expired or is invalid.");
      c = it->second;
    }
    switch (c.mode) {
      case Cursor::list: {
        std::vector<Clause> clauses;
        SimRequest fr;
        fr.query = "$filter=" + c.filter;  // re-parse the stored filter
        fr.headers["consistencylevel"] = "eventual";
        if (!parse_filter(fr, c.kind, clauses, out)) return;
        return list_page(r, out, std::move(c), clauses, {}, faults);
      }
      case Cursor::members: return items_page(r, out, std::move(c), faults, false);
      case Cursor::delta_initial:
        if (c.kind == Kind::user) return users_initial_page(r, out, std::move(c), faults);
        return items_page(r, out, std::move(c), faults, true);
      case Cursor::delta_changes: return items_page(r, out, std::move(c), faults, true);
    }
  }

  // Pre-rendered item pages (members, group delta, change rounds); pos is the
  // page number, page_ends[pos] where it ends.
  void items_page(const SimRequest& r, SimResponse& out, Cursor c, const Faults& faults, bool delta) {
    if (faults.fail_page >= 0 && c.page_index == faults.fail_page) {
      ++stats_errors_;
      return json_error(out, 503, "ServiceUnavailable", "page " + std::to_string(c.page_index) + " fails (fault knob)");
    }
    const auto& items = *c.items;
    const auto& ends = *c.page_ends;
    std::size_t begin = c.pos == 0 ? 0 : ends[c.pos - 1];
    std::size_t end = ends.empty() ? 0 : ends[c.pos];
    out.body = "{\"@odata.context\":" + json_string(context(r, c.kind));
    if (c.pos + 1 < ends.size()) {
      Cursor next = c;
      ++next.pos;
      ++next.page_index;
      out.body += ",\"@odata.nextLink\":" + json_string(next_link(r, next, store(next)));
    } else if (delta) {
      out.body += ",\"@odata.deltaLink\":" + json_string(delta_link(r, c));
    }
    out.body += ",\"value\":[";
    for (std::size_t i = begin; i < end; ++i) {
      if (i > begin) out.body += ',';
      out.body += items[i];
    }
    out.body += "]}";
  }

  std::string delta_link(const SimRequest& r, const Cursor& c) {
    Cursor d;
    d.kind = c.kind;
    d.select = c.select;
    d.seq = c.seq;
    d.path = c.kind == Kind::user ? "/users/delta" : "/groups/delta";
    std::string token;
    {
      std::lock_guard lock(cursor_mutex_);
      token = random_token(32);
      delta_tokens_[token] = d;
    }
    return r.base_url + "/v1.0" + d.path + "?$deltatoken=" + token;
  }

  static std::vector<std::size_t> paginate(std::size_t count, std::size_t top, std::size_t empty_pages) {
    std::vector<std::size_t> ends(empty_pages, 0);
    for (std::size_t e = top; e < count; e += top) ends.push_back(e);
    ends.push_back(count);
    return ends;
  }

  // https://learn.microsoft.com/graph/api/group-list-members
  void members_start(const SimRequest& r, SimResponse& out, std::uint32_t group, bool transitive,
                     const Faults& faults) {
    Cursor c;
    c.mode = Cursor::members;
    c.kind = Kind::group;
    c.path = "/groups/" + groups_[group].id + (transitive ? "/transitiveMembers" : "/members");
    c.items = rendered_members(group, transitive);
    c.page_ends = std::make_shared<std::vector<std::size_t>>(paginate(c.items->size(), page_size(r, 100, 999), 0));
    items_page(r, out, std::move(c), faults, false);
  }

  // A group's member list, rendered once until the next admin change: built
  // on every first page, it cost about 20 ms a group of 20,000 (a second of
  // simulator time for a million users' groups, on the same two cores as the
  // engine being measured). A cursor keeps the list it started with.
  std::shared_ptr<const std::vector<std::string>> rendered_members(std::uint32_t group, bool transitive) {
    const std::uint64_t key = std::uint64_t(group) * 2 + (transitive ? 1 : 0);
    {
      std::lock_guard lock(members_cache_mutex_);
      if (auto it = members_cache_.find(key); it != members_cache_.end()) return it->second;
    }
    std::vector<std::uint32_t> refs;
    std::unordered_set<std::uint32_t> seen;
    seen.reserve(groups_[group].members.size());
    std::vector<std::uint32_t> stack{group | kGroupBit};
    while (!stack.empty()) {
      std::uint32_t g = stack.back() & ~kGroupBit;
      stack.pop_back();
      for (std::uint32_t m : groups_[g].members) {
        if (!live(m) || !seen.insert(m).second) continue;
        refs.push_back(m);
        if (transitive && (m & kGroupBit)) stack.push_back(m);
      }
    }
    auto items = std::make_shared<std::vector<std::string>>();
    items->reserve(refs.size());
    for (std::uint32_t m : refs) items->push_back(reference(m));
    std::lock_guard lock(members_cache_mutex_);
    members_cache_[key] = items;
    return items;
  }

  bool live(std::uint32_t ref) const {
    const Entity& e = (ref & kGroupBit) ? groups_[ref & ~kGroupBit] : users_[ref];
    return e.state == Entity::live;
  }

  std::string reference(std::uint32_t ref, const char* removed = nullptr) const {
    bool group = ref & kGroupBit;
    std::string s;
    s.reserve(96);
    s += group ? R"({"@odata.type":"#microsoft.graph.group","id":")"
               : R"({"@odata.type":"#microsoft.graph.user","id":")";
    s += group ? groups_[ref & ~kGroupBit].id : users_[ref].id;
    s += '"';
    if (removed) s += std::string(R"(,"@removed":{"reason":")") + removed + "\"}";
    s += '}';
    return s;
  }

  // --------------------------------------------------------------- delta ---
  // https://learn.microsoft.com/graph/delta-query-users and delta-query-groups

  void delta_start(const SimRequest& r, SimResponse& out, Kind kind, const Faults& faults) {
    std::string token = r.param("$deltatoken");
    Cursor c;
    c.kind = kind;
    c.path = kind == Kind::user ? "/users/delta" : "/groups/delta";
    c.top = page_size(r, 200, 999);
    if (token.empty()) {
      // Initial round: every live object, then a deltaLink from this point.
      c.mode = Cursor::delta_initial;
      if (!parse_select(r, c, out)) return;
      c.seq = seq_;
      if (kind == Kind::user) return users_initial_page(r, out, std::move(c), faults);
      bool with_members = r.param("$select").find("members") != std::string::npos;
      auto items = std::make_shared<std::vector<std::string>>();
      for (std::uint32_t j = 0; j < groups_.size(); ++j) {
        if (groups_[j].state != Entity::live) continue;
        std::vector<std::string> refs;
        if (with_members)
          for (std::uint32_t m : groups_[j].members)
            if (live(m)) refs.push_back(reference(m));
        group_items(*items, j, c.select, true, refs);
      }
      c.page_ends = std::make_shared<std::vector<std::size_t>>(paginate(items->size(), c.top, 0));
      c.items = std::move(items);
      return items_page(r, out, std::move(c), faults, true);
    }
    if (token == "latest") {
      // "$deltatoken=latest" (sync from now, https://learn.microsoft.com/graph/delta-query-overview):
      // an empty answer whose deltaLink starts now.
      c.mode = Cursor::delta_changes;
      if (!parse_select(r, c, out)) return;
      c.seq = seq_;
      c.items = std::make_shared<std::vector<std::string>>();
      c.page_ends = std::make_shared<std::vector<std::size_t>>(std::vector<std::size_t>{0});
      return items_page(r, out, std::move(c), faults, true);
    }
    Cursor d;
    {
      std::lock_guard lock(cursor_mutex_);
      auto it = delta_tokens_.find(token);
      if (it == delta_tokens_.end() || faults.delta_gone) {
        // https://learn.microsoft.com/graph/delta-query-overview#synchronization-reset
        return json_error(out, 410, "syncStateNotFound",
                          "The delta token has expired or is unknown; a full resynchronization is required.");
      }
      d = it->second;
    }
    changes(r, out, std::move(d), faults);
  }

  void users_initial_page(const SimRequest& r, SimResponse& out, Cursor c, const Faults& faults) {
    if (faults.fail_page >= 0 && c.page_index == faults.fail_page) {
      ++stats_errors_;
      return json_error(out, 503, "ServiceUnavailable", "page fails (fault knob)");
    }
    std::string items;
    std::size_t taken = 0, i = c.pos;
    for (; i < users_.size() && taken < c.top; ++i) {
      if (users_[i].state != Entity::live) continue;
      if (taken++) items += ',';
      render(items, Kind::user, static_cast<std::uint32_t>(i), c.select, false);
    }
    out.body = "{\"@odata.context\":" + json_string(context(r, Kind::user));
    if (i < users_.size()) {
      Cursor next = c;
      next.pos = i;
      ++next.page_index;
      out.body += ",\"@odata.nextLink\":" + json_string(next_link(r, next, store(next)));
    } else {
      out.body += ",\"@odata.deltaLink\":" + json_string(delta_link(r, c));
    }
    out.body += ",\"value\":[" + items + "]}";
  }

  // Groups in delta carry members@delta; one group's members are spread over
  // several objects (and so pages) of at most member_chunk_ entries, as Graph does.
  void group_items(std::vector<std::string>& items, std::uint32_t j, const std::vector<std::uint16_t>& select,
                   bool with_props, const std::vector<std::string>& refs) const {
    std::size_t chunks = std::max<std::size_t>(1, (refs.size() + member_chunk_ - 1) / member_chunk_);
    for (std::size_t k = 0; k < chunks; ++k) {
      std::string item;
      static const std::vector<std::uint16_t> none;
      render(item, Kind::group, j, with_props && k == 0 ? select : none, false);
      if (!refs.empty()) {
        item.pop_back();
        item += ",\"members@delta\":[";
        for (std::size_t m = k * member_chunk_; m < std::min(refs.size(), (k + 1) * member_chunk_); ++m) {
          if (m > k * member_chunk_) item += ',';
          item += refs[m];
        }
        item += "]}";
      }
      items.push_back(std::move(item));
    }
  }

  void changes(const SimRequest& r, SimResponse& out, Cursor d, const Faults& faults) {
    struct Agg {
      bool full = false;
      const char* removed = nullptr;
      std::set<std::uint16_t> changed;
      std::vector<std::pair<std::uint32_t, bool>> members;  // (ref, added)
    };
    std::vector<std::uint32_t> order;
    std::unordered_map<std::uint32_t, Agg> agg;
    std::uint64_t upto;
    {
      std::lock_guard lock(event_mutex_);
      upto = seq_;
      auto first = std::lower_bound(events_.begin(), events_.end(), d.seq + 1,
                                    [](const Event& e, std::uint64_t s) { return e.seq < s; });
      for (auto it = first; it != events_.end(); ++it) {
        if (it->kind != d.kind) continue;
        auto [slot, fresh] = agg.try_emplace(it->index);
        if (fresh) order.push_back(it->index);
        Agg& a = slot->second;
        switch (it->type) {
          case Event::props: a.changed.insert(it->changed.begin(), it->changed.end()); break;
          case Event::created:
          case Event::restored: a.full = true; a.removed = nullptr; break;
          case Event::soft_deleted: a.removed = "changed"; break;
          case Event::hard_deleted: a.removed = "deleted"; break;
          case Event::member_add:
          case Event::member_remove: {
            bool added = it->type == Event::member_add;
            auto m = std::find_if(a.members.begin(), a.members.end(), [&](auto& p) { return p.first == it->member; });
            if (m == a.members.end()) a.members.emplace_back(it->member, added);
            else m->second = added;
            break;
          }
        }
      }
    }
    auto items = std::make_shared<std::vector<std::string>>();
    std::set<std::uint16_t> selected(d.select.begin(), d.select.end());
    for (std::uint32_t index : order) {
      const Agg& a = agg[index];
      if (a.removed) {
        items->push_back("{\"id\":\"" + entities(d.kind)[index].id + R"(","@removed":{"reason":")" + a.removed + "\"}}");
        continue;
      }
      std::vector<std::uint16_t> props;
      if (a.full) {
        props = d.select;
      } else {
        for (std::uint16_t p : a.changed)
          if (selected.count(p)) props.push_back(p);
      }
      if (d.kind == Kind::user) {
        if (props.empty() && !a.full) continue;
        items->emplace_back();
        render(items->back(), Kind::user, index, props, false);
        continue;
      }
      std::vector<std::string> refs;
      for (const auto& [ref, added] : a.members) refs.push_back(reference(ref, added ? nullptr : "deleted"));
      if (a.full)
        for (std::uint32_t m : groups_[index].members)
          if (live(m)) refs.push_back(reference(m));
      if (props.empty() && refs.empty() && !a.full) continue;
      group_items(*items, index, props, true, refs);
    }
    Cursor c = d;
    c.mode = Cursor::delta_changes;
    c.seq = upto;
    c.pos = 0;
    c.page_index = 0;
    c.top = page_size(r, 200, 999);
    c.page_ends = std::make_shared<std::vector<std::size_t>>(
        paginate(items->size(), c.top, static_cast<std::size_t>(faults.delta_empty_pages)));
    c.items = std::move(items);
    items_page(r, out, std::move(c), faults, true);
  }

  // --------------------------------------------------------------- admin ---

  void record(Kind kind, Event::Type type, std::uint32_t index, std::vector<std::uint16_t> changed = {},
              std::uint32_t member = 0) {
    std::lock_guard lock(event_mutex_);
    events_.push_back(Event{++seq_, kind, type, index, std::move(changed), member});
  }

  void admin(const SimRequest& r, SimResponse& out) {
    if (r.method != "GET") {
      std::lock_guard lock(members_cache_mutex_);
      members_cache_.clear();
    }
    auto parts = split(r.path.substr(13));  // drop "/_admin/graph"
    if (parts.empty()) return json_error(out, 404, "NotFound", "admin: nothing here");
    if (parts[0] == "stats") {
      out.body = R"({"requests":)" + std::to_string(stats_requests_) + R"(,"throttled":)" +
                 std::to_string(stats_throttled_) + R"(,"errors":)" + std::to_string(stats_errors_) +
                 R"(,"truncated":)" + std::to_string(stats_truncated_) + R"(,"unauthorized":)" +
                 std::to_string(stats_unauthorized_) + R"(,"tokens":)" + std::to_string(stats_tokens_) + "}";
      return;
    }
    if (parts[0] == "expire-tokens") {
      std::lock_guard lock(token_mutex_);
      ++token_generation_;
      out.status = 204;
      return;
    }
    Value body;
    if (!r.body.empty()) body = parse_json(r.body);
    if (parts[0] == "faults") return set_faults(body, out);
    if (parts[0] == "ids") {
      std::shared_lock lock(state_mutex_);
      Kind kind = r.param("kind") == "groups" ? Kind::group : Kind::user;
      std::size_t from = r.param("from").empty() ? 0 : std::stoul(r.param("from"));
      std::size_t count = r.param("count").empty() ? 10 : std::stoul(r.param("count"));
      out.body = "[";
      const auto& list = entities(kind);
      for (std::size_t i = from; i < std::min(list.size(), from + count); ++i)
        out.body += (i > from ? "," : "") + json_string(list[i].id);
      out.body += "]";
      return;
    }
    if (parts[0] == "touch") return touch(body, out);
    if (parts[0] != "users" && parts[0] != "groups") return json_error(out, 404, "NotFound", "admin: unknown " + parts[0]);
    Kind kind = parts[0] == "users" ? Kind::user : Kind::group;
    std::unique_lock lock(state_mutex_);
    if (parts.size() == 1 && r.method == "POST") return create(kind, body, out);
    if (parts.size() < 2) return json_error(out, 400, "BadRequest", "admin: missing id");
    auto& idx = index(kind);
    auto it = idx.find(parts[1]);
    if (it == idx.end()) return json_error(out, 404, "Request_ResourceNotFound", "admin: no object " + parts[1]);
    std::uint32_t i = it->second;
    Entity& e = entities(kind)[i];
    std::string action = parts.size() > 2 ? parts[2] : "";
    out.status = 204;
    if (r.method == "GET" && action.empty()) {
      out.status = 200;
      std::vector<std::uint16_t> all;
      for (const auto& [p, end] : e.spans) all.push_back(p);
      render(out.body, kind, i, all, false);
    } else if (r.method == "PATCH" && action.empty()) {
      if (!body.is_object()) return json_error(out, 400, "BadRequest", "admin: expected a JSON object");
      std::vector<std::uint16_t> changed;
      for (const auto& [k, v] : body.as_object())
        if (k != "id" && e.set(props(kind).id(k), to_json(v))) changed.push_back(props(kind).id(k));
      if (!changed.empty()) record(kind, Event::props, i, std::move(changed));
    } else if (r.method == "POST" && action == "soft-delete") {
      if (e.state != Entity::live) return;
      e.state = Entity::soft_deleted;
      drop_memberships(kind, i);
      record(kind, Event::soft_deleted, i);
    } else if (r.method == "POST" && action == "restore") {
      if (e.state != Entity::soft_deleted) return;
      e.state = Entity::live;
      record(kind, Event::restored, i);
    } else if (r.method == "DELETE" && action.empty()) {
      if (e.state == Entity::live) drop_memberships(kind, i);
      e.state = Entity::gone;
      record(kind, Event::hard_deleted, i);
    } else if (r.method == "POST" && action == "members" && kind == Kind::group) {
      change_members(i, body, out);
    } else {
      json_error(out, 400, "BadRequest", "admin: unsupported " + r.method + " " + r.path);
    }
  }

  // Bulk change for benchmarks: {"every":100,"property":"jobTitle","value":"x"}
  // sets the property on every Nth live user (1% with 100).
  void touch(const Value& body, SimResponse& out) {
    if (!body.is_object()) return json_error(out, 400, "BadRequest", "admin: expected a JSON object");
    const Value* every = body.as_object().find("every");
    const Value* prop = body.as_object().find("property");
    const Value* value = body.as_object().find("value");
    if (!every || !every->is_integer() || every->as_integer() < 1 || !prop || !value)
      return json_error(out, 400, "BadRequest", "admin: touch needs every, property and value");
    std::unique_lock lock(state_mutex_);
    std::uint16_t p = user_props_.id(prop->to_string());
    std::string json = to_json(*value);
    std::size_t changed = 0;
    for (std::size_t i = 0; i < users_.size(); i += static_cast<std::size_t>(every->as_integer())) {
      if (users_[i].state != Entity::live || !users_[i].set(p, json)) continue;
      record(Kind::user, Event::props, static_cast<std::uint32_t>(i), {p});
      ++changed;
    }
    out.body = "{\"changed\":" + std::to_string(changed) + "}";
  }

  void create(Kind kind, const Value& body, SimResponse& out) {
    if (!body.is_object()) return json_error(out, 400, "BadRequest", "admin: expected a JSON object");
    Entity e;
    const Value* id = body.as_object().find("id");
    e.id = id && id->is_string() ? id->as_string() : guid(rng_);
    if (index(kind).count(e.id)) return json_error(out, 409, "Conflict", "admin: id exists");
    for (const auto& [k, v] : body.as_object())
      if (k != "id" && k != "members") e.set(props(kind).id(k), to_json(v));
    auto i = static_cast<std::uint32_t>(entities(kind).size());
    index(kind)[e.id] = i;
    out.body = "{\"id\":" + json_string(e.id) + "}";
    entities(kind).push_back(std::move(e));
    record(kind, Event::created, i);
    out.status = 201;
  }

  void drop_memberships(Kind kind, std::uint32_t i) {
    std::uint32_t ref = kind == Kind::group ? (i | kGroupBit) : i;
    for (std::uint32_t j = 0; j < groups_.size(); ++j) {
      auto& m = groups_[j].members;
      auto it = std::find(m.begin(), m.end(), ref);
      if (it == m.end()) continue;
      m.erase(it);
      record(Kind::group, Event::member_remove, j, {}, ref);
    }
  }

  void change_members(std::uint32_t j, const Value& body, SimResponse& out) {
    if (!body.is_object()) return json_error(out, 400, "BadRequest", "admin: expected {\"add\":[],\"remove\":[]}");
    auto& m = groups_[j].members;
    for (auto [key, add] : {std::pair{"add", true}, std::pair{"remove", false}}) {
      const Value* ids = body.as_object().find(key);
      if (!ids || !ids->is_list()) continue;
      for (const Value& id : ids->as_list()) {
        auto ref = resolve(id.to_string());
        if (!ref) return json_error(out, 404, "Request_ResourceNotFound", "admin: no object " + id.to_string());
        auto it = std::find(m.begin(), m.end(), *ref);
        if (add && it == m.end()) {
          m.push_back(*ref);
          record(Kind::group, Event::member_add, j, {}, *ref);
        } else if (!add && it != m.end()) {
          m.erase(it);
          record(Kind::group, Event::member_remove, j, {}, *ref);
        }
      }
    }
  }

  void set_faults(const Value& body, SimResponse& out) {
    if (!body.is_object()) return json_error(out, 400, "BadRequest", "admin: expected a JSON object");
    std::lock_guard lock(fault_mutex_);
    for (const auto& [k, v] : body.as_object()) {
      auto num = [&] { return v.is_integer() ? v.as_integer() : std::stoll(v.to_string()); };
      if (k == "throttle_every") faults_.throttle_every = num();
      else if (k == "retry_after") faults_.retry_after = v.to_string();
      else if (k == "error_every") faults_.error_every = num();
      else if (k == "error_status") faults_.error_status = static_cast<int>(num());
      else if (k == "truncate_every") faults_.truncate_every = num();
      else if (k == "slow_ms") faults_.slow_ms = static_cast<int>(num());
      else if (k == "delta_gone") faults_.delta_gone = v.is_bool() && v.as_bool();
      else if (k == "fail_page") faults_.fail_page = num();
      else if (k == "delta_empty_pages") faults_.delta_empty_pages = num();
      else if (k == "deny") {
        faults_.deny.clear();
        if (v.is_list())
          for (const Value& p : v.as_list()) faults_.deny.insert(p.to_string());
      } else {
        return json_error(out, 400, "BadRequest", "admin: unknown fault " + k);
      }
    }
    counter_ = 0;
    out.status = 204;
  }

  // -------------------------------------------------------------- state ---
  std::shared_mutex state_mutex_;
  std::vector<Entity> users_, groups_;
  PropTable user_props_, group_props_;
  std::unordered_map<std::string, std::uint32_t> user_index_, group_index_;
  std::size_t member_chunk_ = 20;

  std::mutex event_mutex_;
  std::vector<Event> events_;
  std::uint64_t seq_ = 0;

  std::mutex cursor_mutex_;
  std::unordered_map<std::string, Cursor> cursors_;

  std::mutex members_cache_mutex_;
  std::unordered_map<std::uint64_t, std::shared_ptr<const std::vector<std::string>>> members_cache_;
  std::unordered_map<std::string, Cursor> delta_tokens_;
  std::mt19937_64 rng_;

  std::mutex token_mutex_;
  std::unordered_map<std::string, std::pair<std::uint64_t, std::chrono::steady_clock::time_point>> tokens_;
  std::uint64_t token_generation_ = 0;
  std::string client_id_, client_secret_;
  long long token_ttl_ = 3599;

  std::mutex fault_mutex_;
  Faults faults_;
  std::atomic<long long> counter_{0};
  std::atomic<long long> stats_requests_{0}, stats_throttled_{0}, stats_errors_{0}, stats_truncated_{0},
      stats_unauthorized_{0}, stats_tokens_{0};
};

}  // namespace

std::unique_ptr<Module> make_graph_module(Args& args) { return std::make_unique<GraphModule>(args); }

}  // namespace dirsync::sim
