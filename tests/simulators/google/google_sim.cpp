// The Google Workspace module of dirsync-sim: a generated (or loaded) domain
// served through Google's OAuth2 token endpoint (JWT-bearer grant) and the
// Admin SDK Directory API reads (users.list, groups.list, members.list,
// orgunits.list), with Google's paging, error bodies, quotas and the
// domain-wide delegation checks the Google connector must survive.
//
// Options:
//   --google-users N --google-groups M --seed S   generated domain (deterministic)
//   --google-domain D (example.com) --google-customer-id C (C01sim000)
//   --google-service-account FILE   service-account key JSON whose key verifies assertions
//                                   (its client_email is the only accepted `iss`)
//   --google-admins a@d,b@d         users a `sub` may impersonate (default admin@<domain>)
//   --google-delegated-scopes S,S   scopes granted to the client id in the Admin console
//                                   (default: the four Directory read-only scopes)
//   --google-token-ttl SECONDS      expires_in of issued tokens (3599)
//   fault knobs (also settable at runtime, POST /_admin/google/faults {...}):
//   --google-quota-every N --google-quota-reason R (userRateLimitExceeded | quotaExceeded |
//   rateLimitExceeded) --google-quota-next K (the next K API requests) --google-error-every N
//   --google-error-status C --google-fail-page P (users.list page P, 0-based, always 503)
//   --google-slow-ms MS --google-truncate-every N (a 200 body cut in half, connection closed)
//   --google-revoke-every N (a token expires after N API requests: 401)
//
// Admin API (no auth): POST /_admin/google/touch {"every":N,"title":T},
// POST /_admin/google/users {user JSON}, PATCH|DELETE
// /_admin/google/users/{id or email}, POST /_admin/google/faults, GET /_admin/google/stats.
//
// State is in memory behind one reader/writer lock; users are kept as small
// structs and rendered per request, so projection and viewType change what
// a page holds without storing each user several times; the default shape
// (basic, admin view) is kept rendered, as benchmarks read it.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <dirsync/jwt.hpp>
#include <dirsync/value.hpp>
#include <fstream>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <sstream>
#include <unordered_map>

#include "../sim.hpp"

