#include "server.hpp"

#include "filter.hpp"
#include "resource.hpp"
#include "scim_error.hpp"

#include <dirsync/error.hpp>

#include <Poco/Crypto/RSAKey.h>
#include <Poco/JWT/Signer.h>
#include <Poco/JWT/Token.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/SHA2Engine.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>
#include <Poco/UUIDGenerator.h>

#include <algorithm>
#include <chrono>
#include <istream>
#include <map>
#include <mutex>
#include <optional>

namespace dirsync::scim {

using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

void parse_listen(const std::string& listen, std::string& host, std::uint16_t& port) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw Error(ErrorKind::config, "scim: listen '" + listen + "' needs host:port");
  host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  std::string port_text = listen.substr(colon + 1);
  try {
    std::size_t used = 0;
    int p = std::stoi(port_text, &used);
    if (used != port_text.size() || p < 0 || p > 65535) throw std::out_of_range("port");
    port = static_cast<std::uint16_t>(p);
  } catch (const std::exception&) {
    throw Error(ErrorKind::config, "scim: listen port '" + port_text + "' is not a number from 0 to 65535");
  }
}

namespace {

using Digest = Poco::DigestEngine::Digest;

Digest sha256(std::string_view text) {
  Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
  engine.update(text.data(), static_cast<unsigned>(text.size()));
  return engine.digest();
}

std::string etag_of(std::int64_t version) { return "W/\"" + std::to_string(version) + "\""; }

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// Token bucket per client address: `rate` requests per minute, bursts up to `rate`.
class RateLimiter {
 public:
  explicit RateLimiter(int per_minute) : rate_(per_minute) {}
  /// 0 when allowed, else the seconds to wait.
  int acquire(const std::string& client) {
    if (rate_ <= 0) return 0;
    auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    if (buckets_.size() > 100000) buckets_.clear();  // bounded memory under address churn
    auto [it, inserted] = buckets_.try_emplace(client, Bucket{static_cast<double>(rate_), now});
    Bucket& b = it->second;
    double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min<double>(rate_, b.tokens + elapsed * rate_ / 60.0);
    b.last = now;
    if (b.tokens >= 1.0) {
      b.tokens -= 1.0;
      return 0;
    }
    return static_cast<int>((1.0 - b.tokens) * 60.0 / rate_) + 1;
  }

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
  };
  int rate_;
  std::mutex mutex_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace

struct Server::Impl {
  ServerConfig config;
  Store& store;
  Logger& log;
  std::vector<Digest> token_digests;
  RateLimiter limiter;
  std::unique_ptr<Poco::ThreadPool> pool;
  std::unique_ptr<Poco::Net::HTTPServer> http;
  std::uint16_t bound_port = 0;

  std::unique_ptr<Poco::JWT::Signer> jwt;

  Impl(ServerConfig c, Store& s, Logger& l)
      : config(std::move(c)), store(s), log(l), limiter(config.rate_limit_per_minute) {
    for (const std::string& t : config.tokens) token_digests.push_back(sha256(t));
    if (!config.jwt_hs256_secret.empty() && !config.jwt_public_key.empty())
      throw Error(ErrorKind::config, "scim: set jwt_hs256_secret or jwt_public_key, not both");
    if (!config.jwt_hs256_secret.empty()) {
      if (config.jwt_hs256_secret.size() < 32)
        throw Error(ErrorKind::config, "scim: jwt_hs256_secret must be at least 32 characters long");
      jwt = std::make_unique<Poco::JWT::Signer>(config.jwt_hs256_secret);
      jwt->setAlgorithms({Poco::JWT::Signer::ALGO_HS256});
    } else if (!config.jwt_public_key.empty()) {
      try {
        jwt = std::make_unique<Poco::JWT::Signer>(
            Poco::SharedPtr<Poco::Crypto::RSAKey>(new Poco::Crypto::RSAKey(config.jwt_public_key)));
      } catch (const Poco::Exception& e) {
        throw Error(ErrorKind::config, "scim: cannot read jwt_public_key '" + config.jwt_public_key +
                                           "': " + e.displayText());
      }
      jwt->setAlgorithms({Poco::JWT::Signer::ALGO_RS256});
    }
  }

