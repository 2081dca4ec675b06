// The outbox's delivery claims (Issue 7): ClaimDue leases, RecordDeliveries by the owner that
// still holds a row, releases, due times, prefixes, dead rows, notifier health, and two
// connections on one file claiming every row exactly once.
#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "store/state_store.h"
#include "tests/store/store_testing.h"
#include "tests/support/temp_dir.h"

namespace digestd {
namespace {

using test::AllAlive;
using test::FindRow;
using test::Ids;
using test::Row;
using Kind = DeliveryResult::Kind;
using Strings = std::vector<std::string>;

std::unique_ptr<StateStore> OpenMemory() {
  auto store = StateStore::Open(test::TestStateLocation(":memory:"));
  EXPECT_TRUE(store) << store.error().message;
  return store ? std::move(*store) : nullptr;
}

// Queues one row per id for `notifier` at `now`, in the order given.
void Queue(StateStore& store, const std::string& notifier, const Strings& ids, std::int64_t now) {
  std::vector<Notification> rows;
  for (const std::string& id : ids) rows.push_back(Row(notifier, id));
  auto st = store.QueueNotifications(rows, now);
  ASSERT_TRUE(st) << st.error().message;
}

Strings Claim(StateStore& store, const std::string& notifier, std::int64_t now, int limit,
              const std::string& owner, std::int64_t lease_until) {
  auto rows = store.ClaimDue(notifier, now, limit, owner, lease_until, AllAlive);
  EXPECT_TRUE(rows) << rows.error().message;
  return rows ? Ids(*rows) : Strings{"claim failed"};
}

// Claims `ids` (due at `now`) for "p1" and records them dead.
void MakeDead(StateStore& store, const std::string& notifier, const Strings& ids,
              std::int64_t now) {
  Queue(store, notifier, ids, now);
  ASSERT_EQ(Claim(store, notifier, now, 100, "p1", now + 60), ids);
  std::vector<DeliveryResult> results;
  for (const std::string& id : ids) {
    results.push_back({.id = id, .kind = Kind::kDead, .error = "HTTP 400"});
  }
  ASSERT_TRUE(store.RecordDeliveries(results, "p1", now));
}

TEST(Issue7, ClaimDueTakesDueRowsOfItsNotifierOldestFirst) {
  auto store = OpenMemory();
  ASSERT_TRUE(store);
  Queue(*store, "me", {"late"}, 300);
  // One commit queues many rows in the same second: they go out in the order queued, which
  // is not the order of their ids.
  Queue(*store, "me", {"c", "a", "b"}, 100);
  Queue(*store, "me", {"d"}, 150);
  Queue(*store, "team", {"t"}, 50);

  auto first = store->ClaimDue("me", 200, 3, "p1", 260, AllAlive);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(Ids(*first), (Strings{"c", "a", "b"}));
  for (const OutboxRow& r : *first) {
    EXPECT_EQ(r.state, "sending");
    EXPECT_EQ(r.lease_owner, "p1");
    EXPECT_EQ(r.lease_until, 260);
    EXPECT_EQ(r.attempts, 0);
  }
  EXPECT_EQ(Claim(*store, "me", 200, 3, "p1", 260), Strings{"d"}) << "the limit left d";
  EXPECT_EQ(Claim(*store, "me", 200, 3, "p1", 260), Strings{}) << "late is not due at 200";

  // Many rows queued in one second (one digest): claimed in the order queued, whatever order
  // SQLite hands them back in.
  Strings many;
  for (int i = 60; i > 0; --i) many.push_back("b" + std::to_string(100 + i));
  Queue(*store, "bulk", many, 250);
  EXPECT_EQ(Claim(*store, "bulk", 300, 100, "p1", 360), many);

  const auto team = FindRow(*store, "t");
  ASSERT_TRUE(team);
  EXPECT_EQ(team->state, "pending");
  EXPECT_EQ(team->lease_owner, "");
  EXPECT_FALSE(team->lease_until);
  EXPECT_EQ(Claim(*store, "team", 200, 3, "p1", 260), Strings{"t"});
  EXPECT_EQ(store->OutboxCounts()->at("sending"), 65);
  EXPECT_EQ(store->OutboxCounts()->at("pending"), 1);
}

TEST(Issue7, ClaimDueForSeveralNotifiersHonoursEachRequest) {
  auto store = OpenMemory();
  ASSERT_TRUE(store);
  Queue(*store, "me", {"m1", "m2", "m3"}, 100);
  Queue(*store, "team", {"t1", "t2"}, 90);
  Queue(*store, "ops", {"o1"}, 80);
  auto rows = store->ClaimDue({{.notifier = "team", .limit = 5, .lease_until = 170},
                               {.notifier = "me", .limit = 2, .lease_until = 160}},
                              100, "p1", AllAlive);
  ASSERT_TRUE(rows) << rows.error().message;
  EXPECT_EQ(Ids(*rows), (Strings{"t1", "t2", "m1", "m2"})) << "grouped by request";
  for (const OutboxRow& r : *rows) {
    EXPECT_EQ(r.lease_until, r.notifier == "me" ? 160 : 170) << r.id;
  }
  EXPECT_EQ(FindRow(*store, "m3")->state, "pending") << "me's limit";
  EXPECT_EQ(FindRow(*store, "o1")->state, "pending") << "ops was not asked for";
  auto none = store->ClaimDue(std::vector<StateStore::ClaimRequest>{}, 100, "p1", AllAlive);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(Issue7, ClaimedRowIsClaimedAgainOnlyWhenItsLeaseEnds) {
  auto store = OpenMemory();
  ASSERT_TRUE(store);
  Queue(*store, "me", {"a", "b"}, 100);
  ASSERT_EQ(Claim(*store, "me", 100, 10, "p1", 160), (Strings{"a", "b"}));

  Strings asked;
  auto alive = [&asked](const std::string& who) {
    asked.push_back(who);
    return true;
  };
  auto early = store->ClaimDue("me", 159, 10, "p2", 220, alive);
  ASSERT_TRUE(early);
  EXPECT_TRUE(early->empty()) << "a live owner keeps its rows until lease_until";
  EXPECT_EQ(asked, Strings{"p1"});
  EXPECT_EQ(Claim(*store, "me", 120, 10, "p1", 180), Strings{}) << "nor does it claim them twice";

  auto late = store->ClaimDue("me", 160, 10, "p2", 220, alive);
  ASSERT_TRUE(late);
  ASSERT_EQ(Ids(*late), (Strings{"a", "b"})) << "lease_until <= now: the same rows again";
  for (const OutboxRow& r : *late) {
    EXPECT_EQ(r.lease_owner, "p2");
    EXPECT_EQ(r.lease_until, 220);
    EXPECT_EQ(r.attempts, 0) << "a lease that ran out is not an attempt";
  }
}

// A claim for many notifiers (one ranking statement) and one for few (an indexed statement
// per notifier) pick the same rows, leases and order, expired leases included.
TEST(Issue12, ClaimDuePicksTheSameRowsForManyNotifiersAsForFew) {
  constexpr int kNotifiers = int(StateStore::kClaimByRanking) + 8;
  auto fill = [](StateStore& store) {
    for (int n = 0; n < kNotifiers; ++n) {
      const std::string name = "n" + std::to_string(n);
      Queue(store, name, {name + "-old"}, 90);
      Queue(store, name, {name + "-a", name + "-b", name + "-c"}, 100);
      Queue(store, name, {name + "-later"}, 500);
      // One row a process held until its lease ran out at 150; another still held.
      ASSERT_EQ(Claim(store, name, 100, 1, "gone", 150), Strings{name + "-old"});
    }
  };
  auto many = OpenMemory();
  auto few = OpenMemory();
  ASSERT_TRUE(many && few);
  fill(*many);
  fill(*few);
  std::vector<StateStore::ClaimRequest> requests;
  for (int n = 0; n < kNotifiers; ++n) {
    requests.push_back({.notifier = "n" + std::to_string(n), .limit = 1 + n % 3,
                        .lease_until = 1000 + n});
  }
  ASSERT_GT(requests.size(), StateStore::kClaimByRanking);
  auto all = many->ClaimDue(requests, 200, "p1", AllAlive);
  ASSERT_TRUE(all) << all.error().message;
  Strings one_by_one;
  for (std::size_t i = 0; i < requests.size(); i += 4) {
    // Batches of 4 requests: each batch below the threshold.
    const std::vector<StateStore::ClaimRequest> batch(
        requests.begin() + long(i), requests.begin() + long(std::min(i + 4, requests.size())));
    auto rows = few->ClaimDue(batch, 200, "p1", AllAlive);
    ASSERT_TRUE(rows) << rows.error().message;
    for (const OutboxRow& r : *rows) {
      one_by_one.push_back(r.id + "@" + std::to_string(*r.lease_until));
    }
  }
  Strings ranked;
  for (const OutboxRow& r : *all) ranked.push_back(r.id + "@" + std::to_string(*r.lease_until));
  EXPECT_EQ(ranked, one_by_one);
  // n0 (limit 1) takes its expired row first; n2 (limit 3) takes it and the two oldest.
  EXPECT_EQ(ranked.front(), "n0-old@1000");
  EXPECT_EQ(Strings(ranked.begin() + 3, ranked.begin() + 6),
            (Strings{"n2-old@1002", "n2-a@1002", "n2-b@1002"}));
  EXPECT_EQ(std::count_if(ranked.begin(), ranked.end(),
                          [](const std::string& id) { return id.find("later") != std::string::npos; }),
            0)
      << "rows not due yet stay";
}

TEST(Issue7, RowsOfADeadOwnerAreClaimableAtOnce) {
  auto store = OpenMemory();
  ASSERT_TRUE(store);
  Queue(*store, "me", {"a"}, 100);
  Queue(*store, "team", {"t"}, 100);
  ASSERT_EQ(Claim(*store, "me", 100, 10, "p1", 10'000), Strings{"a"});
  ASSERT_EQ(Claim(*store, "team", 100, 10, "p1", 10'000), Strings{"t"});

  auto p1_dead = [](const std::string& who) { return who != "p1"; };
  auto taken = store->ClaimDue("me", 101, 10, "p2", 161, p1_dead);
  ASSERT_TRUE(taken) << taken.error().message;
  ASSERT_EQ(Ids(*taken), Strings{"a"});
  EXPECT_EQ(taken->front().lease_owner, "p2");
  EXPECT_EQ(taken->front().lease_until, 161);

  // Claiming for "me" does not claim the other notifier's rows, even the dead owner's.
  const auto team = FindRow(*store, "t");
  ASSERT_TRUE(team);
  EXPECT_EQ(team->state, "sending");
  EXPECT_EQ(team->lease_owner, "p1");
  auto team_taken = store->ClaimDue("team", 102, 10, "p2", 162, p1_dead);
  ASSERT_TRUE(team_taken);
  EXPECT_EQ(Ids(*team_taken), Strings{"t"});

  EXPECT_EQ(Claim(*store, "me", 103, 10, "p3", 163), Strings{}) << "p2 is alive";
}

// Issue 12: rows next to each other in the table and sent alike are recorded by one
// statement over their range; a row between them that has no result (still in flight), or
// one whose result differs, is left as it is or given its own.
TEST(Issue12, RowsSentAlikeAreRecordedTogetherAndOnlyThose) {
  auto store = OpenMemory();
  ASSERT_TRUE(store);
  const Strings ids = {"r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"};
  Queue(*store, "me", ids, 100);
  ASSERT_EQ(Claim(*store, "me", 100, 10, "p1", 200), ids);
  // r3 is still in flight; r5 sent one part more than its neighbours, r6 with a remote id;
  // r7 failed. The results come in no order of the table.
  auto st = store->RecordDeliveries(
      {{.id = "r8", .parts_sent = 1},
       {.id = "r2", .parts_sent = 1},
       {.id = "r1", .parts_sent = 1},
       {.id = "r4", .parts_sent = 1},
       {.id = "r6", .parts_sent = 1, .remote_id = "m6"},
       {.id = "r5", .parts_sent = 2},
       {.id = "r7", .kind = Kind::kRetry, .error = "HTTP 503", .next_attempt_at = 400}},
      "p1", 150);
  ASSERT_TRUE(st) << st.error().message;
  for (const std::string& id : Strings{"r1", "r2", "r4", "r5", "r6", "r8"}) {
    const auto row = FindRow(*store, id);
    ASSERT_TRUE(row) << id;
    EXPECT_EQ(row->state, "sent") << id;
    EXPECT_EQ(row->sent_at, 150) << id;
    EXPECT_EQ(row->attempts, 1) << id;
    EXPECT_EQ(row->lease_owner, "") << id;
    EXPECT_EQ(row->parts_sent, id == "r5" ? 2 : 1) << id;
    EXPECT_EQ(row->remote_id, id == "r6" ? "m6" : "") << id;
  }
  const auto in_flight = FindRow(*store, "r3");
  ASSERT_TRUE(in_flight);
  EXPECT_EQ(in_flight->state, "sending") << "no result came for r3: it is still held";
  EXPECT_EQ(in_flight->lease_owner, "p1");
  EXPECT_EQ(in_flight->attempts, 0);
  const auto retry = FindRow(*store, "r7");
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->state, "pending");
  EXPECT_EQ(retry->last_error, "HTTP 503");
  EXPECT_FALSE(retry->sent_at);
}

TEST(Issue7, RecordDeliveriesAppliesEachKind) {
  auto store = OpenMemory();
  ASSERT_TRUE(store);
  Queue(*store, "me", {"sent", "retry", "dead", "release"}, 100);
  ASSERT_EQ(Claim(*store, "me", 100, 10, "p1", 200).size(), 4u);
  auto st = store->RecordDeliveries(
      {{.id = "sent", .kind = Kind::kSent, .parts_sent = 2, .remote_id = "msg-2"},
       {.id = "retry",
        .kind = Kind::kRetry,
        .parts_sent = 1,
        .error = "HTTP 503",
        .next_attempt_at = 400},
       {.id = "dead", .kind = Kind::kDead, .error = "HTTP 400: bad request"},
       {.id = "release", .kind = Kind::kRelease, .next_attempt_at = 130}},
      "p1", 150);
  ASSERT_TRUE(st) << st.error().message;

  const auto sent = FindRow(*store, "sent");
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->state, "sent");
  EXPECT_EQ(sent->sent_at, 150);
  EXPECT_EQ(sent->remote_id, "msg-2");
  EXPECT_EQ(sent->parts_sent, 2);
  EXPECT_EQ(sent->attempts, 1);
  EXPECT_EQ(sent->lease_owner, "");
  EXPECT_FALSE(sent->lease_until);

  const auto retry = FindRow(*store, "retry");
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->state, "pending");
  EXPECT_EQ(retry->attempts, 1);
  EXPECT_EQ(retry->next_attempt_at, 400);
  EXPECT_EQ(retry->last_error, "HTTP 503");
  EXPECT_EQ(retry->parts_sent, 1);
  EXPECT_FALSE(retry->sent_at);
  EXPECT_EQ(retry->lease_owner, "");
  EXPECT_FALSE(retry->lease_until);

  const auto dead = FindRow(*store, "dead");
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->state, "dead");
  EXPECT_EQ(dead->attempts, 1);
  EXPECT_EQ(dead->last_error, "HTTP 400: bad request");
  EXPECT_FALSE(dead->sent_at);
  EXPECT_EQ(dead->lease_owner, "");

  const auto release = FindRow(*store, "release");
  ASSERT_TRUE(release);
  EXPECT_EQ(release->state, "pending");
  EXPECT_EQ(release->attempts, 0) << "a release is not an attempt";
  EXPECT_EQ(release->next_attempt_at, 130);
  EXPECT_EQ(release->last_error, "");
  EXPECT_EQ(release->lease_owner, "");
  EXPECT_FALSE(release->lease_until);

  // A success after a failure clears the error and counts the attempt.
  ASSERT_EQ(Claim(*store, "me", 400, 10, "p1", 460), (Strings{"release", "retry"}));
  ASSERT_TRUE(store->RecordDeliveries(
      {{.id = "retry", .kind = Kind::kSent, .parts_sent = 3, .remote_id = "msg-3"}}, "p1", 401));
  const auto retried = FindRow(*store, "retry");
  EXPECT_EQ(retried->state, "sent");
  EXPECT_EQ(retried->last_error, "");
  EXPECT_EQ(retried->attempts, 2);
  EXPECT_EQ(retried->sent_at, 401);
}

TEST(Issue7, PartsSentSurviveARetryAndARelease) {
  auto store = OpenMemory();
  ASSERT_TRUE(store);
  Queue(*store, "me", {"a"}, 100);
  ASSERT_EQ(Claim(*store, "me", 100, 10, "p1", 160), Strings{"a"});
  ASSERT_TRUE(store->RecordDeliveries({{.id = "a",
                                        .kind = Kind::kRetry,
                                        .parts_sent = 2,
                                        .remote_id = "part-2",
                                        .error = "HTTP 429",
                                        .next_attempt_at = 300}},
                                      "p1", 120));
  auto again = store->ClaimDue("me", 300, 10, "p2", 360, AllAlive);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().parts_sent, 2) << "the retry starts after the parts accepted";
  EXPECT_EQ(again->front().remote_id, "part-2");
  EXPECT_EQ(again->front().attempts, 1);

  // Shutting down before the attempt gives the row back as it was: the accepted parts too.
  ASSERT_TRUE(store->RecordDeliveries({{.id = "a", .kind = Kind::kRelease, .next_attempt_at = 300}},
                                      "p2", 301));
  again = store->ClaimDue("me", 301, 10, "p3", 361, AllAlive);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().parts_sent, 2);
  EXPECT_EQ(again->front().remote_id, "part-2");
  EXPECT_EQ(again->front().attempts, 1);
}

TEST(Issue7, ResultForARowAnotherOwnerTookOverChangesNothing) {
  auto store = OpenMemory();
  ASSERT_TRUE(store);
  Queue(*store, "me", {"a", "b"}, 100);
  ASSERT_EQ(Claim(*store, "me", 100, 1, "p1", 160), Strings{"a"});
  ASSERT_EQ(Claim(*store, "me", 160, 1, "p2", 220), Strings{"a"}) << "p1's lease ran out";

  // p1 finishes late: its results are for rows it no longer holds (b it never held).
  for (const Kind kind : {Kind::kSent, Kind::kRetry, Kind::kDead, Kind::kRelease}) {
    auto st = store->RecordDeliveries({{.id = "a",
                                        .kind = kind,
                                        .parts_sent = 1,
                                        .remote_id = "late",
                                        .error = "late error",
                                        .next_attempt_at = 999},
                                       {.id = "b", .kind = kind, .remote_id = "never"}},
                                      "p1", 161);
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_EQ(test::CheckClaimed(*store, {"a"}, "p2", 220), "");
    const auto a = FindRow(*store, "a");
    EXPECT_EQ(a->last_error, "");
    EXPECT_EQ(a->parts_sent, 0);
    const auto b = FindRow(*store, "b");
    EXPECT_EQ(b->state, "pending");
    EXPECT_EQ(b->remote_id, "");
    EXPECT_EQ(b->attempts, 0);
  }
  ASSERT_TRUE(store->RecordDeliveries({{.id = "a", .kind = Kind::kSent}}, "p2", 162));
  EXPECT_EQ(FindRow(*store, "a")->state, "sent");
}

TEST(Issue7, ReleaseClaimsGivesBackOnlyTheOwnersRows) {
  auto store = OpenMemory();
  ASSERT_TRUE(store);
  Queue(*store, "me", {"a", "b"}, 100);
  Queue(*store, "team", {"t"}, 100);
  ASSERT_EQ(Claim(*store, "me", 100, 10, "p1", 500), (Strings{"a", "b"}));
  ASSERT_EQ(Claim(*store, "team", 100, 10, "p2", 500), Strings{"t"});
  ASSERT_TRUE(store->ReleaseClaims("p1"));
  for (const std::string id : {"a", "b"}) {
    const auto row = FindRow(*store, id);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->state, "pending");
    EXPECT_EQ(row->lease_owner, "");
    EXPECT_FALSE(row->lease_until);
    EXPECT_EQ(row->attempts, 0);
    EXPECT_EQ(row->next_attempt_at, 100);
  }
  EXPECT_EQ(Ids(*store->DueOutbox(100, 10)), (Strings{"a", "b"}));
  EXPECT_EQ(test::CheckClaimed(*store, {"t"}, "p2", 500), "");
  ASSERT_TRUE(store->ReleaseClaims("nobody"));
}