namespace dirsync::sim {
namespace {

const std::string kScopePrefix = "https://www.googleapis.com/auth/";
const std::vector<std::string> kDefaultScopes = {kScopePrefix + "admin.directory.user.readonly",
                                                 kScopePrefix + "admin.directory.group.readonly",
                                                 kScopePrefix + "admin.directory.group.member.readonly",
                                                 kScopePrefix + "admin.directory.orgunit.readonly"};

std::vector<std::string> split_list(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == sep) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct User {
  std::string id, email, given, family, ou = "/", department, title, cost_center, phone, employee_id, manager;
  std::string custom;  // customSchemas object JSON, "" when none
  std::vector<std::string> aliases;
  bool suspended = false, archived = false, admin = false, deleted = false;
  std::string creation = "2024-01-15T09:30:00.000Z";
  // The user as users.list's default shape (projection=basic, admin view)
  // renders it, kept up to date by every change: pages of that shape are
  // copied, not rendered, so the simulator costs a benchmark little CPU.
  std::string basic;
};

struct Member {
  std::string id, email, role = "MEMBER", type = "USER";
};

struct Group {
  std::string id, email, name, description;
  std::vector<Member> members;
  bool deleted = false;
};

struct Faults {
  long long quota_every = 0;
  std::string quota_reason = "userRateLimitExceeded";
  long long quota_next = 0;
  long long error_every = 0;
  int error_status = 503;
  long long fail_page = -1;
  long long truncate_every = 0;
  long long revoke_every = 0;
  int slow_ms = 0;
};

struct Token {
  std::string subject;
  std::vector<std::string> scopes;
  std::chrono::steady_clock::time_point issued;
  long long uses = 0;
};

// Google's error body, https://developers.google.com/admin-sdk/directory/v1/limits
// and https://cloud.google.com/apis/design/errors#http_mapping:
// {"error":{"code":403,"message":"...","errors":[{"message","domain","reason"}],"status":"..."}}
void google_error(SimResponse& out, int code, const std::string& reason, const std::string& message,
                  const std::string& domain = "global") {
  static const std::map<int, std::string> status = {
      {400, "INVALID_ARGUMENT"},   {401, "UNAUTHENTICATED"}, {403, "PERMISSION_DENIED"}, {404, "NOT_FOUND"},
      {429, "RESOURCE_EXHAUSTED"}, {500, "INTERNAL"},        {503, "UNAVAILABLE"}};
  out.status = code;
  auto it = status.find(code);
  out.body = R"({"error":{"code":)" + std::to_string(code) + R"(,"message":)" + json_string(message) +
             R"(,"errors":[{"message":)" + json_string(message) + R"(,"domain":)" + json_string(domain) +
             R"(,"reason":)" + json_string(reason) + R"(}],"status":)" +
             json_string(it == status.end() ? "UNKNOWN" : it->second) + "}}";
}

std::uint64_t fnv(const std::string& s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

// One clause of the users.list query grammar,
// https://developers.google.com/admin-sdk/directory/v1/guides/search-users
struct QueryClause {
  std::string field;  // lower-case
  char op = '=';      // '=' or ':'
  std::string value;
  bool prefix = false;  // ':value*'
};

class GoogleModule final : public Module {
 public:
  explicit GoogleModule(Args& args) {
    domain_ = args.get("google-domain", "example.com");
    customer_id_ = args.get("google-customer-id", "C01sim000");
    token_ttl_ = args.integer("google-token-ttl", 3599);
    admins_ = split_list(args.get("google-admins", "admin@" + domain_), ',');
    delegated_ = split_list(args.get("google-delegated-scopes"), ',');
    if (delegated_.empty()) delegated_ = kDefaultScopes;
    faults_.quota_every = args.integer("google-quota-every", 0);
    faults_.quota_reason = args.get("google-quota-reason", "userRateLimitExceeded");
    faults_.quota_next = args.integer("google-quota-next", 0);
    faults_.error_every = args.integer("google-error-every", 0);
    faults_.error_status = static_cast<int>(args.integer("google-error-status", 503));
    faults_.fail_page = args.integer("google-fail-page", -1);
    faults_.slow_ms = static_cast<int>(args.integer("google-slow-ms", 0));
    faults_.truncate_every = args.integer("google-truncate-every", 0);
    faults_.revoke_every = args.integer("google-revoke-every", 0);
    std::string sa = args.get("google-service-account");
    if (!sa.empty()) load_service_account(sa);
    rng_.seed(static_cast<std::uint64_t>(args.integer("seed", 1)) ^ 0x600613ULL);
    generate(static_cast<std::size_t>(args.integer("google-users", 100)),
             static_cast<std::size_t>(args.integer("google-groups", 10)));
  }

  bool claims(const std::string& path) const override {
    return path.starts_with("/admin/directory/v1/") || path.starts_with("/_admin/google/") ||
           path == "/token";
  }

  std::vector<std::string> describe() const override {
    return {"google: " + std::to_string(users_.size()) + " users, " + std::to_string(groups_.size()) +
            " groups in " + domain_ + "; token endpoint /token, API /admin/directory/v1"};
  }

  void handle(const SimRequest& r, SimResponse& out) override {
    if (r.path == "/token") return token(r, out);
    if (r.path.starts_with("/_admin/google/")) return admin(r, out);
    api(r, out);
  }

 private:
  // ------------------------------------------------------------- domain ---

  void load_service_account(const std::string& file) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot read --google-service-account " + file);
    std::stringstream ss;
    ss << in.rdbuf();
    Value doc = parse_json(ss.str());
    auto field = [&](const char* k) {
      const Value* v = doc.is_object() ? doc.as_object().find(k) : nullptr;
      return v && v->is_string() ? v->as_string() : std::string();
    };
    client_email_ = field("client_email");
    key_pem_ = field("private_key");
    if (client_email_.empty() || key_pem_.empty())
      throw std::runtime_error("--google-service-account " + file + " lacks client_email or private_key");
  }

  std::string next_id() {
    // Google ids are 21-digit decimal strings.
    char buf[32];
    std::snprintf(buf, sizeof buf, "1%020llu", static_cast<unsigned long long>(++id_counter_));
    return buf;
  }

  void generate(std::size_t n_users, std::size_t n_groups) {
    static const char* given[] = {"Ada",  "Ben",  "Chloe", "Dan",  "Eva", "Finn", "Gus",
                                  "Hana", "Ivan", "Jade",  "Kai",  "Lea", "Milo", "Nora",
                                  "Omar", "Pia",  "Quinn", "Rosa", "Sam", "Tara"};
    static const char* family[] = {"Adams",  "Baker",  "Chen",   "Diaz",  "Evans",    "Fischer",
                                   "Garcia", "Hughes", "Ito",    "Jones", "Kowalski", "Lopez",
                                   "Moreau", "Nguyen", "Okafor", "Patel"};
    static const char* ous[] = {"/Sales", "/Sales/EMEA", "/Engineering", "/Engineering/Platform", "/Finance",
                                "/"};
    static const char* depts[] = {"Sales", "Sales", "Engineering", "Engineering", "Finance", "Operations"};
    static const char* titles[] = {"Engineer", "Manager", "Analyst", "Consultant", "Director", "Specialist"};
    users_.reserve(n_users);
    for (std::size_t i = 0; i < n_users; ++i) {
      User u;
      u.id = next_id();
      u.given = given[rng_() % 20];
      u.family = family[rng_() % 16];
      char mail[96];
      std::snprintf(mail, sizeof mail, "%s.%s.%zu@%s", lower(u.given).c_str(), lower(u.family).c_str(), i,
                    domain_.c_str());
      u.email = mail;
      if (i == 0) {
        u.email = "admin@" + domain_;
        u.admin = true;
      }
      std::size_t o = rng_() % 6;
      u.ou = ous[o];
      u.department = depts[o];
      u.title = titles[rng_() % 6];
      u.cost_center = "CC" + std::to_string(100 + rng_() % 50);
      u.employee_id = "E" + std::to_string(100000 + i);
      u.phone = "+1 555 01" + std::to_string(10 + rng_() % 90);
      if (i > 0) u.manager = users_[(rng_() % i) / 8].email;
      u.suspended = i > 0 && rng_() % 25 == 0;
      u.archived = i > 0 && !u.suspended && rng_() % 60 == 0;
      u.custom =
          R"({"HR":{"costCenter":")" + u.cost_center + R"(","badge":)" + std::to_string(1000 + i) + "}}";
      if (i % 10 == 3) u.aliases.push_back(lower(u.given) + std::to_string(i) + "@alias." + domain_);
      index_user(users_.size(), u);
      prerender(u);
      users_.push_back(std::move(u));
    }
    groups_.reserve(n_groups);
    for (std::size_t j = 0; j < n_groups; ++j) {
      Group g;
      char gid[32];
      // Group ids are 15-character strings such as "03ep43zb2k1nfsp".
      std::snprintf(gid, sizeof gid, "03%013llx", static_cast<unsigned long long>(++id_counter_));
      g.id = gid;
      g.email = "group" + std::to_string(j) + "@" + domain_;
      g.name = "Group " + std::to_string(j);
      g.description = "generated group " + std::to_string(j);
      if (!users_.empty()) {
        std::size_t n = 3 + rng_() % 8;
        for (std::size_t k = 0; k < n; ++k) {
          const User& u = users_[rng_() % users_.size()];
          bool dup = false;
          for (const auto& m : g.members) dup |= m.id == u.id;
          if (dup) continue;
          g.members.push_back({u.id, u.email, k == 0 ? "OWNER" : k == 1 ? "MANAGER" : "MEMBER", "USER"});
        }
      }
      // Nesting: every third group contains the previous one, so chains of
      // groups exist (members.list returns them with type GROUP).
      if (j % 3 == 2) g.members.push_back({groups_[j - 1].id, groups_[j - 1].email, "MEMBER", "GROUP"});
      // Member types beyond users: the whole customer, and an outsider.
      if (j == 0) g.members.push_back({customer_id_, "", "MEMBER", "CUSTOMER"});
      if (j == 1)
        g.members.push_back({"1" + std::string(20, '9'), "partner@outside.example", "MEMBER", "USER"});
      group_index_[g.id] = groups_.size();
      group_index_[lower(g.email)] = groups_.size();
      groups_.push_back(std::move(g));
    }
  }

  void index_user(std::size_t i, const User& u) {
    user_index_[u.id] = i;
    user_index_[lower(u.email)] = i;
  }

  // ------------------------------------------------------------- tokens ---

  // https://developers.google.com/identity/protocols/oauth2/service-account#httprest
  // (the assertion's claims and the error answers of the token endpoint).
  void token(const SimRequest& r, SimResponse& out) {
    auto form = [&](const std::string& name) {
      SimRequest body;
      body.query = r.body;
      return body.param(name);
    };
    auto oauth_error = [&](int status, const std::string& error, const std::string& description) {
      out.status = status;
      out.body =
          R"({"error":)" + json_string(error) + R"(,"error_description":)" + json_string(description) + "}";
    };
    if (r.method != "POST") return google_error(out, 405, "methodNotAllowed", "use POST");
    if (form("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer")
      return oauth_error(400, "unsupported_grant_type", "Invalid grant_type: " + form("grant_type"));
    if (key_pem_.empty()) return oauth_error(400, "invalid_grant", "Invalid grant: account not found");
    auto jwt = http::verify_rs256_jwt(form("assertion"), key_pem_);
    if (!jwt) return oauth_error(400, "invalid_grant", "Invalid JWT Signature.");
    Value header, claims;
    try {
      header = parse_json(jwt->header_json);
      claims = parse_json(jwt->payload_json);
    } catch (const std::exception&) {
      return oauth_error(400, "invalid_grant", "Invalid JWT: malformed header or claim set.");
    }
    auto claim = [&](const char* k) -> const Value* {
      return claims.is_object() ? claims.as_object().find(k) : nullptr;
    };
    const Value* alg = header.is_object() ? header.as_object().find("alg") : nullptr;
    if (!alg || alg->to_string() != "RS256")
      return oauth_error(400, "invalid_grant", "Invalid JWT: alg must be RS256.");
    if (!claim("iss") || claim("iss")->to_string() != client_email_)
      return oauth_error(400, "invalid_grant", "Invalid grant: account not found");
    if (!claim("aud") || claim("aud")->to_string() != r.base_url + "/token")
      return oauth_error(400, "invalid_grant", "Invalid JWT: Failed audience check.");
    const Value* iat = claim("iat");
    const Value* exp = claim("exp");
    auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    // Google allows a few minutes of clock skew and at most one hour of life.
    if (!iat || !exp || !iat->is_integer() || !exp->is_integer() || iat->as_integer() > now + 300 ||
        exp->as_integer() <= now - 300 || exp->as_integer() - iat->as_integer() > 3600 ||
        exp->as_integer() <= iat->as_integer())
      return oauth_error(400, "invalid_grant",
                         "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                         "timeframe. Check your iat and exp values in the JWT claim.");
    const Value* scope = claim("scope");
    std::vector<std::string> scopes =
        scope ? split_list(scope->to_string(), ' ') : std::vector<std::string>{};
    if (scopes.empty()) return oauth_error(400, "invalid_scope", "Empty or missing scope not allowed.");
    Token t;
    t.scopes = scopes;
    if (const Value* sub = claim("sub")) {
      t.subject = lower(sub->to_string());
      std::shared_lock lock(state_mutex_);
      auto it = user_index_.find(t.subject);
      if (it == user_index_.end() || users_[it->second].deleted)
        return oauth_error(400, "invalid_grant", "Invalid email or User ID");
    }
    {
      std::lock_guard lock(config_mutex_);
      // Impersonation needs every requested scope granted to the client id
      // (Admin console > Security > API controls > Domain-wide delegation).
      if (!t.subject.empty())
        for (const auto& s : scopes)
          if (std::find(delegated_.begin(), delegated_.end(), s) == delegated_.end())
            return oauth_error(
                401, "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client "
                "not authorized for any of the scopes requested.");
    }
    t.issued = std::chrono::steady_clock::now();
    std::string value = "ya29.sim." + std::to_string(rng_token());
    {
      std::lock_guard lock(token_mutex_);
      tokens_[value] = t;
    }
    ++stats_tokens_;
    out.body = R"({"access_token":")" + value + R"(","expires_in":)" + std::to_string(token_ttl_) +
               R"(,"token_type":"Bearer"})";
  }

  std::uint64_t rng_token() {
    std::lock_guard lock(token_mutex_);
    return token_rng_();
  }

  // ---------------------------------------------------------------- API ---

  void api(const SimRequest& r, SimResponse& out) {
    ++stats_requests_;
    long long revoke_every;
    {
      std::lock_guard lock(config_mutex_);
      revoke_every = faults_.revoke_every;
    }
    Token tok;
    {
      std::string auth = r.header("authorization");
      std::lock_guard lock(token_mutex_);
      // Tokens expire (after an hour at Google) in the middle of long reads: here each token
      // after `revoke_every` requests. Counted per token, not over all requests: with requests
      // in flight on several connections, a global count could revoke the token a refresh just
      // made before its first use, and the client would see "refused even after a refresh" by
      // chance.
      auto it = auth.starts_with("Bearer ") ? tokens_.find(auth.substr(7)) : tokens_.end();
      if (it != tokens_.end() && revoke_every > 0 && ++it->second.uses > revoke_every) {
        tokens_.erase(it);
        it = tokens_.end();
      }
      if (it == tokens_.end() ||
          std::chrono::steady_clock::now() - it->second.issued >= std::chrono::seconds(token_ttl_)) {
        ++stats_unauthorized_;
        return google_error(out, 401, "authError", "Invalid Credentials");
      }
      tok = it->second;
    }
    auto parts = split_list(r.path.substr(std::string("/admin/directory/v1").size()), '/');
    // https://developers.google.com/admin-sdk/directory/v1/guides/authorizing: each method
    // accepts its read-only scope or the read-write one.
    std::string needed = parts.size() >= 3 && parts[0] == "groups" && parts[2] == "members" ? "group.member"
                         : !parts.empty() && parts[0] == "groups"                           ? "group"
                         : parts.size() >= 3 && parts[2] == "orgunits"                      ? "orgunit"
                                                                                            : "user";
    bool granted = false;
    for (const auto& s : tok.scopes) {
      granted |= s == kScopePrefix + "admin.directory." + needed + ".readonly" ||
                 s == kScopePrefix + "admin.directory." + needed;
      if (needed == "group.member")
        granted |= s == kScopePrefix + "admin.directory.group.readonly" ||
                   s == kScopePrefix + "admin.directory.group";
    }
    if (!granted)
      return google_error(out, 403, "insufficientPermissions",
                          "Request had insufficient authentication scopes.");
    // Without impersonation a service account is no admin of the domain.
    bool is_admin = false;
    {
      std::lock_guard lock(config_mutex_);
      for (const auto& a : admins_) is_admin |= lower(a) == tok.subject;
    }
    if (!is_admin) return google_error(out, 403, "forbidden", "Not Authorized to access this resource/api");
    Faults f;
    {
      std::lock_guard lock(config_mutex_);
      f = faults_;
      if (faults_.quota_next > 0) --faults_.quota_next;
    }
    out.delay_ms = f.slow_ms;
    long long n = ++counter_;
    // https://developers.google.com/admin-sdk/directory/v1/limits
    if (f.quota_next > 0 || (f.quota_every > 0 && n % f.quota_every == 0)) {
      ++stats_quota_;
      if (f.quota_reason == "rateLimitExceeded")
        return google_error(out, 429, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits");
      if (f.quota_reason == "quotaExceeded")
        return google_error(
            out, 403, "quotaExceeded",
            "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' "
            "of service 'admin.googleapis.com'",
            "usageLimits");
      return google_error(out, 403, "userRateLimitExceeded", "User Rate Limit Exceeded", "usageLimits");
    }
    if (f.error_every > 0 && n % f.error_every == 0) {
      ++stats_errors_;
      return google_error(out, f.error_status, "backendError", "Backend Error");
    }
    if (r.method != "GET")
      return google_error(out, 405, "methodNotAllowed", "the simulator serves reads only");
    {
      std::shared_lock lock(state_mutex_);
      if (parts.size() == 1 && parts[0] == "users")
        users_list(r, out, f);
      else if (parts.size() == 1 && parts[0] == "groups")
        groups_list(r, out);
      else if (parts.size() == 3 && parts[0] == "groups" && parts[2] == "members")
        members_list(r, out, parts[1]);
      else if (parts.size() == 3 && parts[0] == "customer" && parts[2] == "orgunits")
        orgunits_list(r, out, parts[1]);
      else
        google_error(out, 404, "notFound", "Not Found");
    }
    if (f.truncate_every > 0 && n % f.truncate_every == 0 && out.status == 200) {
      ++stats_errors_;
      out.truncate_at = static_cast<long long>(out.body.size() / 2);
    }
  }

  // users.list and groups.list need exactly one of customer or domain:
  // https://developers.google.com/admin-sdk/directory/reference/rest/v1/users/list
  bool check_owner(const SimRequest& r, SimResponse& out) {
    std::string customer = r.param("customer"), domain = r.param("domain");
    if (customer.empty() && domain.empty()) {
      google_error(out, 400, "badRequest", "Bad Request");
      return false;
    }
    if (!customer.empty() && customer != "my_customer" && customer != customer_id_) {
      google_error(out, 400, "badRequest", "Bad Request");
      return false;
    }
    if (!domain.empty() && lower(domain) != domain_) {
      google_error(out, 403, "forbidden", "Not Authorized to access this resource/api");
      return false;
    }
    return true;
  }

  /// maxResults bounds; Google answers 400 "Invalid value" outside them.
  bool page_size(const SimRequest& r, SimResponse& out, long long fallback, long long max, long long& size) {
    size = fallback;
    if (!r.has_param("maxResults")) return true;
    try {
      size = std::stoll(r.param("maxResults"));
    } catch (const std::exception&) {
      size = -1;
    }
    if (size < 1 || size > max) {
      google_error(out, 400, "invalid",
                   "Invalid value '" + r.param("maxResults") + "'. Values must be within the range: [1, " +
                       std::to_string(max) + "]");
      return false;
    }
    return true;
  }

  // Page tokens are opaque to clients: position, page number and a hash of
  // the other parameters, so a token replayed with another query fails.
  std::string make_token(std::size_t pos, long long page, const std::string& fingerprint) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "Q%zx.%llx.%016llx", pos, page,
                  static_cast<unsigned long long>(fnv(fingerprint)));
    return buf;
  }
  bool read_token(const SimRequest& r, SimResponse& out, const std::string& fingerprint, std::size_t& pos,
                  long long& page) {
    pos = 0;
    page = 0;
    std::string t = r.param("pageToken");
    if (t.empty()) return true;
    unsigned long long h = 0;
    std::size_t p = 0;
    long long pg = 0;
    if (std::sscanf(t.c_str(), "Q%zx.%llx.%llx", &p, &pg, &h) != 3 || h != fnv(fingerprint)) {
      google_error(out, 400, "invalid", "Invalid Input: pageToken");
      return false;
    }
    pos = p;
    page = pg;
    return true;
  }
  static std::string fingerprint(const SimRequest& r, std::initializer_list<const char*> names) {
    std::string f;
    for (const char* n : names) f += std::string(n) + "=" + r.param(n) + "&";
    return f;
  }

  bool parse_query(const std::string& q, std::vector<QueryClause>& out) {
    std::size_t i = 0;
    while (i < q.size()) {
      while (i < q.size() && q[i] == ' ') ++i;
      if (i >= q.size()) break;
      QueryClause c;
      std::size_t start = i;
      while (i < q.size() && q[i] != '=' && q[i] != ':' && q[i] != ' ') ++i;
      if (i >= q.size() || q[i] == ' ') return false;
      c.field = lower(q.substr(start, i - start));
      c.op = q[i++];
      if (i < q.size() && (q[i] == '\'' || q[i] == '"')) {
        char quote = q[i++];
        std::size_t end = q.find(quote, i);
        if (end == std::string::npos) return false;
        c.value = q.substr(i, end - i);
        i = end + 1;
      } else {
        start = i;
        while (i < q.size() && q[i] != ' ') ++i;
        c.value = q.substr(start, i - start);
      }
      if (c.op == ':' && c.value.ends_with('*')) {
        c.prefix = true;
        c.value.pop_back();
      }
      static const char* known[] = {"email",       "givenname",  "familyname",  "name",          "isadmin",
                                    "issuspended", "isarchived", "orgunitpath", "orgdepartment", "orgtitle"};
      bool ok = false;
      for (const char* k : known) ok |= c.field == k;
      if (!ok) return false;
      out.push_back(std::move(c));
    }
    return true;
  }

  static bool text_matches(const std::string& actual, const QueryClause& c) {
    std::string a = lower(actual), v = lower(c.value);
    if (c.op == '=') return a == v;
    if (c.prefix) return a.starts_with(v);
    return a.find(v) != std::string::npos;
  }

  static bool matches(const User& u, const std::vector<QueryClause>& clauses) {
    for (const auto& c : clauses) {
      bool ok;
      if (c.field == "issuspended")
        ok = u.suspended == (lower(c.value) == "true");
      else if (c.field == "isarchived")
        ok = u.archived == (lower(c.value) == "true");
      else if (c.field == "isadmin")
        ok = u.admin == (lower(c.value) == "true");
      // "orgUnitPath=/Sales" matches all org unit chains under the target.
      else if (c.field == "orgunitpath")
        ok = c.value == "/" || u.ou == c.value || u.ou.starts_with(c.value + "/");
      // "The user's email addresses, including aliases."
      else if (c.field == "email") {
        ok = text_matches(u.email, c);
        for (const auto& a : u.aliases) ok = ok || text_matches(a, c);
      } else if (c.field == "givenname")
        ok = text_matches(u.given, c);
      else if (c.field == "familyname")
        ok = text_matches(u.family, c);
      else if (c.field == "name")
        ok = text_matches(u.given + " " + u.family, c);
      else if (c.field == "orgdepartment")
        ok = text_matches(u.department, c);
      else
        ok = text_matches(u.title, c);
      if (!ok) return false;
    }
    return true;
  }

  // https://developers.google.com/admin-sdk/directory/reference/rest/v1/users (the User
  // resource); projection basic leaves out customSchemas, custom adds the schemas named by
  // customFieldMask, full adds all; viewType domain_public shows the public fields only.
  void render_user(std::string& b, const User& u, const std::string& projection, const std::string& mask,
                   bool public_view) {
    std::string etag = std::to_string(fnv(u.id + u.email + u.ou + (u.suspended ? "s" : "") + u.title));
    b += R"({"kind":"admin#directory#user","id":")" + u.id + R"(","etag":"\")" + etag +
         R"(\"","primaryEmail":)";
    append_json_string(b, u.email);
    b += R"(,"name":{"givenName":)";
    append_json_string(b, u.given);
    b += R"(,"familyName":)";
    append_json_string(b, u.family);
    b += R"(,"fullName":)";
    append_json_string(b, u.given + " " + u.family);
    b += "}";
    if (!public_view) {
      b += std::string(R"(,"isAdmin":)") + (u.admin ? "true" : "false") +
           R"(,"isDelegatedAdmin":false,"lastLoginTime":"2026-01-10T08:00:00.000Z","creationTime":")" +
           u.creation + R"(","agreedToTerms":true,"suspended":)" + (u.suspended ? "true" : "false");
      if (u.suspended) b += R"(,"suspensionReason":"ADMIN")";
      b += std::string(R"(,"archived":)") + (u.archived ? "true" : "false") +
           R"(,"changePasswordAtNextLogin":false,"ipWhitelisted":false)";
    }
    b += R"(,"emails":[{"address":)";
    append_json_string(b, u.email);
    b += R"(,"primary":true})";
    for (const auto& a : u.aliases) {
      b += R"(,{"address":)";
      append_json_string(b, a);
      b += "}";
    }
    b += "]";
    if (!u.phone.empty()) b += R"(,"phones":[{"value":")" + u.phone + R"(","type":"work"}])";
    if (!public_view) {
      if (!u.employee_id.empty())
        b += R"(,"externalIds":[{"value":")" + u.employee_id + R"(","type":"organization"}])";
      if (!u.manager.empty()) {
        b += R"(,"relations":[{"value":)";
        append_json_string(b, u.manager);
        b += R"(,"type":"manager"}])";
      }
    }
    b += R"(,"organizations":[{"title":)";
    append_json_string(b, u.title);
    b += R"(,"primary":true,"customType":"","department":)";
    append_json_string(b, u.department);
    if (!public_view) {
      b += R"(,"costCenter":)";
      append_json_string(b, u.cost_center);
    }
    b += "}]";
    if (!public_view) {
      b += R"(,"customerId":")" + customer_id_ + R"(","orgUnitPath":)";
      append_json_string(b, u.ou);
      b += R"(,"isMailboxSetup":true,"includeInGlobalAddressList":true)";
      if (!u.custom.empty() && (projection == "full" || projection == "custom")) {
        if (projection == "full") {
          b += R"(,"customSchemas":)" + u.custom;
        } else {
          Value all = parse_json(u.custom);
          Object picked;
          for (const auto& name : split_list(mask, ','))
            if (const Value* v = all.as_object().find(name)) picked.set(name, *v);
          if (!picked.empty()) b += R"(,"customSchemas":)" + to_json(Value(std::move(picked)));
        }
      }
    }
    b += "}";
  }

