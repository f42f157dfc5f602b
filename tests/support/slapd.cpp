#include "support/slapd.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ldap.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace dirsync::test {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The port is released before slapd binds it, so another process may take it
// in between; start() notices slapd exiting and picks another one.
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error("cannot find a free loopback port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

fs::path find_program(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"}) {
    fs::path p = fs::path(dir) / name;
    if (fs::exists(p)) return p;
  }
  throw std::runtime_error("program not found: " + name + " (install slapd and ldap-utils)");
}

void backoff() { poll(nullptr, 0, 10); }

struct LdapHandle {
  LDAP* ld = nullptr;
  ~LdapHandle() {
    if (ld) ldap_unbind_ext_s(ld, nullptr, nullptr);
  }
};

// Root connection; throws std::runtime_error when the server does not answer.
void connect_root(LdapHandle& h, const std::string& url, const std::string& dn, const std::string& password) {
  if (ldap_initialize(&h.ld, url.c_str()) != LDAP_SUCCESS) throw std::runtime_error("ldap_initialize failed");
  int version = LDAP_VERSION3;
  ldap_set_option(h.ld, LDAP_OPT_PROTOCOL_VERSION, &version);
  timeval tv{5, 0};
  ldap_set_option(h.ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
  berval cred{static_cast<ber_len_t>(password.size()), const_cast<char*>(password.data())};
  int rc = ldap_sasl_bind_s(h.ld, dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
  if (rc != LDAP_SUCCESS) throw std::runtime_error(std::string("bind failed: ") + ldap_err2string(rc));
}

LdapEntry to_entry(LDAP* ld, LDAPMessage* e) {
  LdapEntry entry;
  char* dn = ldap_get_dn(ld, e);
  entry.dn = dn ? dn : "";
  ldap_memfree(dn);
  BerElement* ber = nullptr;
  for (char* a = ldap_first_attribute(ld, e, &ber); a; a = ldap_next_attribute(ld, e, ber)) {
    berval** vals = ldap_get_values_len(ld, e, a);
    auto& list = entry.attributes[a];
    for (int k = 0; vals && vals[k]; ++k) list.emplace_back(vals[k]->bv_val, vals[k]->bv_len);
    ldap_value_free_len(vals);
    ldap_memfree(a);
  }
  ber_free(ber, 0);
  return entry;
}

}  // namespace

std::vector<std::string> LdapEntry::values(const std::string& name) const {
  std::string want = lower(name);
  for (const auto& [k, v] : attributes)
    if (lower(k) == want) return v;
  return {};
}

std::string LdapEntry::value(const std::string& name) const {
  auto v = values(name);
  return v.empty() ? std::string() : v.front();
}

Slapd::Slapd(SlapdOptions options) : options_(std::move(options)) {
  fs::create_directories(dir_.path() / "db");
  if (options_.tls) make_certificates();
  start();
  if (options_.standard_ous) {
    std::string dc = options_.suffix.substr(3, options_.suffix.find(',') - 3);
    add(options_.suffix, {{"objectClass", {"dcObject", "organization"}}, {"dc", {dc}}, {"o", {dc}}});
    for (const char* ou : {"people", "groups", "disabled"})
      add(std::string("ou=") + ou + "," + options_.suffix, {{"objectClass", {"organizationalUnit"}}, {"ou", {ou}}});
  }
}

Slapd::~Slapd() {
  try {
    stop();
  } catch (...) {
  }
}

void Slapd::make_certificates() {
  const fs::path d = dir_.path();
  write_file(d / "ext.cnf", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  auto openssl = find_program("openssl").string();
  const std::vector<std::vector<std::string>> steps = {
      {openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
       (d / "ca.key").string(), "-out", (d / "ca.pem").string(), "-days", "2", "-subj", "/CN=dirsync test ca"},
      {openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
       (d / "server.key").string(), "-out", (d / "server.csr").string(), "-subj", "/CN=localhost"},
      {openssl, "x509", "-req", "-in", (d / "server.csr").string(), "-CA", (d / "ca.pem").string(), "-CAkey",
       (d / "ca.key").string(), "-CAcreateserial", "-out", (d / "server.pem").string(), "-days", "2", "-extfile",
       (d / "ext.cnf").string()},
  };
  for (const auto& argv : steps) {
    auto r = run(argv);
    if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.all());
  }
}

void Slapd::write_config() {
  const fs::path d = dir_.path();
  std::ostringstream c;
  for (const char* schema : {"core", "cosine", "nis", "inetorgperson"})
    c << "include /etc/ldap/schema/" << schema << ".schema\n";
  c << "modulepath /usr/lib/ldap\nmoduleload back_mdb\nmoduleload memberof\n";
  c << "pidfile " << (d / "slapd.pid").string() << "\n";
  if (options_.tls) {
    c << "TLSCACertificateFile " << (d / "ca.pem").string() << "\n";
    c << "TLSCertificateFile " << (d / "server.pem").string() << "\n";
    c << "TLSCertificateKeyFile " << (d / "server.key").string() << "\n";
  }
  c << "database mdb\nmaxsize 4294967296\n";
  c << "suffix \"" << options_.suffix << "\"\n";
  c << "rootdn \"" << root_dn() << "\"\n";
  c << "rootpw " << root_password() << "\n";
  c << "directory " << (d / "db").string() << "\n";
  if (options_.nosync) c << "dbnosync\n";
  c << "index objectClass eq\nindex uid,cn,mail,employeeNumber,entryUUID,member,uniqueMember,memberUid eq\n";
  for (const auto& line : options_.extra_database_config) c << line << "\n";
  c << "overlay memberof\n";
  write_file(d / "slapd.conf", c.str());
}

void Slapd::start() {
  if (running()) return;
  const bool first = port_ == 0;
  write_config();
  auto slapd = find_program("slapd").string();
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (first) {
      port_ = free_port();
      if (options_.tls) tls_port_ = free_port();
    }
    std::string listen = "ldap://127.0.0.1:" + std::to_string(port_) + "/";
    if (options_.tls) listen += " ldaps://127.0.0.1:" + std::to_string(tls_port_) + "/";
    std::vector<std::string> argv{slapd, "-f", (dir_.path() / "slapd.conf").string(), "-h", listen, "-d", "0"};
    std::string log = (dir_.path() / "slapd.log").string();
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      // A test process killed by a timeout must not leave its server behind.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    pid_ = pid;
    if (wait_ready()) return;
    // Exited early: most likely the port was taken meanwhile; on a restart the
    // port must stay the same, so the old socket may still be closing.
  }
  throw std::runtime_error("slapd did not start; log: " + read_file(dir_.path() / "slapd.log"));
}