TEST(Issue7, NextAttemptAtCountsPendingRowsAndExpiringLeases) {
  auto store = OpenMemory();
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->NextAttemptAt(), std::nullopt);
  Queue(*store, "me", {"a"}, 300);
  Queue(*store, "me", {"b"}, 400);
  EXPECT_EQ(*store->NextAttemptAt(), 300);
  ASSERT_EQ(Claim(*store, "me", 300, 1, "p1", 350), Strings{"a"});
  EXPECT_EQ(*store->NextAttemptAt(), 350) << "a's lease runs out before b is due";
  ASSERT_TRUE(store->RecordDeliveries(
      {{.id = "a", .kind = Kind::kRetry, .error = "x", .next_attempt_at = 500}}, "p1", 301));
  EXPECT_EQ(*store->NextAttemptAt(), 400);
  ASSERT_EQ(Claim(*store, "me", 400, 1, "p1", 450), Strings{"b"});
  EXPECT_EQ(*store->NextAttemptAt(), 450);
  ASSERT_TRUE(store->RecordDeliveries({{.id = "b", .kind = Kind::kSent}}, "p1", 401));
  EXPECT_EQ(*store->NextAttemptAt(), 500);
  ASSERT_EQ(Claim(*store, "me", 500, 1, "p1", 550), Strings{"a"});
  ASSERT_TRUE(store->RecordDeliveries({{.id = "a", .kind = Kind::kDead, .error = "x"}}, "p1", 501));
  EXPECT_EQ(*store->NextAttemptAt(), std::nullopt) << "sent and dead rows are never due";
}

