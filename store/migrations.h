// Steps of the schema's history that both backends share, and row conversions that SQL alone
// cannot say, run by the migrations of a backend (sql::Migration::convert). Internal to
// store/.
#pragma once

#include "core/result.h"
#include "store/sql.h"

namespace digestd::sql {

// Schema 8 -> 9, the same on both backends: the per-notifier claim index holds only the rows
// a claim may take first, the pending ones (sqlite_db.cc says why).
inline constexpr const char* kClaimIndexOfPendingRows = R"sql(
DROP INDEX outbox_notifier_due;
CREATE INDEX outbox_notifier_due ON outbox(notifier, next_attempt_at, created_at)
  WHERE state = 'pending';
)sql";

// Schema 12 -> 13, the same on both backends: the index of due rows holds the unfinished ones
// only (pending, sending, dead). A sent row, most of the table, leaves it when it is recorded
// instead of moving within it. SQLite uses a partial index only for a query that says the
// index's own condition, so every query on unfinished rows says `state <> 'sent'` too.
inline constexpr const char* kDueIndexOfUnfinishedRows = R"sql(
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox(state, next_attempt_at) WHERE state <> 'sent';
)sql";

// Schema 13 -> 14, the same on both backends: sightings lose their index by `seen_at`, which
// only the daily prune read. Every sighting a commit writes or refreshes no longer writes an
// entry there too; the prune reads the table instead, once a day. (A state without the index
// has nothing to drop.)
inline constexpr const char* kNoIndexOfSightingsBySeenAt =
    "DROP INDEX IF EXISTS sightings_seen_at;";

// Schema 4 -> 5: every sighting's paper and every outbox message's papers become snapshots
// (from `sightings` into `sightings_v5`).
Status ConvertToSnapshots(Db& db);
// Schema 5 -> 6: each fetch_state row keyed by its URL's UrlId instead of the URL (into
// `fetch_state_v6`).
Status ConvertFetchStateUrls(Db& db);
// Schema 11 -> 12: every snapshot's hash and every sighting's content hash made again with
// XXH3, from the text each row keeps.
Status ConvertToXxh3Hashes(Db& db);

}  // namespace digestd::sql
