// Tests of core/merge_tree: the merges TreeReducer performs, and their
// order, depend only on the number of blocks, never on how the blocks were
// split between workers (the determinism guarantee of DESIGN §5).
//
// The partial used here records its merge expression, e.g. "((0+1)+2)", so
// two reductions agree exactly when they merged the same leaves in the same
// order.
#include "core/merge_tree.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace mm {
namespace {

struct Expr {
  std::string s;
  int merges = 0;
  void Merge(const Expr& right) {
    s = "(" + s + "+" + right.s + ")";
    merges += right.merges + 1;
  }
};

Expr Leaf(int64_t i) { return Expr{std::to_string(i), 0}; }

// Leaves 0..n-1 pushed into one reducer.
std::string Direct(int64_t n) {
  TreeReducer<Expr> t;
  for (int64_t i = 0; i < n; ++i) t.Push(0, i, Leaf(i));
  return t.Finish().s;
}

// Each range [cuts[i], cuts[i+1]) reduced by its own "worker", whose nodes
// the "coordinator" pushes in order.
std::string Split(const std::vector<int64_t>& cuts) {
  TreeReducer<Expr> coordinator;
  for (size_t w = 0; w + 1 < cuts.size(); ++w) {
    TreeReducer<Expr> worker;
    for (int64_t i = cuts[w]; i < cuts[w + 1]; ++i) worker.Push(0, i, Leaf(i));
    for (auto& node : worker.TakeNodes())
      coordinator.Push(node.level, node.start, std::move(node.value));
  }
  return coordinator.Finish().s;
}

// Calls f(cuts) for every split of [0, n) into k contiguous ranges, empty
// ranges included: cuts = {0, c1, ..., c(k-1), n} with 0 <= c1 <= ... <= n.
template <class F>
void ForEachSplit(int64_t n, int k, F&& f) {
  std::vector<int64_t> cuts(static_cast<size_t>(k) + 1, 0);
  cuts[static_cast<size_t>(k)] = n;
  // Odometer over the k-1 inner cuts, kept non-decreasing.
  for (;;) {
    f(cuts);
    int i = k - 1;
    while (i >= 1 && cuts[static_cast<size_t>(i)] == n) --i;
    if (i < 1) return;
    const int64_t v = cuts[static_cast<size_t>(i)] + 1;
    for (int j = i; j < k; ++j) cuts[static_cast<size_t>(j)] = v;
  }
}

TEST_CASE("MergeTree: the tree of a few blocks", "[merge_tree]") {
  CHECK(Direct(1) == "0");
  CHECK(Direct(2) == "(0+1)");
  CHECK(Direct(3) == "((0+1)+2)");
  CHECK(Direct(4) == "((0+1)+(2+3))");
  CHECK(Direct(5) == "(((0+1)+(2+3))+4)");
  CHECK(Direct(6) == "(((0+1)+(2+3))+(4+5))");
  CHECK(Direct(7) == "(((0+1)+(2+3))+((4+5)+6))");
  CHECK(Direct(8) == "(((0+1)+(2+3))+((4+5)+(6+7)))");
}

TEST_CASE("MergeTree: every leaf is merged exactly once", "[merge_tree]") {
  for (int64_t n = 1; n <= 40; ++n) {
    TreeReducer<Expr> t;
    for (int64_t i = 0; i < n; ++i) t.Push(0, i, Leaf(i));
    const Expr root = t.Finish();
    CHECK(root.merges == n - 1);
    CHECK(t.empty());
    // The leaves appear in order.
    std::string leaves;
    for (char c : root.s) leaves += (c == '(' || c == ')') ? ' ' : c;
    std::string expected;
    for (int64_t i = 0; i < n; ++i) expected += (i ? "+" : "") + std::to_string(i);
    std::string squeezed;
    for (char c : leaves)
      if (c != ' ') squeezed += c;
    CHECK(squeezed == expected);
  }
}

TEST_CASE("MergeTree: a reducer keeps only maximal aligned subtrees", "[merge_tree]") {
  TreeReducer<Expr> t;
  for (int64_t i = 0; i < 11; ++i) t.Push(0, i, Leaf(i));
  // 11 = 8 + 2 + 1.
  const auto& nodes = t.nodes();
  REQUIRE(nodes.size() == 3);
  CHECK(nodes[0].level == 3);
  CHECK(nodes[0].start == 0);
  CHECK(nodes[1].level == 1);
  CHECK(nodes[1].start == 8);
  CHECK(nodes[2].level == 0);
  CHECK(nodes[2].start == 10);
  // A worker starting at an odd block cannot pair its first leaf.
  TreeReducer<Expr> w;
  for (int64_t i = 3; i < 9; ++i) w.Push(0, i, Leaf(i));
  const auto& wn = w.nodes();
  REQUIRE(wn.size() == 3);  // [3], [4, 8), [8]
  CHECK((wn[0].level == 0 && wn[0].start == 3));
  CHECK((wn[1].level == 2 && wn[1].start == 4));
  CHECK((wn[2].level == 0 && wn[2].start == 8));
  CHECK(wn[1].value.s == "((4+5)+(6+7))");
}

TEST_CASE("MergeTree: every split into up to 6 ranges gives the same tree (n <= 20)",
          "[merge_tree]") {
  for (int64_t n = 1; n <= 20; ++n) {
    const std::string expected = Direct(n);
    for (int k = 1; k <= 6; ++k) {
      int64_t splits = 0, mismatches = 0;
      ForEachSplit(n, k, [&](const std::vector<int64_t>& cuts) {
        ++splits;
        if (Split(cuts) != expected) {
          if (mismatches++ == 0) {
            std::string c;
            for (int64_t x : cuts) c += std::to_string(x) + " ";
            FAIL_CHECK("n " << n << " cuts " << c << ": " << Split(cuts) << " != " << expected);
          }
        }
      });
      CHECK(mismatches == 0);
      // C(n + k - 1, k - 1) splits were visited.
      int64_t binom = 1;
      for (int i = 1; i < k; ++i) binom = binom * (n + i) / i;
      CHECK(splits == binom);
    }
  }
}

TEST_CASE("MergeTree: every split into up to 4 ranges gives the same tree (n <= 40)",
          "[merge_tree]") {
  for (int64_t n = 21; n <= 40; ++n) {
    const std::string expected = Direct(n);
    for (int k = 1; k <= 4; ++k) {
      int64_t mismatches = 0;
      ForEachSplit(n, k, [&](const std::vector<int64_t>& cuts) {
        if (Split(cuts) != expected) ++mismatches;
      });
      INFO("n " << n << " ranges " << k);
      CHECK(mismatches == 0);
    }
  }
}

TEST_CASE("MergeTree: random splits into 5 and 6 ranges give the same tree (n <= 40)",
          "[merge_tree]") {
  std::mt19937_64 rng(12345);
  for (int64_t n = 21; n <= 40; ++n) {
    const std::string expected = Direct(n);
    for (int k = 5; k <= 6; ++k) {
      std::uniform_int_distribution<int64_t> cut(0, n);
      int64_t mismatches = 0;
      for (int trial = 0; trial < 1500; ++trial) {
        std::vector<int64_t> cuts = {0, n};
        for (int i = 1; i < k; ++i) cuts.push_back(cut(rng));
        std::sort(cuts.begin(), cuts.end());
        if (Split(cuts) != expected) ++mismatches;
      }
      INFO("n " << n << " ranges " << k);
      CHECK(mismatches == 0);
    }
  }
}

TEST_CASE("MergeTree: a split of a split gives the same tree", "[merge_tree]") {
  // Shards reduce their workers' nodes and hand on the reduced nodes.
  const int64_t n = 37;
  const std::string expected = Direct(n);
  const std::vector<std::vector<std::vector<int64_t>>> shards = {
      {{0, 5, 9}, {9, 9, 20}, {20, 33, 37}},
      {{0, 1}, {1, 2, 3, 16}, {16, 37}},
      {{0, 0}, {0, 37}, {37, 37}},
  };
  for (const auto& plan : shards) {
    TreeReducer<Expr> top;
    for (const auto& cuts : plan) {
      TreeReducer<Expr> shard;
      for (size_t w = 0; w + 1 < cuts.size(); ++w) {
        TreeReducer<Expr> worker;
        for (int64_t i = cuts[w]; i < cuts[w + 1]; ++i) worker.Push(0, i, Leaf(i));
        for (auto& node : worker.TakeNodes())
          shard.Push(node.level, node.start, std::move(node.value));
      }
      for (auto& node : shard.TakeNodes()) top.Push(node.level, node.start, std::move(node.value));
    }
    CHECK(top.Finish().s == expected);
  }
}

}  // namespace
}  // namespace mm
