#include "rest_sink.hpp"

#include "scim.hpp"

#include <dirsync/http_config.hpp>

#include <algorithm>
#include <atomic>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

namespace dirsync::rest {

namespace {

// The sink itself is unusable: stop the batch instead of failing each object.
bool stops_the_run(const Error& e) {
  return e.kind() == ErrorKind::auth || e.kind() == ErrorKind::connection || e.kind() == ErrorKind::config;
}

std::optional<std::string> id_text(const Value* v) {
  if (!v) return std::nullopt;
  if (v->is_string() && !v->as_string().empty()) return v->as_string();
  if (v->is_integer()) return v->to_string();
  return std::nullopt;
}

Value parse_or_null(const std::string& body) {
  try {
    return parse_json(body);
  } catch (const Error&) {
    return {};
  }
}

// RFC 7644 3.5.2.3: a value path whose filter matched no element.
bool no_target(const http::Response& response) {
  Value doc = parse_or_null(response.body);
  const Value* type = doc.is_object() ? doc.as_object().find("scimType") : nullptr;
  return type && type->is_string() && type->as_string() == "noTarget";
}

// Writing the same state twice changes nothing, so a write whose outcome is
// unknown may be sent again; a generic POST may append, so it is reported instead.
Transport::Resend resend_of(const std::string& method) {
  return method == "POST" ? Transport::Resend::after_lookup : Transport::Resend::blindly;
}

std::string plural(ObjectType type) { return type == ObjectType::user ? "users" : "groups"; }

// A batch may have settled some of its objects (adopted after a lost answer) before failing.
void fail_unit(const std::vector<std::size_t>& unit, std::span<OpResult> results, const std::string& error) {
  for (std::size_t i : unit)
    if (unit.size() == 1 || !results[i].ok) results[i] = {false, "", error};
}

Vars vars_of(const Operation& op) {
  Vars vars(&op.attributes);
  vars.set("$id", Value(op.target_id));
  vars.set("$source_id", Value(op.source_id));
  vars.set("$type", Value(std::string(to_string(op.type))));
  List members;
  for (const auto& id : op.members_add) members.emplace_back(id);
  vars.set("$members", Value(std::move(members)));
  return vars;
}

}  // namespace

RestSink::RestSink(RestConfig config, const Settings& settings, Logger* log, http::Clock* clock)
    : config_(std::move(config)), log_(log) {
  http::ClientOptions options = http::client_options(settings, log, "rest");
  if (clock) options.clock = clock;
  // RFC 7644 3.1: SCIM messages are application/scim+json, as Entra sends them.
  transport_ = std::make_unique<Transport>(config_.base_url, config_.headers, config_.auth, std::move(options),
                                           config_.requests_per_second,
                                           config_.profile == Profile::scim ? "application/scim+json"
                                                                            : "application/json");
}

void RestSink::prepare(const std::vector<TargetSchema>&) {
  // Refused credentials must stop the run (exit 3) before matching starts:
  // the host records a failing find() as that object's error, which would
  // turn a wrong token into one failure per object.
  transport_->authenticate();
  if (config_.profile == Profile::scim) probe();
}

http::Response RestSink::probe() {
  http::Request req{"GET", scim_url(ObjectType::user) + "?startIndex=1&count=1", {}, {}};
  http::Response resp = *transport_->send(req);
  if (resp.status == 403)
    throw Error(ErrorKind::auth, "GET " + http::redact_url(req.url) + " answered 403: permission missing");
  if (!resp.ok()) throw Error(ErrorKind::connection, failure(req, resp));
  return resp;
}

std::vector<std::string> RestSink::find(ObjectType type, const std::string& attribute, const Value& value,
                                        bool ignore_case) {
  (void)ignore_case;  // the API's own comparison decides (SCIM: per attribute's caseExact)
  if (value.is_null()) return {};
  return config_.profile == Profile::scim ? scim_find(type, attribute, value) : generic_find(type, attribute, value);
}

void RestSink::apply(std::span<const Operation> ops, std::span<OpResult> results) {
  // Work units: one operation, or up to batch_size operations of one batched kind.
  std::vector<std::vector<std::size_t>> units;
  std::map<const OpSpec*, std::size_t> open;  // batched spec -> its unit being filled
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const OpSpec* spec = batch_spec(ops[i]);
    if (!spec) {
      units.push_back({i});
      continue;
    }
    auto it = open.find(spec);
    if (it == open.end() || units[it->second].size() >= spec->batch_size) {
      units.push_back({});
      it = open.insert_or_assign(spec, units.size() - 1).first;
    }
    units[it->second].push_back(i);
  }
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::exception_ptr fatal;
  std::mutex mutex;
  auto work = [&] {
    while (!stop) {
      std::size_t u = next++;
      if (u >= units.size()) return;
      const std::vector<std::size_t>& unit = units[u];
      try {
        if (const OpSpec* spec = batch_spec(ops[unit.front()])) apply_batch(*spec, ops, unit, results);
        else results[unit.front()] = apply_one(ops[unit.front()]);
      } catch (const ObjectFailure& e) {
        fail_unit(unit, results, e.what());
      } catch (const Error& e) {
        if (!stops_the_run(e)) {
          fail_unit(unit, results, e.what());
          continue;
        }
        std::lock_guard lock(mutex);
        if (!fatal) fatal = std::current_exception();
        stop = true;
      }
    }
  };
  std::size_t threads = std::min<std::size_t>(static_cast<std::size_t>(config_.concurrency), units.size());
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (fatal) std::rethrow_exception(fatal);
}