TEST(Issue7, NextAttemptAtIsNowForRowsOfAGoneOwner) {
  auto store = OpenMemory();
  ASSERT_TRUE(store);
  Queue(*store, "me", {"a"}, 300);
  ASSERT_EQ(Claim(*store, "me", 300, 1, "gone", 900), Strings{"a"});
  const auto alive = [](const std::string& who) { return who != "gone"; };
  EXPECT_EQ(*store->NextAttemptAt(400, AllAlive), 900) << "a live owner's lease runs its course";
  EXPECT_EQ(*store->NextAttemptAt(400, alive), 400) << "a gone owner's row is due now";
}

TEST(Issue7, FindOutboxTellsUniqueAmbiguousAndMissingPrefixes) {
  auto store = OpenMemory();
  ASSERT_TRUE(store);
  Queue(*store, "me", {"abc123", "abc456", "abd789", "a_c000"}, 100);
  auto found = [&store](const std::string& prefix) {
    auto rows = store->FindOutbox(prefix);
    EXPECT_TRUE(rows) << rows.error().message;
    return rows ? Ids(*rows) : Strings{"read failed"};
  };
  EXPECT_EQ(found("abc1"), Strings{"abc123"});
  EXPECT_EQ(found("abc123"), Strings{"abc123"});
  EXPECT_EQ(found("abc"), (Strings{"abc123", "abc456"}));
  EXPECT_EQ(found("ab").size(), 2u) << "three match; two tell it is ambiguous";
  EXPECT_EQ(found("zzz"), Strings{});
  EXPECT_EQ(found("abc1234"), Strings{});
  EXPECT_EQ(found("a_c"), Strings{"a_c000"}) << "'_' is not a wildcard";
  EXPECT_EQ(found("a%"), Strings{}) << "'%' is not a wildcard";
  const auto row = store->FindOutbox("abd");
  ASSERT_EQ(row->size(), 1u);
  EXPECT_EQ(row->front().notifier, "me");
  EXPECT_EQ(row->front().state, "pending");
}

