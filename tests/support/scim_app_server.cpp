#include "support/scim_app_server.hpp"

#include "support/test_support.hpp"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace dirsync::test {
namespace {

const char* kInstallHint =
    "; run .ci/install-deps.sh (it installs Node.js and npm and runs `npm ci` in tests/scim-app-server)";

std::filesystem::path server_dir() { return source_dir() / "tests" / "scim-app-server"; }

std::filesystem::path find_node() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::filesystem::path dir = dirs.substr(start, end - start);
    for (const char* name : {"node", "nodejs"}) {
      std::filesystem::path candidate = dir / name;
      if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = end + 1;
  }
  throw std::runtime_error(std::string("node (Node.js) not found on PATH") + kInstallHint);
}

void check_installed() {
  for (const char* package : {"express", "scimmy", "scimmy-routers"}) {
    auto manifest = server_dir() / "node_modules" / package / "package.json";
    if (!std::filesystem::exists(manifest))
      throw std::runtime_error("npm package " + std::string(package) +
                               " of the SCIM app server is missing (" + manifest.string() + ")" +
                               kInstallHint);
  }
}

}  // namespace

ScimAppServer::ScimAppServer(const std::vector<std::string>& args, std::string token)
    : token_(std::move(token)) {
  const std::filesystem::path node = find_node();
  check_installed();

  // Everything the child needs is built before fork: only exec-safe calls after it.
  std::vector<std::string> argv{node.string(), (server_dir() / "server.js").string(), "--port", "0"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargs;
  for (auto& a : argv) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  std::vector<std::string> env{"SCIM_APP_TOKEN=" + token_};
  for (char** e = environ; *e; ++e)
    if (!std::string_view(*e).starts_with("SCIM_APP_TOKEN=")) env.emplace_back(*e);
  std::vector<char*> cenv;
  for (auto& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  int out[2];
  if (pipe(out) != 0) throw std::runtime_error("pipe failed");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    execve(cargs[0], cargs.data(), cenv.data());
    _exit(127);
  }
  close(out[1]);
  out_fd_ = out[0];
  // Blocking read of the first line: the server prints it once listening, and
  // EOF comes instead when it exits (its reason is on the inherited stderr).
  std::string line;
  char c;
  while (read(out_fd_, &c, 1) == 1 && c != '\n') line += c;
  const std::string prefix = "listening ";
  if (!line.starts_with(prefix)) {
    int status = 0;
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    close(out_fd_);
    out_fd_ = -1;
    throw std::runtime_error("the SCIM app server did not start (first line: '" + line +
                             "'; its stderr is above)" + kInstallHint);
  }
  origin_ = "http://" + line.substr(prefix.size());
  base_url_ = origin_ + "/scim/v2";
  http::ClientOptions options;
  options.retry.max_attempts = 1;
  client_ = std::make_unique<http::Client>(options);
}

ScimAppServer::~ScimAppServer() {
  client_.reset();
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
}

http::Response ScimAppServer::scim(const std::string& method, const std::string& path,
                                   const std::string& body, bool authorize) const {
  http::Request request{method, base_url_ + path, {{"Content-Type", "application/scim+json"}}, body};
  if (authorize) request.headers.emplace_back("Authorization", "Bearer " + token_);
  return client_->send(request);
}

std::string ScimAppServer::admin(const std::string& method, const std::string& path,
                                 const std::string& body) const {
  http::Request request{method,
                        origin_ + "/_admin" + path,
                        {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token_}},
                        body};
  http::Response response = client_->send(request);
  if (!response.ok())
    throw std::runtime_error("SCIM app server admin " + method + " " + path + " answered " +
                             std::to_string(response.status) + ": " + response.body);
  return response.body;
}

Value ScimAppServer::dump() const { return parse_json(admin("GET", "/dump")); }

List ScimAppServer::requests() const {
  Value all = parse_json(admin("GET", "/requests"));
  if (!all.is_list()) throw std::runtime_error("SCIM app server: /_admin/requests is not a list");
  return all.as_list();
}

void ScimAppServer::clear_requests() const { admin("DELETE", "/requests"); }

Value ScimAppServer::seed_user(const std::string& json) const {
  return parse_json(admin("POST", "/users", json));
}

Value ScimAppServer::seed_group(const std::string& json) const {
  return parse_json(admin("POST", "/groups", json));
}

std::optional<Object> find_resource(const Value& dump, const std::string& kind, const std::string& key,
                                    const std::string& value) {
  if (!dump.is_object()) return std::nullopt;
  const Value* list = dump.as_object().find(kind);
  if (!list || !list->is_list()) return std::nullopt;
  for (const Value& item : list->as_list()) {
    if (!item.is_object()) continue;
    const Value* v = item.as_object().find(key);
    if (v && v->is_string() && v->as_string() == value) return item.as_object();
  }
  return std::nullopt;
}

}  // namespace dirsync::test