bool Slapd::wait_ready() {
  // Bounded: a healthy slapd answers within a few tens of milliseconds.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    try {
      LdapHandle h;
      connect_root(h, url(), root_dn(), root_password());
      return true;
    } catch (const std::exception&) {
      backoff();
    }
  }
  stop();
  throw std::runtime_error("slapd did not answer on " + url());
}

void Slapd::pause() {
  if (!running()) return;
  kill(pid_, SIGSTOP);
  // Signals arrive asynchronously: wait until the kernel reports it stopped.
  int status = 0;
  waitpid(pid_, &status, WUNTRACED);
}

void Slapd::resume() {
  if (running()) kill(pid_, SIGCONT);
}

void Slapd::stop() {
  if (!running()) return;
  kill(pid_, SIGTERM);
  kill(pid_, SIGCONT);  // a paused server only acts on SIGTERM once it runs
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string Slapd::url() const { return "ldap://127.0.0.1:" + std::to_string(port_); }
std::string Slapd::ldaps_url() const { return "ldaps://127.0.0.1:" + std::to_string(tls_port_); }

void Slapd::add(const std::string& dn, const std::map<std::string, std::vector<std::string>>& attributes) {
  LdapHandle h;
  connect_root(h, url(), root_dn(), root_password());
  std::vector<LDAPMod> mods(attributes.size());
  std::vector<std::vector<char*>> values(attributes.size());
  std::vector<LDAPMod*> ptrs;
  std::size_t i = 0;
  for (const auto& [name, vals] : attributes) {
    for (const auto& v : vals) values[i].push_back(const_cast<char*>(v.c_str()));
    values[i].push_back(nullptr);
    mods[i].mod_op = LDAP_MOD_ADD;
    mods[i].mod_type = const_cast<char*>(name.c_str());
    mods[i].mod_values = values[i].data();
    ptrs.push_back(&mods[i]);
    ++i;
  }
  ptrs.push_back(nullptr);
  int rc = ldap_add_ext_s(h.ld, dn.c_str(), ptrs.data(), nullptr, nullptr);
  if (rc != LDAP_SUCCESS) throw std::runtime_error("add " + dn + ": " + ldap_err2string(rc));
}

std::vector<LdapEntry> Slapd::search(const std::string& base, const std::string& filter,
                                     const std::vector<std::string>& attributes) {
  LdapHandle h;
  connect_root(h, url(), root_dn(), root_password());
  std::vector<char*> attrs;
  for (const auto& a : attributes) attrs.push_back(const_cast<char*>(a.c_str()));
  attrs.push_back(nullptr);
  std::vector<LdapEntry> out;
  berval cookie{0, nullptr};
  do {
    LDAPControl* page = nullptr;
    ldap_create_page_control(h.ld, 1000, cookie.bv_val ? &cookie : nullptr, 0, &page);
    LDAPControl* ctrls[] = {page, nullptr};
    LDAPMessage* res = nullptr;
    int rc = ldap_search_ext_s(h.ld, base.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(), attrs.data(), 0, ctrls,
                               nullptr, nullptr, LDAP_NO_LIMIT, &res);
    ldap_control_free(page);
    if (cookie.bv_val) ber_memfree(cookie.bv_val);
    cookie = {0, nullptr};
    if (rc == LDAP_NO_SUCH_OBJECT) {
      ldap_msgfree(res);
      return out;
    }
    if (rc != LDAP_SUCCESS) {
      ldap_msgfree(res);
      throw std::runtime_error("search " + base + " " + filter + ": " + ldap_err2string(rc));
    }
    for (LDAPMessage* e = ldap_first_entry(h.ld, res); e; e = ldap_next_entry(h.ld, e))
      out.push_back(to_entry(h.ld, e));
    LDAPControl** rctrls = nullptr;
    ldap_parse_result(h.ld, res, nullptr, nullptr, nullptr, nullptr, &rctrls, 1);
    if (LDAPControl* pr = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, rctrls, nullptr)) {
      ber_int_t count = 0;
      ldap_parse_pageresponse_control(h.ld, pr, &count, &cookie);
    }
    ldap_controls_free(rctrls);
  } while (cookie.bv_val && cookie.bv_len > 0);
  if (cookie.bv_val) ber_memfree(cookie.bv_val);
  return out;
}