TEST(Issue7, RetryNowRestartsADeadRowsAgeAndAttempts) {
  auto store = OpenMemory();
  ASSERT_TRUE(store);
  MakeDead(*store, "me", {"d"}, 100);
  Queue(*store, "me", {"p"}, 110);
  ASSERT_EQ(Claim(*store, "me", 110, 1, "p1", 170), Strings{"p"});
  ASSERT_TRUE(store->RecordDeliveries(
      {{.id = "p", .kind = Kind::kRetry, .error = "x", .next_attempt_at = 900}}, "p1", 111));

  ASSERT_TRUE(*store->RetryNow("d", 5000));
  auto d = FindRow(*store, "d");
  EXPECT_EQ(d->state, "pending");
  EXPECT_EQ(d->attempts, 0);
  EXPECT_EQ(d->next_attempt_at, 5000);
  EXPECT_EQ(d->created_at, 5000) << "retry_max_age counts from the retry";
  EXPECT_TRUE(*store->RetryNow("p", 200));
  auto p = FindRow(*store, "p");
  EXPECT_EQ(p->attempts, 0);
  EXPECT_EQ(p->next_attempt_at, 200);
  EXPECT_EQ(p->created_at, 110) << "a pending row keeps its age";

  ASSERT_EQ(Claim(*store, "me", 200, 1, "p1", 260), Strings{"p"});
  EXPECT_FALSE(*store->RetryNow("p", 201)) << "a row being sent is left to its owner";
  EXPECT_EQ(test::CheckClaimed(*store, {"p"}, "p1", 260), "");
}

