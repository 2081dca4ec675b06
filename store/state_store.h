// StateStore: digestd's state — papers, per-source sightings, fetch validators, first-run
// marks, what was notified, the outbox (DESIGN.md §8) and the leader lease. On SQLite (a
// file: WAL, synchronous=FULL) or PostgreSQL (a postgresql:// URL, shared by several
// instances); versioned migrations on both. One StateStore per thread; other processes may
// read and write beside it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/notification.h"
#include "core/planner.h"
#include "core/result.h"
#include "core/spool.h"
#include "core/state_location.h"
#include "core/source_health.h"

namespace digestd {

namespace sql {
class Db;
}

struct FetchValidators {
  std::string etag;
  std::string last_modified;
  std::string body_hash;  // BodyHash of the last body parsed
};

// Everything one fetched digest changes, committed in ONE transaction (DESIGN.md §2 step 7).
// A match of a `delivery = "digest"` watch, held until its digest goes out: what an instant
// notification to its notifier would have said.
struct HeldMatch {
  std::int64_t row = 0;  // its id in the state (when read back)
  std::string watch;
  Notification notification;
  std::int64_t created_at = 0;
};

struct DigestCommit {
  std::string source;
  std::string url;
  std::string date;      // the digest's date ("" when undated)
  std::int64_t now = 0;  // unix seconds
  FetchValidators validators;
  std::vector<SharedPaper> papers;    // one per key
  // SightingContentHash of each paper, when the caller has them (Plan::content_hashes);
  // missing or empty ones are computed.
  std::vector<HashDigits> content_hashes;
  std::vector<NotifiedMark> notified;  // notified marks (Plan::notified); views, see there
  std::vector<Notification> notifications;
  std::vector<HeldMatch> held;        // matches of digest watches, held for their digest
  // When the process that commits delivers next (`once`, a service job), its notifications
  // are queued already claimed by it: `owner` (its lease owner) holds each row until
  // `lease_until` of the row's notifier, and its next claims take them from memory instead of
  // claiming them with a second write of every row. A notifier not named is queued pending.
  // See StateStore::ClaimDue and ReleaseHandedOver.
  struct HandOver {
    std::string owner;
    std::map<std::string, std::int64_t, std::less<>> lease_until;  // by notifier
  };
  std::optional<HandOver> hand_over;
};

struct OutboxRow {
  std::string id;
  std::string notifier;
  std::string kind;
  std::string event;
  std::string state;    // pending | sending | sent | dead
  // What the row carries: its papers as the snapshots it was planned with, so every attempt
  // sends the same. `unreadable` says why it could not be read from the state (then it holds
  // only the row's columns).
  Notification notification;
  std::string unreadable;
  int attempts = 0;
  int parts_sent = 0;  // parts the target accepted (a retry starts after them)
  std::int64_t created_at = 0;
  std::int64_t next_attempt_at = 0;
  std::string last_error;
  std::optional<std::int64_t> sent_at;
  std::string remote_id;    // the target's id for the last part, when it gave one
  std::string lease_owner;  // while sending: who claimed it
  std::optional<std::int64_t> lease_until;
};

// What one delivery attempt did to one claimed row; RecordDeliveries applies a batch.
struct DeliveryResult {
  enum class Kind {
    kSent,     // every part accepted
    kRetry,    // due again at next_attempt_at; an attempt counted
    kDead,     // no more attempts
    kRelease,  // not attempted (shutdown, notifier gone): pending again, no attempt counted
  };
  std::string id;
  Kind kind = Kind::kSent;
  int parts_sent = 0;  // parts accepted so far, in all (never goes back)
  std::string remote_id;
  std::string error;                 // kRetry, kDead: the last error; kRelease: a new last
                                     // error, or empty to keep the row's
  std::int64_t next_attempt_at = 0;  // kRetry, kRelease
};

// What the delivery engine remembers about one notifier between runs.
struct NotifierHealth {
  std::string disabled_fingerprint;  // disabled (HTTP 410) while its config has this hash
  std::string disabled_reason;
  std::optional<std::int64_t> disabled_at;
  std::optional<std::int64_t> failing_since;  // first row gone dead in the current streak
  bool alerted = false;                       // alert_notify heard of this streak or disabling
};

// A stored sighting: what one source said about one paper, and when it was first seen.
struct StoredSighting {
  std::string source;
  std::string date;
  SharedPaper paper;
  std::int64_t first_seen = 0;
};

struct SourceState {
  std::optional<std::int64_t> first_run_at;  // set once the source's first run is done
  std::optional<std::int64_t> last_success_at;
  std::string last_success_date;  // newest digest date fetched successfully
  int failures = 0;               // consecutive
  std::string last_error;
  std::optional<std::int64_t> failing_since;  // start of the current failure streak
  bool alerted = false;                       // source_failing went out for this streak
  std::optional<std::int64_t> retry_at;       // backing off until then

