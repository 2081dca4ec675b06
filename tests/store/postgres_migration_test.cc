// PostgreSQL migrations: two instances opening one new state at once (issue 14), the second
// waiting on the migration lock, a schema-8 database brought to schema 9, a schema-9 one to
// schema 10, a schema-10 one to schema 11, a schema-11 one to schema 12, a schema-12 one to
// schema 13 and a schema-13 one to schema 14 (issue 12).
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/planner.h"
#include "store/state_store.h"
#include "tests/store/store_testing.h"
#include "tests/support/pg_testing.h"

namespace digestd {
namespace {

using Conn = test::PostgresSession;

std::string Query(PGconn* conn, const std::string& sql) { return test::PostgresQuery(conn, sql); }

using Issue14Migration = test::PostgresTest;

TEST_F(Issue14Migration, AnOpenThatWaitedForAnotherMigrationSeesItsTables) {
  // Stands in for the first instance, mid-migration: it holds the lock that
  // begin_migration takes (store/postgres_db.cc) and has made no table yet.
  Conn first(PQconnectdb(database().url().c_str()));
  ASSERT_EQ(PQstatus(first.get()), CONNECTION_OK) << PQerrorMessage(first.get());
  ASSERT_EQ(Query(first.get(), "BEGIN"), "");
  ASSERT_EQ(Query(first.get(), "SELECT pg_advisory_xact_lock(7236110511)"), "");

  // The second instance finds no schema, and waits for the lock to migrate.
  std::optional<Result<std::unique_ptr<StateStore>>> second;
  std::thread opener([&] { second = StateStore::Open(database().url()); });
  Conn watcher(PQconnectdb(database().url().c_str()));
  EXPECT_EQ(PQstatus(watcher.get()), CONNECTION_OK) << PQerrorMessage(watcher.get());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Query(watcher.get(), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                              "AND NOT granted") != "1" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const bool waiting = Query(watcher.get(), "SELECT count(*) FROM pg_locks WHERE locktype = "
                                            "'advisory' AND NOT granted") == "1";

  // The first instance's migration commits: the schema table, at this binary's version.
  EXPECT_EQ(Query(first.get(), "CREATE TABLE digestd_schema (version INTEGER NOT NULL)"), "");
  EXPECT_EQ(Query(first.get(), "INSERT INTO digestd_schema VALUES (" +
                                   std::to_string(StateStore::kSchemaVersion) + ")"),
            "");
  EXPECT_EQ(Query(first.get(), "COMMIT"), "");
  opener.join();
  ASSERT_TRUE(waiting) << "the second open never waited for the migration lock";
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(*second) << second->error().message;
}

}  // namespace
}  // namespace digestd

