// One bound LDAP connection, reused for a whole run.
//
// Guarantees: the bind password is only ever handed to libldap, never put in
// a message; a failed bind is Error(auth), an unreachable server or a failed
// TLS handshake Error(connection). An operation that finds the connection
// dropped (LDAP_SERVER_DOWN) reconnects once and is retried once; a second
// failure is Error(connection), which the host turns into a Partial run.
#pragma once

#include <dirsync/plugin.hpp>

#include <ldap.h>

#include <functional>
#include <string>
#include <vector>

namespace dirsync::ldap {

struct ConnectionOptions {
  std::string url;  ///< ldap://host:port or ldaps://host:port
  bool start_tls = false;
  bool tls_verify = true;
  std::string tls_ca_file;
  std::string bind_dn;
  std::string bind_password;  // secret
  std::int64_t timeout_ms = 30000;
};

/// True for the result codes that mean the connection itself is gone (or hung).
bool is_connection_loss(int rc);

class Connection {
 public:
  Connection(ConnectionOptions options, Logger* log);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// The bound handle, connecting (and binding) first when needed.
  LDAP* get();
  /// Drops the handle and connects again; throws Error(auth|connection).
  void reconnect();
  void close();
  bool connected() const { return ld_ != nullptr; }

  /// Runs `op(ld)`, which returns an LDAP result code; on connection loss
  /// reconnects once and runs it again. Throws Error(connection) when the
  /// server is still gone. `what` names the operation for that message.
  int call(const std::function<int(LDAP*)>& op, const std::string& what);

  /// The server's diagnostic message for the last operation ("" if none).
  std::string diagnostic();
  /// "<ldap error text>" plus ": <diagnostic>" when the server sent one.
  std::string describe(int rc);

  const ConnectionOptions& options() const { return options_; }
  int timeout_ms() const { return static_cast<int>(options_.timeout_ms); }
  /// Root DSE `supportedControl` values, read once after the first bind.
  bool supports_control(const std::string& oid) const;
  /// Times a connection was re-established after a loss (for tests/logs).
  int reconnects() const { return reconnects_; }

 private:
  void connect();
  [[noreturn]] void fail(ErrorKind kind, const std::string& what, int rc);

  ConnectionOptions options_;
  Logger* log_;
  LDAP* ld_ = nullptr;
  std::vector<std::string> controls_;
  bool controls_read_ = false;
  int reconnects_ = 0;
};

}  // namespace dirsync::ldap
