// The `google` source: Google Workspace users and groups through the Admin
// SDK Directory API (users.list, groups.list, members.list), authorised by a
// service account with domain-wide delegation (RFC 7523 JWT-bearer grant,
// impersonating the admin named by `subject`).
//
// Guarantees:
//   - every read is a full read (the Directory API has no delta link); the
//     host compares hashes, so only what changed is written. ReadResult is
//     complete only when every page of every list was read.
//   - users are emitted before groups; a group is emitted once all its member
//     pages are read.
//   - 403 userRateLimitExceeded / quotaExceeded, 429 rateLimitExceeded and
//     500/502/503/504 are retried with backoff, keyed on the error reason (a
//     403 for a missing permission is never retried); a page that still fails
//     throws Error(read), so the host removes nothing.
//   - auth and permission failures throw Error(auth) saying what an admin
//     must change (key, delegation, scope, subject).
//   - the private key and tokens never reach a message or a log line.
#include <algorithm>
#include <cstring>
#include <future>
#include <dirsync/http.hpp>
#include <dirsync/http_config.hpp>
#include <dirsync/oauth.hpp>
#include <dirsync/plugin.hpp>
#include <set>

namespace dirsync::google {

namespace {

const std::string kScopePrefix = "https://www.googleapis.com/auth/";
const std::vector<std::string> kDefaultScopes = {kScopePrefix + "admin.directory.user.readonly",
                                                 kScopePrefix + "admin.directory.group.readonly",
                                                 kScopePrefix + "admin.directory.group.member.readonly",
                                                 kScopePrefix + "admin.directory.orgunit.readonly"};

// Where to click, as of the Admin console in 2025.
const std::string kDelegationPath =
    "Admin console > Security > Access and data control > API controls > Domain-wide delegation";

std::string trim_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::string text_of(const Object& o, std::string_view key) {
  const Value* v = o.find(key);
  return v && v->is_string() ? v->as_string() : std::string();
}

/// The `reason` of the first entry of a Google error body's `errors`.
std::string error_reason(std::string_view body) {
  try {
    Value doc = parse_json(body);
    const Value* error = doc.is_object() ? doc.as_object().find("error") : nullptr;
    const Value* errors = error && error->is_object() ? error->as_object().find("errors") : nullptr;
    if (errors && errors->is_list() && !errors->as_list().empty() && errors->as_list()[0].is_object())
      return text_of(errors->as_list()[0].as_object(), "reason");
  } catch (const Error&) {
  }
  return {};
}

// Top-level fields of the user resource,
// https://developers.google.com/admin-sdk/directory/reference/rest/v1/users#User,
// plus this source's convenience attributes.
const std::set<std::string> kUserFields = {"id",
                                           "primaryEmail",
                                           "isAdmin",
                                           "isDelegatedAdmin",
                                           "agreedToTerms",
                                           "suspended",
                                           "suspensionReason",
                                           "changePasswordAtNextLogin",
                                           "ipWhitelisted",
                                           "name",
                                           "kind",
                                           "etag",
                                           "emails",
                                           "externalIds",
                                           "relations",
                                           "aliases",
                                           "nonEditableAliases",
                                           "isMailboxSetup",
                                           "customerId",
                                           "addresses",
                                           "organizations",
                                           "lastLoginTime",
                                           "phones",
                                           "thumbnailPhotoUrl",
                                           "thumbnailPhotoEtag",
                                           "languages",
                                           "posixAccounts",
                                           "creationTime",
                                           "deletionTime",
                                           "sshPublicKeys",
                                           "notes",
                                           "websites",
                                           "locations",
                                           "keywords",
                                           "gender",
                                           "ims",
                                           "customSchemas",
                                           "includeInGlobalAddressList",
                                           "isEnrolledIn2Sv",
                                           "isEnforcedIn2Sv",
                                           "archived",
                                           "orgUnitPath",
                                           "recoveryEmail",
                                           "recoveryPhone",
                                           "active",
                                           "manager",
                                           "employeeId"};

bool is_rate_limit(std::string_view reason) {
  return reason == "userRateLimitExceeded" || reason == "rateLimitExceeded" || reason == "quotaExceeded";
}

/// The value of the top-level "nextPageToken" without parsing the page: keys
/// cannot occur unescaped inside JSON strings, so the first match is the key.
/// Google writes the token after the items; searching from the end is cheap.
std::string next_page_token(std::string_view body) {
  static constexpr std::string_view key = "\"nextPageToken\"";
  std::size_t at = body.rfind(key);
  if (at == std::string_view::npos) return {};
  std::size_t i = at + key.size();
  while (i < body.size() && (body[i] == ' ' || body[i] == ':' || body[i] == '\n' || body[i] == '\t')) ++i;
  if (i >= body.size() || body[i] != '"') return {};
  std::size_t end = body.find('"', i + 1);
  if (end == std::string_view::npos) return {};
  return std::string(body.substr(i + 1, end - i - 1));
}

struct ServiceAccount {
  std::string client_email, client_id, private_key, token_uri;
};

ServiceAccount parse_key_file(const std::string& json) {
  Value doc;
  try {
    doc = parse_json(json);
  } catch (const Error&) {
    // Never quote the text: it holds the private key.
    throw Error(ErrorKind::config,
                "google: 'credentials' is not a service-account key JSON document (use ${file:key.json})");
  }
  if (!doc.is_object())
    throw Error(ErrorKind::config, "google: 'credentials' must be a service-account key JSON object");
  const Object& o = doc.as_object();
  ServiceAccount sa{text_of(o, "client_email"), text_of(o, "client_id"), text_of(o, "private_key"),
                    text_of(o, "token_uri")};
  std::string type = text_of(o, "type");
  if (!type.empty() && type != "service_account")
    throw Error(ErrorKind::config,
                "google: 'credentials' is a key of type '" + type +
                    "', expected 'service_account' (IAM > Service accounts > Keys > Add key > JSON)");
  if (sa.client_email.empty() || sa.private_key.empty())
    throw Error(ErrorKind::config,
                "google: 'credentials' lacks client_email or private_key; download a JSON key of "
                "the service account (IAM > Service accounts > Keys)");
  if (sa.token_uri.empty()) sa.token_uri = "https://oauth2.googleapis.com/token";
  return sa;
}

class GoogleSource final : public Source {
 public:
  explicit GoogleSource(const PluginContext& ctx) : log_(ctx.log) {
    const Settings& s = ctx.settings;
    sa_ = parse_key_file(s.string("credentials"));
    subject_ = s.string("subject");
    customer_ = s.string("customer", "my_customer");
    domain_ = s.string("domain");
    api_ = trim_slash(s.string("api_url", "https://admin.googleapis.com")) + "/admin/directory/v1";
    token_url_ = s.string("token_url");
    if (token_url_.empty()) token_url_ = sa_.token_uri;
    scopes_ = s.strings("scopes");
    if (scopes_.empty()) scopes_ = kDefaultScopes;
    for (auto& sc : scopes_)
      if (sc.find("://") == std::string::npos) sc = kScopePrefix + sc;
    query_ = s.string("query");
    std::string ou = s.string("org_unit_path");
    if (!ou.empty()) {
      if (ou.front() != '/')
        throw Error(ErrorKind::config, "google: 'org_unit_path' must start with '/', got '" + ou + "'");
      query_ = "orgUnitPath='" + ou + "'" + (query_.empty() ? "" : " " + query_);
    }
    projection_ = s.string("projection");
    if (!projection_.empty() && projection_ != "basic" && projection_ != "custom" && projection_ != "full")
      throw Error(ErrorKind::config,
                  "google: 'projection' must be basic, custom or full, got '" + projection_ + "'");
    custom_mask_ = s.string("custom_field_mask");
    if (projection_ == "custom" && custom_mask_.empty())
      throw Error(ErrorKind::config, "google: 'projection: custom' needs 'custom_field_mask' (schema names)");
    view_type_ = s.string("view_type", "admin_view");
    if (view_type_ != "admin_view" && view_type_ != "domain_public")
      throw Error(ErrorKind::config,
                  "google: 'view_type' must be admin_view or domain_public, got '" + view_type_ + "'");
    page_size_ = s.integer("page_size", 500);
    if (page_size_ < 1 || page_size_ > 500)
      throw Error(ErrorKind::config,
                  "google: 'page_size' must be between 1 and 500 (users.list maxResults), got " +
                      std::to_string(page_size_));
    group_page_size_ = s.integer("group_page_size", 200);
    if (group_page_size_ < 1 || group_page_size_ > 200)
      throw Error(
          ErrorKind::config,
          "google: 'group_page_size' must be between 1 and 200 (groups.list/members.list maxResults), got " +
              std::to_string(group_page_size_));
    derived_ = s.boolean("include_derived_membership", false);
    roles_ = s.string("member_roles");
    prefetch_ = s.boolean("prefetch", true);
    if (subject_.empty() && log_)
      log_->warn(
          "google: no 'subject' set; the Directory API answers only to a service account that impersonates "
          "an admin");

    options_ = http::client_options(s, ctx.log, "google");
    options_.retry.statuses = {429, 500, 502, 503, 504};
    // https://developers.google.com/admin-sdk/directory/v1/limits: a 403 is
    // retried only when its reason says quota; other 403s are permissions.
    options_.retry.retry_if = [](const http::Response& r) {
      return r.status == 403 && is_rate_limit(error_reason(r.body));
    };
    client_ = std::make_unique<http::Client>(options_);
    tokens_ = std::make_unique<http::TokenProvider>(grant(join_scopes(scopes_)), *client_);
    api_client_ = std::make_unique<http::AuthorizedClient>(*client_, *tokens_);
  }

