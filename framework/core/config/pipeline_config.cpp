#include "config/pipeline_config.hpp"

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

namespace dirsync {

namespace fs = std::filesystem;

namespace {

/// Carries the file's text so errors can quote the offending line.
struct Doc {
  fs::path file;
  std::vector<std::string> lines;

  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& message) const {
    std::ostringstream out;
    if (mark.is_null()) {
      out << file.string() << ": error: " << message;
      throw Error(ErrorKind::config, out.str());
    }
    out << file.string() << ':' << mark.line + 1 << ':' << mark.column + 1 << ": error: " << message;
    if (mark.line >= 0 && static_cast<std::size_t>(mark.line) < lines.size()) {
      out << "\n  " << lines[static_cast<std::size_t>(mark.line)] << "\n  "
          << std::string(static_cast<std::size_t>(std::max(mark.column, 0)), ' ') << '^';
    }
    throw Error(ErrorKind::config, out.str());
  }
};

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

/// Checks that `node` is a map whose keys are all in `allowed`.
void check_keys(const Doc& doc, const YAML::Node& node, const std::string& where,
                const std::vector<std::string>& allowed) {
  if (!node.IsMap()) doc.fail(node.Mark(), where + " must be a mapping");
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = it->first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string hint = did_you_mean(key, allowed);
    doc.fail(it->first.Mark(), "unknown key '" + key + "' in " + where +
                                   (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
}

std::string scalar(const Doc& doc, const YAML::Node& node, const std::string& what) {
  if (!node.IsScalar()) doc.fail(node.Mark(), what + " must be a string");
  return node.Scalar();
}

bool boolean(const Doc& doc, const YAML::Node& node, const std::string& what) {
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    if (s == "true" || s == "True" || s == "yes") return true;
    if (s == "false" || s == "False" || s == "no") return false;
  }
  doc.fail(node.Mark(), what + " must be true or false");
}

Value generic_value(const YAML::Node& node) { return yaml_to_value(node); }

const std::regex& reference_pattern() {
  static const std::regex pattern(R"(\$\{([a-z]+):([^}]*)\})");
  return pattern;
}

/// Checks reference syntax without resolving: ${env:NAME} or ${file:PATH}.
void check_references(const Doc& doc, const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) {
    if (node.IsSequence() || node.IsMap())
      for (auto it = node.begin(); it != node.end(); ++it)
        check_references(doc, node.IsMap() ? it->second : *it, key);
    return;
  }
  const std::string& s = node.Scalar();
  std::size_t pos = 0;
  while ((pos = s.find("${", pos)) != std::string::npos) {
    std::smatch m;
    std::string rest = s.substr(pos);
    if (!std::regex_search(rest, m, reference_pattern(), std::regex_constants::match_continuous) ||
        (m[1] != "env" && m[1] != "file") || m[2].length() == 0) {
      doc.fail(node.Mark(), "bad secret reference in '" + key + "': expected ${env:NAME} or ${file:PATH}");
    }
    pos += static_cast<std::size_t>(m.length(0));
  }
}

std::string resolve_references(const Doc& doc, const YAML::Node& node, const std::string& key,
                               const fs::path& base_dir, Redactor* redactor) {
  std::string text = node.Scalar();
  std::string out;
  std::size_t last = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), reference_pattern()), end; it != end; ++it) {
    const auto& m = *it;
    out.append(text, last, static_cast<std::size_t>(m.position(0)) - last);
    last = static_cast<std::size_t>(m.position(0) + m.length(0));
    std::string name = m[2];
    if (m[1] == "env") {
      const char* v = std::getenv(name.c_str());
      if (!v) doc.fail(node.Mark(), "environment variable " + name + " is not set (referenced by '" + key + "')");
      out += v;
    } else {
      fs::path p = fs::path(name).is_absolute() ? fs::path(name) : base_dir / name;
      std::ifstream in(p, std::ios::binary);
      if (!in) doc.fail(node.Mark(), "cannot read secret file " + p.string() + " (referenced by '" + key + "')");
      std::stringstream ss;
      ss << in.rdbuf();
      std::string content = ss.str();
      while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
      // File contents are treated as secret whatever the field: that is what
      // ${file:} is for.
      if (redactor) redactor->add(content);
      out += content;
    }
  }
  out.append(text, last, std::string::npos);
  return out;
}

