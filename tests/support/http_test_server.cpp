#include "support/http_test_server.hpp"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <algorithm>
#include <cctype>

namespace dirsync::test {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::string HttpExchange::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

HttpReply HttpReply::json(int status, const Value& body) {
  HttpReply r;
  r.status = status;
  r.body = to_json(body);
  r.headers.emplace_back("Content-Type", "application/json");
  return r;
}

struct HttpTestHandler : Poco::Net::HTTPRequestHandler {
  explicit HttpTestHandler(HttpTestServer& s) : server(s) {}
  void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) override {
    HttpExchange x;
    x.method = req.getMethod();
    x.uri = req.getURI();
    Poco::URI uri(x.uri);
    x.path = uri.getPath();
    x.query = uri.getQuery();
    for (const auto& [k, v] : req) x.headers.emplace_back(k, v);
    Poco::StreamCopier::copyToString(req.stream(), x.body);
    HttpReply reply = server.handle(std::move(x));
    if (reply.drop) {
      // The request was read and acted on; the client never gets an answer.
      static_cast<Poco::Net::HTTPServerRequestImpl&>(req).socket().shutdown();
      return;
    }
    resp.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
    for (const auto& [k, v] : reply.headers) resp.set(k, v);
    if (reply.status == 204 || reply.status == 304) reply.body.clear();  // no content, by definition
    resp.setContentLength(static_cast<std::streamsize>(reply.body.size()));
    resp.send() << reply.body;
  }
  HttpTestServer& server;
};

namespace {

struct Factory : Poco::Net::HTTPRequestHandlerFactory {
  explicit Factory(HttpTestServer& s) : server(s) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new HttpTestHandler(server);
  }
  HttpTestServer& server;
};

}  // namespace

HttpTestServer::HttpTestServer(Handler handler) : handler_(std::move(handler)) {
  Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0));
  auto* params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(16);
  params->setKeepAlive(true);
  server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), socket, params);
  server_->start();
  port_ = socket.address().port();
}

HttpTestServer::~HttpTestServer() { server_->stopAll(true); }

std::string HttpTestServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

HttpReply HttpTestServer::handle(HttpExchange exchange) {
  std::lock_guard lock(mutex_);
  int n = static_cast<int>(requests_.size());
  requests_.push_back(exchange);
  return handler_(requests_.back(), n);
}

std::vector<HttpExchange> HttpTestServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t HttpTestServer::count(const std::string& method, const std::string& path_prefix) const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(std::count_if(requests_.begin(), requests_.end(), [&](const HttpExchange& x) {
    return x.method == method && x.path.starts_with(path_prefix);
  }));
}

std::chrono::system_clock::time_point ManualClock::now() {
  std::lock_guard lock(mutex_);
  return now_;
}

void ManualClock::sleep_for(std::chrono::milliseconds duration) {
  std::lock_guard lock(mutex_);
  sleeps_.push_back(duration);
  now_ += duration;
}

std::vector<std::chrono::milliseconds> ManualClock::sleeps() const {
  std::lock_guard lock(mutex_);
  return sleeps_;
}

std::chrono::milliseconds ManualClock::slept() const {
  std::lock_guard lock(mutex_);
  std::chrono::milliseconds total{0};
  for (auto d : sleeps_) total += d;
  return total;
}

void CapturingLogger::log(LogLevel, std::string_view message) {
  std::lock_guard lock(mutex_);
  text_.append(message);
  text_ += '\n';
}

std::string CapturingLogger::text() const {
  std::lock_guard lock(mutex_);
  return text_;
}

// ----------------------------------------------------------------- SCIM ---

