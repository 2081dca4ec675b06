// RunCycle: one fetch cycle of digestd — fetch every enabled source for the dates due,
// parse, diff, match, plan, and commit the state with the outbox (DESIGN.md §2 steps 1-7).
// It only writes the outbox; the delivery engine (daemon/delivery.h) empties it. Used by
// `digestd once` and, per job, by `digestd run`. Not thread-safe: one cycle at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/cron.h"
#include "core/dates.h"
#include "core/notification.h"
#include "core/watch.h"
#include "net/http_batch.h"
#include "store/state_store.h"

namespace digestd {

// One source's run in a cycle, for the service's metrics.
struct SourceRun {
  std::string source;
  bool ok = false;
  int papers = 0;              // in the digests it applied
  double fetch_seconds = 0;    // the cycle's fetch phase (its sources fetch concurrently)
};

struct CycleOptions {
  std::optional<Date> date;                 // replaces "today" in every source's zone
  bool dry_run = false;                     // plan and print; commit and deliver nothing
  bool json = false;                        // print JSON lines of planned/sent notifications
  std::int64_t now = 0;                     // unix seconds
  std::set<std::string> only_sources;       // when not empty: fetch these sources only
  bool honour_backoff = false;              // skip sources still backing off after failures
  const std::atomic<bool>* stop = nullptr;  // set: the service stops; apply nothing fetched
  // The caller runs a delivery pass of this process's lease owner (ProcessLeaseOwner) right
  // after: each digest's notifications are queued claimed by it (DigestCommit::hand_over),
  // so that pass sends them without claiming them again.
  bool hand_over = false;
  // Told after each fetched source's outcome, and of each watch's matches once their
  // digest is committed (distinct papers per digest, over every notifier); may be empty.
  std::function<void(const SourceRun&)> on_source;
  std::function<void(const std::string& watch, int papers)> on_matches;
};

struct CycleReport {
  int sources_ok = 0;
  int sources_failed = 0;
  int papers_seen = 0;
  int digests_unchanged = 0;  // not modified (304), or the same bytes as last time
  int papers_baseline = 0;    // recorded by a first run with first_run = "baseline"
  int notifications_planned = 0;
  bool failed() const { return sources_failed > 0; }
};

// Writes what the cycle shows the user: JSON lines of planned notifications (--dry-run --json).
struct CycleOutput {
  std::function<void(const std::string&)> json_line;  // one line, no newline
  // --dry-run without --json: one line per planned notification and paper ("would send"),
  // terminal-safe, no newline. May be empty.
  std::function<void(const std::string&)> text_line;
};

// The watches of `config` as the matcher wants them (enabled ones only).
std::vector<WatchSpec> WatchSpecsFrom(const Config& config);

// How the planner treats a digest of `source`: its first_run mode when this is the source's
// first run (`newest`: the newest date of that run, which first_run = "latest" notifies),
// otherwise kNotFirst.
FirstRunMode FirstRunModeFor(const SourceConfig& source, bool first_run, bool newest);

// "digestd/VERSION (+contact)": the User-Agent of every request digestd makes.
std::string UserAgent(const Config& config);

// The next time `schedule` fires after `now`, in the IANA zone `timezone`, with CONFIG.md's
// daylight-saving rule (ZonedSchedule::Next); max() for a schedule that never fires.
std::chrono::system_clock::time_point NextFire(const CronSchedule& schedule,
                                               const std::string& timezone,
                                               std::chrono::system_clock::time_point now);

// `at` as the admin reads it: "YYYY-MM-DD HH:MM:SS ZONE" in the IANA zone `timezone`.
std::string ShowTime(std::chrono::system_clock::time_point at, const std::string& timezone);

// Today's date in the IANA zone `timezone` at unix time `now` (UTC when the zone is unknown).
Date TodayIn(const std::string& timezone, std::int64_t now);

CycleReport RunCycle(const Config& config, const WatchMatcher& matcher, StateStore& store,
                     HttpBatch& http, const CycleOptions& options, const CycleOutput& output);

}  // namespace digestd
