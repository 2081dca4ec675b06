// PlanDigest: events from diffs, thresholds, first-run modes, routing and deduplication.
#include "core/planner.h"

#include <cstdio>

#include <gtest/gtest.h>

namespace digestd {
namespace {

Paper MakePaper(const std::string& id, const std::string& title, std::optional<int> votes) {
  Paper p;
  p.key = "arxiv:" + id;
  p.title = title;
  p.url = "https://arxiv.org/abs/" + id;
  p.authors = {"Torsten Hoefler"};
  p.summary = {"희소화에 대한 요약"};
  p.votes = votes;
  return p;
}

WatchSpec Watch(const std::string& name, std::vector<std::string> keywords,
                std::vector<std::string> notify) {
  return WatchSpec{.name = name, .keywords = std::move(keywords), .notify = std::move(notify)};
}

class PlannerTest : public ::testing::Test {
 protected:
  Plan Run(std::vector<WatchSpec> specs, FirstRunMode mode = FirstRunMode::kNotFirst,
           int latest_n = 0, bool record_decisions = true) {
    auto matcher = WatchMatcher::Compile(std::move(specs));
    EXPECT_TRUE(matcher) << matcher.error().message;
    matcher_ = std::make_unique<WatchMatcher>(std::move(*matcher));
    shared_ = SharePapers(papers_);
    PlanInput in{.source = "hf-ko",
                 .date = "2024-01-29",
                 .papers = &shared_,
                 .prior = &prior_,
                 .notified = &notified_,
                 .matcher = matcher_.get(),
                 .enabled_notifiers = {"me", "team"},
                 .first_run = mode,
                 .latest_n = latest_n,
                 .record_decisions = record_decisions};
    return PlanDigest(in);
  }