  // Design hook for push: Google's users.watch posts a notification to an
  // HTTPS channel when users change. A daemon could implement can_serve() /
  // serve() by opening such a channel and calling on_change, so a change
  // triggers this (full) read at once instead of at the next schedule; the
  // full read stays the source of truth because notifications can be lost.
  ReadResult read(const ReadRequest& request, Emitter& out) override {
    ReadResult result;
    result.mode = ReadMode::full;
    if (request.mode == ReadMode::incremental)
      result.note = "google: the Directory API has no delta; did a full read (only changes are written)";
    if (request.users) read_users(request, out);
    if (request.groups) read_groups(request, out);
    result.complete = true;
    return result;
  }

  std::vector<std::string> test_connection() override {
    std::vector<std::string> lines;
    // One token per scope: Google refuses a token request outright when any
    // scope is not delegated, so asking one by one names the missing one.
    std::string missing, granted;
    for (const auto& scope : scopes_) {
      http::TokenProvider single(grant(scope), *client_);
      try {
        single.token();
        granted += (granted.empty() ? "" : ", ") + scope;
        lines.push_back("google: scope " + scope + " is delegated to client id " + client_label());
      } catch (const Error& e) {
        if (std::string(e.what()).find("unauthorized_client") == std::string::npos)
          throw Error(e.kind(), explain_token_error(e, scope));
        missing += (missing.empty() ? "" : " ") + scope;
      }
    }
    if (!missing.empty())
      throw Error(ErrorKind::auth, "google: domain-wide delegation is missing: in the " + kDelegationPath +
                                       ", authorise client id " + client_label() + " for the scope(s) " +
                                       missing +
                                       (granted.empty() ? "" : " (already delegated: " + granted + ")"));
    auto first_item = [&](const std::string& url, const char* list_key, std::string* id) {
      http::Response r = get(url, false);
      Value doc = parse_json(r.body);
      const Value* items = doc.is_object() ? doc.as_object().find(list_key) : nullptr;
      std::size_t n = items && items->is_list() ? items->as_list().size() : 0;
      if (id && n > 0 && items->as_list()[0].is_object())
        *id = text_of(items->as_list()[0].as_object(), "id");
      return n;
    };
    std::size_t n = first_item(api_ + "/users?" + owner_param() + "&maxResults=1", "users", nullptr);
    lines.push_back("google: users.list read " + std::to_string(n) + " user as " + subject_label());
    std::string group_id;
    n = first_item(api_ + "/groups?" + owner_param() + "&maxResults=1", "groups", &group_id);
    lines.push_back("google: groups.list read " + std::to_string(n) + " group");
    if (!group_id.empty()) {
      first_item(api_ + "/groups/" + http::url_encode(group_id) + "/members?maxResults=1", "members",
                 nullptr);
      lines.push_back("google: members.list read the members of group " + group_id);
    }
    if (std::find(scopes_.begin(), scopes_.end(), kScopePrefix + "admin.directory.orgunit.readonly") !=
        scopes_.end()) {
      n = first_item(api_ + "/customer/" + http::url_encode(domain_.empty() ? customer_ : "my_customer") +
                         "/orgunits?type=all",
                     "organizationUnits", nullptr);
      lines.push_back("google: orgunits.list read " + std::to_string(n) + " organizational units");
    }
    return lines;
  }

