// The SQL a StateStore runs on, behind one small interface with two backends: SQLite (the
// embedded default, store/sqlite_db.cc) and PostgreSQL (shared by several instances,
// store/postgres_db.cc). StateStore holds digestd's logic once; what SQL differs between
// the two (JSON functions, row locks, the claim statement, the schema and its migrations)
// is the backend's, in its Dialect and its migration list. Internal to store/.
//
// Not thread-safe: one Db, and the statements made from it, belong to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/result.h"

namespace digestd::sql {

enum StepResult { kRow, kDone, kError };

// One statement's backend side. Parameters are numbered from 1; a statement may use `?N`
// (the same value in several places) or plain `?` (the next one), as SQLite does.
class Cursor {
 public:
  virtual ~Cursor() = default;
  virtual bool prepared() const = 0;
  // `borrowed`: the caller keeps `value` alive and unchanged until the next Reset or until
  // the statement is destroyed, so a backend may read it in place instead of copying it.
  virtual void BindText(int index, std::string_view value, bool borrowed) = 0;
  // Bytes (compressed snapshots); `borrowed` as for BindText.
  virtual void BindBlob(int index, std::string_view value, bool borrowed) = 0;
  virtual void BindInt(int index, std::int64_t value) = 0;
  // A NULL integer (`typed`), or a NULL whose type the statement decides.
  virtual void BindNull(int index, bool typed) = 0;
  // Runs the statement at the first call; then one row per call.
  virtual StepResult Next() = 0;
  // Ready to bind and run again.
  virtual void Reset() = 0;
  // The current row's columns; a text is valid until the next Next or Reset.
  virtual std::string_view Text(int column) const = 0;
  virtual std::int64_t Int(int column) const = 0;
  virtual bool IsNull(int column) const = 0;
  // Rows the last run inserted, updated or deleted.
  virtual std::int64_t Changes() const = 0;
  virtual std::string ErrorMessage() const = 0;
};

// A schema step: its SQL (none when null), then (when rows must be rewritten in a way SQL
// cannot say) a conversion, then more SQL. A database at a version below `to` runs it.
class Db;
class SnapshotCodec;
struct Migration {
  int to = 0;
  const char* sql = nullptr;
  Status (*convert)(Db& db) = nullptr;
  const char* after = nullptr;
};

// What SQL differs between the backends, as whole statements or fragments. `?N` parameters
// are documented at each.
struct Dialect {
  const char* name;  // "SQLite", "PostgreSQL"
  // Whether several processes, on several hosts, may share the state (not a lock file).
  bool shared;
  // The database's clock in unix milliseconds (leases the database enforces).
  const char* now_ms;
  // How an INSERT tells the id it gave: " RETURNING id" (read as its row), or "" when
  // Db::LastInsertId says it (SQLite: a RETURNING clause costs it a third of an insert).
  const char* returning_id;
  // An INSERT of rows of which any whose key exists is left out, not failed: `add_rows` in
  // place of "INSERT", `add_rows_end` after the VALUES. SQLite's OR IGNORE: a statement of
  // several rows that cannot fail part way keeps no journal to undo its own rows alone (with
  // ON CONFLICT DO NOTHING it may, on a NOT NULL column, and would).
  const char* add_rows;      // "INSERT OR IGNORE" | "INSERT"
  const char* add_rows_end;  // "" | " ON CONFLICT DO NOTHING"
  // Row locks for a SELECT inside a write transaction; empty where the whole database is
  // locked by the transaction already (SQLite).
  const char* lock_shared;     // readers that a takeover must wait for
  const char* lock_exclusive;  // a takeover
  // Run first in a transaction that must not wait long for a row lock; nullptr when none.
  const char* lock_wait_limit;
  // Tells the sessions that listen (Db::Listen) that outbox rows became due, at the commit
  // of the transaction it runs in; nullptr when the backend cannot (SQLite: its one `run`
  // is woken by a signal).
  const char* notify_outbox;
  // A transaction that writes, and the one that migrates (one process at a time).
  const char* begin_write;
  const char* begin_migration;
  // A transaction that reads one consistent snapshot of every table (a whole-state copy).
  const char* begin_snapshot;
  // Run after rows were copied in with their own ids (snapshots, digest_held), so the rows
  // inserted afterwards get ids past them; nullptr where the backend needs nothing (SQLite
  // takes the next id from the largest one).
  const char* after_copy_with_ids;
  // The values of a JSON array of strings bound as ?N, as a one-column row source named
  // `value`: "... IN (SELECT value FROM " + json_values(N) + ")".
  std::string (*json_values)(int parameter);
  // Whether a digest's papers, snapshots and sightings are written a table at a time (one
  // statement each over JSON arrays: where a statement costs a round trip) rather than a
  // row at a time (SQLite, where a row costs less than its JSON).
  bool bulk_commit;
  // A JSON array of objects bound as ?N, as a row source named `r` with `columns` ("name
  // type, ..."): "... FROM " + json_records(N, columns). Where bulk_commit is set.
  std::string (*json_records)(int parameter, const char* columns);
  // SELECT id, paper FROM snapshots for the ids in the JSON array ?1.
  const char* snapshots_by_ids;
  // ?1 source, ?2 JSON array of paper keys: paper_key, content_hash, votes, version, title.
  const char* prior_sightings;
  // ?1 JSON array of paper keys: the key of each notified set and one of its watches.
  const char* notified_watches;
  // Upsert of notified_sets: ?1 key, ?2 paper key, ?3 JSON array of watches, ?4 now; the
  // stored set becomes the union.
  const char* merge_notified;
  // The outbox ids from ?1 up to (not including) ?1 followed by the last code point.
  const char* id_prefix_range;
  // Snapshots that no sighting, outbox message or held match refers to.
  const char* prune_snapshots;
  // The claim of one fan-out (ranked) or of each notifier (per request, or nullptr to use
  // the ranked one for every claim); see StateStore::ClaimDue.
  const char* claim_ranked;
  // The ranked claim of pending rows only, for when no other owner's lease has run out;
  // nullptr to use claim_ranked. (SQLite reads every `sending` row for each notifier in the
  // other's second branch: with a commit's rows handed over, a fan-out's claim went
  // quadratic.)
  const char* claim_ranked_pending;
  const char* claim_per_request;
  const char* claim_per_request_with_expired;
  // Delivery results applied in one statement: ?1 the results as a JSON array of {id, kind,
  // parts, remote, error, next}, ?2 now, ?3 owner; nullptr to apply them one statement
  // each (cheap where a statement costs no round trip).
  const char* record_deliveries_batch;
  // The whole current schema, for a new database in one script; nullptr where the
  // migrations build it step by step. (SQLite re-reads its catalogue after each step's
  // ALTER and DROP: eleven steps made a first start about 4 ms slower.)
  const char* new_schema;
};

class Db {
 public:
  virtual ~Db() = default;
  virtual const Dialect& dialect() const = 0;
  virtual std::unique_ptr<Cursor> Prepare(std::string_view sql) = 0;
  // Runs `sql` (one or more statements, no parameters).
  virtual Status Exec(const char* sql) = 0;
  // The schema version; 0 for an empty database, -1 when it cannot be read.
  virtual int SchemaVersion() = 0;
  // In the migration's transaction.
  virtual Status SetSchemaVersion(int version) = 0;
  virtual std::span<const Migration> Migrations() const = 0;
  // The id the last INSERT gave, where the dialect's returning_id is "".
  virtual std::int64_t LastInsertId() const = 0;
  // After a migration from `from`: what the backend does once it is committed.
  virtual Status AfterMigration(int from) = 0;