std::vector<std::string> RestSink::test_connection() {
  std::vector<std::string> lines;
  transport_->authenticate();
  if (config_.auth.kind == AuthConfig::Kind::oauth2)
    lines.push_back("token acquired from " + http::redact_url(config_.auth.token_url));
  if (config_.profile != Profile::scim) {
    lines.push_back("generic profile: no probe request; API root " + http::redact_url(transport_->base_url()));
    return lines;
  }
  http::Response resp = probe();
  lines.push_back("GET " + http::redact_url(scim_url(ObjectType::user)) + " answered " + std::to_string(resp.status));
  return lines;
}

OpResult RestSink::apply_one(const Operation& op) {
  const TypeSpec& t = config_.type(op.type);
  if (op.kind == OpKind::create && !t.create.allowed) {
    // Update only: the object may have appeared in the target since matching.
    const std::string& key = config_.profile == Profile::scim ? t.match_attribute : t.lookup.key;
    const Value* value = key.empty() ? nullptr : op.attributes.find(key);
    if (value && !value->is_null()) {
      if (auto id = lookup_one(op.type, key, *value)) {
        Operation adopt = op;
        adopt.kind = OpKind::update;
        adopt.target_id = *id;
        OpResult r = apply_one(adopt);
        if (r.ok) r.target_id = *id;
        return r;
      }
    }
    throw ObjectFailure("skipped: " + plural(op.type) + ".create is false (update only) and no " +
                        std::string(to_string(op.type)) +
                        (value ? " with " + key + " '" + value->to_string() + "'" : std::string(" to match")) +
                        " exists in the target");
  }
  return config_.profile == Profile::scim ? scim_apply(op) : generic_apply(op);
}

OpResult RestSink::not_sent(const Operation& op, const OpSpec& spec) const {
  if (log_)
    log_->debug("rest: " + std::string(to_string(op.kind)) + " of " + std::string(to_string(op.type)) + " " +
                op.source_id + " not sent: " + spec.name + " is not allowed");
  return {true, op.target_id, ""};
}

std::string RestSink::failure(const http::Request& request, const http::Response& response) const {
  std::string detail = transport_->excerpt(response);
  return request.method + " " + http::redact_url(request.url) + " answered " + std::to_string(response.status) +
         (detail.empty() ? "" : ": " + detail);
}

std::optional<std::string> RestSink::lookup_one(ObjectType type, const std::string& attribute, const Value& value) {
  std::vector<std::string> ids = find(type, attribute, value, false);
  if (ids.empty()) return std::nullopt;
  return ids.front();
}

