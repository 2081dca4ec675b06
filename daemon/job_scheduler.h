// The service's scheduling core: cron schedules evaluated in IANA zones with CONFIG.md's
// daylight-saving rule, and JobScheduler, the set of typed jobs (fetch a source, deliver,
// send a digest, post highlights, prune) each with its next due time. Pure: time is always
// a parameter, nothing here reads a clock or sleeps; the Asio shell (daemon/service.cc with
// daemon/wall_timer.h) arms one timer for Earliest() and calls TakeDue when it fires.
// A ZonedSchedule is immutable and safe to share; a JobScheduler is not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/cron.h"
#include "core/result.h"

namespace date {
class time_zone;
}

namespace digestd {

using SysSeconds = std::chrono::sys_seconds;

// A cron schedule in one IANA zone.
class ZonedSchedule {
 public:
  // Fails naming the field and value (cron) or the zone.
  static Result<ZonedSchedule> Make(std::string_view cron, const std::string& timezone);
  static Result<ZonedSchedule> Make(const CronSchedule& cron, const std::string& timezone);

  // The first run strictly after `after`; SysSeconds::max() for a schedule that never runs.
  // A fixed-hour schedule runs once per local wall-clock match: a local time a spring change
  // skips runs at the first valid instant after it (the change itself), one an autumn
  // change repeats runs at its first occurrence only. A wildcard or step hour (`*/30 * * * *`)
  // runs by elapsed time: every instant whose local time matches, so the repeated hour runs
  // again and the skipped one not at all, the runs staying evenly spaced.
  SysSeconds Next(SysSeconds after) const;

  // The latest run at or before `at` (searching back at most 8 years); nullopt when none.
  std::optional<SysSeconds> Last(SysSeconds at) const;

  const std::string& timezone() const { return timezone_; }

 private:
  ZonedSchedule(CronSchedule cron, const date::time_zone* zone, std::string timezone)
      : cron_(cron), zone_(zone), timezone_(std::move(timezone)) {}
  SysSeconds NextByWallClock(SysSeconds after) const;
  SysSeconds NextByElapsed(SysSeconds after) const;

  CronSchedule cron_;
  const date::time_zone* zone_;  // from the tz database, lives as long as the process;
                                 // nullptr for UTC (LocateZone)
  std::string timezone_;
};

enum class JobKind { kFetch, kDeliver, kDigest, kHighlights, kPrune };

// "fetch", "deliver", "digest", "highlights", "prune".
std::string_view JobKindName(JobKind kind);

struct JobKey {
  JobKind kind = JobKind::kFetch;
  std::string name;  // the source, watch or highlights entry; "" for deliver and prune
  auto operator<=>(const JobKey&) const = default;
};

// "fetch hf-ko", "deliver".
std::string ShowJob(const JobKey& key);

class JobScheduler {
 public:
  // `seed` drives the jitter: the same seed gives the same delays.
  explicit JobScheduler(std::uint64_t seed) : random_(seed) {}

  // A job run on `schedule`, each run delayed by a random amount in [0, jitter]; due next
  // at its first run after `now`. Replaces any job of that key.
  void SetCron(const JobKey& key, ZonedSchedule schedule, std::chrono::seconds jitter,
               SysSeconds now);
  // A job due once, at `at` (a past time: due now). Replaces any job of that key.
  void SetOnce(const JobKey& key, SysSeconds at);
  // A job due at `first`, then every `period` after each run.
  void SetEvery(const JobKey& key, std::chrono::seconds period, SysSeconds first);
  void Remove(const JobKey& key);
  // Removes every job of `kind` (a reload sets them anew).
  void RemoveKind(JobKind kind);

  // The earliest due time and its job; nullopt when there is no job.
  std::optional<std::pair<SysSeconds, JobKey>> Earliest() const;
  std::optional<SysSeconds> DueAt(const JobKey& key) const;

  // Every job due at `now` (due time <= now), once each however many of its runs were missed
  // (a machine that slept, a daemon that was down); each is rescheduled after `now`: a cron
  // job to its next run after `now` (plus fresh jitter), a periodic one to now + period, a
  // one-time job removed.
  std::vector<JobKey> TakeDue(SysSeconds now);

  // The wall clock was set (not merely advanced): a cron job now due later than its next
  // run from `now` (the clock went back) is brought back to that run. Jobs whose time has
  // passed (the clock went forward) stay due and run once.
  void ClockChanged(SysSeconds now);

  std::size_t size() const { return jobs_.size(); }

 private:
  struct Job {
    SysSeconds due;
    std::optional<ZonedSchedule> schedule;  // cron jobs
    std::chrono::seconds jitter{0};
    std::chrono::seconds period{0};         // periodic jobs
  };
  SysSeconds NextCron(const Job& job, SysSeconds after);

  std::map<JobKey, Job> jobs_;
  std::mt19937_64 random_;
};

}  // namespace digestd