  SourceHealth health() const {
    return {.failures = failures,
            .failing_since = failing_since,
            .last_success_at = last_success_at,
            .alerted = alerted};
  }
};

// Where a store hears wake-ups (StateStore::WakeSocket).
struct WakeSource {
  int fd = -1;
  std::uint64_t session = 0;
  bool operator==(const WakeSource&) const = default;
};

// Who holds the leader lease, in the database's clock (unix milliseconds).
struct Leadership {
  std::string holder;
  std::int64_t since_ms = 0;    // when it took the lease
  std::int64_t expires_ms = 0;  // when the lease ends unless renewed
  std::int64_t now_ms = 0;      // the database's clock when this was read
};

// `state` as it may be shown: a PostgreSQL URL without its password; a path as it is.
std::string DisplayedStateLocation(const std::string& state);

class StateStore {
 public:
  static constexpr int kSchemaVersion = 16;

  // Opens (creating and migrating when `read_only` is false) the state at `location`: a
  // PostgreSQL URL (IsPostgresLocation), or a SQLite file (":memory:" gives a private
  // in-memory store). Fails naming the location (without a password) and the database's
  // message, or when the schema is newer than this binary knows. A read-only open also fails
  // on another schema version than this binary's, and says "no state yet" on an empty one.
  static Result<std::unique_ptr<StateStore>> Open(const std::string& location,
                                                  bool read_only = false);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // True when several instances may share this state (PostgreSQL).
  bool shared() const;
  // "SQLite" or "PostgreSQL".
  const char* backend() const;
  int SchemaVersion() const;
  // How long a statement waits for another connection's lock before it fails ("database is
  // locked"; PostgreSQL's lock_timeout); 5000 ms after Open.
  void SetBusyTimeout(int milliseconds);
  // Gives back the page cache of this connection (SQLite's sqlite3_db_release_memory) and
  // the messages kept for claims (see `queued_`): for a long-running service between jobs,
  // so an idle process does not keep a large cycle's pages. Rows handed over and not taken
  // are made pending first (ReleaseHandedOver).
  void ReleaseMemory();
  // Caps the file at `pages` pages (PRAGMA max_page_count on this connection): a full
  // database on demand, for fault tests. Fails with SQLite's message, or on PostgreSQL.
  Status LimitPages(std::int64_t pages);

  // The leader lease (issue 14): one instance at a time runs the fetch jobs (fetching,
  // planning, highlights, digests); every instance delivers. Takes the lease for `holder`
  // when it is free or has expired, or renews it when `holder` has it, for `lease_ms` from
  // the database's clock. Returns who holds it afterwards (`holder` when this instance
  // leads). Waits at most about half a second for a lock; then it reports the current holder.
  Result<Leadership> Lead(const std::string& holder, std::int64_t lease_ms);
  // Who holds the lease (expired or not), if anyone ever did.
  Result<std::optional<Leadership>> Leader();
  // Ends `holder`'s lease now (a clean stop), so another instance takes over at once.
  Status Resign(const std::string& holder);
  // From now on every transaction of this store that records fetching and planning
  // (CommitDigest, RecordFetchFailure, QueueNotifications, TakeHeld, Prune, InTransaction)
  // first checks, inside the transaction, that `holder` still holds the lease (expired
  // perhaps, but taken over by no one), and fails otherwise (the message starts with
  // kNotLeader): a leader that lost its lease (stopped, hung, partitioned) writes nothing
  // once its successor took over. With FenceWith("", 0), no check. On PostgreSQL the
  // session also ends when it idles in a transaction for `lease_ms` (set once per value,
  // kept after the fence is lifted), so a stopped leader's open transaction cannot hold up
  // its successor.
  Status FenceWith(const std::string& holder, std::int64_t lease_ms);
  static constexpr std::string_view kNotLeader = "not the leader: ";

  // Wake-ups between instances on a shared state (PostgreSQL's LISTEN/NOTIFY): every
  // transaction that makes outbox rows due (new rows, a retry, rows given back) announces
  // it at its commit; a store that listens hears it. On SQLite nothing is heard (its one
  // `run` is woken by SIGUSR1). ListenForOutbox: this store hears announcements from now
  // on, after a reconnect too.
  Status ListenForOutbox();
  // The socket to wait on for readability (then TakeWakeUps); fd -1 when there is none
  // (SQLite, or while disconnected). Another `session` is another connection, even on the
  // same fd number.
  WakeSource WakeSocket() const;
  // Reads what arrived; true when an announcement was among it.
  bool TakeWakeUps();

