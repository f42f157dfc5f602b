// The pipeline file, parsed and validated into an immutable typed config.
//
// Everything is checked before any plugin connects (STYLE.md: validate before
// I/O). Errors are dirsync::Error(config) whose message starts with
// "file:line:column:" and shows the offending line with a caret under the key.
// Secret references (${env:NAME}, ${file:PATH}) are checked for syntax here
// and resolved only when a plugin is instantiated (resolve_plugin_settings).
#pragma once

#include "expression/expression.hpp"
#include "logging/redactor.hpp"
#include "mapping/attribute_mapping.hpp"
#include "scope/scope_filter.hpp"

#include <dirsync/plugin.hpp>

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace dirsync {

/// A plugin section (`source:` or `sink:`) as written; validated against the
/// plugin's schema once the plugin is known.
struct PluginSection {
  std::string type;
  YAML::Node node;  ///< the whole section, marks included
};

struct MatchKey {
  std::string target;
  std::string source;  ///< source attribute path
  bool ignore_case = false;
};

enum class OnMissing : std::uint8_t { ignore, disable, remove };
enum class OnOutOfScope : std::uint8_t { keep, disable, remove };
enum class Ownership : std::uint8_t { any_matched, created_by_pipeline };

/// What the pipeline does with one object type (the `users:` or `groups:` section).
struct ObjectPolicy {
  bool enabled = false;
  scope::ScopeFilter scope;
  std::vector<MatchKey> match;
  mapping::Mapper mapper;
  OnMissing on_missing = OnMissing::ignore;
  OnOutOfScope on_out_of_scope = OnOutOfScope::keep;
  Ownership ownership = Ownership::any_matched;
  bool members = true;  ///< groups: sync membership
  /// Attributes set when an object is disabled (e.g. {active: false}).
  Object disable_set;
  /// Source attributes referenced by scope, mappings and match keys.
  std::vector<std::string> source_attributes() const;
};

struct Safety {
  std::int64_t max_deletions = -1;       ///< count; -1 = no count limit
  double max_deletions_percent = -1;     ///< percent of linked objects; -1 = none
};

struct PipelineConfig {
  std::filesystem::path file;
  std::string name;
  std::string description;
  PluginSection source;
  PluginSection sink;
  std::filesystem::path state_path;
  std::int64_t schedule_every_ms = 0;    ///< daemon interval; 0 = not scheduled
  ObjectPolicy users;
  ObjectPolicy groups;
  Safety safety;
  /// Hash of what decides scope and target values; a change forces a full
  /// evaluation on the next run (as Entra does when a scoping filter is saved).
  std::string config_hash;

  const ObjectPolicy& policy(ObjectType type) const { return type == ObjectType::user ? users : groups; }
};

/// Loads and validates `path`. Throws Error(config).
PipelineConfig load_pipeline(const std::filesystem::path& path);
/// Same, from text (tests); `path` is used in messages and for relative paths.
PipelineConfig load_pipeline_text(const std::string& text, const std::filesystem::path& path);

/// Validates a plugin section against the plugin's schema and returns its
/// settings: types checked, defaults applied. With `resolve_secrets`, secret
/// references are replaced by their values and every secret-marked value is
/// registered with `redactor`. Throws Error(config) naming file:line:column.
Settings plugin_settings(const PipelineConfig& config, const PluginSection& section, const PluginDescriptor& plugin,
                         bool resolve_secrets, Redactor* redactor);

/// A YAML node as a Value: plain scalars that look like booleans or integers
/// become those; quoted scalars stay strings (so `constant: "true"` is text).
Value yaml_to_value(const YAML::Node& node);

/// "40m", "30s", "1h", "250ms", or a plain number of seconds -> milliseconds.
std::optional<std::int64_t> parse_duration_ms(std::string_view text);

/// The closest candidate within a small edit distance, or "".
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace dirsync
