// The plugin ABI: what a source or sink shared library exports and implements.
//
// A plugin is one shared library exporting one function through Boost.DLL:
//
//     const dirsync::PluginDescriptor* dirsync_plugin()   (see DIRSYNC_PLUGIN)
//
// The host calls it once after loading and reads `abi_version` before touching
// any other member, so a plugin built against another SDK is refused with a
// message naming both versions instead of crashing. Bump kAbiVersion on any
// change to a type in this header or in the headers it includes.
//
// Contract of a run, in the order the host calls things:
//   1. factory(context)   config already validated against `schema`, defaults
//                         applied and secret references resolved; no I/O yet
//                         is expected, but constructors may throw Error(config).
//   2. Source::read  or  Sink::prepare, then Sink::find / Sink::apply per batch,
//                         then Sink::finish once the run's last apply returned.
//   3. destructor         release connections.
#pragma once

#include <dirsync/error.hpp>
#include <dirsync/record.hpp>
#include <dirsync/value.hpp>

#include <boost/dll/alias.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace dirsync {

inline constexpr std::uint32_t kAbiVersion = 3;

// ---------------------------------------------------------------- config ---

enum class FieldType : std::uint8_t { string, integer, boolean, duration, list, object, any };
std::string_view to_string(FieldType type);

/// One key of a plugin's configuration; the schema is also the documentation
/// (`dirsync plugins` prints it, docs/ quotes it).
struct ConfigField {
  std::string key;
  FieldType type = FieldType::string;
  bool required = false;
  bool secret = false;         ///< redacted everywhere once resolved
  std::string default_value;   ///< YAML text; empty = no default
  std::string doc;             ///< one line
};

/// Validated plugin configuration, with typed accessors. Missing optional keys
/// without defaults are simply absent.
class Settings {
 public:
  Settings() = default;
  explicit Settings(Object values) : values_(std::move(values)) {}

  bool has(std::string_view key) const;
  const Value* find(std::string_view key) const { return values_.find(key); }
  std::string string(std::string_view key, std::string fallback = {}) const;
  std::int64_t integer(std::string_view key, std::int64_t fallback = 0) const;
  bool boolean(std::string_view key, bool fallback = false) const;
  /// Durations are integers of milliseconds once validated ("30s" -> 30000).
  std::int64_t duration_ms(std::string_view key, std::int64_t fallback = 0) const;
  std::vector<std::string> strings(std::string_view key) const;
  const Object& values() const { return values_; }

 private:
  Object values_;
};

// ------------------------------------------------------------- services ---

enum class LogLevel : std::uint8_t { debug, info, warn, error };

/// The host's logger as plugins see it. Messages pass through the host's
/// redaction, but plugins must still not format secrets into them.
class Logger {
 public:
  virtual ~Logger() = default;
  virtual void log(LogLevel level, std::string_view message) = 0;
  void debug(std::string_view m) { log(LogLevel::debug, m); }
  void info(std::string_view m) { log(LogLevel::info, m); }
  void warn(std::string_view m) { log(LogLevel::warn, m); }
  void error(std::string_view m) { log(LogLevel::error, m); }
};

/// What a factory gets.
struct PluginContext {
  std::string pipeline;              ///< pipeline name
  Settings settings;                 ///< validated plugin configuration
  std::filesystem::path base_dir;    ///< relative paths resolve against this
  Logger* log = nullptr;             ///< never null when the host calls
};

// --------------------------------------------------------------- sources ---

enum class ReadMode : std::uint8_t { full, incremental };

struct ReadRequest {
  ReadMode mode = ReadMode::full;
  /// Opaque cursor the source returned from its last complete read
  /// (empty on a full read).
  std::string cursor;
  bool users = true;
  bool groups = false;
  /// Every source attribute the pipeline references (mappings, scope, match),
  /// so a source can ask its API for just those ($select). Empty = all.
  std::vector<std::string> user_attributes;
  std::vector<std::string> group_attributes;
};

struct ReadResult {
  /// True only when every object in scope of the request was read. The host
  /// removes "missing" objects only after a complete full read.
  bool complete = false;
  ReadMode mode = ReadMode::full;   ///< what was actually done (a delta may fall back to full)
  std::string cursor;               ///< stored only after everything emitted was written
  std::string note;                 ///< why the mode changed, etc.; goes to the sync log
};

/// Where a source sends changes. `emit` may throw (the host stopping the run);
/// sources let such exceptions propagate.
class Emitter {
 public:
  virtual ~Emitter() = default;
  virtual void emit(Change&& change) = 0;
};

