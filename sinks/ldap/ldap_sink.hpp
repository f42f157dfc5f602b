// The LDAP sink: writes users and groups into an LDAP directory.
//
// Guarantees:
// - Target ids are the entries' `id_attribute` (entryUUID by default), not
//   DNs: a DN changes on rename and on a disable-by-move, the UUID never does.
//   DNs are looked up by id (and cached for the run).
// - Updates write only the attributes the host says changed (replace per
//   attribute; Null clears); membership changes are value adds/deletes in
//   chunks, never a rewrite of the member attribute.
// - A create that finds its DN taken adopts the existing entry (re-match by
//   DN, then write the mapped attributes), so a rerun after a crash between
//   the add and the state store's commit converges without duplicates.
// - A per-object LDAP error is that object's OpResult; only a lost server
//   (after one reconnect) throws, as Error(connection).
#pragma once

#include "connection.hpp"
#include "dn.hpp"

#include <dirsync/plugin.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace dirsync::ldap {

class ModList;

enum class DisableAction { attributes, move, remove };

struct TypeConfig {
  DnTemplate dn;
  std::vector<std::string> object_classes;
  std::string search_base;
  std::string match_class;  ///< object class used in matching filters
};

struct SinkConfig {
  ConnectionOptions connection;
  std::string base_dn;
  std::string id_attribute = "entryUUID";
  bool id_binary = false;  ///< ids are the hex of id_attribute's bytes (AD objectGUID)
  std::vector<std::string> binary_attributes;
  TypeConfig users;
  TypeConfig groups;
  std::string member_attribute = "member";  ///< member | uniqueMember | memberUid
  std::string member_uid_attribute = "uid";
  std::string empty_group_member;           ///< placeholder for groupOfNames' required member
  DisableAction disable_action = DisableAction::attributes;
  Object disable_attributes;
  std::string disabled_container;
  int page_size = 500;
  int member_batch_size = 1000;
  int pipeline_depth = 64;
  int find_preload_after = 100;

  static SinkConfig from(const Settings& settings);
};

/// The descriptor's schema (also the documentation in docs/sinks/ldap.md).
std::vector<ConfigField> config_schema();

class LdapSink : public Sink {
 public:
  LdapSink(SinkConfig config, Logger* log);
  ~LdapSink() override;

  void prepare(const std::vector<TargetSchema>& schema) override;
  std::vector<std::string> find(ObjectType type, const std::string& attribute, const Value& value,
                                bool ignore_case) override;
  void apply(std::span<const Operation> ops, std::span<OpResult> results) override;
  std::vector<std::string> test_connection() override;

 private:
  struct Pending;
  struct Resolved {
    std::string dn;
    std::map<std::string, std::vector<std::string>> attributes;
  };

  const TypeConfig& type_config(ObjectType type) const;
  bool uses_dn_members() const;
  bool needs_placeholder() const;

  // Values as LDAP strings; references become DNs, datetimes GeneralizedTime.
  std::vector<std::string> ldap_values(ObjectType type, const std::string& attribute, const Value& value);
  std::string render_dn(const Operation& op);

  // Creates and plain updates are pipelined: up to pipeline_depth requests in flight.
  bool pipelinable(const Operation& op) const;
  void submit(std::span<const Operation> ops, std::size_t index, std::vector<Pending>& inflight);
  void reap_one(std::span<const Operation> ops, std::span<OpResult> results, std::vector<Pending>& inflight);
  void drain(std::span<const Operation> ops, std::span<OpResult> results, std::vector<Pending>& inflight);
  void resubmit(std::span<const Operation> ops, std::vector<Pending>& inflight);
  OpResult finish_create(const Operation& op, const std::string& dn, int rc, const std::string& detail,
                         std::optional<std::string> id);
  OpResult adopt(const Operation& op, const std::string& dn);

  void update(const Operation& op);
  void disable(const Operation& op);
  void remove(const Operation& op);
  ModList attribute_mods(ObjectType type, const Object& attributes, bool skip_empty);
  void write_attributes(ObjectType type, const std::string& dn, const Object& attributes, bool skip_empty);
  std::string rename_if_needed(const Operation& op, const std::string& dn);
  void change_members(const std::string& group_dn, const std::vector<std::string>& add_ids,
                      const std::vector<std::string>& remove_ids, std::string& problems);
  std::vector<std::string> member_values(const std::vector<std::string>& ids, bool for_removal,
                                         std::vector<std::string>& missing);

  std::string dn_of(ObjectType type, const std::string& id);
  std::optional<Resolved> lookup_id(const std::string& id, const std::vector<std::string>& attributes);
  std::optional<std::string> read_id(const std::string& dn);
  /// One search (retried once over a new connection after a drop), entries
  /// read into memory with lowercased attribute names. With `next_cookie`
  /// the search is paged (RFC 2696): pass the previous cookie, get the next
  /// (nullptr after the last page; free with ber_bvfree).
  int search(const std::string& base, int scope, const std::string& filter, const std::vector<std::string>& attributes,
             int limit, std::vector<Resolved>& out, const berval* cookie = nullptr, berval** next_cookie = nullptr);
  static std::string first_value(const Resolved& entry, const std::string& attribute);
  std::string id_of(const Resolved& entry) const;
  std::string id_filter(const std::string& id) const;
  void paged_search(const std::string& base, const std::string& filter, const std::vector<std::string>& attributes,
                    const std::function<void(const Resolved&)>& each);

  /// Matching values of one attribute, loaded once per run when a first sync
  /// looks up many objects, and kept current with this sink's own writes.
  struct FindIndex {
    bool loaded = false;
    int lookups = 0;
    std::unordered_map<std::string, std::vector<std::pair<std::string, std::string>>> by_value;  // lower -> (value, id)
    std::unordered_map<std::string, std::vector<std::string>> by_id;                            // id -> lower values
    void insert(const std::string& value, const std::string& id);
    void erase(const std::string& id);
  };
  void index_written(ObjectType type, const std::string& id, const Object& attributes, bool removed);
  /// Caches the DNs (and, with want_uid, member_uid_attribute values) of `ids`.
  void resolve_many(const std::vector<std::string>& ids, bool want_uid);
  void modify(const std::string& dn, ModList& mods, const std::string& what, bool permissive = false);
  int modify_rc(const std::string& dn, ModList& mods, const std::string& what, bool permissive);

  SinkConfig config_;
  Logger* log_;
  std::unique_ptr<Connection> conn_;
  std::unordered_map<std::string, std::string> dn_cache_;   // target id -> DN
  std::unordered_map<std::string, std::string> uid_cache_;  // target id -> member_uid_attribute value
  std::set<std::pair<ObjectType, std::string>> references_;  // lowercased attribute names
  std::set<std::pair<ObjectType, std::string>> datetimes_;
  std::set<std::string> binary_;  // lowercased binary_attributes
  bool postread_ = false;
  bool permissive_ = false;
  bool resubmitting_ = false;
  std::map<std::pair<ObjectType, std::string>, FindIndex> find_index_;  // (type, lowercased attribute)
};

}  // namespace dirsync::ldap