TEST(Issue7, RetryDeadAndDropDeadHonourTheNotifierFilter) {
  auto store = OpenMemory();
  ASSERT_TRUE(store);
  MakeDead(*store, "me", {"m1", "m2"}, 100);
  MakeDead(*store, "team", {"t1", "t2"}, 100);
  Queue(*store, "me", {"pending"}, 100);
  Queue(*store, "me", {"sent"}, 100);
  ASSERT_EQ(Claim(*store, "me", 100, 10, "p1", 160), (Strings{"pending", "sent"}));
  ASSERT_TRUE(store->RecordDeliveries(
      {{.id = "pending", .kind = Kind::kRelease, .next_attempt_at = 1'000'000},
       {.id = "sent", .kind = Kind::kSent}},
      "p1", 100));
  auto state = [&store](const std::string& id) { return FindRow(*store, id)->state; };

  EXPECT_EQ(*store->RetryDead("team", 900), 2);
  EXPECT_EQ(state("t1"), "pending");
  EXPECT_EQ(FindRow(*store, "t2")->created_at, 900);
  EXPECT_EQ(FindRow(*store, "t2")->attempts, 0);
  EXPECT_EQ(state("m1"), "dead");
  EXPECT_EQ(*store->RetryDead("team", 901), 0);

  EXPECT_EQ(*store->DropDead("team"), 0) << "team has no dead rows now";
  EXPECT_EQ(*store->DropDead("me"), 2);
  EXPECT_FALSE(FindRow(*store, "m1"));
  EXPECT_FALSE(FindRow(*store, "m2"));
  EXPECT_EQ(state("pending"), "pending");
  EXPECT_EQ(state("sent"), "sent");

  MakeDead(*store, "me", {"m3"}, 1000);
  ASSERT_EQ(Claim(*store, "team", 1000, 10, "p1", 1060), (Strings{"t1", "t2"}));
  ASSERT_TRUE(store->RecordDeliveries({{.id = "t1", .kind = Kind::kDead, .error = "x"},
                                       {.id = "t2", .kind = Kind::kDead, .error = "x"}},
                                      "p1", 1001));
  EXPECT_EQ(*store->RetryDead("", 2000), 3);
  EXPECT_EQ(store->OutboxCounts()->count("dead"), 0u);
  for (const std::string id : {"m3", "t1", "t2"}) {
    EXPECT_EQ(FindRow(*store, id)->created_at, 2000) << id;
  }
  EXPECT_EQ(FindRow(*store, "pending")->created_at, 100) << "only dead rows restart";

  MakeDead(*store, "me", {"m4"}, 1999);  // before the retried rows are due
  MakeDead(*store, "team", {"t3"}, 1999);
  EXPECT_EQ(*store->DropDead(""), 2);
  EXPECT_EQ(store->OutboxCounts()->count("dead"), 0u);
  EXPECT_EQ(store->ListOutbox("", "", 100)->size(), 5u);
}

