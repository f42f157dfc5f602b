#include "template.hpp"

#include <dirsync/http.hpp>

#include <algorithm>
#include <cctype>

namespace dirsync::rest {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

[[noreturn]] void bad(const std::string& key, const std::string& what) {
  throw Error(ErrorKind::config, "rest sink: '" + key + "': " + what);
}

}  // namespace

const Value* Vars::find(std::string_view name) const {
  if (name == "$attributes") {
    if (!attributes_) return nullptr;
    if (!all_) all_ = Value(*attributes_);
    return &*all_;
  }
  if (name.starts_with('$')) return specials_.find(name);
  return attributes_ ? attributes_->find(name) : nullptr;
}

std::string text_of(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::null: return {};
    case Value::Kind::boolean: return value.as_bool() ? "true" : "false";
    case Value::Kind::string: return value.as_string();
    case Value::Kind::list:
    case Value::Kind::object: return to_json(value);
    default: return value.to_string();
  }
}

TextTemplate TextTemplate::parse(std::string_view text, const std::string& key) {
  TextTemplate t;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) {
      t.parts_.push_back({false, std::string(text.substr(pos)), {}});
      break;
    }
    if (open > pos) t.parts_.push_back({false, std::string(text.substr(pos, open - pos)), {}});
    std::size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) bad(key, "'{{' at offset " + std::to_string(open) + " is never closed");
    std::string_view inner = text.substr(open + 2, close - open - 2);
    Part part;
    part.placeholder = true;
    std::size_t bar = inner.find('|');
    part.text = std::string(trim(inner.substr(0, bar)));
    if (part.text.empty()) bad(key, "empty placeholder at offset " + std::to_string(open));
    if (part.text.find_first_of("{}") != std::string::npos)
      bad(key, "placeholder '" + part.text + "' holds a brace");
    while (bar != std::string_view::npos) {
      std::size_t next = inner.find('|', bar + 1);
      std::string_view name = trim(inner.substr(bar + 1, next == std::string_view::npos ? next : next - bar - 1));
      if (name == "url") part.filters.push_back(Filter::url);
      else if (name == "lower") part.filters.push_back(Filter::lower);
      else if (name == "upper") part.filters.push_back(Filter::upper);
      else if (name == "raw") part.filters.push_back(Filter::raw);
      else if (name == "json") part.filters.push_back(Filter::json);
      else
        bad(key, "unknown filter '" + std::string(name) + "' in '{{" + std::string(inner) +
                     "}}' (expected url, lower, upper, raw or json)");
      bar = next;
    }
    t.parts_.push_back(std::move(part));
    pos = close + 2;
  }
  return t;
}

bool TextTemplate::missing(const Vars& vars) const {
  return std::any_of(parts_.begin(), parts_.end(),
                     [&](const Part& p) { return p.placeholder && vars.find(p.text) == nullptr; });
}

const std::string* TextTemplate::whole() const {
  if (parts_.size() != 1 || !parts_[0].placeholder || !parts_[0].filters.empty()) return nullptr;
  return &parts_[0].text;
}

std::vector<std::string> TextTemplate::names() const {
  std::vector<std::string> out;
  for (const Part& p : parts_)
    if (p.placeholder) out.push_back(p.text);
  return out;
}

std::string TextTemplate::render(const Vars& vars, Context context) const {
  std::string out;
  for (const Part& p : parts_) {
    if (!p.placeholder) {
      out += p.text;
      continue;
    }
    const Value* v = vars.find(p.text);
    std::string text = v ? text_of(*v) : std::string();
    bool encoded = false, raw = false;
    for (Filter f : p.filters) {
      switch (f) {
        case Filter::url:
          if (!encoded) text = http::url_encode(text);
          encoded = true;
          break;
        case Filter::lower:
          for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          break;
        case Filter::upper:
          for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          break;
        case Filter::raw: raw = true; break;
        case Filter::json: text = v ? to_json(*v) : "null"; break;
      }
    }
    if (context == Context::url && !encoded && !raw) text = http::url_encode(text);
    if (context == Context::header && text.find_first_of("\r\n") != std::string::npos)
      throw ObjectFailure("the header value rendered from '" + p.text + "' holds a line break");
    out += text;
  }
  return out;
}

// ------------------------------------------------------------------ body ---