namespace digestd {
namespace {

// Schema 10 and before: the outbox's dedupe keys had an index of their own (step 11 drops it).
constexpr const char* kRestoreDedupeIndex =
    "ALTER TABLE outbox ADD CONSTRAINT outbox_dedupe_key_key UNIQUE (dedupe_key)";

// The indexes of `table`, a line each: its name and definition.
std::string IndexesOf(PGconn* conn, const std::string& table) {
  return Query(conn,
               "SELECT string_agg(indexname || ': ' || indexdef, E'\\n' ORDER BY indexname) "
               "FROM pg_indexes WHERE tablename = '" + table + "'");
}

// A session on the database at `url` once StateStore::Open has made it there: a new
// database's schema, which a migrated one must end with. Null, failing the test, when either
// cannot be done.
Conn NewDatabase(const std::string& url) {
  if (url.empty() || !StateStore::Open(url)) {
    ADD_FAILURE() << "cannot make a new database at '" << url << "'";
    return nullptr;
  }
  Conn conn(PQconnectdb(url.c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    ADD_FAILURE() << PQerrorMessage(conn.get());
    return nullptr;
  }
  return conn;
}

// The store on the database at `url` with two rows queued at 100 for notifier "me": id-1,
// then id-2. Null, failing the test, when it cannot be opened or written.
std::unique_ptr<StateStore> StoreWithTwoRows(const std::string& url) {
  auto store = StateStore::Open(url);
  if (!store) {
    ADD_FAILURE() << store.error().message;
    return nullptr;
  }
  if (auto st = (*store)->QueueNotifications({test::Row("me", "id-1"), test::Row("me", "id-2")},
                                             100);
      !st) {
    ADD_FAILURE() << st.error().message;
    return nullptr;
  }
  return std::move(*store);
}

// What a migration test reads once the store has migrated the database: the store (null,
// the test failed, when it could not open) and the listing of what the step changed.
struct Migrated {
  std::unique_ptr<StateStore> store;
  std::string listing;
};

// Marks the database at `url`, which the test took back a step through `conn`, as of schema
// `version`, and opens it: the store migrates it. What `listing` reads (indexes,
// constraints) differs from a new database's (`fresh`) before and equals it after, and every
// row `rows` reads is kept.
Migrated MigrateFrom(int version, const std::string& url, PGconn* conn, PGconn* fresh,
                     const std::function<std::string(PGconn*)>& listing,
                     const std::string& rows) {
  Migrated m;
  EXPECT_EQ(Query(conn, "UPDATE digestd_schema SET version = " + std::to_string(version)), "");
  const std::string before = Query(conn, rows);
  EXPECT_NE(listing(conn), listing(fresh)) << "the test took the step back";
  auto store = StateStore::Open(url);
  if (!store) {
    ADD_FAILURE() << store.error().message;
    return m;
  }
  EXPECT_EQ((*store)->SchemaVersion(), StateStore::kSchemaVersion);
  EXPECT_EQ(Query(conn, rows), before);
  m.listing = listing(conn);
  EXPECT_EQ(m.listing, listing(fresh));
  m.store = std::move(*store);
  return m;
}

// Issue 12: schema 8 -> 9 on PostgreSQL keeps only pending rows in the per-notifier claim
// index. A database left at schema 8 (that index as step 8 made it) with rows in the outbox
// keeps every row, gets the index a new database gets, and its pending row is claimed.
TEST_F(Issue14Migration, Schema8DatabaseGetsTheClaimIndexOfPendingRows) {
  const auto indexes = [](PGconn* conn) { return IndexesOf(conn, "outbox"); };
  const Conn fresh = NewDatabase(AnotherDatabaseUrl());
  ASSERT_TRUE(fresh);
  {
    const auto store = StoreWithTwoRows(database().url());
    ASSERT_TRUE(store);
    auto taken = store->ClaimDue("me", 100, 1, "host-a/1", 999, test::AllAlive);
    ASSERT_TRUE(taken) << taken.error().message;
    ASSERT_EQ(test::Ids(*taken), std::vector<std::string>{"id-1"});
  }
  Conn conn(PQconnectdb(database().url().c_str()));
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  // Back to what schema 8 left: the dedupe keys' own index (step 11), no snapshot encoding
  // (step 10), its index over every row, and its version.
  ASSERT_EQ(Query(conn.get(), kRestoreDedupeIndex), "");
  ASSERT_EQ(Query(conn.get(), "ALTER TABLE snapshots DROP COLUMN encoding"), "");
  ASSERT_EQ(Query(conn.get(), "DROP TABLE snapshot_dicts"), "");
  ASSERT_EQ(Query(conn.get(), "DROP INDEX outbox_notifier_due"), "");
  ASSERT_EQ(Query(conn.get(), "CREATE INDEX outbox_notifier_due ON outbox(notifier, state, "
                              "next_attempt_at, created_at)"),
            "");
  const std::string kRows =
      "SELECT string_agg(concat_ws(' ', id, state, lease_owner, message), E'\\n' ORDER BY id) "
      "FROM outbox";
  const Migrated m =
      MigrateFrom(8, database().url(), conn.get(), fresh.get(), indexes, kRows);
  ASSERT_TRUE(m.store);
  StateStore& store = *m.store;
  const std::string& migrated = m.listing;
  EXPECT_NE(migrated.find("WHERE (state = 'pending'::text)"), std::string::npos) << migrated;
  auto claimed = store.ClaimDue("me", 200, 10, "host-b/2", 999, test::AllAlive);
  ASSERT_TRUE(claimed) << claimed.error().message;
  EXPECT_EQ(test::Ids(*claimed), std::vector<std::string>{"id-2"}) << "id-1 is host-a's";
}

// Issue 12: schema 9 -> 10 on PostgreSQL adds the snapshot encoding, which this backend
// leaves at 0 (text). A database taken back to schema 9 with papers in it keeps every
// snapshot as it was, reads them through snapshot_text as before, and stores the next ones as
// text too.
TEST_F(Issue14Migration, Schema9DatabaseKeepsItsSnapshotsAsText) {
  Paper a;
  a.key = "arxiv:2401.00001";
  a.title = "희소 어텐션";
  a.url = "https://arxiv.org/abs/2401.00001";
  a.summary = {"요약"};
  {
    auto store = StateStore::Open(database().url());
    ASSERT_TRUE(store) << store.error().message;
    DigestCommit c{
        .source = "hf-ko", .url = "https://example.org/d.md", .date = "2024-01-29", .now = 100};
    c.papers = SharePapers({a});
    ASSERT_TRUE((*store)->CommitDigest(c));
  }
  Conn conn(PQconnectdb(database().url().c_str()));
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  ASSERT_EQ(Query(conn.get(), kRestoreDedupeIndex), "");
  ASSERT_EQ(Query(conn.get(), "ALTER TABLE snapshots DROP COLUMN encoding"), "");
  ASSERT_EQ(Query(conn.get(), "DROP TABLE snapshot_dicts"), "");
  ASSERT_EQ(Query(conn.get(), "DROP FUNCTION snapshot_text(text, bigint)"), "");
  ASSERT_EQ(Query(conn.get(), "UPDATE digestd_schema SET version = 9"), "");
  const std::string kSnapshots =
      "SELECT string_agg(concat_ws(' ', id, hash, paper), E'\\n' ORDER BY id) FROM snapshots";
  const std::string before = Query(conn.get(), kSnapshots);
  ASSERT_NE(before.find("희소 어텐션"), std::string::npos) << before;

  auto store = StateStore::Open(database().url());
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ((*store)->SchemaVersion(), StateStore::kSchemaVersion);
  EXPECT_EQ(Query(conn.get(), kSnapshots), before);
  auto seen = (*store)->LoadSightings("2024-01-29", a.key);
  ASSERT_TRUE(seen) << seen.error().message;
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ((*seen)[0].paper, a);
  Paper b = a;
  b.key = "arxiv:2401.00002";
  b.url = "https://arxiv.org/abs/2401.00002";
  DigestCommit c{
      .source = "hf-ko", .url = "https://example.org/d.md", .date = "2024-01-30", .now = 200};
  c.papers = SharePapers({b});
  ASSERT_TRUE((*store)->CommitDigest(c));
  EXPECT_EQ(Query(conn.get(), "SELECT string_agg(encoding::text, ',') FROM snapshots"), "0,0");
  EXPECT_EQ(Query(conn.get(), "SELECT count(*) FROM snapshot_dicts"), "0");
}

// Issue 12: schema 10 -> 11 on PostgreSQL drops the dedupe keys' own index, which the
// primary key makes redundant (a row's id is the hash of its dedupe key). A database taken
// back to schema 10 keeps every row, ends with the constraints a new database has, and a
// notification queued again is still one row.
TEST_F(Issue14Migration, Schema10DatabaseDropsTheDedupeKeysOwnIndex) {
  const std::string kConstraints =
      "SELECT string_agg(conname || ' ' || contype::text, ',' ORDER BY conname) "
      "FROM pg_constraint WHERE conrelid = 'outbox'::regclass";
  const Conn fresh = NewDatabase(AnotherDatabaseUrl());
  ASSERT_TRUE(fresh);
  ASSERT_TRUE(StoreWithTwoRows(database().url()));
  Conn conn(PQconnectdb(database().url().c_str()));
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  ASSERT_EQ(Query(conn.get(), kRestoreDedupeIndex), "");
  const std::string kRows =
      "SELECT string_agg(concat_ws(' ', rowid, id, dedupe_key, state, message), E'\\n' "
      "ORDER BY id) FROM outbox";
  const std::string restored = Query(conn.get(), kConstraints);
  ASSERT_NE(restored.find("outbox_dedupe_key_key u"), std::string::npos) << restored;
  const auto constraints_of = [&](PGconn* c) { return Query(c, kConstraints); };
  const Migrated m =
      MigrateFrom(10, database().url(), conn.get(), fresh.get(), constraints_of, kRows);
  ASSERT_TRUE(m.store);
  EXPECT_EQ(m.listing.find("outbox_dedupe_key_key"), std::string::npos) << m.listing;
  ASSERT_TRUE(m.store->QueueNotifications({test::Row("me", "id-1")}, 200));
  EXPECT_EQ(Query(conn.get(), "SELECT count(*) FROM outbox"), "2");
}

// Issue 12: schema 11 -> 12 on PostgreSQL makes every snapshot's hash and every sighting's
// content hash again with XXH3, as on SQLite. A database taken back to schema 11, its hashes
// other values (the step reads none of them), ends with the values a commit writes today, and
// the same day committed again finds every snapshot and stores none.
TEST_F(Issue14Migration, Schema11DatabaseHashesItsPapersWithXxh3) {
  std::vector<Paper> papers(1100);  // more than the step rewrites in one batch (1,000)
  for (std::size_t i = 0; i < papers.size(); ++i) {
    papers[i].key = "arxiv:2401." + std::to_string(10000 + i);
    papers[i].title = "희소 어텐션 " + std::to_string(i);
    papers[i].url = "https://arxiv.org/abs/2401." + std::to_string(10000 + i);
    papers[i].authors = {"Ada Lovelace", "김철수"};
    papers[i].summary = {"요약", std::string(i % 50 * 20, 'x')};
  }
  DigestCommit day{
      .source = "hf-ko", .url = "https://example.org/d.md", .date = "2024-01-29", .now = 100};
  day.papers = SharePapers(papers);
  {
    auto store = StateStore::Open(database().url());
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE((*store)->CommitDigest(day));
  }
  Conn conn(PQconnectdb(database().url().c_str()));
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  const std::string kHashes =
      "SELECT string_agg(concat_ws(' ', id, hash), ',' ORDER BY id) FROM snapshots "
      "UNION ALL SELECT string_agg(concat_ws(' ', paper_key, content_hash), ',' "
      "ORDER BY paper_key) FROM sightings";
  const std::string kRows =
      "SELECT string_agg(concat_ws(' ', id, paper, encoding), E'\\n' ORDER BY id) "
      "FROM snapshots UNION ALL SELECT string_agg(concat_ws(' ', paper_key, source, date, "
      "snapshot, first_seen, seen_at), E'\\n' ORDER BY paper_key) FROM sightings";
  const std::string today = Query(conn.get(), kHashes);
  const std::string rows = Query(conn.get(), kRows);
  ASSERT_EQ(Query(conn.get(), kRestoreDedupeIndex), "");
  ASSERT_EQ(Query(conn.get(), "UPDATE snapshots SET hash = hash # 12345"), "");
  ASSERT_EQ(Query(conn.get(), "UPDATE sightings SET content_hash = md5(content_hash)"), "");
  ASSERT_EQ(Query(conn.get(), "UPDATE digestd_schema SET version = 11"), "");
  ASSERT_NE(Query(conn.get(), kHashes), today);

  auto store = StateStore::Open(database().url());
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ((*store)->SchemaVersion(), StateStore::kSchemaVersion);
  EXPECT_EQ(Query(conn.get(), kHashes), today);
  EXPECT_EQ(Query(conn.get(), kRows), rows) << "only the hashes change";
  auto prior = (*store)->LoadPriorSightings("hf-ko", {papers[3].key});
  ASSERT_TRUE(prior) << prior.error().message;
  EXPECT_EQ(prior->at(papers[3].key).content_hash, SightingContentHash(papers[3]));
  day.now = 200;
  ASSERT_TRUE((*store)->CommitDigest(day));
  EXPECT_EQ(Query(conn.get(), "SELECT count(*) FROM snapshots"), "1100");
}

// Issue 12: schema 12 -> 13 on PostgreSQL keeps only unfinished rows in the index of due rows,
// as on SQLite. A database taken back to schema 12 (that index over every row) with a sent
// and a pending row keeps both, ends with the indexes a new database has, counts them as
// before and claims the pending one.
TEST_F(Issue14Migration, Schema12DatabaseGetsTheDueIndexOfUnfinishedRows) {
  const auto indexes = [](PGconn* conn) { return IndexesOf(conn, "outbox"); };
  const Conn fresh = NewDatabase(AnotherDatabaseUrl());
  ASSERT_TRUE(fresh);
  {
    const auto store = StoreWithTwoRows(database().url());
    ASSERT_TRUE(store);
    auto taken = store->ClaimDue("me", 100, 1, "host-a/1", 999, test::AllAlive);
    ASSERT_TRUE(taken) << taken.error().message;
    ASSERT_EQ(test::Ids(*taken), std::vector<std::string>{"id-1"});
    ASSERT_TRUE(store->RecordDeliveries(
        {DeliveryResult{.id = "id-1", .kind = DeliveryResult::Kind::kSent}}, "host-a/1", 150));
  }
  Conn conn(PQconnectdb(database().url().c_str()));
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  ASSERT_EQ(Query(conn.get(), "DROP INDEX outbox_due"), "");
  ASSERT_EQ(Query(conn.get(), "CREATE INDEX outbox_due ON outbox(state, next_attempt_at)"), "");
  const std::string kRows =
      "SELECT string_agg(concat_ws(' ', rowid, id, state, sent_at, message), E'\\n' "
      "ORDER BY id) FROM outbox";
  const Migrated m =
      MigrateFrom(12, database().url(), conn.get(), fresh.get(), indexes, kRows);
  ASSERT_TRUE(m.store);
  StateStore& store = *m.store;
  const std::string& migrated = m.listing;
  EXPECT_NE(migrated.find("WHERE (state <> 'sent'::text)"), std::string::npos) << migrated;
  const std::map<std::string, int> counts = {{"pending", 1}, {"sent", 1}};
  EXPECT_EQ(*store.OutboxCounts(), counts);
  auto claimed = store.ClaimDue("me", 200, 10, "host-b/2", 999, test::AllAlive);
  ASSERT_TRUE(claimed) << claimed.error().message;
  EXPECT_EQ(test::Ids(*claimed), std::vector<std::string>{"id-2"});
}

// Issue 12: schema 13 -> 14 on PostgreSQL drops the index of sightings by `seen_at`, as on
// SQLite. A database given that index back and taken to schema 13 keeps its sightings, ends
// with the indexes a new database has, and its prune takes only what is older than its bound.
TEST_F(Issue14Migration, Schema13DatabaseLosesTheIndexOfSightingsBySeenAt) {
  const auto indexes = [](PGconn* conn) { return IndexesOf(conn, "sightings"); };
  const Conn fresh = NewDatabase(AnotherDatabaseUrl());
  ASSERT_TRUE(fresh);
  Paper a;
  a.key = "arxiv:2401.00001";
  a.title = "희소 어텐션";
  a.url = "https://arxiv.org/abs/2401.00001";
  Paper b = a;
  b.key = "arxiv:2401.00002";
  b.url = "https://arxiv.org/abs/2401.00002";
  {
    auto store = StateStore::Open(database().url());
    ASSERT_TRUE(store) << store.error().message;
    DigestCommit c{
        .source = "hf-ko", .url = "https://example.org/d.md", .date = "2024-01-29", .now = 100};
    c.papers = SharePapers({a});
    ASSERT_TRUE((*store)->CommitDigest(c));
    c.date = "2024-01-30";
    c.now = 200;
    c.papers = SharePapers({b});
    ASSERT_TRUE((*store)->CommitDigest(c));
  }
  Conn conn(PQconnectdb(database().url().c_str()));
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  ASSERT_EQ(Query(conn.get(), "CREATE INDEX sightings_seen_at ON sightings(seen_at)"), "");
  const std::string kRows =
      "SELECT string_agg(concat_ws(' ', paper_key, source, date, snapshot, seen_at), E'\\n' "
      "ORDER BY paper_key) FROM sightings";
  const Migrated m =
      MigrateFrom(13, database().url(), conn.get(), fresh.get(), indexes, kRows);
  ASSERT_TRUE(m.store);
  StateStore& store = *m.store;
  const std::string& migrated = m.listing;
  EXPECT_EQ(migrated.find("seen_at"), std::string::npos) << migrated;
  ASSERT_TRUE(store.Prune(150));
  EXPECT_EQ(Query(conn.get(), "SELECT string_agg(paper_key, ',') FROM sightings"), b.key);
}

// Issue 12: schema 14 -> 15 on PostgreSQL keys notified sets by their paper first and drops
// their index by paper, as on SQLite. A database given the old key and that index back and
// taken to schema 14 keeps its sets, ends with the indexes a new database has, reads a
// paper's marks, and merges a commit's new watch into its stored set.
TEST_F(Issue14Migration, Schema14DatabaseKeysNotifiedSetsByPaper) {
  const auto indexes = [](PGconn* conn) { return IndexesOf(conn, "notified_sets"); };
  const Conn fresh = NewDatabase(AnotherDatabaseUrl());
  ASSERT_TRUE(fresh);
  const std::string paper = "arxiv:2401.00001";
  {
    auto store = StateStore::Open(database().url());
    ASSERT_TRUE(store) << store.error().message;
    DigestCommit c{
        .source = "hf-ko", .url = "https://example.org/d.md", .date = "2024-01-29", .now = 100};
    c.notified = {NotifiedMark{"me", paper, "paper", "w1"},
                  NotifiedMark{"chat", paper, "paper", "w2"}};
    ASSERT_TRUE((*store)->CommitDigest(c));
  }
  Conn conn(PQconnectdb(database().url().c_str()));
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  ASSERT_EQ(Query(conn.get(), "ALTER TABLE notified_sets DROP CONSTRAINT notified_sets_pkey"), "");
  ASSERT_EQ(Query(conn.get(), "ALTER TABLE notified_sets ADD PRIMARY KEY (key)"), "");
  ASSERT_EQ(Query(conn.get(), "CREATE INDEX notified_sets_paper ON notified_sets(paper_key)"), "");
  const std::string kRows =
      "SELECT string_agg(concat_ws(' ', key, paper_key, watches, created_at), E'\\n' "
      "ORDER BY key) FROM notified_sets";
  ASSERT_NE(Query(conn.get(), kRows).find("w2"), std::string::npos) << Query(conn.get(), kRows);
  const Migrated m =
      MigrateFrom(14, database().url(), conn.get(), fresh.get(), indexes, kRows);
  ASSERT_TRUE(m.store);
  StateStore& store = *m.store;
  const std::string& migrated = m.listing;
  EXPECT_NE(migrated.find("(paper_key, key)"), std::string::npos) << migrated;
  const auto marks = [&] {
    auto notified = store.LoadNotified({paper});
    EXPECT_TRUE(notified) << notified.error().message;
    return notified.value_or(std::set<std::string>{}).size();
  };
  EXPECT_EQ(marks(), 2u);
  DigestCommit c{
      .source = "hf-ko", .url = "https://example.org/d.md", .date = "2024-01-30", .now = 200};
  c.notified = {NotifiedMark{"me", paper, "paper", "w3"}};
  ASSERT_TRUE(store.CommitDigest(c));
  EXPECT_EQ(marks(), 3u);
  EXPECT_EQ(Query(conn.get(), "SELECT count(*) FROM notified_sets"), "2") << "merged, not added";
}

// Issue 12: schema 15 -> 16 on PostgreSQL drops `papers` and with it the foreign key of
// sightings, as on SQLite. A database taken back to schema 15 (the table and the key) keeps
// every sighting, ends with a new database's tables and constraints, and takes a commit of a
// paper seen before and of a new one.
TEST_F(Issue14Migration, Schema15DatabaseDropsThePapersTable) {
  const std::string kLayout =
      "SELECT (SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
      "WHERE schemaname = current_schema()) || ' ' || (SELECT string_agg(conname || ' ' || "
      "contype::text, ',' ORDER BY conname) FROM pg_constraint "
      "WHERE conrelid = 'sightings'::regclass)";
  const auto layout = [&](PGconn* c) { return Query(c, kLayout); };
  const Conn fresh = NewDatabase(AnotherDatabaseUrl());
  ASSERT_TRUE(fresh);
  {
    auto store = StateStore::Open(database().url());
    ASSERT_TRUE(store) << store.error().message;
    DigestCommit c{
        .source = "hf-ko", .url = "https://example.org/d.md", .date = "2024-01-29", .now = 100};
    c.papers = SharePapers({test::MakePaper("2401.00001", "A")});
    ASSERT_TRUE((*store)->CommitDigest(std::move(c)));
  }
  Conn conn(PQconnectdb(database().url().c_str()));
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  ASSERT_EQ(Query(conn.get(),
                  "CREATE TABLE papers (key TEXT COLLATE \"C\" PRIMARY KEY, "
                  "first_seen BIGINT NOT NULL, first_source TEXT COLLATE \"C\" NOT NULL)"),
            "");
  ASSERT_EQ(Query(conn.get(),
                  "INSERT INTO papers SELECT paper_key, first_seen, source "
                  "FROM sightings"),
            "");
  ASSERT_EQ(Query(conn.get(),
                  "ALTER TABLE sightings ADD FOREIGN KEY (paper_key) "
                  "REFERENCES papers(key) ON DELETE CASCADE"),
            "");
  ASSERT_NE(layout(conn.get()).find("sightings_paper_key_fkey f"), std::string::npos)
      << layout(conn.get());
  const std::string kRows =
      "SELECT string_agg(concat_ws(' ', paper_key, source, date, url, votes, version, snapshot, "
      "content_hash, first_seen, seen_at), E'\\n' ORDER BY paper_key, source) FROM sightings";
  const Migrated m = MigrateFrom(15, database().url(), conn.get(), fresh.get(), layout, kRows);
  ASSERT_TRUE(m.store);
  EXPECT_EQ(m.listing.find("papers"), std::string::npos) << m.listing;
  EXPECT_EQ(m.listing.find("fkey"), std::string::npos) << m.listing;
  DigestCommit c{
      .source = "hf-ko", .url = "https://example.org/d.md", .date = "2024-01-30", .now = 200};
  c.papers =
      SharePapers({test::MakePaper("2401.00001", "A, again"), test::MakePaper("2401.00002", "B")});
  ASSERT_TRUE(m.store->CommitDigest(std::move(c)));
  EXPECT_EQ(Query(conn.get(),
                  "SELECT string_agg(concat_ws(' ', paper_key, date, first_seen, "
                  "seen_at), ',' ORDER BY paper_key) FROM sightings"),
            "arxiv:2401.00001 2024-01-30 100 200,arxiv:2401.00002 2024-01-30 200 200");
}

}  // namespace
}  // namespace digestd