 private:
  std::unique_ptr<http::TokenGrant> grant(const std::string& scope) {
    return http::jwt_bearer_grant(token_url_, sa_.client_email, scope, subject_, sa_.private_key,
                                  options_.clock);
  }

  static std::string join_scopes(const std::vector<std::string>& scopes) {
    std::string out;
    for (const auto& s : scopes) out += (out.empty() ? "" : " ") + s;
    return out;
  }

  std::string client_label() const {
    return (sa_.client_id.empty() ? std::string("of ") : sa_.client_id + " (") + sa_.client_email +
           (sa_.client_id.empty() ? "" : ")");
  }
  std::string subject_label() const { return subject_.empty() ? "the service account itself" : subject_; }

  std::string owner_param() const {
    return domain_.empty() ? "customer=" + http::url_encode(customer_)
                           : "domain=" + http::url_encode(domain_);
  }

  /// Adds what an admin can do about a refused token request.
  std::string explain_token_error(const Error& e, const std::string& scopes) const {
    std::string m = std::string("google: ") + e.what();
    if (e.kind() != ErrorKind::auth) return m;
    if (m.find("unauthorized_client") != std::string::npos)
      return m + "; domain-wide delegation is missing: in the " + kDelegationPath + ", authorise client id " +
             client_label() + " for the scope(s) " + scopes +
             (scopes.find(' ') != std::string::npos ? " (`dirsync test-connection` checks them one by one)"
                                                    : "");
    if (m.find("Invalid email or User ID") != std::string::npos)
      return m + "; 'subject' (" + subject_ +
             ") is not a user of the domain: set it to a super admin's email";
    if (m.find("account not found") != std::string::npos)
      return m + "; service account " + sa_.client_email + " does not exist or is disabled";
    if (m.find("Signature") != std::string::npos)
      return m + "; the private key in 'credentials' is not a valid key of " + sa_.client_email +
             ": create a new JSON key (IAM > Service accounts > Keys) and point 'credentials' at it";
    if (m.find("iat and exp") != std::string::npos) return m + "; check this host's clock (NTP)";
    return m;
  }