struct BodyTemplate::Node {
  enum class Kind { literal, text, object, list } kind = Kind::literal;
  Value literal;
  TextTemplate text;
  std::vector<std::pair<std::string, Node>> members;
  std::vector<Node> items;
};

namespace {

BodyTemplate::Node build(const Value& spec, const std::string& key) {
  BodyTemplate::Node n;
  switch (spec.kind()) {
    case Value::Kind::string:
      n.kind = BodyTemplate::Node::Kind::text;
      n.text = TextTemplate::parse(spec.as_string(), key);
      break;
    case Value::Kind::object:
      n.kind = BodyTemplate::Node::Kind::object;
      for (const auto& [k, v] : spec.as_object()) n.members.emplace_back(k, build(v, key + "." + k));
      break;
    case Value::Kind::list:
      n.kind = BodyTemplate::Node::Kind::list;
      for (std::size_t i = 0; i < spec.as_list().size(); ++i)
        n.items.push_back(build(spec.as_list()[i], key + "[" + std::to_string(i) + "]"));
      break;
    default: n.literal = spec;
  }
  return n;
}

std::optional<Value> render_node(const BodyTemplate::Node& n, const Vars& vars) {
  using Kind = BodyTemplate::Node::Kind;
  switch (n.kind) {
    case Kind::literal: return n.literal;
    case Kind::text:
      if (n.text.missing(vars)) return std::nullopt;
      if (const std::string* name = n.text.whole()) return *vars.find(*name);
      return Value(n.text.render(vars, Context::body));
    case Kind::object: {
      Object out;
      bool dropped = false;
      for (const auto& [k, child] : n.members) {
        if (auto v = render_node(child, vars)) out.set(k, std::move(*v));
        else dropped = true;
      }
      if (out.empty() && dropped) return std::nullopt;
      return Value(std::move(out));
    }
    case Kind::list: {
      List out;
      bool dropped = false;
      for (const auto& child : n.items) {
        if (auto v = render_node(child, vars)) out.push_back(std::move(*v));
        else dropped = true;
      }
      if (out.empty() && dropped) return std::nullopt;
      return Value(std::move(out));
    }
  }
  return std::nullopt;
}

}  // namespace

BodyTemplate BodyTemplate::parse(const Value& spec, const std::string& key) {
  BodyTemplate t;
  if (spec.is_null()) return t;
  Value document = spec;
  if (spec.is_string()) {
    std::string_view text = trim(spec.as_string());
    if ((text.starts_with('{') && !text.starts_with("{{")) || text.starts_with('[')) {
      try {
        document = parse_json(text);
      } catch (const Error& e) {
        bad(key, std::string("not valid JSON: ") + e.what());
      }
    }
  }
  t.root_ = std::make_shared<const Node>(build(document, key));
  return t;
}

std::optional<Value> BodyTemplate::render(const Vars& vars) const {
  if (!root_) return std::nullopt;
  return render_node(*root_, vars);
}

// --------------------------------------------------------------- pointer ---

JsonPointer JsonPointer::parse(std::string_view text, const std::string& key) {
  JsonPointer p;
  if (text.empty()) return p;
  if (text.front() != '/') bad(key, "JSON pointer '" + std::string(text) + "' must be empty or start with '/'");
  std::size_t pos = 1;
  for (;;) {
    std::size_t slash = text.find('/', pos);
    std::string_view raw = text.substr(pos, slash == std::string_view::npos ? slash : slash - pos);
    std::string token;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '~') {
        token += raw[i];
        continue;
      }
      if (i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        token += raw[++i] == '0' ? '~' : '/';
      } else {
        bad(key, "JSON pointer '" + std::string(text) + "' has a '~' not followed by 0 or 1");
      }
    }
    p.tokens_.push_back(std::move(token));
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  return p;
}

const Value* JsonPointer::resolve(const Value& document) const {
  const Value* at = &document;
  for (const std::string& token : tokens_) {
    if (at->is_object()) {
      at = at->as_object().find(token);
    } else if (at->is_list()) {
      if (token.empty() || token.size() > 9 ||
          !std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return nullptr;
      std::size_t i = std::stoul(token);
      at = i < at->as_list().size() ? &at->as_list()[i] : nullptr;
    } else {
      return nullptr;
    }
    if (!at) return nullptr;
  }
  return at;
}

}  // namespace dirsync::rest
