#include "daemon/highlights_job.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>

#include "config/time_zone.h"
#include "core/cron.h"
#include "core/highlights.h"
#include "daemon/cycle.h"

namespace digestd {

Result<std::vector<Notification>> QueueDueHighlights(const Config& config, StateStore& store,
                                                     std::int64_t now, std::optional<Date> date,
                                                     bool dry_run) {
  std::vector<Notification> planned;
  std::map<std::string, std::vector<StoredSighting>> by_date;  // read once per date
  for (const HighlightsConfig& h : config.highlights) {
    Result<CronSchedule> schedule = ParseCron(h.schedule);
    if (!schedule) {  // check rejects these; keep the rest going regardless
      spdlog::error("highlights {}: schedule: {}", h.name, schedule.error().message);
      continue;
    }
    std::set<std::string> sources(h.sources.begin(), h.sources.end());
    int lookback = 0;
    for (const SourceConfig& s : config.sources) {
      if (h.sources.empty()) sources.insert(s.name);
      if (sources.contains(s.name)) lookback = std::max(lookback, s.lookback_days);
    }
    const Date today = date.value_or(TodayIn(h.timezone, now));
    const std::chrono::local_seconds local_now =
        LocalTimeIn(h.timezone, std::chrono::sys_seconds{std::chrono::seconds{now}});

    // The newest date, today or up to `lookback` days before it, with a sighting from one
    // of the sources.
    std::optional<Date> newest;
    std::vector<HighlightsCandidate> candidates;
    for (int back = 0; back <= lookback && !newest; ++back) {
      const Date day{std::chrono::sys_days{today} - std::chrono::days{back}};
      const std::string iso = FormatIsoDate(day);
      auto it = by_date.find(iso);
      if (it == by_date.end()) {
        Result<std::vector<StoredSighting>> read = store.LoadSightings(iso, "");
        if (!read) return Unexpected(read.error());
        it = by_date.emplace(iso, std::move(*read)).first;
      }
      for (const StoredSighting& s : it->second) {
        if (!sources.contains(s.source)) continue;
        candidates.push_back({.sighting = {.paper = s.paper, .source = s.source, .date = s.date},
                              .first_seen = s.first_seen});
      }
      if (!candidates.empty()) newest = day;
    }
    const bool post_due = newest && HighlightsDue(*schedule, *newest, local_now);
    const bool note_due =
        h.note_when_empty && newest != today && HighlightsDue(*schedule, today, local_now);
    std::vector<SourcedPaper> top;
    if (post_due) top = SelectTopPapers(candidates, h.top);

    for (const std::string& name : h.notify) {
      const NotifierConfig* notifier = config.FindNotifier(name);
      if (notifier == nullptr || !notifier->enabled) continue;
      // A row queued before (sent or not) is not planned again.
      const auto queued_before = [&](const Notification& n) -> Result<bool> {
        Result<std::vector<OutboxRow>> rows = store.FindOutbox(n.id);
        if (!rows) return Unexpected(rows.error());
        return !rows->empty();
      };
      bool nothing_to_post = !newest;
      if (post_due) {
        Notification post = HighlightsPost(h, name, FormatIsoDate(*newest), top);
        Result<bool> before = queued_before(post);
        if (!before) return Unexpected(before.error());
        nothing_to_post = *before;
        if (!*before) planned.push_back(std::move(post));
      }
      if (!note_due || !nothing_to_post) continue;
      Notification note = HighlightsNote(h, name, FormatIsoDate(today));
      Result<bool> before = queued_before(note);
      if (!before) return Unexpected(before.error());
      if (!*before) planned.push_back(std::move(note));
    }
  }
  if (!dry_run && !planned.empty()) {
    if (Status st = store.QueueNotifications(planned, now); !st) return Unexpected(st.error());
    for (const Notification& n : planned) {
      spdlog::info("highlights {}: queued {} for {}", n.watches.front(),
                   n.papers.empty()
                       ? std::string("a \"no papers\" note")
                       : std::to_string(n.papers.size()) + " papers of " + n.papers.front().date,
                   n.notifier);
    }
  }
  return planned;
}

}  // namespace digestd