Doc doc_for(const PipelineConfig& config) {
  Doc doc{config.file, {}};
  std::ifstream in(config.file);
  std::stringstream ss;
  ss << in.rdbuf();
  doc.lines = split_lines(ss.str());
  return doc;
}

std::vector<std::vector<scope::Clause>> parse_scope(const Doc& doc, const YAML::Node& node, const std::string& where,
                                                    std::vector<std::vector<YAML::Mark>>& marks) {
  if (!node.IsSequence()) doc.fail(node.Mark(), where + ".scope must be a list of filters (each a list of clauses)");
  std::vector<YAML::Node> filters;
  // A flat list of clauses is one filter: the common case reads better that way.
  if (node.size() > 0 && node[0].IsMap()) {
    filters.push_back(node);
  } else {
    for (const auto& f : node) filters.push_back(f);
  }
  std::vector<std::vector<scope::Clause>> out;
  for (std::size_t i = 0; i < filters.size(); ++i) {
    const YAML::Node& f = filters[i];
    if (!f.IsSequence()) doc.fail(f.Mark(), where + ".scope filter must be a list of clauses");
    std::vector<scope::Clause> clauses;
    std::vector<YAML::Mark> clause_marks;
    for (const auto& c : f) {
      check_keys(doc, c, where + ".scope clause", {"attribute", "operator", "value", "ignore_case", "quantifier"});
      scope::Clause clause;
      if (c["attribute"]) clause.attribute = scalar(doc, c["attribute"], "attribute");
      if (!c["operator"]) doc.fail(c.Mark(), "missing key 'operator' in " + where + ".scope clause");
      clause.op = scalar(doc, c["operator"], "operator");
      if (c["value"]) clause.value = generic_value(c["value"]);
      if (c["ignore_case"]) clause.ignore_case = boolean(doc, c["ignore_case"], "ignore_case");
      if (c["quantifier"]) clause.quantifier = scalar(doc, c["quantifier"], "quantifier");
      clauses.push_back(std::move(clause));
      clause_marks.push_back(c.Mark());
    }
    out.push_back(std::move(clauses));
    marks.push_back(std::move(clause_marks));
  }
  return out;
}

mapping::AttributeMapping parse_mapping(const Doc& doc, const YAML::Node& m, const std::string& where) {
  check_keys(doc, m, where + " mapping",
             {"target", "source", "constant", "expression", "default", "default_if_null", "apply", "type"});
  mapping::AttributeMapping out;
  if (!m["target"]) doc.fail(m.Mark(), "missing key 'target' in " + where + " mapping");
  out.target = scalar(doc, m["target"], "target");
  int kinds = (m["source"] ? 1 : 0) + (m["constant"] ? 1 : 0) + (m["expression"] ? 1 : 0);
  if (kinds > 1)
    doc.fail(m.Mark(), "mapping for '" + out.target + "' has more than one of 'source', 'constant', 'expression'");
  if (kinds == 0 && !m["default"])
    doc.fail(m.Mark(), "mapping for '" + out.target + "' needs one of 'source', 'constant', 'expression' or 'default'");
  if (m["source"]) {
    out.kind = mapping::Kind::direct;
    out.source = scalar(doc, m["source"], "source");
  } else if (m["constant"]) {
    out.kind = mapping::Kind::constant;
    out.constant = generic_value(m["constant"]);
  } else if (m["expression"]) {
    out.kind = mapping::Kind::expression;
    const YAML::Node& e = m["expression"];
    std::string text = scalar(doc, e, "expression");
    try {
      out.expression = expr::Expression::parse(text);
    } catch (const expr::ParseError& error) {
      // Point at the bad token: inside plain or quoted one-line scalars the
      // text starts right after the quote, if any.
      YAML::Mark mark = e.Mark();
      std::size_t line = static_cast<std::size_t>(std::max(mark.line, 0));
      bool quoted = line < doc.lines.size() && mark.column >= 0 &&
                    static_cast<std::size_t>(mark.column) < doc.lines[line].size() &&
                    (doc.lines[line][static_cast<std::size_t>(mark.column)] == '\'' ||
                     doc.lines[line][static_cast<std::size_t>(mark.column)] == '"');
      if (text.find('\n') == std::string::npos)
        mark.column += static_cast<int>(error.offset()) + (quoted ? 1 : 0);
      doc.fail(mark, "in expression for '" + out.target + "': " + error.what());
    }
  } else {
    out.kind = mapping::Kind::none;
  }
  if (m["default"]) out.default_value = generic_value(m["default"]);
  if (m["default_if_null"]) out.default_if_null = boolean(doc, m["default_if_null"], "default_if_null");
  if (m["apply"]) {
    std::string apply = scalar(doc, m["apply"], "apply");
    if (apply == "always") out.apply = mapping::Apply::always;
    else if (apply == "on_create") out.apply = mapping::Apply::on_create;
    else doc.fail(m["apply"].Mark(), "apply must be 'always' or 'on_create', not '" + apply + "'");
  }
  if (m["type"]) {
    try {
      out.type = mapping::target_type_from_string(scalar(doc, m["type"], "type"));
    } catch (const std::invalid_argument& e) {
      doc.fail(m["type"].Mark(), e.what());
    }
  }
  return out;
}