  Result<SourceState> GetSourceState(const std::string& source);
  // Outbox rows per state ("pending", "sent", "dead").
  Result<std::map<std::string, int>> OutboxCounts();
  // Rows not yet sent nor dead (pending or being sent), per notifier.
  Result<std::map<std::string, int>> WaitingByNotifier();
  Result<std::optional<FetchValidators>> GetValidators(const std::string& source,
                                                       const std::string& url);

  // The last sighting from `source` of each of `keys` that has one.
  Result<std::map<std::string, PriorSighting>> LoadPriorSightings(
      const std::string& source, const std::vector<std::string>& keys);
  // The sightings of digests dated `date` (all dates when empty), of one paper when
  // `paper_key` is not empty; by source, then paper key.
  Result<std::vector<StoredSighting>> LoadSightings(const std::string& date,
                                                    const std::string& paper_key);
  // The papers `source` said most recently, at most `limit`, newest first (for telling what
  // language a source writes in).
  Result<std::vector<Paper>> RecentPapers(const std::string& source, int limit);
  // For each of `urls` that a sighting from `source` has, the paper key it was stored under.
  Result<std::map<std::string, std::string>> KeysByUrl(const std::string& source,
                                                       const std::vector<std::string>& urls);
  // The NotifiedKey values recorded for any of the papers `keys`.
  Result<std::set<std::string>> LoadNotified(const std::vector<std::string>& keys);

  // Commits a parsed digest with its planned notifications; outbox rows whose dedupe key
  // exists already are left as they are. Also records the fetch as a success. Taken by
  // value: the notifications a caller moves in are kept for the claim that takes them.
  Status CommitDigest(DigestCommit commit);

  // A source attempt that worked (also 304, an unchanged body, 404 "not published yet"):
  // resets its failure streak; `published` with `date` advances last_success_date.
  Status RecordSourceSuccess(const std::string& source, const std::string& date, std::int64_t now,
                             bool published);
  // A failed attempt: the source's new health, when to retry, and the alerts it raises,
  // in one transaction.
  Status RecordFetchFailure(const std::string& source, const std::string& error,
                            const SourceHealth& health, std::int64_t retry_at,
                            const std::vector<Notification>& alerts, std::int64_t now);
  // Queues notifications (alerts) outside a digest commit; existing dedupe keys are kept.
  Status QueueNotifications(const std::vector<Notification>& notifications, std::int64_t now);
  // Marks the source's first run done (idempotent).
  Status MarkFirstRunDone(const std::string& source, std::int64_t now);