  // What only some backends can do; the others fail naming the backend.
  virtual Status BackupTo(const std::string& path) = 0;
  virtual Status LimitPages(std::int64_t pages) = 0;
  virtual void SetBusyTimeout(int milliseconds) = 0;
  // Ends the session when it sits idle inside a transaction for `ms` (0: never), after a
  // reconnect too; nothing where there are no sessions to end (SQLite).
  virtual Status LimitIdleInTransaction(std::int64_t ms) = 0;
  virtual void ReleaseMemory() = 0;

  // Wake-ups between processes (PostgreSQL's LISTEN/NOTIFY; nothing on SQLite). This
  // session hears `channel` from now on, after a reconnect too.
  virtual Status Listen(const char* channel) = 0;
  // The session's socket, to wait on for readability; -1 when there is none. `session`
  // counts the connections made, so a socket number reused by a new connection is told
  // from the old one.
  virtual int Socket(std::uint64_t* session) const = 0;
  // Reads what arrived on the socket; true when a notification was among it.
  virtual bool TakeNotifications() = 0;
  // What compresses this state's snapshots (snapshot_codec.h); null where they stay text.
  virtual SnapshotCodec* snapshot_codec() { return nullptr; }
};

// The channel of Dialect::notify_outbox.
inline constexpr const char* kOutboxChannel = "digestd_outbox";

// A prepared statement with positional binding.
class Stmt {
 public:
  Stmt(Db& db, std::string_view sql) : cursor_(db.Prepare(sql)) {}
  bool ok() const { return cursor_->prepared(); }
  Stmt& Bind(std::string_view v) {
    cursor_->BindText(++index_, v, /*borrowed=*/false);
    return *this;
  }
  // Bind without a copy: `v` must stay alive and unchanged until the next Reset or the end
  // of the statement. For the long texts of hot inserts (a paper's snapshot).
  Stmt& BindBorrowed(std::string_view v) {
    cursor_->BindText(++index_, v, /*borrowed=*/true);
    return *this;
  }
  Stmt& Bind(const std::string& v) { return Bind(std::string_view(v)); }
  Stmt& Bind(const char* v) { return Bind(std::string_view(v)); }
  Stmt& BindBlob(std::string_view v) {
    cursor_->BindBlob(++index_, v, /*borrowed=*/false);
    return *this;
  }
  // BindBlob without a copy, on the terms of BindBorrowed.
  Stmt& BindBlobBorrowed(std::string_view v) {
    cursor_->BindBlob(++index_, v, /*borrowed=*/true);
    return *this;
  }
  Stmt& Bind(std::int64_t v) {
    cursor_->BindInt(++index_, v);
    return *this;
  }
  Stmt& BindOptional(std::optional<std::int64_t> v) {
    if (v) return Bind(*v);
    cursor_->BindNull(++index_, /*typed=*/true);
    return *this;
  }
  // A NULL whose type the statement gives (a text compared or cast there).
  Stmt& BindNull() {
    cursor_->BindNull(++index_, /*typed=*/false);
    return *this;
  }
  void Reset() {
    cursor_->Reset();
    index_ = 0;
  }
  StepResult Step() { return cursor_->Next(); }
  std::string Text(int col) const { return std::string(cursor_->Text(col)); }
  std::string_view TextView(int col) const { return cursor_->Text(col); }
  std::int64_t Int(int col) const { return cursor_->Int(col); }
  bool IsNull(int col) const { return cursor_->IsNull(col); }
  std::optional<std::int64_t> OptInt(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Int(col);
  }
  std::int64_t Changes() const { return cursor_->Changes(); }
  Error Fail(std::string_view what) const {
    return Error{std::string(what) + ": " + cursor_->ErrorMessage()};
  }

