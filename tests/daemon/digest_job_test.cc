// Issue 10 point 3: a digest watch's matches are held in the state and go out as one
// message per notifier at its digest_schedule; nothing for an empty digest, nothing twice.
#include "daemon/digest_job.h"

#include <gtest/gtest.h>

#include <chrono>

#include "tests/support/temp_dir.h"

namespace digestd {
namespace {

// January `dom`, 2024 at `hour`:`minute` UTC, in unix seconds.
std::int64_t At(int dom, int hour, int minute = 0) {
  using namespace std::chrono;
  const sys_days first{year{2024} / January / 1};
  return duration_cast<seconds>(
             (first + days(dom - 1) + hours(hour) + minutes(minute)).time_since_epoch())
      .count();
}

Notification Instant(const std::string& notifier, const std::string& id,
                     std::vector<std::string> watches, const std::string& event = "new") {
  Notification n;
  n.notifier = notifier;
  n.event = event;
  n.watches = std::move(watches);
  n.dedupe_key = notifier + '\x1f' + "arxiv:" + id + '\x1f' + event;
  n.id = NotificationId(n.dedupe_key);
  Paper p;
  p.key = "arxiv:" + id;
  p.title = "Paper " + id + " (" + event + ")";
  p.url = "https://arxiv.org/abs/" + id;
  n.papers.push_back(SourcedPaper{.paper = p, .source = "hf", .date = "2024-01-29"});
  return n;
}

TEST(HoldForDigestsTest, SplitsDigestWatchesOff) {
  std::vector<Notification> planned = {Instant("me", "1", {"instant", "daily"}),
                                       Instant("me", "2", {"daily"}),
                                       Instant("team", "3", {"instant"})};
  const auto held = HoldForDigests(planned, {"daily"});
  ASSERT_EQ(planned.size(), 2u);
  EXPECT_EQ(planned[0].watches, std::vector<std::string>{"instant"});
  EXPECT_EQ(planned[1].notifier, "team");
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].watch, "daily");
  EXPECT_EQ(held[0].notification.watches, std::vector<std::string>{"daily"});
  EXPECT_EQ(held[1].notification.papers[0].paper->key, "arxiv:2");
}

TEST(MakeWatchDigestTest, OneMessageEachPaperOnceWithItsNewestEvent) {
  const std::vector<HeldMatch> held = {
      {.watch = "daily", .notification = Instant("me", "1", {"daily"})},
      {.watch = "daily", .notification = Instant("me", "2", {"daily"})},
      {.watch = "daily", .notification = Instant("me", "1", {"daily"}, "updated")}};
  const Notification d = MakeWatchDigest("daily", "me", 1000, held);
  EXPECT_EQ(d.kind, "digest");
  EXPECT_EQ(d.notifier, "me");
  EXPECT_EQ(d.event, "mixed");
  ASSERT_EQ(d.papers.size(), 2u);
  EXPECT_EQ(d.papers[0].paper->key, "arxiv:1");
  EXPECT_EQ(d.papers[0].event, "updated");
  EXPECT_EQ(d.papers[1].event, "new");
  // The dedupe key is per (notifier, watch, run): another run is another message.
  EXPECT_NE(d.id, MakeWatchDigest("daily", "me", 2000, held).id);
  EXPECT_EQ(d.id, MakeWatchDigest("daily", "me", 1000, held).id);
  EXPECT_NE(d.id, MakeWatchDigest("daily", "team", 1000, held).id);
}

class DigestJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = StateStore::Open(dir_.File("state.db"));
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    config_.notifiers.push_back(NotifierConfig{.name = "me", .kind = "console"});
    config_.notifiers.push_back(NotifierConfig{.name = "team", .kind = "console"});
    config_.notifiers.push_back(NotifierConfig{.name = "off", .kind = "console", .enabled = false});
    config_.watches.push_back(
        WatchConfig{.spec = {.name = "daily", .notify = {"me", "team", "off"}},
                    .delivery = "digest",
                    .digest_schedule = "0 8 * * *",
                    .timezone = "Asia/Seoul"});  // 23:00 UTC
  }

  // Commits a digest whose planned notifications are `planned`, at `now`.
  void Commit(std::vector<Notification> planned, std::int64_t now) {
    auto held = HoldForDigests(planned, {"daily"});
    ASSERT_TRUE(store_->CommitDigest(DigestCommit{.source = "hf",
                                                  .url = "file:///d",
                                                  .date = "2024-01-29",
                                                  .now = now,
                                                  .notifications = std::move(planned),
                                                  .held = std::move(held)}));
  }

  std::vector<Notification> Run(std::int64_t now) {
    auto queued = QueueDueDigests(config_, *store_, now, nullptr);
    EXPECT_TRUE(queued) << queued.error().message;
    return queued ? *queued : std::vector<Notification>{};
  }

  int Outbox() {
    auto rows = store_->ListOutbox("", "", 100);
    EXPECT_TRUE(rows);
    return rows ? int(rows->size()) : -1;
  }

  test::TempDir dir_;
  Config config_;
  std::unique_ptr<StateStore> store_;
};