template <typename E>
E parse_enum(const Doc& doc, const YAML::Node& node, const std::string& key,
             const std::vector<std::pair<std::string, E>>& choices) {
  std::string text = scalar(doc, node, key);
  std::vector<std::string> names;
  for (const auto& [name, value] : choices) {
    if (name == text) return value;
    names.push_back(name);
  }
  std::string all;
  for (const auto& n : names) all += (all.empty() ? "" : " | ") + n;
  doc.fail(node.Mark(), key + " must be one of " + all + ", not '" + text + "'");
}

ObjectPolicy parse_policy(const Doc& doc, const YAML::Node& node, ObjectType type, std::string& hash_input) {
  std::string where = type == ObjectType::user ? "users" : "groups";
  std::vector<std::string> keys{"scope", "match", "mappings", "on_missing", "on_out_of_scope", "ownership",
                                "disable"};
  if (type == ObjectType::group) keys.push_back("members");
  check_keys(doc, node, where, keys);
  ObjectPolicy p;
  p.enabled = true;
  if (node["scope"]) {
    std::vector<std::vector<YAML::Mark>> marks;
    auto filters = parse_scope(doc, node["scope"], where, marks);
    try {
      p.scope = scope::ScopeFilter::compile(filters);
    } catch (const scope::ClauseError& e) {
      YAML::Mark mark = node["scope"].Mark();
      if (e.filter() < marks.size() && e.clause() < marks[e.filter()].size()) mark = marks[e.filter()][e.clause()];
      doc.fail(mark, where + ".scope filter " + std::to_string(e.filter() + 1) + " clause " +
                         std::to_string(e.clause() + 1) + ", '" + e.field() + "': " + e.what());
    }
    hash_input += YAML::Dump(node["scope"]);
  }
  if (node["match"]) {
    if (!node["match"].IsSequence()) doc.fail(node["match"].Mark(), where + ".match must be a list");
    for (const auto& m : node["match"]) {
      check_keys(doc, m, where + ".match key", {"target", "source", "ignore_case"});
      if (!m["target"] || !m["source"])
        doc.fail(m.Mark(), where + ".match key needs both 'target' and 'source'");
      p.match.push_back({scalar(doc, m["target"], "target"), scalar(doc, m["source"], "source"),
                         m["ignore_case"] ? boolean(doc, m["ignore_case"], "ignore_case") : false});
    }
    hash_input += YAML::Dump(node["match"]);
  }
  if (!node["mappings"] || !node["mappings"].IsSequence() || node["mappings"].size() == 0)
    doc.fail(node["mappings"] ? node["mappings"].Mark() : node.Mark(),
             where + ".mappings must be a non-empty list of attribute mappings");
  std::vector<mapping::AttributeMapping> mappings;
  std::vector<std::string> targets;
  for (const auto& m : node["mappings"]) {
    auto mapping = parse_mapping(doc, m, where);
    if (std::find(targets.begin(), targets.end(), mapping.target) != targets.end())
      doc.fail(m.Mark(), "target attribute '" + mapping.target + "' is mapped twice");
    targets.push_back(mapping.target);
    mappings.push_back(std::move(mapping));
  }
  hash_input += YAML::Dump(node["mappings"]);
  for (const auto& key : p.match)
    if (std::find(targets.begin(), targets.end(), key.target) == targets.end())
      doc.fail(node["match"].Mark(), "match target '" + key.target + "' is not a mapped target attribute");
  p.mapper = mapping::Mapper(std::move(mappings));
  if (node["on_missing"])
    p.on_missing = parse_enum<OnMissing>(doc, node["on_missing"], "on_missing",
                                         {{"ignore", OnMissing::ignore}, {"disable", OnMissing::disable},
                                          {"delete", OnMissing::remove}});
  if (node["on_out_of_scope"])
    p.on_out_of_scope = parse_enum<OnOutOfScope>(doc, node["on_out_of_scope"], "on_out_of_scope",
                                                 {{"keep", OnOutOfScope::keep}, {"disable", OnOutOfScope::disable},
                                                  {"delete", OnOutOfScope::remove}});
  if (node["ownership"])
    p.ownership = parse_enum<Ownership>(doc, node["ownership"], "ownership",
                                        {{"any_matched", Ownership::any_matched},
                                         {"created_by_pipeline", Ownership::created_by_pipeline}});
  if (node["members"]) p.members = boolean(doc, node["members"], "members");
  if (node["disable"]) {
    check_keys(doc, node["disable"], where + ".disable", {"set"});
    Value set = generic_value(node["disable"]["set"]);
    if (!set.is_object()) doc.fail(node["disable"].Mark(), where + ".disable.set must be a mapping of attributes");
    p.disable_set = set.as_object();
  }
  return p;
}

