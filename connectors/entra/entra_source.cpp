// The `entra` source: Microsoft Entra ID users and groups through Microsoft
// Graph, read in full (GET /users, /groups, /groups/{id}/members) or as
// changes since a stored cursor (GET /users/delta, /groups/delta).
//
// Guarantees:
//   - users are emitted before groups; a group is emitted once its members
//     are read (full) or per members@delta chunk (delta, partial records).
//   - the returned cursor holds a deltaLink per object kind. A full read takes
//     them with $deltatoken=latest *before* reading, so a change made while
//     the full read runs shows up (again) in the next delta: duplicates are
//     harmless (the host compares hashes), losses would not be.
//   - a page that still fails after the retry policy throws Error(read):
//     the host then keeps the old cursor and removes nothing.
//   - a delta token Graph no longer knows (410 Gone, syncStateNotFound,
//     resyncRequired) turns the run into a full read, said in ReadResult::note.
//   - secrets (client secret, private key, tokens) never reach a message.
#include "graph_page.hpp"

#include <dirsync/http.hpp>
#include <dirsync/http_config.hpp>
#include <dirsync/oauth.hpp>
#include <dirsync/plugin.hpp>

#include <algorithm>
#include <future>
#include <set>

namespace dirsync::entra {

namespace {

// Properties read when a pipeline does not say which (ReadRequest lists
// none): Graph's default set plus what sync pipelines commonly map.
const std::vector<std::string> kUserDefaults = {
    "displayName", "givenName",      "surname",        "userPrincipalName", "mail",          "accountEnabled",
    "userType",    "jobTitle",       "department",     "employeeId",        "businessPhones", "mobilePhone",
    "officeLocation", "companyName", "preferredLanguage"};
const std::vector<std::string> kGroupDefaults = {"displayName",  "description",     "mail",      "mailEnabled",
                                                 "mailNickname", "securityEnabled", "groupTypes"};

/// Thrown inside a delta read when Graph asks for a full resync.
struct DeltaReset {
  std::string why;
};

std::string trim_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

class EntraSource final : public Source {
 public:
  explicit EntraSource(const PluginContext& ctx) : log_(ctx.log) {
    const Settings& s = ctx.settings;
    tenant_ = s.string("tenant_id");
    if (tenant_.empty()) throw Error(ErrorKind::config, "entra: 'tenant_id' is empty");
    authority_ = trim_slash(s.string("authority", "https://login.microsoftonline.com"));
    graph_ = trim_slash(s.string("graph_url", "https://graph.microsoft.com"));
    api_ = graph_ + "/" + s.string("api_version", "v1.0");
    page_size_ = s.integer("page_size", 999);
    if (page_size_ < 1 || page_size_ > 999)
      throw Error(ErrorKind::config,
                  "entra: 'page_size' must be between 1 and 999 (Graph's $top limit), got " + std::to_string(page_size_));
    filter_ = s.string("filter");
    group_filter_ = s.string("group_filter");
    advanced_ = s.boolean("advanced_query", false);
    transitive_ = s.boolean("transitive_members", false);
    prefetch_ = s.boolean("prefetch", true);

    client_ = std::make_unique<http::Client>(http::client_options(s, ctx.log, "entra"));

    std::string token_url = authority_ + "/" + tenant_ + "/oauth2/v2.0/token";
    std::string scope = s.string("scope", graph_ + "/.default");
    std::string client_id = s.string("client_id");
    if (client_id.empty()) throw Error(ErrorKind::config, "entra: 'client_id' is empty");
    std::string secret = s.string("client_secret");
    std::string certificate = s.string("certificate");
    std::string key = s.string("private_key");
    std::unique_ptr<http::TokenGrant> grant;
    if (!certificate.empty() || !key.empty()) {
      if (certificate.empty() || key.empty())
        throw Error(ErrorKind::config, "entra: certificate credentials need both 'certificate' and 'private_key'");
      grant = http::client_assertion_grant(token_url, client_id, scope, certificate, key);
    } else if (!secret.empty()) {
      grant = http::client_secret_grant(token_url, client_id, secret, scope);
    } else {
      throw Error(ErrorKind::config, "entra: set 'client_secret' or 'certificate' and 'private_key'");
    }
    tokens_ = std::make_unique<http::TokenProvider>(std::move(grant), *client_);
    api_client_ = std::make_unique<http::AuthorizedClient>(*client_, *tokens_);
  }

