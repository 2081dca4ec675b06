// Migrations: a real schema-3 file (issue 7: delivery claims) and a real schema-4 file
// (issue 12: paper snapshots) keep every row's meaning, a newer file is refused, and
// processes opening one new file at once migrate it once.
#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "core/hash.h"
#include "core/json_writer.h"
#include "core/paper_json.h"
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

// The hashes schema 12 keeps, checked row by row on a migrated file: each plain snapshot's is
// XXH3 of its text, and each sighting's content hash is that of the paper its snapshot holds
// (what a commit of that paper today would compare it with).
void ExpectTodaysHashes(const std::string& path) {
  const auto lines = [&](const std::string& sql) {
    std::vector<std::string> out;
    std::istringstream rows(Dump(path, sql));
    for (std::string row; std::getline(rows, row);) out.push_back(row.substr(2, row.size() - 3));
    return out;
  };
  const auto hashes = lines("SELECT hash FROM snapshots WHERE encoding = 0 ORDER BY id");
  const auto texts = lines("SELECT paper FROM snapshots WHERE encoding = 0 ORDER BY id");
  ASSERT_EQ(hashes.size(), texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(hashes[i], std::to_string(std::int64_t(Xxh3Hash64(texts[i])))) << texts[i];
  }
  auto store = StateStore::Open(path, /*read_only=*/true);
  ASSERT_TRUE(store) << store.error().message;
  auto sightings = (*store)->LoadSightings("", "");
  ASSERT_TRUE(sightings) << sightings.error().message;
  for (const StoredSighting& s : *sightings) {
    auto prior = (*store)->LoadPriorSightings(s.source, {s.paper->key});
    ASSERT_TRUE(prior && prior->contains(s.paper->key)) << s.paper->key;
    EXPECT_EQ(prior->at(s.paper->key).content_hash, SightingContentHash(*s.paper))
        << s.source << " " << s.paper->key;
  }
}

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

