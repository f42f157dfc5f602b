// SCIM resources as the pipeline sees them (shared by server and pull modes).
#pragma once

#include "schema.hpp"

#include <dirsync/record.hpp>

namespace dirsync::scim {

struct RecordOptions {
  /// Copy the enterprise extension's attributes to top-level keys
  /// (department, employeeNumber, manager, ...) so mappings can say
  /// `source: department`; they stay under their URN key as well.
  bool flatten_enterprise = true;
  /// Emit active=false users as ChangeKind::soft_deleted instead of upserts.
  bool inactive_is_soft_delete = false;
};

/// Record::id is the SCIM id, attributes the resource (minus "schemas" and,
/// for groups, "members", which become Record::members).
Change to_change(ResourceKind kind, Object resource, bool deleted, const RecordOptions& options);

}  // namespace dirsync::scim
