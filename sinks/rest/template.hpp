// The REST sink's template language and JSON pointers: pure functions, no I/O.
//
// A template is text with `{{ name | filter ... }}` placeholders, compiled
// once when the pipeline loads (errors name the config key). Rendering only
// substitutes values: there are no conditions, loops or calls, so a mapped
// attribute can never change the shape of a request beyond the value it
// stands for. Escaping follows where the text goes:
//   - url:    each value is percent-encoded unless `raw`, so "a/b?c" cannot
//             change the path or the query;
//   - header: values go in as they are; CR or LF fails the object;
//   - body:   values become JSON strings (escaped when serialised); a string
//             that is exactly one placeholder keeps the value's JSON type.
#pragma once

#include <dirsync/error.hpp>
#include <dirsync/value.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dirsync::rest {

/// A per-object failure: the operation's OpResult carries the message, the batch goes on.
struct ObjectFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Context { url, header, body };

/// What placeholders resolve against: the operation's attributes (by target
/// attribute name) and the `$` names the sink provides ($id, $members...).
class Vars {
 public:
  explicit Vars(const Object* attributes = nullptr) : attributes_(attributes) {}
  void set(std::string name, Value value) { specials_.set(std::move(name), std::move(value)); }
  /// nullptr when absent; `$attributes` is the attribute object itself.
  const Value* find(std::string_view name) const;

 private:
  const Object* attributes_;
  Object specials_;
  mutable std::optional<Value> all_;
};

/// Text form of a value inside a string: booleans "true"/"false", numbers in
/// decimal, null "", lists and objects as compact JSON.
std::string text_of(const Value& value);

class TextTemplate {
 public:
  TextTemplate() = default;
  /// Throws Error(config) naming `key` on a malformed placeholder.
  static TextTemplate parse(std::string_view text, const std::string& key);

  bool empty() const { return parts_.empty(); }
  /// True when some placeholder names an attribute `vars` does not hold.
  bool missing(const Vars& vars) const;
  /// The text with placeholders replaced; absent values render as "".
  /// Throws ObjectFailure for a header value with CR or LF.
  std::string render(const Vars& vars, Context context) const;
  /// When the template is exactly one placeholder without filters: its name.
  const std::string* whole() const;
  /// Every name a placeholder uses.
  std::vector<std::string> names() const;

 private:
  enum class Filter { url, lower, upper, raw, json };
  struct Part {
    bool placeholder = false;
    std::string text;  // literal text, or the name
    std::vector<Filter> filters;
  };
  std::vector<Part> parts_;
};

/// A JSON body template: YAML/JSON structure whose strings are templates.
class BodyTemplate {
 public:
  BodyTemplate() = default;
  /// `spec` is a mapping or list (from YAML), or a string holding JSON text.
  static BodyTemplate parse(const Value& spec, const std::string& key);
  bool defined() const { return root_ != nullptr; }
  /// The rendered document; nullopt when every entry referred to attributes
  /// the operation does not carry (an update with nothing for this body).
  std::optional<Value> render(const Vars& vars) const;

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
};

/// RFC 6901 JSON pointer, parsed once.
class JsonPointer {
 public:
  JsonPointer() = default;
  static JsonPointer parse(std::string_view text, const std::string& key);
  const Value* resolve(const Value& document) const;
  bool root() const { return tokens_.empty(); }

 private:
  std::vector<std::string> tokens_;
};

}  // namespace dirsync::rest
