// The schemas digestd shipped before schema 6, as fixtures: the SQL that migrations 1-5 ran,
// copied from store/state_store.cc when each next schema was written (a migration is never edited
// after it ships, so these stay what old files hold). A test builds a "before" file from them
// independently of the store's own migration code.
#pragma once

namespace digestd::test {

// Schema 1: papers, sightings, sources, fetch_state, notified, outbox.
inline constexpr const char* kSchema1 = R"sql(
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
)sql";

// Schema 2: source health columns; sightings by URL.
inline constexpr const char* kSchema2 = R"sql(
ALTER TABLE sources ADD COLUMN failing_since INTEGER;
ALTER TABLE sources ADD COLUMN alerted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sources ADD COLUMN retry_at INTEGER;
CREATE INDEX sightings_source_url ON sightings(source, url);
)sql";

// Schema 3: notified rows merged into notified_sets.
inline constexpr const char* kSchema3 = R"sql(
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
)sql";

// Schema 4: delivery claims (outbox rebuilt with `sending` and a lease); notifier health.
inline constexpr const char* kSchema4 = R"sql(
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
)sql";

// Schema 5: paper snapshots stored once (sightings and outbox messages refer to them). The
// SQL of migration 5 around its conversion, which has nothing to convert on a file without
// sightings: a test builds a schema-5 file from kSchema1-5 and then writes its rows.
inline constexpr const char* kSchema5 = R"sql(
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
DROP TABLE sightings;
ALTER TABLE sightings_v5 RENAME TO sightings;
CREATE INDEX sightings_seen_at ON sightings(seen_at);
CREATE INDEX sightings_source_url ON sightings(source, url);
)sql";

// Schema 6: fetch_state keeps the SHA-256 of each URL (issue 13); the SQL of migration 6
// around its conversion, which has nothing to convert on a file without fetch_state rows.
inline constexpr const char* kSchema6 = R"sql(
CREATE TABLE fetch_state_v6 (
  source        TEXT NOT NULL,
  url_id        TEXT NOT NULL,
  etag          TEXT NOT NULL DEFAULT '',
  last_modified TEXT NOT NULL DEFAULT '',
  body_hash     TEXT NOT NULL DEFAULT '',
  last_success  INTEGER,
  PRIMARY KEY (source, url_id)
) WITHOUT ROWID;
DROP TABLE fetch_state;
ALTER TABLE fetch_state_v6 RENAME TO fetch_state;
)sql";

// Schema 7: the matches held for digests (issue 10).
inline constexpr const char* kSchema7 = R"sql(
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
)sql";

// Schema 8: the leader lease (issue 14).
inline constexpr const char* kSchema8 = R"sql(
CREATE TABLE leader (
  name       TEXT PRIMARY KEY,
  holder     TEXT NOT NULL,
  since      INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
)sql";

// Schema 9: the per-notifier claim index holds pending rows only (issue 12).
inline constexpr const char* kSchema9 = R"sql(
DROP INDEX outbox_notifier_due;
CREATE INDEX outbox_notifier_due ON outbox(notifier, next_attempt_at, created_at)
  WHERE state = 'pending';
)sql";

// Schema 10: compressed snapshots (issue 12).
inline constexpr const char* kSchema10 = R"sql(
ALTER TABLE snapshots ADD COLUMN encoding INTEGER NOT NULL DEFAULT 0;
CREATE TABLE snapshot_dicts (
  id         INTEGER PRIMARY KEY,
  dict       BLOB NOT NULL,
  created_at INTEGER NOT NULL
);
)sql";

}  // namespace digestd::test
