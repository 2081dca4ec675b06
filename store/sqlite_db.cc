#include "store/sqlite_db.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

#include "core/private_file.h"
#include "store/migrations.h"
#include "store/snapshot_codec.h"

namespace digestd::sql {
namespace {

// Migrations as data: each step brings the schema to version `to`. Never edit a shipped
// step; append a new one.
constexpr Migration kSqliteMigrations[] = {
    {1, R"sql(
CREATE TABLE papers (
  key         TEXT PRIMARY KEY,
  first_seen  INTEGER NOT NULL,
  first_source TEXT NOT NULL
);
CREATE TABLE sightings (
  paper_key    TEXT NOT NULL REFERENCES papers(key) ON DELETE CASCADE,
  source       TEXT NOT NULL,
  date         TEXT NOT NULL,
  title        TEXT NOT NULL,
  url          TEXT NOT NULL,
  votes        INTEGER,
  version      TEXT NOT NULL,
  paper        TEXT NOT NULL,   -- the paper as the source said it (JSON, CONFIG.md shape)
  content_hash TEXT NOT NULL,
  first_seen   INTEGER NOT NULL,
  seen_at      INTEGER NOT NULL,
  PRIMARY KEY (paper_key, source)
) WITHOUT ROWID;
CREATE INDEX sightings_seen_at ON sightings(seen_at);
CREATE TABLE sources (
  name              TEXT PRIMARY KEY,
  first_run_at      INTEGER,
  last_success_at   INTEGER,
  last_success_date TEXT NOT NULL DEFAULT '',
  failures          INTEGER NOT NULL DEFAULT 0,
  last_error        TEXT NOT NULL DEFAULT ''
);
CREATE TABLE fetch_state (
  source        TEXT NOT NULL,
  url           TEXT NOT NULL,
  etag          TEXT NOT NULL DEFAULT '',
  last_modified TEXT NOT NULL DEFAULT '',
  body_hash     TEXT NOT NULL DEFAULT '',
  last_success  INTEGER,
  PRIMARY KEY (source, url)
) WITHOUT ROWID;
CREATE TABLE notified (
  key          TEXT PRIMARY KEY,
  paper_key    TEXT NOT NULL,
  created_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX notified_paper ON notified(paper_key);
CREATE TABLE outbox (
  id              TEXT PRIMARY KEY,
  dedupe_key      TEXT NOT NULL UNIQUE,
  notifier        TEXT NOT NULL,
  kind            TEXT NOT NULL,
  event           TEXT NOT NULL,
  message         TEXT NOT NULL,
  state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  parts_sent      INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  last_error      TEXT NOT NULL DEFAULT '',
  sent_at         INTEGER,
  remote_id       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
)sql"},
    // 2: source health (backoff and one alert per failure streak); feed items by URL.
    {2, R"sql(
ALTER TABLE sources ADD COLUMN failing_since INTEGER;
ALTER TABLE sources ADD COLUMN alerted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sources ADD COLUMN retry_at INTEGER;
CREATE INDEX sightings_source_url ON sightings(source, url);
)sql"},
    // 3: what was notified, one row per (notifier, paper, event class) with the set of
    // watches as a JSON array, instead of one row per watch: a paper that many watches match
    // costs one row, not hundreds. Old keys are "notifier␟paper␟class␟watch"; the watch is
    // after the last separator (rtrim of all non-separator characters finds it).
    {3, R"sql(
CREATE TABLE notified_sets (
  key        TEXT PRIMARY KEY,   -- notifier␟paper␟class
  paper_key  TEXT NOT NULL,
  watches    TEXT NOT NULL,      -- JSON array of watch names
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX notified_sets_paper ON notified_sets(paper_key);
INSERT INTO notified_sets(key, paper_key, watches, created_at)
  SELECT substr(prefix, 1, length(prefix) - 1), paper_key,
         json_group_array(substr(key, length(prefix) + 1)), min(created_at)
  FROM (SELECT key, paper_key, created_at,
               rtrim(key, replace(key, char(31), '')) AS prefix FROM notified)
  GROUP BY prefix;
DROP TABLE notified;
)sql"},
    // 4: delivery claims. A row is `sending` while one process holds its lease (owner and
    // deadline), so two processes never deliver it both; `pending` again when the lease runs
    // out. SQLite cannot alter a CHECK constraint: the table is rebuilt, every row kept.
    // notifier_health remembers a notifier disabled by its target (HTTP 410) and the dead
    // streak alert_notify heard of.
    {4, R"sql(
CREATE TABLE outbox_v4 (
  id              TEXT PRIMARY KEY,
  dedupe_key      TEXT NOT NULL UNIQUE,
  notifier        TEXT NOT NULL,
  kind            TEXT NOT NULL,
  event           TEXT NOT NULL,
  message         TEXT NOT NULL,
  state           TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'sending', 'sent', 'dead')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  parts_sent      INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  last_error      TEXT NOT NULL DEFAULT '',
  sent_at         INTEGER,
  remote_id       TEXT NOT NULL DEFAULT '',
  lease_owner     TEXT,
  lease_until     INTEGER
);
INSERT INTO outbox_v4(id, dedupe_key, notifier, kind, event, message, state, attempts,
                      parts_sent, created_at, next_attempt_at, last_error, sent_at, remote_id)
  SELECT id, dedupe_key, notifier, kind, event, message, state, attempts, parts_sent,
         created_at, next_attempt_at, last_error, sent_at, remote_id FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v4 RENAME TO outbox;
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
CREATE INDEX outbox_notifier_due ON outbox(notifier, state, next_attempt_at);
CREATE TABLE notifier_health (
  notifier             TEXT PRIMARY KEY,
  disabled_fingerprint TEXT NOT NULL DEFAULT '',
  disabled_reason      TEXT NOT NULL DEFAULT '',
  disabled_at          INTEGER,
  failing_since        INTEGER,
  alerted              INTEGER NOT NULL DEFAULT 0
);
)sql"},
    // 5: each distinct paper snapshot (the text a source said) stored once (issue 12); the
    // claim index also orders by created_at, so a claim reads its rows in order, unsorted.
    // Sightings and outbox messages refer to a snapshot by id instead of each holding the
    // paper's JSON, so the sightings table (WITHOUT ROWID) has only small rows. A snapshot
    // never changes: a retry sends what was planned. ConvertToSnapshots moves every
    // sighting and outbox message over; `snapshot` has no REFERENCES clause because the
    // outbox refers to snapshots from inside its JSON, which a foreign key cannot see
    // (Prune keeps the two in step).
    {5, R"sql(
CREATE TABLE snapshots (
  id    INTEGER PRIMARY KEY,
  hash  INTEGER NOT NULL,   -- Fnv1a64 of `paper`; not unique: a lookup compares the text
  paper TEXT NOT NULL       -- the paper as the source said it (JSON, CONFIG.md shape)
);
CREATE INDEX snapshots_hash ON snapshots(hash);
DROP INDEX outbox_notifier_due;
CREATE INDEX outbox_notifier_due ON outbox(notifier, state, next_attempt_at, created_at);
CREATE TABLE sightings_v5 (
  paper_key    TEXT NOT NULL REFERENCES papers(key) ON DELETE CASCADE,
  source       TEXT NOT NULL,
  date         TEXT NOT NULL,
  url          TEXT NOT NULL,
  votes        INTEGER,
  version      TEXT NOT NULL,
  snapshot     INTEGER NOT NULL,
  content_hash TEXT NOT NULL,
  first_seen   INTEGER NOT NULL,
  seen_at      INTEGER NOT NULL,
  PRIMARY KEY (paper_key, source)
) WITHOUT ROWID;
)sql",
     &ConvertToSnapshots,
     R"sql(
DROP TABLE sightings;
ALTER TABLE sightings_v5 RENAME TO sightings;
CREATE INDEX sightings_seen_at ON sightings(seen_at);
CREATE INDEX sightings_source_url ON sightings(source, url);
)sql"},
    // 6: no secret at rest (issue 13). A source's URL may carry a token (`url_file`,
    // "${NAME}", ?key=...); fetch_state only needs to know the URL again, so it keeps the
    // SHA-256 of it (UrlId) instead of the text. With secure_delete on, the old rows' pages
    // are zeroed rather than left free.
    {6, R"sql(
CREATE TABLE fetch_state_v6 (
  source        TEXT NOT NULL,
  url_id        TEXT NOT NULL,   -- UrlId: hex SHA-256 of the fetched URL
  etag          TEXT NOT NULL DEFAULT '',
  last_modified TEXT NOT NULL DEFAULT '',
  body_hash     TEXT NOT NULL DEFAULT '',
  last_success  INTEGER,
  PRIMARY KEY (source, url_id)
) WITHOUT ROWID;
)sql",
     &ConvertFetchStateUrls,
     R"sql(
DROP TABLE fetch_state;
ALTER TABLE fetch_state_v6 RENAME TO fetch_state;
)sql"},
    // 7: matches of a `delivery = "digest"` watch, held until its digest_schedule (issue 10).
    // A row is what an instant notification to that notifier would have been (its dedupe
    // key, so a commit retried adds it once; its message in the outbox's form, papers as
    // snapshots). The digest's outbox row is queued in the transaction that deletes the
    // rows it took: a crash leaves either both or neither.
    {7, R"sql(
CREATE TABLE digest_held (
  id         INTEGER PRIMARY KEY,
  watch      TEXT NOT NULL,
  notifier   TEXT NOT NULL,
  dedupe_key TEXT NOT NULL UNIQUE,
  event      TEXT NOT NULL,
  message    TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX digest_held_watch ON digest_held(watch, notifier, created_at);
)sql"},
    // 8: the leader lease (issue 14). Several instances on one PostgreSQL state take turns
    // at the fetch jobs; a SQLite state has one `run`, which holds it, so `status` says the
    // same on both. Times are the database's clock in unix milliseconds.
    {8, R"sql(
CREATE TABLE leader (
  name       TEXT PRIMARY KEY,  -- which lease ("fetch")
  holder     TEXT NOT NULL,     -- the instance holding it
  since      INTEGER NOT NULL,  -- when it took the lease
  expires_at INTEGER NOT NULL   -- when it ends unless renewed
);
)sql"},
    // 9: the per-notifier claim index holds pending rows only (issue 12). A row leaves it
    // when it is claimed, and sending, sent and dead rows are never in it, so a delivery
    // no longer moves each row's entry twice. Claims of pending rows say `state =
    // 'pending'`, which lets both backends use it; sending rows are found by outbox_due.
    {9, kClaimIndexOfPendingRows},
    // 10: compressed snapshots (issue 12, snapshot_codec.h). `encoding` 0 is the JSON text
    // every row written before has; other values name the dictionary of a zstd frame, kept
    // once in `snapshot_dicts`.
    {10, R"sql(
ALTER TABLE snapshots ADD COLUMN encoding INTEGER NOT NULL DEFAULT 0;
CREATE TABLE snapshot_dicts (
  id         INTEGER PRIMARY KEY,  -- SnapshotCodec::DictionaryId of `dict`
  dict       BLOB NOT NULL,        -- raw content: the snapshot texts it was made of
  created_at INTEGER NOT NULL
);
)sql"},
    // 11: an outbox row costs two b-trees fewer to write (issue 12). Its state CHECK said
    // `state IN (...)`, which SQLite 3.40 evaluates by building a temporary b-tree of the
    // four names for every row inserted or updated; four comparisons say the same without
    // one. `dedupe_key` loses its UNIQUE index: a row's id is the hash
    // of its dedupe key (NotificationId), so the primary key already refuses a second row
    // with that key. SQLite cannot alter either: the table is rebuilt, each row keeping its
    // rowid (the queue's order).
    {11, R"sql(
CREATE TABLE outbox_v11 (
  id              TEXT PRIMARY KEY,
  dedupe_key      TEXT NOT NULL,   -- unique through `id`, its NotificationId
  notifier        TEXT NOT NULL,
  kind            TEXT NOT NULL,
  event           TEXT NOT NULL,
  message         TEXT NOT NULL,
  state           TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state = 'pending' OR state = 'sending' OR state = 'sent' OR
                         state = 'dead'),
  attempts        INTEGER NOT NULL DEFAULT 0,
  parts_sent      INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  last_error      TEXT NOT NULL DEFAULT '',
  sent_at         INTEGER,
  remote_id       TEXT NOT NULL DEFAULT '',
  lease_owner     TEXT,
  lease_until     INTEGER
);
INSERT INTO outbox_v11(rowid, id, dedupe_key, notifier, kind, event, message, state, attempts,
                       parts_sent, created_at, next_attempt_at, last_error, sent_at,
                       remote_id, lease_owner, lease_until)
  SELECT rowid, id, dedupe_key, notifier, kind, event, message, state, attempts, parts_sent,
         created_at, next_attempt_at, last_error, sent_at, remote_id, lease_owner,
         lease_until FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v11 RENAME TO outbox;
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
CREATE INDEX outbox_notifier_due ON outbox(notifier, next_attempt_at, created_at)
  WHERE state = 'pending';
)sql"},
    // 12: the hashes kept of every paper are XXH3's (issue 12, core/hash.h): a 10,000-paper
    // day's take 2 ms, where FNV-1a's took 28. No table changes: each snapshot's hash and
    // each sighting's content hash is made again from the row (ConvertToXxh3Hashes).
    {12, nullptr, &ConvertToXxh3Hashes},
    // 13: the index of due rows holds unfinished rows only (issue 12, migrations.h): a
    // 10,000-paper day's sent rows leave a 16 KB index, where they kept it at 208 KB.
    {13, kDueIndexOfUnfinishedRows},
    // 14: no index of sightings by `seen_at` (issue 12, migrations.h): a 10,000-paper first
    // run takes 0.98 of the time.
    {14, kNoIndexOfSightingsBySeenAt},
    // 15: notified sets are kept in the order of their papers (issue 12): the table's key
    // begins with the paper's, and serves the lookups by paper that its own index served.
    // A commit writes one b-tree a set where it wrote two; a 10,000-paper first run's state
    // is 0.55 MB smaller, a year's 10 MB. SQLite cannot change a primary key: the table is
    // rebuilt, its rows held in a temporary table meanwhile, so that the new one takes the
    // pages the old one and its index leave (built beside them, a year's state grew 12 MB).
    {15, R"sql(
CREATE TEMP TABLE notified_sets_v14 AS
  SELECT key, paper_key, watches, created_at FROM notified_sets;
DROP TABLE notified_sets;
CREATE TABLE notified_sets (
  key        TEXT NOT NULL,      -- notifier␟paper␟class
  paper_key  TEXT NOT NULL,
  watches    TEXT NOT NULL,      -- JSON array of watch names
  created_at INTEGER NOT NULL,
  PRIMARY KEY (paper_key, key)
) WITHOUT ROWID;
INSERT INTO notified_sets(key, paper_key, watches, created_at)
  SELECT key, paper_key, watches, created_at FROM temp.notified_sets_v14
  ORDER BY paper_key, key;
DROP TABLE temp.notified_sets_v14;
)sql"},
    // 16: no `papers` table (issue 12). Nothing read it, and nothing pruned it; when a source
    // first saw a paper is its sighting's `first_seen`. A commit writes two b-trees fewer a
    // new paper, and a sighting checks no foreign key. SQLite cannot drop a REFERENCES
    // clause: sightings are rebuilt as step 15 rebuilt notified sets.
    {16, R"sql(
CREATE TEMP TABLE sightings_v15 AS
  SELECT paper_key, source, date, url, votes, version, snapshot, content_hash, first_seen,
         seen_at FROM sightings;
DROP TABLE sightings;
DROP TABLE IF EXISTS papers;
CREATE TABLE sightings (
  paper_key    TEXT NOT NULL,
  source       TEXT NOT NULL,
  date         TEXT NOT NULL,
  url          TEXT NOT NULL,
  votes        INTEGER,
  version      TEXT NOT NULL,
  snapshot     INTEGER NOT NULL,
  content_hash TEXT NOT NULL,
  first_seen   INTEGER NOT NULL,
  seen_at      INTEGER NOT NULL,
  PRIMARY KEY (paper_key, source)
) WITHOUT ROWID;
INSERT INTO sightings(paper_key, source, date, url, votes, version, snapshot, content_hash,
                      first_seen, seen_at)
  SELECT paper_key, source, date, url, votes, version, snapshot, content_hash, first_seen,
         seen_at FROM temp.sightings_v15 ORDER BY paper_key, source;
CREATE INDEX sightings_source_url ON sightings(source, url);
DROP TABLE temp.sightings_v15;
)sql"},
};

// The schema the steps above end with (kSchemaVersion), for a new file in one script.
// Append a step, and bring this to the same schema: StateStore.NewFileHasTheSchemaOfAMigrated
// One compares the two, table by table and index by index.
constexpr const char* kSqliteSchema = R"sql(
CREATE TABLE snapshots (
  id       INTEGER PRIMARY KEY,
  hash     INTEGER NOT NULL,  -- Xxh3Hash64 of the text; not unique: a lookup compares texts
  paper    TEXT NOT NULL,     -- the paper as the source said it (JSON, CONFIG.md shape)
  encoding INTEGER NOT NULL DEFAULT 0  -- 0: JSON text; else the snapshot_dicts id of a zstd frame
);
CREATE INDEX snapshots_hash ON snapshots(hash);
CREATE TABLE snapshot_dicts (
  id         INTEGER PRIMARY KEY,  -- SnapshotCodec::DictionaryId of `dict`
  dict       BLOB NOT NULL,        -- raw content: the snapshot texts it was made of
  created_at INTEGER NOT NULL
);
CREATE TABLE sightings (
  paper_key    TEXT NOT NULL,
  source       TEXT NOT NULL,
  date         TEXT NOT NULL,
  url          TEXT NOT NULL,
  votes        INTEGER,
  version      TEXT NOT NULL,
  snapshot     INTEGER NOT NULL,
  content_hash TEXT NOT NULL,
  first_seen   INTEGER NOT NULL,
  seen_at      INTEGER NOT NULL,
  PRIMARY KEY (paper_key, source)
) WITHOUT ROWID;
CREATE INDEX sightings_source_url ON sightings(source, url);
CREATE TABLE sources (
  name              TEXT PRIMARY KEY,
  first_run_at      INTEGER,
  last_success_at   INTEGER,
  last_success_date TEXT NOT NULL DEFAULT '',
  failures          INTEGER NOT NULL DEFAULT 0,
  last_error        TEXT NOT NULL DEFAULT '',
  failing_since     INTEGER,
  alerted           INTEGER NOT NULL DEFAULT 0,
  retry_at          INTEGER
);
CREATE TABLE fetch_state (
  source        TEXT NOT NULL,
  url_id        TEXT NOT NULL,   -- UrlId: hex SHA-256 of the fetched URL
  etag          TEXT NOT NULL DEFAULT '',
  last_modified TEXT NOT NULL DEFAULT '',
  body_hash     TEXT NOT NULL DEFAULT '',
  last_success  INTEGER,
  PRIMARY KEY (source, url_id)
) WITHOUT ROWID;
CREATE TABLE notified_sets (
  key        TEXT NOT NULL,      -- notifier␟paper␟class
  paper_key  TEXT NOT NULL,
  watches    TEXT NOT NULL,      -- JSON array of watch names
  created_at INTEGER NOT NULL,
  PRIMARY KEY (paper_key, key)
) WITHOUT ROWID;
CREATE TABLE outbox (
  id              TEXT PRIMARY KEY,
  dedupe_key      TEXT NOT NULL,   -- unique through `id`, its NotificationId
  notifier        TEXT NOT NULL,
  kind            TEXT NOT NULL,
  event           TEXT NOT NULL,
  message         TEXT NOT NULL,
  state           TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state = 'pending' OR state = 'sending' OR state = 'sent' OR
                         state = 'dead'),
  attempts        INTEGER NOT NULL DEFAULT 0,
  parts_sent      INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  last_error      TEXT NOT NULL DEFAULT '',
  sent_at         INTEGER,
  remote_id       TEXT NOT NULL DEFAULT '',
  lease_owner     TEXT,
  lease_until     INTEGER
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at) WHERE state <> 'sent';
CREATE INDEX outbox_notifier_due ON outbox(notifier, next_attempt_at, created_at)
  WHERE state = 'pending';
CREATE TABLE notifier_health (
  notifier             TEXT PRIMARY KEY,
  disabled_fingerprint TEXT NOT NULL DEFAULT '',
  disabled_reason      TEXT NOT NULL DEFAULT '',
  disabled_at          INTEGER,
  failing_since        INTEGER,
  alerted              INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE digest_held (
  id         INTEGER PRIMARY KEY,
  watch      TEXT NOT NULL,
  notifier   TEXT NOT NULL,
  dedupe_key TEXT NOT NULL UNIQUE,
  event      TEXT NOT NULL,
  message    TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX digest_held_watch ON digest_held(watch, notifier, created_at);
CREATE TABLE leader (
  name       TEXT PRIMARY KEY,  -- which lease ("fetch")
  holder     TEXT NOT NULL,     -- the instance holding it
  since      INTEGER NOT NULL,  -- when it took the lease
  expires_at INTEGER NOT NULL   -- when it ends unless renewed
);
)sql";

// The first schema that keeps no URL text in fetch_state: a migration reaching it from
// below checkpoints at once, so the zeroed pages reach the file.
constexpr int kFirstSchemaWithoutUrls = 6;

std::string SqliteJsonValues(int parameter) { return "json_each(?" + std::to_string(parameter) + ")"; }

// A claim changes many rows in one statement. OR FAIL: such a statement, were it able to
// fail part way and undo its own rows alone, would keep each page it changes as it was, in
// a temporary file (350 KB for 512 rows); one that stops where it fails keeps nothing, and
// the claim's transaction goes back as a whole when it fails.
#define DIGESTD_CLAIM_SET                                                            \
  "UPDATE OR FAIL outbox SET state = 'sending', lease_owner = ?1, lease_until = ?4 " \
  "WHERE rowid IN "

// The ranked claim around the outbox rows it ranks (`o`, joined to the requests `req`):
// ?1 owner, ?2 now, ?3 the requests as a JSON array of {notifier, lim, lease}.
#define DIGESTD_CLAIM_RANKED(ROWS)                                                \
  "WITH req AS (SELECT json_extract(value, '$.notifier') AS notifier, "           \
  "json_extract(value, '$.lim') AS lim, json_extract(value, '$.lease') AS lease " \
  "FROM json_each(?3)), "                                                         \
  "ranked AS (SELECT o.id AS rid, req.lease AS lease, req.lim AS lim, "           \
  "row_number() OVER (PARTITION BY o.notifier "                                   \
  "ORDER BY o.next_attempt_at, o.created_at, o.rowid) AS rn " ROWS                \
  ") "                                                                            \
  "UPDATE OR FAIL outbox SET state = 'sending', lease_owner = ?1, "               \
  "lease_until = ranked.lease "                                                   \
  "FROM ranked WHERE outbox.id = ranked.rid AND ranked.rn <= ranked.lim"

const Dialect kSqlite{
    .name = "SQLite",
    .shared = false,
    .now_ms = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
    .returning_id = "",
    .add_rows = "INSERT OR IGNORE",
    .add_rows_end = "",
    .lock_shared = "",
    .lock_exclusive = "",
    .lock_wait_limit = nullptr,
    .notify_outbox = nullptr,
    // A writer takes the write lock at once: two writers never meet halfway (SQLITE_BUSY
    // on a read lock upgraded mid-transaction cannot wait).
    .begin_write = "BEGIN IMMEDIATE",
    .begin_migration = "BEGIN EXCLUSIVE",
    // A deferred transaction keeps the snapshot of its first read until it ends (WAL).
    .begin_snapshot = "BEGIN DEFERRED",
    .after_copy_with_ids = nullptr,
    .json_values = &SqliteJsonValues,
    .bulk_commit = false,
    .json_records = nullptr,
    .snapshots_by_ids =
        "SELECT id, snapshot_text(paper, encoding) FROM snapshots "
        "WHERE id IN (SELECT value FROM json_each(?1))",
    .prior_sightings =
        "SELECT s.paper_key, s.content_hash, s.votes, s.version, "
        "json_extract(snapshot_text(p.paper, p.encoding), '$.title') "
        "FROM sightings s JOIN snapshots p ON p.id = s.snapshot "
        "WHERE s.source = ?1 AND s.paper_key IN (SELECT value FROM json_each(?2))",
    .notified_watches =
        "SELECT n.key, w.value FROM notified_sets AS n, json_each(n.watches) AS w "
        "WHERE n.paper_key IN (SELECT value FROM json_each(?1))",
    .merge_notified =
        "INSERT INTO notified_sets(key, paper_key, watches, created_at) "
        "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(paper_key, key) DO UPDATE SET watches = "
        "(SELECT json_group_array(value) FROM (SELECT value FROM "
        "json_each(notified_sets.watches) UNION SELECT value FROM json_each(?3)))",
    // U+10FFFF sorts after every character an id can hold.
    .id_prefix_range = "id >= ?1 AND id < ?1 || char(1114111)",
    .prune_snapshots =
        "DELETE FROM snapshots WHERE id NOT IN (SELECT snapshot FROM sightings) AND id NOT IN "
        "(SELECT json_extract(p.value, '$.snapshot') FROM outbox, "
        "json_each(outbox.message, '$.papers') AS p "
        "WHERE json_extract(p.value, '$.snapshot') IS NOT NULL) AND id NOT IN "
        "(SELECT json_extract(p.value, '$.snapshot') FROM digest_held, "
        "json_each(digest_held.message, '$.papers') AS p "
        "WHERE json_extract(p.value, '$.snapshot') IS NOT NULL)",
    // Each notifier's due rows ranked oldest first, the first `lim` of each claimed.
    .claim_ranked = DIGESTD_CLAIM_RANKED(
        "FROM outbox o JOIN req ON o.notifier = req.notifier "
        "WHERE (o.state = 'pending' AND o.next_attempt_at <= ?2) OR "
        "(o.state <> 'sent' AND o.state = 'sending' AND o.lease_until <= ?2 AND "
        "o.lease_owner != ?1)"),
    // The same for pending rows alone: each notifier's due rows come from the index of
    // pending rows, however many rows are being sent.
    .claim_ranked_pending = DIGESTD_CLAIM_RANKED(
        "FROM req JOIN outbox o ON o.notifier = req.notifier AND o.state = 'pending' AND "
        "o.next_attempt_at <= ?2"),
    // ?1 owner, ?2 notifier, ?3 now, ?4 lease_until, ?5 limit: the index of pending rows
    // (notifier, next_attempt_at, created_at) yields the due rows in order, so a claim reads
    // about `limit` rows however many wait.
    // clang-format off
    .claim_per_request = DIGESTD_CLAIM_SET "(SELECT r FROM ("
        "SELECT rowid AS r, next_attempt_at AS n, created_at AS c FROM outbox "
        "WHERE notifier = ?2 AND state = 'pending' AND next_attempt_at <= ?3 "
        "ORDER BY next_attempt_at, created_at, rowid LIMIT ?5))",
    // The same with the rows another process held until its lease ran out.
    .claim_per_request_with_expired =
        DIGESTD_CLAIM_SET "(SELECT r FROM (SELECT * FROM ("
        "SELECT rowid AS r, next_attempt_at AS n, created_at AS c FROM outbox "
        "WHERE notifier = ?2 AND state = 'pending' AND next_attempt_at <= ?3 "
        "ORDER BY next_attempt_at, created_at, rowid LIMIT ?5"
        ") UNION ALL SELECT * FROM ("
        "SELECT rowid AS r, next_attempt_at AS n, created_at AS c FROM outbox "
        "WHERE notifier = ?2 AND state <> 'sent' AND state = 'sending' AND lease_until <= ?3 AND "
        "lease_owner != ?1 "
        "ORDER BY next_attempt_at, created_at, rowid LIMIT ?5"
        ")) ORDER BY n, c, r LIMIT ?5)",
    // clang-format on
    .record_deliveries_batch = nullptr,
    .new_schema = kSqliteSchema,
};
#undef DIGESTD_CLAIM_SET
#undef DIGESTD_CLAIM_RANKED

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

class SqliteCursor final : public Cursor {
 public:
  SqliteCursor(sqlite3* db, std::string_view sql) : db_(db) {
    sqlite3_stmt* raw = nullptr;
    prepared_ = sqlite3_prepare_v2(db, sql.data(), int(sql.size()), &raw, nullptr) == SQLITE_OK;
    stmt_.reset(raw);
  }
  bool prepared() const override { return prepared_; }
  void BindText(int index, std::string_view v, bool borrowed) override {
    sqlite3_bind_text(stmt_.get(), index, v.data(), int(v.size()),
                      borrowed ? SQLITE_STATIC : SQLITE_TRANSIENT);
  }
  void BindBlob(int index, std::string_view v, bool borrowed) override {
    sqlite3_bind_blob64(stmt_.get(), index, v.data(), v.size(),
                        borrowed ? SQLITE_STATIC : SQLITE_TRANSIENT);
  }
  void BindInt(int index, std::int64_t v) override { sqlite3_bind_int64(stmt_.get(), index, v); }
  void BindNull(int index, bool) override { sqlite3_bind_null(stmt_.get(), index); }
  StepResult Next() override {
    switch (sqlite3_step(stmt_.get())) {
      case SQLITE_ROW:
        return kRow;
      case SQLITE_DONE:
        changes_ = sqlite3_changes64(db_);
        return kDone;
      default:
        return kError;
    }
  }
  void Reset() override {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
  }
  std::string_view Text(int col) const override {
    const auto* p = sqlite3_column_text(stmt_.get(), col);
    return p ? std::string_view(reinterpret_cast<const char*>(p),
                                std::size_t(sqlite3_column_bytes(stmt_.get(), col)))
             : std::string_view();
  }
  std::int64_t Int(int col) const override { return sqlite3_column_int64(stmt_.get(), col); }
  bool IsNull(int col) const override {
    return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL;
  }
  std::int64_t Changes() const override { return changes_; }
  std::string ErrorMessage() const override { return sqlite3_errmsg(db_); }

 private:
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, StmtDeleter> stmt_;
  bool prepared_ = false;
  std::int64_t changes_ = 0;
};

struct DbDeleter {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

// Switches the database to WAL. Processes opening one new file at once all switch it; SQLite
// answers all but one with SQLITE_BUSY at once, without calling the busy handler (the pragma
// holds a read lock while it asks for the write lock, and waiting could deadlock), so the
// switch is retried here for as long as the busy timeout would wait.
Status SetWalMode(sqlite3* db) {
  constexpr int kRetries = 500;  // 10 ms apart: the 5 s busy timeout
  for (int retry = 0;; ++retry) {
    const int rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) return Ok();
    if ((rc & 0xff) != SQLITE_BUSY || retry == kRetries) {
      return Unexpected(std::string("switch to WAL: ") + sqlite3_errmsg(db));
    }
    sqlite3_sleep(10);
  }
}

// Copies the WAL back into the database file on a thread of its own, with a connection of
// its own (issue 12). SQLite does it in the commit that finds the WAL past 1,000 pages, on
// the writer's thread: a 10,000-paper first run waited there 25 ms for a checkpoint's copies
// and syncs, and its close waited 14 ms more to sync what that one had copied. A PASSIVE
// checkpoint never blocks the writer: it copies the frames committed when it began, while
// the writer goes on appending, and the writer starts the WAL over once all of it is copied.
// So the writer only says, after a commit, how long the WAL has grown. A writer that commits
// without a pause could keep the thread from ever copying all of it, and the WAL from
// starting over: past SQLite's own 1,000 pages the writer checkpoints itself, as SQLite
// would. The thread starts at the first checkpoint due (a state whose WAL stays short never
// has one) and waits without a timeout in between: an idle service has no wake-up from it.
class WalCheckpointer {
 public:
  // The WAL's length, in pages, that starts a checkpoint on the thread; and the length past
  // which the writer checkpoints itself (wal_autocheckpoint's default).
  static constexpr int kPages = 256;
  static constexpr int kWriterPages = 1000;

  explicit WalCheckpointer(std::string path) : path_(std::move(path)) {}
  ~WalCheckpointer() { Stop(); }
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  // Runs `f` (a checkpoint of the writer's own) while no checkpoint of the thread runs:
  // SQLite refuses a second checkpointer at once, without waiting.
  template <typename F>
  auto Exclusively(F f) {
    std::lock_guard running(checkpointing_);
    return f();
  }

  // The writer's WAL hook: called by SQLite on the writer's thread after each commit.
  static int Committed(void* self, sqlite3* writer, const char*, int wal_pages) {
    auto* checkpointer = static_cast<WalCheckpointer*>(self);
    if (wal_pages >= kWriterPages) {
      // After the thread's checkpoint, if one runs: it holds the lock a checkpoint takes.
      checkpointer->Exclusively([&] {
        return sqlite3_wal_checkpoint_v2(writer, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                         nullptr);
      });
    } else if (wal_pages >= kPages) {
      checkpointer->Request();
    }
    return SQLITE_OK;
  }

  // Ends the thread, after the checkpoint it is running if any; none starts after.
  void Stop() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Request() {
    {
      std::lock_guard lock(mutex_);
      if (stop_) return;
      due_ = true;
      if (!thread_.joinable() && !no_thread_) {
        try {
          thread_ = std::thread([this] { Run(); });
        } catch (const std::system_error& e) {
          // Out of threads (a tasks limit): the writer checkpoints past kWriterPages.
          spdlog::debug("state {}: no thread to checkpoint the WAL: {}", path_, e.what());
          no_thread_ = true;
        }
      }
    }
    wake_.notify_one();
  }

  // The thread: waits, without a timeout, for a checkpoint to be due.
  void Run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return due_ || stop_; });
      if (stop_) return;
      lock.unlock();
      CheckpointWhileDue();
      lock.lock();
    }
  }

  // Opens a connection, checkpoints while one is due, and closes it: between checkpoints
  // (an idle service) the thread holds no connection, nor the schema SQLite reads for it.
  void CheckpointWhileDue() {
    sqlite3* raw = nullptr;
    const int rc =
        sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    std::unique_ptr<sqlite3, void (*)(sqlite3*)> db(raw, [](sqlite3* d) { sqlite3_close_v2(d); });
    // The writer outlives this connection, and its close removes the WAL. Closed as SQLite
    // would close it, this one would first try the database file's exclusive lock to learn
    // whether it is the last; refused, it keeps that lock's first step until the close ends,
    // and a reader opening meanwhile without waiting for locks (the sqlite3 shell) is told
    // the database is locked. This connection's own first read waits for such a close.
    sqlite3_db_config(raw, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    sqlite3_busy_timeout(raw, 5000);
    // The same syncs as the writer's (synchronous=FULL): the WAL's frames are on disk before
    // they are copied, and the copy before the WAL starts over. A read first opens the WAL.
    if (rc != SQLITE_OK || sqlite3_exec(raw, "PRAGMA synchronous=FULL; PRAGMA user_version",
                                        nullptr, nullptr, nullptr) != SQLITE_OK) {
      spdlog::warn("state {}: cannot open a connection to checkpoint the WAL: {}", path_,
                   raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
      std::lock_guard lock(mutex_);
      due_ = false;  // the writer checkpoints past kWriterPages
      return;
    }
    // The database file, to sync what a checkpoint copied (Checkpoint).
    const int file = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    std::unique_lock lock(mutex_);
    while (due_ && !stop_) {
      due_ = false;
      lock.unlock();
      Checkpoint(db.get(), file);
      lock.lock();
    }
    lock.unlock();
    if (file >= 0) ::close(file);
  }

  void Checkpoint(sqlite3* db, int file) {
    std::lock_guard running(checkpointing_);
    int copied = 0;
    const int rc =
        sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, &copied);
    // Busy: another process's checkpoint runs; it copies the same frames.
    if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY) {
      spdlog::warn("state {}: checkpoint: {}", path_, sqlite3_errmsg(db));
    }
    // SQLite syncs the database file only when a checkpoint copied the whole WAL; when the
    // writer committed meanwhile (a delivery records a batch every few milliseconds), what
    // it copied waits for the next one's sync, and a `once` paid it in its close: 14 ms. The
    // pages copied are synced here instead (the WAL keeps their frames until a checkpoint
    // has synced them: this only makes that one quick).
    if (copied > 0 && file >= 0) (void)::fdatasync(file);
  }

  const std::string path_;
  std::mutex mutex_;  // guards the three below and the start of thread_
  std::condition_variable wake_;
  bool due_ = false;
  bool stop_ = false;
  bool no_thread_ = false;  // one could not be started
  std::thread thread_;
  std::mutex checkpointing_;  // held while a checkpoint runs
};