  /// One GET with the SDK's retries; anything but 2xx becomes an Error that
  /// says what to do. `started`: a page of this read was already processed.
  http::Response get(const std::string& url, bool started) {
    http::Request request{"GET", url, {{"Accept", "application/json"}}, {}};
    http::Response r;
    try {
      r = api_client_->send(std::move(request));
    } catch (const Error& e) {
      bool key =
          e.kind() == ErrorKind::config && std::string(e.what()).find("private key") != std::string::npos;
      if (e.kind() == ErrorKind::auth || key)
        throw Error(ErrorKind::auth, explain_token_error(e, join_scopes(scopes_)));
      if (started && e.kind() == ErrorKind::connection)
        throw Error(ErrorKind::read, std::string("google: ") + e.what());
      throw;
    }
    if (r.ok()) return r;
    std::string reason = error_reason(r.body);
    std::string detail = http::describe_error_body(r.body);
    std::string what = "google: GET " + http::redact_url(url) + " answered " + std::to_string(r.status) +
                       (reason.empty() ? "" : " " + reason) + (detail.empty() ? "" : " (" + detail + ")");
    if (r.status == 401)
      throw Error(ErrorKind::auth, what + "; the access token was refused even after a refresh");
    if (r.status == 403 && reason == "insufficientPermissions")
      throw Error(ErrorKind::auth, what +
                                       "; the token lacks the scope this call needs: list it in 'scopes' and "
                                       "authorise client id " +
                                       client_label() + " for it in the " + kDelegationPath);
    if (r.status == 403 && !is_rate_limit(reason)) {
      if (subject_.empty())
        throw Error(ErrorKind::auth,
                    what +
                        "; no 'subject' is set: the service account must impersonate an admin "
                        "through domain-wide delegation; set 'subject' to a super admin's email");
      throw Error(ErrorKind::auth, what + "; 'subject' (" + subject_ +
                                       ") must be an administrator allowed to read users and groups, and "
                                       "'customer'/'domain' must be that admin's own");
    }
    if (is_rate_limit(reason))
      what += "; quota still exhausted after " + std::to_string(options_.retry.max_attempts) +
              " attempts (raise the Admin SDK quota or run less often)";
    if (r.status == 400 && !started)
      throw Error(ErrorKind::config, what + "; check 'customer', 'domain', 'query' and 'projection'");
    throw Error(started ? ErrorKind::read : ErrorKind::connection, what);
  }