PluginSection parse_plugin_section(const Doc& doc, const YAML::Node& root, const std::string& key) {
  const YAML::Node& node = root[key];
  if (!node) doc.fail(root.Mark(), "missing key '" + key + "'");
  if (!node.IsMap()) doc.fail(node.Mark(), key + " must be a mapping with a 'type'");
  if (!node["type"]) doc.fail(node.Mark(), "missing key 'type' in " + key);
  PluginSection s;
  s.type = scalar(doc, node["type"], key + ".type");
  s.node = node;
  for (auto it = node.begin(); it != node.end(); ++it) check_references(doc, it->second, key + "." + it->first.Scalar());
  return s;
}

PipelineConfig parse(const Doc& doc, const YAML::Node& root) {
  if (!root.IsMap()) doc.fail(root.Mark(), "a pipeline file must be a mapping");
  check_keys(doc, root, "the pipeline",
             {"version", "name", "description", "source", "sink", "state", "schedule", "users", "groups", "safety"});
  PipelineConfig c;
  c.file = doc.file;
  if (!root["version"]) doc.fail(root.Mark(), "missing key 'version' (write 'version: 1')");
  if (scalar(doc, root["version"], "version") != "1")
    doc.fail(root["version"].Mark(), "unsupported version '" + root["version"].Scalar() + "' (this dirsync reads 1)");
  if (!root["name"]) doc.fail(root.Mark(), "missing key 'name'");
  c.name = scalar(doc, root["name"], "name");
  static const std::regex name_pattern("[A-Za-z0-9][A-Za-z0-9_.-]*");
  if (!std::regex_match(c.name, name_pattern))
    doc.fail(root["name"].Mark(), "name may contain only letters, digits, '_', '.' and '-'");
  if (root["description"]) c.description = scalar(doc, root["description"], "description");
  c.source = parse_plugin_section(doc, root, "source");
  c.sink = parse_plugin_section(doc, root, "sink");
  fs::path base = fs::absolute(doc.file).parent_path();
  c.state_path = base / (c.name + ".state.db");
  if (root["state"]) {
    check_keys(doc, root["state"], "state", {"path"});
    if (root["state"]["path"]) {
      fs::path p = scalar(doc, root["state"]["path"], "state.path");
      c.state_path = p.is_absolute() ? p : base / p;
    }
  }
  if (root["schedule"]) {
    check_keys(doc, root["schedule"], "schedule", {"every"});
    if (root["schedule"]["every"]) {
      auto ms = parse_duration_ms(scalar(doc, root["schedule"]["every"], "schedule.every"));
      if (!ms || *ms <= 0)
        doc.fail(root["schedule"]["every"].Mark(), "schedule.every must be a duration like 40m, 30s or 1h");
      c.schedule_every_ms = *ms;
    }
  }
  std::string hash_input;
  if (root["users"]) c.users = parse_policy(doc, root["users"], ObjectType::user, hash_input);
  hash_input += "\x1f";
  if (root["groups"]) c.groups = parse_policy(doc, root["groups"], ObjectType::group, hash_input);
  if (!c.users.enabled && !c.groups.enabled) doc.fail(root.Mark(), "the pipeline syncs nothing: add 'users' or 'groups'");
  if (root["safety"]) {
    check_keys(doc, root["safety"], "safety", {"max_deletions"});
    if (const auto& md = root["safety"]["max_deletions"]) {
      std::string text = scalar(doc, md, "safety.max_deletions");
      try {
        std::size_t used = 0;
        if (!text.empty() && text.back() == '%') {
          c.safety.max_deletions_percent = std::stod(text.substr(0, text.size() - 1), &used);
          if (used != text.size() - 1) throw std::invalid_argument("");
        } else {
          c.safety.max_deletions = std::stoll(text, &used);
          if (used != text.size()) throw std::invalid_argument("");
        }
      } catch (const std::exception&) {
        doc.fail(md.Mark(), "safety.max_deletions must be a count (50) or a percentage (5%), not '" + text + "'");
      }
    }
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(stable_hash(Value(hash_input))));
  c.config_hash = hex;
  return c;
}

