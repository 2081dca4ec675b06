// Issue 10 point 2: highlights pick the top N of a date, merged over sources, ties stable.
#include "core/highlights.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace digestd {
namespace {

HighlightsCandidate Seen(const std::string& key, const std::string& source,
                         std::optional<int> votes, std::int64_t first_seen) {
  HighlightsCandidate c;
  c.sighting.paper.Edit().key = key;
  c.sighting.paper.Edit().title = key + " from " + source;
  c.sighting.paper.Edit().votes = votes;
  c.sighting.source = source;
  c.sighting.date = "2024-01-29";
  c.first_seen = first_seen;
  return c;
}

std::vector<std::string> Keys(const std::vector<SourcedPaper>& papers) {
  std::vector<std::string> out;
  for (const SourcedPaper& p : papers) out.push_back(p.paper->key);
  return out;
}

TEST(Issue10, HighlightsTakeTheTopNByVotes) {
  const std::vector<HighlightsCandidate> in = {Seen("a", "hf", 3, 10), Seen("b", "hf", 40, 10),
                                               Seen("c", "hf", 12, 10), Seen("d", "hf", 7, 10)};
  EXPECT_EQ(Keys(SelectTopPapers(in, 2)), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(Keys(SelectTopPapers(in, 10)), (std::vector<std::string>{"b", "c", "d", "a"}));
  EXPECT_TRUE(SelectTopPapers({}, 5).empty());
}

TEST(Issue10, HighlightsMergeSourcesByKeyWithTheirHighestVotes) {
  // "b" has 5 votes in one source and 50 in the other: it counts with 50, shown as the
  // sighting that has them, and appears once.
  const std::vector<HighlightsCandidate> in = {Seen("a", "hf-ko", 20, 10),
                                               Seen("b", "hf-ko", 5, 10), Seen("b", "hf", 50, 30)};
  const std::vector<SourcedPaper> top = SelectTopPapers(in, 5);
  ASSERT_EQ(Keys(top), (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(top[0].source, "hf");
  EXPECT_EQ(top[0].paper->votes, 50);
}

TEST(Issue10, HighlightsBreakTiesBySeenFirstThenKey) {
  // Equal votes: the paper seen first wins (its earliest sighting over all sources), then
  // the smaller key; a paper without votes ranks below one with 0.
  const std::vector<HighlightsCandidate> in = {
      Seen("z", "hf", 9, 100), Seen("y", "hf", 9, 200),          Seen("y", "hf-ko", 1, 50),
      Seen("x", "hf", 9, 100), Seen("n", "hf", std::nullopt, 1), Seen("o", "hf", 0, 500)};
  EXPECT_EQ(Keys(SelectTopPapers(in, 10)), (std::vector<std::string>{"y", "x", "z", "o", "n"}));
}

TEST(Issue10, HighlightsAreTheSameWhateverTheInputOrder) {
  std::vector<HighlightsCandidate> in;
  for (int i = 0; i < 40; ++i) {
    in.push_back(Seen("k" + std::to_string(i % 17), i % 2 ? "hf" : "hf-ko", i % 5, i % 3));
  }
  const std::vector<std::string> expected = Keys(SelectTopPapers(in, 7));
  ASSERT_EQ(expected.size(), 7u);
  std::mt19937 rng(10);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(in.begin(), in.end(), rng);
    const std::vector<SourcedPaper> top = SelectTopPapers(in, 7);
    EXPECT_EQ(Keys(top), expected);
    // The shown sighting is chosen by value too.
    EXPECT_EQ(top[0].source, SelectTopPapers(in, 7)[0].source);
  }
}

TEST(Issue10, HighlightsPostIsOncePerNameNotifierAndDate) {
  HighlightsConfig h{.name = "morning", .notify = {"team"}};
  const Notification a = HighlightsPost(h, "team", "2024-01-29", {});
  EXPECT_EQ(a.kind, "highlights");
  EXPECT_EQ(a.watches, std::vector<std::string>{"morning"});
  EXPECT_EQ(a.id, HighlightsPost(h, "team", "2024-01-29", {}).id);
  EXPECT_NE(a.id, HighlightsPost(h, "team", "2024-01-30", {}).id);
  EXPECT_NE(a.id, HighlightsPost(h, "me", "2024-01-29", {}).id);
  HighlightsConfig other{.name = "evening"};
  EXPECT_NE(a.id, HighlightsPost(other, "team", "2024-01-29", {}).id);
  const Notification note = HighlightsNote(h, "team", "2024-01-29");
  EXPECT_NE(note.id, a.id);
  EXPECT_TRUE(note.papers.empty());
  EXPECT_NE(note.message.find("No papers today"), std::string::npos);
}

TEST(Issue10, HighlightsAreDueOnceTheFirstSlotOfTheirDayHasPassed) {
  auto schedule = ParseCron("0 9 * * MON-FRI");
  ASSERT_TRUE(schedule);
  using namespace std::chrono;
  const Date monday{year{2024}, January, day{29}};
  const local_seconds monday_0859 = local_days{monday} + hours(8) + minutes(59);
  EXPECT_FALSE(HighlightsDue(*schedule, monday, monday_0859));
  EXPECT_TRUE(HighlightsDue(*schedule, monday, monday_0859 + minutes(1)));
  // Saturday's digest waits for Monday's slot.
  const Date saturday{year{2024}, January, day{27}};
  EXPECT_FALSE(HighlightsDue(*schedule, saturday, local_days{saturday} + hours(12)));
  EXPECT_TRUE(HighlightsDue(*schedule, saturday, local_days{monday} + hours(9)));
  // A slot at midnight counts for that day.
  auto midnight = ParseCron("@daily");
  ASSERT_TRUE(midnight);
  EXPECT_TRUE(HighlightsDue(*midnight, monday, local_days{monday}));
}

}  // namespace
}  // namespace digestd