  /// Follows one list's pages; `base` already carries the query parameters.
  /// `started`: objects were already emitted before this list.
  void pages(const std::string& base, const std::function<void(Value&&)>& process, bool prefetch,
             bool started) {
    page_bodies(
        base,
        [&](std::string_view body) {
          Value doc;
          try {
            doc = parse_json(body);
          } catch (const Error& e) {
            throw Error(ErrorKind::read, "google: malformed page from " + http::redact_url(base) + ": " + e.what());
          }
          process(std::move(doc));
        },
        prefetch, started);
  }

  /// The same, handing over each page's text.
  void page_bodies(const std::string& base, const std::function<void(std::string_view)>& process, bool prefetch,
                   bool started) {
    http::PageChain chain;
    chain.prefetch = prefetch;
    // Runs on the prefetch thread too: decides from the URL alone.
    chain.fetch = [&](const std::string& url) { return get(url, started || url != base); };
    chain.next_of = [&](const http::Response& page) {
      std::string token = next_page_token(page.body);
      return token.empty() ? std::string() : base + "&pageToken=" + http::url_encode(token);
    };
    chain.process = [&](http::Response&& page) { process(page.body); };
    http::follow_pages(chain, base);
  }

  // ------------------------------------------------------------- users ---

  struct UserShape {
    std::string projection = "basic", mask;
    std::set<std::string, std::less<>> keep;  // top-level attributes to keep; empty = all (found by string_view)
    bool keep_id = true;  // the record's attributes keep the id (it is read with every user regardless)
    bool active = true, manager = true, employee_id = true;
  };

  UserShape shape(const ReadRequest& request) const {
    UserShape sh;
    std::set<std::string> schemas;
    bool all_custom = false;
    for (const auto& a : request.user_attributes) {
      std::string top = a.substr(0, a.find('.'));
      sh.keep.insert(top);
      if (top == "customSchemas") {
        std::size_t dot = a.find('.');
        if (dot == std::string::npos)
          all_custom = true;
        else
          schemas.insert(a.substr(dot + 1, a.find('.', dot + 1) - dot - 1));
      }
    }
    if (!request.user_attributes.empty()) {
      sh.active = sh.keep.count("active") > 0;
      sh.manager = sh.keep.count("manager") > 0;
      sh.employee_id = sh.keep.count("employeeId") > 0;
      if (sh.active) sh.keep.insert({"suspended", "archived"});
      if (sh.manager) sh.keep.insert("relations");
      if (sh.employee_id) sh.keep.insert("externalIds");
      sh.keep_id = sh.keep.count("id") > 0;
    }
    if (!projection_.empty()) {
      sh.projection = projection_;
      sh.mask = custom_mask_;
    } else if (all_custom) {
      sh.projection = "full";
    } else if (!schemas.empty()) {
      sh.projection = "custom";
      for (const auto& s : schemas) sh.mask += (sh.mask.empty() ? "" : ",") + s;
    }
    return sh;
  }