  /// "jwt:<sub>" for a valid JWT access token, else empty.
  std::string verify_jwt(const std::string& presented) const {
    if (!jwt || std::count(presented.begin(), presented.end(), '.') != 2) return {};
    Poco::JWT::Token token;
    try {
      if (!jwt->tryVerify(presented, token)) return {};
      const std::int64_t kSkew = 60 * Poco::Timestamp::resolution();
      Poco::Timestamp now;
      Poco::Timestamp exp = token.getExpiration();
      if (exp.epochMicroseconds() == 0 || exp.epochMicroseconds() + kSkew < now.epochMicroseconds()) return {};
      if (token.getNotBefore().epochMicroseconds() > now.epochMicroseconds() + kSkew) return {};
      if (!config.jwt_issuer.empty() && token.getIssuer() != config.jwt_issuer) return {};
      if (!config.jwt_audience.empty()) {
        auto aud = token.getAudience();
        if (std::find(aud.begin(), aud.end(), config.jwt_audience) == aud.end()) return {};
      }
      std::string sub = token.getSubject();
      // The subject names the caller in audit lines: keep it short and printable.
      sub.erase(std::remove_if(sub.begin(), sub.end(), [](char c) { return c <= ' ' || c == 127; }), sub.end());
      return "jwt:" + (sub.empty() ? std::string("?") : sub.substr(0, 64));
    } catch (const Poco::Exception&) {
      return {};
    }
  }

  /// 1-based index of the matching token, 0 when none matches. Every
  /// configured token is compared, over fixed-length digests, so timing says
  /// nothing about which bytes matched.
  int authenticate(const std::string& presented) const {
    Digest d = sha256(presented);
    int match = 0;
    for (std::size_t i = 0; i < token_digests.size(); ++i) {
      unsigned diff = 0;
      for (std::size_t k = 0; k < d.size(); ++k) diff |= static_cast<unsigned>(d[k] ^ token_digests[i][k]);
      // Branch-free select of the first matching index.
      int is_match = static_cast<int>(diff == 0);
      match |= (match == 0) * is_match * static_cast<int>(i + 1);
    }
    return match;
  }