 private:
  std::unique_ptr<Cursor> cursor_;
  int index_ = 0;
};

// Runs a statement that returns no rows.
inline Status Run(Stmt& stmt, std::string_view what) {
  if (!stmt.ok()) return Unexpected(stmt.Fail(what));
  if (stmt.Step() != kDone) return Unexpected(stmt.Fail(what));
  return Ok();
}

// Run, for a statement of a loop: `what` and `subject` ("record paper", the key) are joined
// only when it fails, not for every row.
inline Status Run(Stmt& stmt, std::string_view what, std::string_view subject) {
  if (stmt.ok() && stmt.Step() == kDone) return Ok();
  return Unexpected(stmt.Fail(std::string(what) + ' ' + std::string(subject)));
}

// Commits on Commit(); rolls back when destroyed without it.
class Transaction {
 public:
  explicit Transaction(Db& db) : Transaction(db, db.dialect().begin_write) {}
  Transaction(Db& db, const char* begin) : db_(db) {
    auto st = db_.Exec(begin);
    ok_ = bool(st);
    if (!ok_) error_ = st.error().message;
  }
  ~Transaction() {
    if (ok_ && !done_) (void)db_.Exec("ROLLBACK");
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  bool ok() const { return ok_; }
  // Why the transaction could not begin.
  const std::string& error() const { return error_; }
  Status Commit() {
    if (auto st = db_.Exec("COMMIT"); !st) return Unexpected("commit: " + st.error().message);
    done_ = true;
    return Ok();
  }

 private:
  Db& db_;
  bool ok_ = false;
  bool done_ = false;
  std::string error_;
};

}  // namespace digestd::sql