  void read_users(const ReadRequest& request, Emitter& out) {
    UserShape sh = shape(request);
    // An attribute Google never sends is null for every user: a scope clause
    // on it silently puts everyone out of scope. Say so once per run.
    for (const auto& top : sh.keep) {
      if (kUserFields.count(top) || !log_) continue;
      std::string hint = top == "isSuspended"      ? "suspended' or 'active"
                         : top == "isArchived"     ? "archived' or 'active"
                         : top == "accountEnabled" ? "active"
                         : top == "department"     ? "organizations.department"
                                                   : "";
      log_->warn("google: the pipeline reads '" + top + "', which Google's user resource does not have" +
                 (hint.empty() ? std::string() : "; did you mean '" + hint + "'?"));
    }
    std::string base = api_ + "/users?" + owner_param() + "&maxResults=" + std::to_string(page_size_) +
                       "&projection=" + sh.projection + "&viewType=" + view_type_;
    if (!sh.mask.empty()) base += "&customFieldMask=" + http::url_encode(sh.mask);
    if (!query_.empty()) base += "&query=" + http::url_encode(query_);
    // Only what the pipeline reads (and what the convenience attributes are
    // made of) is parsed: the rest of each user resource is skipped unread.
    // Asked for each of a user's ~25 top-level keys: a scan of a dozen
    // names comparing lengths first costs less than a std::set's string
    // comparisons.
    std::vector<std::string> wanted(sh.keep.begin(), sh.keep.end());
    wanted.emplace_back("id");
    std::function<bool(std::string_view)> keep;
    if (!sh.keep.empty())
      keep = [&](std::string_view key) {
        for (const std::string& w : wanted)
          if (w.size() == key.size() && std::memcmp(w.data(), key.data(), key.size()) == 0) return true;
        return false;
      };
    std::size_t n = 0;
    page_bodies(
        base,
        [&](std::string_view body) {
          bool in_item = false;  // an error of the engine's is not a malformed page
          try {
            // Google omits an empty list.
            parse_json_items(body, "users", keep, [&](Object&& u) {
              in_item = true;
              Change c;
              c.record.type = ObjectType::user;
              Value* id = u.find("id");
              if (!id || !id->is_string() || id->as_string().empty())
                throw Error(ErrorKind::read, "google: users.list returned a user without id");
              // Moved when the pipeline does not read it: user_attributes() drops it.
              c.record.id = sh.keep_id ? id->as_string() : std::move(id->as_string());
              c.record.attributes = user_attributes(std::move(u), sh);
              out.emit(std::move(c));
              ++n;
              in_item = false;
            });
          } catch (const Error& e) {
            if (in_item || e.kind() != ErrorKind::input) throw;
            throw Error(ErrorKind::read, "google: malformed users.list page from " + http::redact_url(base) + ": " +
                                             e.what());
          }
        },
        prefetch_, false);
    if (log_) log_->info("google: read " + std::to_string(n) + " users");
  }

  /// Google's user resource plus convenience attributes: `active` (neither
  /// suspended nor archived), `manager` (email of the relation of type
  /// manager) and `employeeId` (externalIds of type organization).
  static Object user_attributes(Object&& user, const UserShape& sh) {
    auto flag = [&](const char* k) {
      const Value* v = user.find(k);
      return v && v->is_bool() && v->as_bool();
    };
    auto typed = [&](const char* list, const char* type) -> std::string {
      const Value* l = user.find(list);
      if (!l || !l->is_list()) return {};
      for (const Value& e : l->as_list())
        if (e.is_object() && text_of(e.as_object(), "type") == type) return text_of(e.as_object(), "value");
      return {};
    };
    std::string manager = sh.manager ? typed("relations", "manager") : std::string();
    std::string employee = sh.employee_id ? typed("externalIds", "organization") : std::string();
    bool has_state = user.find("suspended") != nullptr;
    bool active = !flag("suspended") && !flag("archived");
    // The parse kept only `sh.keep` and the id.
    Object out = std::move(user);
    if (sh.keep.empty()) {
      out.erase("kind");
      out.erase("etag");
    } else if (!sh.keep_id) {
      out.erase("id");
    }
    if (sh.active && has_state) out.set("active", active);
    if (!manager.empty()) out.set("manager", std::move(manager));
    if (!employee.empty()) out.set("employeeId", std::move(employee));
    return out;
  }

  // ------------------------------------------------------------ groups ---

