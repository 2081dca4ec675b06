// StateStore against a real SQLite file: migrations, diff inputs, one-transaction commits,
// the outbox life cycle, and what a crash mid-commit leaves behind.
#include "store/state_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>
#include <tuple>

#include "core/hash.h"
#include "core/planner.h"
#include "core/spool.h"
#include "tests/store/old_schemas.h"
#include "tests/store/store_testing.h"
#include "tests/support/temp_dir.h"

namespace digestd {
namespace {

using test::ExecOn;
using test::MakePaper;
using test::Scalar;

Notification MakeNotification(const std::string& notifier, const Paper& paper) {
  Notification n;
  n.notifier = notifier;
  n.dedupe_key = notifier + "|" + paper.key + "|paper|w";
  n.id = NotificationId(n.dedupe_key);
  n.event = "new";
  n.watches = {"w"};
  n.papers.push_back({.paper = paper, .source = "hf-ko", .date = "2024-01-29"});
  return n;
}

DigestCommit MakeCommit(std::vector<Paper> papers, std::int64_t now) {
  DigestCommit c;
  c.source = "hf-ko";
  c.url = "file:///digests/2024-01-29.md";
  c.date = "2024-01-29";
  c.now = now;
  c.validators.body_hash = "abc";
  c.papers = SharePapers(std::move(papers));
  return c;
}

TEST(StateStore, CreatesWalDatabaseAtCurrentSchema) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ((*store)->SchemaVersion(), StateStore::kSchemaVersion);
  store->reset();
  EXPECT_EQ(Scalar(path, "PRAGMA user_version"), StateStore::kSchemaVersion);
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST(StateStore, ReopeningKeepsStateAndDoesNotMigrateAgain) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  {
    auto store = StateStore::Open(path);
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->CommitDigest(MakeCommit({MakePaper("2401.15024", "A", 3)}, 100)));
  }
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store) << store.error().message;
  auto prior = (*store)->LoadPriorSightings("hf-ko", {"arxiv:2401.15024"});
  ASSERT_TRUE(prior);
  ASSERT_EQ(prior->size(), 1u);
  EXPECT_EQ(prior->at("arxiv:2401.15024").votes, 3);
}

TEST(StateStore, MigratesAVersionOneDatabase) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  // A database as version 1 left it, with state.
  ExecOn(path, std::string(test::kSchema1) +
                   "INSERT INTO sources(name, failures) VALUES('hf-ko', 3);"
                   "INSERT INTO notified VALUES('me' || char(31) || 'arxiv:1' || char(31) || "
                   "'paper' || char(31) || 'watch a', 'arxiv:1', 5);"
                   "INSERT INTO notified VALUES('me' || char(31) || 'arxiv:1' || char(31) || "
                   "'paper' || char(31) || 'watch b', 'arxiv:1', 6);"
                   "INSERT INTO notified VALUES('team' || char(31) || 'arxiv:1' || char(31) || "
                   "'updated:abc' || char(31) || 'watch a', 'arxiv:1', 7);"
                   "PRAGMA user_version = 1;");
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ((*store)->SchemaVersion(), StateStore::kSchemaVersion);
  auto s = (*store)->GetSourceState("hf-ko");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->failures, 3);
  EXPECT_FALSE(s->alerted);
  auto notified = (*store)->LoadNotified({"arxiv:1"});
  ASSERT_TRUE(notified) << notified.error().message;
  EXPECT_EQ(*notified, (std::set<std::string>{NotifiedKey("me", "arxiv:1", "paper", "watch a"),
                                              NotifiedKey("me", "arxiv:1", "paper", "watch b"),
                                              NotifiedKey("team", "arxiv:1", "updated:abc",
                                                          "watch a")}));
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM notified_sets"), 2);
}

TEST(StateStore, NotifiedWatchSetsMergeAcrossCommits) {
  auto store = StateStore::Open(test::TestStateLocation(":memory:"));
  ASSERT_TRUE(store);
  const Paper p = MakePaper("2401.15024", "SliceGPT", 40);
  DigestCommit c = MakeCommit({p}, 100);
  c.notified = {NotifiedMark{"me", p.key, "paper", "a"}, NotifiedMark{"me", p.key, "paper", "b"}};
  ASSERT_TRUE((*store)->CommitDigest(c));
  c.notified = {NotifiedMark{"me", p.key, "paper", "b"}, NotifiedMark{"me", p.key, "paper", "c"}};
  ASSERT_TRUE((*store)->CommitDigest(c));
  auto notified = (*store)->LoadNotified({p.key});
  ASSERT_TRUE(notified);
  EXPECT_EQ(*notified, (std::set<std::string>{NotifiedKey("me", p.key, "paper", "a"),
                                              NotifiedKey("me", p.key, "paper", "b"),
                                              NotifiedKey("me", p.key, "paper", "c")}));
}

TEST(StateStore, RefusesNewerSchemaWithClearMessage) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  { ASSERT_TRUE(StateStore::Open(path)); }
  ExecOn(path, "PRAGMA user_version = 99");
  auto store = StateStore::Open(path);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find("schema version 99"), std::string::npos);
  EXPECT_NE(store.error().message.find(path), std::string::npos);
}

