// StateStore::CopyInto (`digestd migrate`, issue 14 point 5): a SQLite state with a row in
// every table copied into PostgreSQL (and back into SQLite) reads the same there, takes new
// commits without an id colliding, and a destination that holds anything is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/dedupe_key.h"
#include "core/notification.h"
#include "store/state_store.h"
#include "tests/store/store_testing.h"
#include "tests/support/pg_testing.h"
#include "tests/support/temp_dir.h"

namespace digestd {
namespace {

Paper MakePaper(const std::string& id) {
  Paper p;
  p.key = "arxiv:" + id;
  p.title = "Paper " + id;
  p.url = "https://arxiv.org/abs/" + id;
  p.authors = {"Ada Lovelace"};
  p.votes = 3;
  return p;
}

Notification ToHook(const Paper& paper, const std::string& watch) {
  Notification n;
  n.notifier = "hook";
  n.dedupe_key = DedupeKey{"hook", paper.key, "paper", {watch}}.Encode();
  n.id = NotificationId(n.dedupe_key);
  n.event = "new";
  n.kind = "paper";
  n.watches = {watch};
  n.papers.push_back({.paper = paper, .source = "hf", .date = "2024-01-29"});
  return n;
}

DigestCommit Commit(const std::vector<std::string>& ids, std::int64_t now) {
  DigestCommit c{.source = "hf", .url = "https://example.org/2024-01-29.md",
                 .date = "2024-01-29", .now = now};
  c.validators.etag = "\"e1\"";
  for (const std::string& id : ids) {
    c.papers.push_back(MakePaper(id));
    c.notifications.push_back(ToHook(c.papers.back(), "instant"));
    c.notified.push_back(NotifiedMark{"hook", c.papers.back()->key, "paper", "instant"});
    Notification held = ToHook(c.papers.back(), "daily");
    c.held.push_back({.watch = "daily", .notification = held});
  }
  return c;
}

// A state with a row in every table: three papers notified to "hook" (one row sent and
// dead, one being sent, one pending), their matches held for the "daily" digest, the
// notifier's health, a first run done, and a leader.
void Fill(StateStore& store) {
  ASSERT_TRUE(store.CommitDigest(Commit({"2401.00001", "2401.00002", "2401.00003"}, 1000)));
  ASSERT_TRUE(store.MarkFirstRunDone("hf", 900));
  auto claimed = store.ClaimDue("hook", 1000, 2, "pid-1", 5000, test::AllAlive);
  ASSERT_TRUE(claimed) << claimed.error().message;
  ASSERT_EQ(claimed->size(), 2u);
  ASSERT_TRUE(store.RecordDeliveries(
      {{.id = (*claimed)[0].id, .kind = DeliveryResult::Kind::kDead, .error = "HTTP 400"}},
      "pid-1", 1001));
  ASSERT_TRUE(store.PutNotifierHealth("hook", {.failing_since = 1001, .alerted = true}));
  ASSERT_TRUE(store.Lead("host/1:1", 30000));
}

std::map<std::string, std::string> ByState(const std::vector<OutboxRow>& rows) {
  std::map<std::string, std::string> out;
  for (const OutboxRow& r : rows) out[r.id] = r.state + "/" + r.lease_owner;
  return out;
}

std::vector<std::string> Titles(const std::vector<StoredSighting>& sightings) {
  std::vector<std::string> out;
  for (const StoredSighting& s : sightings) out.push_back(s.source + ":" + s.paper->title);
  return out;
}

std::vector<std::string> Keys(const std::vector<HeldMatch>& held) {
  std::vector<std::string> out;
  for (const HeldMatch& h : held) {
    out.push_back(std::to_string(h.row) + ":" + h.notification.dedupe_key + ":" +
                  h.notification.papers.at(0).paper->title);
  }
  return out;
}

// Copies a filled SQLite state into `to` and checks that it reads the same there.
void CopyAndCompare(const std::string& to_location) {
  test::TempDir dir;
  auto from = StateStore::Open(dir.File("state.db"));
  ASSERT_TRUE(from) << from.error().message;
  ASSERT_NO_FATAL_FAILURE(Fill(**from));
  auto to = StateStore::Open(to_location);
  ASSERT_TRUE(to) << to.error().message;

  auto report = (*from)->CopyInto(**to);
  ASSERT_TRUE(report) << report.error().message;
  std::map<std::string, std::int64_t> counts;
  for (const auto& t : report->tables) counts[t.table] = t.rows;
  EXPECT_EQ(counts, (std::map<std::string, std::int64_t>{{"snapshots", 3},
                                                         {"sightings", 3},
                                                         {"sources", 1},
                                                         {"fetch_state", 1},
                                                         {"notified_sets", 3},
                                                         {"outbox", 3},
                                                         {"notifier_health", 1},
                                                         {"digest_held", 3}}));
  EXPECT_EQ(report->released, 1);

  // The outbox: the same rows, newest first; the one being sent is pending with no lease.
  auto before = (*from)->ListOutbox("", "", 10);
  auto after = (*to)->ListOutbox("", "", 10);
  ASSERT_TRUE(before && after);
  EXPECT_EQ(test::Ids(*after), test::Ids(*before));
  auto expected = ByState(*before);
  for (auto& [id, state] : expected) {
    if (state.starts_with("sending")) state = "pending/";
  }
  EXPECT_EQ(ByState(*after), expected);
  for (std::size_t i = 0; i < after->size() && i < before->size(); ++i) {
    EXPECT_EQ((*after)[i].notification.papers.at(0).paper->title,
              (*before)[i].notification.papers.at(0).paper->title);
    EXPECT_EQ((*after)[i].last_error, (*before)[i].last_error);
    EXPECT_EQ((*after)[i].unreadable, "");
  }
  auto sightings_before = (*from)->LoadSightings("", "");
  auto sightings_after = (*to)->LoadSightings("", "");
  ASSERT_TRUE(sightings_before && sightings_after);
  EXPECT_EQ(Titles(*sightings_after), Titles(*sightings_before));
  auto held_before = (*from)->HeldFor("daily", "hook", 2000);
  auto held_after = (*to)->HeldFor("daily", "hook", 2000);
  ASSERT_TRUE(held_before && held_after) << (held_after ? "" : held_after.error().message);
  EXPECT_EQ(Keys(*held_after), Keys(*held_before));
  EXPECT_EQ(held_after->size(), 3u);
  auto source = (*to)->GetSourceState("hf");
  ASSERT_TRUE(source);
  EXPECT_EQ(source->first_run_at, 900);
  auto validators = (*to)->GetValidators("hf", "https://example.org/2024-01-29.md");
  ASSERT_TRUE(validators && *validators);
  EXPECT_EQ((*validators)->etag, "\"e1\"");
  auto notified = (*to)->LoadNotified({"arxiv:2401.00001"});
  ASSERT_TRUE(notified);
  EXPECT_EQ(notified->size(), 1u);
  auto health = (*to)->GetNotifierHealth("hook");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->failing_since, 1001);
  EXPECT_TRUE(health->alerted);
  auto leader = (*to)->Leader();
  ASSERT_TRUE(leader);
  EXPECT_FALSE(*leader) << "the leader lease belongs to the old place";