OpResult RestSink::create_with(const Operation& op, http::Request request, const OpSpec& spec, const IdOf& id_of,
                               const std::function<std::optional<std::string>()>& lookup) {
  std::optional<std::string> found;
  std::function<bool()> recover;
  if (lookup)
    recover = [&] {
      found = lookup();
      return found.has_value();
    };
  std::optional<http::Response> resp = transport_->send(request, Transport::Resend::after_lookup, recover);
  if (!resp) {
    if (log_)
      log_->info("rest: the create of " + op.source_id + " had no answer; found it as " + *found + ", not resent");
    return {true, *found, ""};
  }
  if (spec.succeeded(resp->status)) {
    if (auto id = id_of(parse_or_null(resp->body))) return {true, *id, ""};
    if (lookup)
      if (auto id = lookup()) return {true, *id, ""};
    throw ObjectFailure(request.method + " " + http::redact_url(request.url) + " answered " +
                        std::to_string(resp->status) + " without the created object's id");
  }
  if (lookup && (resp->status == 409 || resp->status >= 500)) {
    if (auto id = lookup()) {
      // 409: the object already exists (created outside this run's link): adopt it and write the attributes.
      if (resp->status == 409 && config_.type(op.type).update.allowed) {
        Operation adopt = op;
        adopt.kind = OpKind::update;
        adopt.target_id = *id;
        OpResult r = config_.profile == Profile::scim ? scim_apply(adopt) : generic_apply(adopt);
        if (!r.ok) return r;
      }
      return {true, *id, ""};
    }
  }
  throw ObjectFailure(failure(request, *resp));
}

// ------------------------------------------------------------- generic ---

std::vector<std::string> RestSink::generic_find(ObjectType type, const std::string& attribute, const Value& value) {
  const LookupSpec& l = config_.type(type).lookup;
  if (!l.defined)
    throw Error(ErrorKind::input, "rest sink: " + plural(type) + ".lookup is not configured, so objects cannot be "
                                  "matched on '" + attribute + "'");
  Vars vars;
  vars.set("$attribute", Value(attribute));
  vars.set("$value", value);
  http::Request req{l.method, transport_->url(l.url.render(vars, Context::url)), {}, {}};
  for (const auto& [name, t] : l.headers) req.headers.emplace_back(name, t.render(vars, Context::header));
  http::Response resp = *transport_->send(req);
  if (resp.status == 404) return {};
  if (!resp.ok()) throw Error(ErrorKind::read, "lookup " + failure(req, resp));
  Value doc = parse_json(resp.body);
  const Value* results = l.results.resolve(doc);
  std::vector<std::string> ids;
  if (!results || results->is_null()) return ids;
  auto take = [&](const Value& item) {
    if (auto id = id_text(l.id_pointer.resolve(item))) ids.push_back(*id);
  };
  if (results->is_list()) {
    for (const Value& item : results->as_list()) take(item);
  } else {
    take(*results);
  }
  return ids;
}

http::Request RestSink::render(const OpSpec& spec, const Vars& vars, bool& empty_body) const {
  http::Request r;
  r.method = spec.method;
  r.url = transport_->url(spec.url.render(vars, Context::url));
  for (const auto& [name, t] : spec.headers) r.headers.emplace_back(name, t.render(vars, Context::header));
  empty_body = false;
  if (spec.body.defined()) {
    if (auto doc = spec.body.render(vars)) r.body = to_json(*doc);
    else empty_body = true;
  }
  return r;
}

void RestSink::generic_write(const OpSpec& spec, const Operation& op, const Vars& vars) {
  (void)op;
  bool empty = false;
  http::Request req = render(spec, vars, empty);
  if (empty) return;  // nothing this body carries has changed
  http::Response resp = *transport_->send(req, resend_of(spec.method));
  if (!spec.succeeded(resp.status)) throw ObjectFailure(failure(req, resp));
}

