// Attribute mappings: how one target attribute is computed from a source
// object (Entra's "direct", "constant", "expression" and "none" types).
#pragma once

#include <dirsync/plugin.hpp>
#include <dirsync/value.hpp>
#include <optional>
#include <string>
#include <vector>

#include "expression/attribute_ref.hpp"
#include "expression/expression.hpp"

namespace dirsync::mapping {

enum class Kind : std::uint8_t { direct, constant, expression, none };
enum class Apply : std::uint8_t { always, on_create };

struct AttributeMapping {
  std::string target;
  Kind kind = Kind::direct;
  std::string source;                          ///< direct: source attribute path
  Value constant;                              ///< constant
  std::optional<expr::Expression> expression;  ///< expression
  Value default_value;                         ///< used when the result is null
  bool default_if_null = false;                ///< default applies on creation only
  Apply apply = Apply::always;
  TargetType type = TargetType::any;
};

/// Maps a source object to target attributes.
class Mapper {
 public:
  Mapper() = default;
  explicit Mapper(std::vector<AttributeMapping> mappings);

  /// Target attributes for `source`. `creating` selects the on_create
  /// mappings and creation-only defaults; SelectUniqueValue mappings are
  /// creation-only whatever their `apply` says. Attributes an expression asks to
  /// skip (IgnoreFlowIfNullOrEmpty) are absent from the result. Throws
  /// Error(input) naming the target when a value cannot take its target type.
  Object map(const Object& source, bool creating, const expr::EvalHooks* hooks = nullptr) const;

  /// Whether map(source, true) differs from map(source, false) only by the
  /// on_create mappings' attributes (no creation-only defaults, no
  /// SelectUniqueValue, no on_create reference, which the engine resolves):
  /// then add_creation_only() turns the one into the other, with those
  /// attributes last, and a create maps once.
  bool creation_only_adds() const;
  /// Adds the on_create mappings' attributes to `mapped`, as map(source, true)
  /// computes them.
  void add_creation_only(const Object& source, Object& mapped, const expr::EvalHooks* hooks = nullptr) const;

  const std::vector<AttributeMapping>& mappings() const { return mappings_; }
  /// Source attributes the mappings read.
  std::vector<std::string> source_attributes() const;
  /// Changes whenever what the mappings compute may change: a runner stores
  /// it and re-evaluates every object when it differs.
  std::uint64_t fingerprint() const;
  /// Target attributes with their types, for Sink::prepare.
  std::vector<std::pair<std::string, TargetType>> target_schema() const;

 private:
  void apply(std::size_t i, const Object& source, bool creating, const expr::EvalHooks* hooks, Object& out) const;

  std::vector<AttributeMapping> mappings_;
  std::vector<expr::AttributeRef> sources_;  // per mapping: the direct source, resolved fast
};

/// Converts `value` to the target type (e.g. "true" -> true for boolean,
/// "42" -> 42 for integer). Throws Error(input) when it cannot.
Value convert(const Value& value, TargetType type);
TargetType target_type_from_string(std::string_view text);  // throws std::invalid_argument
std::string_view to_string(TargetType type);

}  // namespace dirsync::mapping
