// The `file` source: users and groups from JSON Lines or CSV exports.
//
// This is the SDK's worked example (docs/connectors/file.md walks through it): a source plugin
// is a descriptor (name, config schema, factory) plus a class implementing dirsync::Source.
//
// Guarantees:
// - Streams: one line (or one CSV record) in memory at a time, whatever the file size.
// - Either the whole file is read and ReadResult::complete is true, or read() throws an
//   Error(input) naming file:line. The host then removes nothing, so a truncated or corrupt
//   export can never make objects look deleted.
// - Values: JSON Lines keep their JSON types. CSV values stay strings (the pipeline's mappings
//   convert them to the target types); an empty field is null, a quoted empty field ("") is an
//   empty string. A dotted header such as name.givenName becomes a nested object.
#include <dirsync/plugin.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

using namespace dirsync;
namespace fs = std::filesystem;

enum class Format { csv, jsonl };

// An Error(input) pointing at one line of one file; every bad-data message goes through here.
[[noreturn]] void bad_input(const std::string& file, std::size_t line, const std::string& what) {
  throw Error(ErrorKind::input, file + ":" + std::to_string(line) + ": " + what);
}

// One export file, opened lazily and read line by line. `name` is the path as the user wrote
// it in the pipeline, which is what error messages should show.
class LineReader {
 public:
  LineReader(const fs::path& path, std::string name) : name_(std::move(name)), in_(path, std::ios::binary) {
    if (!in_) throw Error(ErrorKind::connection, "cannot open " + name_ + ": " + std::strerror(errno));
  }
  // Reads the next line without its line ending (LF or CRLF). False at end of file.
  bool next(std::string& line) {
    if (!std::getline(in_, line)) {
      if (in_.bad()) throw Error(ErrorKind::read, "reading " + name_ + " failed at line " + std::to_string(number_));
      return false;
    }
    ++number_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // Excel and PowerShell start UTF-8 exports with a byte-order mark.
    if (number_ == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
    return true;
  }
  std::size_t number() const { return number_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::ifstream in_;
  std::size_t number_ = 0;
};

// ------------------------------------------------------------------ CSV ---

// One CSV field: text, or null for an empty unquoted field.
struct Field {
  std::string text;
  bool null = false;
};

// RFC 4180 records: fields separated by `delimiter`, optionally in double quotes; inside quotes
// the delimiter and line breaks are data and "" is one quote. Returns false at end of file.
// `first_line` receives the line the record starts on, for messages.
bool read_csv_record(LineReader& in, char delimiter, std::vector<Field>& fields, std::size_t& first_line) {
  std::string line;
  do {
    if (!in.next(line)) return false;
  } while (line.empty());  // blank lines (often a trailing one) are not records
  first_line = in.number();
  fields.clear();
  fields.emplace_back();
  bool quoted = false;       // inside a quoted field
  bool was_quoted = false;   // the current field had quotes (so "" is an empty string, not null)
  for (std::size_t i = 0;; ++i) {
    if (i == line.size()) {
      if (!quoted) break;
      // A line break inside quotes belongs to the field: continue with the next line.
      if (!in.next(line)) bad_input(in.name(), first_line, "quoted field is not closed before the end of the file");
      fields.back().text += '\n';
      i = std::size_t(-1);
      continue;
    }
    char c = line[i];
    Field& field = fields.back();
    if (quoted) {
      if (c != '"') {
        field.text += c;
      } else if (i + 1 < line.size() && line[i + 1] == '"') {
        field.text += '"';
        ++i;
      } else {
        quoted = false;
        if (i + 1 < line.size() && line[i + 1] != delimiter)
          bad_input(in.name(), in.number(), "unexpected text after the closing quote of field " +
                                                std::to_string(fields.size()));
      }
    } else if (c == delimiter) {
      field.null = field.text.empty() && !was_quoted;
      fields.emplace_back();
      was_quoted = false;
    } else if (c == '"' && field.text.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else {
      field.text += c;
    }
  }
  fields.back().null = fields.back().text.empty() && !was_quoted;
  return true;
}

// Sets attributes[path] where path is a header split at dots, creating nested objects.
void set_path(Object& attributes, const std::vector<std::string>& path, Value value) {
  Object* object = &attributes;
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    Value* child = object->find(path[i]);
    if (!child) {
      object->set(path[i], Object{});
      child = object->find(path[i]);
    }
    object = &child->as_object();  // the header check guarantees an object here
  }
  object->set(path.back(), std::move(value));
}

// A CSV header cell: where its values go.
struct Column {
  std::vector<std::string> path;  // header split at dots
  enum { attribute, id, members } role = attribute;
};

// ------------------------------------------------------------- settings ---

struct FileSettings {
  std::string id_column;
  std::string members_column;
  char delimiter = ',';
};

Format format_of(const std::string& name, const std::string& configured) {
  if (configured == "csv") return Format::csv;
  if (configured == "jsonl") return Format::jsonl;
  if (configured != "auto")
    throw Error(ErrorKind::config, "file source: format is '" + configured + "', expected auto, csv or jsonl");
  std::string ext = fs::path(name).extension().string();
  if (ext == ".csv") return Format::csv;
  if (ext == ".jsonl" || ext == ".ndjson") return Format::jsonl;
  throw Error(ErrorKind::config, "file source: cannot tell the format of " + name +
                                     " from its extension (expected .csv, .jsonl or .ndjson); set `format`");
}

// One configured export (the users file or the groups file).
struct Export {
  ObjectType type;
  std::string name;  // as written in the pipeline
  fs::path path;     // resolved against the pipeline's folder
  Format format;
};

// --------------------------------------------------------------- source ---

class FileSource final : public Source {
 public:
  // The factory's job: read settings (already validated against the schema) and fail early on
  // values the schema cannot express. No I/O here; the files are opened by read().
  explicit FileSource(const PluginContext& ctx) {
    const Settings& s = ctx.settings;
    std::string format = s.string("format", "auto");
    auto add = [&](ObjectType type, const std::string& key) {
      std::string name = s.string(key);
      if (name.empty()) return;
      fs::path path = name;
      exports_.push_back({type, name, path.is_relative() ? ctx.base_dir / path : path, format_of(name, format)});
    };
    add(ObjectType::user, "users");
    add(ObjectType::group, "groups");
    settings_.id_column = s.string("id_column", "id");
    settings_.members_column = s.string("members_column", "members");
    std::string delimiter = s.string("delimiter", ",");
    if (delimiter.size() != 1 || delimiter == "\"" || delimiter == "\n")
      throw Error(ErrorKind::config, "file source: delimiter is '" + delimiter + "', expected one character");
    settings_.delimiter = delimiter[0];
  }

  ReadResult read(const ReadRequest& request, Emitter& out) override {
    // Reporting an empty but complete group list would let the host delete every group.
    bool has_groups = std::any_of(exports_.begin(), exports_.end(),
                                  [](const Export& e) { return e.type == ObjectType::group; });
    if (request.groups && !has_groups)
      throw Error(ErrorKind::config, "the pipeline syncs groups but the file source has no `groups` file");
    for (const Export& e : exports_) {
      bool wanted = e.type == ObjectType::user ? request.users : request.groups;
      if (!wanted) continue;
      if (e.format == Format::csv)
        read_csv(e, out);
      else
        read_jsonl(e, out);
    }
    ReadResult result;
    result.complete = true;  // only reached when every line was read and emitted
    result.mode = ReadMode::full;
    if (request.mode == ReadMode::incremental) result.note = "file source always reads in full";
    return result;
  }

  std::vector<std::string> test_connection() override {
    std::vector<std::string> lines;
    for (const Export& e : exports_) {
      LineReader in(e.path, e.name);
      std::string first;
      in.next(first);
      lines.push_back(std::string(to_string(e.type)) + "s: " + e.path.string() + " is readable (" +
                      (e.format == Format::csv ? "csv" : "jsonl") + ")");
    }
    return lines;
  }

 private:
  // A CSV file's header gives the attribute names; each later record becomes one object.
  void read_csv(const Export& e, Emitter& out) {
    LineReader in(e.path, e.name);
    std::vector<Field> header;
    std::size_t line = 0;
    if (!read_csv_record(in, settings_.delimiter, header, line)) return;  // an empty file has no objects
    std::vector<Column> columns;
    bool has_id = false;
    for (const Field& h : header) {
      Column c;
      for (std::size_t start = 0;;) {
        std::size_t dot = h.text.find('.', start);
        c.path.push_back(h.text.substr(start, dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
      }
      if (h.text == settings_.id_column) c.role = Column::id, has_id = true;
      if (h.text == settings_.members_column && e.type == ObjectType::group) c.role = Column::members;
      check_header(in.name(), line, columns, c.path);
      columns.push_back(std::move(c));
    }
    if (!has_id) bad_input(in.name(), line, "no '" + settings_.id_column + "' column in the header (set `id_column`)");

    std::vector<Field> fields;
    while (read_csv_record(in, settings_.delimiter, fields, line)) {
      if (fields.size() != columns.size())
        bad_input(in.name(), line, "row has " + std::to_string(fields.size()) + " fields, header has " +
                                       std::to_string(columns.size()));
      Change change;
      Record& r = change.record;
      r.type = e.type;
      for (std::size_t i = 0; i < fields.size(); ++i) {
        Field& f = fields[i];
        if (columns[i].role == Column::members) {
          split_members(f.text, r.members);
          continue;
        }
        if (columns[i].role == Column::id) r.id = f.text;
        set_path(r.attributes, columns[i].path, f.null ? Value() : Value(std::move(f.text)));
      }
      if (r.id.empty()) bad_input(in.name(), line, "row has an empty '" + settings_.id_column + "'");
      out.emit(std::move(change));
    }
  }

  // Two columns may not claim the same place: "name" and "name.givenName" would make "name"
  // both a string and an object.
  static void check_header(const std::string& file, std::size_t line, const std::vector<Column>& previous,
                           const std::vector<std::string>& path) {
    for (const auto& other : previous) {
      std::size_t n = std::min(other.path.size(), path.size());
      if (std::equal(path.begin(), path.begin() + long(n), other.path.begin()))
        bad_input(file, line, "column '" + join(path) + "' collides with column '" + join(other.path) + "'");
    }
  }

  static std::string join(const std::vector<std::string>& path) {
    std::string out;
    for (const std::string& p : path) out += (out.empty() ? "" : ".") + p;
    return out;
  }

  // In CSV, members are one field of ids separated by ';' (spaces around ids are ignored).
  static void split_members(const std::string& text, std::vector<std::string>& members) {
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t end = text.find(';', start);
      if (end == std::string::npos) end = text.size();
      std::size_t b = text.find_first_not_of(' ', start), e = text.find_last_not_of(' ', end - 1);
      if (b < end && e != std::string::npos && e >= b) members.push_back(text.substr(b, e - b + 1));
      start = end + 1;
    }
  }

  // JSON Lines: one object per line, attributes keep their JSON types.
  void read_jsonl(const Export& e, Emitter& out) {
    LineReader in(e.path, e.name);
    std::string line;
    while (in.next(line)) {
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      Value value;
      try {
        value = parse_json(line);
      } catch (const Error& error) {
        bad_input(in.name(), in.number(), error.what());
      }
      if (!value.is_object()) bad_input(in.name(), in.number(), "expected a JSON object");
      Change change;
      Record& r = change.record;
      r.type = e.type;
      r.attributes = std::move(value.as_object());
      const Value* id = r.attributes.find(settings_.id_column);
      if (id && (id->is_string() || id->is_integer())) r.id = id->to_string();
      if (r.id.empty()) bad_input(in.name(), in.number(), "object has no '" + settings_.id_column + "'");
      if (e.type == ObjectType::group) take_members(in, r);
      out.emit(std::move(change));
    }
  }

  void take_members(const LineReader& in, Record& r) {
    Value* members = r.attributes.find(settings_.members_column);
    if (!members) return;
    if (!members->is_list() && !members->is_null())
      bad_input(in.name(), in.number(), "'" + settings_.members_column + "' is not a list of ids");
    if (members->is_list()) {
      for (const Value& m : members->as_list()) {
        if (!m.is_string() && !m.is_integer())
          bad_input(in.name(), in.number(), "'" + settings_.members_column + "' holds a non-id value " + to_json(m));
        r.members.push_back(m.to_string());
      }
    }
    r.attributes.erase(settings_.members_column);
  }

  std::vector<Export> exports_;
  FileSettings settings_;
};

// The descriptor is what `dirsync plugins` prints and what the host validates the pipeline's
// `source:` block against before calling the factory.
const PluginDescriptor* descriptor() {
  static const PluginDescriptor d = [] {
    PluginDescriptor p;
    p.name = "file";
    p.kind = PluginKind::source;
    p.version = "1.0.0";
    p.summary = "users and groups from JSON Lines or CSV exports";
    p.schema = {
        {"users", FieldType::string, true, false, "", "users export (.csv, .jsonl or .ndjson)"},
        {"groups", FieldType::string, false, false, "", "groups export (.csv, .jsonl or .ndjson)"},
        {"format", FieldType::string, false, false, "auto", "auto (by extension), csv or jsonl"},
        {"id_column", FieldType::string, false, false, "id", "attribute holding the stable source id"},
        {"members_column", FieldType::string, false, false, "members",
         "groups: member ids (a list in JSONL, ';'-separated in CSV)"},
        {"delimiter", FieldType::string, false, false, ",", "CSV field separator (one character)"},
    };
    p.make_source = [](const PluginContext& ctx) { return std::make_unique<FileSource>(ctx); };
    p.partial_records = false;  // every row is a whole object
    return p;
  }();
  return &d;
}

}  // namespace

DIRSYNC_PLUGIN(descriptor)
