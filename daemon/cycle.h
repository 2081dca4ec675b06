// RunCycle: one full cycle of digestd — fetch every enabled source for the dates due,
// parse, diff, match, plan, commit, then deliver what is due (DESIGN.md §2). Used by
// `digestd once` and, per job, by `digestd run`. Not thread-safe: one cycle at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/dates.h"
#include "core/notification.h"
#include "core/watch.h"
#include "net/http_batch.h"
#include "store/state_store.h"

namespace digestd {

struct CycleOptions {
  std::optional<Date> date;           // replaces "today" in every source's zone
  bool dry_run = false;               // plan and print; commit and deliver nothing
  bool json = false;                  // print JSON lines of planned/sent notifications
  std::int64_t now = 0;               // unix seconds
  std::set<std::string> only_sources; // when not empty: fetch these sources only
  bool honour_backoff = false;        // skip sources still backing off after failures
};

struct CycleReport {
  int sources_ok = 0;
  int sources_failed = 0;
  int papers_seen = 0;
  int notifications_planned = 0;
  int deliveries_ok = 0;
  int deliveries_failed = 0;
  bool failed() const { return sources_failed > 0 || deliveries_failed > 0; }
};

// Writes what the cycle shows the user: JSON lines (--json) and console notifier output.
struct CycleOutput {
  std::function<void(const std::string&)> json_line;   // one line, no newline
  std::function<void(const std::string&)> console;     // console notifier text
};

// The watches of `config` as the matcher wants them (enabled ones only).
std::vector<WatchSpec> WatchSpecsFrom(const Config& config);

// Today's date in the IANA zone `timezone` at unix time `now` (UTC when the zone is unknown).
Date TodayIn(const std::string& timezone, std::int64_t now);

CycleReport RunCycle(const Config& config, const WatchMatcher& matcher, StateStore& store,
                     HttpBatch& http, const CycleOptions& options, const CycleOutput& output);

// Delivers one notification to one notifier now (console text through `console`, file
// lines appended and fsynced); fails with what went wrong.
Status SendNow(const NotifierConfig& notifier, const Notification& notification,
               const std::function<void(const std::string&)>& console);

// Sends every due outbox row to its notifier and records the result.
void DeliverDue(const Config& config, StateStore& store, const CycleOptions& options,
                const CycleOutput& output, CycleReport& report);

}  // namespace digestd
