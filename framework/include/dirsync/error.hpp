// Errors as exceptions, everywhere, plugins included: one policy.
//
// The kind decides what the host does (and the exit code); the message says
// what happened in LLVM's style: lower-case, specific, naming the actual and
// expected values. Messages must never contain secret values; the host also
// redacts every known secret before printing, as a second line of defence.
#pragma once

#include <stdexcept>
#include <string>

namespace dirsync {

enum class ErrorKind {
  config,      ///< invalid pipeline or plugin configuration   -> exit 2
  connection,  ///< cannot reach the remote system             -> exit 3
  auth,        ///< credentials refused or permission missing  -> exit 3
  read,        ///< a read failed part-way (page, body, parse) -> run Partial/Failed
  input,       ///< malformed input data (file export, JSON)   -> run Failed, exit 1
  safety,      ///< stopped by a safety rule                   -> exit 4
  internal,    ///< a bug or an unexpected state               -> exit 1
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

/// The CLI exit code for an error kind (see docs/ARCHITECTURE.md).
int exit_code_for(ErrorKind kind);

}  // namespace dirsync