TEST(Issue7, ListOutboxFiltersByStateAndNotifierNewestFirst) {
  auto store = OpenMemory();
  ASSERT_TRUE(store);
  Queue(*store, "me", {"m1"}, 100);
  Queue(*store, "team", {"t1"}, 110);
  Queue(*store, "me", {"m2"}, 120);
  Queue(*store, "me", {"m3"}, 130);
  ASSERT_EQ(Claim(*store, "me", 130, 1, "p1", 190), Strings{"m1"});
  auto list = [&store](const std::string& state, const std::string& notifier, int limit) {
    auto rows = store->ListOutbox(state, notifier, limit);
    EXPECT_TRUE(rows) << rows.error().message;
    return rows ? Ids(*rows) : Strings{"read failed"};
  };
  EXPECT_EQ(list("", "", 10), (Strings{"m3", "m2", "t1", "m1"}));
  EXPECT_EQ(list("", "me", 10), (Strings{"m3", "m2", "m1"}));
  EXPECT_EQ(list("pending", "me", 10), (Strings{"m3", "m2"}));
  EXPECT_EQ(list("sending", "", 10), Strings{"m1"});
  EXPECT_EQ(list("pending", "team", 10), Strings{"t1"});
  EXPECT_EQ(list("", "", 2), (Strings{"m3", "m2"}));
  EXPECT_EQ(list("dead", "", 10), Strings{});
}