TEST(StateStore, UnopenablePathNamesThePath) {
  auto store = StateStore::Open("/nonexistent-dir/deeper/state.db");
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find("/nonexistent-dir/deeper/state.db"), std::string::npos);
}

TEST(StateStore, PriorSightingsArePerSource) {
  auto store = StateStore::Open(test::TestStateLocation(":memory:"));
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->CommitDigest(MakeCommit({MakePaper("2401.00001", "A", 1)}, 100)));
  auto other = (*store)->LoadPriorSightings("hf", {"arxiv:2401.00001"});
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->empty());
  auto same = (*store)->LoadPriorSightings("hf-ko", {"arxiv:2401.00001", "arxiv:none"});
  ASSERT_TRUE(same);
  ASSERT_EQ(same->size(), 1u);
  EXPECT_EQ(same->at("arxiv:2401.00001").content_hash,
            SightingContentHash(MakePaper("2401.00001", "A", 1)));
}

TEST(StateStore, SightingUpdatesReplaceTheSourcesLastWord) {
  auto store = StateStore::Open(test::TestStateLocation(":memory:"));
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->CommitDigest(MakeCommit({MakePaper("2410.09342", "LLM$\\times$MR", 2)},
                                                100)));
  ASSERT_TRUE((*store)->CommitDigest(MakeCommit({MakePaper("2410.09342", "LLMtimesMR", 9)}, 200)));
  auto prior = (*store)->LoadPriorSightings("hf-ko", {"arxiv:2410.09342"});
  ASSERT_TRUE(prior);
  EXPECT_EQ(prior->at("arxiv:2410.09342").votes, 9);
  EXPECT_EQ(prior->at("arxiv:2410.09342").content_hash,
            SightingContentHash(MakePaper("2410.09342", "LLMtimesMR", 9)));
}

// The commit writes a day's papers in key order, whatever order the digest gave them in:
// each paper keeps its own hash, snapshot and message.
TEST(StateStore, PapersOutOfKeyOrderKeepTheirOwnRows) {
  auto store = StateStore::Open(test::TestStateLocation(":memory:"));
  ASSERT_TRUE(store);
  std::vector<Paper> papers;
  for (const char* id : {"2401.00009", "2312.00001", "2401.00003", "2401.00010", "2402.00002"}) {
    papers.push_back(MakePaper(id, std::string("title of ") + id, 1));
  }
  DigestCommit c = MakeCommit(papers, 100);
  for (const Paper& p : papers) c.content_hashes.push_back(SightingContentDigits(p));
  c.content_hashes[2] = {};  // one the plan did not hash: made in the commit
  for (std::size_t i = 0; i < c.papers.size(); i += 2) {
    c.notifications.push_back(MakeNotification("out", *c.papers[i]));
    c.notifications.back().papers[0].paper = c.papers[i];
  }
  // Marks of one set apart, and sets of several papers and notifiers mixed.
  std::set<std::string> marked;
  for (const auto& [notifier, i, watch] :
       std::vector<std::tuple<const char*, std::size_t, const char*>>{
           {"out", 3, "a"}, {"me", 0, "a"}, {"out", 1, "b"}, {"out", 3, "c"}, {"out", 0, "a"},
           {"me", 4, "b"}, {"out", 1, "a"}, {"me", 0, "c"}}) {
    c.notified.push_back(NotifiedMark{notifier, papers[i].key, "paper", watch});
    marked.insert(NotifiedKey(notifier, papers[i].key, "paper", watch));
  }
  ASSERT_TRUE((*store)->CommitDigest(std::move(c)));

  std::vector<std::string> keys;
  for (const Paper& p : papers) keys.push_back(p.key);
  auto prior = (*store)->LoadPriorSightings("hf-ko", keys);
  ASSERT_TRUE(prior);
  ASSERT_EQ(prior->size(), papers.size());
  for (const Paper& p : papers) {
    EXPECT_EQ(prior->at(p.key).content_hash, SightingContentHash(p)) << p.key;
    EXPECT_EQ(prior->at(p.key).title, p.title) << p.key;
  }
  auto notified = (*store)->LoadNotified(keys);
  ASSERT_TRUE(notified);
  EXPECT_EQ(*notified, marked);
  auto rows = (*store)->DueOutbox(200, 10);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 3u);
  for (std::size_t i = 0; i < rows->size(); ++i) {
    // In the order they were queued, each with its own paper.
    ASSERT_EQ((*rows)[i].notification.papers.size(), 1u);
    EXPECT_EQ((*rows)[i].notification.papers[0].paper->title, papers[2 * i].title);
  }
}

TEST(StateStore, OutboxRowsAreUniqueByDedupeKey) {
  auto store = StateStore::Open(test::TestStateLocation(":memory:"));
  ASSERT_TRUE(store);
  const Paper p = MakePaper("2401.15024", "SliceGPT", 40);
  DigestCommit c = MakeCommit({p}, 100);
  c.notifications = {MakeNotification("me", p)};
  c.notified = {NotifiedMark{"me", p.key, "paper", "w"}};
  ASSERT_TRUE((*store)->CommitDigest(c));
  ASSERT_TRUE((*store)->CommitDigest(c));
  auto due = (*store)->DueOutbox(100, 10);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 1u);
  auto notified = (*store)->LoadNotified({p.key});
  ASSERT_TRUE(notified);
  EXPECT_EQ(notified->count(NotifiedKey("me", p.key, "paper", "w")), 1u);
}

