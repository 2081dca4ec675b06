#include "store/state_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <tuple>
#include <unordered_map>

#include "core/hash.h"
#include "core/json_writer.h"
#include "core/private_file.h"

namespace digestd {
namespace {

Status ConvertToSnapshots(sqlite3* db);
Status ConvertFetchStateUrls(sqlite3* db);

// Migrations as data: step i brings the schema from version i to i + 1: its SQL, then (when
// rows must be rewritten in a way SQL cannot say) a conversion, then more SQL. Never edit a
// shipped step; append a new one.
struct Migration {
  const char* sql;
  Status (*convert)(sqlite3* db) = nullptr;
  const char* after = nullptr;
};

constexpr Migration kMigrations[] = {
    {R"sql(
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
    {R"sql(
ALTER TABLE sources ADD COLUMN failing_since INTEGER;
ALTER TABLE sources ADD COLUMN alerted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sources ADD COLUMN retry_at INTEGER;
CREATE INDEX sightings_source_url ON sightings(source, url);
)sql"},
    // 3: what was notified, one row per (notifier, paper, event class) with the set of
    // watches as a JSON array, instead of one row per watch: a paper that many watches match
    // costs one row, not hundreds. Old keys are "notifier␟paper␟class␟watch"; the watch is
    // after the last separator (rtrim of all non-separator characters finds it).
    {R"sql(
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
    {R"sql(
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
    {R"sql(
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
    {R"sql(
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
    {R"sql(
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
};

// The first schema that keeps no URL text in fetch_state: a migration reaching it from
// below checkpoints at once, so the zeroed pages reach the file.
constexpr int kFirstSchemaWithoutUrls = 6;

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

// A prepared statement with positional binding; reset on destruction of the wrapper.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    sqlite3_stmt* raw = nullptr;
    prepared_ = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) == SQLITE_OK;
    stmt_.reset(raw);
  }
  bool ok() const { return prepared_; }
  Stmt& Bind(const std::string& v) {
    sqlite3_bind_text(stmt_.get(), ++index_, v.data(), int(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(std::int64_t v) {
    sqlite3_bind_int64(stmt_.get(), ++index_, v);
    return *this;
  }
  Stmt& BindOptional(std::optional<std::int64_t> v) {
    if (v) return Bind(*v);
    sqlite3_bind_null(stmt_.get(), ++index_);
    return *this;
  }
  // Makes the statement ready to bind and run again.
  void Reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
    index_ = 0;
  }
  // SQLITE_ROW, SQLITE_DONE, or an error code.
  int Step() { return sqlite3_step(stmt_.get()); }
  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(stmt_.get(), col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           std::size_t(sqlite3_column_bytes(stmt_.get(), col)))
             : std::string();
  }
  // The column's text, valid until the next Step or Reset.
  std::string_view TextView(int col) const {
    const auto* p = sqlite3_column_text(stmt_.get(), col);
    return p ? std::string_view(reinterpret_cast<const char*>(p),
                                std::size_t(sqlite3_column_bytes(stmt_.get(), col)))
             : std::string_view();
  }
  std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  std::optional<std::int64_t> OptInt(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Int(col);
  }
  Error Fail(std::string_view what) const {
    return Error{std::string(what) + ": " + sqlite3_errmsg(db_)};
  }

 private:
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, StmtDeleter> stmt_;
  bool prepared_ = false;
  int index_ = 0;
};

// Runs a statement that returns no rows.
Status Run(Stmt& stmt, std::string_view what) {
  if (!stmt.ok()) return Unexpected(stmt.Fail(what));
  if (stmt.Step() != SQLITE_DONE) return Unexpected(stmt.Fail(what));
  return Ok();
}

std::string KeysJson(const std::vector<std::string>& keys) {
  JsonWriter json;
  json.StringArray(keys);
  return json.Take();
}

// Commits on Commit(); rolls back when destroyed without it.
class Transaction {
 public:
  explicit Transaction(sqlite3* db, const char* begin = "BEGIN IMMEDIATE") : db_(db) {
    ok_ = sqlite3_exec(db_, begin, nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  ~Transaction() {
    if (ok_ && !done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  bool ok() const { return ok_; }
  Status Commit() {
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return Unexpected(std::string("commit: ") + sqlite3_errmsg(db_));
    }
    done_ = true;
    return Ok();
  }

 private:
  sqlite3* db_;
  bool ok_ = false;
  bool done_ = false;
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

constexpr const char* kOutboxColumns =
    "id, notifier, kind, event, state, message, attempts, parts_sent, created_at, "
    "next_attempt_at, last_error, sent_at, remote_id, lease_owner, lease_until, dedupe_key";
constexpr int kOutboxColumnCount = 16;

// An outbox row from kOutboxColumns; its notification holds what the columns say, and
// `message` gets the stored JSON (ResolveMessages reads the rest from it).
OutboxRow ReadOutboxRow(const Stmt& s, std::string& message) {
  OutboxRow row{.id = s.Text(0),
                .notifier = s.Text(1),
                .kind = s.Text(2),
                .event = s.Text(3),
                .state = s.Text(4),
                .attempts = int(s.Int(6)),
                .parts_sent = int(s.Int(7)),
                .created_at = s.Int(8),
                .next_attempt_at = s.Int(9),
                .last_error = s.Text(10),
                .sent_at = s.OptInt(11),
                .remote_id = s.Text(12),
                .lease_owner = s.Text(13),
                .lease_until = s.OptInt(14)};
  message = s.Text(5);
  Notification& n = row.notification;
  n.id = row.id;
  n.notifier = row.notifier;
  n.kind = row.kind;
  n.event = row.event;
  n.dedupe_key = s.Text(15);
  return row;
}

std::string Str(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::vector<std::string> Strings(const boost::json::object& o, std::string_view key) {
  std::vector<std::string> out;
  if (const auto* v = o.if_contains(key); v && v->is_array()) {
    for (const auto& e : v->get_array()) {
      if (e.is_string()) out.emplace_back(e.get_string());
    }
  }
  return out;
}

Paper ReadPaper(const boost::json::object& o) {
  Paper p;
  p.key = Str(o, "key");
  p.title = Str(o, "title");
  p.url = Str(o, "url");
  p.authors = Strings(o, "authors");
  if (const auto* v = o.if_contains("authors_truncated"); v && v->is_bool()) {
    p.authors_truncated = v->get_bool();
  }
  if (const auto* v = o.if_contains("votes"); v && v->is_int64()) p.votes = int(v->get_int64());
  p.media_url = Str(o, "media_url");
  p.summary = Strings(o, "summary");
  p.tags = Strings(o, "tags");
  p.version = Str(o, "version");
  if (const auto* v = o.if_contains("extra"); v && v->is_object()) {
    for (const auto& [k, e] : v->get_object()) {
      if (e.is_string()) p.extra.emplace(std::string(k), std::string(e.get_string()));
    }
  }
  return p;
}

// A snapshot's text: the paper's members as one JSON object.
std::optional<Paper> ParseSnapshot(std::string_view json) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(json, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return ReadPaper(v.get_object());
}

// Stores paper snapshots within the caller's transaction, each distinct text once: a text
// is found by its hash and compared in full, so two texts that share a hash stay apart.
class SnapshotWriter {
 public:
  explicit SnapshotWriter(sqlite3* db)
      : db_(db),
        find_(db, "SELECT id, paper FROM snapshots WHERE hash = ?"),
        insert_(db, "INSERT INTO snapshots(hash, paper) VALUES(?, ?)") {}

  // The id of the snapshot of `paper`, which must outlive the writer: the papers of one
  // commit are mostly the same objects' copies, compared rather than serialised again.
  Result<std::int64_t> Intern(const Paper& paper) {
    if (auto it = by_key_.find(paper.key); it != by_key_.end() && *it->second.paper == paper) {
      return it->second.id;
    }
    auto id = InternText(SnapshotText(paper));
    if (id) by_key_.insert_or_assign(paper.key, Known{&paper, *id});
    return id;
  }

  Result<std::int64_t> InternText(const std::string& json) {
    const auto hash = std::int64_t(Fnv1a64(json));
    find_.Reset();
    find_.Bind(hash);
    int rc;
    while ((rc = find_.Step()) == SQLITE_ROW) {
      if (find_.TextView(1) == json) return find_.Int(0);
    }
    if (rc != SQLITE_DONE) return Unexpected(find_.Fail("read snapshots"));
    insert_.Reset();
    insert_.Bind(hash).Bind(json);
    if (auto st = Run(insert_, "store snapshot"); !st) return Unexpected(st.error());
    return std::int64_t(sqlite3_last_insert_rowid(db_));
  }

 private:
  struct Known {
    const Paper* paper;
    std::int64_t id;
  };
  sqlite3* db_;
  Stmt find_;
  Stmt insert_;
  std::unordered_map<std::string, Known> by_key_;
};

// The outbox `message` of `n`: what the row's columns don't hold, each paper as the id of
// its snapshot (`snapshots`, in paper order) with where and when the source said it.
std::string OutboxMessage(const Notification& n, const std::vector<std::int64_t>& snapshots) {
  JsonWriter json;
  json.BeginObject();
  json.Key("watches").StringArray(n.watches);
  json.Key("papers").BeginArray();
  for (std::size_t i = 0; i < n.papers.size(); ++i) {
    const SourcedPaper& p = n.papers[i];
    json.BeginObject();
    json.Key("snapshot").Int(snapshots[i]);
    if (!p.source.empty()) json.Key("source").String(p.source);
    if (!p.date.empty()) json.Key("date").String(p.date);
    if (!p.event.empty()) json.Key("event").String(p.event);
    if (!p.watches.empty()) json.Key("watches").StringArray(p.watches);
    if (p.prior_votes) json.Key("prior_votes").Int(*p.prior_votes);
    if (!p.prior_version.empty()) json.Key("prior_version").String(p.prior_version);
    if (!p.prior_title.empty()) json.Key("prior_title").String(p.prior_title);
    json.EndObject();
  }
  json.EndArray();
  if (!n.source.empty()) json.Key("source").String(n.source);
  if (!n.message.empty()) json.Key("message").String(n.message);
  if (!n.digest_url.empty()) json.Key("digest_url").String(n.digest_url);
  json.EndObject();
  return json.Take();
}

// Reads a stored message into `n`, whose id, notifier, kind, event and dedupe key the row's
// columns gave. A paper is a snapshot id (schema 5) looked up in `snapshots`, or the paper
// itself (the messages of schema 4 and before, which the migration reads). Fails naming
// what is missing.
Status DecodeMessage(const boost::json::value& v, const std::map<std::int64_t, Paper>& snapshots,
                     Notification& n) {
  if (!v.is_object()) return Unexpected("its stored message is not a JSON object");
  const auto& o = v.get_object();
  n.watches = Strings(o, "watches");
  n.source = Str(o, "source");
  n.message = Str(o, "message");
  n.digest_url = Str(o, "digest_url");
  n.papers.clear();
  if (const auto* papers = o.if_contains("papers"); papers && papers->is_array()) {
    for (const auto& e : papers->get_array()) {
      if (!e.is_object()) return Unexpected("its stored message has a paper that is not an object");
      const auto& p = e.get_object();
      SourcedPaper sp;
      if (const auto* id = p.if_contains("snapshot")) {
        const auto it = id->is_int64() ? snapshots.find(id->get_int64()) : snapshots.end();
        if (it == snapshots.end()) {
          return Unexpected("its paper snapshot " + boost::json::serialize(*id) + " is missing");
        }
        sp.paper = it->second;
      } else {
        sp.paper = ReadPaper(p);
      }
      sp.source = Str(p, "source");
      sp.date = Str(p, "date");
      sp.event = Str(p, "event");
      sp.watches = Strings(p, "watches");
      if (const auto* votes = p.if_contains("prior_votes"); votes && votes->is_int64()) {
        sp.prior_votes = int(votes->get_int64());
      }
      sp.prior_version = Str(p, "prior_version");
      sp.prior_title = Str(p, "prior_title");
      n.papers.push_back(std::move(sp));
    }
  }
  return Ok();
}

// Completes each row's notification from its stored message (`messages`, one per row),
// reading every snapshot the rows refer to once. A row whose message cannot be read gets
// `unreadable` instead; only a failing query fails the whole.
Status ResolveMessages(sqlite3* db, std::vector<OutboxRow>& rows,
                       const std::vector<std::string>& messages) {
  std::vector<boost::json::value> parsed(rows.size());
  std::set<std::int64_t> wanted;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    boost::system::error_code ec;
    parsed[i] = boost::json::parse(messages[i], ec);
    if (ec || !parsed[i].is_object()) continue;
    const auto* papers = parsed[i].get_object().if_contains("papers");
    if (!papers || !papers->is_array()) continue;
    for (const auto& p : papers->get_array()) {
      const auto* id = p.is_object() ? p.get_object().if_contains("snapshot") : nullptr;
      if (id && id->is_int64()) wanted.insert(id->get_int64());
    }
  }
  std::map<std::int64_t, Paper> snapshots;
  if (!wanted.empty()) {
    JsonWriter ids;
    ids.BeginArray();
    for (std::int64_t id : wanted) ids.Int(id);
    ids.EndArray();
    Stmt s(db, "SELECT id, paper FROM snapshots WHERE id IN (SELECT value FROM json_each(?))");
    if (!s.ok()) return Unexpected(s.Fail("read snapshots"));
    s.Bind(ids.str());
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      // A snapshot that does not parse stays out of the map: its rows say it is missing.
      if (auto paper = ParseSnapshot(s.TextView(1))) snapshots.emplace(s.Int(0), std::move(*paper));
    }
    if (rc != SQLITE_DONE) return Unexpected(s.Fail("read snapshots"));
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (auto st = DecodeMessage(parsed[i], snapshots, rows[i].notification); !st) {
      rows[i].unreadable = "outbox row " + rows[i].id + ": " + st.error().message;
    }
  }
  return Ok();
}

// Reads every row `s` gives (kOutboxColumns) and completes their notifications.
Result<std::vector<OutboxRow>> ReadOutboxRows(sqlite3* db, Stmt& s, std::string_view what) {
  std::vector<OutboxRow> rows;
  std::vector<std::string> messages;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    messages.emplace_back();
    rows.push_back(ReadOutboxRow(s, messages.back()));
  }
  if (rc != SQLITE_DONE) return Unexpected(s.Fail(what));
  if (auto st = ResolveMessages(db, rows, messages); !st) return Unexpected(st.error());
  return rows;
}

// Queues `notifications` in the caller's transaction, each paper as its snapshot; a row
// whose dedupe key exists already is left as it is.
Status InsertOutbox(sqlite3* db, const std::vector<Notification>& notifications,
                    std::int64_t now, SnapshotWriter& snapshots) {
  Stmt outbox(db,
              "INSERT INTO outbox(id, dedupe_key, notifier, kind, event, message, created_at, "
              "next_attempt_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
  std::vector<std::int64_t> ids;
  for (const Notification& n : notifications) {
    ids.clear();
    for (const SourcedPaper& p : n.papers) {
      auto id = snapshots.Intern(p.paper);
      if (!id) return Unexpected(id.error());
      ids.push_back(*id);
    }
    outbox.Reset();
    outbox.Bind(n.id).Bind(n.dedupe_key).Bind(n.notifier).Bind(n.kind).Bind(n.event);
    outbox.Bind(OutboxMessage(n, ids)).Bind(now).Bind(now);
    if (auto st = Run(outbox, "queue notification " + n.id); !st) return st;
  }
  return Ok();
}

// Holds `held` for their digests in the caller's transaction; a match held already (its
// dedupe key and watch) is left as it is.
Status InsertHeld(sqlite3* db, const std::vector<HeldMatch>& held, std::int64_t now,
                  SnapshotWriter& snapshots) {
  if (held.empty()) return Ok();
  Stmt insert(db,
              "INSERT INTO digest_held(watch, notifier, dedupe_key, event, message, created_at) "
              "VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
  std::vector<std::int64_t> ids;
  for (const HeldMatch& h : held) {
    const Notification& n = h.notification;
    ids.clear();
    for (const SourcedPaper& p : n.papers) {
      auto id = snapshots.Intern(p.paper);
      if (!id) return Unexpected(id.error());
      ids.push_back(*id);
    }
    insert.Reset();
    insert.Bind(h.watch).Bind(n.notifier).Bind(n.dedupe_key + '\x1f' + h.watch).Bind(n.event);
    insert.Bind(OutboxMessage(n, ids)).Bind(now);
    if (auto st = Run(insert, "hold a match for watch " + h.watch); !st) return st;
  }
  return Ok();
}

// Schema 4 -> 5: every sighting's paper and every outbox message's papers become snapshots.
// A paper is stored in the form PaperJson writes today, so a later commit of the same paper
// finds it. A message that cannot be read is kept as it was (it was unreadable before too).
Status ConvertToSnapshots(sqlite3* db) {
  SnapshotWriter snapshots(db);
  Stmt read(db,
            "SELECT paper_key, source, date, url, votes, version, paper, content_hash, "
            "first_seen, seen_at FROM sightings");
  Stmt write(db,
             "INSERT INTO sightings_v5(paper_key, source, date, url, votes, version, snapshot, "
             "content_hash, first_seen, seen_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!read.ok()) return Unexpected(read.Fail("read sightings"));
  int rc;
  while ((rc = read.Step()) == SQLITE_ROW) {
    const auto paper = ParseSnapshot(read.TextView(6));
    auto id = snapshots.InternText(paper ? SnapshotText(*paper) : read.Text(6));
    if (!id) return Unexpected(id.error());
    write.Reset();
    write.Bind(read.Text(0)).Bind(read.Text(1)).Bind(read.Text(2)).Bind(read.Text(3));
    write.BindOptional(read.OptInt(4)).Bind(read.Text(5)).Bind(*id).Bind(read.Text(7));
    write.Bind(read.Int(8)).Bind(read.Int(9));
    if (auto st = Run(write, "copy sighting"); !st) return st;
  }
  if (rc != SQLITE_DONE) return Unexpected(read.Fail("read sightings"));

  std::vector<std::pair<std::int64_t, std::string>> messages;
  Stmt outbox(db, "SELECT rowid, message FROM outbox");
  if (!outbox.ok()) return Unexpected(outbox.Fail("read outbox"));
  while ((rc = outbox.Step()) == SQLITE_ROW) messages.emplace_back(outbox.Int(0), outbox.Text(1));
  if (rc != SQLITE_DONE) return Unexpected(outbox.Fail("read outbox"));
  Stmt update(db, "UPDATE outbox SET message = ? WHERE rowid = ?");
  for (const auto& [rowid, message] : messages) {
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(message, ec);
    Notification n;
    if (ec || !DecodeMessage(v, {}, n)) continue;
    std::vector<std::int64_t> ids;
    for (const SourcedPaper& p : n.papers) {
      auto id = snapshots.InternText(SnapshotText(p.paper));
      if (!id) return Unexpected(id.error());
      ids.push_back(*id);
    }
    update.Reset();
    update.Bind(OutboxMessage(n, ids)).Bind(rowid);
    if (auto st = Run(update, "rewrite outbox message"); !st) return st;
  }
  return Ok();
}

// Schema 5 -> 6: each fetch_state row keyed by its URL's UrlId instead of the URL.
Status ConvertFetchStateUrls(sqlite3* db) {
  Stmt read(db,
            "SELECT source, url, etag, last_modified, body_hash, last_success FROM fetch_state");
  Stmt write(db,
             "INSERT OR REPLACE INTO fetch_state_v6(source, url_id, etag, last_modified, "
             "body_hash, last_success) VALUES(?, ?, ?, ?, ?, ?)");
  if (!read.ok()) return Unexpected(read.Fail("read fetch state"));
  int rc;
  while ((rc = read.Step()) == SQLITE_ROW) {
    write.Reset();
    write.Bind(read.Text(0)).Bind(UrlId(read.TextView(1))).Bind(read.Text(2)).Bind(read.Text(3));
    write.Bind(read.Text(4)).BindOptional(read.OptInt(5));
    if (auto st = Run(write, "copy fetch state"); !st) return st;
  }
  if (rc != SQLITE_DONE) return Unexpected(read.Fail("read fetch state"));
  return Ok();
}

}  // namespace

std::string UrlId(std::string_view url) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  // SHA-256 cannot fail on a buffer in memory; an empty id would only make a refetch.
  if (EVP_Digest(url.data(), url.size(), digest, &size, EVP_sha256(), nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * size);
  for (unsigned int i = 0; i < size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xF];
  }
  return hex;
}

std::string SnapshotText(const Paper& paper) {
  JsonWriter json;
  json.BeginObject();
  json.Key("key").String(paper.key);
  json.Key("title").String(paper.title);
  json.Key("url").String(paper.url);
  if (!paper.authors.empty()) json.Key("authors").StringArray(paper.authors);
  if (paper.authors_truncated) json.Key("authors_truncated").Bool(true);
  if (paper.votes) json.Key("votes").Int(*paper.votes);
  if (!paper.media_url.empty()) json.Key("media_url").String(paper.media_url);
  if (!paper.summary.empty()) json.Key("summary").StringArray(paper.summary);
  if (!paper.tags.empty()) json.Key("tags").StringArray(paper.tags);
  if (!paper.version.empty()) json.Key("version").String(paper.version);
  if (!paper.extra.empty()) {
    json.Key("extra").BeginObject();
    for (const auto& [name, value] : paper.extra) json.Key(name).String(value);
    json.EndObject();
  }
  json.EndObject();
  return json.Take();
}

void StateStore::DbDeleter::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

StateStore::StateStore(sqlite3* db) : db_(db) {}
StateStore::~StateStore() = default;

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::string& path, bool read_only) {
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
  std::unique_ptr<StateStore> store(new StateStore(raw));
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
  if (!read_only) {
    // 16 KiB pages for a new file (an existing one keeps its own): paper snapshots are
    // about 1.4 KB each, and a 4 KiB page holds two of them with a third of it unused.
    if (auto st = store->Exec("PRAGMA page_size=16384"); !st) {
      return Unexpected(path + ": " + st.error().message);
    }
    if (auto st = SetWalMode(raw); !st) return Unexpected(path + ": " + st.error().message);
    // A 4 MiB page cache: twice the default, which a large first run (10k papers) thrashes.
    // 16 MiB cost the same CPU time (dirty pages beyond the cache spill to the WAL, which a
    // commit writes anyway) and 10 MB more peak memory (issue 12). secure_delete (Debian's
    // default, said here for every build): what is deleted or pruned is zeroed, not left in
    // the file.
    for (const char* pragma : {"PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON",
                               "PRAGMA cache_size=-4096", "PRAGMA secure_delete=ON"}) {
      if (auto st = store->Exec(pragma); !st) return Unexpected(path + ": " + st.error().message);
    }
    if (auto st = store->Migrate(); !st) return Unexpected(path + ": " + st.error().message);
  } else if (const int version = store->SchemaVersion(); version != kSchemaVersion) {
    // A read-only open never migrates: a reader must not change what a writer owns.
    return Unexpected(path + ": state database has schema version " + std::to_string(version) +
                      (version > kSchemaVersion
                           ? ", newer than this digestd (" + std::to_string(kSchemaVersion) + ")"
                           : ", older than this digestd (" + std::to_string(kSchemaVersion) +
                                 "); `digestd once` or `digestd run` upgrades it"));
  }
  return store;
}

Status StateStore::Exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : sqlite3_errmsg(db_.get());
    sqlite3_free(message);
    return Unexpected(text);
  }
  return Ok();
}

void StateStore::SetBusyTimeout(int milliseconds) { sqlite3_busy_timeout(db_.get(), milliseconds); }

void StateStore::ReleaseMemory() { sqlite3_db_release_memory(db_.get()); }

Status StateStore::LimitPages(std::int64_t pages) {
  const std::string pragma = "PRAGMA max_page_count=" + std::to_string(pages);
  return Exec(pragma.c_str());
}

int StateStore::SchemaVersion() const {
  Stmt s(db_.get(), "PRAGMA user_version");
  return s.ok() && s.Step() == SQLITE_ROW ? int(s.Int(0)) : -1;
}

Status StateStore::Migrate() {
  constexpr int kWant = int(std::size(kMigrations));
  static_assert(kWant == kSchemaVersion);
  // The version is read inside the exclusive transaction that migrates: two processes
  // opening one new file at once migrate it once, the second waiting for the first.
  if (SchemaVersion() == kWant) return Ok();  // the common case, without a write lock
  Transaction txn(db_.get(), "BEGIN EXCLUSIVE");
  if (!txn.ok()) return Unexpected(std::string("migration: ") + sqlite3_errmsg(db_.get()));
  const int have = SchemaVersion();
  // Rows this migration drops may hold secrets (fetch_state URLs before schema 6); Open
  // turned secure_delete on, so their pages are zeroed, not left free in the file.
  const bool drops_secrets = have < kFirstSchemaWithoutUrls;
  if (have > kWant) {
    return Unexpected("state database has schema version " + std::to_string(have) +
                      ", newer than this digestd (" + std::to_string(kWant) +
                      "); use a newer digestd or another state file");
  }
  for (int step = have; step < kWant; ++step) {
    const Migration& m = kMigrations[step];
    Status st = Exec(m.sql);
    if (st && m.convert) st = m.convert(db_.get());
    if (st && m.after) st = Exec(m.after);
    if (!st) {
      return Unexpected("migration to schema " + std::to_string(step + 1) + ": " +
                        st.error().message);
    }
  }
  if (have == kWant) return Ok();
  const std::string bump = "PRAGMA user_version=" + std::to_string(kWant);
  if (auto st = Exec(bump.c_str()); !st) return st;
  if (auto st = txn.Commit(); !st) return st;
  if (!drops_secrets) return Ok();
  // The zeroed pages reach the file now, and the WAL that held them is emptied.
  return Exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

Result<SourceState> StateStore::GetSourceState(const std::string& source) {
  Stmt s(db_.get(),
         "SELECT first_run_at, last_success_at, last_success_date, failures, last_error, "
         "failing_since, alerted, retry_at FROM sources WHERE name = ?");
  if (!s.ok()) return Unexpected(s.Fail("read source state"));
  s.Bind(source);
  SourceState state;
  const int rc = s.Step();
  if (rc == SQLITE_ROW) {
    state.first_run_at = s.OptInt(0);
    state.last_success_at = s.OptInt(1);
    state.last_success_date = s.Text(2);
    state.failures = int(s.Int(3));
    state.last_error = s.Text(4);
    state.failing_since = s.OptInt(5);
    state.alerted = s.Int(6) != 0;
    state.retry_at = s.OptInt(7);
  } else if (rc != SQLITE_DONE) {
    return Unexpected(s.Fail("read source state"));
  }
  return state;
}

Result<std::map<std::string, int>> StateStore::OutboxCounts() {
  Stmt s(db_.get(), "SELECT state, count(*) FROM outbox GROUP BY state");
  if (!s.ok()) return Unexpected(s.Fail("read outbox"));
  std::map<std::string, int> counts;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) counts[s.Text(0)] = int(s.Int(1));
  if (rc != SQLITE_DONE) return Unexpected(s.Fail("read outbox"));
  return counts;
}

Result<std::map<std::string, int>> StateStore::WaitingByNotifier() {
  Stmt s(db_.get(),
         "SELECT notifier, count(*) FROM outbox WHERE state IN ('pending', 'sending') "
         "GROUP BY notifier");
  if (!s.ok()) return Unexpected(s.Fail("read outbox"));
  std::map<std::string, int> counts;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) counts[s.Text(0)] = int(s.Int(1));
  if (rc != SQLITE_DONE) return Unexpected(s.Fail("read outbox"));
  return counts;
}

Result<std::optional<FetchValidators>> StateStore::GetValidators(const std::string& source,
                                                                 const std::string& url) {
  Stmt s(db_.get(),
         "SELECT etag, last_modified, body_hash FROM fetch_state WHERE source = ? AND url_id = ?");
  if (!s.ok()) return Unexpected(s.Fail("read fetch state"));
  s.Bind(source).Bind(UrlId(url));
  const int rc = s.Step();
  if (rc == SQLITE_DONE) return std::optional<FetchValidators>();
  if (rc != SQLITE_ROW) return Unexpected(s.Fail("read fetch state"));
  return std::optional<FetchValidators>(
      FetchValidators{.etag = s.Text(0), .last_modified = s.Text(1), .body_hash = s.Text(2)});
}

Result<std::map<std::string, PriorSighting>> StateStore::LoadPriorSightings(
    const std::string& source, const std::vector<std::string>& keys) {
  Stmt s(db_.get(),
         "SELECT s.paper_key, s.content_hash, s.votes, s.version, "
         "json_extract(p.paper, '$.title') FROM sightings s JOIN snapshots p ON p.id = s.snapshot "
         "WHERE s.source = ? AND s.paper_key IN (SELECT value FROM json_each(?))");
  if (!s.ok()) return Unexpected(s.Fail("read sightings"));
  s.Bind(source).Bind(KeysJson(keys));
  std::map<std::string, PriorSighting> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    PriorSighting p{.content_hash = s.Text(1), .version = s.Text(3), .title = s.Text(4)};
    if (auto v = s.OptInt(2)) p.votes = int(*v);
    out.emplace(s.Text(0), std::move(p));
  }
  if (rc != SQLITE_DONE) return Unexpected(s.Fail("read sightings"));
  return out;
}

Result<std::vector<StoredSighting>> StateStore::LoadSightings(const std::string& date,
                                                              const std::string& paper_key) {
  Stmt s(db_.get(),
         "SELECT s.source, s.date, p.paper, s.first_seen FROM sightings s "
         "JOIN snapshots p ON p.id = s.snapshot "
         "WHERE (?1 = '' OR s.date = ?1) AND (?2 = '' OR s.paper_key = ?2) "
         "ORDER BY s.source, s.paper_key");
  if (!s.ok()) return Unexpected(s.Fail("read sightings"));
  s.Bind(date).Bind(paper_key);
  std::vector<StoredSighting> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    auto paper = ParseSnapshot(s.TextView(2));
    if (!paper) continue;  // written by us; skip rather than fail a read
    out.push_back(StoredSighting{
        .source = s.Text(0), .date = s.Text(1), .paper = std::move(*paper), .first_seen = s.Int(3)});
  }
  if (rc != SQLITE_DONE) return Unexpected(s.Fail("read sightings"));
  return out;
}

Result<std::vector<Paper>> StateStore::RecentPapers(const std::string& source, int limit) {
  Stmt s(db_.get(),
         "SELECT p.paper FROM sightings s JOIN snapshots p ON p.id = s.snapshot "
         "WHERE s.source = ? ORDER BY s.seen_at DESC LIMIT ?");
  if (!s.ok()) return Unexpected(s.Fail("read sightings"));
  s.Bind(source).Bind(std::int64_t(limit));
  std::vector<Paper> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    if (auto paper = ParseSnapshot(s.TextView(0))) out.push_back(std::move(*paper));
  }
  if (rc != SQLITE_DONE) return Unexpected(s.Fail("read sightings"));
  return out;
}

Result<std::map<std::string, std::string>> StateStore::KeysByUrl(
    const std::string& source, const std::vector<std::string>& urls) {
  Stmt s(db_.get(),
         "SELECT url, paper_key FROM sightings "
         "WHERE source = ? AND url IN (SELECT value FROM json_each(?))");
  if (!s.ok()) return Unexpected(s.Fail("read sightings"));
  s.Bind(source).Bind(KeysJson(urls));
  std::map<std::string, std::string> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.emplace(s.Text(0), s.Text(1));
  if (rc != SQLITE_DONE) return Unexpected(s.Fail("read sightings"));
  return out;
}

Result<std::set<std::string>> StateStore::LoadNotified(const std::vector<std::string>& keys) {
  Stmt s(db_.get(),
         "SELECT n.key, w.value FROM notified_sets AS n, json_each(n.watches) AS w "
         "WHERE n.paper_key IN (SELECT value FROM json_each(?))");
  if (!s.ok()) return Unexpected(s.Fail("read notified"));
  s.Bind(KeysJson(keys));
  std::set<std::string> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    std::optional<DedupeKey> key = DedupeKey::Decode(s.Text(0));
    if (!key) continue;  // not a key digestd wrote
    key->watches = {s.Text(1)};
    out.insert(key->Encode());
  }
  if (rc != SQLITE_DONE) return Unexpected(s.Fail("read notified"));
  return out;
}

Status StateStore::CommitDigest(const DigestCommit& c) {
  sqlite3* db = db_.get();
  Transaction txn(db);
  if (!txn.ok()) return Unexpected(std::string("begin: ") + sqlite3_errmsg(db));

  Stmt paper(db,
             "INSERT INTO papers(key, first_seen, first_source) VALUES(?, ?, ?) "
             "ON CONFLICT(key) DO NOTHING");
  // A sighting that says what it said before is left alone, but for `seen_at`, which is
  // brought forward at most once a day (Prune reads it; a daily write is enough for that).
  Stmt sighting(db,
                "INSERT INTO sightings(paper_key, source, date, url, votes, version, snapshot, "
                "content_hash, first_seen, seen_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(paper_key, source) DO UPDATE SET date = excluded.date, "
                "url = excluded.url, votes = excluded.votes, version = excluded.version, "
                "snapshot = excluded.snapshot, content_hash = excluded.content_hash, "
                "seen_at = excluded.seen_at WHERE snapshot != excluded.snapshot OR "
                "date != excluded.date OR seen_at < excluded.seen_at - 86400");
  SnapshotWriter snapshots(db);
  for (std::size_t i = 0; i < c.papers.size(); ++i) {
    const Paper& p = c.papers[i];
    const bool hashed = i < c.content_hashes.size() && !c.content_hashes[i].empty();
    paper.Reset();
    paper.Bind(p.key).Bind(c.now).Bind(c.source);
    if (auto st = Run(paper, "record paper " + p.key); !st) return st;
    auto snapshot = snapshots.Intern(p);
    if (!snapshot) return Unexpected(snapshot.error());
    sighting.Reset();
    sighting.Bind(p.key).Bind(c.source).Bind(c.date).Bind(p.url);
    sighting.BindOptional(p.votes ? std::optional<std::int64_t>(*p.votes) : std::nullopt);
    sighting.Bind(p.version).Bind(*snapshot);
    sighting.Bind(hashed ? c.content_hashes[i] : SightingContentHash(p));
    sighting.Bind(c.now).Bind(c.now);
    if (auto st = Run(sighting, "record sighting " + p.key); !st) return st;
  }
  // The notified marks grouped by their set (all but the watch), merged into the stored set.
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> sets;
  for (const DedupeKey& key : c.notified) {
    auto& [paper_key, watches] = sets[key.Set().Encode()];
    paper_key = key.paper_key;
    watches.insert(watches.end(), key.watches.begin(), key.watches.end());
  }
  Stmt notified(db,
                "INSERT INTO notified_sets(key, paper_key, watches, created_at) "
                "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(key) DO UPDATE SET watches = "
                "(SELECT json_group_array(value) FROM (SELECT value FROM "
                "json_each(notified_sets.watches) UNION SELECT value FROM json_each(?3)))");
  for (const auto& [set_key, set] : sets) {
    notified.Reset();
    notified.Bind(set_key).Bind(set.first).Bind(KeysJson(set.second)).Bind(c.now);
    if (auto st = Run(notified, "record notified"); !st) return st;
  }
  if (auto st = InsertOutbox(db, c.notifications, c.now, snapshots); !st) return st;
  if (auto st = InsertHeld(db, c.held, c.now, snapshots); !st) return st;
  Stmt fetch(db,
             "INSERT INTO fetch_state(source, url_id, etag, last_modified, body_hash, "
             "last_success) VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(source, url_id) DO UPDATE SET "
             "etag = excluded.etag, last_modified = excluded.last_modified, "
             "body_hash = excluded.body_hash, last_success = excluded.last_success");
  fetch.Bind(c.source).Bind(UrlId(c.url)).Bind(c.validators.etag).Bind(c.validators.last_modified);
  fetch.Bind(c.validators.body_hash).Bind(c.now);
  if (auto st = Run(fetch, "record fetch state"); !st) return st;
  if (auto st = RecordSourceSuccess(c.source, c.date, c.now, true); !st) return st;
  return txn.Commit();
}

Status StateStore::RecordSourceSuccess(const std::string& source, const std::string& date,
                                       std::int64_t now, bool published) {
  Stmt s(db_.get(),
         "INSERT INTO sources(name, last_success_at, last_success_date, failures, last_error) "
         "VALUES(?1, ?2, CASE WHEN ?4 THEN ?3 ELSE '' END, 0, '') "
         "ON CONFLICT(name) DO UPDATE SET last_success_at = ?2, failures = 0, last_error = '', "
         "failing_since = NULL, alerted = 0, retry_at = NULL, "
         "last_success_date = CASE WHEN ?4 AND ?3 > last_success_date THEN ?3 "
         "ELSE last_success_date END");
  if (!s.ok()) return Unexpected(s.Fail("record source success"));
  s.Bind(source).Bind(now).Bind(date).Bind(std::int64_t(published ? 1 : 0));
  return Run(s, "record source success");
}

Status StateStore::RecordFetchFailure(const std::string& source, const std::string& error,
                                      const SourceHealth& health, std::int64_t retry_at,
                                      const std::vector<Notification>& alerts, std::int64_t now) {
  Transaction txn(db_.get());
  if (!txn.ok()) return Unexpected(std::string("begin: ") + sqlite3_errmsg(db_.get()));
  Stmt s(db_.get(),
         "INSERT INTO sources(name, failures, last_error, failing_since, alerted, retry_at) "
         "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(name) DO UPDATE SET failures = ?2, "
         "last_error = ?3, failing_since = ?4, alerted = ?5, retry_at = ?6");
  s.Bind(source).Bind(std::int64_t(health.failures)).Bind(error);
  s.BindOptional(health.failing_since).Bind(std::int64_t(health.alerted ? 1 : 0)).Bind(retry_at);
  if (auto st = Run(s, "record source failure"); !st) return st;
  SnapshotWriter snapshots(db_.get());
  if (auto st = InsertOutbox(db_.get(), alerts, now, snapshots); !st) return st;
  return txn.Commit();
}

Status StateStore::QueueNotifications(const std::vector<Notification>& notifications,
                                      std::int64_t now) {
  Transaction txn(db_.get());
  if (!txn.ok()) return Unexpected(std::string("begin: ") + sqlite3_errmsg(db_.get()));
  SnapshotWriter snapshots(db_.get());
  if (auto st = InsertOutbox(db_.get(), notifications, now, snapshots); !st) return st;
  return txn.Commit();
}

Status StateStore::MarkFirstRunDone(const std::string& source, std::int64_t now) {
  Stmt s(db_.get(),
         "INSERT INTO sources(name, first_run_at) VALUES(?1, ?2) "
         "ON CONFLICT(name) DO UPDATE SET first_run_at = COALESCE(first_run_at, ?2)");
  s.Bind(source).Bind(now);
  return Run(s, "record first run");
}

Result<std::vector<OutboxRow>> StateStore::DueOutbox(std::int64_t now, int limit) {
  const std::string sql = std::string("SELECT ") + kOutboxColumns +
                          " FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? "
                          "ORDER BY created_at, rowid LIMIT ?";
  Stmt s(db_.get(), sql.c_str());
  if (!s.ok()) return Unexpected(s.Fail("read outbox"));
  s.Bind(now).Bind(std::int64_t(limit));
  return ReadOutboxRows(db_.get(), s, "read outbox");
}

Result<std::optional<std::int64_t>> StateStore::NextAttemptAt(
    std::int64_t now, const std::function<bool(const std::string&)>& owner_alive,
    const std::vector<std::string>* notifiers) {
  const std::string only = notifiers ? KeysJson(*notifiers) : std::string();
  // ?1: the notifiers as a JSON array, or NULL for every notifier.
  constexpr const char* kOfThem =
      " AND (?1 IS NULL OR notifier IN (SELECT value FROM json_each(?1)))";
  const auto bind_notifiers = [&](Stmt& stmt) {
    if (notifiers) {
      stmt.Bind(only);
    } else {
      stmt.BindOptional(std::nullopt);
    }
  };
  if (owner_alive) {
    const std::string sql = std::string(
                                "SELECT DISTINCT lease_owner FROM outbox WHERE "
                                "state = 'sending' AND lease_until > ?2") +
                            kOfThem;
    Stmt owners(db_.get(), sql.c_str());
    if (!owners.ok()) return Unexpected(owners.Fail("read outbox"));
    bind_notifiers(owners);
    owners.Bind(now);
    int rc;
    while ((rc = owners.Step()) == SQLITE_ROW) {
      if (!owner_alive(owners.Text(0))) return std::optional<std::int64_t>(now);
    }
    if (rc != SQLITE_DONE) return Unexpected(owners.Fail("read outbox"));
  }
  const std::string sql =
      std::string(
          "SELECT min(CASE state WHEN 'pending' THEN next_attempt_at ELSE lease_until "
          "END) FROM outbox WHERE state IN ('pending', 'sending')") +
      kOfThem;
  Stmt s(db_.get(), sql.c_str());
  if (!s.ok()) return Unexpected(s.Fail("read outbox"));
  bind_notifiers(s);
  if (s.Step() != SQLITE_ROW) return Unexpected(s.Fail("read outbox"));
  return s.OptInt(0);
}

Result<std::vector<OutboxRow>> StateStore::ClaimDue(
    const std::string& notifier, std::int64_t now, int limit, const std::string& owner,
    std::int64_t lease_until, const std::function<bool(const std::string&)>& owner_alive) {
  return ClaimDue({ClaimRequest{.notifier = notifier, .limit = limit, .lease_until = lease_until}},
                  now, owner, owner_alive);
}

Result<std::vector<OutboxRow>> StateStore::ClaimDue(
    const std::vector<ClaimRequest>& requests, std::int64_t now, const std::string& owner,
    const std::function<bool(const std::string&)>& owner_alive) {
  std::vector<OutboxRow> rows;
  if (requests.empty()) return rows;
  Transaction txn(db_.get());
  if (!txn.ok()) return Unexpected(std::string("claim outbox rows: ") + sqlite3_errmsg(db_.get()));
  // Rows held by a process that is gone are due at once, not when their lease runs out.
  {
    Stmt owners(db_.get(),
                "SELECT DISTINCT lease_owner FROM outbox WHERE state = 'sending' AND "
                "lease_owner != ? AND lease_until > ?");
    if (!owners.ok()) return Unexpected(owners.Fail("claim outbox rows"));
    owners.Bind(owner).Bind(now);
    std::vector<std::string> gone;
    int rc;
    while ((rc = owners.Step()) == SQLITE_ROW) {
      std::string who = owners.Text(0);
      if (owner_alive && !owner_alive(who)) gone.push_back(std::move(who));
    }
    if (rc != SQLITE_DONE) return Unexpected(owners.Fail("claim outbox rows"));
    Stmt expire(db_.get(),
                "UPDATE outbox SET lease_until = ? WHERE state = 'sending' AND lease_owner = ?");
    for (const std::string& who : gone) {
      expire.Reset();
      expire.Bind(now).Bind(who);
      if (auto st = Run(expire, "claim outbox rows"); !st) return Unexpected(st.error());
    }
  }
  std::vector<OutboxRow> raw;
  std::vector<std::string> messages;
  std::vector<std::int64_t> rowids;  // of each claimed row, in the order of `raw`
  const auto read = [&](Stmt& s) -> Status {
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      messages.emplace_back();
      raw.push_back(ReadOutboxRow(s, messages.back()));
      rowids.push_back(s.Int(kOutboxColumnCount));
    }
    if (rc != SQLITE_DONE) return Unexpected(s.Fail("claim outbox rows"));
    return Ok();
  };
  if (requests.size() > kClaimByRanking) {
    // Many notifiers (a fan-out): one statement for all, each notifier's due rows ranked
    // oldest first and the first `limit` of each claimed with its lease.
    const std::string sql =
        std::string(
            "WITH req AS (SELECT json_extract(value, '$[0]') AS notifier, "
            "json_extract(value, '$[1]') AS lim, json_extract(value, '$[2]') AS lease "
            "FROM json_each(?3)), "
            "ranked AS (SELECT o.id AS rid, req.lease AS lease, req.lim AS lim, "
            "row_number() OVER (PARTITION BY o.notifier "
            "ORDER BY o.next_attempt_at, o.created_at, o.rowid) AS rn "
            "FROM outbox o JOIN req ON o.notifier = req.notifier "
            "WHERE (o.state = 'pending' AND o.next_attempt_at <= ?2) OR "
            "(o.state = 'sending' AND o.lease_until <= ?2 AND o.lease_owner != ?1)) "
            "UPDATE outbox SET state = 'sending', lease_owner = ?1, lease_until = ranked.lease "
            "FROM ranked WHERE outbox.id = ranked.rid AND ranked.rn <= ranked.lim RETURNING ") +
        kOutboxColumns + ", rowid";
    Stmt s(db_.get(), sql.c_str());
    if (!s.ok()) return Unexpected(s.Fail("claim outbox rows"));
    JsonWriter wanted;
    wanted.BeginArray();
    for (const ClaimRequest& r : requests) {
      wanted.BeginArray().String(r.notifier).Int(r.limit).Int(r.lease_until).EndArray();
    }
    wanted.EndArray();
    s.Bind(owner).Bind(now).Bind(wanted.str());
    if (auto st = read(s); !st) return Unexpected(st.error());
  } else {
    // Few notifiers, perhaps with long queues: per request, the index (notifier, state,
    // next_attempt_at, created_at) yields its due rows in order, so a claim reads about
    // `limit` rows however many wait. Rows another process held until its lease ran out are
    // claimed too; most of the time there are none, and the simpler statement serves.
    Stmt any(db_.get(),
             "SELECT EXISTS(SELECT 1 FROM outbox WHERE state = 'sending' AND "
             "lease_owner != ?1 AND lease_until <= ?2)");
    any.Bind(owner).Bind(now);
    if (!any.ok() || any.Step() != SQLITE_ROW) return Unexpected(any.Fail("claim outbox rows"));
    const bool expired = any.Int(0) != 0;
    // Parameters: ?1 owner, ?2 notifier, ?3 now, ?4 lease_until, ?5 limit.
    constexpr const char* kPending =
        "SELECT rowid AS r, next_attempt_at AS n, created_at AS c FROM outbox "
        "WHERE notifier = ?2 AND state = 'pending' AND next_attempt_at <= ?3 "
        "ORDER BY next_attempt_at, created_at, rowid LIMIT ?5";
    constexpr const char* kExpired =
        "SELECT rowid AS r, next_attempt_at AS n, created_at AS c FROM outbox "
        "WHERE notifier = ?2 AND state = 'sending' AND lease_until <= ?3 AND lease_owner != ?1 "
        "ORDER BY next_attempt_at, created_at, rowid LIMIT ?5";
    const std::string due =
        expired ? std::string("SELECT r FROM (SELECT * FROM (") + kPending +
                      ") UNION ALL SELECT * FROM (" + kExpired + ")) ORDER BY n, c, r LIMIT ?5"
                : std::string("SELECT r FROM (") + kPending + ")";
    const std::string sql = "UPDATE outbox SET state = 'sending', lease_owner = ?1, "
                            "lease_until = ?4 WHERE rowid IN (" +
                            due + ") RETURNING " + kOutboxColumns + ", rowid";
    Stmt s(db_.get(), sql.c_str());
    if (!s.ok()) return Unexpected(s.Fail("claim outbox rows"));
    for (const ClaimRequest& r : requests) {
      s.Reset();
      s.Bind(owner).Bind(r.notifier).Bind(now).Bind(r.lease_until).Bind(std::int64_t(r.limit));
      if (auto st = read(s); !st) return Unexpected(st.error());
    }
  }
  if (auto st = ResolveMessages(db_.get(), raw, messages); !st) return Unexpected(st.error());
  // RETURNING gives rows in no particular order: group them by request, and within each
  // deliver the oldest first, rows queued in the same second in the order they were queued.
  std::map<std::string, std::size_t> order;
  for (const ClaimRequest& r : requests) order.emplace(r.notifier, order.size());
  std::vector<std::size_t> rank;  // request order of each claimed row
  for (const OutboxRow& row : raw) rank.push_back(order[row.notifier]);
  std::vector<std::size_t> sorted(raw.size());
  for (std::size_t i = 0; i < sorted.size(); ++i) sorted[i] = i;
  const std::vector<OutboxRow>& c = raw;
  std::sort(sorted.begin(), sorted.end(), [&](std::size_t a, std::size_t b) {
    return std::tie(rank[a], c[a].next_attempt_at, c[a].created_at, rowids[a]) <
           std::tie(rank[b], c[b].next_attempt_at, c[b].created_at, rowids[b]);
  });
  rows.reserve(sorted.size());
  for (std::size_t i : sorted) rows.push_back(std::move(raw[i]));
  if (auto st = txn.Commit(); !st) return Unexpected("claim outbox rows: " + st.error().message);
  return rows;
}

