// Shared by the ldap_*_test files: loads dirsync-ldap.so, builds sinks
// against a Slapd with a non-root service account, and small op builders.
#pragma once

#include "support/slapd.hpp"
#include "support/test_support.hpp"

#include <dirsync/plugin.hpp>

#include <boost/dll/shared_library.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace dirsync::test {

/// Records every log line so tests can check that no secret leaks.
class CaptureLogger : public Logger {
 public:
  void log(LogLevel, std::string_view message) override { lines.emplace_back(message); }
  std::string all() const {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }
  std::vector<std::string> lines;
};

inline const std::string kSyncDn = "cn=sync,dc=example,dc=com";
inline const std::string kSyncPassword = "Sync-Secret-9f3b";

/// slapd options for sink tests: a service account with write access, and a
/// size limit of 100 for it so only paged searches can see more entries.
inline SlapdOptions sink_slapd_options(bool tls = false) {
  SlapdOptions o;
  o.tls = tls;
  o.extra_database_config = {
      "access to attrs=userPassword by self write by anonymous auth by dn.exact=\"" + kSyncDn + "\" write by * none",
      "access to * by dn.exact=\"" + kSyncDn + "\" manage by * read",
      "limits dn.exact=\"" + kSyncDn + "\" size.soft=100 size.hard=100 size.prtotal=unlimited",
  };
  return o;
}

inline void add_service_account(Slapd& slapd) {
  slapd.add(kSyncDn, {{"objectClass", {"organizationalRole", "simpleSecurityObject"}},
                      {"cn", {"sync"}},
                      {"userPassword", {kSyncPassword}}});
}

class LdapPlugin {
 public:
  LdapPlugin() : lib_((plugin_dir() / "dirsync-ldap.so").string()) {
    descriptor_ = lib_.get_alias<PluginEntryPoint>("dirsync_plugin")();
  }
  const PluginDescriptor& descriptor() const { return *descriptor_; }

  /// A sink on `url` bound as the service account; `extra` overrides keys.
  std::unique_ptr<Sink> make(const std::string& url, const Object& extra = {}, Logger* log = nullptr) {
    Object settings{{"url", url},
                    {"bind_dn", kSyncDn},
                    {"bind_password", kSyncPassword},
                    {"base_dn", "dc=example,dc=com"},
                    {"user_dn", "uid={uid},ou=people,dc=example,dc=com"},
                    {"group_dn", "cn={cn},ou=groups,dc=example,dc=com"},
                    {"timeout", std::int64_t{10000}}};
    for (const auto& [k, v] : extra) settings.set(k, v);
    PluginContext context;
    context.pipeline = "test";
    context.settings = Settings(settings);
    context.log = log ? log : &default_log_;
    return descriptor_->make_sink(context);
  }

 private:
  boost::dll::shared_library lib_;
  const PluginDescriptor* descriptor_ = nullptr;
  CaptureLogger default_log_;
};

inline std::vector<TargetSchema> default_schema() {
  return {TargetSchema{ObjectType::user,
                       {{"uid", TargetType::string},
                        {"cn", TargetType::string},
                        {"sn", TargetType::string},
                        {"mail", TargetType::string}}},
          TargetSchema{ObjectType::group, {{"cn", TargetType::string}}}};
}

inline Operation create_user(const std::string& uid, const std::string& sn = "Tester") {
  Operation op;
  op.kind = OpKind::create;
  op.type = ObjectType::user;
  op.source_id = "src-" + uid;
  op.attributes = Object{{"uid", uid}, {"cn", "User " + uid}, {"sn", sn}, {"mail", uid + "@example.com"}};
  return op;
}

inline Operation op_on(OpKind kind, ObjectType type, const std::string& target_id, Object attributes = {}) {
  Operation op;
  op.kind = kind;
  op.type = type;
  op.target_id = target_id;
  op.attributes = std::move(attributes);
  return op;
}

/// Applies `ops` and returns the results.
inline std::vector<OpResult> apply_ops(Sink& sink, const std::vector<Operation>& ops) {
  std::vector<OpResult> results(ops.size());
  sink.apply(ops, results);
  return results;
}

/// Applies one op and returns its result.
inline OpResult apply_one(Sink& sink, const Operation& op) { return apply_ops(sink, {op}).front(); }

}  // namespace dirsync::test
