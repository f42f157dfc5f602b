// The `rest` sink: users and groups written through an HTTP API, either
// described by templates (profile generic) or as a SCIM 2.0 client (scim).
//
// Guarantees:
// - A batch runs up to `concurrency` operations at once; all requests share
//   one `requests_per_second` bucket and one Retry-After pause (Transport).
//   apply returns when every operation of the batch has its result.
// - A create is never resent blindly: when its outcome is unknown (transport
//   fault after sending, 5xx) the object is looked up by its lookup key
//   first and adopted when found; without a key it is reported, not resent.
//   A 409 on create adopts the existing object and writes the attributes.
//   PATCH, PUT and DELETE are resent after an unknown outcome (the same state
//   written twice); the generic profile's other POSTs are reported instead.
// - A 4xx (other than 401/429) or a final 5xx is that object's OpResult,
//   with the status and a short secret-free excerpt; the batch goes on.
//   Error(auth) (401 after a refresh) and Error(connection) (still failing
//   after the retries) stop the batch: the sink is unusable.
// - Operations a capability switch forbids are never sent: updates, disables
//   and deletes succeed without a request; a create adopts an object found
//   by its key, else fails with a "skipped" note (the plugin ABI has no
//   skipped outcome).
// - Updates carry only the changed attributes (SCIM: one replace per
//   attribute); nothing changed means no request.
#pragma once

#include "config.hpp"
#include "transport.hpp"

#include <dirsync/plugin.hpp>

#include <memory>

namespace dirsync::rest {

class RestSink final : public Sink {
 public:
  /// `clock` replaces the real clock (tests); nullptr = the system clock.
  RestSink(RestConfig config, const Settings& settings, Logger* log, http::Clock* clock = nullptr);

  void prepare(const std::vector<TargetSchema>& schema) override;
  std::vector<std::string> find(ObjectType type, const std::string& attribute, const Value& value,
                                bool ignore_case) override;
  void apply(std::span<const Operation> ops, std::span<OpResult> results) override;
  std::vector<std::string> test_connection() override;

 private:
  OpResult apply_one(const Operation& op);

  // Shared by both profiles.
  using IdOf = std::function<std::optional<std::string>(const Value& document)>;
  OpResult create_with(const Operation& op, http::Request request, const OpSpec& spec, const IdOf& id_of,
                       const std::function<std::optional<std::string>()>& lookup);
  std::optional<std::string> lookup_one(ObjectType type, const std::string& attribute, const Value& value);
  std::string failure(const http::Request& request, const http::Response& response) const;
  /// A success without a request: the operation is switched off for this type.
  OpResult not_sent(const Operation& op, const OpSpec& spec) const;

  // Generic profile.
  std::vector<std::string> generic_find(ObjectType type, const std::string& attribute, const Value& value);
  OpResult generic_apply(const Operation& op);
  http::Request render(const OpSpec& spec, const Vars& vars, bool& empty_body) const;
  void generic_write(const OpSpec& spec, const Operation& op, const Vars& vars);
  void generic_members(const OpSpec& spec, const Operation& op, const std::vector<std::string>& ids);
  /// The batched operation spec `op` goes through, or nullptr.
  const OpSpec* batch_spec(const Operation& op) const;
  void apply_batch(const OpSpec& spec, std::span<const Operation> ops, const std::vector<std::size_t>& unit,
                   std::span<OpResult> results);

  // SCIM profile.
  std::vector<std::string> scim_find(ObjectType type, const std::string& attribute, const Value& value);
  OpResult scim_apply(const Operation& op);
  void scim_patch(const Operation& op, const std::string& id, List operations,
                  const std::vector<std::string>& add, const std::vector<std::string>& remove);
  std::string scim_url(ObjectType type, const std::string& id = {}) const;
  /// GET of one user: checks the credentials and the base URL.
  http::Response probe();

  RestConfig config_;
  Logger* log_;
  std::unique_ptr<Transport> transport_;
};

}  // namespace dirsync::rest