  void handle(HTTPServerRequest& req, HTTPServerResponse& resp);
};

namespace {

struct Request {
  HTTPServerRequest& http;
  HTTPServerResponse& resp;
  std::string client;
  std::string who = "anonymous";
  std::string base_url;
  std::string method;
  std::vector<std::string> segments;  ///< path after the base path
  Poco::URI::QueryParameters query;
};

void send_json(Request& r, int status, const Value& body, const std::string& etag = {}) {
  std::string text = to_json(body);
  r.resp.setStatusAndReason(static_cast<HTTPResponse::HTTPStatus>(status));
  r.resp.setContentType("application/scim+json; charset=utf-8");
  if (!etag.empty()) r.resp.set("ETag", etag);
  r.resp.setContentLength(static_cast<std::streamsize>(text.size()));
  r.resp.send().write(text.data(), static_cast<std::streamsize>(text.size()));
}

void send_empty(Request& r, int status, const std::string& etag = {}) {
  r.resp.setStatusAndReason(static_cast<HTTPResponse::HTTPStatus>(status));
  if (!etag.empty()) r.resp.set("ETag", etag);
  r.resp.setContentLength(0);
  r.resp.send();
}

void send_error(Request& r, int status, const std::string& scim_type, const std::string& detail) {
  Object body{{"schemas", List{Value(std::string(kErrorSchema))}}, {"status", std::to_string(status)}};
  if (!scim_type.empty()) body.set("scimType", scim_type);
  body.set("detail", detail);
  send_json(r, status, body);
}

std::string param(const Request& r, std::string_view name) {
  for (const auto& [k, v] : r.query) {
    if (iequals(k, name)) return v;
  }
  return {};
}

bool has_param(const Request& r, std::string_view name) {
  for (const auto& [k, v] : r.query) {
    if (iequals(k, name)) return true;
  }
  return false;
}

std::string_view type_name(ResourceKind k) { return k == ResourceKind::user ? "User" : "Group"; }
std::string_view endpoint(ResourceKind k) { return k == ResourceKind::user ? "Users" : "Groups"; }

// The stored resource as clients see it: meta.location is derived per request
// so the same store answers correctly behind any host name.
Object render(const Request& r, ResourceKind kind, Object resource) {
  const Value* id = resource.find("id");
  if (Value* meta = resource.find("meta"); meta && meta->is_object() && id && id->is_string()) {
    meta->as_object().set("location", r.base_url + "/" + std::string(endpoint(kind)) + "/" + id->as_string());
  }
  return resource;
}

Object shaped(const Request& r, ResourceKind kind, Object resource) {
  return project(render(r, kind, std::move(resource)), split_list(param(r, "attributes")),
                 split_list(param(r, "excludedAttributes")));
}

std::string read_body(Request& r, std::int64_t limit) {
  if (r.http.hasContentLength() && r.http.getContentLength64() > limit) {
    throw ScimError(413, "", "request body of " + std::to_string(r.http.getContentLength64()) +
                                 " bytes exceeds the limit of " + std::to_string(limit));
  }
  std::string body;
  std::istream& in = r.http.stream();
  char buf[16384];
  while (in) {
    in.read(buf, sizeof buf);
    body.append(buf, static_cast<std::size_t>(in.gcount()));
    if (static_cast<std::int64_t>(body.size()) > limit)
      throw ScimError(413, "", "request body exceeds the limit of " + std::to_string(limit) + " bytes");
  }
  return body;
}

Object parse_body(const std::string& body) {
  constexpr int kMaxDepth = 32;  // SCIM resources nest three levels; PATCH bodies five
  if (!json_depth_within(body, kMaxDepth))
    throw invalid_syntax("json nested deeper than " + std::to_string(kMaxDepth) + " levels");
  Value v;
  try {
    v = parse_json(body);
  } catch (const std::exception& e) {
    throw invalid_syntax(std::string("malformed json: ") + e.what());
  }
  if (!v.is_object()) throw invalid_syntax("the request body must be a json object");
  return std::move(v.as_object());
}

void check_if_match(const Request& r, std::int64_t version) {
  if (!r.http.has("If-Match")) return;
  std::string wanted = r.http.get("If-Match");
  if (wanted == "*") return;
  std::string current = etag_of(version);
  for (std::string tag : split_list(wanted)) {
    if (tag == current || "W/" + tag == current) return;
  }
  throw ScimError(412, "", "resource version is " + current + ", not " + wanted);
}

void require_attributes(const Object& resource, ResourceKind kind) {
  const char* key = kind == ResourceKind::user ? "userName" : "displayName";
  const Value* v = resource.find(key);
  if (!v || !v->is_string() || v->as_string().empty())
    throw invalid_value(std::string("attribute '") + key + "' is required and must be a non-empty string");
}

// Schemas list: the core schema plus each extension present.
void stamp_schemas(Object& resource, ResourceKind kind) {
  List schemas;
  schemas.reserve(2);
  schemas.emplace_back(std::string(core_schema(kind)));
  if (resource.find(kEnterpriseSchema)) schemas.emplace_back(std::string(kEnterpriseSchema));
  resource.set("schemas", std::move(schemas));
}

// Rebuilds the resource with id first and meta last, so stored JSON reads naturally.
Object stamp(const Object& body, ResourceKind kind, const std::string& id, const std::string& created,
             std::int64_t version) {
  Object out;
  out.set("schemas", Value());
  out.set("id", id);
  for (const auto& [k, v] : body) {
    if (k != "schemas") out.set(k, v);
  }
  stamp_schemas(out, kind);
  std::string now = now_iso8601();
  out.set("meta", Object{{"resourceType", std::string(type_name(kind))},
                         {"created", created.empty() ? now : created},
                         {"lastModified", now},
                         {"version", etag_of(version)}});
  return out;
}

void check_unique_user_name(Tx& tx, const Object& resource, const std::string& self_id) {
  const Value* name = resource.find("userName");
  if (!name || !name->is_string()) return;
  auto existing = tx.user_id_by_name(name->as_string());
  if (existing && *existing != self_id)
    throw ScimError(409, "uniqueness", "userName '" + name->as_string() + "' is already in use");
}

Object without_meta(Object o) {
  o.erase("meta");
  return o;
}

}  // namespace

void Server::Impl::handle(HTTPServerRequest& http, HTTPServerResponse& resp) {
  Request r{http, resp, http.clientAddress().host().toString(), "anonymous", {}, http.getMethod(), {}, {}};
  std::string audit_action;
  std::string audit_id;
  std::optional<ResourceKind> audit_kind;
  int status = 0;
  auto audit = [&](int code) {
    if (audit_action.empty()) return;
    log.info("scim audit: client=" + r.client + " who=" + r.who + " action=" + audit_action +
             " type=" + (audit_kind ? std::string(type_name(*audit_kind)) : "?") +
             " id=" + (audit_id.empty() ? "-" : audit_id) + " status=" + std::to_string(code));
  };
  try {
    Poco::URI uri(http.getURI());
    std::string path = uri.getPath();
    if (!config.public_url.empty()) {
      r.base_url = config.public_url;
    } else {
      std::string host = http.getHost().empty() ? (config.host + ":" + std::to_string(bound_port)) : http.getHost();
      r.base_url = std::string(config.tls_cert.empty() ? "http" : "https") + "://" + host + config.base_path;
    }
    if (int wait = limiter.acquire(r.client); wait > 0) {
      resp.set("Retry-After", std::to_string(wait));
      throw ScimError(429, "", "too many requests from " + r.client + "; retry after " + std::to_string(wait) + " s");
    }
    std::string auth = http.get("Authorization", "");
    int token = 0;
    std::string jwt_who;
    if (auth.size() > 7 && iequals(std::string_view(auth).substr(0, 7), "Bearer ")) {
      token = authenticate(auth.substr(7));
      if (token == 0) jwt_who = verify_jwt(auth.substr(7));
    }
    if (token == 0 && jwt_who.empty()) {
      resp.set("WWW-Authenticate", auth.empty() ? "Bearer realm=\"scim\""
                                                : "Bearer realm=\"scim\", error=\"invalid_token\"");
      throw ScimError(401, "", auth.empty() ? "authorization required: send a bearer token"
                                            : "the bearer token is not accepted");
    }
    r.who = token ? "token#" + std::to_string(token) : jwt_who;

    std::string_view rest = path;
    if (!config.base_path.empty() && config.base_path != "/") {
      if (!rest.starts_with(config.base_path)) throw ScimError(404, "", "no scim endpoint at '" + path + "'");
      rest.remove_prefix(config.base_path.size());
    }
    std::string segments_text(rest);
    {
      std::size_t start = 0;
      while (start < segments_text.size()) {
        auto slash = segments_text.find('/', start);
        std::string seg = segments_text.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (!seg.empty()) r.segments.push_back(seg);
        if (slash == std::string::npos) break;
        start = slash + 1;
      }
    }
    r.query = uri.getQueryParameters();
    const std::string& m = r.method;
    if (r.segments.empty()) throw ScimError(404, "", "no scim endpoint at '" + path + "'");
    const std::string& top = r.segments[0];

    if (iequals(top, "ServiceProviderConfig") && r.segments.size() == 1) {
      if (m != "GET") throw ScimError(405, "", "method " + m + " is not allowed on /ServiceProviderConfig");
      send_json(r, 200, service_provider_config(r.base_url, config.max_results, config.max_body_bytes));
      return;
    }
    if (iequals(top, "ResourceTypes") || iequals(top, "Schemas")) {
      if (m != "GET") throw ScimError(405, "", "method " + m + " is not allowed on /" + top);
      bool types = iequals(top, "ResourceTypes");
      Value all = types ? resource_types(r.base_url) : schemas(r.base_url);
      if (r.segments.size() == 1) {
        Object list{{"schemas", List{Value(std::string(kListResponse))}},
                    {"totalResults", static_cast<std::int64_t>(all.as_list().size())},
                    {"startIndex", 1},
                    {"itemsPerPage", static_cast<std::int64_t>(all.as_list().size())},
                    {"Resources", all}};
        send_json(r, 200, list);
        return;
      }
      for (const Value& item : all.as_list()) {
        if (iequals(item.as_object().find("id")->as_string(), r.segments[1])) {
          send_json(r, 200, item);
          return;
        }
      }
      throw ScimError(404, "", "no " + std::string(types ? "resource type" : "schema") + " '" + r.segments[1] + "'");
    }

    ResourceKind kind;
    if (iequals(top, "Users")) {
      kind = ResourceKind::user;
    } else if (iequals(top, "Groups")) {
      kind = ResourceKind::group;
    } else if (iequals(top, "Bulk") || iequals(top, "Me") || iequals(top, ".search")) {
      throw ScimError(501, "", "/" + top + " is not supported (see /ServiceProviderConfig)");
    } else {
      throw ScimError(404, "", "no scim endpoint at '" + path + "'");
    }
    audit_kind = kind;
    if (r.segments.size() > 2) throw ScimError(404, "", "no scim endpoint at '" + path + "'");

    if (r.segments.size() == 1) {
      if (m == "POST") {
        audit_action = "create";
        Object body = parse_body(read_body(r, config.max_body_bytes));
        normalize(body, kind);
        require_attributes(body, kind);
        std::string id = Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
        Object stored = stamp(body, kind, id, {}, 1);
        std::string json = to_json(stored);
        store.write([&](Tx& tx) {
          if (kind == ResourceKind::user) check_unique_user_name(tx, stored, {});
          tx.put(kind, id, 1, stored, json);
          tx.append_event(kind, EventKind::upsert, id, json);
        });
        audit_id = id;
        status = 201;
        resp.set("Location", r.base_url + "/" + std::string(endpoint(kind)) + "/" + id);
        send_json(r, 201, shaped(r, kind, std::move(stored)), etag_of(1));
        audit(status);
        return;
      }
      if (m != "GET") throw ScimError(405, "", "method " + m + " is not allowed on /" + top);
      // --- list ---
      std::unique_ptr<Filter> filter;
      if (has_param(r, "filter")) filter = parse_filter(param(r, "filter"));
      std::int64_t start_index = 1;
      std::int64_t count = config.max_results;
      try {
        if (has_param(r, "startIndex")) start_index = std::max<std::int64_t>(1, std::stoll(param(r, "startIndex")));
        if (has_param(r, "count"))
          count = std::clamp<std::int64_t>(std::stoll(param(r, "count")), 0, config.max_results);
      } catch (const std::exception&) {
        throw invalid_value("startIndex and count must be integers");
      }
      std::string sort_by = param(r, "sortBy");
      bool descending = iequals(param(r, "sortOrder"), "descending");
      std::optional<AttrPath> sort_path;
      if (!sort_by.empty()) sort_path = parse_attr_path(sort_by);

      std::int64_t total = 0;
      List page;
      std::vector<Object> matched;  // only when sorting
      auto consider = [&](Object resource) {
        if (filter && !matches(*filter, resource, kind)) return;
        ++total;
        if (sort_path) {
          matched.push_back(std::move(resource));
        } else if (total >= start_index && static_cast<std::int64_t>(page.size()) < count) {
          page.push_back(shaped(r, kind, std::move(resource)));
        }
      };
      std::optional<SimpleEq> eq = filter ? as_simple_eq(*filter) : std::nullopt;
      std::string column;
      if (eq) {
        if (iequals(eq->attr, "id")) column = "id";
        if (iequals(eq->attr, "externalId")) column = "externalId";
        if (iequals(eq->attr, kind == ResourceKind::user ? "userName" : "displayName")) column = "name";
      }
      if (!column.empty()) {
        for (const std::string& json : store.find_json(kind, column, eq->value)) {
          consider(std::move(parse_json(json).as_object()));
        }
      } else if (!filter && !sort_path) {
        // Plain paging (IdP imports, pull clients): count and one page, not a
        // parse of every row per page.
        total = store.count(kind);
        for (const std::string& json : store.page(kind, start_index - 1, count)) {
          page.push_back(shaped(r, kind, std::move(parse_json(json).as_object())));
        }
      } else {
        std::vector<std::string> needles = filter ? required_text(*filter) : std::vector<std::string>{};
        store.scan(kind, [&](std::string_view json) {
          if (needles.empty() || contains_all_ci(json, needles)) consider(std::move(parse_json(json).as_object()));
          return true;
        });
      }
      if (sort_path) {
        auto key_of = [&](const Object& o) -> std::string {
          const Value* v = lookup_path(o, sort_path->sub.empty() ? sort_path->attr
                                                                 : sort_path->attr + "." + sort_path->sub);
          return v ? to_lower(v->to_string()) : std::string();
        };
        std::stable_sort(matched.begin(), matched.end(), [&](const Object& a, const Object& b) {
          return descending ? key_of(b) < key_of(a) : key_of(a) < key_of(b);
        });
        for (std::int64_t i = start_index - 1;
             i < static_cast<std::int64_t>(matched.size()) && static_cast<std::int64_t>(page.size()) < count; ++i) {
          page.push_back(shaped(r, kind, std::move(matched[static_cast<std::size_t>(i)])));
        }
      }
      std::int64_t items = static_cast<std::int64_t>(page.size());
      send_json(r, 200,
                Object{{"schemas", List{Value(std::string(kListResponse))}},
                       {"totalResults", total},
                       {"startIndex", start_index},
                       {"itemsPerPage", items},
                       {"Resources", std::move(page)}});
      return;
    }

    // --- one resource ---
    std::string id = r.segments[1];
    audit_id = id;
    if (m == "GET") {
      auto found = store.get(kind, id);
      if (!found) throw ScimError(404, "", std::string(type_name(kind)) + " '" + id + "' not found");
      std::string etag = etag_of(found->version);
      if (http.has("If-None-Match") && http.get("If-None-Match") == etag) {
        send_empty(r, 304, etag);
        return;
      }
      send_json(r, 200, shaped(r, kind, std::move(found->resource)), etag);
      return;
    }
    auto not_found = [&] { return ScimError(404, "", std::string(type_name(kind)) + " '" + id + "' not found"); };
    if (m == "DELETE") {
      audit_action = "delete";
      store.write([&](Tx& tx) {
        auto found = tx.get(kind, id);
        if (!found) throw not_found();
        check_if_match(r, found->version);
        tx.erase(kind, id);
        tx.append_event(kind, EventKind::deleted, id, to_json(found->resource));
      });
      status = 204;
      send_empty(r, 204);
      audit(status);
      return;
    }
    if (m == "PUT" || m == "PATCH") {
      bool is_patch = m == "PATCH";
      audit_action = is_patch ? "patch" : "replace";
      Value body(parse_body(read_body(r, config.max_body_bytes)));
      if (!is_patch) normalize(body.as_object(), kind);
      Object result;
      std::int64_t version = 0;
      bool changed = true;
      store.write([&](Tx& tx) {
        auto found = tx.get(kind, id);
        if (!found) throw not_found();
        check_if_match(r, found->version);
        Object next;
        if (is_patch) {
          next = found->resource;
          apply_patch(next, body, kind);
        } else {
          next = body.as_object();
        }
        require_attributes(next, kind);
        const Value* meta = found->resource.find("meta");
        const Value* created = meta && meta->is_object() ? meta->as_object().find("created") : nullptr;
        Object candidate = stamp(next, kind, id, created && created->is_string() ? created->as_string() : "",
                                 found->version);
        // Entra re-sends unchanged values; an unchanged resource keeps its
        // version and adds no event, so the pipeline does no work for it.
        if (without_meta(candidate) == without_meta(found->resource)) {
          changed = false;
          result = std::move(found->resource);
          version = found->version;
          return;
        }
        version = found->version + 1;
        result = stamp(next, kind, id, created && created->is_string() ? created->as_string() : "", version);
        if (kind == ResourceKind::user) check_unique_user_name(tx, result, id);
        std::string json = to_json(result);
        tx.put(kind, id, version, result, json);
        tx.append_event(kind, EventKind::upsert, id, json);
      });
      if (!changed) audit_action += " (unchanged)";
      status = 200;
      send_json(r, 200, shaped(r, kind, std::move(result)), etag_of(version));
      audit(status);
      return;
    }
    throw ScimError(405, "", "method " + m + " is not allowed on /" + top + "/{id}");
  } catch (const ScimError& e) {
    status = e.status();
    if (status == 413 || status == 401) resp.setKeepAlive(false);
    if (status == 405) resp.set("Allow", r.segments.size() == 2 ? "GET, PUT, PATCH, DELETE" : "GET, POST");
    send_error(r, e.status(), e.scim_type(), e.what());
  } catch (const Error& e) {
    status = 500;
    log.error(std::string("scim: ") + e.what());
    send_error(r, 500, "", "internal error");
  } catch (const std::exception& e) {
    status = 500;
    log.error(std::string("scim: ") + e.what());
    if (!resp.sent()) send_error(r, 500, "", "internal error");
  }
  audit(status);
}

namespace {

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Handler(Server::Impl& impl) : impl_(impl) {}
  void handleRequest(HTTPServerRequest& req, HTTPServerResponse& resp) override { impl_.handle(req, resp); }

