// What a pipeline writes under `sink: { type: rest, ... }`, validated into an
// immutable typed config before any I/O. Every key is in config_schema(),
// which `dirsync plugins` prints and docs/sinks/rest.md mirrors.
#pragma once

#include "template.hpp"
#include "transport.hpp"

#include <dirsync/http.hpp>
#include <dirsync/plugin.hpp>

#include <string>
#include <vector>

namespace dirsync::rest {

enum class Profile { generic, scim };

/// One operation of the generic profile (or a capability switch of scim).
struct OpSpec {
  bool allowed = false;  ///< false: the operation is never sent
  bool custom = false;   ///< an operation object was configured
  std::string name;      ///< "users.create", for messages
  std::string method;
  TextTemplate url;
  std::vector<std::pair<std::string, TextTemplate>> headers;
  BodyTemplate body;
  std::vector<int> success;  ///< empty: any 2xx
  JsonPointer id_pointer;
  bool per_member = false;  ///< members_add/remove: the template uses {{$member}}
  /// Batch endpoints: up to batch_size objects per request, `item` rendered
  /// per object, `body` around them through {{$items}} (default: the list),
  /// one result per item at `results`, a failed one holding `error_pointer`.
  std::size_t batch_size = 1;
  BodyTemplate item;
  JsonPointer results;
  JsonPointer error_pointer;

  bool succeeded(int status) const;
};

struct LookupSpec {
  bool defined = false;
  std::string method = "GET";
  TextTemplate url;
  std::vector<std::pair<std::string, TextTemplate>> headers;
  JsonPointer results;
  JsonPointer id_pointer;
  std::string key;  ///< attribute a create whose response was lost is looked up by
};

struct TypeSpec {
  OpSpec create, update, disable, remove, members_add, members_remove;
  LookupSpec lookup;
  std::string path;             ///< scim: /Users, /Groups
  std::string match_attribute;  ///< scim: userName, displayName
};

struct RestConfig {
  Profile profile = Profile::generic;
  std::string base_url;
  http::Headers headers;
  AuthConfig auth;
  double requests_per_second = 0;
  int concurrency = 4;
  std::size_t max_members_per_patch = 100;
  TypeSpec users, groups;

  static RestConfig from(const Settings& settings);
  const TypeSpec& type(ObjectType t) const { return t == ObjectType::user ? users : groups; }
};

std::vector<ConfigField> config_schema();

}  // namespace dirsync::rest