  void read_groups(const ReadRequest& request, Emitter& out) {
    std::set<std::string> keep;
    for (const auto& a : request.group_attributes) keep.insert(a.substr(0, a.find('.')));
    std::string base = api_ + "/groups?" + owner_param() + "&maxResults=" + std::to_string(group_page_size_);
    std::size_t n = 0;
    pages(
        base,
        [&](Value&& doc) {
          Value* groups = doc.is_object() ? doc.as_object().find("groups") : nullptr;
          if (!groups) return;
          if (!groups->is_list())
            throw Error(ErrorKind::read, "google: groups.list page has a non-list 'groups'");
          std::vector<std::pair<std::string, Object>> page;  // id, attributes
          for (Value& g : groups->as_list()) {
            if (!g.is_object()) continue;
            std::string id = text_of(g.as_object(), "id");
            if (id.empty()) throw Error(ErrorKind::read, "google: groups.list returned a group without id");
            Object attrs = std::move(g.as_object());
            attrs.erase("kind");
            attrs.erase("etag");
            page.emplace_back(std::move(id), std::move(attrs));
          }
          // The next group's members are read while this one is emitted: the
          // host decides and writes a group in step (its members resolve
          // through the store), so without this it waits for every members
          // page. A std::async future waits in its destructor, so an emit
          // that throws unwinds only after the read in flight is done.
          auto fetch = [this](const std::string& id) {
            return std::async(prefetch_ ? std::launch::async : std::launch::deferred, [this, id] {
              Record r;
              r.type = ObjectType::group;
              r.id = id;
              bool live = read_members(r);
              return std::make_pair(live, std::move(r));
            });
          };
          std::future<std::pair<bool, Record>> next;
          if (!page.empty()) next = fetch(page.front().first);
          for (std::size_t i = 0; i < page.size(); ++i) {
            auto [live, record] = next.get();
            if (i + 1 < page.size()) next = fetch(page[i + 1].first);
            if (!live) continue;
            Change c;
            c.record = std::move(record);
            Object attrs = std::move(page[i].second);
            for (auto& [k, v] : c.record.attributes) attrs.set(k, std::move(v));
            if (!keep.empty()) {
              Object kept;
              for (auto& [k, v] : attrs)
                if (keep.count(k)) kept.set(k, std::move(v));
              attrs = std::move(kept);
            }
            c.record.attributes = std::move(attrs);
            out.emit(std::move(c));
            ++n;
          }
        },
        prefetch_, request.users);
    if (log_) log_->info("google: read " + std::to_string(n) + " groups");
  }

  /// Fills `group.members` with the ids of USER and GROUP members (nested
  /// groups stay groups; the host resolves them) and the group's attributes
  /// `owners`, `managers` (member ids by role), `externalMembers` (emails of
  /// EXTERNAL members) and `includesAllUsers` (a CUSTOMER member: everyone in
  /// the domain). False when the group vanished since groups.list.
  bool read_members(Record& group) {
    std::string base = api_ + "/groups/" + http::url_encode(group.id) +
                       "/members?maxResults=" + std::to_string(group_page_size_);
    if (derived_) base += "&includeDerivedMembership=true";
    if (!roles_.empty()) base += "&roles=" + http::url_encode(roles_);
    List owners, managers, external;
    bool everyone = false;
    // Each member streamed with only the four fields read: a page parsed
    // whole built every member's kind, etag and status too (a million
    // members are a million small objects).
    static const auto keep = [](std::string_view key) {
      return key == "type" || key == "id" || key == "role" || key == "email";
    };
    try {
      page_bodies(
          base,
          [&](std::string_view body) {
            try {
              // Google omits an empty list.
              parse_json_items(body, "members", keep, [&](Object&& o) {
                std::string type = text_of(o, "type"), id = text_of(o, "id"), role = text_of(o, "role");
                if (type == "CUSTOMER") {
                  everyone = true;
                  return;
                }
                if (type == "EXTERNAL") {
                  external.emplace_back(text_of(o, "email"));
                  return;
                }
                if (id.empty()) return;
                if (role == "OWNER") owners.emplace_back(id);
                if (role == "MANAGER") managers.emplace_back(id);
                group.members.push_back(std::move(id));
              });
            } catch (const Error& e) {
              if (e.kind() != ErrorKind::input) throw;
              throw Error(ErrorKind::read, "google: malformed page from " + http::redact_url(base) + ": " + e.what());
            }
          },
          prefetch_, true);
    } catch (const Error& e) {
      // A group deleted between groups.list and members.list is simply gone.
      if (std::string(e.what()).find(" answered 404") != std::string::npos) {
        if (log_) log_->info("google: group " + group.id + " disappeared during the read");
        return false;
      }
      throw;
    }
    group.attributes.set("owners", Value(std::move(owners)));
    group.attributes.set("managers", Value(std::move(managers)));
    if (!external.empty()) group.attributes.set("externalMembers", Value(std::move(external)));
    group.attributes.set("includesAllUsers", everyone);
    return true;
  }