  std::vector<Paper> papers_;
  std::vector<SharedPaper> shared_;  // papers_, as the planner takes them
  std::map<std::string, PriorSighting> prior_;
  std::set<std::string> notified_;
  std::unique_ptr<WatchMatcher> matcher_;
};

TEST_F(PlannerTest, NewPaperMatchingAWatchIsNotifiedToEachNotifier) {
  papers_ = {MakePaper("2401.15024", "SliceGPT", 40), MakePaper("2401.00002", "Birds", 1)};
  Plan plan = Run({Watch("sparsity", {"희소화"}, {"me", "team"})});
  // Both papers carry the Korean keyword in their summary.
  ASSERT_EQ(plan.notifications.size(), 4u);
  EXPECT_EQ(plan.notifications[0].event, "new");
  EXPECT_EQ(plan.notifications[0].kind, "instant");
  EXPECT_EQ(plan.notifications[0].watches, std::vector<std::string>{"sparsity"});
  EXPECT_EQ(plan.notified.size(), 4u);
  EXPECT_EQ(plan.notifications[0].id, NotificationId(plan.notifications[0].dedupe_key));
  for (const Notification& n : plan.notifications) EXPECT_EQ(n.papers[0].prior, nullptr);
}

// Issue 12, point 3: every notification about a paper holds the planner's paper, not a copy.
TEST_F(PlannerTest, NotificationsOfOnePaperShareIt) {
  papers_ = {MakePaper("2401.15024", "SliceGPT", 40)};
  Plan plan = Run({Watch("sparsity", {"희소화"}, {"me", "team"})});
  ASSERT_EQ(plan.notifications.size(), 2u);
  for (const Notification& n : plan.notifications) {
    ASSERT_EQ(n.papers.size(), 1u);
    EXPECT_TRUE(n.papers[0].paper.SameAs(shared_[0])) << n.notifier;
  }
}

TEST_F(PlannerTest, SeveralWatchesForOneNotifierMakeOneNotification) {
  papers_ = {MakePaper("2401.15024", "SliceGPT sparsity", 40)};
  Plan plan = Run({Watch("a", {"sparsity"}, {"me"}), Watch("b", {"SliceGPT"}, {"me"})});
  ASSERT_EQ(plan.notifications.size(), 1u);
  EXPECT_EQ(plan.notifications[0].watches, (std::vector<std::string>{"a", "b"}));
}

TEST_F(PlannerTest, AlreadyNotifiedWatchIsNotSentAgainButAnotherWatchStillIs) {
  papers_ = {MakePaper("2401.15024", "SliceGPT sparsity", 40)};
  notified_ = {NotifiedKey("me", "arxiv:2401.15024", "paper", "a")};
  Plan plan = Run({Watch("a", {"sparsity"}, {"me"}), Watch("b", {"SliceGPT"}, {"me"})});
  ASSERT_EQ(plan.notifications.size(), 1u);
  EXPECT_EQ(plan.notifications[0].watches, std::vector<std::string>{"b"});
  bool saw_already = false;
  for (const Decision& d : plan.decisions) saw_already |= d.verdict == "already sent";
  EXPECT_TRUE(saw_already);
}

TEST_F(PlannerTest, KnownPaperWithoutChangesFiresNothing) {
  papers_ = {MakePaper("2401.15024", "SliceGPT", 40)};
  prior_["arxiv:2401.15024"] = {.content_hash = SightingContentHash(papers_[0]), .votes = 40};
  EXPECT_TRUE(Run({Watch("a", {"SliceGPT"}, {"me"})}).notifications.empty());
}

TEST_F(PlannerTest, GivesEachPapersContentHashForTheCommit) {
  papers_ = {MakePaper("2401.15024", "SliceGPT", 40), MakePaper("2401.00002", "Other", 1),
             MakePaper("2401.15024", "SliceGPT again", 41)};
  const Plan plan = Run({Watch("a", {"SliceGPT"}, {"me"})});
  ASSERT_EQ(plan.content_hashes.size(), 3u);
  EXPECT_EQ(plan.content_hashes[0].view(), SightingContentHash(papers_[0]));
  EXPECT_EQ(plan.content_hashes[1].view(), SightingContentHash(papers_[1]));
  EXPECT_TRUE(plan.content_hashes[2].empty()) << "a repeated key is not planned, nor hashed";
}

TEST_F(PlannerTest, RenamedPaperIsUpdatedNotNewAndUpdatedIsOptIn) {
  papers_ = {MakePaper("2410.09342", "LLMtimesMapReduce model", 5)};
  prior_["arxiv:2410.09342"] = {.content_hash = SightingContentHash(MakePaper(
                                    "2410.09342", "LLM$\\times$MapReduce model", 5)),
                                .votes = 5};
  EXPECT_TRUE(Run({Watch("a", {"model"}, {"me"})}).notifications.empty());
  WatchSpec opt_in = Watch("a", {"model"}, {"me"});
  opt_in.events = {"new", "updated"};
  Plan plan = Run({opt_in});
  ASSERT_EQ(plan.notifications.size(), 1u);
  EXPECT_EQ(plan.notifications[0].event, "updated");
}

TEST_F(PlannerTest, VotesAloneNeverMakeAnUpdate) {
  papers_ = {MakePaper("2401.15024", "SliceGPT", 90)};
  prior_["arxiv:2401.15024"] = {.content_hash = SightingContentHash(papers_[0]), .votes = 40};
  WatchSpec w = Watch("a", {"SliceGPT"}, {"me"});
  w.events = {"new", "updated", "threshold", "new_version"};
  EXPECT_TRUE(Run({w}).notifications.empty());
}

TEST_F(PlannerTest, MinVotesOnFirstSighting) {
  papers_ = {MakePaper("2401.00001", "model low", 3), MakePaper("2401.00002", "model high", 30),
             MakePaper("2401.00003", "model none", std::nullopt)};
  WatchSpec w = Watch("popular", {"model"}, {"me"});
  w.min_votes = 20;
  Plan plan = Run({w});
  ASSERT_EQ(plan.notifications.size(), 1u);
  EXPECT_EQ(plan.notifications[0].papers[0].paper->key, "arxiv:2401.00002");
  int below = 0;
  for (const Decision& d : plan.decisions) below += d.verdict == "below threshold";
  EXPECT_EQ(below, 2);
}

TEST_F(PlannerTest, ThresholdFiresWhenVotesCrossAndOnlyOnce) {
  WatchSpec w = Watch("popular", {"model"}, {"me"});
  w.min_votes = 20;
  papers_ = {MakePaper("2401.00001", "model", 25)};
  prior_["arxiv:2401.00001"] = {.content_hash = SightingContentHash(papers_[0]), .votes = 3};
  Plan plan = Run({w});
  ASSERT_EQ(plan.notifications.size(), 1u);
  EXPECT_EQ(plan.notifications[0].event, "threshold");
  EXPECT_EQ(plan.notifications[0].papers[0].Prior().votes, 3);  // the message says 3 -> 25
  // Recorded as notified, the same crossing seen again is not sent twice.
  for (const NotifiedMark& k : plan.notified) notified_.insert(k.Encode());
  EXPECT_TRUE(Run({w}).notifications.empty());
  // Votes dropping and rising again do not fire either (already above, then notified).
  prior_["arxiv:2401.00001"].votes = 10;
  EXPECT_TRUE(Run({w}).notifications.empty());
}

TEST_F(PlannerTest, ThresholdNotInEventsDoesNotFire) {
  WatchSpec w = Watch("popular", {"model"}, {"me"});
  w.min_votes = 20;
  w.events = {"new"};
  papers_ = {MakePaper("2401.00001", "model", 25)};
  prior_["arxiv:2401.00001"] = {.content_hash = SightingContentHash(papers_[0]), .votes = 3};
  EXPECT_TRUE(Run({w}).notifications.empty());
}

TEST_F(PlannerTest, NewVersionIsOptIn) {
  papers_ = {MakePaper("2401.00001", "model", 5)};
  papers_[0].version = "v2";
  prior_["arxiv:2401.00001"] = {.content_hash = SightingContentHash(papers_[0]), .votes = 5,
                                .version = "v1"};
  EXPECT_TRUE(Run({Watch("a", {"model"}, {"me"})}).notifications.empty());
  WatchSpec w = Watch("a", {"model"}, {"me"});
  w.events = {"new_version"};
  Plan plan = Run({w});
  ASSERT_EQ(plan.notifications.size(), 1u);
  EXPECT_EQ(plan.notifications[0].event, "new_version");
  EXPECT_EQ(plan.notifications[0].papers[0].Prior().version, "v1");
  EXPECT_EQ(plan.notifications[0].papers[0].Prior().title, "");  // the title did not change
}

TEST_F(PlannerTest, BaselineRecordsDecisionsButNotifiesNothing) {
  papers_ = {MakePaper("2401.00001", "model", 5)};
  Plan plan = Run({Watch("a", {"model"}, {"me"})}, FirstRunMode::kBaseline);
  EXPECT_TRUE(plan.notifications.empty());
  EXPECT_TRUE(plan.notified.empty());
  ASSERT_EQ(plan.decisions.size(), 1u);
  EXPECT_EQ(plan.decisions[0].verdict, "baseline");
}

TEST_F(PlannerTest, LatestNotifiesTheTopVotedOnly) {
  papers_ = {MakePaper("2401.00001", "model", 5), MakePaper("2401.00002", "model", 50),
             MakePaper("2401.00003", "model", std::nullopt),
             MakePaper("2401.00004", "model", 20)};
  Plan plan = Run({Watch("a", {"model"}, {"me"})}, FirstRunMode::kLatest, 2);
  std::set<std::string> keys;
  for (const auto& n : plan.notifications) keys.insert(n.papers[0].paper->key);
  EXPECT_EQ(keys, (std::set<std::string>{"arxiv:2401.00002", "arxiv:2401.00004"}));
}

TEST_F(PlannerTest, DisabledNotifiersAreSkipped) {
  papers_ = {MakePaper("2401.00001", "model", 5)};
  Plan plan = Run({Watch("a", {"model"}, {"gone"})});
  EXPECT_TRUE(plan.notifications.empty());
  ASSERT_EQ(plan.decisions.size(), 1u);
  EXPECT_EQ(plan.decisions[0].verdict, "notifier disabled");
}

TEST_F(PlannerTest, DuplicateKeysInOneDigestArePlannedOnce) {
  papers_ = {MakePaper("2410.09342", "LLM$\\times$MapReduce model", 5),
             MakePaper("2410.09342", "LLMtimesMapReduce model", 5)};
  Plan plan = Run({Watch("a", {"model"}, {"me"})});
  ASSERT_EQ(plan.notifications.size(), 1u);
  EXPECT_EQ(plan.notifications[0].papers[0].paper->title, "LLM$\\times$MapReduce model");
}

TEST_F(PlannerTest, DedupeKeysAreStableAndDistinct) {
  papers_ = {MakePaper("2401.00001", "model", 5)};
  Plan a = Run({Watch("a", {"model"}, {"me", "team"})});
  Plan b = Run({Watch("a", {"model"}, {"me", "team"})});
  ASSERT_EQ(a.notifications.size(), 2u);
  EXPECT_EQ(a.notifications[0].id, b.notifications[0].id);
  EXPECT_NE(a.notifications[0].id, a.notifications[1].id);
}

// A long day is matched in blocks: every paper is planned once, with its own matches and
// hash, across the blocks' edges, and a key repeated in a later block stays the first's.
TEST_F(PlannerTest, LongDayIsPlannedAcrossMatchingBlocks) {
  for (int i = 0; i < 5000; ++i) {
    const std::string id = "2401." + std::to_string(10000 + i);
    papers_.push_back(MakePaper(id, i % 3 == 0 ? "a model" : "birds", i));
  }
  papers_[2048] = papers_[7];      // the first of the second block repeats an earlier key
  papers_[4096] = papers_[4095];   // and one across the next edge
  const Plan plan = Run({Watch("w", {"model"}, {"me"})});
  ASSERT_EQ(plan.content_hashes.size(), papers_.size());
  std::set<std::string> notified;
  for (const Notification& n : plan.notifications) {
    ASSERT_EQ(n.papers.size(), 1u);
    EXPECT_TRUE(notified.insert(n.papers[0].paper->key).second) << n.papers[0].paper->key;
  }
  std::size_t expected = 0;
  for (std::size_t i = 0; i < papers_.size(); ++i) {
    const bool repeated = i == 2048 || i == 4096;
    EXPECT_EQ(plan.content_hashes[i].view(), repeated ? "" : SightingContentHash(papers_[i])) << i;
    if (!repeated && papers_[i].title == "a model") {
      ++expected;
      EXPECT_TRUE(notified.count(papers_[i].key)) << i;
    }
  }
  EXPECT_EQ(notified.size(), expected);
  EXPECT_EQ(plan.notified.size(), expected);
}

TEST_F(PlannerTest, DecisionsOnlyWhenAskedForAndWithTheHitTerms) {
  papers_ = {MakePaper("2401.15024", "SliceGPT sparsity", 40)};
  const std::vector<WatchSpec> specs = {Watch("a", {"sparsity", "Hoefler"}, {"me"}),
                                        {.name = "b", .authors = {"T. Hoefler"}, .notify = {"me"}}};
  Plan recorded = Run(specs);
  // A plan's marks are views of its inputs (NotifiedMark), which the next Run replaces.
  std::vector<std::string> recorded_marks;
  for (const NotifiedMark& mark : recorded.notified) recorded_marks.push_back(mark.Encode());
  ASSERT_EQ(recorded.decisions.size(), 2u);
  EXPECT_EQ(recorded.decisions[0].watch, "a");
  EXPECT_EQ(recorded.decisions[0].verdict, "notified");
  EXPECT_EQ(recorded.decisions[0].terms, std::vector<std::string>{"keyword:sparsity (title)"});
  EXPECT_EQ(recorded.decisions[1].terms, std::vector<std::string>{"author:T. Hoefler"});

  Plan plain = Run(specs, FirstRunMode::kNotFirst, 0, /*record_decisions=*/false);
  EXPECT_TRUE(plain.decisions.empty());
  ASSERT_EQ(plain.notifications.size(), 1u);
  EXPECT_EQ(plain.notifications[0].dedupe_key, recorded.notifications[0].dedupe_key);
  std::vector<std::string> plain_marks;
  for (const NotifiedMark& mark : plain.notified) plain_marks.push_back(mark.Encode());
  EXPECT_EQ(plain_marks, recorded_marks);
}

// A long digest is matched on two threads (FactsOf): its plan is the plan of each paper on
// its own, in order, whichever thread matched it.
TEST_F(PlannerTest, ALongDigestPlansAsItsPapersOneByOne) {
  std::vector<Paper> all;
  for (int i = 0; i < 700; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "2401.%05d", i);
    all.push_back(MakePaper(id, i % 3 == 0 ? "Sparsity " + std::to_string(i) : "Birds", i % 50));
  }
  all[650] = all[20];  // a key listed twice: planned once, at its first place
  const std::vector<WatchSpec> specs = {Watch("sparse", {"sparsity"}, {"me"}),
                                        Watch("korean", {"희소화"}, {"team"})};
  papers_ = all;
  const Plan whole = Run(specs);
  std::vector<std::string> one_by_one;
  std::vector<std::string> hashes;
  for (std::size_t i = 0; i < all.size(); ++i) {
    papers_ = {all[i]};
    const Plan alone = Run(specs);
    hashes.emplace_back(i == 650 ? std::string_view() : alone.content_hashes.at(0).view());
    if (i == 650) continue;
    for (const Notification& n : alone.notifications) one_by_one.push_back(NotificationToJson(n));
  }
  std::vector<std::string> planned;
  for (const Notification& n : whole.notifications) planned.push_back(NotificationToJson(n));
  EXPECT_EQ(planned.size(), 699u + 234u);  // every paper to "team", every third to "me"
  EXPECT_EQ(planned, one_by_one);
  std::vector<std::string> whole_hashes;
  for (const HashDigits& h : whole.content_hashes) whole_hashes.emplace_back(h.view());
  EXPECT_EQ(whole_hashes, hashes);
}

TEST(SightingContentHash, IgnoresVotesAndVersion) {
  Paper a = MakePaper("2401.00001", "model", 5);
  Paper b = a;
  b.votes = 99;
  b.version = "v3";
  EXPECT_EQ(SightingContentHash(a), SightingContentHash(b));
  b.summary.push_back("more");
  EXPECT_NE(SightingContentHash(a), SightingContentHash(b));
}

}  // namespace
}  // namespace digestd
