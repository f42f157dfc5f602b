// Runs dirsync-sim (tests/simulators) as a child process for a test's
// lifetime: started with `--port 0`, its URL read from the first line it
// prints, stopped with SIGTERM on destruction (and killed with the test
// process if that dies first).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

namespace dirsync::test {

std::filesystem::path sim_exe();

class SimProcess {
 public:
  /// `args` are dirsync-sim options, e.g. {"--graph-users", "10", "--seed", "1"}.
  explicit SimProcess(const std::vector<std::string>& args);
  ~SimProcess();
  SimProcess(const SimProcess&) = delete;
  SimProcess& operator=(const SimProcess&) = delete;

  /// http://127.0.0.1:PORT
  const std::string& url() const { return url_; }
  /// Calls the simulator's admin API (e.g. "POST", "/_admin/graph/faults",
  /// R"({"throttle_every":3})"); throws std::runtime_error on a non-2xx
  /// answer; returns the body.
  std::string admin(const std::string& method, const std::string& path, const std::string& body = {}) const;

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string url_;
};

}  // namespace dirsync::test
