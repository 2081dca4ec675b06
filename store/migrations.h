// Row conversions of the schema's history that SQL alone cannot say, run by the
// migrations of a backend (sql::Migration::convert). Internal to store/.
#pragma once

#include "core/result.h"
#include "store/sql.h"

namespace digestd::sql {

// Schema 4 -> 5: every sighting's paper and every outbox message's papers become snapshots
// (from `sightings` into `sightings_v5`).
Status ConvertToSnapshots(Db& db);
// Schema 5 -> 6: each fetch_state row keyed by its URL's UrlId instead of the URL (into
// `fetch_state_v6`).
Status ConvertFetchStateUrls(Db& db);

}  // namespace digestd::sql
