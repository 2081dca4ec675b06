#include "core/aho_corasick.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace digestd {
namespace {

using Hits = std::vector<std::pair<std::size_t, std::size_t>>;  // (pattern, end)

Hits ScanAll(const AhoCorasick& ac, std::string_view text) {
  Hits hits;
  ac.Scan(text, [&](std::size_t pattern, std::size_t end) { hits.emplace_back(pattern, end); });
  std::sort(hits.begin(), hits.end());
  return hits;
}

Hits Naive(const std::vector<std::string>& patterns, std::string_view text) {
  Hits hits;
  for (std::size_t p = 0; p < patterns.size(); ++p) {
    if (patterns[p].empty()) continue;
    for (std::size_t at = text.find(patterns[p]); at != std::string_view::npos;
         at = text.find(patterns[p], at + 1)) {
      hits.emplace_back(p, at + patterns[p].size());
    }
  }
  std::sort(hits.begin(), hits.end());
  return hits;
}

TEST(AhoCorasick, ClassicExample) {
  const std::vector<std::string> patterns = {"he", "she", "his", "hers"};
  Result<AhoCorasick> ac = AhoCorasick::Build(patterns);
  ASSERT_TRUE(ac);
  EXPECT_EQ(ScanAll(*ac, "ushers"), (Hits{{0, 4}, {1, 4}, {3, 6}}));
  EXPECT_EQ(ScanAll(*ac, "ahishers"), Naive(patterns, "ahishers"));
}

TEST(AhoCorasick, EndsAreReportedInOrder) {
  Result<AhoCorasick> ac = AhoCorasick::Build({"a", "aa", "aaa"});
  ASSERT_TRUE(ac);
  std::vector<std::size_t> ends;
  ac->Scan("aaaa", [&](std::size_t, std::size_t end) { ends.push_back(end); });
  EXPECT_TRUE(std::is_sorted(ends.begin(), ends.end()));
  EXPECT_EQ(ends.size(), 4u + 3u + 2u);
}

TEST(AhoCorasick, DuplicatesEmptyAndNoPatterns) {
  Result<AhoCorasick> ac = AhoCorasick::Build({"ab", "", "ab"});
  ASSERT_TRUE(ac);
  EXPECT_EQ(ScanAll(*ac, "xabx"), (Hits{{0, 3}, {2, 3}}));
  Result<AhoCorasick> none = AhoCorasick::Build({});
  ASSERT_TRUE(none);
  EXPECT_TRUE(ScanAll(*none, "anything").empty());
  const AhoCorasick empty;
  EXPECT_TRUE(ScanAll(empty, "anything").empty());
}

TEST(AhoCorasick, BinaryAndUtf8Bytes) {
  const std::vector<std::string> patterns = {std::string("\0\xFF", 2), "\xEB\xAA\xA8\xEB\x8D\xB8",
                                             "\xFF"};
  Result<AhoCorasick> ac = AhoCorasick::Build(patterns);
  ASSERT_TRUE(ac);
  const std::string text = std::string("x\0\xFF\xFF", 4) + "\xEC\x96\xB8\xEC\x96\xB4" +
                           "\xEB\xAA\xA8\xEB\x8D\xB8\xEC\x9D\x84";  // 언어모델을
  EXPECT_EQ(ScanAll(*ac, text), Naive(patterns, text));
  EXPECT_EQ(ScanAll(*ac, text).size(), 4u);
}

TEST(AhoCorasick, EveryByteValueInPatterns) {
  std::vector<std::string> patterns;
  for (int b = 0; b < 256; ++b) patterns.push_back(std::string(1, static_cast<char>(b)) + "z");
  Result<AhoCorasick> ac = AhoCorasick::Build(patterns);
  ASSERT_TRUE(ac);
  const std::string text = std::string("\0z\xFFz\x80zz", 7);
  EXPECT_EQ(ScanAll(*ac, text), Naive(patterns, text));
  EXPECT_EQ(ScanAll(*ac, text).size(), 4u);
}

TEST(AhoCorasick, RandomAgreesWithNaiveFind) {
  std::mt19937 rng(7);
  const std::string alphabet = "abc \xEA\xB0\x80";  // small alphabet: many overlaps
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  for (int round = 0; round < 300; ++round) {
    std::vector<std::string> patterns(std::uniform_int_distribution<int>(0, 30)(rng));
    for (std::string& p : patterns) {
      const int n = std::uniform_int_distribution<int>(0, 5)(rng);
      for (int i = 0; i < n; ++i) p += alphabet[pick(rng)];
    }
    std::string text;
    const int n = std::uniform_int_distribution<int>(0, 200)(rng);
    for (int i = 0; i < n; ++i) text += alphabet[pick(rng)];
    Result<AhoCorasick> ac = AhoCorasick::Build(patterns);
    ASSERT_TRUE(ac);
    ASSERT_EQ(ScanAll(*ac, text), Naive(patterns, text)) << "round " << round;
  }
}

}  // namespace
}  // namespace digestd