TEST(Issue7, NotifierHealthRoundTrips) {
  auto store = OpenMemory();
  ASSERT_TRUE(store);
  auto none = store->GetNotifierHealth("me");
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(none->disabled_fingerprint, "");
  EXPECT_FALSE(none->disabled_at);
  EXPECT_FALSE(none->failing_since);
  EXPECT_FALSE(none->alerted);

  ASSERT_TRUE(store->PutNotifierHealth("me", {.disabled_fingerprint = "cfg-1a2b",
                                              .disabled_reason = "HTTP 410 Gone",
                                              .disabled_at = 100,
                                              .failing_since = 90,
                                              .alerted = true}));
  auto h = store->GetNotifierHealth("me");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->disabled_fingerprint, "cfg-1a2b");
  EXPECT_EQ(h->disabled_reason, "HTTP 410 Gone");
  EXPECT_EQ(h->disabled_at, 100);
  EXPECT_EQ(h->failing_since, 90);
  EXPECT_TRUE(h->alerted);
  EXPECT_EQ(store->GetNotifierHealth("team")->disabled_fingerprint, "") << "per notifier";

  ASSERT_TRUE(store->PutNotifierHealth("me", {.failing_since = 95}));
  h = store->GetNotifierHealth("me");
  EXPECT_EQ(h->disabled_fingerprint, "");
  EXPECT_EQ(h->disabled_reason, "");
  EXPECT_FALSE(h->disabled_at) << "a put replaces the whole record";
  EXPECT_EQ(h->failing_since, 95);
  EXPECT_FALSE(h->alerted);
}