  Logger* log_;
  ServiceAccount sa_;
  std::string subject_, customer_, domain_, api_, token_url_, query_, projection_, custom_mask_, view_type_,
      roles_;
  std::vector<std::string> scopes_;
  std::int64_t page_size_ = 500, group_page_size_ = 200;
  bool derived_ = false, prefetch_ = true;
  http::ClientOptions options_;
  std::unique_ptr<http::Client> client_;
  std::unique_ptr<http::TokenProvider> tokens_;
  std::unique_ptr<http::AuthorizedClient> api_client_;
};

const PluginDescriptor* descriptor() {
  static const PluginDescriptor d = [] {
    PluginDescriptor p;
    p.name = "google";
    p.kind = PluginKind::source;
    p.version = "0.1.0";
    p.summary =
        "Google Workspace users and groups through the Admin SDK Directory API (service account, "
        "domain-wide delegation; full reads)";
    using F = FieldType;
    p.schema = {
        {"credentials", F::string, true, true, "",
         "service-account key JSON (use ${file:/path/key.json}); its private key never leaves the process"},
        {"subject", F::string, false, false, "",
         "email of the admin the service account impersonates (domain-wide delegation); required by Google"},
        {"customer", F::string, false, false, "my_customer", "customer id for users.list/groups.list"},
        {"domain", F::string, false, false, "", "read only this domain (instead of 'customer')"},
        {"scopes", F::list, false, false, "",
         "OAuth scopes (default: the four admin.directory.*.readonly scopes for users, groups, members, org "
         "units)"},
        {"query", F::string, false, false, "",
         "users.list query, e.g. \"isSuspended=false orgUnitPath='/Sales'\""},
        {"org_unit_path", F::string, false, false, "", "read users of this org unit and its sub-units only"},
        {"projection", F::string, false, false, "",
         "basic | custom | full; default: basic, or custom when the pipeline reads customSchemas.<schema>.*"},
        {"custom_field_mask", F::string, false, false, "",
         "schema names for projection custom (comma-separated)"},
        {"view_type", F::string, false, false, "admin_view", "admin_view | domain_public"},
        {"include_derived_membership", F::boolean, false, false, "false",
         "list indirect (nested) members of each group as direct ones"},
        {"member_roles", F::string, false, false, "", "only members with these roles (OWNER,MANAGER,MEMBER)"},
        {"api_url", F::string, false, false, "https://admin.googleapis.com", "Admin SDK base URL"},
        {"token_url", F::string, false, false, "", "token endpoint; default: token_uri of the key file"},
        {"page_size", F::integer, false, false, "500", "users per page (maxResults, 1-500)"},
        {"group_page_size", F::integer, false, false, "200",
         "groups and members per page (maxResults, 1-200)"},
        {"prefetch", F::boolean, false, false, "true",
         "fetch the next page, and the next group's members, while the current one is processed"},
    };
    for (auto& f : http::config_fields()) {
      if (f.key == "max_attempts")
        f.doc = "attempts per request on quota errors (403/429 by reason), 5xx and network faults";
      p.schema.push_back(std::move(f));
    }
    p.make_source = [](const PluginContext& ctx) -> std::unique_ptr<Source> {
      return std::make_unique<GoogleSource>(ctx);
    };
    p.partial_records = false;  // every record is a whole object: the host need not keep snapshots
    return p;
  }();
  return &d;
}

}  // namespace
}  // namespace dirsync::google

DIRSYNC_PLUGIN(dirsync::google::descriptor)