Status StateStore::RecordDeliveries(const std::vector<DeliveryResult>& results,
                                    const std::string& owner, std::int64_t now) {
  if (results.empty()) return Ok();
  Transaction txn(db_.get());
  if (!txn.ok()) return Unexpected(std::string("record deliveries: ") + sqlite3_errmsg(db_.get()));
  Stmt s(db_.get(),
         "UPDATE outbox SET "
         "state = CASE ?1 WHEN 0 THEN 'sent' WHEN 2 THEN 'dead' ELSE 'pending' END, "
         "attempts = attempts + (?1 != 3), "
         // Parts the target accepted stay accepted, whatever the row's fate: a released or
         // retried row resumes after them.
         "parts_sent = max(parts_sent, ?2), "
         "remote_id = CASE WHEN ?3 = '' THEN remote_id ELSE ?3 END, "
         "last_error = CASE WHEN ?1 = 0 THEN '' WHEN ?1 = 3 AND ?4 = '' THEN last_error "
         "ELSE ?4 END, "
         "sent_at = CASE ?1 WHEN 0 THEN ?5 ELSE sent_at END, "
         "next_attempt_at = CASE WHEN ?1 IN (1, 3) THEN ?6 ELSE next_attempt_at END, "
         "lease_owner = NULL, lease_until = NULL "
         "WHERE id = ?7 AND state = 'sending' AND lease_owner = ?8");
  for (const DeliveryResult& r : results) {
    s.Reset();
    s.Bind(std::int64_t(r.kind)).Bind(std::int64_t(r.parts_sent)).Bind(r.remote_id);
    s.Bind(r.error).Bind(now).Bind(r.next_attempt_at).Bind(r.id).Bind(owner);
    if (auto st = Run(s, "record delivery of " + r.id); !st) return st;
  }
  if (auto st = txn.Commit(); !st) return Unexpected("record deliveries: " + st.error().message);
  return Ok();
}