void RestSink::generic_members(const OpSpec& spec, const Operation& op, const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  if (!spec.allowed)
    throw ObjectFailure("the members changed but " + spec.name + " is not configured; attributes were written");
  Vars vars = vars_of(op);
  if (spec.per_member) {
    for (const auto& id : ids) {
      vars.set("$member", Value(id));
      generic_write(spec, op, vars);
    }
    return;
  }
  for (std::size_t from = 0; from < ids.size(); from += config_.max_members_per_patch) {
    std::size_t to = std::min(ids.size(), from + config_.max_members_per_patch);
    List chunk;
    for (std::size_t i = from; i < to; ++i) chunk.emplace_back(ids[i]);
    vars.set("$members", Value(std::move(chunk)));
    bool empty = false;
    http::Request req = render(spec, vars, empty);
    http::Response resp = *transport_->send(req);  // adding or removing a member twice changes nothing
    if (!spec.succeeded(resp.status)) throw ObjectFailure(failure(req, resp));
  }
}

OpResult RestSink::generic_apply(const Operation& op) {
  const TypeSpec& t = config_.type(op.type);
  Vars vars = vars_of(op);
  switch (op.kind) {
    case OpKind::create: {
      bool empty = false;
      http::Request req = render(t.create, vars, empty);
      std::function<std::optional<std::string>()> lookup;
      const Value* key = t.lookup.key.empty() ? nullptr : op.attributes.find(t.lookup.key);
      if (t.lookup.defined && key && !key->is_null())
        lookup = [this, &op, &t, key] { return lookup_one(op.type, t.lookup.key, *key); };
      const JsonPointer& pointer = t.create.id_pointer;
      OpResult r = create_with(op, std::move(req), t.create,
                               [&](const Value& doc) { return id_text(pointer.resolve(doc)); }, lookup);
      if (r.ok && t.members_add.allowed) {
        Operation created = op;
        created.target_id = r.target_id;
        generic_members(t.members_add, created, op.members_add);
      }
      return r;
    }
    case OpKind::update:
      if (!t.update.allowed) return not_sent(op, t.update);
      generic_write(t.update, op, vars);
      generic_members(t.members_add, op, op.members_add);
      generic_members(t.members_remove, op, op.members_remove);
      return {true, op.target_id, ""};
    case OpKind::disable:
      if (!t.disable.allowed) return not_sent(op, t.disable);
      generic_write(t.disable, op, vars);
      return {true, op.target_id, ""};
    case OpKind::remove: {
      if (!t.remove.allowed) return not_sent(op, t.remove);
      bool empty = false;
      http::Request req = render(t.remove, vars, empty);
      http::Response resp = *transport_->send(req);
      if (resp.status != 404 && !t.remove.succeeded(resp.status)) throw ObjectFailure(failure(req, resp));
      return {true, op.target_id, ""};
    }
  }
  return {false, "", "unknown operation"};
}

const OpSpec* RestSink::batch_spec(const Operation& op) const {
  if (config_.profile != Profile::generic || !op.members_add.empty() || !op.members_remove.empty()) return nullptr;
  const TypeSpec& t = config_.type(op.type);
  // A disable without its own operation object is the update, batched like it.
  const OpSpec* spec = op.kind == OpKind::create    ? &t.create
                       : op.kind == OpKind::update  ? &t.update
                       : op.kind == OpKind::disable ? &t.disable
                                                    : &t.remove;
  return spec->allowed && spec->batch_size > 1 ? spec : nullptr;
}