TEST(StateStore, ALongCommitLeavesRowsQueuedBeforeAsTheyWereAndHandsOverTheOthers) {
  // A commit queues its notifications 32 to a statement, each only where its id is new:
  // two queued by an earlier commit (one in the first batch, one in the second) and two
  // given twice (again at once, and again in the last batch) stay as they were, and only
  // the rows the commit added are handed over.
  auto store = StateStore::Open(test::TestStateLocation(":memory:"));
  ASSERT_TRUE(store) << store.error().message;
  std::vector<Paper> papers;
  std::vector<Notification> all;
  for (int i = 0; i < 70; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "2401.%05d", i);
    papers.push_back(MakePaper(id, "Paper " + std::to_string(i), i));
    all.push_back(MakeNotification("me", papers.back()));
  }
  DigestCommit before = MakeCommit({papers[5], papers[40]}, 100);
  before.notifications = {all[5], all[40]};
  ASSERT_TRUE((*store)->CommitDigest(before));

  DigestCommit c = MakeCommit(papers, 200);
  c.notifications = all;
  c.notifications.insert(c.notifications.begin() + 11, all[10]);
  c.notifications.push_back(all[0]);
  c.hand_over = DigestCommit::HandOver{.owner = "owner", .lease_until = {{"me", 900}}};
  ASSERT_TRUE((*store)->CommitDigest(std::move(c)));

  auto due = (*store)->DueOutbox(300, 100);
  ASSERT_TRUE(due) << due.error().message;
  if ((*store)->shared()) {
    // A shared state hands nothing over: every row is due, oldest first, each once.
    ASSERT_EQ(due->size(), 70u);
    std::vector<std::string> ids;
    for (const OutboxRow& row : *due) {
      ids.push_back(row.id);
      EXPECT_EQ(row.created_at, ids.size() <= 2 ? 100 : 200) << row.id;
    }
    std::vector<std::string> expected = {all[5].id, all[40].id};
    for (int i = 0; i < 70; ++i) {
      if (i != 5 && i != 40) expected.push_back(all[i].id);
    }
    std::sort(expected.begin() + 2, expected.end());
    std::sort(ids.begin() + 2, ids.end());
    EXPECT_EQ(ids, expected);
    return;
  }
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0].id, all[5].id);
  EXPECT_EQ((*due)[1].id, all[40].id);
  for (const OutboxRow& row : *due) EXPECT_EQ(row.created_at, 100);

  const auto alive = [](const std::string&) { return true; };
  EXPECT_TRUE((*store)->ClaimsFromMemory({{.notifier = "me", .limit = 68}}, "owner"));
  EXPECT_FALSE((*store)->ClaimsFromMemory({{.notifier = "me", .limit = 69}}, "owner"));
  auto claimed = (*store)->ClaimDue({{.notifier = "me", .limit = 68, .lease_until = 900}}, 300,
                                    "owner", alive);
  ASSERT_TRUE(claimed) << claimed.error().message;
  std::vector<std::string> expected;
  for (int i = 0; i < 70; ++i) {
    if (i != 5 && i != 40) expected.push_back(all[i].id);
  }
  std::vector<std::string> ids;
  for (const OutboxRow& row : *claimed) ids.push_back(row.id);
  EXPECT_EQ(ids, expected);
}

TEST(StateStore, ALongCommitAddsNewNotifiedSetsAndMergesTheOnesTheStateHas) {
  // Notified sets go 32 to a statement as new sets; a batch with a set the state has (paper
  // 40's, in the second batch) is merged a set at a time, as are the batches after it.
  auto store = StateStore::Open(test::TestStateLocation(":memory:"));
  ASSERT_TRUE(store) << store.error().message;
  std::vector<Paper> papers;
  for (int i = 0; i < 70; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "2401.%05d", i);
    papers.push_back(MakePaper(id, "Paper " + std::to_string(i), i));
  }
  DigestCommit before = MakeCommit({papers[40]}, 100);
  before.notified = {NotifiedMark{"me", papers[40].key, "paper", "a"}};
  ASSERT_TRUE((*store)->CommitDigest(before));

  DigestCommit c = MakeCommit(papers, 200);
  std::set<std::string> expected = {NotifiedKey("me", papers[40].key, "paper", "a")};
  std::vector<std::string> keys;
  for (int i = 0; i < 70; ++i) {
    const std::string& key = papers[i].key;
    keys.push_back(key);
    // Paper 3's set, and paper 60's (after the merge began), have three watches.
    for (const char* watch : i == 3 || i == 60 ? std::vector<const char*>{"c", "b", "a"}
                                               : std::vector<const char*>{"b"}) {
      c.notified.push_back(NotifiedMark{"me", key, "paper", watch});
      expected.insert(NotifiedKey("me", key, "paper", watch));
    }
  }
  ASSERT_TRUE((*store)->CommitDigest(std::move(c)));
  auto notified = (*store)->LoadNotified(keys);
  ASSERT_TRUE(notified) << notified.error().message;
  EXPECT_EQ(*notified, expected);
}

