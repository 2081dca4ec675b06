// Schema 4 migrations (Issue 7): a real schema-3 file keeps every row and column, a newer
// file is refused, and processes opening one new file at once migrate it once.
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "core/planner.h"
#include "store/state_store.h"
#include "tests/store/old_schemas.h"
#include "tests/store/store_testing.h"
#include "tests/support/temp_dir.h"

namespace digestd {
namespace {

using test::Dump;
using test::ExecError;
using test::ExecOn;
using test::FindRow;
using test::Scalar;

constexpr const char* kPendingMessage =
    R"({"notification":"id-pending","notifier":"me","kind":"instant","event":"new",)"
    R"("watches":["w1"],"papers":[]})";

// State in every table of schema 3; the outbox has a row in each state it allowed.
constexpr const char* kSchema3Rows = R"sql(
INSERT INTO papers VALUES('arxiv:2401.00001', 10, 'hf-ko');
INSERT INTO sightings VALUES('arxiv:2401.00001', 'hf-ko', '2024-01-29', 'A',
  'https://arxiv.org/abs/2401.00001', 7, 'v2',
  '{"key":"arxiv:2401.00001","title":"A","url":"https://arxiv.org/abs/2401.00001"}',
  'hash-a', 10, 20);
INSERT INTO sources VALUES('hf-ko', 5, 6, '2024-01-29', 2, 'timeout', 7, 1, 8);
INSERT INTO sources(name) VALUES('hf');
INSERT INTO fetch_state VALUES('hf-ko', 'https://example.org/2024-01-29.md', '"e1"',
  'Mon, 29 Jan 2024 00:00:00 GMT', 'body-hash', 6);
INSERT INTO notified_sets VALUES('me' || char(31) || 'arxiv:2401.00001' || char(31) || 'paper',
  'arxiv:2401.00001', '["w1","w2"]', 10);
INSERT INTO outbox(id, dedupe_key, notifier, kind, event, message, state, attempts, parts_sent,
                   created_at, next_attempt_at, last_error, sent_at, remote_id)
  VALUES('id-pending', 'dk-pending', 'me', 'instant', 'new', :message, 'pending', 2, 1, 100,
         300, 'HTTP 503', NULL, 'part-1'),
        ('id-sent', 'dk-sent', 'me', 'digest', 'new', '{}', 'sent', 1, 3, 110, 110, '', 150,
         'remote-9'),
        ('id-dead', 'dk-dead', 'team', 'alert', 'source_failing', '{}', 'dead', 5, 0, 120, 400,
         'HTTP 400: bad request', NULL, '');
)sql";

// Every table of schema 3 with every column it had, in a fixed order.
std::map<std::string, std::string> Schema3Tables() {
  return {
      {"papers", "SELECT * FROM papers ORDER BY key"},
      {"sightings", "SELECT * FROM sightings ORDER BY paper_key, source"},
      {"sources", "SELECT * FROM sources ORDER BY name"},
      {"fetch_state", "SELECT * FROM fetch_state ORDER BY source, url"},
      {"notified_sets", "SELECT * FROM notified_sets ORDER BY key"},
      {"outbox",
       "SELECT id, dedupe_key, notifier, kind, event, message, state, attempts, parts_sent, "
       "created_at, next_attempt_at, last_error, sent_at, remote_id FROM outbox ORDER BY id"},
  };
}

// Builds a schema-3 file at `path` with kSchema3Rows, as digestd 3 would have left it.
void WriteSchema3File(const std::string& path) {
  std::string rows = kSchema3Rows;
  const std::string quoted = std::string("'") + kPendingMessage + "'";
  rows.replace(rows.find(":message"), 8, quoted);
  ExecOn(path, std::string("PRAGMA journal_mode=WAL;") + test::kSchema1 + test::kSchema2 +
                   test::kSchema3 + rows + "PRAGMA user_version=3;");
}

TEST(Issue7, MigratesSchema3FileKeepingEveryRow) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  WriteSchema3File(path);
  ASSERT_EQ(Scalar(path, "PRAGMA user_version"), 3);
  std::map<std::string, std::string> before;
  for (const auto& [table, sql] : Schema3Tables()) {
    before[table] = Dump(path, sql);
    ASSERT_FALSE(before[table].empty()) << table << " has rows before";
    ASSERT_EQ(before[table].find("error"), std::string::npos) << before[table];
  }
  // Schema 3 refuses `sending`: what the migration must change.
  EXPECT_NE(ExecError(path, "UPDATE outbox SET state = 'sending' WHERE id = 'id-pending'"), "");

