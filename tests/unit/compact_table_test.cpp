// The compact table merges its pending entries into its segments in place,
// from the back. Checked against a plain map through thousands of merges,
// with erases landing both in the pending entries and in the segments.
#include "sync/compact_table.hpp"
#include "sync/page_array.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <random>
#include <utility>
#include <vector>

using dirsync::CompactTable;
using dirsync::PageArray;

namespace {

struct Entry {
  std::uint64_t tag;  ///< 0: dead
  std::uint64_t value;
};
struct Traits {
  static constexpr std::uint64_t kDead = 0;
  static std::uint64_t tag(const Entry& e) { return e.tag; }
  static void kill(Entry& e) { e.tag = kDead; }
};
using Table = CompactTable<Entry, Traits>;
using Key = std::pair<std::uint16_t, std::uint64_t>;

void check_all(Table& table, const std::map<Key, std::uint64_t>& model) {
  for (const auto& [key, value] : model) {
    const Entry* e = table.find(key.first, key.second);
    INFO("bucket " << key.first << " tag " << key.second);
    REQUIRE(e);
    REQUIRE(e->value == value);
  }
  REQUIRE(table.size() == model.size());
}

}  // namespace

TEST_CASE("compact table: finds what a map finds through in-place merges, erases and updates") {
  // Few distinct buckets crowd each bucket with entries from many merges;
  // the full bucket range spreads them over all sixteen segments.
  const int bucket_bits = GENERATE(4, 16);
  std::mt19937_64 rng(42 + bucket_bits);
  Table table;
  std::map<Key, std::uint64_t> model;
  std::vector<Key> keys;  // in insertion order: the newest are still pending
  std::uint64_t next_tag = 1;
  for (int step = 0; step < 200'000; ++step) {
    const auto op = rng() % 10;
    if (op < 7 || keys.empty()) {
      const Key key{std::uint16_t(rng() >> (64 - bucket_bits)), next_tag++};
      table.insert(key.first, Entry{key.second, key.second * 3});
      model[key] = key.second * 3;
      keys.push_back(key);
    } else if (op < 9) {
      // Erase the newest (pending) or any (mostly merged) entry.
      const std::size_t i = op == 7 ? keys.size() - 1 : rng() % keys.size();
      const Key key = keys[i];
      keys[i] = keys.back();
      keys.pop_back();
      REQUIRE(table.erase(key.first, key.second));
      REQUIRE_FALSE(table.erase(key.first, key.second));
      model.erase(key);
    } else {
      const Key key = keys[rng() % keys.size()];
      Entry* e = table.find(key.first, key.second);
      REQUIRE(e);
      e->value = step;
      model[key] = std::uint64_t(step);
    }
    if (step % 25'000 == 0) check_all(table, model);
  }
  check_all(table, model);
  // Tags never inserted, and erased ones, are not found.
  for (int i = 0; i < 10'000; ++i) REQUIRE_FALSE(table.find(std::uint16_t(rng()), next_tag + 1 + i));
}

TEST_CASE("page array: keeps its values when it moves from malloc to its own pages and grows") {
  PageArray<std::uint64_t> a;
  for (std::uint64_t i = 0; i < 100'000; ++i) a.push_back(i * i);  // 800 KB: mapped, grown by mremap
  REQUIRE(a.size() == 100'000);
  for (std::uint64_t i = 0; i < 100'000; ++i) REQUIRE(a[i] == i * i);
  a.resize_uninitialized(300'000);
  for (std::uint64_t i = 0; i < 100'000; ++i) REQUIRE(a[i] == i * i);
  PageArray<std::uint64_t> b = std::move(a);
  REQUIRE(a.empty());
  REQUIRE(b[99'999] == 99'999ull * 99'999ull);
  b.clear();
  REQUIRE(b.empty());
  b.assign(10, 7);
  REQUIRE(b.size() == 10);
  REQUIRE(b[9] == 7);
}