TEST(StateStore, OutboxMessageRoundTrips) {
  auto store = StateStore::Open(test::TestStateLocation(":memory:"));
  ASSERT_TRUE(store);
  Paper p = MakePaper("2401.15024", "SliceGPT: \"quotes\" and 한국어", std::nullopt);
  p.authors_truncated = true;
  p.tags = {"cs.LG"};
  p.extra = {{"github", "https://github.com/x/y"}};
  DigestCommit c = MakeCommit({p}, 100);
  c.notifications = {MakeNotification("me", p)};
  ASSERT_TRUE((*store)->CommitDigest(c));
  auto due = (*store)->DueOutbox(100, 10);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 1u);
  ASSERT_EQ(due->front().unreadable, "");
  const Notification* n = &due->front().notification;
  EXPECT_EQ(n->id, c.notifications[0].id);
  EXPECT_EQ(n->dedupe_key, c.notifications[0].dedupe_key);
  ASSERT_EQ(n->papers.size(), 1u);
  EXPECT_EQ(n->papers[0].paper->title, p.title);
  EXPECT_EQ(n->papers[0].paper->votes, std::nullopt);
  EXPECT_TRUE(n->papers[0].paper->authors_truncated);
  EXPECT_EQ(n->papers[0].paper->tags, p.tags);
  EXPECT_EQ(n->papers[0].paper->extra, p.extra);
  EXPECT_EQ(n->papers[0].source, "hf-ko");
  EXPECT_EQ(NotificationJsonLines(*n), NotificationJsonLines(c.notifications[0]));
}

// Issue 12: a message of several papers from one digest says their source and date once,
// and every paper gets them back; papers that differ keep their own, and a message of one
// paper is stored as before.
TEST(StateStore, OutboxMessageSaysASharedSourceAndDateOnce) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store) << store.error().message;
  const Paper a = MakePaper("2401.00001", "A", 1);
  const Paper b = MakePaper("2401.00002", "B", 2);
  DigestCommit c = MakeCommit({a, b}, 100);
  Notification grouped = MakeNotification("team", a);
  grouped.papers.push_back({.paper = b, .source = "hf-ko", .date = "2024-01-29"});
  Notification mixed = MakeNotification("me", a);
  mixed.papers.push_back({.paper = b, .source = "arxiv", .date = "2024-01-29"});
  const Notification single = MakeNotification("solo", a);
  c.notifications = {grouped, mixed, single};
  ASSERT_TRUE((*store)->CommitDigest(c));

  const auto count = [&](const std::string& notifier, const std::string& text) {
    return Scalar(path, "SELECT (length(message) - length(replace(message, '" + text +
                            "', ''))) / length('" + text + "') FROM outbox WHERE notifier = '" +
                            notifier + "'");
  };
  EXPECT_EQ(count("team", R"("papers_source":"hf-ko")"), 1);
  EXPECT_EQ(count("team", R"("papers_date":"2024-01-29")"), 1);
  EXPECT_EQ(count("team", R"("source":)"), 0);
  EXPECT_EQ(count("team", R"("date":)"), 0);
  EXPECT_EQ(count("me", R"("papers_source")"), 0);
  EXPECT_EQ(count("me", R"("source":)"), 2);
  EXPECT_EQ(count("me", R"("papers_date":"2024-01-29")"), 1);
  EXPECT_EQ(count("solo", R"("papers_)"), 0);
  EXPECT_EQ(count("solo", R"("source":"hf-ko")"), 1);

  auto due = (*store)->DueOutbox(100, 10);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 3u);
  for (const auto& row : *due) {
    const Notification& n = row.notification;
    const Notification& want =
        n.notifier == "team" ? grouped : (n.notifier == "me" ? mixed : single);
    ASSERT_EQ(n.papers.size(), want.papers.size()) << n.notifier;
    for (std::size_t i = 0; i < n.papers.size(); ++i) {
      EXPECT_EQ(n.papers[i].source, want.papers[i].source) << n.notifier << " " << i;
      EXPECT_EQ(n.papers[i].date, want.papers[i].date) << n.notifier << " " << i;
    }
    EXPECT_EQ(NotificationJsonLines(n), NotificationJsonLines(want)) << n.notifier;
  }
}