// Every table of schema 3 that stays with every column it had (but the two that snapshots
// replaced: sightings.title and .paper, and outbox.message, read through the store below), in
// a fixed order. `papers` went at schema 16.
std::map<std::string, std::string> Schema3Tables() {
  return {
      {"sightings",
       "SELECT paper_key, source, date, url, votes, version, first_seen, seen_at "
       "FROM sightings ORDER BY paper_key, source"},
      {"sources", "SELECT * FROM sources ORDER BY name"},
      // The URL itself is gone from schema 6 on (its UrlId is checked on its own).
      {"fetch_state",
       "SELECT source, etag, last_modified, body_hash, last_success FROM fetch_state "
       "ORDER BY source"},
      {"notified_sets", "SELECT * FROM notified_sets ORDER BY key"},
      {"outbox",
       "SELECT id, dedupe_key, notifier, kind, event, state, attempts, parts_sent, "
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
    EXPECT_EQ((*store)->SchemaVersion(), StateStore::kSchemaVersion);
  }
  EXPECT_EQ(Scalar(path, "PRAGMA user_version"), StateStore::kSchemaVersion);
  for (const auto& [table, sql] : Schema3Tables()) {
    EXPECT_EQ(Dump(path, sql), before[table]) << table;
  }
  ExpectTodaysHashes(path);
  EXPECT_EQ(Scalar(path,
                   "SELECT count(*) FROM outbox WHERE lease_owner IS NULL AND "
                   "lease_until IS NULL"),
            3);
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM notifier_health"), 0);
  EXPECT_EQ(Dump(path,
                 "SELECT name FROM sqlite_master WHERE tbl_name LIKE 'outbox%' "
                 "ORDER BY name"),
            "T:outbox|\nT:outbox_due|\nT:outbox_notifier_due|\nT:sqlite_autoindex_outbox_1|\n");
  EXPECT_EQ(Dump(path, "PRAGMA integrity_check"), "T:ok|\n");
  EXPECT_EQ(Dump(path, "PRAGMA foreign_key_check"), "");
  EXPECT_NE(ExecError(path, "UPDATE outbox SET state = 'lost' WHERE id = 'id-sent'"), "")
      << "the rebuilt table still checks its states";
  // digestd's ids are the hashes of their dedupe keys (NotificationId), so a unique id is a
  // unique dedupe key (schema 11).
  EXPECT_NE(ExecError(path,
                      "INSERT INTO outbox(id, dedupe_key, notifier, kind, event, message, "
                      "created_at, next_attempt_at) VALUES('id-sent', 'dk-sent', 'me', "
                      "'instant', 'new', '{}', 1, 1)"),
            "")
      << "ids are still unique";

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
  ASSERT_EQ(pending.unreadable, "");
  const Notification* message = &pending.notification;
  EXPECT_EQ(message->id, "id-pending");
  EXPECT_EQ(message->watches, std::vector<std::string>{"w1"});
  auto sightings = (*store)->LoadSightings("", "arxiv:2401.00001");
  ASSERT_TRUE(sightings) << sightings.error().message;
  ASSERT_EQ(sightings->size(), 1u);
  EXPECT_EQ(sightings->front().paper->title, "A");
  EXPECT_EQ(sightings->front().first_seen, 10);
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
  EXPECT_EQ(prior->at("arxiv:2401.00001").content_hash,
            SightingContentHash(*sightings->front().paper))
      << "schema 12's hash of the sighting's paper";
  auto notified = (*store)->LoadNotified({"arxiv:2401.00001"});
  ASSERT_TRUE(notified);
  EXPECT_EQ(*notified,
            (std::set<std::string>{NotifiedKey("me", "arxiv:2401.00001", "paper", "w1"),
                                   NotifiedKey("me", "arxiv:2401.00001", "paper", "w2")}));
  ASSERT_TRUE((*store)->PutNotifierHealth("me", {.alerted = true}));
  EXPECT_TRUE((*store)->GetNotifierHealth("me")->alerted);
}

// A schema-4 file as digestd 4 left it: outbox messages and sightings hold whole papers.
struct Schema4File {
  std::vector<Notification> messages;  // the readable outbox rows' notifications, by id order
};

Paper Schema4Paper(const std::string& id, const std::string& title) {
  Paper p;
  p.key = "arxiv:" + id;
  p.title = title;
  p.url = "https://arxiv.org/abs/" + id;
  p.authors = {"Ada Lovelace", "김철수"};
  p.authors_truncated = true;
  p.summary = {"첫 번째 \"요약\"", "second"};
  p.tags = {"cs.LG"};
  p.extra = {{"github", "https://github.com/x/y"}};
  return p;
}

std::string Quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// The paper as digestd 4 stored it in a sighting.
std::string PaperText(const Paper& p) {
  JsonWriter json;
  json.BeginObject();
  WritePaperMembers(json, p);
  json.EndObject();
  return json.Take();
}

Schema4File WriteSchema4File(const std::string& path) {
  Paper a = Schema4Paper("2401.00001", "A");
  a.votes = 7;
  const Paper b = Schema4Paper("2401.00002", "B's title");
  Notification grouped;
  grouped.id = "id-a-grouped";
  grouped.dedupe_key = "dk-grouped";
  grouped.notifier = "me";
  grouped.event = "mixed";
  grouped.watches = {"w1", "w2"};
  grouped.digest_url = "https://example.org/2024-01-29.md";
  grouped.papers = {{.paper = a, .source = "hf-ko", .date = "2024-01-29", .event = "new",
                     .watches = {"w1"}},
                    {.paper = b, .source = "hf-ko", .date = "2024-01-29", .event = "updated",
                     .watches = {"w2"}}};
  Notification alert;
  alert.id = "id-b-alert";
  alert.dedupe_key = "dk-alert";
  alert.notifier = "team";
  alert.kind = "alert";
  alert.event = "source_failing";
  alert.source = "hf-ko";
  alert.message = "no digest since 2024-01-20";
  Notification single = grouped;
  single.id = "id-c-single";
  single.dedupe_key = "dk-single";
  single.event = "new";
  single.watches = {"w1"};
  single.papers = {{.paper = a, .source = "arxiv", .date = ""}};

  std::string rows;
  rows += "INSERT INTO papers VALUES('arxiv:2401.00001', 10, 'hf-ko'), "
          "('arxiv:2401.00002', 11, 'hf-ko');";
  // The same paper from two sources (one snapshot), and another paper.
  for (const auto& [paper, source] : {std::pair{a, "hf-ko"}, {a, "arxiv"}, {b, "hf-ko"}}) {
    rows += "INSERT INTO sightings VALUES(" + Quoted(paper.key) + ", '" + source +
            "', '2024-01-29', " + Quoted(paper.title) + ", " + Quoted(paper.url) + ", " +
            (paper.votes ? std::to_string(*paper.votes) : "NULL") + ", 'v1', " +
            Quoted(PaperText(paper)) + ", 'hash-" + paper.key + "', 10, 20);";
  }
  auto row = [](const Notification& n, const std::string& message, const std::string& tail) {
    return "INSERT INTO outbox(id, dedupe_key, notifier, kind, event, message, state, attempts, "
           "parts_sent, created_at, next_attempt_at, last_error, sent_at, remote_id, "
           "lease_owner, lease_until) VALUES(" +
           Quoted(n.id) + ", " + Quoted(n.dedupe_key) + ", " + Quoted(n.notifier) + ", " +
           Quoted(n.kind) + ", " + Quoted(n.event) + ", " + Quoted(message) + ", " + tail + ");";
  };
  rows += row(grouped, NotificationToJson(grouped),
              "'pending', 2, 1, 100, 300, 'HTTP 503', NULL, 'part-1', NULL, NULL");
  rows += row(alert, NotificationToJson(alert),
              "'dead', 5, 0, 120, 400, 'HTTP 400', NULL, '', NULL, NULL");
  rows += row(single, NotificationToJson(single),
              "'sending', 1, 0, 130, 130, '', NULL, '', '42:7', 999");
  Notification garbage;
  garbage.id = "id-d-garbage";
  garbage.dedupe_key = "dk-garbage";
  garbage.notifier = "me";
  rows += row(garbage, "not json", "'pending', 0, 0, 140, 140, '', NULL, '', NULL, NULL");
  ExecOn(path, std::string("PRAGMA journal_mode=WAL;") + test::kSchema1 + test::kSchema2 +
                   test::kSchema3 + test::kSchema4 + rows + "PRAGMA user_version=4;");
  return Schema4File{.messages = {grouped, alert, single}};
}

TEST(Issue12, MigratesSchema4FileToSnapshotsKeepingEveryRowsMeaning) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  const Schema4File file = WriteSchema4File(path);
  ASSERT_EQ(Scalar(path, "PRAGMA user_version"), 4);
  // Every column that stays, before.
  const std::string kSightings =
      "SELECT paper_key, source, date, url, votes, version, first_seen, seen_at "
      "FROM sightings ORDER BY paper_key, source";
  const std::string kOutbox =
      "SELECT id, dedupe_key, notifier, kind, event, state, attempts, parts_sent, created_at, "
      "next_attempt_at, last_error, sent_at, remote_id, lease_owner, lease_until FROM outbox "
      "ORDER BY id";
  const std::string sightings_before = Dump(path, kSightings);
  const std::string outbox_before = Dump(path, kOutbox);
  ASSERT_EQ(std::count(outbox_before.begin(), outbox_before.end(), '\n'), 4);

  {
    auto store = StateStore::Open(path);
    ASSERT_TRUE(store) << store.error().message;
  }
  EXPECT_EQ(Scalar(path, "PRAGMA user_version"), StateStore::kSchemaVersion);
  EXPECT_EQ(Dump(path, "PRAGMA integrity_check"), "T:ok|\n");
  EXPECT_EQ(Dump(path, kSightings), sightings_before);
  EXPECT_EQ(Dump(path, kOutbox), outbox_before);
  ExpectTodaysHashes(path);
  // The layout is the one a new file gets.
  const std::string fresh = dir.File("fresh.db");
  { ASSERT_TRUE(StateStore::Open(fresh)); }
  EXPECT_EQ(test::Schema(path), test::Schema(fresh));
  // Papers A and B, each once, in the form a new commit writes (so it finds them).
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM snapshots"), 2);
  const Paper a = file.messages[0].papers[0].paper;
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM snapshots WHERE paper = " + Quoted(SnapshotText(a))),
            1);
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM outbox WHERE instr(message, '김철수') > 0"), 0);

  auto store = StateStore::Open(path);
  ASSERT_TRUE(store) << store.error().message;
  auto rows = (*store)->ListOutbox("", "", 10);
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 4u);
  std::sort(rows->begin(), rows->end(),
            [](const OutboxRow& x, const OutboxRow& y) { return x.id < y.id; });
  for (std::size_t i = 0; i < file.messages.size(); ++i) {
    const OutboxRow& r = (*rows)[i];
    EXPECT_EQ(r.unreadable, "") << r.id;
    EXPECT_EQ(NotificationToJson(r.notification), NotificationToJson(file.messages[i])) << r.id;
  }
  EXPECT_NE((*rows)[3].unreadable.find("not a JSON object"), std::string::npos)
      << "an unreadable message stays as it was: " << (*rows)[3].unreadable;
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM outbox WHERE message = 'not json'"), 1);

  auto sightings = (*store)->LoadSightings("2024-01-29", "");
  ASSERT_TRUE(sightings);
  ASSERT_EQ(sightings->size(), 3u);
  EXPECT_EQ((*sightings)[0].source, "arxiv");
  EXPECT_EQ((*sightings)[0].paper, a);
  EXPECT_EQ((*sightings)[1].paper, a);
  EXPECT_EQ((*sightings)[2].paper, file.messages[0].papers[1].paper);
  auto prior = (*store)->LoadPriorSightings("hf-ko", {a.key});
  ASSERT_TRUE(prior);
  EXPECT_EQ(prior->at(a.key).content_hash, SightingContentHash(a))
      << "schema 12's hash of the sighting's paper";
  EXPECT_EQ(prior->at(a.key).votes, 7);

  // A later commit of the same paper finds its migrated snapshot.
  DigestCommit c{.source = "hf-ko", .url = "u", .date = "2024-01-29", .now = 500};
  c.papers = {a};
  ASSERT_TRUE((*store)->CommitDigest(c));
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM snapshots"), 2);
}