  ReadResult read(const ReadRequest& request, Emitter& out) override {
    Selection sel = selection(request);
    if (request.mode == ReadMode::incremental) {
      std::string why;
      if (request.cursor.empty()) {
        why = "no delta cursor stored yet; did a full read";
      } else if (!filter_.empty() || !group_filter_.empty()) {
        // Graph's delta queries cannot apply such filters: a delta would
        // report objects the pipeline filtered out.
        why = "delta queries cannot apply 'filter'/'group_filter'; did a full read";
      } else {
        try {
          return delta_read(request, sel, out);
        } catch (const DeltaReset& reset) {
          why = reset.why;
        }
      }
      ReadResult result = full_read(request, sel, out);
      result.note = why;
      if (log_) log_->info("entra: " + why);
      return result;
    }
    return full_read(request, sel, out);
  }

  std::vector<std::string> test_connection() override {
    std::vector<std::string> lines;
    tokens_->token();
    lines.push_back("token acquired from " + authority_ + "/" + tenant_);
    std::size_t users = 0;
    parse_page(get(api_ + "/users?$top=1&$select=id", "User.Read.All", false).body, ObjectType::user,
               ItemShape::object, false, [&](Change&&) { ++users; });
    lines.push_back("read " + std::to_string(users) + " of the users from " + api_ + "/users (User.Read.All)");
    std::string group_id;
    parse_page(get(api_ + "/groups?$top=1&$select=id", "Group.Read.All", false).body, ObjectType::group,
               ItemShape::object, false, [&](Change&& c) { group_id = c.record.id; });
    lines.push_back("read " + std::string(group_id.empty() ? "0" : "1") + " of the groups from " + api_ +
                    "/groups (Group.Read.All)");
    if (!group_id.empty()) {
      get(api_ + "/groups/" + http::url_encode(group_id) + "/members?$top=1&$select=id", "GroupMember.Read.All",
          false);
      lines.push_back("read the members of a group (GroupMember.Read.All)");
    }
    return lines;
  }

 private:
  struct Selection {
    std::string users;   // $select value
    std::string groups;
    bool manager = false;
    std::string fingerprint;  // identifies what a stored deltaLink selects
  };

  static Selection selection(const ReadRequest& request) {
    Selection sel;
    auto build = [&](const std::vector<std::string>& attributes, const std::vector<std::string>& defaults,
                     bool users) {
      std::set<std::string> names;
      for (const auto& a : attributes.empty() ? defaults : attributes) {
        std::string top = a.substr(0, a.find('.'));
        // Navigation properties are read through their own endpoints, never $select.
        if (top.empty() || top == "id" || top == "members" || top == "owners" || top == "memberOf") continue;
        // The manager is a navigation property: $expand, not $select.
        if (users && top == "manager") {
          sel.manager = true;
          continue;
        }
        names.insert(top);
      }
      std::string out = "id";
      for (const auto& n : names) out += "," + http::url_encode(n);
      return out;
    };
    sel.users = build(request.user_attributes, kUserDefaults, true);
    sel.groups = build(request.group_attributes, kGroupDefaults, false);
    sel.fingerprint = sel.users + "|" + sel.groups + (sel.manager ? "|manager" : "");
    return sel;
  }

  // ------------------------------------------------------------ requests ---

  [[noreturn]] void fail(const std::string& url, const http::Response& r, const std::string& permission,
                         bool started) {
    std::string detail = http::describe_error_body(r.body);
    std::string what = "entra: GET " + http::redact_url(url) + " answered " + std::to_string(r.status) +
                       (detail.empty() ? "" : " (" + detail + ")");
    // https://learn.microsoft.com/graph/permissions-reference
    if (r.status == 403)
      throw Error(ErrorKind::auth, what + "; the app registration needs the application permission " + permission +
                                       " with admin consent");
    if (r.status == 401) throw Error(ErrorKind::auth, what + "; the access token was refused even after a refresh");
    if (r.status == 400 && !started)
      throw Error(ErrorKind::config, what + "; check 'filter', 'group_filter' and the attributes the pipeline maps");
    throw Error(started ? ErrorKind::read : ErrorKind::connection, what);
  }

  http::Response get(const std::string& url, const std::string& permission, bool started, bool delta = false) {
    http::Request request{"GET", url, {{"Accept", "application/json"}}, {}};
    // Advanced queries are a list-request feature; delta requests go without.
    if (advanced_ && !delta) request.headers.emplace_back("ConsistencyLevel", "eventual");
    if (delta) request.headers.emplace_back("Prefer", "odata.maxpagesize=" + std::to_string(page_size_));
    http::Response r;
    try {
      r = api_client_->send(request);
    } catch (const Error& e) {
      // A transport failure after the first page makes the read incomplete.
      if (started && e.kind() == ErrorKind::connection) throw Error(ErrorKind::read, e.what());
      throw;
    }
    if (r.ok()) return r;
    if (delta) {
      // https://learn.microsoft.com/graph/delta-query-overview#synchronization-reset
      std::string code = error_code(r.body);
      if (r.status == 410 || code == "syncStateNotFound" || code == "resyncRequired" ||
          code == "SyncStateNotFound")
        throw DeltaReset{"graph answered " + std::to_string(r.status) + (code.empty() ? "" : " " + code) +
                         " to the stored delta link; did a full read instead"};
    }
    fail(url, r, permission, started);
  }