LdapEntry Slapd::read(const std::string& dn, const std::vector<std::string>& attributes) {
  LdapHandle h;
  connect_root(h, url(), root_dn(), root_password());
  std::vector<char*> attrs;
  for (const auto& a : attributes) attrs.push_back(const_cast<char*>(a.c_str()));
  attrs.push_back(nullptr);
  LDAPMessage* res = nullptr;
  int rc = ldap_search_ext_s(h.ld, dn.c_str(), LDAP_SCOPE_BASE, "(objectClass=*)", attrs.data(), 0, nullptr,
                             nullptr, nullptr, LDAP_NO_LIMIT, &res);
  LdapEntry entry;
  if (rc == LDAP_SUCCESS) {
    if (LDAPMessage* e = ldap_first_entry(h.ld, res)) entry = to_entry(h.ld, e);
  } else if (rc != LDAP_NO_SUCH_OBJECT) {
    ldap_msgfree(res);
    throw std::runtime_error("read " + dn + ": " + ldap_err2string(rc));
  }
  ldap_msgfree(res);
  return entry;
}

std::map<std::string, std::string> Slapd::entry_csns() {
  std::map<std::string, std::string> out;
  for (const auto& e : search(options_.suffix, "(objectClass=*)", {"entryCSN"})) out[e.dn] = e.value("entryCSN");
  return out;
}

CommandResult Slapd::tool(const std::string& name, const std::vector<std::string>& args) {
  std::vector<std::string> argv{find_program(name).string(), "-x", "-H", url(), "-D", root_dn(), "-w",
                                root_password()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

}  // namespace dirsync::test
