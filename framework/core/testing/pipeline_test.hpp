// `dirsync test FILE_test.yaml`: fixture objects in, the pipeline's decisions
// out, compared with what the file expects (in the style of `vector test`
// and `rpk connect test`). Runs the real engine against an in-memory source
// and sink and a throwaway state store, so scope, mappings, matching and the
// reconciler are exercised exactly as in production.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dirsync {

struct PipelineTestResult {
  std::string name;
  bool passed = false;
  std::vector<std::string> failures;  ///< one line each
};

/// Runs every case of the test file. Throws Error(config) for a malformed
/// test file (with file:line:column), or for an invalid pipeline.
std::vector<PipelineTestResult> run_pipeline_tests(const std::filesystem::path& test_file);

}  // namespace dirsync