  /// Follows a chain of Graph pages, prefetching the next one while this one
  /// is parsed; `process` gets each body.
  std::size_t pages(const std::string& first, const std::string& permission, bool delta,
                    const std::function<void(const std::string& body)>& process, std::string* delta_link = nullptr,
                    bool prefetch = true) {
    std::atomic<bool> started{false};
    http::PageChain chain;
    chain.fetch = [&](const std::string& url) {
      http::Response r = get(url, permission, started.load(), delta);
      started = true;
      return r;
    };
    chain.next_of = [&](const http::Response& r) {
      PageLinks links = page_links(r.body);
      if (delta_link && !links.delta.empty()) *delta_link = links.delta;
      if (delta && links.next.empty() && links.delta.empty())
        throw Error(ErrorKind::read, "entra: a delta page of " + http::redact_url(first) +
                                         " has neither @odata.nextLink nor @odata.deltaLink");
      return links.next;
    };
    chain.process = [&](http::Response&& r) { process(r.body); };
    chain.prefetch = prefetch && prefetch_;
    return http::follow_pages(chain, first);
  }

  // "Sync from now": directory resources answer $deltatoken=latest with no
  // objects and a deltaLink (https://learn.microsoft.com/graph/delta-query-overview).
  std::string latest_delta_link(const std::string& collection, const std::string& select,
                                const std::string& permission) {
    std::string link;
    pages(api_ + "/" + collection + "/delta?$select=" + select + "&$deltatoken=latest", permission, true,
          [](const std::string&) {}, &link);
    return link;
  }

  // ---------------------------------------------------------------- full ---

  ReadResult full_read(const ReadRequest& request, const Selection& sel, Emitter& out) {
    Object cursor{{"v", 1}, {"select", sel.fingerprint}};
    if (request.users) cursor.set("users", latest_delta_link("users", sel.users, "User.Read.All"));
    if (request.groups) cursor.set("groups", latest_delta_link("groups", sel.groups + ",members", "Group.Read.All"));

    if (request.users) {
      std::string url = api_ + "/users?$select=" + sel.users + "&$top=" + std::to_string(page_size_);
      if (sel.manager) url += "&$expand=manager($select=id)";
      if (!filter_.empty()) url += "&$filter=" + http::url_encode(filter_);
      if (advanced_) url += "&$count=true";
      pages(url, "User.Read.All", false, [&](const std::string& body) {
        parse_page(body, ObjectType::user, ItemShape::object, false, [&](Change&& c) { out.emit(std::move(c)); });
      });
    }
    if (request.groups) {
      std::string url = api_ + "/groups?$select=" + sel.groups + "&$top=" + std::to_string(page_size_);
      if (!group_filter_.empty()) url += "&$filter=" + http::url_encode(group_filter_);
      if (advanced_) url += "&$count=true";
      pages(url, "Group.Read.All", false, [&](const std::string& body) {
        std::vector<Change> groups;
        parse_page(body, ObjectType::group, ItemShape::object, false,
                   [&](Change&& c) { groups.push_back(std::move(c)); });
        // The next group's members are fetched while this one is emitted: a
        // group is decided and written in step (its members resolve through
        // the store), so without this the engine waits for each members page.
        // A std::async future waits in its destructor, so an emit that throws
        // unwinds only after the fetch in flight let go of `this`.
        auto fetch = [this](const std::string& id) {
          auto policy = prefetch_ ? std::launch::async : std::launch::deferred;
          return std::async(policy, [this, id] { return members(id); });
        };
        std::future<std::vector<std::string>> next;
        if (!groups.empty()) next = fetch(groups.front().record.id);
        for (std::size_t i = 0; i < groups.size(); ++i) {
          // Owned by this iteration, so a group's member list is freed once
          // emitted, whatever the emitter keeps.
          Change group = std::move(groups[i]);
          group.record.members = next.get();
          if (i + 1 < groups.size()) next = fetch(groups[i + 1].record.id);
          out.emit(std::move(group));
        }
      });
    }
    ReadResult result;
    result.complete = true;
    result.mode = ReadMode::full;
    result.cursor = to_json(Value(std::move(cursor)));
    return result;
  }

  std::vector<std::string> members(const std::string& group_id) {
    std::vector<std::string> ids;
    std::string url = api_ + "/groups/" + http::url_encode(group_id) +
                      (transitive_ ? "/transitiveMembers" : "/members") + "?$select=id&$top=" +
                      std::to_string(page_size_);
    // A one-page group starts no prefetch: follow_pages fetches ahead only
    // when a page names a next one.
    pages(url, "GroupMember.Read.All", false, [&](const std::string& body) {
      parse_page(body, ObjectType::group, ItemShape::reference, false,
                 [&](Change&& c) { ids.push_back(std::move(c.record.id)); });
    });
    return ids;
  }