PipelineConfig load(const std::string& text, const fs::path& path) {
  Doc doc{path, split_lines(text)};
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    doc.fail(e.mark, "malformed YAML: " + e.msg);
  }
  return parse(doc, root);
}

Value typed_setting(const Doc& doc, const YAML::Node& node, const ConfigField& field, const std::string& text) {
  const std::string where = "'" + field.key + "'";
  switch (field.type) {
    case FieldType::string: return Value(text);
    case FieldType::integer:
      try {
        std::size_t used = 0;
        std::int64_t v = std::stoll(text, &used);
        if (used == text.size()) return Value(v);
      } catch (...) {
      }
      doc.fail(node.Mark(), where + " must be an integer, not '" + (field.secret ? "***" : text) + "'");
    case FieldType::boolean:
      if (text == "true" || text == "True") return Value(true);
      if (text == "false" || text == "False") return Value(false);
      doc.fail(node.Mark(), where + " must be true or false");
    case FieldType::duration: {
      auto ms = parse_duration_ms(text);
      if (!ms) doc.fail(node.Mark(), where + " must be a duration like 30s, 5m or 250ms, not '" + text + "'");
      return Value(*ms);
    }
    default: return Value(text);
  }
}

}  // namespace

std::vector<std::string> ObjectPolicy::source_attributes() const {
  std::vector<std::string> out = mapper.source_attributes();
  for (const auto& a : scope.attributes()) out.push_back(a);
  for (const auto& m : match) out.push_back(m.source);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

PipelineConfig load_pipeline(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::config, path.string() + ": error: cannot open pipeline file");
  std::stringstream ss;
  ss << in.rdbuf();
  return load(ss.str(), path);
}

PipelineConfig load_pipeline_text(const std::string& text, const fs::path& path) { return load(text, path); }