Status StateStore::ReleaseClaims(const std::string& owner) {
  Stmt s(db_.get(),
         "UPDATE outbox SET state = 'pending', lease_owner = NULL, lease_until = NULL "
         "WHERE state = 'sending' AND lease_owner = ?");
  s.Bind(owner);
  return Run(s, "release claimed rows");
}

Result<std::vector<OutboxRow>> StateStore::ListOutbox(const std::string& state,
                                                      const std::string& notifier, int limit) {
  const std::string sql = std::string("SELECT ") + kOutboxColumns +
                          " FROM outbox WHERE (?1 = '' OR state = ?1) AND "
                          "(?2 = '' OR notifier = ?2) "
                          "ORDER BY created_at DESC, rowid DESC LIMIT ?3";
  Stmt s(db_.get(), sql.c_str());
  if (!s.ok()) return Unexpected(s.Fail("read outbox"));
  s.Bind(state).Bind(notifier).Bind(std::int64_t(limit));
  return ReadOutboxRows(db_.get(), s, "read outbox");
}

Result<std::vector<OutboxRow>> StateStore::FindOutbox(const std::string& prefix) {
  // A range on the id index (U+10FFFF sorts after every character an id can hold), not a
  // scan of the whole outbox: highlights look a post up by id at every job.
  const std::string sql =
      std::string("SELECT ") + kOutboxColumns +
      " FROM outbox WHERE id >= ?1 AND id < ?1 || char(1114111) ORDER BY id LIMIT 2";
  Stmt s(db_.get(), sql.c_str());
  if (!s.ok()) return Unexpected(s.Fail("read outbox"));
  s.Bind(prefix);
  return ReadOutboxRows(db_.get(), s, "read outbox");
}

