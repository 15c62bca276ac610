// The fixed binary tree over block numbers that every merge follows
// (DESIGN §5).
//
// Leaves are blocks 0..n-1. A node at level k starting at block s covers
// blocks [s, s + 2^k) and is only formed when s is a multiple of 2^k, so the
// tree depends on nothing but n. TreeReducer consumes leaves (or whole
// aligned nodes) in block order and keeps the maximal aligned subtrees
// completed so far; a worker hands those over, the coordinator pushes every
// worker's nodes in order and Finish()es. The merges performed, and their
// order, are the same for any split of the blocks.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace mm {

template <class P>  // P: movable, with void Merge(const P& right)
class TreeReducer {
 public:
  struct Node {
    int level;
    int64_t start;
    P value;
  };

  // Pushes the node covering [start, start + 2^level); nodes must arrive in
  // block order without gaps.
  void Push(int level, int64_t start, P value) {
    stack_.push_back(Node{level, start, std::move(value)});
    while (stack_.size() >= 2) {
      Node& right = stack_[stack_.size() - 1];
      Node& left = stack_[stack_.size() - 2];
      const int64_t span = int64_t{1} << left.level;
      if (left.level != right.level || left.start % (span * 2) != 0 ||
          left.start + span != right.start)
        break;
      left.value.Merge(right.value);
      ++left.level;
      stack_.pop_back();
    }
  }

  const std::vector<Node>& nodes() const { return stack_; }
  std::vector<Node> TakeNodes() { return std::move(stack_); }
  bool empty() const { return stack_.empty(); }

  // Folds the remaining nodes from the right: the root of the tree.
  // REQUIRES: !empty().
  P Finish() {
    while (stack_.size() >= 2) {
      Node right = std::move(stack_.back());
      stack_.pop_back();
      stack_.back().value.Merge(right.value);
    }
    P root = std::move(stack_.back().value);
    stack_.clear();
    return root;
  }

 private:
  std::vector<Node> stack_;
};

}  // namespace mm