TEST(StateStore, OutboxLifeCycle) {
  auto store = StateStore::Open(test::TestStateLocation(":memory:"));
  ASSERT_TRUE(store);
  const Paper a = MakePaper("2401.00001", "A", 1);
  const Paper b = MakePaper("2401.00002", "B", 1);
  DigestCommit c = MakeCommit({a, b}, 100);
  c.notifications = {MakeNotification("me", a), MakeNotification("me", b)};
  auto committed = (*store)->CommitDigest(c);
  ASSERT_TRUE(committed) << committed.error().message;
  const std::string ida = c.notifications[0].id;
  const std::string idb = c.notifications[1].id;

  EXPECT_EQ((*store)->DueOutbox(99, 10)->size(), 0u) << "not due before it was created";
  auto claimed = (*store)->ClaimDue("me", 100, 10, "p1", 160, test::AllAlive);
  ASSERT_TRUE(claimed) << claimed.error().message;
  EXPECT_EQ(test::Ids(*claimed), (std::vector<std::string>{ida, idb}));
  EXPECT_TRUE((*store)->DueOutbox(100, 10)->empty()) << "a claimed row is not due";
  ASSERT_TRUE((*store)->RecordDeliveries(
      {{.id = ida, .kind = DeliveryResult::Kind::kSent, .parts_sent = 1, .remote_id = "remote-1"},
       {.id = idb,
        .kind = DeliveryResult::Kind::kRetry,
        .error = "connection refused",
        .next_attempt_at = 500}},
      "p1", 101));
  EXPECT_EQ((*store)->ListOutbox("sent", "", 10)->size(), 1u);
  auto due = (*store)->DueOutbox(200, 10);
  ASSERT_TRUE(due);
  EXPECT_TRUE(due->empty());
  due = (*store)->DueOutbox(500, 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ(due->front().id, idb);
  EXPECT_EQ(due->front().attempts, 1);
  EXPECT_EQ(due->front().last_error, "connection refused");

  claimed = (*store)->ClaimDue("me", 500, 10, "p1", 560, test::AllAlive);
  ASSERT_EQ(test::Ids(*claimed), (std::vector<std::string>{idb}));
  ASSERT_TRUE((*store)->RecordDeliveries(
      {{.id = idb, .kind = DeliveryResult::Kind::kDead, .error = "still down"}}, "p1", 501));
  EXPECT_TRUE((*store)->DueOutbox(10'000, 10)->empty()) << "dead rows are not due";
  EXPECT_TRUE((*store)->ClaimDue("me", 10'000, 10, "p1", 10'060, test::AllAlive)->empty());
  auto dead = (*store)->ListOutbox("dead", "", 10);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ(dead->front().attempts, 2);

  EXPECT_TRUE(*(*store)->RetryNow(idb, 600));
  EXPECT_EQ((*store)->DueOutbox(600, 10)->size(), 1u);
  EXPECT_FALSE(*(*store)->RetryNow(ida, 600)) << "a sent row is not retried";
  EXPECT_FALSE(*(*store)->RetryNow("no-such-id", 600));
  EXPECT_TRUE(*(*store)->Drop(idb));
  EXPECT_FALSE(*(*store)->Drop(idb));
  EXPECT_EQ((*store)->ListOutbox("", "", 10)->size(), 1u);
}

TEST(StateStore, FailedCommitLeavesNothingBehind) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  { ASSERT_TRUE(StateStore::Open(path)); }
  // Fault injection: the outbox insert fails after papers and sightings were written.
  ExecOn(path,
         "CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox "
         "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store);
  const Paper p = MakePaper("2401.15024", "SliceGPT", 40);
  DigestCommit c = MakeCommit({p}, 100);
  c.notifications = {MakeNotification("me", p)};
  c.notified = {NotifiedMark{"me", p.key, "paper", "w"}};
  auto st = (*store)->CommitDigest(c);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("injected failure"), std::string::npos);
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM sightings"), 0);
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM notified_sets"), 0);
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM fetch_state"), 0);
  // The store stays usable after the failure.
  ExecOn(path, "DROP TRIGGER fail_outbox");
  ASSERT_TRUE((*store)->CommitDigest(c));
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM outbox"), 1);
}

TEST(StateStore, SourceStateTracksRunsAndFailures) {
  auto store = StateStore::Open(test::TestStateLocation(":memory:"));
  ASSERT_TRUE(store);
  auto s = (*store)->GetSourceState("hf-ko");
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->first_run_at);
  const SourceHealth failing{.failures = 2, .failing_since = 10, .alerted = true};
  const Notification alert = SourceAlert("me", "hf-ko", "source_failing", 10, "timeout");
  ASSERT_TRUE((*store)->RecordFetchFailure("hf-ko", "timeout", failing, 500, {alert}, 20));
  ASSERT_TRUE((*store)->RecordFetchFailure("hf-ko", "timeout", failing, 500, {alert}, 20));
  s = (*store)->GetSourceState("hf-ko");
  EXPECT_EQ(s->failures, 2);
  EXPECT_EQ(s->failing_since, 10);
  EXPECT_TRUE(s->alerted);
  EXPECT_EQ(s->retry_at, 500);
  EXPECT_EQ(s->last_error, "timeout");
  EXPECT_EQ((*store)->ListOutbox("", "", 10)->size(), 1u) << "one alert per streak";
  ASSERT_TRUE((*store)->CommitDigest(MakeCommit({}, 30)));
  ASSERT_TRUE((*store)->MarkFirstRunDone("hf-ko", 30));
  ASSERT_TRUE((*store)->MarkFirstRunDone("hf-ko", 40));
  s = (*store)->GetSourceState("hf-ko");
  EXPECT_EQ(s->failures, 0);
  EXPECT_EQ(s->first_run_at, 30);
  EXPECT_EQ(s->last_success_date, "2024-01-29");
  EXPECT_FALSE(s->failing_since);
  EXPECT_FALSE(s->alerted);
  EXPECT_FALSE(s->retry_at);
  ASSERT_TRUE((*store)->RecordSourceSuccess("hf-ko", "2024-01-28", 50, true));
  EXPECT_EQ((*store)->GetSourceState("hf-ko")->last_success_date, "2024-01-29")
      << "an older date never moves last_success_date back";
}

TEST(StateStore, ValidatorsAreStoredPerUrl) {
  auto store = StateStore::Open(test::TestStateLocation(":memory:"));
  ASSERT_TRUE(store);
  DigestCommit c = MakeCommit({}, 30);
  c.validators = {.etag = "\"v1\"", .last_modified = "Mon, 29 Jan 2024 00:00:00 GMT",
                  .body_hash = "h"};
  ASSERT_TRUE((*store)->CommitDigest(c));
  auto v = (*store)->GetValidators("hf-ko", c.url);
  ASSERT_TRUE(v);
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ((*v)->etag, "\"v1\"");
  EXPECT_EQ((*v)->body_hash, "h");
  EXPECT_FALSE((*store)->GetValidators("hf-ko", "other")->has_value());
}

// Issue 12: a body's hash is XXH3's 128 bits of the whole body: in memory, made as a fetch
// appended it to its spool, or read back from a file in pieces.
TEST(StateStore, BodyHashIsXxh3OfTheWholeBody) {
  std::string body;
  for (int i = 0; i < 40000; ++i) body += "line " + std::to_string(i) + " \xea\xb0\x80\n";
  ASSERT_GT(body.size(), std::size_t(3 * 128 * 1024)) << "more than one piece";
  EXPECT_EQ(BodyHash(body), Xxh3Digits(body).view());
  EXPECT_EQ(BodyHash(body).size(), 32u);
  EXPECT_NE(BodyHash(body), BodyHash(body.substr(0, body.size() - 1)));
  EXPECT_NE(BodyHash("abc"), BodyHash("abd"));
  EXPECT_EQ(BodyHash(Spool(body)), BodyHash(body));

  const test::TempDir dir;
  Spool spool(dir.path(), 1024);
  ASSERT_TRUE(spool.Append(body));
  EXPECT_TRUE(spool.in_file());
  EXPECT_EQ(BodyHash(spool), BodyHash(body)) << "made as it was appended";
  const std::string path = dir.Write("body.xml", body);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(BodyHash(Spool::OfFile(fd, body.size())), BodyHash(body))
      << "read back from the file in pieces";
}

// How many threads this process runs.
std::size_t ThreadCount() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    ++n;
  }
  return n;
}