  // New rows take ids past the copied ones: a new paper's snapshot and held match, and a
  // digest taking the held matches, all commit.
  ASSERT_TRUE((*to)->CommitDigest(Commit({"2401.00004"}, 1100)));
  auto held = (*to)->HeldFor("daily", "hook", 2000);
  ASSERT_TRUE(held) << held.error().message;
  ASSERT_EQ(held->size(), 4u);
  std::vector<std::int64_t> rows;
  for (const HeldMatch& h : *held) rows.push_back(h.row);
  EXPECT_EQ(std::set<std::int64_t>(rows.begin(), rows.end()).size(), 4u);
  Notification digest = ToHook(MakePaper("2401.00004"), "daily");
  digest.kind = "digest";
  digest.dedupe_key = "hook|daily|digest";
  digest.id = NotificationId(digest.dedupe_key);
  auto taken = (*to)->TakeHeld(rows, digest, 1200);
  ASSERT_TRUE(taken) << taken.error().message;
  EXPECT_TRUE(*taken);
  auto pending = (*to)->ListOutbox("pending", "hook", 10);
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->size(), 4u);  // the two copied, the new paper's, the digest

  // A state that holds anything is not a fresh one: refused, and left as it was.
  auto again = (*from)->CopyInto(**to);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("not a fresh state"), std::string::npos)
      << again.error().message;
  EXPECT_NE(again.error().message.find("sightings"), std::string::npos) << again.error().message;
  auto counts_after = (*to)->OutboxCounts();
  ASSERT_TRUE(counts_after);
  EXPECT_EQ((*counts_after)["pending"], 4);
}

TEST(Issue14Migrate, ASqliteStateCopiedIntoPostgresReadsTheSame) {
  std::string skip;
  auto database = test::FreshPostgresDatabase(&skip);
  ASSERT_TRUE(database) << database.error().message;
  if (!*database) GTEST_SKIP() << skip;
  CopyAndCompare((*database)->url());
}

TEST(Issue14Migrate, ASqliteStateCopiedIntoSqliteReadsTheSame) {
  test::TempDir dir;
  CopyAndCompare(dir.File("copy.db"));
}

TEST(Issue14Migrate, APostgresStateCopiesBackIntoSqlite) {
  std::string skip;
  auto database = test::FreshPostgresDatabase(&skip);
  ASSERT_TRUE(database) << database.error().message;
  if (!*database) GTEST_SKIP() << skip;
  test::TempDir dir;
  auto pg = StateStore::Open((*database)->url());
  ASSERT_TRUE(pg) << pg.error().message;
  ASSERT_NO_FATAL_FAILURE(Fill(**pg));
  auto back = StateStore::Open(dir.File("back.db"));
  ASSERT_TRUE(back);
  auto report = (*pg)->CopyInto(**back);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->released, 1);
  auto rows = (*back)->ListOutbox("", "", 10);
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->size(), 3u);
  auto held = (*back)->HeldFor("daily", "hook", 2000);
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_EQ(held->size(), 3u);
  ASSERT_TRUE((*back)->CommitDigest(Commit({"2401.00004"}, 1100)));
}

TEST(Issue14Migrate, AStateWithOnlyALeaderIsNotFresh) {
  test::TempDir dir;
  auto from = StateStore::Open(dir.File("a.db"));
  auto to = StateStore::Open(dir.File("b.db"));
  ASSERT_TRUE(from && to);
  ASSERT_TRUE((*to)->Lead("host/2:2", 30000));
  auto copied = (*from)->CopyInto(**to);
  ASSERT_FALSE(copied);
  EXPECT_NE(copied.error().message.find("leader"), std::string::npos) << copied.error().message;
}

}  // namespace
}  // namespace digestd
