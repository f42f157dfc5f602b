// A throwaway OpenLDAP server for tests and benchmarks.
//
// Each Slapd owns a TempDir holding a slapd.conf, an mdb database and (with
// `tls`) a freshly generated CA and server certificate. It listens on
// 127.0.0.1 only, on a free port chosen at start, and is ready when the
// constructor returns: readiness is a successful root bind, retried a bounded
// number of times, never a fixed sleep. stop()/start() keep the database and
// the ports, so a test can take the server away mid-run and bring it back.
#pragma once

#include "support/test_support.hpp"

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace dirsync::test {

struct SlapdOptions {
  std::string suffix = "dc=example,dc=com";
  /// Also listen on ldaps:// with a certificate for 127.0.0.1/localhost
  /// signed by a throwaway CA (ca_file()); StartTLS works on ldap:// then too.
  bool tls = false;
  /// Entries created after the first start: ou=people, ou=groups, ou=disabled.
  bool standard_ous = true;
  /// No fsync per write transaction: a throwaway database needs no
  /// durability, and fsyncs (one per memberOf update, too) dominate otherwise.
  bool nosync = true;
  /// Lines appended to the database section of slapd.conf (indexes, limits).
  std::vector<std::string> extra_database_config;
};

/// One entry as read back from the server: attribute names as the server
/// returned them, values in server order.
struct LdapEntry {
  std::string dn;
  std::map<std::string, std::vector<std::string>> attributes;
  /// Values of `name` (case-insensitive), empty when absent.
  std::vector<std::string> values(const std::string& name) const;
  /// First value of `name`, or "" when absent.
  std::string value(const std::string& name) const;
};

class Slapd {
 public:
  explicit Slapd(SlapdOptions options = {});
  ~Slapd();
  Slapd(const Slapd&) = delete;
  Slapd& operator=(const Slapd&) = delete;

  /// Starts the server again after stop() on the same ports and database.
  /// Call it from a thread that outlives the server: the server is told to
  /// exit when the thread that started it ends (so killed tests leak none).
  void start();
  /// Terminates the server and waits for it; connections drop.
  void stop();
  bool running() const { return pid_ > 0; }
  /// Freezes the server (SIGSTOP): connections stay open but nothing answers.
  void pause();
  /// Lets a paused server run again (SIGCONT).
  void resume();
  /// The server process (for measuring its CPU time), -1 when stopped.
  pid_t pid() const { return pid_; }

  std::string url() const;        ///< ldap://127.0.0.1:<port>
  std::string ldaps_url() const;  ///< ldaps://127.0.0.1:<tls port>; needs options.tls
  int port() const { return port_; }
  const std::string& suffix() const { return options_.suffix; }
  std::string root_dn() const { return "cn=admin," + options_.suffix; }
  std::string root_password() const { return "root-secret-Pa55"; }
  std::filesystem::path ca_file() const { return dir_.path() / "ca.pem"; }
  const std::filesystem::path& dir() const { return dir_.path(); }

  /// Adds an entry as root. Throws std::runtime_error naming the LDAP error.
  void add(const std::string& dn, const std::map<std::string, std::vector<std::string>>& attributes);
  /// Subtree search as root with all user attributes plus the operational
  /// ones listed in `attributes` ("+" for all); paged, so large results work.
  std::vector<LdapEntry> search(const std::string& base, const std::string& filter,
                                const std::vector<std::string>& attributes = {"*", "+"});
  /// The entry at `dn` (base search), or an entry with an empty dn when absent.
  LdapEntry read(const std::string& dn, const std::vector<std::string>& attributes = {"*", "+"});
  /// entryCSN of every entry under the suffix, by DN: any write changes one,
  /// so equal maps before and after prove that nothing was written.
  std::map<std::string, std::string> entry_csns();
  /// Runs a client tool (ldapadd, ldapsearch, ...) against this server as
  /// root: "-x -H url -D rootdn -w password" are added after argv[0].
  CommandResult tool(const std::string& name, const std::vector<std::string>& args);

 private:
  void write_config();
  void make_certificates();
  bool wait_ready();

  SlapdOptions options_;
  TempDir dir_;
  int port_ = 0;
  int tls_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace dirsync::test
