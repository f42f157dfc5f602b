// The engine's run-local index of target ids: what it answers must always be
// what the state store would answer for this run's links.
#include "sync/target_index.hpp"

#include <catch2/catch.hpp>

#include <string>

using dirsync::ObjectType;
using dirsync::TargetIndex;

TEST_CASE("target index: put, find, replace and erase") {
  TargetIndex index;
  CHECK_FALSE(index.find(ObjectType::user, "u1"));
  index.put(ObjectType::user, "u1", "t-1");
  REQUIRE(index.find(ObjectType::user, "u1"));
  CHECK(*index.find(ObjectType::user, "u1") == "t-1");
  // The same source id as a group is another object.
  CHECK_FALSE(index.find(ObjectType::group, "u1"));
  index.put(ObjectType::group, "u1", "g-1");
  CHECK(*index.find(ObjectType::group, "u1") == "g-1");
  CHECK(*index.find(ObjectType::user, "u1") == "t-1");

  index.put(ObjectType::user, "u1", "t-1-recreated");
  CHECK(*index.find(ObjectType::user, "u1") == "t-1-recreated");
  CHECK(index.size() == 2);

  index.erase(ObjectType::user, "u1");
  CHECK_FALSE(index.find(ObjectType::user, "u1"));
  index.erase(ObjectType::user, "never-put");
  CHECK_FALSE(index.find(ObjectType::user, "never-put"));
  // A forgotten object linked again (deleted, then re-created in one run).
  index.put(ObjectType::user, "u1", "t-1-again");
  CHECK(*index.find(ObjectType::user, "u1") == "t-1-again");
}

TEST_CASE("target index: every entry survives growth, empty and long ids included") {
  TargetIndex index;
  const int n = 100'000;
  for (int i = 0; i < n; ++i) index.put(ObjectType::user, "user-" + std::to_string(i), "target-" + std::to_string(i));
  index.put(ObjectType::user, "", "empty-source-id");
  index.put(ObjectType::user, "long", std::string(70'000, 'x'));  // longer than a 2-byte length: not kept
  CHECK(index.size() == n + 1);
  for (int i = 0; i < n; ++i) {
    auto t = index.find(ObjectType::user, "user-" + std::to_string(i));
    REQUIRE(t);
    REQUIRE(*t == "target-" + std::to_string(i));
  }
  CHECK(*index.find(ObjectType::user, "") == "empty-source-id");
  CHECK_FALSE(index.find(ObjectType::user, "long"));
  CHECK_FALSE(index.find(ObjectType::user, "user-" + std::to_string(n)));
}
