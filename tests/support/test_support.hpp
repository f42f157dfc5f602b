// Helpers shared by the tests: temporary directories, running the CLI as a
// child process, and paths of the build.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace dirsync::test {

/// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;  ///< -signal when killed by a signal
  std::string out;
  std::string err;
  std::string all() const { return out + err; }
};

/// Runs `argv` (argv[0] is the program path) with extra environment
/// variables, waits for it, and captures both output streams.
CommandResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
                  const std::filesystem::path& cwd = {});

/// Runs the built `dirsync` with `args`; DIRSYNC_PLUGIN_PATH points at the
/// build's plugin folder.
CommandResult run_dirsync(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
                          const std::filesystem::path& cwd = {});

void write_file(const std::filesystem::path& path, const std::string& text);
std::string read_file(const std::filesystem::path& path);

std::filesystem::path source_dir();
std::filesystem::path binary_dir();
std::filesystem::path plugin_dir();
std::filesystem::path dirsync_exe();
/// Plugins built only for tests (testsource, abi-mismatch).
std::filesystem::path test_plugin_dir();

}  // namespace dirsync::test