Settings plugin_settings(const PipelineConfig& config, const PluginSection& section, const PluginDescriptor& plugin,
                         bool resolve_secrets, Redactor* redactor) {
  Doc doc = doc_for(config);
  if (doc.lines.empty()) doc.lines = {};
  const std::string where = std::string(to_string(plugin.kind)) + " '" + plugin.name + "'";
  std::vector<std::string> keys{"type"};
  for (const auto& f : plugin.schema) keys.push_back(f.key);
  check_keys(doc, section.node, where, keys);
  fs::path base = fs::absolute(config.file).parent_path();
  Object values;
  for (const ConfigField& field : plugin.schema) {
    const YAML::Node& node = section.node[field.key];
    if (!node || node.IsNull()) {
      if (field.required)
        doc.fail(section.node.Mark(), "missing key '" + field.key + "' in " + where + " (" + field.doc + ")");
      if (!field.default_value.empty())
        values.set(field.key, typed_setting(doc, section.node, field, field.default_value));
      continue;
    }
    if (field.secret && node.IsScalar() && node.Scalar().find("${") == std::string::npos && redactor) {
      // An inline secret still works, but it is registered for redaction at once.
      redactor->add(node.Scalar());
    }
    auto resolve = [&](const YAML::Node& n) {
      std::string text = n.Scalar();
      if (resolve_secrets && text.find("${") != std::string::npos)
        text = resolve_references(doc, n, field.key, base, redactor);
      if (field.secret && redactor) redactor->add(text);
      return text;
    };
    switch (field.type) {
      case FieldType::list: {
        if (!node.IsSequence() && !node.IsScalar()) doc.fail(node.Mark(), "'" + field.key + "' must be a list");
        List list;
        if (node.IsScalar()) {
          list.push_back(Value(resolve(node)));
        } else {
          for (const auto& item : node) {
            if (!item.IsScalar()) doc.fail(item.Mark(), "'" + field.key + "' must be a list of strings");
            list.push_back(Value(resolve(item)));
          }
        }
        values.set(field.key, Value(std::move(list)));
        break;
      }
      case FieldType::object:
        if (!node.IsMap()) doc.fail(node.Mark(), "'" + field.key + "' must be a mapping");
        values.set(field.key, generic_value(node));
        break;
      case FieldType::any: values.set(field.key, generic_value(node)); break;
      default:
        if (!node.IsScalar()) doc.fail(node.Mark(), "'" + field.key + "' must be a " + std::string(to_string(field.type)));
        values.set(field.key, typed_setting(doc, node, field, resolve(node)));
    }
  }
  return Settings(std::move(values));
}

Value yaml_to_value(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return {};
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "?") {
        if (s == "true" || s == "True") return Value(true);
        if (s == "false" || s == "False") return Value(false);
        if (s == "null" || s == "~") return {};
        if (!s.empty() && s.find_first_not_of("-0123456789") == std::string::npos && s != "-") {
          try {
            return Value(std::int64_t(std::stoll(s)));
          } catch (...) {
          }
        }
      }
      return Value(s);
    }
    case YAML::NodeType::Sequence: {
      List list;
      for (const auto& item : node) list.push_back(yaml_to_value(item));
      return Value(std::move(list));
    }
    case YAML::NodeType::Map: {
      Object object;
      for (auto it = node.begin(); it != node.end(); ++it) object.set(it->first.Scalar(), yaml_to_value(it->second));
      return Value(std::move(object));
    }
  }
  return {};
}

std::optional<std::int64_t> parse_duration_ms(std::string_view text) {
  static const std::regex pattern(R"(^\s*(\d+)\s*(ms|s|m|h|d)?\s*$)");
  std::string s(text);
  std::smatch m;
  if (!std::regex_match(s, m, pattern)) return std::nullopt;
  std::int64_t n = std::stoll(m[1]);
  std::string unit = m[2];
  if (unit == "ms") return n;
  if (unit.empty() || unit == "s") return n * 1000;
  if (unit == "m") return n * 60'000;
  if (unit == "h") return n * 3'600'000;
  return n * 86'400'000;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

}  // namespace dirsync
