#include "support/sim_process.hpp"

#include "support/test_support.hpp"

#include <dirsync/http.hpp>

#include <csignal>
#include <fcntl.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace dirsync::test {

std::filesystem::path sim_exe() { return binary_dir() / "bin" / "dirsync-sim"; }

SimProcess::SimProcess(const std::vector<std::string>& args) {
  if (!std::filesystem::exists(sim_exe()))
    throw std::runtime_error("dirsync-sim not built: " + sim_exe().string());
  int out[2];
  if (pipe(out) != 0) throw std::runtime_error("pipe failed");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    std::vector<std::string> argv{sim_exe().string(), "--port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargs;
    for (auto& a : argv) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    execv(cargs[0], cargs.data());
    _exit(127);
  }
  close(out[1]);
  out_fd_ = out[0];
  // Blocking read of the first line: the simulator prints it once listening.
  std::string line;
  char c;
  while (read(out_fd_, &c, 1) == 1 && c != '\n') line += c;
  const std::string prefix = "listening on ";
  if (!line.starts_with(prefix)) {
    int status = 0;
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    close(out_fd_);
    throw std::runtime_error("dirsync-sim did not start (first line: '" + line + "')");
  }
  url_ = line.substr(prefix.size());
}

SimProcess::~SimProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
}

std::string SimProcess::admin(const std::string& method, const std::string& path, const std::string& body) const {
  http::ClientOptions options;
  options.retry.max_attempts = 1;
  http::Client client(options);
  http::Request request{method, url_ + path, {{"Content-Type", "application/json"}}, body};
  http::Response response = client.send(request);
  if (!response.ok())
    throw std::runtime_error("dirsync-sim admin " + method + " " + path + " answered " +
                             std::to_string(response.status) + ": " + response.body);
  return response.body;
}

}  // namespace dirsync::test
