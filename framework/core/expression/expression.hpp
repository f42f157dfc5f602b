// Entra provisioning expressions ("Join(\" \", [givenName], [surname])"),
// parsed once at load time into an immutable tree and evaluated per object.
#pragma once

#include <dirsync/error.hpp>
#include <dirsync/value.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dirsync::expr {

/// A syntax or semantic error at `offset` (bytes into the expression text).
/// The config loader turns the offset into file:line:column plus a caret.
class ParseError : public Error {
 public:
  ParseError(std::size_t offset, const std::string& message)
      : Error(ErrorKind::config, message), offset_(offset) {}
  std::size_t offset() const { return offset_; }

 private:
  std::size_t offset_;
};

/// What evaluation may ask of the outside world.
struct EvalHooks {
  /// SelectUniqueValue: true when `candidate` is not yet used for the mapping's
  /// target attribute in the sink.
  std::function<bool(const Value& candidate)> is_unique;
  /// The host's form of the same question, for Mapper: which target attribute
  /// is asked about. Mapper turns it into is_unique for each mapping.
  std::function<bool(std::string_view target, const Value& candidate)> is_unique_for;
};

class Node;

class Expression {
 public:
  /// Throws ParseError.
  static Expression parse(std::string_view text);

  /// The value, or nullopt when the expression says not to write the
  /// attribute at all (IgnoreFlowIfNullOrEmpty). `attributes` is the full,
  /// merged source object.
  std::optional<Value> evaluate(const Object& attributes, const EvalHooks* hooks = nullptr) const;

  /// Source attribute names the expression reads (for $select lists).
  const std::vector<std::string>& attributes() const;
  const std::string& text() const;

  /// The expression uses Redact(): hosts must not log its value.
  bool redacts() const { return redacts_; }
  /// The expression is SelectUniqueValue(...): hosts should pass
  /// EvalHooks::is_unique, checking candidates against the sink.
  bool selects_unique_value() const { return selects_unique_; }

  /// For hosts that know the source's attributes: throws ParseError at the
  /// first attribute that is not among `known` (a dotted path counts as known
  /// when its first step is), suggesting the closest known name.
  void check_attributes(const std::vector<std::string>& known) const;

  /// Names of the functions the engine knows, for help texts and editors.
  static std::vector<std::string_view> function_names();

 private:
  std::shared_ptr<const Node> root_;
  std::shared_ptr<const std::vector<std::string>> attributes_;
  std::shared_ptr<const std::vector<std::size_t>> attribute_offsets_;  // first use of each, in text
  std::shared_ptr<const std::string> text_;
  bool redacts_ = false;
  bool selects_unique_ = false;
};

}  // namespace dirsync::expr