// A schema-5 file whose fetch_state holds source URLs with tokens in the query and the path.
constexpr const char* kSchema5Rows = R"sql(
INSERT INTO sources(name, first_run_at) VALUES('hf-ko', 5), ('private', 6);
INSERT INTO fetch_state VALUES
  ('hf-ko', 'https://example.org/2024-01-29.md?token=tok-QUERY-SECRET', '"e1"',
   'Mon, 29 Jan 2024 00:00:00 GMT', 'body-hash-1', 6),
  ('private', 'https://example.org/hooks/tok-PATH-SECRET/2024-01-30.md', '', '', 'body-hash-2',
   NULL);
)sql";

TEST(Issue13, MigratesSchema5FileKeepingNoSourceUrlAtRest) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  ExecOn(path, std::string("PRAGMA journal_mode=WAL;") + test::kSchema1 + test::kSchema2 +
                   test::kSchema3 + test::kSchema4 + test::kSchema5 + kSchema5Rows +
                   "PRAGMA user_version=5;");
  ASSERT_EQ(Scalar(path, "SELECT count(*) FROM fetch_state"), 2);
  const std::string kKept =
      "SELECT source, etag, last_modified, body_hash, last_success FROM fetch_state "
      "ORDER BY source";
  const std::string kept_before = Dump(path, kKept);

  auto store = StateStore::Open(path);
  ASSERT_TRUE(store) << store.error().message;
  // While the store stays open (a daemon runs for months), no byte of either token is left
  // in the file or beside it: the dropped table's pages were zeroed, and reached the file at
  // once instead of waiting in the WAL for a checkpoint.
  for (const std::string& file : {path, path + "-wal"}) {
    std::ifstream in(file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find("SECRET"), std::string::npos) << file;
    EXPECT_EQ(bytes.find("example.org"), std::string::npos) << file;
  }
  EXPECT_EQ(Scalar(path, "PRAGMA user_version"), StateStore::kSchemaVersion);
  EXPECT_EQ(Dump(path, "PRAGMA integrity_check"), "T:ok|\n");
  EXPECT_EQ(Dump(path, kKept), kept_before);
  // The layout is the one a new file gets.
  const std::string fresh = dir.File("fresh.db");
  { ASSERT_TRUE(StateStore::Open(fresh)); }
  EXPECT_EQ(test::Schema(path), test::Schema(fresh));

  // Each row is found again by its URL: the conditional GET keeps working, nothing refetched.
  auto query = (*store)->GetValidators(
      "hf-ko", "https://example.org/2024-01-29.md?token=tok-QUERY-SECRET");
  ASSERT_TRUE(query && query->has_value());
  EXPECT_EQ((*query)->etag, "\"e1\"");
  EXPECT_EQ((*query)->body_hash, "body-hash-1");
  auto in_path =
      (*store)->GetValidators("private", "https://example.org/hooks/tok-PATH-SECRET/2024-01-30.md");
  ASSERT_TRUE(in_path && in_path->has_value());
  EXPECT_EQ((*in_path)->body_hash, "body-hash-2");
  auto other = (*store)->GetValidators("hf-ko", "https://example.org/2024-01-29.md");
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->has_value()) << "another URL is another row";
}