  // Outbox. Due = pending with next_attempt_at <= now, oldest first (read only: the
  // delivery engine claims with ClaimDue).
  Result<std::vector<OutboxRow>> DueOutbox(std::int64_t now, int limit);
  // Claims for more notifiers than this take one ranking statement for all of them (a
  // fan-out); fewer take one indexed statement each (long queues).
  static constexpr std::size_t kClaimByRanking = 32;
  // One notifier's share of a claim.
  struct ClaimRequest {
    std::string notifier;
    int limit = 1;
    std::int64_t lease_until = 0;
  };
  // Claims, for each request, up to `limit` due rows of its notifier for `owner` until its
  // `lease_until`, oldest first, all in one transaction, so no row is claimed by two
  // processes (SQLite: the transaction takes the write lock at once; PostgreSQL: the rows
  // are locked FOR UPDATE SKIP LOCKED, so instances claiming at once take different rows,
  // and always one ranking statement): pending rows whose time has come, and sending rows of another owner whose
  // lease ran out or who is not `owner_alive` (a process that died); rows `owner` holds
  // itself are its own business (ReleaseClaims). Claimed rows are `sending`; they
  // come back grouped by request, oldest first within each. Rows a commit handed over to
  // `owner` (DigestCommit::hand_over) come first in each request, from memory, unwritten.
  Result<std::vector<OutboxRow>> ClaimDue(
      const std::vector<ClaimRequest>& requests, std::int64_t now, const std::string& owner,
      const std::function<bool(const std::string&)>& owner_alive);
  // Whether ClaimDue would take every request's rows from those handed over to `owner`,
  // reading nothing in the state (so what the state says of `owner`'s other rows cannot
  // change what it takes).
  bool ClaimsFromMemory(const std::vector<ClaimRequest>& requests, const std::string& owner) const;
  // The same for one notifier.
  Result<std::vector<OutboxRow>> ClaimDue(
      const std::string& notifier, std::int64_t now, int limit, const std::string& owner,
      std::int64_t lease_until, const std::function<bool(const std::string&)>& owner_alive);
  // Applies delivery results in one transaction, each only to a row `owner` still holds
  // (a row whose lease another process took over is left to it). It uses the state alone,
  // nothing a commit handed over: it may run on another thread while the owner's thread
  // calls ClaimsFromMemory, and ClaimDue where that said yes, and nothing else here.
  Status RecordDeliveries(const std::vector<DeliveryResult>& results, const std::string& owner,
                          std::int64_t now);
  // Makes every row `owner` holds pending again, no attempt counted (a clean shutdown).
  // Rows a commit handed over to `owner` (DigestCommit::hand_over) and no claim has taken
  // yet are left held: they are the next claims'.
  Status ReleaseClaims(const std::string& owner);
  // Makes the rows handed over to `owner` that no claim took pending again (a delivery pass
  // that ends without them: a stop, a paused or disabled notifier).
  Status ReleaseHandedOver(const std::string& owner);
  // When the earliest pending row (or expiring lease) is due; nullopt when none. With
  // `owner_alive`, a row held by an owner that is gone is due at `now` (a claim takes it over
  // at once). With `notifiers`, only rows of those notifiers count (the ones a delivery pass
  // would claim: rows of a disabled or removed notifier must not wake anyone).
  Result<std::optional<std::int64_t>> NextAttemptAt(
      std::int64_t now = 0, const std::function<bool(const std::string&)>& owner_alive = {},
      const std::vector<std::string>* notifiers = nullptr);
  // Newest first; `state` and `notifier` filter when not empty.
  Result<std::vector<OutboxRow>> ListOutbox(const std::string& state, const std::string& notifier,
                                            int limit);
  // The rows whose id starts with `prefix` (at most 2: enough to tell unique from ambiguous).
  Result<std::vector<OutboxRow>> FindOutbox(const std::string& prefix);
  // Makes a pending or dead row due now with a fresh attempt budget; false when no such row.
  Result<bool> RetryNow(const std::string& id, std::int64_t now);
  Result<bool> Drop(const std::string& id);
  // Every dead row (of `notifier` when not empty): retried now, or dropped. Returns how many.
  Result<int> RetryDead(const std::string& notifier, std::int64_t now);
  Result<int> DropDead(const std::string& notifier);

  Result<NotifierHealth> GetNotifierHealth(const std::string& notifier);
  // Every notifier's stored health, by name (one query, however many notifiers).
  Result<std::map<std::string, NotifierHealth>> LoadNotifierHealth();
  Status PutNotifierHealth(const std::string& notifier, const NotifierHealth& health);

  // Writes a consistent copy of the whole database to `path` (SQLite's online backup, from
  // one read snapshot, so a writer beside it is no problem): first to `path`.tmp, fsynced,
  // then renamed over `path`. Fails naming the path and what went wrong; on PostgreSQL,
  // saying to use pg_dump.
  Status BackupTo(const std::string& path);

  // The schema version the state had when Open found it: kSchemaVersion when it needed no
  // migration, 0 for a state Open created, an older one when Open migrated it.
  int SchemaVersionAtOpen() const { return version_at_open_; }

  // What CopyInto copied: each table with its rows, in the order they were copied.
  struct TableCount {
    std::string table;
    std::int64_t rows = 0;
  };
  struct CopyReport {
    std::vector<TableCount> tables;
    std::int64_t released = 0;  // outbox rows `sending` here, copied as `pending`
  };
  // Copies every row of this state into `to`, a fresh state on either backend (`digestd
  // migrate`). Both stores are at the current schema (Open migrates them). This state is
  // read from one snapshot; `to` is written in one transaction, checked inside it (every
  // table of `to` holds as many rows as this state's), and committed only then. Rows keep
  // their values: paper snapshots and held matches their ids (sightings and messages refer
  // to them), source first runs their time (no new baseline), notified sets and dedupe keys
  // theirs (nothing is sent twice), and the outbox its queue order. Two things change on
  // the way: an outbox row `sending` here is copied `pending` with no lease (the process
  // sending it does not work on `to`: the row is sent again, under the same id), and the
  // leader lease is not copied (it belongs to the instances of this state). On PostgreSQL
  // the id sequences are set past the copied ids. Fails, leaving `to` as it was, when `to`
  // holds any row (naming the table), when a count differs (naming the table and both
  // counts), or with the table and the database's message. Not for two stores on one state.
  Result<CopyReport> CopyInto(StateStore& to);