  void prerender(User& u) {
    u.basic.clear();
    render_user(u.basic, u, "basic", "", false);
  }

  void users_list(const SimRequest& r, SimResponse& out, const Faults& f) {
    if (!check_owner(r, out)) return;
    long long size;
    if (!page_size(r, out, 100, 500, size)) return;
    std::string projection = r.has_param("projection") ? lower(r.param("projection")) : "basic";
    if (projection != "basic" && projection != "custom" && projection != "full")
      return google_error(out, 400, "invalid",
                          "Invalid value '" + r.param("projection") + "' for projection");
    std::string mask = r.param("customFieldMask");
    if (projection == "custom" && mask.empty())
      return google_error(out, 400, "invalid",
                          "Invalid Input: customFieldMask is required with projection custom");
    std::string view = r.has_param("viewType") ? lower(r.param("viewType")) : "admin_view";
    if (view != "admin_view" && view != "domain_public")
      return google_error(out, 400, "invalid", "Invalid value '" + r.param("viewType") + "' for viewType");
    std::string order = r.param("orderBy");
    if (!order.empty() && order != "email" && order != "givenName" && order != "familyName")
      return google_error(out, 400, "invalid", "Invalid value '" + order + "' for orderBy");
    std::vector<QueryClause> clauses;
    if (!parse_query(r.param("query"), clauses)) return google_error(out, 400, "invalid", "Invalid Input");
    bool show_deleted = r.param("showDeleted") == "true";
    std::string fp = fingerprint(r, {"customer", "domain", "query", "showDeleted", "projection", "viewType"});
    std::size_t pos;
    long long page;
    if (!read_token(r, out, fp, pos, page)) return;
    if (f.fail_page >= 0 && page == f.fail_page) {
      ++stats_errors_;
      return google_error(out, 503, "backendError", "Backend Error");
    }
    ++stats_user_pages_;
    std::string& b = out.body;
    b.reserve(static_cast<std::size_t>(size) * 900 + 256);
    b = R"({"kind":"admin#directory#users","etag":"\")" + std::to_string(fnv(fp) % 1000000) + R"(\"")";
    long long emitted = 0;
    std::size_t i = pos;
    bool first = true;
    for (; i < users_.size(); ++i) {
      const User& u = users_[i];
      if (u.deleted != show_deleted || !matches(u, clauses)) continue;
      if (emitted == size) break;
      b += first ? R"(,"users":[)" : ",";
      first = false;
      if (projection == "basic" && view == "admin_view") b += u.basic;
      else render_user(b, u, projection, mask, view == "domain_public");
      ++emitted;
    }
    if (!first) b += "]";
    // The token is absent on the last page.
    if (i < users_.size()) b += R"(,"nextPageToken":")" + make_token(i, page + 1, fp) + "\"";
    b += "}";
  }

  // https://developers.google.com/admin-sdk/directory/reference/rest/v1/groups/list
  void groups_list(const SimRequest& r, SimResponse& out) {
    if (!check_owner(r, out)) return;
    long long size;
    if (!page_size(r, out, 200, 200, size)) return;
    std::string fp = fingerprint(r, {"customer", "domain", "userKey"});
    std::size_t pos;
    long long page;
    if (!read_token(r, out, fp, pos, page)) return;
    ++stats_group_pages_;
    std::string& b = out.body;
    b = R"({"kind":"admin#directory#groups","etag":"\"g\"")";
    long long emitted = 0;
    std::size_t i = pos;
    bool first = true;
    for (; i < groups_.size(); ++i) {
      const Group& g = groups_[i];
      if (g.deleted) continue;
      if (emitted == size) break;
      b += first ? R"(,"groups":[)" : ",";
      first = false;
      b += R"({"kind":"admin#directory#group","id":")" + g.id + R"(","etag":"\")" +
           std::to_string(fnv(g.email) % 99999) + R"(\"","email":)";
      append_json_string(b, g.email);
      b += R"(,"name":)";
      append_json_string(b, g.name);
      // int64 fields are JSON strings in Google's APIs.
      b += R"(,"directMembersCount":")" + std::to_string(g.members.size()) + R"(","description":)";
      append_json_string(b, g.description);
      b += R"(,"adminCreated":true})";
      ++emitted;
    }
    if (!first) b += "]";
    if (i < groups_.size()) b += R"(,"nextPageToken":")" + make_token(i, page + 1, fp) + "\"";
    b += "}";
  }

  void collect_derived(const Group& g, std::vector<Member>& out, std::vector<std::string>& seen_groups) {
    for (const auto& m : g.members) {
      if (std::find_if(out.begin(), out.end(), [&](const Member& x) { return x.id == m.id; }) == out.end())
        out.push_back(m);
      if (m.type != "GROUP" || std::find(seen_groups.begin(), seen_groups.end(), m.id) != seen_groups.end())
        continue;
      seen_groups.push_back(m.id);
      auto it = group_index_.find(m.id);
      if (it != group_index_.end() && !groups_[it->second].deleted)
        collect_derived(groups_[it->second], out, seen_groups);
    }
  }

  // https://developers.google.com/admin-sdk/directory/reference/rest/v1/members/list
  void members_list(const SimRequest& r, SimResponse& out, const std::string& key) {
    auto it = group_index_.find(lower(key));
    if (it == group_index_.end()) it = group_index_.find(key);
    if (it == group_index_.end() || groups_[it->second].deleted)
      return google_error(out, 404, "notFound", "Resource Not Found: groupKey");
    long long size;
    if (!page_size(r, out, 200, 200, size)) return;
    std::string fp = fingerprint(r, {"roles", "includeDerivedMembership"}) + key;
    std::size_t pos;
    long long page;
    if (!read_token(r, out, fp, pos, page)) return;
    const Group& g = groups_[it->second];
    std::vector<Member> members;
    if (r.param("includeDerivedMembership") == "true") {
      std::vector<std::string> seen{g.id};
      collect_derived(g, members, seen);
    } else {
      members = g.members;
    }
    std::vector<std::string> roles = split_list(r.param("roles"), ',');
    ++stats_member_pages_;
    std::string& b = out.body;
    b = R"({"kind":"admin#directory#members","etag":"\"m\"")";
    long long emitted = 0;
    std::size_t i = pos;
    bool first = true;
    for (; i < members.size(); ++i) {
      const Member& m = members[i];
      if (!roles.empty() && std::find(roles.begin(), roles.end(), m.role) == roles.end()) continue;
      if (emitted == size) break;
      b += first ? R"(,"members":[)" : ",";
      first = false;
      b += R"({"kind":"admin#directory#member","etag":"\"e\"","id":")" + m.id + "\"";
      if (!m.email.empty()) {
        b += R"(,"email":)";
        append_json_string(b, m.email);
      }
      b += R"(,"role":")" + m.role + R"(","type":")" + m.type + R"(","status":"ACTIVE"})";
      ++emitted;
    }
    if (!first) b += "]";
    if (i < members.size()) b += R"(,"nextPageToken":")" + make_token(i, page + 1, fp) + "\"";
    b += "}";
  }

  // https://developers.google.com/admin-sdk/directory/reference/rest/v1/orgunits/list
  void orgunits_list(const SimRequest&, SimResponse& out, const std::string& customer) {
    if (customer != "my_customer" && customer != customer_id_)
      return google_error(out, 400, "badRequest", "Bad Request");
    std::vector<std::string> paths;
    for (const auto& u : users_)
      if (u.ou != "/" && std::find(paths.begin(), paths.end(), u.ou) == paths.end()) paths.push_back(u.ou);
    std::sort(paths.begin(), paths.end());
    std::string& b = out.body;
    b = R"({"kind":"admin#directory#orgUnits","etag":"\"o\"")";
    for (std::size_t i = 0; i < paths.size(); ++i) {
      const std::string& p = paths[i];
      std::string parent = p.substr(0, p.rfind('/'));
      b += i == 0 ? R"(,"organizationUnits":[)" : ",";
      b += R"({"kind":"admin#directory#orgUnit","name":)";
      append_json_string(b, p.substr(p.rfind('/') + 1));
      b += R"(,"orgUnitPath":)";
      append_json_string(b, p);
      b += R"(,"parentOrgUnitPath":)";
      append_json_string(b, parent.empty() ? "/" : parent);
      b += "}";
      if (i + 1 == paths.size()) b += "]";
    }
    b += "}";
  }

  // -------------------------------------------------------------- admin ---

  void admin(const SimRequest& r, SimResponse& out) {
    auto parts = split_list(r.path.substr(std::string("/_admin/google").size()), '/');
    Value body;
    if (!r.body.empty()) {
      try {
        body = parse_json(r.body);
      } catch (const std::exception& e) {
        return google_error(out, 400, "badRequest", std::string("admin: ") + e.what());
      }
    }
    if (parts.size() == 1 && parts[0] == "faults" && r.method == "POST") return set_faults(body, out);
    if (parts.size() == 1 && parts[0] == "stats" && r.method == "GET") {
      out.body = R"({"requests":)" + std::to_string(stats_requests_) + R"(,"quota":)" +
                 std::to_string(stats_quota_) + R"(,"errors":)" + std::to_string(stats_errors_) +
                 R"(,"tokens":)" + std::to_string(stats_tokens_) + R"(,"unauthorized":)" +
                 std::to_string(stats_unauthorized_) + R"(,"user_pages":)" +
                 std::to_string(stats_user_pages_) + R"(,"group_pages":)" +
                 std::to_string(stats_group_pages_) + R"(,"member_pages":)" +
                 std::to_string(stats_member_pages_) + "}";
      return;
    }
    std::unique_lock lock(state_mutex_);
    // Benchmarks: change the title of every Nth live user.
    if (parts.size() == 1 && parts[0] == "touch" && r.method == "POST") {
      const Value* every = body.is_object() ? body.as_object().find("every") : nullptr;
      const Value* title = body.is_object() ? body.as_object().find("title") : nullptr;
      if (!every || !every->is_integer() || every->as_integer() < 1 || !title)
        return google_error(out, 400, "badRequest", R"(admin: expected {"every":N,"title":"..."})");
      long long n = 0;
      for (std::size_t i = 0; i < users_.size(); i += static_cast<std::size_t>(every->as_integer()))
        if (!users_[i].deleted) {
          users_[i].title = title->to_string();
          prerender(users_[i]);
          ++n;
        }
      out.body = R"({"touched":)" + std::to_string(n) + "}";
      return;
    }
    if (parts.size() == 1 && parts[0] == "users" && r.method == "POST") {
      User u;
      u.id = next_id();
      if (!apply_user(u, body, out)) return;
      index_user(users_.size(), u);
      prerender(u);
      out.status = 201;
      out.body = R"({"id":")" + u.id + "\"}";
      users_.push_back(std::move(u));
      return;
    }
    if (parts.size() == 2 && parts[0] == "users") {
      auto it = user_index_.find(lower(parts[1]));
      if (it == user_index_.end()) it = user_index_.find(parts[1]);
      if (it == user_index_.end() || users_[it->second].deleted)
        return google_error(out, 404, "notFound", "Resource Not Found: userKey");
      User& u = users_[it->second];
      if (r.method == "DELETE") {
        u.deleted = true;
        prerender(u);
        out.status = 204;
        return;
      }
      if (r.method == "PATCH") {
        if (!apply_user(u, body, out)) return;
        index_user(it->second, u);
        prerender(u);
        out.status = 204;
        return;
      }
    }
    google_error(out, 404, "notFound", "admin: no such endpoint " + r.method + " " + r.path);
  }

  bool apply_user(User& u, const Value& body, SimResponse& out) {
    if (!body.is_object()) {
      google_error(out, 400, "badRequest", "admin: expected a JSON object");
      return false;
    }
    for (const auto& [k, v] : body.as_object()) {
      auto s = v.to_string();
      if (k == "primaryEmail")
        u.email = s;
      else if (k == "givenName")
        u.given = s;
      else if (k == "familyName")
        u.family = s;
      else if (k == "orgUnitPath")
        u.ou = s;
      else if (k == "department")
        u.department = s;
      else if (k == "title")
        u.title = s;
      else if (k == "manager")
        u.manager = s;
      else if (k == "suspended")
        u.suspended = v.is_bool() && v.as_bool();
      else if (k == "archived")
        u.archived = v.is_bool() && v.as_bool();
      else if (k == "isAdmin")
        u.admin = v.is_bool() && v.as_bool();
      else if (k == "customSchemas")
        u.custom = to_json(v);
      else {
        google_error(out, 400, "badRequest", "admin: unknown user field " + k);
        return false;
      }
    }
    if (u.email.empty()) {
      google_error(out, 400, "badRequest", "admin: primaryEmail is required");
      return false;
    }
    return true;
  }

  void set_faults(const Value& body, SimResponse& out) {
    if (!body.is_object()) return google_error(out, 400, "badRequest", "admin: expected a JSON object");
    std::lock_guard lock(config_mutex_);
    for (const auto& [k, v] : body.as_object()) {
      auto num = [&] { return v.is_integer() ? v.as_integer() : std::stoll(v.to_string()); };
      auto list = [&] {
        std::vector<std::string> l;
        if (v.is_list())
          for (const Value& x : v.as_list()) l.push_back(x.to_string());
        return l;
      };
      if (k == "quota_every")
        faults_.quota_every = num();
      else if (k == "quota_reason")
        faults_.quota_reason = v.to_string();
      else if (k == "quota_next")
        faults_.quota_next = num();
      else if (k == "error_every")
        faults_.error_every = num();
      else if (k == "error_status")
        faults_.error_status = static_cast<int>(num());
      else if (k == "fail_page")
        faults_.fail_page = num();
      else if (k == "revoke_every")
        faults_.revoke_every = num();
      else if (k == "truncate_every")
        faults_.truncate_every = num();
      else if (k == "slow_ms")
        faults_.slow_ms = static_cast<int>(num());
      else if (k == "delegated_scopes")
        delegated_ = list();
      else if (k == "admins")
        admins_ = list();
      else
        return google_error(out, 400, "badRequest", "admin: unknown fault " + k);
    }
    counter_ = 0;
    out.status = 204;
  }

  // -------------------------------------------------------------- state ---
  std::string domain_, customer_id_, client_email_, key_pem_;
  long long token_ttl_ = 3599;
  std::uint64_t id_counter_ = 0;
  std::mt19937_64 rng_;

  std::shared_mutex state_mutex_;
  std::vector<User> users_;
  std::vector<Group> groups_;
  std::unordered_map<std::string, std::size_t> user_index_, group_index_;

  std::mutex config_mutex_;
  std::vector<std::string> admins_, delegated_;
  Faults faults_;

  std::mutex token_mutex_;
  std::mt19937_64 token_rng_{std::random_device{}()};
  std::unordered_map<std::string, Token> tokens_;

  std::atomic<long long> counter_{0};
  std::atomic<long long> stats_requests_{0}, stats_quota_{0}, stats_errors_{0}, stats_tokens_{0},
      stats_unauthorized_{0}, stats_user_pages_{0}, stats_group_pages_{0}, stats_member_pages_{0};
};

}  // namespace

std::unique_ptr<Module> make_google_module(Args& args) { return std::make_unique<GoogleModule>(args); }

}  // namespace dirsync::sim
