// The engine's run-local index of target ids: what it answers must always be
// what the state store would answer for this run's links.
#include "sync/target_index.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
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
  CHECK(index.complete());
  index.put(ObjectType::user, "long", std::string(70'000, 'x'));  // longer than a 2-byte length: not kept
  CHECK_FALSE(index.complete());  // a miss now sends the caller to the state store
  CHECK(index.size() == n + 2);   // "long" stays known as decided
  for (int i = 0; i < n; ++i) {
    auto t = index.find(ObjectType::user, "user-" + std::to_string(i));
    REQUIRE(t);
    REQUIRE(*t == "target-" + std::to_string(i));
  }
  CHECK(*index.find(ObjectType::user, "") == "empty-source-id");
  CHECK_FALSE(index.find(ObjectType::user, "long"));
  CHECK_FALSE(index.find(ObjectType::user, "user-" + std::to_string(n)));
}

TEST_CASE("target index: lowercase UUIDs are packed and come back as they went in; other ids are kept as they are") {
  TargetIndex index;
  const std::string uuid = "0190f3a2-7b1c-7d2e-8f30-a1b2c3d4e5f6";
  const std::string upper = "0190F3A2-7B1C-7D2E-8F30-A1B2C3D4E5F6";     // not packed: case is kept
  const std::string almost = "0190f3a2-7b1c-7d2e-8f30-a1b2c3d4e5fg";    // not hex
  const std::string dashes = "0190f3a27-b1c-7d2e-8f30-a1b2c3d4e5f6";    // dash in the wrong place
  index.put(ObjectType::user, "a", uuid);
  index.put(ObjectType::user, "b", upper);
  index.put(ObjectType::user, "c", almost);
  index.put(ObjectType::user, "d", dashes);
  CHECK(std::string(*index.find(ObjectType::user, "a")) == uuid);
  CHECK(std::string(*index.find(ObjectType::user, "b")) == upper);
  CHECK(std::string(*index.find(ObjectType::user, "c")) == almost);
  CHECK(std::string(*index.find(ObjectType::user, "d")) == dashes);
  // Putting the same target again is a no-op, a different one replaces it.
  index.put(ObjectType::user, "a", uuid);
  CHECK(std::string(*index.find(ObjectType::user, "a")) == uuid);
  index.put(ObjectType::user, "a", upper);
  CHECK(std::string(*index.find(ObjectType::user, "a")) == upper);
}

TEST_CASE("target index: entries across many arena chunks") {
  TargetIndex index;
  const int n = 200'000;  // about 4 MB of ids of 20 bytes: several 1 MB chunks
  auto target = [](int i) { return "target-" + std::string(6, char('a' + i % 26)) + std::to_string(i); };
  for (int i = 0; i < n; ++i) index.put(ObjectType::group, "g" + std::to_string(i), target(i));
  for (int i = 0; i < n; ++i) REQUIRE(std::string(*index.find(ObjectType::group, "g" + std::to_string(i))) == target(i));
}

TEST_CASE("target index: erased and replaced entries across the table's merges") {
  // Enough entries for many merges of the pending entries into the sorted
  // segments: entries erased before and after a merge stay gone, replaced
  // ones answer the new target, and the rest are untouched.
  TargetIndex index;
  const int n = 150'000;
  auto uuid = [](int i) {
    char buf[37];
    std::snprintf(buf, sizeof buf, "%08x-0000-4000-8000-%012x", i, i * 7);
    return std::string(buf);
  };
  for (int i = 0; i < n; ++i) {
    index.put(ObjectType::user, "u" + std::to_string(i), uuid(i));
    if (i % 1000 == 999) index.erase(ObjectType::user, "u" + std::to_string(i - 500));  // long merged by now
    if (i % 1000 == 998) index.erase(ObjectType::user, "u" + std::to_string(i));        // still pending
  }
  for (int i = 0; i < n; i += 10) index.put(ObjectType::user, "u" + std::to_string(i), "replaced-" + std::to_string(i));
  for (int i = 499; i < n; i += 1000) index.put(ObjectType::user, "u" + std::to_string(i), uuid(i + 1));  // re-linked
  for (int i = 0; i < n; ++i) {
    auto t = index.find(ObjectType::user, "u" + std::to_string(i));
    INFO(i);
    if (i % 1000 == 998) {
      REQUIRE_FALSE(t);
    } else if (i % 10 == 0) {
      REQUIRE(t);
      REQUIRE(std::string(*t) == "replaced-" + std::to_string(i));
    } else if (i % 1000 == 499) {
      REQUIRE(t);
      REQUIRE(std::string(*t) == uuid(i + 1));
    } else {
      REQUIRE(t);
      REQUIRE(std::string(*t) == uuid(i));
    }
  }
  CHECK(index.size() == std::size_t(n - n / 1000));
  CHECK(index.complete());
}

TEST_CASE("target index: marked objects are decided but have no target until put") {
  TargetIndex index;
  CHECK_FALSE(index.mark(ObjectType::user, "u1"));  // first time
  CHECK(index.mark(ObjectType::user, "u1"));        // a duplicate
  CHECK_FALSE(index.find(ObjectType::user, "u1"));
  CHECK_FALSE(index.mark(ObjectType::group, "u1"));  // another type, another object
  index.put(ObjectType::user, "u1", "0190f3a2-7b1c-7d2e-8f30-a1b2c3d4e5f6");
  CHECK(std::string(*index.find(ObjectType::user, "u1")) == "0190f3a2-7b1c-7d2e-8f30-a1b2c3d4e5f6");
  CHECK(index.mark(ObjectType::user, "u1"));
  index.put(ObjectType::user, "u2", "t-2");
  CHECK(index.mark(ObjectType::user, "u2"));  // linked counts as decided
  CHECK(std::string(*index.find(ObjectType::user, "u2")) == "t-2");
  index.erase(ObjectType::user, "u1");  // its link dropped: neither decided nor linked
  CHECK_FALSE(index.find(ObjectType::user, "u1"));
  CHECK_FALSE(index.mark(ObjectType::user, "u1"));
  CHECK(index.size() == 3);
  CHECK(index.complete());
}