// Whether `done` holds within 10 s (polled every 5 ms).
bool Eventually(const std::function<bool()>& done) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// `count` new papers of day `day`, each with a summary of 600 letters that compress little.
std::vector<Paper> DayOfPapers(int day, int count) {
  std::vector<Paper> papers;
  std::uint32_t seed = std::uint32_t(day) * 2654435761u + 1;
  for (int i = 0; i < count; ++i) {
    Paper p =
        MakePaper(std::to_string(day) + "." + std::to_string(i),
                  "A paper of day " + std::to_string(day) + ", number " + std::to_string(i), i);
    std::string summary(600, ' ');
    for (char& c : summary) {
      seed = seed * 1664525u + 1013904223u;
      c = char('a' + (seed >> 24) % 26);
    }
    p.summary = {std::move(summary)};
    papers.push_back(std::move(p));
  }
  return papers;
}

// The size of `file` in bytes; 0 when there is none.
std::uintmax_t FileSize(const std::string& file) {
  std::error_code error;
  const auto bytes = std::filesystem::file_size(file, error);
  return error ? 0 : bytes;
}

// Issue 12: the WAL is copied back into the database file by a thread of the store's own,
// not in the writer's commits. A state whose WAL stays short has no such thread; a commit
// that leaves the WAL past the thread's threshold (256 pages), and short of the one past
// which the writer checkpoints itself (1,000), starts one, and every page of the database
// reaches its file while the store stays open. The thread ends with the store, whose close
// removes the WAL.
TEST(StateStore, TheWalIsCheckpointedByAThreadOfItsOwn) {
  const test::TempDir dir;
  const std::string path = dir.File("state.db");
  const std::size_t threads = ThreadCount();
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store) << store.error().message;
  ASSERT_TRUE((*store)->CommitDigest(MakeCommit({MakePaper("2401.00001", "A", 1)}, 10)));
  EXPECT_EQ(ThreadCount(), threads) << "no thread for a short WAL";

  ASSERT_TRUE((*store)->CommitDigest(MakeCommit(DayOfPapers(1, 8000), 100)));
  const std::uintmax_t frames = FileSize(path + "-wal") / (16384 + 24);
  ASSERT_GT(frames, 300u);
  ASSERT_LT(frames, 900u) << "the writer checkpoints past 1,000 pages itself";
  const std::int64_t pages = Scalar(path, "PRAGMA page_count");
  EXPECT_TRUE(Eventually([&] { return FileSize(path) >= std::uintmax_t(pages) * 16384; }))
      << "the file has " << FileSize(path) << " bytes of " << pages << " pages";
  EXPECT_EQ(ThreadCount(), threads + 1);
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM sightings"), 8001);

  store->reset();
  EXPECT_TRUE(Eventually([&] { return ThreadCount() == threads; }));
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
}

