// dirsync-sim: simulated directory APIs on loopback, for tests, demos and
// benchmarks. Prints `listening on http://127.0.0.1:PORT` as its first line
// of standard output, then serves until SIGINT/SIGTERM.
//
//   dirsync-sim [--port 0] [--threads 8] <module options...>
//
// Module options are documented in each module (graph/graph_sim.cpp).
#include "sim.hpp"

#include <dirsync/value.hpp>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>

#include <csignal>
#include <iostream>
#include <thread>

namespace dirsync::sim {

Args::Args(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (!a.starts_with("--")) throw std::runtime_error("unexpected argument '" + a + "'");
    a = a.substr(2);
    if (auto eq = a.find('='); eq != std::string::npos) {
      values_[a.substr(0, eq)] = a.substr(eq + 1);
    } else if (i + 1 < argc && !std::string(argv[i + 1]).starts_with("--")) {
      values_[a] = argv[++i];
    } else {
      values_[a] = "true";
    }
  }
}

std::string Args::get(const std::string& name, const std::string& fallback) {
  claimed_.insert(name);
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

long long Args::integer(const std::string& name, long long fallback) {
  std::string v = get(name);
  if (v.empty()) return fallback;
  try {
    return std::stoll(v);
  } catch (const std::exception&) {
    throw std::runtime_error("option --" + name + " expects an integer, got '" + v + "'");
  }
}

bool Args::flag(const std::string& name) {
  std::string v = get(name);
  return v == "true" || v == "1" || v == "yes";
}

std::vector<std::string> Args::unclaimed() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : values_)
    if (!claimed_.count(k)) out.push_back(k);
  return out;
}

std::string url_decode(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (text[i] == '+') {
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string SimRequest::param(const std::string& name) const {
  std::size_t pos = 0;
  while (pos <= query.size()) {
    std::size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    std::string pair = query.substr(pos, amp - pos);
    std::size_t eq = pair.find('=');
    if (url_decode(pair.substr(0, eq)) == name) return eq == std::string::npos ? "" : url_decode(pair.substr(eq + 1));
    pos = amp + 1;
  }
  return {};
}

bool SimRequest::has_param(const std::string& name) const {
  std::size_t pos = 0;
  while (pos <= query.size()) {
    std::size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    std::string key = query.substr(pos, amp - pos);
    if (url_decode(key.substr(0, key.find('='))) == name) return true;
    pos = amp + 1;
  }
  return false;
}

std::string json_string(const std::string& text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

void json_error(SimResponse& response, int status, const std::string& code, const std::string& message) {
  response.status = status;
  response.body = R"({"error":{"code":)" + json_string(code) + R"(,"message":)" + json_string(message) + "}}";
}

namespace {

class Router : public Poco::Net::HTTPRequestHandler {
 public:
  Router(std::vector<std::unique_ptr<Module>>& modules, std::string base) : modules_(modules), base_(std::move(base)) {}

  void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) override {
    // Headers and body go out in separate writes; without TCP_NODELAY the
    // last segment waits for a delayed ACK (~40 ms a page).
    static_cast<Poco::Net::HTTPServerRequestImpl&>(req).socket().setNoDelay(true);
    SimRequest r;
    r.method = req.getMethod();
    std::string uri = req.getURI();
    std::size_t q = uri.find('?');
    r.path = url_decode(uri.substr(0, q));
    if (q != std::string::npos) r.query = uri.substr(q + 1);
    for (const auto& [k, v] : req) {
      std::string lower = k;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[lower] = v;
    }
    Poco::StreamCopier::copyToString(req.stream(), r.body);
    r.base_url = base_;
    SimResponse out;
    Module* target = nullptr;
    for (auto& m : modules_)
      if (m->claims(r.path)) target = m.get();
    try {
      if (target)
        target->handle(r, out);
      else
        json_error(out, 404, "NotFound", "no simulated API serves " + r.path);
    } catch (const std::exception& e) {
      json_error(out, 500, "SimulatorError", e.what());
    }
    if (out.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(out.delay_ms));
    resp.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(out.status));
    for (const auto& [k, v] : out.headers) resp.set(k, v);
    if (out.status == 204) {
      resp.send();
      return;
    }
    resp.setContentType(out.content_type);
    resp.setContentLength(static_cast<std::streamsize>(out.body.size()));
    if (out.truncate_at >= 0 && out.truncate_at < static_cast<long long>(out.body.size())) {
      resp.setKeepAlive(false);
      resp.send().write(out.body.data(), out.truncate_at);
      return;
    }
    // One write: the response stream would send a 450 KB page in 4 KB pieces,
    // a syscall and a wake-up of the reader each.
    resp.sendBuffer(out.body.data(), out.body.size());
  }

 private:
  std::vector<std::unique_ptr<Module>>& modules_;
  std::string base_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Factory(std::vector<std::unique_ptr<Module>>& modules, std::string base) : modules_(modules), base_(std::move(base)) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new Router(modules_, base_);
  }

 private:
  std::vector<std::unique_ptr<Module>>& modules_;
  std::string base_;
};

}  // namespace
}  // namespace dirsync::sim

int main(int argc, char** argv) {
  using namespace dirsync::sim;
  try {
    // Block the stop signals before any thread starts, so sigwait sees them.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);

    Args args(argc, argv);
    auto port = static_cast<std::uint16_t>(args.integer("port", 0));
    int threads = static_cast<int>(args.integer("threads", 8));
    std::vector<std::unique_ptr<Module>> modules;
    // One line per simulated API.
    modules.push_back(make_graph_module(args));
    modules.push_back(make_google_module(args));
    if (auto extra = args.unclaimed(); !extra.empty()) {
      std::cerr << "dirsync-sim: unknown option --" << extra.front() << "\n";
      return 2;
    }

    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", port), 64);
    std::string base = "http://127.0.0.1:" + std::to_string(socket.address().port());
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(threads);
    params->setMaxQueued(256);
    params->setKeepAlive(true);
    params->setMaxKeepAliveRequests(0);
    Poco::Net::HTTPServer server(new Factory(modules, base), socket, params);
    server.start();
    std::cout << "listening on " << base << std::endl;
    for (auto& m : modules)
      for (const auto& line : m->describe()) std::cout << line << "\n";
    std::cout.flush();
    int signal = 0;
    sigwait(&stop, &signal);
    server.stopAll(true);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "dirsync-sim: " << e.what() << "\n";
    return 2;
  }
}