Result<bool> StateStore::RetryNow(const std::string& id, std::int64_t now) {
  Stmt s(db_.get(),
         "UPDATE outbox SET state = 'pending', next_attempt_at = ?1, attempts = 0, "
         "created_at = CASE state WHEN 'dead' THEN ?1 ELSE created_at END "
         "WHERE id = ?2 AND state IN ('pending', 'dead')");
  s.Bind(now).Bind(id);
  if (auto st = Run(s, "retry " + id); !st) return Unexpected(st.error());
  return sqlite3_changes(db_.get()) > 0;
}

Result<int> StateStore::RetryDead(const std::string& notifier, std::int64_t now) {
  Stmt s(db_.get(),
         "UPDATE outbox SET state = 'pending', next_attempt_at = ?1, attempts = 0, "
         "created_at = ?1 WHERE state = 'dead' AND (?2 = '' OR notifier = ?2)");
  s.Bind(now).Bind(notifier);
  if (auto st = Run(s, "retry dead rows"); !st) return Unexpected(st.error());
  return sqlite3_changes(db_.get());
}

Result<int> StateStore::DropDead(const std::string& notifier) {
  Stmt s(db_.get(), "DELETE FROM outbox WHERE state = 'dead' AND (?1 = '' OR notifier = ?1)");
  s.Bind(notifier);
  if (auto st = Run(s, "drop dead rows"); !st) return Unexpected(st.error());
  return sqlite3_changes(db_.get());
}