void RestSink::apply_batch(const OpSpec& spec, std::span<const Operation> ops, const std::vector<std::size_t>& unit,
                           std::span<OpResult> results) {
  const bool creating = ops[unit.front()].kind == OpKind::create;
  const TypeSpec& t = config_.type(ops[unit.front()].type);
  std::vector<std::size_t> pending;
  List items;
  for (std::size_t i : unit) {
    auto item = spec.item.render(vars_of(ops[i]));
    if (!item) {
      results[i] = {true, ops[i].target_id, ""};  // nothing this item carries has changed
      continue;
    }
    pending.push_back(i);
    items.push_back(std::move(*item));
  }
  // After a lost answer: adopt what the lookup finds, send the rest again.
  auto recover = [&] {
    std::vector<std::size_t> still;
    List again;
    for (std::size_t k = 0; k < pending.size(); ++k) {
      const Operation& op = ops[pending[k]];
      const Value* key = t.lookup.key.empty() ? nullptr : op.attributes.find(t.lookup.key);
      std::optional<std::string> id;
      if (key && !key->is_null()) id = lookup_one(op.type, t.lookup.key, *key);
      if (id) {
        results[pending[k]] = {true, *id, ""};
      } else {
        still.push_back(pending[k]);
        again.push_back(items[k]);
      }
    }
    pending = std::move(still);
    items = std::move(again);
    return true;
  };
  const bool can_recover = t.lookup.defined && !t.lookup.key.empty();
  for (int round = 0; !pending.empty(); ++round) {
    if (round >= 8) throw ObjectFailure(spec.name + ": the batch's answer was lost " + std::to_string(round) + " times");
    Vars vars;
    vars.set("$items", Value(items));
    vars.set("$type", Value(std::string(to_string(ops[unit.front()].type))));
    http::Request req;
    req.method = spec.method;
    req.url = transport_->url(spec.url.render(vars, Context::url));
    for (const auto& [name, h] : spec.headers) req.headers.emplace_back(name, h.render(vars, Context::header));
    auto body = spec.body.defined() ? spec.body.render(vars) : std::optional<Value>(Value(items));
    req.body = body ? to_json(*body) : "[]";
    std::optional<http::Response> resp;
    if (creating)
      resp = transport_->send(req, Transport::Resend::after_lookup,
                              can_recover ? std::function<bool()>(recover) : std::function<bool()>());
    else
      resp = transport_->send(req, resend_of(req.method));
    if (!resp) continue;  // some were found; the others go again
    if (!spec.succeeded(resp->status)) {
      if (creating && can_recover && resp->status >= 500) {
        recover();
        if (pending.empty()) return;
      }
      throw ObjectFailure(failure(req, *resp));
    }
    Value doc = parse_or_null(resp->body);
    const Value* list = spec.results.resolve(doc);
    for (std::size_t k = 0; k < pending.size(); ++k) {
      const Operation& op = ops[pending[k]];
      const Value* result = list && list->is_list() && k < list->as_list().size() ? &list->as_list()[k] : nullptr;
      const Value* error = result ? spec.error_pointer.resolve(*result) : nullptr;
      if (error && !error->is_null()) {
        std::string text = error->is_string() ? error->as_string() : to_json(*error);
        results[pending[k]] = {false, "", spec.name + " (batch item " + std::to_string(k) + "): " + text.substr(0, 300)};
      } else if (!creating) {
        results[pending[k]] = {true, op.target_id, ""};
      } else if (auto id = result ? id_text(spec.id_pointer.resolve(*result)) : std::nullopt) {
        results[pending[k]] = {true, *id, ""};
      } else {
        results[pending[k]] = {false, "", req.method + " " + http::redact_url(req.url) + " answered " +
                                              std::to_string(resp->status) + " without an id for batch item " +
                                              std::to_string(k)};
      }
    }
    return;
  }
}

// ---------------------------------------------------------------- scim ---

std::string RestSink::scim_url(ObjectType type, const std::string& id) const {
  return transport_->url(config_.type(type).path + (id.empty() ? "" : "/" + http::url_encode(id)));
}

std::vector<std::string> RestSink::scim_find(ObjectType type, const std::string& attribute, const Value& value) {
  http::Request req{"GET", scim_url(type) + "?filter=" + http::url_encode(scim::equality_filter(attribute, value)),
                    {}, {}};
  http::Response resp = *transport_->send(req);
  if (resp.status == 404) return {};
  if (!resp.ok()) throw Error(ErrorKind::read, "SCIM lookup " + failure(req, resp));
  Value doc = parse_json(resp.body);
  std::vector<std::string> ids;
  const Value* resources = doc.is_object() ? doc.as_object().find("Resources") : nullptr;
  if (resources && resources->is_list())
    for (const Value& r : resources->as_list())
      if (r.is_object())
        if (auto id = id_text(r.as_object().find("id"))) ids.push_back(*id);
  return ids;
}