class Source {
 public:
  virtual ~Source() = default;
  /// Streams the requested objects into `out`, users before groups, never
  /// holding the directory in memory. Throws Error(auth|connection) when it
  /// cannot start, Error(read|input) when it fails part-way; the host then
  /// treats the read as incomplete (no removals, cursor kept).
  virtual ReadResult read(const ReadRequest& request, Emitter& out) = 0;
  /// Checks credentials and permissions with the smallest reads possible.
  /// Returns lines describing what was checked; throws on the first failure.
  virtual std::vector<std::string> test_connection() = 0;

  /// Push-shaped sources (the SCIM endpoint) only: listens until `stop` is
  /// set. Each change is made durable in the source's own log before it is
  /// acknowledged, then `on_change` is called; the host answers with an
  /// incremental `read` from its cursor, so pushed changes follow the same
  /// path (and the same crash-safety) as pulled ones. Pull sources keep the
  /// default, which says they cannot serve.
  virtual bool can_serve() const { return false; }
  virtual void serve(const std::atomic<bool>& stop, const std::function<void()>& on_change) {
    (void)stop;
    (void)on_change;
    throw Error(ErrorKind::config, "this source cannot serve; use `dirsync run`");
  }
};

// ----------------------------------------------------------------- sinks ---

enum class OpKind : std::uint8_t { create, update, disable, remove };
std::string_view to_string(OpKind kind);

/// A target attribute the pipeline writes and its declared type.
enum class TargetType : std::uint8_t { string, boolean, integer, datetime, list, reference, any };

struct TargetSchema {
  ObjectType type = ObjectType::user;
  std::vector<std::pair<std::string, TargetType>> attributes;
};

struct Operation {
  OpKind kind = OpKind::create;
  ObjectType type = ObjectType::user;
  std::string source_id;
  std::string target_id;   ///< empty on create: the sink assigns it
  /// create: every mapped attribute; update/disable: only changed ones
  /// (Null clears). Reference-typed values hold target ids.
  Object attributes;
  std::vector<std::string> members_add;     ///< groups: target ids
  std::vector<std::string> members_remove;  ///< groups: target ids
};

struct OpResult {
  bool ok = false;
  std::string target_id;   ///< set on create
  std::string error;       ///< per-object failure, shown in the sync log
};

class Sink {
 public:
  virtual ~Sink() = default;
  /// Called once per run before any other call: create tables, bind, etc.
  virtual void prepare(const std::vector<TargetSchema>& schema) = 0;
  /// Target ids of objects whose `attribute` equals `value` (matching).
  virtual std::vector<std::string> find(ObjectType type, const std::string& attribute,
                                        const Value& value, bool ignore_case) = 0;
  /// Applies one batch; results[i] answers ops[i]. A per-object failure is a
  /// result, not an exception; throw only when the sink itself is unusable
  /// (Error(connection)). The batch is durable when apply returns.
  virtual void apply(std::span<const Operation> ops, std::span<OpResult> results) = 0;
  virtual std::vector<std::string> test_connection() = 0;
  /// True only when the sink knows, cheaply, that it holds no object of this
  /// type (called after prepare). A first sync into an empty target then
  /// matches in memory instead of asking find() once per match key per object,
  /// which on a million users is most of the sink's work. The default, false,
  /// means "unknown" and is always safe.
  virtual bool is_empty(ObjectType type) {
    (void)type;
    return false;
  }
  /// After a run's last apply, whether the run succeeded or not (not after
  /// a dry run): the place to build what a bulk load deferred, such as an
  /// index whose maintenance row by row costs more than one build at the end.
  /// The next run's prepare() must cope with a finish() that never came.
  virtual void finish() {}
};

// ------------------------------------------------------------ descriptor ---

enum class PluginKind : std::uint8_t { source, sink };
std::string_view to_string(PluginKind kind);

struct PluginDescriptor {
  std::uint32_t abi_version = kAbiVersion;  // must stay first: read before anything else
  std::string name;                          ///< the `type:` users write in YAML
  PluginKind kind = PluginKind::source;
  std::string version;
  std::string summary;                       ///< one line for `dirsync plugins`
  std::vector<ConfigField> schema;
  std::function<std::unique_ptr<Source>(const PluginContext&)> make_source;
  std::function<std::unique_ptr<Sink>(const PluginContext&)> make_sink;
  /// Sources only: may emit Record::partial (delta) records. The host then
  /// keeps every object's last full source state to merge them with; a source
  /// that always sends whole objects sets false and saves that write.
  bool partial_records = true;
};

using PluginEntryPoint = const PluginDescriptor*();

}  // namespace dirsync

/// Exports `fn` (a `const dirsync::PluginDescriptor* fn()`) as the plugin's
/// entry point. Use once per shared library.
#define DIRSYNC_PLUGIN(fn) BOOST_DLL_ALIAS(fn, dirsync_plugin)
