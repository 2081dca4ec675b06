// Highlights (CONFIG.md `[[highlights]]`): the top N papers by votes of one date, merged over
// several sources, posted once per (highlights, notifier, date). Pure functions of their
// inputs; the daemon (daemon/highlights_job.h) reads the state and queues what they plan.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/cron.h"
#include "core/dates.h"
#include "core/notification.h"

namespace digestd {

// One `[[highlights]]` table, validated (config/config_loader.h builds it).
struct HighlightsConfig {
  std::string name;
  std::vector<std::string> sources;    // empty: every source
  int top = 10;                        // papers per post
  std::string schedule = "0 9 * * *";  // cron, in `timezone`
  std::string timezone;                // resolved: the [daemon] timezone when not given
  bool note_when_empty = false;        // on_empty = "note" (else "skip")
  std::vector<std::string> notify;
  int line = 0;  // where the table starts, for messages
  int column = 0;
  std::string file;
};

// A stored sighting offered to the selection, with when its paper was first seen.
struct HighlightsCandidate {
  SourcedPaper sighting;
  std::int64_t first_seen = 0;
};

// The `top` papers of `candidates` (one date's sightings from the highlights' sources):
// papers merged by key, each shown as its sighting with the most votes (ties: seen first,
// then source name), ranked by those votes (none counts below 0), then seen first, then the
// smaller key. The same input in any order gives the same output.
std::vector<SourcedPaper> SelectTopPapers(const std::vector<HighlightsCandidate>& candidates,
                                          int top);

// The post of `papers` (date `date`) to `notifier`: kind "highlights", event "top", the
// highlights' name as its watch, and a dedupe key made of (name, notifier, date), so the
// outbox takes it once.
Notification HighlightsPost(const HighlightsConfig& h, const std::string& notifier,
                            const std::string& date, std::vector<SourcedPaper> papers);

// The short "no papers today" note for `date` (on_empty = "note"): kind "highlights", event
// "no_papers", no papers. Its dedupe key differs from the post's, so a digest that shows up
// later that day is still posted.
Notification HighlightsNote(const HighlightsConfig& h, const std::string& notifier,
                            const std::string& date);

// True when a slot of `schedule` falls on `day` or later and is not after `now` (both local
// civil time in the highlights' zone): the highlights of `day` are due.
bool HighlightsDue(const CronSchedule& schedule, Date day, std::chrono::local_seconds now);

}  // namespace digestd