  {
    auto store = StateStore::Open(path);
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_EQ((*store)->SchemaVersion(), 4);
  }
  EXPECT_EQ(Scalar(path, "PRAGMA user_version"), 4);
  for (const auto& [table, sql] : Schema3Tables()) {
    EXPECT_EQ(Dump(path, sql), before[table]) << table;
  }
  EXPECT_EQ(Scalar(path,
                   "SELECT count(*) FROM outbox WHERE lease_owner IS NULL AND "
                   "lease_until IS NULL"),
            3);
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM notifier_health"), 0);
  EXPECT_EQ(Dump(path,
                 "SELECT name FROM sqlite_master WHERE tbl_name LIKE 'outbox%' "
                 "ORDER BY name"),
            "T:outbox|\nT:outbox_due|\nT:outbox_notifier_due|\nT:sqlite_autoindex_outbox_1|\n"
            "T:sqlite_autoindex_outbox_2|\n");
  EXPECT_EQ(Dump(path, "PRAGMA integrity_check"), "T:ok|\n");
  EXPECT_EQ(Dump(path, "PRAGMA foreign_key_check"), "");
  EXPECT_NE(ExecError(path, "UPDATE outbox SET state = 'lost' WHERE id = 'id-sent'"), "")
      << "the rebuilt table still checks its states";
  EXPECT_NE(ExecError(path,
                      "INSERT INTO outbox(id, dedupe_key, notifier, kind, event, message, "
                      "created_at, next_attempt_at) VALUES('x', 'dk-sent', 'me', 'instant', "
                      "'new', '{}', 1, 1)"),
            "")
      << "dedupe keys are still unique";

  // The rows mean what they meant, read through the store.
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ(*(*store)->OutboxCounts(),
            (std::map<std::string, int>{{"dead", 1}, {"pending", 1}, {"sent", 1}}));
  const auto sent = FindRow(**store, "id-sent");
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->state, "sent");
  EXPECT_EQ(sent->kind, "digest");
  EXPECT_EQ(sent->attempts, 1);
  EXPECT_EQ(sent->parts_sent, 3);
  EXPECT_EQ(sent->sent_at, 150);
  EXPECT_EQ(sent->remote_id, "remote-9");
  EXPECT_EQ(sent->lease_owner, "");
  EXPECT_FALSE(sent->lease_until);
  const auto dead = FindRow(**store, "id-dead");
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->state, "dead");
  EXPECT_EQ(dead->notifier, "team");
  EXPECT_EQ(dead->event, "source_failing");
  EXPECT_EQ(dead->attempts, 5);
  EXPECT_EQ(dead->last_error, "HTTP 400: bad request");
  EXPECT_EQ(dead->created_at, 120);
  EXPECT_FALSE(dead->sent_at);

  EXPECT_TRUE((*store)->DueOutbox(299, 10)->empty()) << "the pending row keeps its due time";
  auto claimed = (*store)->ClaimDue("me", 300, 10, "p1", 360, test::AllAlive);
  ASSERT_TRUE(claimed) << claimed.error().message;
  ASSERT_EQ(claimed->size(), 1u);
  const OutboxRow& pending = claimed->front();
  EXPECT_EQ(pending.id, "id-pending");
  EXPECT_EQ(pending.state, "sending") << "schema 4 accepts sending";
  EXPECT_EQ(pending.attempts, 2);
  EXPECT_EQ(pending.parts_sent, 1);
  EXPECT_EQ(pending.remote_id, "part-1");
  EXPECT_EQ(pending.last_error, "HTTP 503");
  EXPECT_EQ(pending.created_at, 100);
  auto message = ParseNotificationJson(pending.message);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->id, "id-pending");
  EXPECT_EQ(message->watches, std::vector<std::string>{"w1"});
  EXPECT_TRUE(*(*store)->RetryNow("id-dead", 500));

  auto source = (*store)->GetSourceState("hf-ko");
  ASSERT_TRUE(source);
  EXPECT_EQ(source->first_run_at, 5);
  EXPECT_EQ(source->last_success_at, 6);
  EXPECT_EQ(source->last_success_date, "2024-01-29");
  EXPECT_EQ(source->failures, 2);
  EXPECT_EQ(source->last_error, "timeout");
  EXPECT_EQ(source->failing_since, 7);
  EXPECT_TRUE(source->alerted);
  EXPECT_EQ(source->retry_at, 8);
  auto validators = (*store)->GetValidators("hf-ko", "https://example.org/2024-01-29.md");
  ASSERT_TRUE(validators && *validators);
  EXPECT_EQ((*validators)->etag, "\"e1\"");
  EXPECT_EQ((*validators)->body_hash, "body-hash");
  auto prior = (*store)->LoadPriorSightings("hf-ko", {"arxiv:2401.00001"});
  ASSERT_TRUE(prior);
  ASSERT_EQ(prior->size(), 1u);
  EXPECT_EQ(prior->at("arxiv:2401.00001").votes, 7);
  EXPECT_EQ(prior->at("arxiv:2401.00001").content_hash, "hash-a");
  auto notified = (*store)->LoadNotified({"arxiv:2401.00001"});
  ASSERT_TRUE(notified);
  EXPECT_EQ(*notified,
            (std::set<std::string>{NotifiedKey("me", "arxiv:2401.00001", "paper", "w1"),
                                   NotifiedKey("me", "arxiv:2401.00001", "paper", "w2")}));
  ASSERT_TRUE((*store)->PutNotifierHealth("me", {.alerted = true}));
  EXPECT_TRUE((*store)->GetNotifierHealth("me")->alerted);
}

