// Issue 10 point 2: the highlights job reads the state, posts the newest date once per
// (highlights, notifier, date), and says "no papers today" when asked to.
#include "daemon/highlights_job.h"

#include <gtest/gtest.h>

#include <chrono>

namespace digestd {
namespace {

// January `dom`, 2024 at `hour`:00 UTC, in unix seconds (29 is a Monday).
std::int64_t At(int dom, int hour) {
  using namespace std::chrono;
  const sys_days first{year{2024} / January / 1};
  return duration_cast<seconds>((first + days(dom - 1) + hours(hour)).time_since_epoch()).count();
}

Paper MakePaper(const std::string& id, int votes) {
  Paper p;
  p.key = "arxiv:" + id;
  p.title = "Paper " + id;
  p.url = "https://arxiv.org/abs/" + id;
  p.votes = votes;
  return p;
}

class HighlightsJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = StateStore::Open(":memory:");
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    for (const char* name : {"hf", "hf-ko"}) {
      config_.sources.push_back(
          SourceConfig{.name = name, .kind = "markdown", .timezone = "UTC", .lookback_days = 2});
    }
    config_.notifiers.push_back(NotifierConfig{.name = "team", .kind = "console"});
    config_.notifiers.push_back(NotifierConfig{.name = "off", .kind = "console", .enabled = false});
    config_.highlights.push_back(HighlightsConfig{.name = "morning",
                                                  .sources = {"hf", "hf-ko"},
                                                  .top = 2,
                                                  .schedule = "0 9 * * *",
                                                  .timezone = "UTC",
                                                  .notify = {"team", "off"}});
  }

  void Commit(const std::string& source, const std::string& date, std::vector<Paper> papers,
              std::int64_t now) {
    ASSERT_TRUE(store_->CommitDigest(DigestCommit{.source = source,
                                                  .url = "file:///d",
                                                  .date = date,
                                                  .now = now,
                                                  .papers = SharePapers(std::move(papers))}));
  }

  std::vector<Notification> Run(std::int64_t now) {
    auto planned = QueueDueHighlights(config_, *store_, now, std::nullopt);
    EXPECT_TRUE(planned) << planned.error().message;
    return planned ? *planned : std::vector<Notification>{};
  }

  int Rows() {
    auto rows = store_->ListOutbox("", "", 100);
    EXPECT_TRUE(rows);
    return rows ? static_cast<int>(rows->size()) : -1;
  }

  Config config_;
  std::unique_ptr<StateStore> store_;
};

TEST_F(HighlightsJobTest, PostsTheNewestDateOnceWhenItsSlotHasPassed) {
  Commit("hf", "2024-01-28", {MakePaper("1", 99)}, At(28, 6));
  Commit("hf", "2024-01-29", {MakePaper("2", 3), MakePaper("3", 30), MakePaper("4", 8)}, At(29, 6));
  Commit("hf-ko", "2024-01-29", {MakePaper("2", 40)}, At(29, 7));
  EXPECT_TRUE(Run(At(29, 8)).empty()) << "before the 09:00 slot";
  const std::vector<Notification> posted = Run(At(29, 10));
  ASSERT_EQ(posted.size(), 1u) << "one post, and none to the disabled notifier";
  const Notification& n = posted[0];
  EXPECT_EQ(n.notifier, "team");
  EXPECT_EQ(n.kind, "highlights");
  ASSERT_EQ(n.papers.size(), 2u);
  EXPECT_EQ(n.papers[0].paper->key, "arxiv:2");  // merged: 40 votes from hf-ko
  EXPECT_EQ(n.papers[0].source, "hf-ko");
  EXPECT_EQ(n.papers[1].paper->key, "arxiv:3");
  EXPECT_EQ(n.papers[0].date, "2024-01-29");
  EXPECT_EQ(Rows(), 1);
  // Already posted: the next run, and the next day before its slot, plan nothing.
  EXPECT_TRUE(Run(At(29, 11)).empty());
  EXPECT_TRUE(Run(At(30, 8)).empty());
  EXPECT_EQ(Rows(), 1);
}

TEST_F(HighlightsJobTest, FallsBackToTheNewestDateWithinLookback) {
  Commit("hf", "2024-01-27", {MakePaper("1", 5)}, At(27, 6));
  const std::vector<Notification> posted = Run(At(29, 10));
  ASSERT_EQ(posted.size(), 1u);
  EXPECT_EQ(posted[0].papers.at(0).date, "2024-01-27");
  // Beyond lookback_days (2): nothing.
  EXPECT_TRUE(Run(At(30, 10)).empty());
}

TEST_F(HighlightsJobTest, SkipsOrNotesADayWithoutADigest) {
  EXPECT_TRUE(Run(At(29, 10)).empty()) << "on_empty = skip";
  EXPECT_EQ(Rows(), 0);
  config_.highlights[0].note_when_empty = true;
  std::vector<Notification> note = Run(At(29, 10));
  ASSERT_EQ(note.size(), 1u);
  EXPECT_EQ(note[0].event, "no_papers");
  EXPECT_TRUE(note[0].papers.empty());
  EXPECT_TRUE(Run(At(29, 11)).empty()) << "one note per day";
  EXPECT_EQ(Rows(), 1);
  // Yesterday's digest was posted: today, without one, gets the note.
  Commit("hf", "2024-01-30", {MakePaper("5", 5)}, At(30, 6));
  ASSERT_EQ(Run(At(30, 10)).size(), 1u);
  note = Run(At(31, 10));
  ASSERT_EQ(note.size(), 1u);
  EXPECT_EQ(note[0].event, "no_papers");
  EXPECT_EQ(Rows(), 3);
}

TEST_F(HighlightsJobTest, DateReplacesTodayAndDryRunQueuesNothing) {
  Commit("hf", "2024-01-29", {MakePaper("1", 5)}, At(29, 6));
  const Date day{std::chrono::year{2024}, std::chrono::January, std::chrono::day{29}};
  auto dry = QueueDueHighlights(config_, *store_, At(40, 0), day, /*dry_run=*/true);
  ASSERT_TRUE(dry);
  EXPECT_EQ(dry->size(), 1u);
  EXPECT_EQ(Rows(), 0);
  auto real = QueueDueHighlights(config_, *store_, At(40, 0), day);
  ASSERT_TRUE(real);
  EXPECT_EQ(real->size(), 1u);
  EXPECT_EQ(Rows(), 1);
}

}  // namespace
}  // namespace digestd