TEST(Issue13, CommitsKeepNoSourceUrl) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  const std::string url = "https://example.org/feeds/tok-PATH-SECRET/2024-01-29.md";
  {
    auto store = StateStore::Open(path);
    ASSERT_TRUE(store) << store.error().message;
    DigestCommit c{.source = "private", .url = url, .date = "2024-01-29", .now = 500};
    c.validators.etag = "\"e2\"";
    ASSERT_TRUE((*store)->CommitDigest(c));
    auto found = (*store)->GetValidators("private", url);
    ASSERT_TRUE(found && found->has_value());
    EXPECT_EQ((*found)->etag, "\"e2\"");
  }
  EXPECT_EQ(Dump(path, "SELECT url_id FROM fetch_state"), "T:" + UrlId(url) + "|\n");
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM fetch_state WHERE instr(url_id, 'SECRET') > 0"), 0);
  EXPECT_EQ(UrlId(url).size(), 64u);
  EXPECT_EQ(UrlId("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
      << "SHA-256, the FIPS 180-2 example";
}

// A file of schema 6 or later with a row in every table (7: a held match too), and a query
// per table that stays that reads what a migration from it must keep value by value: all but
// the hashes, which schema 12 makes again (ExpectTodaysHashes checks those), and `papers`,
// which schema 16 drops.
std::map<std::string, std::string> WriteRowInEveryTable(const std::string& path, int version) {
  const Paper a = Schema4Paper("2401.00001", "A");
  const std::string snapshot = Quoted(PaperText(a));
  const std::string message = R"({"watches":["w1"],"papers":[{"snapshot":1,"source":"hf-ko",)"
                              R"("date":"2024-01-29"}],"digest_url":"https://example.org/d.md"})";
  std::string sql = std::string("PRAGMA journal_mode=WAL;") + test::kSchema1 + test::kSchema2 +
                    test::kSchema3 + test::kSchema4 + test::kSchema5 + test::kSchema6;
  if (version >= 7) sql += test::kSchema7;
  if (version >= 8) sql += test::kSchema8;
  if (version >= 9) sql += test::kSchema9;
  if (version >= 10) sql += test::kSchema10;
  sql += "INSERT INTO snapshots(id, hash, paper) VALUES(1, 12345, " + snapshot +
         ");"
         "INSERT INTO papers VALUES('arxiv:2401.00001', 10, 'hf-ko');"
         "INSERT INTO sightings VALUES('arxiv:2401.00001', 'hf-ko', '2024-01-29', "
         "'https://arxiv.org/abs/2401.00001', 7, 'v1', 1, 'hash-a', 10, 20);"
         "INSERT INTO sources VALUES('hf-ko', 5, 6, '2024-01-29', 2, 'timeout', 7, 1, 8);"
         "INSERT INTO fetch_state VALUES('hf-ko', '" + UrlId("https://example.org/d.md") +
         "', '\"e\"', 'Mon, 29 Jan 2024 00:00:00 GMT', 'body', 6);"
         "INSERT INTO notified_sets VALUES('me' || char(31) || 'arxiv:2401.00001' || "
         "char(31) || 'paper', 'arxiv:2401.00001', '[\"w1\"]', 10);"
         "INSERT INTO outbox(id, dedupe_key, notifier, kind, event, message, state, "
         "attempts, parts_sent, created_at, next_attempt_at, last_error, sent_at, "
         "remote_id, lease_owner, lease_until) VALUES('id-1', 'dk-1', 'me', 'instant', "
         "'new', " + Quoted(message) + ", 'sending', 1, 0, 130, 130, 'HTTP 503', NULL, "
         "'r', '42:7', 999);"
         "INSERT INTO notifier_health VALUES('me', 'fp', 'gone', 5, 6, 1);";
  if (version >= 7) {
    sql += "INSERT INTO digest_held VALUES(1, 'w1', 'me', 'dk-2', 'new', " + Quoted(message) +
           ", 140);";
  }
  if (version >= 8) {
    sql += "INSERT INTO leader VALUES('fetch', 'host-a/1', 100, 200);"
           "INSERT INTO outbox(id, dedupe_key, notifier, kind, event, message, state, "
           "attempts, parts_sent, created_at, next_attempt_at, last_error, sent_at, "
           "remote_id, lease_owner, lease_until) VALUES('id-2', 'dk-3', 'me', 'instant', "
           "'new', " + Quoted(message) + ", 'pending', 0, 0, 150, 150, '', NULL, '', NULL, "
           "NULL);";
  }
  sql += "PRAGMA user_version=" + std::to_string(version) + ";";
  ExecOn(path, sql);
  std::map<std::string, std::string> tables = {
      {"snapshots", "SELECT id, paper FROM snapshots ORDER BY id"},
      {"sightings",
       "SELECT paper_key, source, date, url, votes, version, snapshot, first_seen, seen_at "
       "FROM sightings ORDER BY paper_key, source"},
      {"sources", "SELECT * FROM sources ORDER BY name"},
      {"fetch_state", "SELECT * FROM fetch_state ORDER BY source, url_id"},
      {"notified_sets", "SELECT * FROM notified_sets ORDER BY key"},
      {"outbox", "SELECT * FROM outbox ORDER BY id"},
      {"notifier_health", "SELECT * FROM notifier_health ORDER BY notifier"},
  };
  if (version >= 7) tables["digest_held"] = "SELECT * FROM digest_held ORDER BY id";
  if (version >= 8) tables["leader"] = "SELECT * FROM leader ORDER BY name";
  return tables;
}

// Makes a new state file at `fresh` (what a migrated file must end as), then opens the one at
// `path`, which migrates it to this binary's schema.
void MigrateBesideANewFile(const std::string& path, const std::string& fresh) {
  { ASSERT_TRUE(StateStore::Open(fresh)); }
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ((*store)->SchemaVersion(), StateStore::kSchemaVersion);
}

// Claims, as host-b/2 at 500, what WriteRowInEveryTable left due: its pending row "id-2",
// which carries paper "A".
void ExpectItsPendingRowClaimed(StateStore& store) {
  auto claimed = store.ClaimDue({{.notifier = "me", .limit = 10, .lease_until = 900}}, 500,
                                "host-b/2", [](const std::string&) { return true; });
  ASSERT_TRUE(claimed) << claimed.error().message;
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].id, "id-2");
  EXPECT_EQ((*claimed)[0].notification.papers.at(0).paper->title, "A");
}

// Every table's rows (WriteRowInEveryTable), each one there and readable.
std::map<std::string, std::string> DumpTables(const std::string& path,
                                              const std::map<std::string, std::string>& tables) {
  std::map<std::string, std::string> out;
  for (const auto& [table, sql] : tables) {
    out[table] = Dump(path, sql);
    EXPECT_FALSE(out[table].empty()) << table;
    EXPECT_EQ(out[table].find("error:"), std::string::npos) << out[table];
  }
  return out;
}

// Issue 10 point 3: schema 6 -> 7 adds the table of matches held for digests; a schema-6
// file with a row in every table keeps each value, and its outbox still reads.
TEST(Issue10, MigratesSchema6FileKeepingEveryRow) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  const auto tables = WriteRowInEveryTable(path, 6);
  const auto before = DumpTables(path, tables);
  {
    auto store = StateStore::Open(path);
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_EQ((*store)->SchemaVersion(), StateStore::kSchemaVersion);
    auto rows = (*store)->ListOutbox("", "", 10);
    ASSERT_TRUE(rows) << rows.error().message;
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_TRUE((*rows)[0].unreadable.empty()) << (*rows)[0].unreadable;
    ASSERT_EQ((*rows)[0].notification.papers.size(), 1u);
    EXPECT_EQ((*rows)[0].notification.papers[0].paper->title, "A");
    auto held = (*store)->HeldCount();
    ASSERT_TRUE(held);
    EXPECT_EQ(*held, 0);
  }
  EXPECT_EQ(DumpTables(path, tables), before);
  ExpectTodaysHashes(path);
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM digest_held"), 0);
}

// Issue 14: schema 7 -> 8 adds the leader lease; a schema-7 file with a row in every table
// keeps each value, its outbox and held matches still read, and the lease can be taken.
TEST(Issue14, MigratesSchema7FileKeepingEveryRow) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  const auto tables = WriteRowInEveryTable(path, 7);
  const auto before = DumpTables(path, tables);
  {
    auto store = StateStore::Open(path);
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_EQ((*store)->SchemaVersion(), StateStore::kSchemaVersion);
    auto rows = (*store)->ListOutbox("", "", 10);
    ASSERT_TRUE(rows) << rows.error().message;
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_TRUE((*rows)[0].unreadable.empty()) << (*rows)[0].unreadable;
    auto held = (*store)->HeldFor("w1", "me", 1000);
    ASSERT_TRUE(held) << held.error().message;
    ASSERT_EQ(held->size(), 1u);
    EXPECT_EQ((*held)[0].notification.papers.at(0).paper->title, "A");
    auto nobody = (*store)->Leader();
    ASSERT_TRUE(nobody) << nobody.error().message;
    EXPECT_FALSE(nobody->has_value());
  }
  EXPECT_EQ(DumpTables(path, tables), before);
  ExpectTodaysHashes(path);
  {
    auto store = StateStore::Open(path);
    ASSERT_TRUE(store);
    auto lead = (*store)->Lead("host-a/1", 30'000);
    ASSERT_TRUE(lead) << lead.error().message;
    EXPECT_EQ(lead->holder, "host-a/1");
  }
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM leader"), 1);
}