// Issue 12: a writer that commits without a pause could keep the checkpoint thread from ever
// copying the whole WAL, and the WAL from starting over: past 1,000 pages the writer
// checkpoints itself, and the WAL stays short of that and one commit.
TEST(StateStore, TheWalStartsOverUnderAWriterThatNeverPauses) {
  const test::TempDir dir;
  const std::string path = dir.File("state.db");
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store) << store.error().message;
  constexpr int kDays = 120;
  std::uintmax_t largest = 0;
  for (int day = 0; day < kDays; ++day) {
    ASSERT_TRUE((*store)->CommitDigest(MakeCommit(DayOfPapers(day, 400), 100 + day)));
    largest = std::max(largest, FileSize(path + "-wal"));
  }
  const std::uintmax_t frames = largest / (16384 + 24);
  EXPECT_LT(frames, 1000u + 100u) << "the WAL started over";
  EXPECT_GT(std::uintmax_t(Scalar(path, "PRAGMA page_count")), 1000u)
      << "the days wrote more pages than the WAL may hold";
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM sightings"), kDays * 400);
}

// While alive, the default VFS: the default one before it, counting the exclusive locks a
// connection tries on a database file. SQLite's own, passed by name ("unix"), is not counted.
class ExclusiveLockCounter {
 public:
  ExclusiveLockCounter() {
    base_ = sqlite3_vfs_find(nullptr);
    vfs_ = *base_;
    vfs_.zName = "exclusive-lock-counter";
    vfs_.szOsFile = int(sizeof(File)) + base_->szOsFile;
    vfs_.xOpen = &Open;
    vfs_.pNext = nullptr;
    sqlite3_vfs_register(&vfs_, /*makeDflt=*/1);
  }
  ~ExclusiveLockCounter() { sqlite3_vfs_unregister(&vfs_); }
  ExclusiveLockCounter(const ExclusiveLockCounter&) = delete;
  ExclusiveLockCounter& operator=(const ExclusiveLockCounter&) = delete;

  static int tries() { return tries_; }

 private:
  // The counter's file, followed in memory by the base VFS's.
  struct File {
    sqlite3_file file;
    bool database;
    sqlite3_file* Base() { return reinterpret_cast<sqlite3_file*>(this + 1); }
  };
  static File* Of(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
  static const sqlite3_io_methods* BaseMethods(sqlite3_file* f) { return Of(f)->Base()->pMethods; }

  static int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out) {
    File* file = Of(f);
    file->file.pMethods = nullptr;
    file->database = (flags & SQLITE_OPEN_MAIN_DB) != 0;
    const int rc = base_->xOpen(base_, name, file->Base(), flags, out);
    if (file->Base()->pMethods) file->file.pMethods = &kMethods;
    return rc;
  }
  static int Lock(sqlite3_file* f, int level) {
    if (Of(f)->database && level == SQLITE_LOCK_EXCLUSIVE) ++tries_;
    return BaseMethods(f)->xLock(Of(f)->Base(), level);
  }
  static int Close(sqlite3_file* f) { return BaseMethods(f)->xClose(Of(f)->Base()); }

  // Calls `method` of the base VFS's file.
  template <auto method, typename... Args>
  static int Forward(sqlite3_file* f, Args... args) {
    return (BaseMethods(f)->*method)(Of(f)->Base(), args...);
  }
  template <auto method, typename... Args>
  static void ForwardVoid(sqlite3_file* f, Args... args) {
    (BaseMethods(f)->*method)(Of(f)->Base(), args...);
  }

  static constexpr sqlite3_io_methods kMethods = {
      3,
      &Close,
      &Forward<&sqlite3_io_methods::xRead, void*, int, sqlite3_int64>,
      &Forward<&sqlite3_io_methods::xWrite, const void*, int, sqlite3_int64>,
      &Forward<&sqlite3_io_methods::xTruncate, sqlite3_int64>,
      &Forward<&sqlite3_io_methods::xSync, int>,
      &Forward<&sqlite3_io_methods::xFileSize, sqlite3_int64*>,
      &Lock,
      &Forward<&sqlite3_io_methods::xUnlock, int>,
      &Forward<&sqlite3_io_methods::xCheckReservedLock, int*>,
      &Forward<&sqlite3_io_methods::xFileControl, int, void*>,
      &Forward<&sqlite3_io_methods::xSectorSize>,
      &Forward<&sqlite3_io_methods::xDeviceCharacteristics>,
      &Forward<&sqlite3_io_methods::xShmMap, int, int, int, void volatile**>,
      &Forward<&sqlite3_io_methods::xShmLock, int, int, int>,
      &ForwardVoid<&sqlite3_io_methods::xShmBarrier>,
      &Forward<&sqlite3_io_methods::xShmUnmap, int>,
      &Forward<&sqlite3_io_methods::xFetch, sqlite3_int64, int, void**>,
      &Forward<&sqlite3_io_methods::xUnfetch, sqlite3_int64, void*>,
  };

  static inline sqlite3_vfs* base_ = nullptr;
  static inline std::atomic<int> tries_{0};
  sqlite3_vfs vfs_;
};

