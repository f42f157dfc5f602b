#include "pull.hpp"

#include "filter.hpp"
#include "resource.hpp"

#include <dirsync/error.hpp>
#include <dirsync/http.hpp>
#include <dirsync/oauth.hpp>

#include <algorithm>

namespace dirsync::scim {

struct PullClient::Impl {
  std::string base_url;
  std::string static_token;  // secret
  std::int64_t page_size = 100;
  std::string filter;
  RecordOptions options;
  Logger& log;
  http::Client client;
  std::unique_ptr<http::TokenProvider> tokens;

  Impl(const Settings& s, Logger& l)
      : base_url(s.string("base_url")),
        static_token(s.string("token")),
        page_size(std::clamp<std::int64_t>(s.integer("page_size", 100), 1, 10000)),
        filter(s.string("filter")),
        log(l),
        client(make_options(s, l)) {
    while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
    if (base_url.empty()) throw Error(ErrorKind::config, "scim: pull mode needs base_url");
    options.flatten_enterprise = s.boolean("flatten_enterprise", true);
    options.inactive_is_soft_delete = s.boolean("inactive_is_soft_delete", false);
    if (!s.string("token_url").empty()) {
      if (s.string("client_id").empty() || s.string("client_secret").empty())
        throw Error(ErrorKind::config, "scim: token_url needs client_id and client_secret");
      tokens = std::make_unique<http::TokenProvider>(
          http::client_secret_grant(s.string("token_url"), s.string("client_id"), s.string("client_secret"),
                                    s.string("scope")),
          client);
    } else if (static_token.empty()) {
      throw Error(ErrorKind::config, "scim: pull mode needs token, or token_url with client_id and client_secret");
    }
  }

  static http::ClientOptions make_options(const Settings& s, Logger& l) {
    http::ClientOptions o;
    o.insecure_skip_tls_verify = s.boolean("insecure_skip_tls_verify", false);
    o.ca_file = s.string("ca_file");
    o.log = &l;
    o.user_agent = "dirsync-scim";
    return o;
  }

  http::Response get(const std::string& url) {
    http::Request req;
    req.url = url;
    req.headers.emplace_back("Accept", "application/scim+json, application/json");
    if (tokens) {
      http::AuthorizedClient authorized(client, *tokens);
      return authorized.send(std::move(req));
    }
    req.headers.emplace_back("Authorization", "Bearer " + static_token);
    return client.send(req);
  }

  [[noreturn]] void fail(const http::Response& r, const std::string& url) {
    std::string what = "scim pull: GET " + http::redact_url(url) + " answered " + std::to_string(r.status);
    std::string detail = http::describe_error_body(r.body);
    if (!detail.empty()) what += ": " + detail;
    throw Error(r.status == 401 || r.status == 403 ? ErrorKind::auth : ErrorKind::read, what);
  }

  /// Reads every page of one endpoint; returns false when the provider
  /// refused the filter with 400 (only asked when `may_refuse`).
  bool read_all(ResourceKind kind, const std::string& filter_text, bool may_refuse, Emitter& out,
                std::string& max_modified, std::int64_t& count) {
    std::int64_t start = 1;
    for (;;) {
      std::string url = base_url + (kind == ResourceKind::user ? "/Users" : "/Groups") +
                        "?startIndex=" + std::to_string(start) + "&count=" + std::to_string(page_size);
      if (!filter_text.empty()) url += "&filter=" + http::url_encode(filter_text);
      http::Response r = get(url);
      if (r.status == 400 && may_refuse) return false;
      if (!r.ok()) fail(r, url);
      Value page;
      try {
        if (!json_depth_within(r.body, 64)) throw Error(ErrorKind::input, "json nested deeper than 64 levels");
        page = parse_json(r.body);
      } catch (const Error& e) {
        throw Error(ErrorKind::read, "scim pull: page at startIndex " + std::to_string(start) + " of " +
                                         http::redact_url(url) + " is not json: " + e.what());
      }
      if (!page.is_object()) throw Error(ErrorKind::read, "scim pull: a list response must be a json object");
      Value* resources = find_ci(page.as_object(), "Resources");
      const Value* total = find_ci(page.as_object(), "totalResults");
      std::size_t n = 0;
      if (resources && resources->is_list()) {
        for (Value& item : resources->as_list()) {
          if (!item.is_object()) continue;
          if (const Value* meta = find_ci(item.as_object(), "meta"); meta && meta->is_object()) {
            if (const Value* lm = find_ci(meta->as_object(), "lastModified"); lm && lm->is_string()) {
              if (lm->as_string() > max_modified) max_modified = lm->as_string();
            }
          }
          ++n;
          ++count;
          out.emit(to_change(kind, std::move(item.as_object()), false, options));
        }
      }
      if (n == 0) return true;
      start += static_cast<std::int64_t>(n);
      if (total && total->is_integer() && start > total->as_integer()) return true;
    }
  }
};

PullClient::PullClient(const Settings& settings, Logger& log) : impl_(std::make_unique<Impl>(settings, log)) {}
PullClient::~PullClient() = default;

ReadResult PullClient::read(const ReadRequest& request, Emitter& out) {
  ReadResult result;
  result.mode = request.mode;
  std::string cursor = request.mode == ReadMode::incremental ? request.cursor : std::string();
  if (request.mode == ReadMode::incremental && cursor.empty()) {
    result.mode = ReadMode::full;
    result.note = "no cursor yet: full read";
  }
  std::string max_modified = cursor;
  std::int64_t count = 0;
  std::vector<ResourceKind> kinds;
  if (request.users) kinds.push_back(ResourceKind::user);
  if (request.groups) kinds.push_back(ResourceKind::group);
  for (ResourceKind kind : kinds) {
    std::string f = kind == ResourceKind::user ? impl_->filter : std::string();
    if (result.mode == ReadMode::incremental) {
      std::string since = "meta.lastModified ge " + to_json(Value(cursor));
      std::string combined = f.empty() ? since : "(" + f + ") and " + since;
      if (!impl_->read_all(kind, combined, true, out, max_modified, count)) {
        // Emitting again what was already emitted is harmless (upserts).
        ReadRequest full = request;
        full.mode = ReadMode::full;
        full.cursor.clear();
        ReadResult r = read(full, out);
        r.note = "the provider refused a meta.lastModified filter (400): full read";
        return r;
      }
    } else {
      impl_->read_all(kind, f, false, out, max_modified, count);
    }
  }
  result.complete = true;
  result.cursor = max_modified;
  if (result.note.empty()) result.note = std::to_string(count) + " resources read";
  return result;
}

std::vector<std::string> PullClient::test_connection() {
  std::string url = impl_->base_url + "/ServiceProviderConfig";
  http::Response r = impl_->get(url);
  if (!r.ok()) impl_->fail(r, url);
  std::vector<std::string> lines{"GET " + http::redact_url(url) + ": " + std::to_string(r.status)};
  http::Response users = impl_->get(impl_->base_url + "/Users?startIndex=1&count=1");
  if (!users.ok()) impl_->fail(users, impl_->base_url + "/Users");
  lines.push_back("GET /Users?count=1: " + std::to_string(users.status));
  return lines;
}

}  // namespace dirsync::scim
