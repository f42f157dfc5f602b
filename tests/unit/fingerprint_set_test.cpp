// The first-sync filters: a value inserted is always found again (a miss would
// create a duplicate), through every merge of the table behind them.
#include "sync/fingerprint_set.hpp"
#include "sync/hash_set.hpp"

#include <catch2/catch.hpp>

#include <string>

using dirsync::FingerprintSet;
using dirsync::HashSet64;

TEST_CASE("fingerprint set: no false negatives across merges, few false positives") {
  FingerprintSet set;
  const int n = 300'000;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t h = HashSet64::hash("user-" + std::to_string(i));
    REQUIRE_FALSE(set.contains(h));  // first sight (a false hit here is a 2^-48 event)
    set.insert(h);
    set.insert(h);  // twice is once
    REQUIRE(set.contains(h));
  }
  CHECK(set.size() == std::size_t(n));
  for (int i = 0; i < n; ++i) REQUIRE(set.contains(HashSet64::hash("user-" + std::to_string(i))));
  int false_hits = 0;
  for (int i = n; i < 2 * n; ++i) false_hits += set.contains(HashSet64::hash("user-" + std::to_string(i)));
  CHECK(false_hits == 0);
}