namespace {

constexpr const char* kHealthColumns =
    "notifier, disabled_fingerprint, disabled_reason, disabled_at, failing_since, alerted";

NotifierHealth ReadHealth(const Stmt& s) {
  return NotifierHealth{.disabled_fingerprint = s.Text(1),
                        .disabled_reason = s.Text(2),
                        .disabled_at = s.OptInt(3),
                        .failing_since = s.OptInt(4),
                        .alerted = s.Int(5) != 0};
}

}  // namespace

Result<NotifierHealth> StateStore::GetNotifierHealth(const std::string& notifier) {
  const std::string sql =
      std::string("SELECT ") + kHealthColumns + " FROM notifier_health WHERE notifier = ?";
  Stmt s(db_.get(), sql.c_str());
  if (!s.ok()) return Unexpected(s.Fail("read notifier health"));
  s.Bind(notifier);
  const int rc = s.Step();
  if (rc == SQLITE_ROW) return ReadHealth(s);
  if (rc != SQLITE_DONE) return Unexpected(s.Fail("read notifier health"));
  return NotifierHealth{};
}

Result<std::map<std::string, NotifierHealth>> StateStore::LoadNotifierHealth() {
  const std::string sql = std::string("SELECT ") + kHealthColumns + " FROM notifier_health";
  Stmt s(db_.get(), sql.c_str());
  if (!s.ok()) return Unexpected(s.Fail("read notifier health"));
  std::map<std::string, NotifierHealth> all;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) all.emplace(s.Text(0), ReadHealth(s));
  if (rc != SQLITE_DONE) return Unexpected(s.Fail("read notifier health"));
  return all;
}