class SqliteDb final : public Db {
 public:
  explicit SqliteDb(sqlite3* db) : db_(db) {}

  // Takes the WAL's checkpoints off this connection's commits (WalCheckpointer). Not for a
  // database without a file (":memory:").
  void CheckpointOnAThread() {
    const char* file = sqlite3_db_filename(db_.get(), "main");
    if (file == nullptr || *file == '\0') return;
    checkpointer_ = std::make_unique<WalCheckpointer>(file);
    sqlite3_wal_hook(db_.get(), &WalCheckpointer::Committed, checkpointer_.get());
  }

  // snapshot_text(paper, encoding): the JSON text of a snapshot row, NULL for one that
  // cannot be read (its readers skip it, as they skip a text that does not parse).
  Status AddSnapshotFunction() {
    const int rc = sqlite3_create_function_v2(db_.get(), "snapshot_text", 2,
                                              SQLITE_UTF8 | SQLITE_DETERMINISTIC, this,
                                              &SnapshotTextFunction, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return Unexpected(std::string("snapshot_text: ") + sqlite3_errstr(rc));
    return Ok();
  }
  SnapshotCodec* snapshot_codec() override { return &codec_; }

  const Dialect& dialect() const override { return kSqlite; }
  std::unique_ptr<Cursor> Prepare(std::string_view sql) override {
    return std::make_unique<SqliteCursor>(db_.get(), sql);
  }
  Status Exec(const char* sql) override {
    char* message = nullptr;
    if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &message) != SQLITE_OK) {
      std::string text = message ? message : sqlite3_errmsg(db_.get());
      sqlite3_free(message);
      return Unexpected(text);
    }
    return Ok();
  }
  int SchemaVersion() override {
    SqliteCursor s(db_.get(), "PRAGMA user_version");
    return s.prepared() && s.Next() == kRow ? int(s.Int(0)) : -1;
  }
  Status SetSchemaVersion(int version) override {
    const std::string bump = "PRAGMA user_version=" + std::to_string(version);
    return Exec(bump.c_str());
  }
  std::span<const Migration> Migrations() const override { return kSqliteMigrations; }
  std::int64_t LastInsertId() const override { return sqlite3_last_insert_rowid(db_.get()); }
  Status AfterMigration(int from) override {
    // Rows the migration dropped may have held secrets (fetch_state URLs before schema 6);
    // secure_delete zeroed their pages: they reach the file now, and the WAL that held them
    // is emptied.
    if (from == 0 || from >= kFirstSchemaWithoutUrls) return Ok();  // 0: a new file
    const auto truncate = [this] { return Exec("PRAGMA wal_checkpoint(TRUNCATE)"); };
    return checkpointer_ ? checkpointer_->Exclusively(truncate) : truncate();
  }
  Status BackupTo(const std::string& path) override;
  Status LimitPages(std::int64_t pages) override {
    const std::string pragma = "PRAGMA max_page_count=" + std::to_string(pages);
    return Exec(pragma.c_str());
  }
  void SetBusyTimeout(int milliseconds) override {
    sqlite3_busy_timeout(db_.get(), milliseconds);
  }
  void ReleaseMemory() override {
    sqlite3_db_release_memory(db_.get());
    codec_.Release();
  }
  Status LimitIdleInTransaction(std::int64_t) override { return Ok(); }
  Status Listen(const char*) override { return Ok(); }
  int Socket(std::uint64_t* session) const override {
    *session = 0;
    return -1;
  }
  bool TakeNotifications() override { return false; }

 private:
  static void SnapshotTextFunction(sqlite3_context* ctx, int, sqlite3_value** argv) {
    const std::int64_t encoding = sqlite3_value_int64(argv[1]);
    if (encoding == 0) {
      sqlite3_result_value(ctx, argv[0]);
      return;
    }
    auto* self = static_cast<SqliteDb*>(sqlite3_user_data(ctx));
    const auto* bytes = static_cast<const char*>(sqlite3_value_blob(argv[0]));
    const std::string_view stored(bytes ? bytes : "", std::size_t(sqlite3_value_bytes(argv[0])));
    auto text = self->DecodeSnapshot(stored, encoding);
    if (!text) {
      sqlite3_result_null(ctx);
      return;
    }
    sqlite3_result_text64(ctx, text->data(), text->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  }

  // A function of this connection may read it: a dictionary another process made (or this
  // one, in an earlier transaction) is loaded the first time a row names it.
  Result<std::string> DecodeSnapshot(std::string_view stored, std::int64_t encoding) {
    if (!codec_.Knows(encoding)) {
      SqliteCursor read(db_.get(), "SELECT dict FROM snapshot_dicts WHERE id = ?");
      read.BindInt(1, encoding);
      if (read.prepared() && read.Next() == kRow) codec_.Add(encoding, read.Text(0));
    }
    auto text = codec_.Decompress(stored, encoding);
    if (!text) spdlog::warn("state: a snapshot cannot be read: {}", text.error().message);
    return text;
  }

  std::unique_ptr<sqlite3, DbDeleter> db_;
  SnapshotCodec codec_;
  // Declared after db_: stopped before the writer's connection closes, whose close (the
  // last connection's) checkpoints what is left and removes the WAL.
  std::unique_ptr<WalCheckpointer> checkpointer_;
};