  // Runs `body` in one transaction: committed when it succeeds, rolled back when it fails.
  Status InTransaction(const std::function<Status()>& body);

  // Digest delivery (CONFIG.md `delivery = "digest"`). The matches held for `watch` and
  // `notifier` since before `before`, oldest first.
  Result<std::vector<HeldMatch>> HeldFor(const std::string& watch, const std::string& notifier,
                                         std::int64_t before);
  // In one transaction: deletes the held `rows` and queues `digest`. False, changing
  // nothing, when a row is gone already (another process took it) or `digest`'s dedupe key
  // is queued already (that run's digest went out: the rows wait for the next).
  Result<bool> TakeHeld(const std::vector<std::int64_t>& rows, const Notification& digest,
                        std::int64_t now);
  // How many matches are held, for all watches.
  Result<int> HeldCount();

  // Deletes sightings, sent/dead outbox rows, and held matches, older than `before` (unix
  // seconds).
  Status Prune(std::int64_t before);

 private:
  explicit StateStore(std::unique_ptr<sql::Db> db);
  Status Migrate();
  // With FenceWith: fails unless the fence's holder leads (inside the caller's transaction).
  Status CheckLease();
  // Tells listening instances that outbox rows became due (nothing on SQLite).
  Status Announce();
  // After a commit: keeps the messages it queued that read back as they are (`kept`,
  // indexes into `notifications`) for the claim that takes them.
  // Returns the kept list, or null when none was kept.
  std::vector<Notification>* KeepQueued(std::vector<Notification> notifications,
                                        const std::vector<std::size_t>& kept);
  // Whether a commit of `count` notifications may hand them over: only messages kept for
  // claims can be (a claim from memory has nothing else to read).
  bool CanHandOver(std::size_t count) const;
  // ClaimDue's claim of rows in the state (not handed over), in one transaction.
  Result<std::vector<OutboxRow>> ClaimDueInState(
      const std::vector<ClaimRequest>& requests, std::int64_t now, const std::string& owner,
      const std::function<bool(const std::string&)>& owner_alive);
  // Takes up to `limit` of the rows handed over for `notifier`, oldest first.
  std::vector<OutboxRow> TakeHandedOver(const std::string& notifier, int limit);
  // The ids of the rows handed over that no claim has taken.
  std::vector<std::string_view> HandedOverIds() const;
  // How many there are.
  std::size_t HandedOverCount() const;

  std::unique_ptr<sql::Db> db_;
  // The messages this store queued, by outbox id, until a claim takes them: a claim in the
  // same process (`once`, a service job that plans and then delivers) uses them rather than
  // parsing again the message and snapshots it has just written. A queued message never
  // changes, and only what reads back the same (SQLite keeps text as given; valid UTF-8)
  // is kept, so a claim's rows are what the state holds either way. Each commit's list is
  // kept whole (moved, not copied) in `queued_lists_`, and `queued_` finds a message in it
  // by its id. Bounded, and emptied by ReleaseMemory.
  std::vector<std::vector<Notification>> queued_lists_;
  std::unordered_map<std::string_view, Notification*> queued_;
  // Rows committed already claimed by `handed_over_owner_` (DigestCommit::hand_over) that no
  // claim has taken yet, by notifier, oldest first. Their messages are in `queued_`.
  struct HandedOver {
    Notification* notification;
    std::int64_t created_at;
    std::int64_t lease_until;
  };
  std::map<std::string, std::deque<HandedOver>, std::less<>> handed_over_;
  std::string handed_over_owner_;
  std::string fence_holder_;
  int version_at_open_ = kSchemaVersion;
};

// How fetch_state knows a URL again without keeping it: the hex SHA-256 of `url`. A source
// URL may hold a token; nothing of it is stored (issue 13).
std::string UrlId(std::string_view url);

// How fetch_state knows a body again (FetchValidators::body_hash): its XXH3 128 bits in hex
// (Xxh3Digits). An unchanged body is not parsed again.
std::string BodyHash(std::string_view body);
// The same for a body that may be in a spool file; "" when it cannot be read.
std::string BodyHash(const Spool& body);

// A paper snapshot as stored: the paper's members as one JSON object (the CONFIG.md paper
// shape, members at their defaults left out). The same paper always gives the same text.
// `exact`, when given, learns whether it reads back as the paper is (no invalid byte).
std::string SnapshotText(const Paper& paper, bool* exact = nullptr);

}  // namespace digestd