// Issue 12: schema 8 -> 9 keeps only pending rows in the per-notifier claim index. A schema-8
// file with a row in every table keeps each value, gets the index a new file gets, and its
// pending row is claimed through it while the row another process is sending is left alone.
TEST(Issue12, MigratesSchema8FileToAClaimIndexOfPendingRows) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  const auto tables = WriteRowInEveryTable(path, 8);
  const auto before = DumpTables(path, tables);
  const std::string fresh = dir.File("fresh.db");
  MigrateBesideANewFile(path, fresh);
  EXPECT_EQ(DumpTables(path, tables), before);
  ExpectTodaysHashes(path);
  const std::string outbox = test::Schema(path, "outbox");
  EXPECT_NE(outbox.find("WHERE state = 'pending'"), std::string::npos) << outbox;
  EXPECT_EQ(outbox, test::Schema(fresh, "outbox"));
  EXPECT_NE(Dump(path, "EXPLAIN QUERY PLAN SELECT rowid FROM outbox WHERE notifier = 'me' AND "
                       "state = 'pending' AND next_attempt_at <= 500 "
                       "ORDER BY next_attempt_at, created_at, rowid")
                .find("outbox_notifier_due"),
            std::string::npos);
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store);
  ExpectItsPendingRowClaimed(**store);
}

// Issue 12: schema 9 -> 10 adds the snapshot encoding and the dictionary table. A schema-9
// file with a row in every table keeps each value, its snapshot stays text (encoding 0) and
// still reads, and the state gets its dictionary only once it holds enough text: then it is
// made of the newest texts, the old row among them, and new snapshots are compressed while
// the old one stays as it was.
TEST(Issue12, MigratesSchema9FileToCompressedSnapshots) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  const auto tables = WriteRowInEveryTable(path, 9);
  const auto before = DumpTables(path, tables);
  const std::string old_text = Dump(path, "SELECT paper FROM snapshots WHERE id = 1");
  {
    auto store = StateStore::Open(path);
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_EQ((*store)->SchemaVersion(), StateStore::kSchemaVersion);
    auto held = (*store)->HeldFor("w1", "me", 1000);
    ASSERT_TRUE(held) << held.error().message;
    ASSERT_EQ(held->size(), 1u);
    EXPECT_EQ((*held)[0].notification.papers.at(0).paper->title, "A");
    auto seen = (*store)->LoadSightings("2024-01-29", "arxiv:2401.00001");
    ASSERT_TRUE(seen) << seen.error().message;
    ASSERT_EQ(seen->size(), 1u);
    EXPECT_EQ(seen->at(0).paper->title, "A");
  }
  EXPECT_EQ(DumpTables(path, tables), before);
  ExpectTodaysHashes(path);
  EXPECT_EQ(Scalar(path, "SELECT encoding FROM snapshots WHERE id = 1"), 0);
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM snapshot_dicts"), 0);

  // A day of 200 papers: enough text for a dictionary.
  std::vector<Paper> papers;
  for (int i = 0; i < 200; ++i) {
    papers.push_back(Schema4Paper("2402." + std::to_string(10000 + i), "T" + std::to_string(i)));
  }
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store);
  DigestCommit c{
      .source = "hf-ko", .url = "https://example.org/e.md", .date = "2024-02-01", .now = 500};
  c.papers = SharePapers(papers);
  ASSERT_TRUE((*store)->CommitDigest(c));
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM snapshot_dicts"), 1);
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM snapshots WHERE encoding = 0"), 1);
  EXPECT_EQ(Scalar(path,
                   "SELECT count(*) FROM snapshots WHERE encoding = "
                   "(SELECT id FROM snapshot_dicts)"),
            200);
  EXPECT_EQ(Dump(path, "SELECT paper FROM snapshots WHERE id = 1"), old_text);
  // The dictionary begins with the newest stored text: the old row.
  EXPECT_EQ(Scalar(path, "SELECT instr(dict, '\"title\":\"A\"') > 0 FROM snapshot_dicts"), 1);
  auto seen = (*store)->LoadSightings("2024-02-01", "arxiv:2402.10123");
  ASSERT_TRUE(seen) << seen.error().message;
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ(seen->at(0).paper, papers[123]);
}

// Issue 12: schema 10 -> 11 rebuilds the outbox so that writing a row costs two b-trees
// fewer: its state CHECK no longer makes SQLite build a temporary table per row, and the
// dedupe keys lose the index their ids make redundant. A schema-10 file with a row in every
// table keeps each value and each outbox row its rowid (the queue's order); its outbox ends
// as a new file's, and its rows are claimed and recorded as before.
TEST(Issue12, MigratesSchema10FileToAnOutboxWrittenWithoutTemporaryTables) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  auto tables = WriteRowInEveryTable(path, 10);
  tables["outbox"] = "SELECT rowid, * FROM outbox ORDER BY rowid";
  const auto before = DumpTables(path, tables);
  const std::string kWrites[] = {
      "EXPLAIN UPDATE outbox SET state = 'sent', lease_owner = NULL WHERE id = 'id-1'",
      "EXPLAIN INSERT INTO outbox(id, dedupe_key, notifier, kind, event, message, created_at, "
      "next_attempt_at) VALUES('x', 'dk-x', 'me', 'instant', 'new', '{}', 1, 1)"};
  for (const std::string& write : kWrites) {
    ASSERT_NE(Dump(path, write).find("OpenEphemeral"), std::string::npos) << "schema 10's cost";
  }
  const std::string fresh = dir.File("fresh.db");
  MigrateBesideANewFile(path, fresh);
  EXPECT_EQ(DumpTables(path, tables), before);
  ExpectTodaysHashes(path);
  EXPECT_EQ(test::Schema(path, "outbox"), test::Schema(fresh, "outbox"));
  for (const std::string& write : kWrites) {
    EXPECT_EQ(Dump(path, write).find("OpenEphemeral"), std::string::npos) << write;
  }
  EXPECT_EQ(Dump(path, "PRAGMA integrity_check"), "T:ok|\n");
  EXPECT_NE(ExecError(path, "UPDATE outbox SET state = 'lost' WHERE id = 'id-1'"), "")
      << "the rebuilt table still checks its states";

  auto store = StateStore::Open(path);
  ASSERT_TRUE(store);
  ExpectItsPendingRowClaimed(**store);
  ASSERT_TRUE((*store)->RecordDeliveries(
      {DeliveryResult{.id = "id-2", .kind = DeliveryResult::Kind::kSent}}, "host-b/2", 510));
  EXPECT_EQ(Dump(path, "SELECT state, sent_at FROM outbox WHERE id = 'id-2'"), "T:sent|I:510|\n");
}