Status StateStore::PutNotifierHealth(const std::string& notifier, const NotifierHealth& h) {
  Stmt s(db_.get(),
         "INSERT OR REPLACE INTO notifier_health(notifier, disabled_fingerprint, "
         "disabled_reason, disabled_at, failing_since, alerted) VALUES(?, ?, ?, ?, ?, ?)");
  s.Bind(notifier).Bind(h.disabled_fingerprint).Bind(h.disabled_reason);
  s.BindOptional(h.disabled_at).BindOptional(h.failing_since).Bind(std::int64_t(h.alerted));
  return Run(s, "record notifier health");
}

Result<bool> StateStore::Drop(const std::string& id) {
  Stmt s(db_.get(), "DELETE FROM outbox WHERE id = ?");
  s.Bind(id);
  if (auto st = Run(s, "drop " + id); !st) return Unexpected(st.error());
  return sqlite3_changes(db_.get()) > 0;
}

Status StateStore::BackupTo(const std::string& path) {
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

Status StateStore::InTransaction(const std::function<Status()>& body) {
  Transaction txn(db_.get());
  if (!txn.ok()) return Unexpected(std::string("begin: ") + sqlite3_errmsg(db_.get()));
  if (auto st = body(); !st) return st;
  return txn.Commit();
}

Result<std::vector<HeldMatch>> StateStore::HeldFor(const std::string& watch,
                                                   const std::string& notifier,
                                                   std::int64_t before) {
  Stmt s(db_.get(),
         "SELECT id, dedupe_key, event, message, created_at FROM digest_held WHERE watch = ? "
         "AND notifier = ? AND created_at < ? ORDER BY created_at, id");
  if (!s.ok()) return Unexpected(s.Fail("read held matches"));
  s.Bind(watch).Bind(notifier).Bind(before);
  std::vector<OutboxRow> rows;
  std::vector<std::string> messages;
  std::vector<HeldMatch> held;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    HeldMatch h{.row = s.Int(0), .watch = watch, .created_at = s.Int(4)};
    h.notification.notifier = notifier;
    h.notification.dedupe_key = s.Text(1);
    h.notification.event = s.Text(2);
    messages.push_back(s.Text(3));
    held.push_back(std::move(h));
    rows.push_back(OutboxRow{.id = "held " + std::to_string(held.back().row)});
  }
  if (rc != SQLITE_DONE) return Unexpected(s.Fail("read held matches"));
  if (auto st = ResolveMessages(db_.get(), rows, messages); !st) return Unexpected(st.error());
  for (std::size_t i = 0; i < held.size(); ++i) {
    if (!rows[i].unreadable.empty()) return Unexpected(rows[i].unreadable);
    Notification& n = held[i].notification;
    n.watches = std::move(rows[i].notification.watches);
    n.papers = std::move(rows[i].notification.papers);
    n.source = std::move(rows[i].notification.source);
    n.digest_url = std::move(rows[i].notification.digest_url);
  }
  return held;
}

