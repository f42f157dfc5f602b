#include "graph_page.hpp"

#include <dirsync/error.hpp>

// simdjson's inlined code trips GCC 12's -Wdangling-pointer false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#include <simdjson.h>
#pragma GCC diagnostic pop

namespace dirsync::entra {

namespace od = simdjson::ondemand;

namespace {

Value convert(od::value v) {
  switch (v.type()) {
    case od::json_type::null: return {};
    case od::json_type::boolean: return Value(bool(v.get_bool()));
    case od::json_type::number:
      if (v.get_number_type() == od::number_type::signed_integer) return Value(std::int64_t(v.get_int64()));
      return Value(double(v.get_double()));
    case od::json_type::string: return Value(std::string_view(v.get_string()));
    case od::json_type::array: {
      List list;
      for (auto item : v.get_array()) list.push_back(convert(item.value()));
      return Value(std::move(list));
    }
    case od::json_type::object: {
      Object object;
      for (auto field : v.get_object()) {
        std::string_view key = field.unescaped_key();
        object.set(std::string(key), convert(field.value()));
      }
      return Value(std::move(object));
    }
  }
  return {};
}

// A members@delta entry or a member reference: {"@odata.type": "...", "id": "...", "@removed": {...}}.
struct Reference {
  std::string_view id;
  std::string_view type;
  bool removed = false;
};

Reference read_reference(od::object object) {
  Reference r;
  for (auto field : object) {
    std::string_view key = field.unescaped_key();
    if (key == "id") r.id = field.value().get_string();
    else if (key == "@odata.type") r.type = field.value().get_string();
    else if (key == "@removed") r.removed = true;  // on-demand skips what is not read
  }
  return r;
}

// Graph returns users, groups, devices, org contacts and service principals
// as members; DirSync syncs the first two.
const char* kind_of(std::string_view odata_type, ObjectType fallback, bool& supported) {
  supported = true;
  if (odata_type.empty()) return fallback == ObjectType::user ? "user" : "group";
  if (odata_type == "#microsoft.graph.user") return "user";
  if (odata_type == "#microsoft.graph.group") return "group";
  supported = false;
  return "";
}

void parse_object(od::object object, ObjectType type, bool partial, const std::function<void(Change&&)>& on_item) {
  Change change;
  change.record.type = type;
  change.record.partial = partial;
  change.record.attributes.reserve(24);
  for (auto field : object) {
    std::string_view key = field.unescaped_key();
    if (key == "@removed") {
      std::string_view reason;
      for (auto r : field.value().get_object()) {
        if (std::string_view(r.unescaped_key()) == "reason") reason = r.value().get_string();
      }
      // https://learn.microsoft.com/graph/delta-query-overview#resource-representation-in-the-delta-query-response
      // "changed": deleted but restorable; "deleted": gone for good.
      change.kind = reason == "changed" ? ChangeKind::soft_deleted : ChangeKind::deleted;
    } else if (key == "members@delta") {
      for (auto item : field.value().get_array()) {
        Reference ref = read_reference(item.get_object());
        bool supported;
        kind_of(ref.type, ObjectType::user, supported);
        if (!supported) continue;
        (ref.removed ? change.record.members_removed : change.record.members).emplace_back(ref.id);
      }
    } else if (key.starts_with("@odata.")) {
      continue;
    } else if (key == "id") {
      std::string_view id = field.value().get_string();
      change.record.id = std::string(id);
      change.record.attributes.set("id", Value(id));
    } else {
      change.record.attributes.set(std::string(key), convert(field.value()));
    }
  }
  if (change.record.id.empty()) throw Error(ErrorKind::read, "graph returned an object without an id");
  if (change.kind != ChangeKind::upsert) change.record.attributes.clear();
  on_item(std::move(change));
}

// Stores `field` when it is a paging link; Field is od::field or simdjson's result wrapper of one.
template <class Field>
bool read_link(std::string_view key, Field& field, PageLinks& links) {
  if (key == "@odata.nextLink") links.next = std::string_view(field.value().get_string());
  else if (key == "@odata.deltaLink") links.delta = std::string_view(field.value().get_string());
  else return false;
  return true;
}

}  // namespace

PageLinks parse_page(std::string_view body, ObjectType type, ItemShape shape, bool partial,
                     const std::function<void(Change&&)>& on_item) {
  PageLinks links;
  thread_local od::parser parser;
  simdjson::padded_string padded(body);
  try {
    od::document doc = parser.iterate(padded);
    for (auto field : doc.get_object()) {
      std::string_view key = field.unescaped_key();
      if (read_link(key, field, links)) {
        continue;
      } else if (key == "value") {
        for (auto item : field.value().get_array()) {
          if (shape == ItemShape::object) {
            parse_object(item.get_object(), type, partial, on_item);
            continue;
          }
          Reference ref = read_reference(item.get_object());
          bool supported;
          const char* kind = kind_of(ref.type, type, supported);
          if (!supported || ref.id.empty()) continue;
          Change change;
          change.record.type = object_type_from_string(kind);
          change.record.id = std::string(ref.id);
          on_item(std::move(change));
        }
      }
    }
  } catch (const simdjson::simdjson_error& e) {
    throw Error(ErrorKind::read, std::string("graph returned a malformed page: ") + e.what());
  }
  return links;
}

PageLinks page_links(std::string_view body) {
  PageLinks links;
  thread_local od::parser parser;
  simdjson::padded_string padded(body);
  try {
    od::document doc = parser.iterate(padded);
    for (auto field : doc.get_object()) {
      std::string_view key = field.unescaped_key();
      read_link(key, field, links);
    }
  } catch (const simdjson::simdjson_error& e) {
    throw Error(ErrorKind::read, std::string("graph returned a malformed page: ") + e.what());
  }
  return links;
}

std::string error_code(std::string_view body) {
  try {
    Value doc = parse_json(body);
    if (!doc.is_object()) return {};
    const Value* error = doc.as_object().find("error");
    if (!error || !error->is_object()) return {};
    const Value* code = error->as_object().find("code");
    return code && code->is_string() ? code->as_string() : std::string();
  } catch (const Error&) {
    return {};
  }
}

}  // namespace dirsync::entra