// The content hash digestd 11 and before kept of a sighting: two FNV-1a lanes over the
// fields SightingContentHash reads.
std::string Schema11ContentHash(const Paper& paper) {
  Hash128 h;
  h.Update(paper.title);
  h.Update('\x1f');
  h.Update(paper.url);
  h.Update('\x1f');
  for (const auto& a : paper.authors) {
    h.Update(a);
    h.Update('\x1e');
  }
  h.Update('\x1f');
  for (const auto& line : paper.summary) {
    h.Update(line);
    h.Update('\x1e');
  }
  return h.Hex();
}

// Issue 12: schema 11 -> 12 makes every snapshot's hash and every sighting's content hash
// again with XXH3, compressed snapshots included. A schema-11 file (the tables are today's;
// the hashes are FNV-1a's, as digestd 11 wrote them) ends with the values a commit writes
// today, and the same day committed again finds every snapshot and no changed paper.
TEST(Issue12, MigratesSchema11FileToXxh3Hashes) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  // More papers than the step rewrites in one batch (1,000).
  std::vector<Paper> papers;
  for (int i = 0; i < 1100; ++i) {
    papers.push_back(Schema4Paper("2403." + std::to_string(10000 + i), "T" + std::to_string(i)));
  }
  papers[7].summary.push_back("요약 " + std::string(400, 'x'));
  DigestCommit day{
      .source = "hf-ko", .url = "https://example.org/f.md", .date = "2024-03-01", .now = 500};
  day.papers = SharePapers(papers);
  {
    auto store = StateStore::Open(path);
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE((*store)->CommitDigest(day));
  }
  const std::string kSnapshots = "SELECT id, hash, encoding FROM snapshots ORDER BY id";
  const std::string kSightings =
      "SELECT paper_key, source, content_hash FROM sightings ORDER BY paper_key, source";
  const std::string snapshots_today = Dump(path, kSnapshots);
  const std::string sightings_today = Dump(path, kSightings);
  ASSERT_GT(Scalar(path, "SELECT count(*) FROM snapshots WHERE encoding <> 0"), 1000)
      << "most rows compressed: the migration reads them through snapshot_text";

  // The same file as digestd 11 would have left it.
  std::string sql;
  for (const Paper& p : papers) {
    const std::string snapshot = "(SELECT snapshot FROM sightings WHERE paper_key = '" + p.key + "')";
    sql += "UPDATE snapshots SET hash = " +
           std::to_string(std::int64_t(Fnv1a64(SnapshotText(p)))) + " WHERE id = " + snapshot +
           ";UPDATE sightings SET content_hash = '" + Schema11ContentHash(p) +
           "' WHERE paper_key = '" + p.key + "';";
  }
  ExecOn(path, sql + "PRAGMA user_version=11;");
  ASSERT_NE(Dump(path, kSnapshots), snapshots_today);
  ASSERT_NE(Dump(path, kSightings), sightings_today);
  const std::map<std::string, std::string> kept = {
      {"snapshots", "SELECT id, paper, encoding FROM snapshots ORDER BY id"},
      {"sightings",
       "SELECT paper_key, source, date, url, votes, version, snapshot, first_seen, seen_at "
       "FROM sightings ORDER BY paper_key, source"}};
  const auto before = DumpTables(path, kept);

  {
    auto store = StateStore::Open(path);
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_EQ((*store)->SchemaVersion(), StateStore::kSchemaVersion);
  }
  EXPECT_EQ(Dump(path, kSnapshots), snapshots_today);
  EXPECT_EQ(Dump(path, kSightings), sightings_today);
  EXPECT_EQ(DumpTables(path, kept), before) << "only the hashes change";
  ExpectTodaysHashes(path);
  EXPECT_EQ(Dump(path, "PRAGMA integrity_check"), "T:ok|\n");

  auto store = StateStore::Open(path);
  ASSERT_TRUE(store);
  auto prior = (*store)->LoadPriorSightings("hf-ko", {papers[7].key});
  ASSERT_TRUE(prior);
  EXPECT_EQ(prior->at(papers[7].key).content_hash, SightingContentHash(papers[7]))
      << "what the plan compares: the paper is not updated";
  const std::int64_t rows = Scalar(path, "SELECT count(*) FROM snapshots");
  day.now = 600;
  ASSERT_TRUE((*store)->CommitDigest(day));
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM snapshots"), rows)
      << "every snapshot found by its new hash";
}

// Issue 12: schema 12 -> 13 keeps only unfinished rows in the index of due rows. A schema-12
// file (today's tables, the index over every row as digestd 12 made it) with a row in each
// state keeps every value and ends with the index a new file gets, holding three rows, not
// four; the status counts, a claim, a record and a retry read the rows as before.
TEST(Issue12, MigratesSchema12FileToADueIndexOfUnfinishedRows) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  auto tables = WriteRowInEveryTable(path, 10);
  { ASSERT_TRUE(StateStore::Open(path)); }
  const std::string message = Dump(path, "SELECT message FROM outbox WHERE id = 'id-2'");
  ExecOn(path,
         "INSERT INTO outbox(id, dedupe_key, notifier, kind, event, message, state, attempts, "
         "created_at, next_attempt_at, sent_at) SELECT 'id-3', 'dk-4', 'me', 'instant', 'new', "
         "message, 'sent', 1, 160, 160, 170 FROM outbox WHERE id = 'id-2';"
         "INSERT INTO outbox(id, dedupe_key, notifier, kind, event, message, state, attempts, "
         "created_at, next_attempt_at, last_error) SELECT 'id-4', 'dk-5', 'me', 'instant', "
         "'new', message, 'dead', 5, 180, 180, 'HTTP 400' FROM outbox WHERE id = 'id-2';"
         "DROP INDEX outbox_due;"
         "CREATE INDEX outbox_due ON outbox(state, next_attempt_at);"
         "PRAGMA user_version=12;");
  const std::string kIndexEntries =
      "SELECT sum(ncell) FROM dbstat WHERE name = 'outbox_due' AND pagetype = 'leaf'";
  ASSERT_EQ(Scalar(path, kIndexEntries), 4);
  tables["snapshots"] = "SELECT id, paper, encoding FROM snapshots ORDER BY id";
  const auto before = DumpTables(path, tables);
  const std::string fresh = dir.File("fresh.db");
  MigrateBesideANewFile(path, fresh);
  EXPECT_EQ(DumpTables(path, tables), before);
  const std::string outbox = test::Schema(path, "outbox");
  EXPECT_NE(outbox.find("WHERE state <> 'sent'"), std::string::npos) << outbox;
  EXPECT_EQ(outbox, test::Schema(fresh, "outbox"));
  EXPECT_EQ(Scalar(path, kIndexEntries), 3) << "the sent row left the index";
  EXPECT_EQ(Dump(path, "PRAGMA integrity_check"), "T:ok|\n");

  auto store = StateStore::Open(path);
  ASSERT_TRUE(store);
  const std::map<std::string, int> counts = {
      {"dead", 1}, {"pending", 1}, {"sending", 1}, {"sent", 1}};
  EXPECT_EQ(*(*store)->OutboxCounts(), counts);
  ExpectItsPendingRowClaimed(**store);
  ASSERT_TRUE((*store)->RecordDeliveries(
      {DeliveryResult{.id = "id-2", .kind = DeliveryResult::Kind::kSent}}, "host-b/2", 510));
  EXPECT_EQ(Scalar(path, kIndexEntries), 2) << "a row sent leaves the index";
  EXPECT_EQ((*store)->OutboxCounts()->at("sent"), 2);
  auto retried = (*store)->RetryDead("me", 520);
  ASSERT_TRUE(retried) << retried.error().message;
  EXPECT_EQ(*retried, 1);
  EXPECT_EQ(Dump(path, "SELECT state, next_attempt_at FROM outbox WHERE id = 'id-4'"),
            "T:pending|I:520|\n");
  EXPECT_EQ(Dump(path, "SELECT message FROM outbox WHERE id = 'id-4'"), message);
}