namespace {

Value error(int status, const std::string& detail) {
  return Value(Object{{"schemas", Value(List{Value("urn:ietf:params:scim:api:messages:2.0:Error")})},
                      {"status", Value(std::to_string(status))},
                      {"detail", Value(detail)}});
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// `attr eq "value"` (value unescaped) or nothing.
bool parse_eq(const std::string& filter, std::string& attribute, std::string& value) {
  std::size_t eq = filter.find(" eq ");
  if (eq == std::string::npos) return false;
  attribute = filter.substr(0, eq);
  std::string rest = filter.substr(eq + 4);
  if (rest.size() < 2 || rest.front() != '"' || rest.back() != '"') return false;
  value.clear();
  for (std::size_t i = 1; i + 1 < rest.size(); ++i) {
    if (rest[i] == '\\' && i + 2 < rest.size()) ++i;
    value += rest[i];
  }
  return true;
}

std::string unique_attribute(const std::string& collection) {
  return collection == "Users" ? "userName" : "displayName";
}

}  // namespace

FakeScim::FakeScim(std::string token)
    : token_(std::move(token)), server_([this](const HttpExchange& x, int n) { return serve(x, n); }) {}

std::string FakeScim::seed(const std::string& collection, Object resource) {
  std::string id = "seed-" + std::to_string(next_id_++);
  resource.set("id", Value(id));
  store_[collection][id] = std::move(resource);
  return id;
}

Value FakeScim::get(const std::string& collection, const std::string& id) const {
  auto c = store_.find(collection);
  if (c == store_.end()) return {};
  auto it = c->second.find(id);
  return it == c->second.end() ? Value() : Value(it->second);
}

std::size_t FakeScim::size(const std::string& collection) const {
  auto c = store_.find(collection);
  return c == store_.end() ? 0 : c->second.size();
}

std::vector<std::string> FakeScim::ids(const std::string& collection) const {
  std::vector<std::string> out;
  if (auto c = store_.find(collection); c != store_.end())
    for (const auto& [id, r] : c->second) out.push_back(id);
  return out;
}

HttpReply FakeScim::serve(const HttpExchange& x, int n) {
  if (before) {
    HttpReply r = before(x, n);
    if (r.status != 0 || r.drop) return r;
  }
  HttpReply reply = route(x);
  return after ? after(x, std::move(reply)) : reply;
}

HttpReply FakeScim::route(const HttpExchange& x) {
  if (!token_.empty() && x.header("Authorization") != "Bearer " + token_)
    return HttpReply::json(401, error(401, "bad token"));
  std::string rest = x.path.substr(std::min(x.path.size(), std::string("/scim/").size()));
  std::string collection = rest.substr(0, rest.find('/'));
  std::string id = rest.find('/') == std::string::npos ? "" : rest.substr(rest.find('/') + 1);
  if (collection != "Users" && collection != "Groups") return HttpReply::json(404, error(404, "no such endpoint"));
  auto& items = store_[collection];
  if (x.method == "GET" && id.empty()) {
    std::string filter;
    if (auto at = x.query.find("filter="); at != std::string::npos) filter = x.query.substr(at + 7);
    filter = filter.substr(0, filter.find('&'));
    std::string attribute, value;
    List found;
    bool filtered = !filter.empty() && parse_eq(filter, attribute, value);
    if (!filter.empty() && !filtered) return HttpReply::json(400, error(400, "unsupported filter"));
    for (const auto& [rid, r] : items) {
      const Value* v = r.find(attribute);
      if (!filtered || (v && lower(v->to_string()) == lower(value))) found.emplace_back(r);
    }
    Object list{{"schemas", Value(List{Value("urn:ietf:params:scim:api:messages:2.0:ListResponse")})},
                {"totalResults", Value(static_cast<std::int64_t>(found.size()))}};
    list.set("Resources", Value(std::move(found)));
    return HttpReply::json(200, Value(std::move(list)));
  }
  if (x.method == "POST" && id.empty()) {
    Value doc = parse_json(x.body);
    Object r = doc.as_object();
    std::string key = unique_attribute(collection);
    if (const Value* v = r.find(key))
      for (const auto& [rid, other] : items)
        if (const Value* o = other.find(key); o && lower(o->to_string()) == lower(v->to_string()))
          return HttpReply::json(409, error(409, key + " is taken"));
    std::string new_id = "id-" + std::to_string(next_id_++);
    r.set("id", Value(new_id));
    items[new_id] = r;
    return HttpReply::json(201, Value(r));
  }
  auto it = items.find(id);
  if (it == items.end()) return HttpReply::json(404, error(404, "resource " + id + " not found"));
  Object& r = it->second;
  if (x.method == "GET") return HttpReply::json(200, Value(r));
  if (x.method == "DELETE") {
    items.erase(it);
    return {204, "", {}, false};
  }
  if (x.method != "PATCH") return HttpReply::json(405, error(405, "method not allowed"));
  Value doc = parse_json(x.body);
  for (const Value& op : doc.as_object().find("Operations")->as_list()) {
    const Object& o = op.as_object();
    std::string kind = lower(o.find("op")->as_string());
    std::string path = o.find("path") ? o.find("path")->as_string() : "";
    const Value* value = o.find("value");
    if (path == "members") {
      Value* members = r.find("members");
      if (!members || !members->is_list()) {
        r.set("members", Value(List{}));
        members = r.find("members");
      }
      List& list = members->as_list();
      for (const Value& m : value->as_list()) {
        auto same = std::find(list.begin(), list.end(), m);
        if (kind == "add" && same == list.end()) list.push_back(m);
        if (kind == "remove" && same != list.end()) list.erase(same);
      }
    } else if (kind == "remove") {
      r.erase(path);
    } else {
      r.set(path, value ? *value : Value());
    }
  }
  return HttpReply::json(200, Value(r));
}

}  // namespace dirsync::test
