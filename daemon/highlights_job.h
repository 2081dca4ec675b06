// QueueDueHighlights: the highlights job of `digestd once` and `digestd run` (CONFIG.md
// `[[highlights]]`). Reads the stored sightings, plans with core/highlights.h, and queues the
// posts in the outbox, whose unique dedupe key makes each (highlights, notifier, date) go
// out once, across restarts and reloads. Not thread-safe: it uses the caller's store.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "config/config.h"
#include "core/dates.h"
#include "core/notification.h"
#include "core/result.h"
#include "store/state_store.h"

namespace digestd {

// Plans, for each highlights entry and each of its enabled notifiers, what is due at unix
// time `now` ("today" is `date` when given, else now's date in the entry's zone): the top
// papers of the newest date with sightings from its sources (today and the sources' largest
// lookback_days before it) once the schedule's first slot on or after that date has passed;
// or, with on_empty = "note", a "no papers today" note when that date's post went out already
// (or there is none) and today has no digest. Queues them (logging each) unless `dry_run`.
// Returns what it planned (never a row queued before), or the store's error.
Result<std::vector<Notification>> QueueDueHighlights(const Config& config, StateStore& store,
                                                     std::int64_t now, std::optional<Date> date,
                                                     bool dry_run = false);

}  // namespace digestd