// Issue 12: the checkpoint thread's connection is never the last one open (the writer's
// close removes the WAL), so it closes without trying the database file's exclusive lock:
// tried and refused, that lock kept its first step until the close ended, and a reader
// opening meanwhile without waiting for locks (as the sqlite3 shell does) was told "database
// is locked", a few times in 120 days of commits. Each such close is counted here: 40 days
// of commits closed the thread's connection 27 times.
TEST(StateStore, AReaderBesideTheCheckpointThreadIsNeverToldTheStateIsLocked) {
  const test::TempDir dir;
  const std::string path = dir.File("state.db");
  const ExclusiveLockCounter locks;
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store) << store.error().message;
  const int tries = locks.tries();
  std::atomic<bool> done{false};
  int reads = 0;
  std::vector<std::string> errors;
  std::thread reader([&] {
    while (!done) {
      sqlite3* db = nullptr;
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, "unix");
      if (sqlite3_exec(db, "SELECT count(*) FROM sightings", nullptr, nullptr, nullptr) !=
          SQLITE_OK) {
        errors.emplace_back(sqlite3_errmsg(db));
      }
      ++reads;
      sqlite3_close(db);
    }
  });
  bool committed = true;
  for (int day = 0; day < 40 && committed; ++day) {
    committed = bool((*store)->CommitDigest(MakeCommit(DayOfPapers(day, 400), 100 + day)));
  }
  done = true;
  reader.join();
  ASSERT_TRUE(committed);
  EXPECT_GT(reads, 10);
  EXPECT_EQ(errors, std::vector<std::string>{}) << "in " << reads << " reads";
  EXPECT_EQ(locks.tries() - tries, 0) << "exclusive locks tried while the writer was open";
}

// Issue 12: a read-only open (`digestd status` beside the service) closes without trying the
// exclusive lock either: it cannot checkpoint, and the writer's close removes the WAL.
TEST(StateStore, AReaderClosesWithoutTryingTheExclusiveLock) {
  const test::TempDir dir;
  const std::string path = dir.File("state.db");
  const ExclusiveLockCounter locks;
  auto writer = StateStore::Open(path);
  ASSERT_TRUE(writer) << writer.error().message;
  ASSERT_TRUE((*writer)->CommitDigest(MakeCommit({MakePaper("2401.00001", "A", 1)}, 10)));
  const int tries = locks.tries();
  auto reader = StateStore::Open(path, /*read_only=*/true);
  ASSERT_TRUE(reader) << reader.error().message;
  EXPECT_EQ((*reader)->LoadPriorSightings("hf-ko", {"arxiv:2401.00001"})->size(), 1u);
  reader->reset();
  EXPECT_EQ(locks.tries() - tries, 0);
  writer->reset();
  EXPECT_GT(locks.tries() - tries, 0) << "the writer's close, the last, takes it";
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
}

TEST(StateStore, PruneDropsOldSightingsAndFinishedRows) {
  auto store = StateStore::Open(test::TestStateLocation(":memory:"));
  ASSERT_TRUE(store);
  const Paper p = MakePaper("2401.00001", "A", 1);
  DigestCommit c = MakeCommit({p}, 100);
  c.notifications = {MakeNotification("me", p)};
  ASSERT_TRUE((*store)->CommitDigest(c));
  ASSERT_TRUE((*store)->Prune(50));
  EXPECT_EQ((*store)->LoadPriorSightings("hf-ko", {p.key})->size(), 1u);
  ASSERT_TRUE((*store)->Prune(1000));
  EXPECT_EQ((*store)->LoadPriorSightings("hf-ko", {p.key})->size(), 0u);
  EXPECT_EQ((*store)->ListOutbox("", "", 10)->size(), 1u) << "pending rows are never pruned";
}

TEST(StateStore, ReadOnlyOpenWorksBesideAWriter) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  auto writer = StateStore::Open(path);
  ASSERT_TRUE(writer);
  ASSERT_TRUE((*writer)->CommitDigest(MakeCommit({MakePaper("2401.00001", "A", 1)}, 100)));
  auto reader = StateStore::Open(path, /*read_only=*/true);
  ASSERT_TRUE(reader) << reader.error().message;
  EXPECT_EQ((*reader)->LoadPriorSightings("hf-ko", {"arxiv:2401.00001"})->size(), 1u);
  EXPECT_FALSE((*reader)->MarkFirstRunDone("hf-ko", 1)) << "read-only must refuse writes";
}

// `status` before the first `once` on a database the admin made says "no state yet" on
// PostgreSQL as on SQLite, not that an empty database has an old schema.
TEST(Issue14Store, ReadOnlyOpenOfAnEmptyStateSaysNoStateYet) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  { std::ofstream empty(path); }
  const std::string state = test::TestStateLocation(path);
  auto reader = StateStore::Open(state, /*read_only=*/true);
  ASSERT_FALSE(reader);
  EXPECT_NE(reader.error().message.find("no state yet"), std::string::npos)
      << reader.error().message;
  auto writer = StateStore::Open(state);
  ASSERT_TRUE(writer) << writer.error().message;
  EXPECT_TRUE(StateStore::Open(state, /*read_only=*/true)) << "once made, it opens";
}

}  // namespace
}  // namespace digestd