 private:
  Server::Impl& impl_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(Server::Impl& impl) : impl_(impl) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
    return new Handler(impl_);
  }

 private:
  Server::Impl& impl_;
};

}  // namespace

Server::Server(ServerConfig config, Store& store, Logger& log)
    : impl_(std::make_unique<Impl>(std::move(config), store, log)) {}

Server::~Server() { stop(); }

std::uint16_t Server::start() {
  Impl& i = *impl_;
  Poco::Net::SocketAddress address(i.config.host, i.config.port);
  std::unique_ptr<Poco::Net::ServerSocket> socket;
  try {
    if (!i.config.tls_cert.empty()) {
      Poco::Net::Context::Ptr context = new Poco::Net::Context(
          Poco::Net::Context::TLS_SERVER_USE, i.config.tls_key, i.config.tls_cert, "", Poco::Net::Context::VERIFY_NONE);
      context->disableProtocols(Poco::Net::Context::PROTO_SSLV2 | Poco::Net::Context::PROTO_SSLV3 |
                                Poco::Net::Context::PROTO_TLSV1 | Poco::Net::Context::PROTO_TLSV1_1);
      socket = std::make_unique<Poco::Net::SecureServerSocket>(address, 128, context);
    } else {
      socket = std::make_unique<Poco::Net::ServerSocket>(address, 128);
    }
  } catch (const Poco::Exception& e) {
    throw Error(ErrorKind::connection, "scim: cannot listen on " + address.toString() + ": " + e.displayText());
  }
  i.bound_port = socket->address().port();
  auto* params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(i.config.threads);
  params->setMaxQueued(256);
  params->setKeepAlive(true);
  params->setMaxKeepAliveRequests(0);
  params->setTimeout(Poco::Timespan(30, 0));
  i.pool = std::make_unique<Poco::ThreadPool>(2, i.config.threads + 2);
  i.http = std::make_unique<Poco::Net::HTTPServer>(new Factory(i), *i.pool, *socket, params);
  i.http->start();
  return i.bound_port;
}

void Server::stop() {
  if (impl_ && impl_->http) {
    impl_->http->stopAll(true);
    impl_->http.reset();
    impl_->pool->joinAll();
  }
}

std::string Server::url() const {
  return std::string(impl_->config.tls_cert.empty() ? "http" : "https") + "://" + impl_->config.host + ":" +
         std::to_string(impl_->bound_port) + impl_->config.base_path;
}

}  // namespace dirsync::scim
