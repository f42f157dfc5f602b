// Fingerprints of written attributes: an update sends exactly what changed,
// from a fingerprint as from the JSON earlier versions stored.
#include "sync/written.hpp"

#include <catch2/catch.hpp>

using namespace dirsync;

namespace {
Object alice() {
  return Object{{"email", Value("a@x.com")}, {"name", Value("Alice")}, {"active", Value(true)},
                {"groups", Value(List{Value("g1"), Value("g2")})}, {"manager", Value()}};
}
}  // namespace

TEST_CASE("written: nothing changed, one value changed, an attribute new") {
  const ObjectHash hash = GENERATE(ObjectHash::wide, ObjectHash::fnv1a);
  std::string stored = written::fingerprint(alice(), hash);
  CHECK(stored.size() == 1 + 12 * 5);
  CHECK(stored[0] == (hash == ObjectHash::wide ? 'W' : 'F'));
  CHECK(written::changed(alice(), stored).empty());

  Object next = alice();
  next.set("name", Value("Alice B."));
  next.set("title", Value("CTO"));
  next.set("active", Value(false));
  Object diff = written::changed(next, stored);
  CHECK(diff.size() == 3);
  CHECK(diff.find("name")->to_string() == "Alice B.");
  CHECK(diff.find("title")->to_string() == "CTO");
  CHECK(diff.find("active")->as_bool() == false);

  // After the update, the merged fingerprint knows the new values, and keeps
  // attributes the update did not send (written on create only, say).
  std::string after = written::merge(stored, diff);
  CHECK(after[0] == stored[0]);  // an update keeps the store's hash
  CHECK(written::changed(next, after).empty());
  Object without_email = next;
  without_email.erase("email");
  CHECK(written::changed(without_email, after).empty());
  CHECK(written::changed(alice(), after).size() == 2);  // name and active differ again; title is not in alice()
}

TEST_CASE("written: values that print alike are still different") {
  const ObjectHash hash = GENERATE(ObjectHash::wide, ObjectHash::fnv1a);
  std::string stored = written::fingerprint(Object{{"n", Value(std::int64_t{1})}, {"s", Value("1")}}, hash);
  Object next{{"n", Value("1")}, {"s", Value(std::int64_t{1})}};
  CHECK(written::changed(next, stored).size() == 2);
  CHECK(written::changed(Object{{"n", Value()}}, written::fingerprint(Object{{"n", Value("")}}, hash)).size() == 1);
}

TEST_CASE("written: a fingerprint is read with the hash it was made with, whatever the store now makes") {
  // Links of one store never mix hashes, but a fingerprint must not depend on
  // that: an FNV-1a fingerprint compared with wide hashes would look changed.
  const std::string fnv = written::fingerprint(alice(), ObjectHash::fnv1a);
  const std::string wide = written::fingerprint(alice(), ObjectHash::wide);
  CHECK(fnv.substr(1) != wide.substr(1));
  CHECK(written::changed(alice(), fnv).empty());
  CHECK(written::changed(alice(), wide).empty());
}

TEST_CASE("written: JSON from an earlier version is understood and becomes a fingerprint") {
  std::string legacy = to_json(alice());
  CHECK(written::changed(alice(), legacy).empty());
  Object next = alice();
  next.set("name", Value("Alicia"));
  Object diff = written::changed(next, legacy);
  REQUIRE(diff.size() == 1);
  std::string merged = written::merge(legacy, diff);
  CHECK(merged[0] == 'F');
  CHECK(written::changed(next, merged).empty());
  CHECK(written::changed(alice(), "").size() == 5);   // nothing stored: everything is new
  CHECK(written::changed(alice(), "{}").size() == 5);  // an adopted link
}
