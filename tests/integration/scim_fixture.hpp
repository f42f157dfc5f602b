// Shared by the scim integration tests: a SCIM HTTP client for loopback, and
// a child process (scim-serve, dirsync daemon) whose "listening on" log line
// gives the port it bound.
#pragma once

#include <catch2/catch.hpp>

#include <dirsync/value.hpp>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace scim_test {

struct Response {
  int status = 0;
  std::string body;
  Poco::Net::HTTPResponse head;
  dirsync::Value json() const { return dirsync::parse_json(body); }
};

struct Client {
  std::uint16_t port = 0;
  std::string token;

  Response call(const std::string& method, const std::string& path, const std::string& body = {},
                std::vector<std::pair<std::string, std::string>> headers = {}) const {
    Poco::Net::HTTPClientSession s("127.0.0.1", port);
    Poco::Net::HTTPRequest req(method, "/scim/v2" + path, Poco::Net::HTTPMessage::HTTP_1_1);
    if (!token.empty()) req.set("Authorization", "Bearer " + token);
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      req.setContentType("application/scim+json");
      req.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    s.sendRequest(req) << body;
    Response r;
    std::istream& in = s.receiveResponse(r.head);
    r.status = r.head.getStatus();
    r.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return r;
  }
  Response get(const std::string& path) const { return call("GET", path); }
  Response post(const std::string& path, const std::string& body) const { return call("POST", path, body); }
  Response patch(const std::string& path, const std::string& ops) const {
    return call("PATCH", path,
                R"({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":)" + ops + "}");
  }
};

/// A child process serving the endpoint; `port` is read from its output.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      close(fds[0]);
      close(fds[1]);
      for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(fds[1]);
    fd_ = fds[0];
    std::string output;
    std::string::size_type at;
    char buf[4096];
    while ((at = output.find("listening on ")) == std::string::npos || output.find('\n', at) == std::string::npos) {
      ssize_t n = read(fd_, buf, sizeof buf);
      INFO(output);
      REQUIRE(n > 0);
      output.append(buf, static_cast<std::size_t>(n));
    }
    std::string line = output.substr(at, output.find('\n', at) - at);
    port = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
  }
  ~Child() {
    if (pid_ > 0) kill9();
    if (fd_ >= 0) close(fd_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  /// SIGKILL and reap; true when the child died of the signal (not before it).
  bool kill9() {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }

  std::uint16_t port = 0;

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
};

}  // namespace scim_test
