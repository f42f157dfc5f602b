// Pull mode: reads Users and Groups from another SCIM service provider.
//
// Paging is RFC 7644's startIndex/count. Incremental reads ask for
// `meta.lastModified ge "<cursor>"` (ge, not gt: two changes within the
// provider's timestamp resolution must not be lost; re-reading one unchanged
// resource is harmless because the host skips unchanged hashes). A provider
// that refuses that filter (400) gets a full read instead, said in the note.
// Deletions are only visible to a full read.
#pragma once

#include "records.hpp"

#include <dirsync/plugin.hpp>

#include <memory>

namespace dirsync::scim {

class PullClient {
 public:
  PullClient(const Settings& settings, Logger& log);
  ~PullClient();
  ReadResult read(const ReadRequest& request, Emitter& out);
  std::vector<std::string> test_connection();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dirsync::scim