Result<bool> StateStore::TakeHeld(const std::vector<std::int64_t>& rows, const Notification& digest,
                                  std::int64_t now) {
  sqlite3* db = db_.get();
  Transaction txn(db, "BEGIN IMMEDIATE");
  if (!txn.ok()) return Unexpected(std::string("begin: ") + sqlite3_errmsg(db));
  Stmt take(db, "DELETE FROM digest_held WHERE id = ?");
  for (std::int64_t row : rows) {
    take.Reset();
    take.Bind(row);
    if (auto st = Run(take, "take held matches"); !st) return Unexpected(st.error());
    if (sqlite3_changes(db) != 1) return false;  // taken by another process: roll back
  }
  SnapshotWriter snapshots(db);
  if (auto st = InsertOutbox(db, {digest}, now, snapshots); !st) return Unexpected(st.error());
  // This run's digest went out already (a match committed late): the rows wait for the next.
  if (sqlite3_changes(db) != 1) return false;
  if (auto st = txn.Commit(); !st) return Unexpected(st.error());
  return true;
}

Result<int> StateStore::HeldCount() {
  Stmt s(db_.get(), "SELECT count(*) FROM digest_held");
  if (!s.ok() || s.Step() != SQLITE_ROW) return Unexpected(s.Fail("count held matches"));
  return int(s.Int(0));
}

