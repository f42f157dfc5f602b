#include "connection.hpp"

#include <algorithm>

namespace dirsync::ldap {

// A client-side timeout counts too: a server that stopped answering is as
// unusable as one that closed the connection.
bool is_connection_loss(int rc) { return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT; }

Connection::Connection(ConnectionOptions options, Logger* log) : options_(std::move(options)), log_(log) {}

Connection::~Connection() { close(); }

void Connection::close() {
  if (ld_) ldap_unbind_ext_s(ld_, nullptr, nullptr);
  ld_ = nullptr;
}

LDAP* Connection::get() {
  if (!ld_) connect();
  return ld_;
}

void Connection::reconnect() {
  close();
  ++reconnects_;
  if (log_) log_->warn("ldap: connection to " + options_.url + " lost; reconnecting");
  connect();
}

std::string Connection::diagnostic() {
  if (!ld_) return {};
  char* msg = nullptr;
  ldap_get_option(ld_, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg);
  std::string out = msg ? msg : "";
  if (msg) ldap_memfree(msg);
  return out;
}

std::string Connection::describe(int rc) {
  std::string text = ldap_err2string(rc);
  std::string diag = diagnostic();
  if (!diag.empty() && diag != text) text += ": " + diag;
  for (char& c : text)
    if (c == '\n') c = ' ';
  return text;
}

void Connection::fail(ErrorKind kind, const std::string& what, int rc) {
  std::string detail = describe(rc);
  close();
  throw Error(kind, what + ": " + detail);
}

void Connection::connect() {
  LDAP* ld = nullptr;
  int rc = ldap_initialize(&ld, options_.url.c_str());
  if (rc != LDAP_SUCCESS || !ld)
    throw Error(ErrorKind::config, "ldap sink: invalid url '" + options_.url + "': " + ldap_err2string(rc) +
                                       "; expected ldap://host[:port] or ldaps://host[:port]");
  ld_ = ld;
  int version = LDAP_VERSION3;
  ldap_set_option(ld_, LDAP_OPT_PROTOCOL_VERSION, &version);
  // Referrals would silently send our writes (and credentials) elsewhere.
  ldap_set_option(ld_, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  timeval tv{static_cast<time_t>(options_.timeout_ms / 1000),
             static_cast<suseconds_t>((options_.timeout_ms % 1000) * 1000)};
  ldap_set_option(ld_, LDAP_OPT_NETWORK_TIMEOUT, &tv);
  ldap_set_option(ld_, LDAP_OPT_TIMEOUT, &tv);

  const bool tls = options_.start_tls || options_.url.rfind("ldaps://", 0) == 0;
  if (tls) {
    int require = options_.tls_verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
    ldap_set_option(ld_, LDAP_OPT_X_TLS_REQUIRE_CERT, &require);
    if (!options_.tls_ca_file.empty()) ldap_set_option(ld_, LDAP_OPT_X_TLS_CACERTFILE, options_.tls_ca_file.c_str());
    int is_server = 0;
    rc = ldap_set_option(ld_, LDAP_OPT_X_TLS_NEWCTX, &is_server);
    if (rc != LDAP_SUCCESS) {
      close();
      throw Error(ErrorKind::config, "ldap sink: cannot set up tls (ca file '" + options_.tls_ca_file +
                                         "'): " + ldap_err2string(rc));
    }
  }
  if (options_.start_tls) {
    rc = ldap_start_tls_s(ld_, nullptr, nullptr);
    if (rc != LDAP_SUCCESS) fail(ErrorKind::connection, "ldap sink: starttls with " + options_.url + " failed", rc);
  }

  berval cred{static_cast<ber_len_t>(options_.bind_password.size()), options_.bind_password.data()};
  rc = ldap_sasl_bind_s(ld_, options_.bind_dn.empty() ? nullptr : options_.bind_dn.c_str(), LDAP_SASL_SIMPLE,
                        &cred, nullptr, nullptr, nullptr);
  if (rc != LDAP_SUCCESS) {
    const bool auth = rc == LDAP_INVALID_CREDENTIALS || rc == LDAP_INAPPROPRIATE_AUTH ||
                      rc == LDAP_INSUFFICIENT_ACCESS || rc == LDAP_UNWILLING_TO_PERFORM ||
                      rc == LDAP_CONFIDENTIALITY_REQUIRED || rc == LDAP_STRONG_AUTH_REQUIRED;
    if (auth)
      fail(ErrorKind::auth,
           "ldap sink: " + options_.url + " refused the simple bind as '" + options_.bind_dn + "'", rc);
    fail(ErrorKind::connection, "ldap sink: cannot reach " + options_.url, rc);
  }

  if (!controls_read_) {
    controls_read_ = true;
    char attr[] = "supportedControl";
    char* attrs[] = {attr, nullptr};
    LDAPMessage* res = nullptr;
    rc = ldap_search_ext_s(ld_, "", LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, nullptr, nullptr, nullptr, 1,
                           &res);
    if (rc == LDAP_SUCCESS) {
      if (LDAPMessage* e = ldap_first_entry(ld_, res)) {
        berval** vals = ldap_get_values_len(ld_, e, "supportedControl");
        for (int i = 0; vals && vals[i]; ++i) controls_.emplace_back(vals[i]->bv_val, vals[i]->bv_len);
        ldap_value_free_len(vals);
      }
    }
    ldap_msgfree(res);
  }
}

bool Connection::supports_control(const std::string& oid) const {
  return std::find(controls_.begin(), controls_.end(), oid) != controls_.end();
}

int Connection::call(const std::function<int(LDAP*)>& op, const std::string& what) {
  int rc = op(get());
  if (!is_connection_loss(rc)) return rc;
  try {
    reconnect();
  } catch (const Error& e) {
    throw Error(ErrorKind::connection, "ldap sink: connection lost during " + what + " and reconnecting failed: " +
                                           e.what());
  }
  rc = op(get());
  if (is_connection_loss(rc)) {
    std::string detail = describe(rc);
    close();
    throw Error(ErrorKind::connection, "ldap sink: connection lost twice during " + what + ": " + detail);
  }
  return rc;
}

}  // namespace dirsync::ldap