void RestSink::scim_patch(const Operation& op, const std::string& id, List operations,
                          const std::vector<std::string>& add, const std::vector<std::string>& remove) {
  // No request carries more than max_members_per_patch member values.
  const std::size_t max = config_.max_members_per_patch;
  std::size_t added = 0, removed = 0;
  for (bool first = true;; first = false) {
    List ops = first ? std::move(operations) : List{};
    std::size_t room = max;
    if (removed < remove.size()) {
      std::size_t n = std::min(room, remove.size() - removed);
      ops.push_back(scim::member_operation("remove", remove, removed, removed + n));
      removed += n;
      room -= n;
    }
    if (room > 0 && added < add.size()) {
      std::size_t n = std::min(room, add.size() - added);
      ops.push_back(scim::member_operation("add", add, added, added + n));
      added += n;
    }
    if (ops.empty()) return;
    http::Request req{"PATCH", scim_url(op.type, id), {}, to_json(scim::patch_message(ops))};
    http::Response resp = *transport_->send(req);
    if (first && resp.status == 400 && no_target(resp)) {
      // A PatchOp is all or nothing (RFC 7644 3.5.2), so nothing of it was applied: send it again
      // with the missing multi-valued elements added whole.
      if (auto fixed = scim::add_missing_elements(ops)) {
        req.body = to_json(scim::patch_message(std::move(*fixed)));
        resp = *transport_->send(req);
      }
    }
    if (!resp.ok()) throw ObjectFailure(failure(req, resp));
    if (added == add.size() && removed == remove.size()) return;
  }
}

OpResult RestSink::scim_apply(const Operation& op) {
  const TypeSpec& t = config_.type(op.type);
  switch (op.kind) {
    case OpKind::create: {
      std::size_t first = std::min(op.members_add.size(), config_.max_members_per_patch);
      std::vector<std::string> first_members(op.members_add.begin(), op.members_add.begin() + first);
      http::Request req{"POST", scim_url(op.type), {},
                        to_json(Value(scim::resource(op.type, op.attributes, first_members)))};
      std::function<std::optional<std::string>()> lookup;
      const Value* key = op.attributes.find(t.match_attribute);
      if (key && !key->is_null()) lookup = [this, &op, &t, key] { return lookup_one(op.type, t.match_attribute, *key); };
      OpResult r = create_with(op, std::move(req), t.create,
                               [](const Value& doc) {
                                 return doc.is_object() ? id_text(doc.as_object().find("id")) : std::nullopt;
                               },
                               lookup);
      if (r.ok && first < op.members_add.size()) {
        std::vector<std::string> rest(op.members_add.begin() + first, op.members_add.end());
        scim_patch(op, r.target_id, {}, rest, {});
      }
      return r;
    }
    case OpKind::update:
      if (!t.update.allowed) return not_sent(op, t.update);
      scim_patch(op, op.target_id, scim::patch_operations(op.attributes), op.members_add, op.members_remove);
      return {true, op.target_id, ""};
    case OpKind::disable: {
      // SCIM groups have no `active`: nothing to switch off.
      if (!t.disable.allowed) return not_sent(op, t.disable);
      if (op.type == ObjectType::group) return {true, op.target_id, ""};
      Object attributes = op.attributes;
      attributes.set("active", false);
      scim_patch(op, op.target_id, scim::patch_operations(attributes), {}, {});
      return {true, op.target_id, ""};
    }
    case OpKind::remove: {
      if (!t.remove.allowed) return not_sent(op, t.remove);
      http::Request req{"DELETE", scim_url(op.type, op.target_id), {}, {}};
      http::Response resp = *transport_->send(req);
      if (resp.status != 404 && !resp.ok()) throw ObjectFailure(failure(req, resp));
      return {true, op.target_id, ""};
    }
  }
  return {false, "", "unknown operation"};
}

}  // namespace dirsync::rest