// Issue 12: schema 13 -> 14 drops the index of sightings by `seen_at`. A schema-13 file (today's
// tables with that index, as digestd 13 made it) with a row in every table keeps every value,
// ends with the sightings of a new file, and its daily prune still takes what is older than
// its bound and only that.
TEST(Issue12, MigratesSchema13FileWithoutAnIndexOfSightingsBySeenAt) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  auto tables = WriteRowInEveryTable(path, 10);
  { ASSERT_TRUE(StateStore::Open(path)); }
  ExecOn(path,
         "CREATE INDEX sightings_seen_at ON sightings(seen_at);"
         "PRAGMA user_version=13;");
  tables["snapshots"] = "SELECT id, paper, encoding FROM snapshots ORDER BY id";
  const auto before = DumpTables(path, tables);
  ASSERT_NE(test::Schema(path, "sightings").find("sightings_seen_at"), std::string::npos);
  const std::string fresh = dir.File("fresh.db");
  MigrateBesideANewFile(path, fresh);
  EXPECT_EQ(DumpTables(path, tables), before);
  const std::string sightings = test::Schema(path, "sightings");
  EXPECT_EQ(sightings.find("sightings_seen_at"), std::string::npos) << sightings;
  EXPECT_EQ(sightings, test::Schema(fresh, "sightings"));
  EXPECT_EQ(Dump(path, "PRAGMA integrity_check"), "T:ok|\n");

  // WriteRowInEveryTable's sighting was last seen at 20.
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->Prune(20));
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM sightings"), 1) << "seen at 20: kept";
  ASSERT_TRUE((*store)->Prune(21));
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM sightings"), 0);
}

// Issue 12: schema 14 -> 15 keys notified sets by their paper first, and drops the index by
// paper that served the lookups the key now serves. A schema-14 file (today's tables with the
// old key and that index, as digestd 14 made it) with a second set for the same paper keeps
// every value, ends with the table a new file has in no more pages than it had, reads a
// paper's marks through the key alone, and merges a commit's new watch into its stored set.
TEST(Issue12, MigratesSchema14FileToNotifiedSetsInTheOrderOfTheirPapers) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  auto tables = WriteRowInEveryTable(path, 10);
  { ASSERT_TRUE(StateStore::Open(path)); }
  ExecOn(path,
         "INSERT INTO notified_sets VALUES('chat' || char(31) || 'arxiv:2401.00001' || "
         "char(31) || 'paper', 'arxiv:2401.00001', '[\"w2\"]', 11);"
         "CREATE TABLE notified_sets_v14 (key TEXT PRIMARY KEY, paper_key TEXT NOT NULL, "
         "watches TEXT NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;"
         "INSERT INTO notified_sets_v14 SELECT key, paper_key, watches, created_at "
         "FROM notified_sets;"
         "DROP TABLE notified_sets;"
         "ALTER TABLE notified_sets_v14 RENAME TO notified_sets;"
         "CREATE INDEX notified_sets_paper ON notified_sets(paper_key);"
         "PRAGMA user_version=14;"
         "VACUUM;");  // no free page left for the migration to take
  tables["snapshots"] = "SELECT id, paper, encoding FROM snapshots ORDER BY id";
  const auto before = DumpTables(path, tables);
  ASSERT_NE(before.at("notified_sets").find("w2"), std::string::npos);
  ASSERT_NE(test::Schema(path, "notified_sets").find("notified_sets_paper"), std::string::npos);
  const std::int64_t pages = Scalar(path, "PRAGMA page_count");
  const std::string fresh = dir.File("fresh.db");
  MigrateBesideANewFile(path, fresh);
  EXPECT_EQ(DumpTables(path, tables), before);
  EXPECT_EQ(Scalar(path, "PRAGMA page_count"), pages)
      << "the new table takes pages the old one and its index left";
  const std::string notified = test::Schema(path, "notified_sets");
  EXPECT_EQ(notified.find("notified_sets_paper"), std::string::npos) << notified;
  EXPECT_EQ(notified, test::Schema(fresh, "notified_sets"));
  EXPECT_EQ(Dump(path, "PRAGMA integrity_check"), "T:ok|\n");
  const std::string plan = Dump(path,
                                "EXPLAIN QUERY PLAN SELECT n.key, w.value FROM notified_sets AS n, "
                                "json_each(n.watches) AS w WHERE n.paper_key IN "
                                "(SELECT value FROM json_each('[\"arxiv:2401.00001\"]'))");
  EXPECT_NE(plan.find("SEARCH n USING PRIMARY KEY (paper_key=?)"), std::string::npos) << plan;

  auto store = StateStore::Open(path);
  ASSERT_TRUE(store);
  const auto marks = [&] {
    auto loaded = (*store)->LoadNotified({"arxiv:2401.00001"});
    EXPECT_TRUE(loaded) << loaded.error().message;
    std::set<std::string> watches;
    for (const std::string& key : loaded.value_or(std::set<std::string>{})) {
      const std::optional<DedupeKey> mark = DedupeKey::Decode(key);
      if (mark) watches.insert(mark->notifier + " " + mark->watches.at(0));
    }
    return watches;
  };
  EXPECT_EQ(marks(), (std::set<std::string>{"chat w2", "me w1"}));
  DigestCommit c{
      .source = "hf-ko", .url = "https://example.org/d.md", .date = "2024-01-30", .now = 300};
  c.notified = {NotifiedMark{"me", "arxiv:2401.00001", "paper", "w3"}};
  ASSERT_TRUE((*store)->CommitDigest(c));
  EXPECT_EQ(marks(), (std::set<std::string>{"chat w2", "me w1", "me w3"}));
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM notified_sets"), 2) << "merged, not added";
}

