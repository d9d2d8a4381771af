#include "tokenizer/bpe.h"

#include <gtest/gtest.h>

#include <random>

namespace dsv3 {
namespace {

TEST(MergeTable, InsertFindAndGrow) {
  MergeTable table;  // starts small: inserting 5000 rules makes it grow several times
  for (int32_t i = 0; i < 5000; ++i) table.insert(i, i * 7 + 1, i, 100000 + i);
  EXPECT_EQ(table.size(), 5000u);
  for (int32_t i = 0; i < 5000; ++i) {
    const MergeTable::Entry* e = table.find(i, i * 7 + 1);
    ASSERT_NE(e, nullptr) << i;
    EXPECT_EQ(e->rank, i);
    EXPECT_EQ(e->merged, 100000 + i);
  }
  EXPECT_EQ(table.find(1, 1), nullptr);
  table.insert(3, 22, 9999, 42);  // a later rule for the same pair replaces the earlier
  EXPECT_EQ(table.size(), 5000u);
  EXPECT_EQ(table.find(3, 22)->merged, 42);
}

// A tiny alphabet: 0..3 are "a".."d"; merges build longer ids on top.
TEST(BpeMerge, HandWorkedExample) {
  MergeTable t;
  t.insert(0, 1, 0, 10);   // a b -> ab
  t.insert(2, 2, 1, 11);   // c c -> cc
  t.insert(10, 11, 2, 12); // ab cc -> abcc
  t.insert(1, 2, 3, 13);   // b c -> bc (lower priority than "a b")
  std::vector<int32_t> s = {0, 1, 2, 2, 3, 1, 2};  // a b c c d b c
  std::vector<int32_t> h = s;
  bpe_merge_scan(t, s);
  bpe_merge_heap(t, h);
  EXPECT_EQ(s, (std::vector<int32_t>{12, 3, 13}));
  EXPECT_EQ(h, s);
  // Equal ranks: the leftmost pair goes first ("aaa" -> "aa a", not "a aa").
  MergeTable same;
  same.insert(0, 0, 0, 5);
  std::vector<int32_t> aaa = {0, 0, 0};
  bpe_merge_heap(same, aaa);
  EXPECT_EQ(aaa, (std::vector<int32_t>{5, 0}));
  aaa = {0, 0, 0};
  bpe_merge_scan(same, aaa);
  EXPECT_EQ(aaa, (std::vector<int32_t>{5, 0}));
}

// The two merge algorithms must agree on random rule sets and random words.
TEST(BpeMerge, ScanAndHeapAgreeOnRandomInputs) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 50; ++trial) {
    MergeTable t;
    const int32_t alphabet = 4 + int32_t(rng() % 4);
    int32_t next_id = alphabet;
    for (int32_t rank = 0; rank < 60; ++rank) {
      const int32_t l = int32_t(rng() % uint32_t(next_id));
      const int32_t r = int32_t(rng() % uint32_t(next_id));
      if (t.find(l, r) == nullptr) t.insert(l, r, rank, next_id++);
    }
    for (int word = 0; word < 40; ++word) {
      std::vector<int32_t> s(1 + rng() % 120);
      for (int32_t& x : s) x = int32_t(rng() % uint32_t(alphabet));
      std::vector<int32_t> h = s;
      bpe_merge_scan(t, s);
      bpe_merge_heap(t, h);
      ASSERT_EQ(s, h) << "trial " << trial << " word " << word;
    }
  }
}

TEST(BpeMerge, EmptyAndSingle) {
  MergeTable t;
  std::vector<int32_t> none;
  bpe_merge_heap(t, none);
  bpe_merge_scan(t, none);
  EXPECT_TRUE(none.empty());
  std::vector<int32_t> one = {7};
  bpe_merge_heap(t, one);
  EXPECT_EQ(one, std::vector<int32_t>{7});
}

}  // namespace
}  // namespace dsv3