Status StateStore::Prune(std::int64_t before) {
  Transaction txn(db_.get());
  if (!txn.ok()) return Unexpected(std::string("begin: ") + sqlite3_errmsg(db_.get()));
  Stmt a(db_.get(), "DELETE FROM sightings WHERE seen_at < ?");
  a.Bind(before);
  if (auto st = Run(a, "prune sightings"); !st) return st;
  Stmt b(db_.get(), "DELETE FROM outbox WHERE state IN ('sent', 'dead') AND created_at < ?");
  b.Bind(before);
  if (auto st = Run(b, "prune outbox"); !st) return st;
  // Matches held for a digest that never came (its watch went, or left digest delivery).
  Stmt held(db_.get(), "DELETE FROM digest_held WHERE created_at < ?");
  held.Bind(before);
  if (auto st = Run(held, "prune held matches"); !st) return st;
  // Snapshots no sighting, no outbox message and no held match refers to any more.
  Stmt c(db_.get(),
         "DELETE FROM snapshots WHERE id NOT IN (SELECT snapshot FROM sightings) AND id NOT IN "
         "(SELECT json_extract(p.value, '$.snapshot') FROM outbox, "
         "json_each(outbox.message, '$.papers') AS p) AND id NOT IN "
         "(SELECT json_extract(p.value, '$.snapshot') FROM digest_held, "
         "json_each(digest_held.message, '$.papers') AS p)");
  if (auto st = Run(c, "prune snapshots"); !st) return st;
  return txn.Commit();
}

}  // namespace digestd
