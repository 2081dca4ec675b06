// The leader lease (issue 14) on both backends: one holder at a time, renewal, takeover
// once the lease runs out, resignation, and the fence that keeps a deposed leader from
// writing. On PostgreSQL too (ctest's "postgresql." copies).
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "store/state_store.h"
#include "tests/store/store_testing.h"
#include "tests/support/temp_dir.h"

namespace digestd {
namespace {

DigestCommit OneCommit(std::int64_t now) {
  DigestCommit c{.source = "hf-ko", .url = "https://example.org/d.md", .date = "2024-01-29",
                 .now = now};
  Paper p;
  p.key = "arxiv:2401.00001";
  p.title = "A";
  p.url = "https://arxiv.org/abs/2401.00001";
  c.papers.push_back(p);
  return c;
}

TEST(Issue14Store, OneHolderAtATimeUntilItsLeaseRunsOut) {
  test::TempDir dir;
  const std::string state = test::TestStateLocation(dir.File("state.db"));
  auto a = StateStore::Open(state);
  auto b = StateStore::Open(state);
  ASSERT_TRUE(a && b) << (a ? b.error().message : a.error().message);

  auto none = (*a)->Leader();
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(none->has_value());

  auto first = (*a)->Lead("host-a/1:1", 60'000);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->holder, "host-a/1:1");
  EXPECT_GT(first->expires_ms, first->now_ms);
  // Another instance sees the holder and does not take over a live lease.
  auto seen = (*b)->Lead("host-b/2:2", 60'000);
  ASSERT_TRUE(seen) << seen.error().message;
  EXPECT_EQ(seen->holder, "host-a/1:1");
  EXPECT_EQ(seen->since_ms, first->since_ms);
  // Renewal keeps `since` and moves the end.
  auto renewed = (*a)->Lead("host-a/1:1", 120'000);
  ASSERT_TRUE(renewed) << renewed.error().message;
  EXPECT_EQ(renewed->since_ms, first->since_ms);
  EXPECT_GT(renewed->expires_ms, first->expires_ms);

  // A short lease that is not renewed runs out, and the other instance takes over.
  ASSERT_TRUE((*a)->Lead("host-a/1:1", 1));  // renewed for 1 ms from now
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto taken = (*b)->Lead("host-b/2:2", 60'000);
  ASSERT_TRUE(taken) << taken.error().message;
  EXPECT_EQ(taken->holder, "host-b/2:2");
  EXPECT_GE(taken->since_ms, first->since_ms);
  auto leader = (*a)->Leader();
  ASSERT_TRUE(leader && leader->has_value());
  EXPECT_EQ((*leader)->holder, "host-b/2:2");
}

TEST(Issue14Store, ADeposedLeaderWritesNothing) {
  test::TempDir dir;
  const std::string state = test::TestStateLocation(dir.File("state.db"));
  auto a = StateStore::Open(state);
  auto b = StateStore::Open(state);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE((*a)->Lead("a", 60'000));
  ASSERT_TRUE((*a)->FenceWith("a", 60'000));
  ASSERT_TRUE((*a)->CommitDigest(OneCommit(100))) << "the holder writes";

  // `a` stops renewing (paused, cut off); its lease runs out and `b` takes over.
  ASSERT_TRUE((*a)->Lead("a", 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ((*b)->Lead("b", 60'000)->holder, "b");

  DigestCommit late = OneCommit(200);
  late.papers[0].Edit().title = "written by a deposed leader";
  auto st = (*a)->CommitDigest(late);
  ASSERT_FALSE(st);
  EXPECT_TRUE(st.error().message.starts_with(StateStore::kNotLeader)) << st.error().message;
  Notification alert = test::Row("me", "alert-1");
  EXPECT_FALSE((*a)->QueueNotifications({alert}, 200));
  auto sightings = (*b)->LoadSightings("", "");
  ASSERT_TRUE(sightings) << sightings.error().message;
  ASSERT_EQ(sightings->size(), 1u);
  EXPECT_EQ((*sightings)[0].paper->title, "A");
  EXPECT_TRUE((*b)->FindOutbox("alert-1")->empty());

  // Without a fence (delivery's writes), the same store writes again.
  ASSERT_TRUE((*a)->FenceWith("", 0));
  EXPECT_TRUE((*a)->QueueNotifications({alert}, 200));
}

TEST(Issue14Store, ResigningLetsAnotherTakeOverAtOnce) {
  test::TempDir dir;
  const std::string state = test::TestStateLocation(dir.File("state.db"));
  auto a = StateStore::Open(state);
  auto b = StateStore::Open(state);
  ASSERT_TRUE(a && b);
  ASSERT_EQ((*a)->Lead("a", 60'000)->holder, "a");
  ASSERT_EQ((*b)->Lead("b", 60'000)->holder, "a");
  ASSERT_TRUE((*a)->Resign("a"));
  EXPECT_EQ((*b)->Lead("b", 60'000)->holder, "b");
  // Resigning a lease one does not hold changes nothing.
  ASSERT_TRUE((*a)->Resign("a"));
  EXPECT_EQ((*a)->Leader()->value().holder, "b");
}

TEST(Issue14Store, AShownPostgresUrlHasNoPassword) {
  EXPECT_EQ(DisplayedStateLocation("postgresql://digestd:s3cret@db.example.org:5432/d"),
            "postgresql://digestd@db.example.org:5432/d");
  EXPECT_EQ(DisplayedStateLocation("postgres://db.example.org/d?sslmode=require&password=x"),
            "postgres://db.example.org/d?sslmode=require&password=…");
  EXPECT_EQ(DisplayedStateLocation("/var/lib/digestd/state.db"), "/var/lib/digestd/state.db");
  auto store = StateStore::Open("postgresql://nobody:s3cret@127.0.0.1:1/none?connect_timeout=2");
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().message.find("s3cret"), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find("postgresql://nobody@127.0.0.1:1/none"), std::string::npos)
      << store.error().message;
}

}  // namespace
}  // namespace digestd