// Queues `count` rows for "me" (ids r000, r001, ...) and 10 for "team" in the file at `path`.
void QueueMany(const std::string& path, int count) {
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store) << store.error().message;
  std::vector<Notification> rows;
  for (int i = 0; i < count; ++i) {
    std::string id = std::to_string(i);
    rows.push_back(Row("me", "r" + std::string(3 - id.size(), '0') + id));
  }
  for (int i = 0; i < 10; ++i) rows.push_back(Row("team", "t" + std::to_string(i)));
  ASSERT_TRUE((*store)->QueueNotifications(rows, 100));
}

TEST(Issue7, TwoConnectionsClaimingInTurnClaimEveryRowOnce) {
  test::TempDir dir;
  const std::string path = test::TestStateLocation(dir.File("state.db"));
  QueueMany(path, 100);
  auto a = StateStore::Open(path);
  auto b = StateStore::Open(path);
  ASSERT_TRUE(a && b);
  const std::pair<StateStore*, std::string> turns[] = {{a->get(), "a"}, {b->get(), "b"}};
  std::map<std::string, int> claims;
  std::map<std::string, std::string> owner_of;
  // 100 rows, 14 a turn: 8 turns, bounded so that a claim that never runs dry fails.
  bool progress = true;
  for (int turn = 0; progress && turn < 50; ++turn) {
    progress = false;
    for (const auto& [store, owner] : turns) {
      for (const std::string& id : Claim(*store, "me", 100, 7, owner, 1000)) {
        ++claims[id];
        owner_of[id] = owner;
        progress = true;
      }
    }
  }
  ASSERT_FALSE(progress) << "the claims never ran dry";
  ASSERT_EQ(claims.size(), 100u);
  for (const auto& [id, count] : claims) {
    EXPECT_EQ(count, 1) << id;
    EXPECT_EQ(id[0], 'r') << "only the notifier's rows";
  }
  // What each connection was handed is what the file says it holds.
  const auto sending = (*a)->ListOutbox("sending", "", 1000);
  ASSERT_EQ(sending->size(), 100u);
  for (const OutboxRow& row : *sending) EXPECT_EQ(row.lease_owner, owner_of[row.id]) << row.id;
  EXPECT_EQ((*b)->OutboxCounts()->at("pending"), 10);
}

TEST(Issue7, TwoProcessesClaimingAtOnceClaimEveryRowOnce) {
  test::TempDir dir;
  const std::string path = test::TestStateLocation(dir.File("state.db"));
  QueueMany(path, 300);
  // Each child claims three rows at a time, as fast as it can; one id per line.
  const auto reports = test::RaceInChildren(2, [&path](int child) {
    auto store = StateStore::Open(path);
    if (!store) return "error: " + store.error().message + "\n";
    std::string claimed;
    for (int turn = 0; turn < 1000; ++turn) {
      auto rows = (*store)->ClaimDue("me", 100, 3, "p" + std::to_string(child), 1000, AllAlive);
      if (!rows) return claimed + "error: " + rows.error().message + "\n";
      if (rows->empty()) return claimed;
      for (const OutboxRow& r : *rows) claimed += r.id + "\n";
    }
    return claimed + "error: claims never ran dry\n";
  });
  std::map<std::string, int> claims;
  for (const std::string& report : reports) {
    std::istringstream lines(report);
    for (std::string line; std::getline(lines, line);) {
      EXPECT_EQ(line[0], 'r') << line;
      ++claims[line];
    }
  }
  EXPECT_EQ(claims.size(), 300u);
  for (const auto& [id, count] : claims) EXPECT_EQ(count, 1) << id;
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ((*store)->OutboxCounts()->at("sending"), 300);
}

}  // namespace
}  // namespace digestd