  // --------------------------------------------------------------- delta ---

  ReadResult delta_read(const ReadRequest& request, const Selection& sel, Emitter& out) {
    Value stored;
    try {
      stored = parse_json(request.cursor);
    } catch (const Error&) {
    }
    auto link = [&](const char* key) {
      const Value* v = stored.is_object() ? stored.as_object().find(key) : nullptr;
      return v && v->is_string() ? v->as_string() : std::string();
    };
    if (link("select") != sel.fingerprint)
      throw DeltaReset{"the pipeline now reads other attributes than the stored delta link selects; did a full read"};
    std::string users_link = link("users"), groups_link = link("groups");
    if ((request.users && users_link.empty()) || (request.groups && groups_link.empty()))
      throw DeltaReset{"the stored cursor has no delta link for every object kind requested; did a full read"};

    Object cursor{{"v", 1}, {"select", sel.fingerprint}};
    if (request.users) {
      std::string next;
      pages(users_link, "User.Read.All", true, [&](const std::string& body) {
        parse_page(body, ObjectType::user, ItemShape::object, true, [&](Change&& c) { out.emit(std::move(c)); });
      }, &next);
      cursor.set("users", next);
    }
    if (request.groups) {
      std::string next;
      pages(groups_link, "Group.Read.All", true, [&](const std::string& body) {
        parse_page(body, ObjectType::group, ItemShape::object, true, [&](Change&& c) { out.emit(std::move(c)); });
      }, &next);
      cursor.set("groups", next);
    }
    ReadResult result;
    result.complete = true;
    result.mode = ReadMode::incremental;
    result.cursor = to_json(Value(std::move(cursor)));
    return result;
  }

  Logger* log_;
  std::string tenant_, authority_, graph_, api_, filter_, group_filter_;
  std::int64_t page_size_ = 999;
  bool advanced_ = false, transitive_ = false, prefetch_ = true;
  std::unique_ptr<http::Client> client_;
  std::unique_ptr<http::TokenProvider> tokens_;
  std::unique_ptr<http::AuthorizedClient> api_client_;
};

const PluginDescriptor* descriptor() {
  static const PluginDescriptor d = [] {
    PluginDescriptor p;
    p.name = "entra";
    p.kind = PluginKind::source;
    p.version = "0.1.0";
    p.summary = "Microsoft Entra ID users and groups through Microsoft Graph (full and delta reads)";
    using F = FieldType;
    p.schema = {
        {"tenant_id", F::string, true, false, "", "directory (tenant) id or domain of the Entra tenant"},
        {"client_id", F::string, true, false, "", "application (client) id of the app registration"},
        {"client_secret", F::string, false, true, "", "client secret of the app registration"},
        {"certificate", F::string, false, false, "",
         "PEM certificate uploaded to the app registration (certificate credential; use ${file:...})"},
        {"private_key", F::string, false, true, "", "PEM private key of 'certificate' (use ${file:...})"},
        {"authority", F::string, false, false, "https://login.microsoftonline.com",
         "token authority (national clouds: https://login.microsoftonline.us, ...)"},
        {"graph_url", F::string, false, false, "https://graph.microsoft.com", "Microsoft Graph base URL"},
        {"scope", F::string, false, false, "", "token scope; default <graph_url>/.default"},
        {"api_version", F::string, false, false, "v1.0", "Graph API version"},
        {"page_size", F::integer, false, false, "999", "objects per page ($top, 1-999)"},
        {"filter", F::string, false, false, "", "server-side $filter for users, e.g. \"accountEnabled eq true\""},
        {"group_filter", F::string, false, false, "", "server-side $filter for groups"},
        {"advanced_query", F::boolean, false, false, "false",
         "send ConsistencyLevel: eventual and $count=true (needed by ne, endswith, ... in filters)"},
        {"transitive_members", F::boolean, false, false, "false",
         "read nested members (transitiveMembers) on full reads instead of direct members"},
        {"prefetch", F::boolean, false, false, "true",
         "fetch the next page, and the next group's members, while the current one is processed"},
    };
    for (auto& f : http::config_fields()) p.schema.push_back(std::move(f));
    p.make_source = [](const PluginContext& ctx) -> std::unique_ptr<Source> {
      return std::make_unique<EntraSource>(ctx);
    };
    return p;
  }();
  return &d;
}

}  // namespace
}  // namespace dirsync::entra

DIRSYNC_PLUGIN(dirsync::entra::descriptor)
