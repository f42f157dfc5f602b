// Placeholder until the expression engine lands: supports only "[attribute]"
// and "\"string\"" literals.
#include "expression/expression.hpp"

namespace dirsync::expr {

class Node {
 public:
  bool is_attribute = false;
  std::string text;
};

Expression Expression::parse(std::string_view text) {
  Expression e;
  auto node = std::make_shared<Node>();
  auto attrs = std::make_shared<std::vector<std::string>>();
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    node->is_attribute = true;
    node->text = std::string(text.substr(1, text.size() - 2));
    attrs->push_back(node->text);
  } else if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    node->text = std::string(text.substr(1, text.size() - 2));
  } else {
    throw ParseError(0, "unsupported expression");
  }
  e.root_ = node;
  e.attributes_ = attrs;
  e.text_ = std::make_shared<std::string>(text);
  return e;
}

std::optional<Value> Expression::evaluate(const Object& attributes, const EvalHooks*) const {
  if (!root_->is_attribute) return Value(root_->text);
  const Value* v = lookup_path(attributes, root_->text);
  return v ? *v : Value();
}

const std::vector<std::string>& Expression::attributes() const { return *attributes_; }
const std::string& Expression::text() const { return *text_; }

}  // namespace dirsync::expr