TEST_F(DigestJobTest, HeldUntilTheScheduleThenOneMessagePerNotifier) {
  Commit({Instant("me", "1", {"daily"}), Instant("team", "1", {"daily"})}, At(29, 10));
  Commit({Instant("me", "2", {"daily"}), Instant("team", "2", {"daily"})}, At(29, 12));
  EXPECT_EQ(Outbox(), 0) << "held, not queued";
  EXPECT_TRUE(Run(At(29, 22, 59)).empty()) << "before 08:00 in Seoul";
  const auto sent = Run(At(29, 23, 0));
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].notifier, "me");
  EXPECT_EQ(sent[0].papers.size(), 2u);
  EXPECT_EQ(sent[1].notifier, "team");
  EXPECT_EQ(Outbox(), 2);
  // Run again in the same period, and after: nothing new, nothing doubled.
  EXPECT_TRUE(Run(At(29, 23, 5)).empty());
  EXPECT_TRUE(Run(At(30, 23, 5)).empty()) << "an empty digest sends nothing";
  EXPECT_EQ(Outbox(), 2);
  EXPECT_EQ(*store_->HeldCount(), 0);
  // The outbox rows read back whole.
  auto rows = store_->ListOutbox("", "me", 10);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].kind, "digest");
  ASSERT_EQ((*rows)[0].notification.papers.size(), 2u);
  EXPECT_EQ((*rows)[0].notification.papers[1].paper->title, "Paper 2 (new)");
}

TEST_F(DigestJobTest, MatchesAfterTheRunWaitForTheNext) {
  Commit({Instant("me", "1", {"daily"})}, At(29, 10));
  Commit({Instant("me", "2", {"daily"})}, At(29, 23, 30));  // after Tuesday's 08:00 KST
  auto sent = Run(At(30, 1));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].papers.size(), 1u);
  sent = Run(At(30, 23, 1));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].papers[0].paper->key, "arxiv:2");
}

TEST_F(DigestJobTest, DowntimeOverManyRunsSendsOneDigest) {
  Commit({Instant("me", "1", {"daily"})}, At(20, 10));
  Commit({Instant("me", "2", {"daily"})}, At(22, 10));
  const auto sent = Run(At(29, 12));  // a week of runs missed
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].papers.size(), 2u);
}

TEST_F(DigestJobTest, ARunWhoseDigestWentOutLeavesLateMatchesForTheNext) {
  Commit({Instant("me", "1", {"daily"})}, At(29, 10));
  ASSERT_EQ(Run(At(29, 23, 1)).size(), 1u);
  // A match stamped before the run but committed after it (another process's cycle): the
  // run's digest is out, so it waits for the next run rather than being lost.
  Commit({Instant("me", "2", {"daily"})}, At(29, 22));
  EXPECT_TRUE(Run(At(29, 23, 2)).empty());
  EXPECT_EQ(*store_->HeldCount(), 1);
  const auto next = Run(At(30, 23, 1));
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].papers[0].paper->key, "arxiv:2");
}

TEST_F(DigestJobTest, DryRunTakesNothing) {
  Commit({Instant("me", "1", {"daily"})}, At(29, 10));
  auto planned = QueueDueDigests(config_, *store_, At(30, 1), nullptr, /*dry_run=*/true);
  ASSERT_TRUE(planned);
  EXPECT_EQ(planned->size(), 1u);
  EXPECT_EQ(Outbox(), 0);
  EXPECT_EQ(*store_->HeldCount(), 1);
}

TEST_F(DigestJobTest, PruneDropsMatchesHeldPastRetention) {
  Commit({Instant("me", "1", {"daily"})}, At(2, 10));
  Commit({Instant("me", "2", {"daily"})}, At(29, 10));
  ASSERT_TRUE(store_->Prune(At(10, 0)));
  EXPECT_EQ(*store_->HeldCount(), 1);
  const auto sent = Run(At(30, 1));
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_EQ(sent[0].papers.size(), 1u);
  EXPECT_EQ(sent[0].papers[0].paper->title, "Paper 2 (new)") << "its snapshot survived";
}

}  // namespace
}  // namespace digestd