Status SqliteDb::BackupTo(const std::string& path) {
  const std::string tmp = path + ".tmp";
  std::remove(tmp.c_str());
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(tmp.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  std::unique_ptr<sqlite3, DbDeleter> dest(raw);
  if (rc != SQLITE_OK) {
    return Unexpected(
        tmp + ": cannot create the backup: " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_backup* backup = sqlite3_backup_init(dest.get(), "main", db_.get(), "main");
  if (backup == nullptr) {
    return Unexpected(tmp + ": cannot start the backup: " + sqlite3_errmsg(dest.get()));
  }
  // -1: every page in one step, from one read snapshot of the source.
  const int step = sqlite3_backup_step(backup, -1);
  const int finish = sqlite3_backup_finish(backup);
  if (step != SQLITE_DONE || finish != SQLITE_OK) {
    std::remove(tmp.c_str());
    return Unexpected(tmp +
                      ": backup failed: " + sqlite3_errstr(step != SQLITE_DONE ? step : finish));
  }
  // The copy is a plain rollback-journal database: durable once its connection closes.
  if (sqlite3_exec(dest.get(), "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr) !=
      SQLITE_OK) {
    return Unexpected(tmp + ": " + sqlite3_errmsg(dest.get()));
  }
  dest.reset();
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    return Unexpected(path + ": cannot put the backup in place: " + why);
  }
  return Ok();
}

// SQLite's own memory statistics, which digestd never reads, take a global mutex around
// every allocation it makes: about 4% of a 10,000-paper commit. They can only be turned
// off before SQLite initialises, so the first open does it, once per process.
void TurnOffMemoryStatistics() {
  static const int rc = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)rc;  // SQLITE_MISUSE when the process already used SQLite: the default then stays
}

}  // namespace

Result<std::unique_ptr<Db>> OpenSqlite(const std::string& path, bool read_only) {
  TurnOffMemoryStatistics();
  if (!read_only && path != ":memory:" && !path.starts_with("file:")) {
    // SQLite would create the file 0644: it holds the sources' URLs and the outbox, so it
    // is created here with the private mode (SQLite gives -wal and -shm the same mode).
    const int fd =
        ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, NewPrivateFileMode());
    if (fd >= 0) ::close(fd);
  }
  sqlite3* raw = nullptr;
  const int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  auto db = std::make_unique<SqliteDb>(raw);
  if (rc != SQLITE_OK) {
    return Unexpected(
        path + ": cannot open state database: " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(raw, 5000);
  sqlite3_extended_result_codes(raw, 1);
  if (!read_only && sqlite3_db_readonly(raw, "main") == 1) {
    // SQLite opens a file it may not write read-only without a word; every write would
    // then fail with "attempt to write a readonly database".
    return Unexpected(path +
                      ": state database is read-only (check the permissions of the "
                      "file and its directory); digestd needs to write it");
  }
  if (auto st = db->AddSnapshotFunction(); !st) {
    return Unexpected(path + ": " + st.error().message);
  }
  if (read_only) {
    // A reader never checkpoints, nor tries, closing, the lock a checkpoint on close needs
    // (see WalCheckpointer::CheckpointWhileDue); the writer's close removes the WAL.
    sqlite3_db_config(raw, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    return std::unique_ptr<Db>(std::move(db));
  }
  // 16 KiB pages for a new file (an existing one keeps its own): paper snapshots are about
  // 1.4 KB each, and a 4 KiB page holds two of them with a third of it unused.
  if (auto st = db->Exec("PRAGMA page_size=16384"); !st) {
    return Unexpected(path + ": " + st.error().message);
  }
  if (auto st = SetWalMode(raw); !st) return Unexpected(path + ": " + st.error().message);
  // A 1 MiB page cache (half SQLite's default): dirty pages beyond it spill to the WAL,
  // which a commit writes anyway. For a 10,000-paper first run, 16 MiB cost the same CPU
  // time and 12 MB more peak memory, 4 MiB the same time and 2.3 MB more, 2 MiB 0.3 to
  // 0.7 MiB more than 1 MiB for the same writes; 512 KiB wrote 23% more bytes (pages spilled
  // and written again). A year's state (bench/year.py) reads as fast with 1 MiB (issue 12).
  // secure_delete (Debian's default, said here for every build): what is deleted or pruned
  // is zeroed, not left in the file.
  for (const char* pragma : {"PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON",
                             "PRAGMA cache_size=-1024", "PRAGMA secure_delete=ON"}) {
    if (auto st = db->Exec(pragma); !st) return Unexpected(path + ": " + st.error().message);
  }
  db->CheckpointOnAThread();
  return std::unique_ptr<Db>(std::move(db));
}

}  // namespace digestd::sql