// Issue 12: schema 15 -> 16 drops `papers`, which nothing read, and the foreign key of
// sightings to it. A schema-15 file (today's tables with `papers` and that key, as digestd 15
// made it) with a paper seen by two sources keeps every sighting value for value, ends with
// the sightings of a new file in no more pages than it had, and takes a commit of a paper
// seen before and of a new one.
TEST(Issue12, MigratesSchema15FileWithoutAPapersTable) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  auto tables = WriteRowInEveryTable(path, 10);
  { ASSERT_TRUE(StateStore::Open(path)); }
  ExecOn(path,
         "INSERT INTO sightings SELECT paper_key, 'arxiv', date, url, votes, version, snapshot, "
         "content_hash, 30, 40 FROM sightings;"
         "CREATE TABLE papers (key TEXT PRIMARY KEY, first_seen INTEGER NOT NULL, "
         "first_source TEXT NOT NULL);"
         "INSERT INTO papers SELECT paper_key, min(first_seen), source FROM sightings "
         "GROUP BY paper_key;"
         "CREATE TABLE sightings_v15 (paper_key TEXT NOT NULL REFERENCES papers(key) "
         "ON DELETE CASCADE, source TEXT NOT NULL, date TEXT NOT NULL, url TEXT NOT NULL, "
         "votes INTEGER, version TEXT NOT NULL, snapshot INTEGER NOT NULL, "
         "content_hash TEXT NOT NULL, first_seen INTEGER NOT NULL, seen_at INTEGER NOT NULL, "
         "PRIMARY KEY (paper_key, source)) WITHOUT ROWID;"
         "INSERT INTO sightings_v15 SELECT * FROM sightings;"
         "DROP TABLE sightings;"
         "ALTER TABLE sightings_v15 RENAME TO sightings;"
         "CREATE INDEX sightings_source_url ON sightings(source, url);"
         "PRAGMA user_version=15;"
         "VACUUM;");  // no free page left for the migration to take
  tables["snapshots"] = "SELECT id, paper, encoding FROM snapshots ORDER BY id";
  tables["sightings"] = "SELECT * FROM sightings ORDER BY paper_key, source";
  const auto before = DumpTables(path, tables);
  ASSERT_EQ(std::count(before.at("sightings").begin(), before.at("sightings").end(), '\n'), 2);
  ASSERT_NE(test::Schema(path, "sightings").find("REFERENCES papers"), std::string::npos);
  const std::int64_t pages = Scalar(path, "PRAGMA page_count");
  const std::string fresh = dir.File("fresh.db");
  MigrateBesideANewFile(path, fresh);
  EXPECT_EQ(DumpTables(path, tables), before);
  EXPECT_LE(Scalar(path, "PRAGMA page_count"), pages);
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'papers'"), 0);
  const std::string sightings = test::Schema(path, "sightings");
  EXPECT_EQ(sightings.find("REFERENCES"), std::string::npos) << sightings;
  EXPECT_EQ(sightings, test::Schema(fresh, "sightings"));
  EXPECT_EQ(test::Schema(path), test::Schema(fresh));
  EXPECT_EQ(Dump(path, "PRAGMA integrity_check"), "T:ok|\n");
  EXPECT_EQ(Dump(path, "PRAGMA foreign_key_check"), "");

  auto store = StateStore::Open(path);
  ASSERT_TRUE(store);
  DigestCommit c{
      .source = "hf-ko", .url = "https://example.org/d.md", .date = "2024-01-30", .now = 300};
  c.papers =
      SharePapers({test::MakePaper("2401.00001", "A, again"), test::MakePaper("2401.00002", "B")});
  ASSERT_TRUE((*store)->CommitDigest(std::move(c)));
  EXPECT_EQ(Dump(path,
                 "SELECT paper_key, source, date, first_seen, seen_at FROM sightings "
                 "ORDER BY paper_key, source"),
            "T:arxiv:2401.00001|T:arxiv|T:2024-01-29|I:30|I:40|\n"
            "T:arxiv:2401.00001|T:hf-ko|T:2024-01-30|I:10|I:300|\n"
            "T:arxiv:2401.00002|T:hf-ko|T:2024-01-30|I:300|I:300|\n");
}

TEST(Issue7, RefusesANewerSchemaFileNamingBothVersions) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  { ASSERT_TRUE(StateStore::Open(path)); }
  // What a later digestd might have left: one more table.
  const int future = StateStore::kSchemaVersion + 1;
  ExecOn(path, "CREATE TABLE future (x); INSERT INTO future VALUES(1); PRAGMA user_version=" +
                   std::to_string(future) + ";");
  for (const bool read_only : {false, true}) {
    auto store = StateStore::Open(path, read_only);
    ASSERT_FALSE(store) << "read_only=" << read_only;
    const std::string& message = store.error().message;
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("schema version " + std::to_string(future)), std::string::npos)
        << message;
    EXPECT_NE(message.find("newer than this digestd (" +
                           std::to_string(StateStore::kSchemaVersion) + ")"),
              std::string::npos)
        << message;
  }
  EXPECT_EQ(Scalar(path, "PRAGMA user_version"), future) << "a refused file is left as it was";
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM future"), 1);
}

TEST(Issue12, NewFileHasTheSchemaOfAMigratedOne) {
  test::TempDir dir;
  // A new file gets today's schema in one script; a file from the first digestd gets it
  // through every step. Both must end the same, table by table and index by index.
  const std::string fresh = dir.File("fresh.db");
  { ASSERT_TRUE(StateStore::Open(fresh)); }
  const std::string old = dir.File("schema-1.db");
  ExecOn(old, std::string("PRAGMA journal_mode=WAL;") + test::kSchema1 + "PRAGMA user_version=1;");
  { ASSERT_TRUE(StateStore::Open(old)); }
  EXPECT_EQ(Scalar(fresh, "PRAGMA user_version"), StateStore::kSchemaVersion);
  EXPECT_EQ(Scalar(old, "PRAGMA user_version"), StateStore::kSchemaVersion);
  const std::string want = test::Schema(old);
  ASSERT_NE(want.find("table outbox outbox CREATE TABLE outbox(id TEXT PRIMARY KEY,"),
            std::string::npos)
      << want;
  EXPECT_EQ(test::Schema(fresh), want);
  EXPECT_EQ(Dump(fresh, "PRAGMA integrity_check"), "T:ok|\n");
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