TEST(Issue7, RefusesANewerSchemaFileNamingBothVersions) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  { ASSERT_TRUE(StateStore::Open(path)); }
  // What a digestd with schema 5 might have left: one more table.
  ExecOn(path, "CREATE TABLE future (x); INSERT INTO future VALUES(1); PRAGMA user_version=5;");
  for (const bool read_only : {false, true}) {
    auto store = StateStore::Open(path, read_only);
    ASSERT_FALSE(store) << "read_only=" << read_only;
    const std::string& message = store.error().message;
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("schema version 5"), std::string::npos) << message;
    EXPECT_NE(message.find("newer than this digestd (4)"), std::string::npos) << message;
  }
  EXPECT_EQ(Scalar(path, "PRAGMA user_version"), 5) << "a refused file is left as it was";
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM future"), 1);
}

TEST(Issue7, ConcurrentOpenOfNewFileMigratesOnce) {
  test::TempDir dir;
  // The schema a lone open makes, to compare with what racing opens make.
  const std::string lone = dir.File("lone.db");
  { ASSERT_TRUE(StateStore::Open(lone)); }
  const std::string want = Dump(lone, "SELECT type, name, sql FROM sqlite_master ORDER BY name");
  ASSERT_NE(want.find("notifier_health"), std::string::npos);

  constexpr int kProcesses = 4;
  for (int round = 0; round < 20; ++round) {
    const std::string path = dir.File("race-" + std::to_string(round) + ".db");
    // Like several `digestd once` started on one new state file at once.
    const auto reports = test::RaceInChildren(kProcesses, [&path](int) -> std::string {
      auto store = StateStore::Open(path);
      if (!store) return store.error().message;
      if ((*store)->SchemaVersion() != StateStore::kSchemaVersion) return "wrong schema";
      auto claimed = (*store)->ClaimDue("me", 0, 1, "p", 1, test::AllAlive);
      return claimed ? "" : claimed.error().message;
    });
    ASSERT_EQ(reports.size(), std::size_t(kProcesses));
    for (const std::string& report : reports) EXPECT_EQ(report, "") << "round " << round;
    EXPECT_EQ(Scalar(path, "PRAGMA user_version"), StateStore::kSchemaVersion);
    EXPECT_EQ(Dump(path, "SELECT type, name, sql FROM sqlite_master ORDER BY name"), want)
        << "round " << round;
    if (HasFailure()) break;
  }
}

}  // namespace
}  // namespace digestd
