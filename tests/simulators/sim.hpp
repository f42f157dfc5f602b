// dirsync-sim: one loopback HTTP server hosting simulated directory APIs.
//
// Each API is a Module (graph/, later google/). main.cpp lists the modules;
// a module reads its own command-line options from Args, claims the request
// paths it serves, and answers requests. Options nobody claimed are an error,
// so a typo in a test's command line fails loudly.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace dirsync::sim {

/// `--name value` pairs (and bare `--flag`, which reads as "true").
class Args {
 public:
  Args(int argc, char** argv);
  std::string get(const std::string& name, const std::string& fallback = {});
  long long integer(const std::string& name, long long fallback);
  bool flag(const std::string& name);
  /// Options no module asked for.
  std::vector<std::string> unclaimed() const;

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> claimed_;
};

struct SimRequest {
  std::string method;
  std::string path;   ///< decoded path, no query
  std::string query;  ///< raw query string without '?'
  std::map<std::string, std::string> headers;  ///< lower-case names
  std::string body;
  std::string base_url;  ///< http://127.0.0.1:PORT, for links

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
  /// Decoded value of a query parameter ("$select"), empty when absent.
  std::string param(const std::string& name) const;
  bool has_param(const std::string& name) const;
};

struct SimResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "application/json";
  /// Fault injection: send only this many bytes of the body, then close.
  long long truncate_at = -1;
  /// Fault injection: wait this long before answering.
  int delay_ms = 0;
};

class Module {
 public:
  virtual ~Module() = default;
  /// True when this module serves `path`.
  virtual bool claims(const std::string& path) const = 0;
  virtual void handle(const SimRequest& request, SimResponse& response) = 0;
  /// One line per thing worth telling the operator at start-up.
  virtual std::vector<std::string> describe() const = 0;
};

std::unique_ptr<Module> make_graph_module(Args& args);
std::unique_ptr<Module> make_google_module(Args& args);

std::string url_decode(const std::string& text);
std::string json_string(const std::string& text);
void json_error(SimResponse& response, int status, const std::string& code, const std::string& message);

}  // namespace dirsync::sim
