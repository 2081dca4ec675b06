#include "daemon/job_scheduler.h"

#include <date/tz.h>

#include <array>

#include "config/time_zone.h"

namespace digestd {
namespace {

using std::chrono::seconds;

// date's local time and std's share their representation.
date::local_seconds ToDate(std::chrono::local_seconds t) {
  return date::local_seconds{t.time_since_epoch()};
}
std::chrono::local_seconds FromDate(date::local_seconds t) {
  return std::chrono::local_seconds{t.time_since_epoch()};
}

// A zone has at most a few changes a year; a cron schedule matches at least once in 8
// years. Bounds every search loop.
constexpr int kMaxSteps = 64;

}  // namespace

Result<ZonedSchedule> ZonedSchedule::Make(std::string_view cron, const std::string& timezone) {
  auto parsed = ParseCron(cron);
  if (!parsed) return Unexpected(parsed.error());
  return Make(*parsed, timezone);
}

Result<ZonedSchedule> ZonedSchedule::Make(const CronSchedule& cron, const std::string& timezone) {
  try {
    return ZonedSchedule(cron, LocateZone(timezone), timezone);
  } catch (const std::exception&) {
    return Unexpected("unknown time zone \"" + timezone + "\"");
  }
}

SysSeconds ZonedSchedule::Next(SysSeconds after) const {
  if (zone_ == nullptr) {  // UTC: local time is UTC, and both ways of counting agree
    const std::chrono::local_seconds next =
        cron_.Next(std::chrono::local_seconds{after.time_since_epoch()});
    if (next == std::chrono::local_seconds::max()) return SysSeconds::max();
    return SysSeconds{next.time_since_epoch()};
  }
  return cron_.hour_by_elapsed() ? NextByElapsed(after) : NextByWallClock(after);
}

// Walks the zone's periods of constant offset from `after`: in each, local time is a
// plain shift of UTC, so the schedule's next local match, shifted back, is the next
// instant whose local time matches, if it falls inside the period.
SysSeconds ZonedSchedule::NextByElapsed(SysSeconds after) const {
  SysSeconds from = after;
  date::sys_info info = zone_->get_info(from);
  for (int step = 0; step < kMaxSteps; ++step) {
    const std::chrono::local_seconds local{(from + info.offset).time_since_epoch()};
    const std::chrono::local_seconds next = cron_.Next(local);
    if (next == std::chrono::local_seconds::max()) return SysSeconds::max();
    const SysSeconds candidate{next.time_since_epoch() - info.offset};
    if (candidate < info.end) return candidate;
    // The match lies past this period: look again from its end, in the next one's offset.
    from = info.end - seconds(1);
    info = zone_->get_info(info.end);
  }
  return SysSeconds::max();
}

// Local wall-clock matches in order; each resolved to one instant, or skipped when its
// only instant has passed.
SysSeconds ZonedSchedule::NextByWallClock(SysSeconds after) const {
  std::chrono::local_seconds local = FromDate(zone_->to_local(after));
  for (int step = 0; step < kMaxSteps * 4; ++step) {
    local = cron_.Next(local);
    if (local == std::chrono::local_seconds::max()) return SysSeconds::max();
    const date::local_info info = zone_->get_info(ToDate(local));
    SysSeconds at;
    switch (info.result) {
      case date::local_info::unique:
      case date::local_info::ambiguous:  // the first occurrence only: a repeat never runs
        at = SysSeconds{local.time_since_epoch() - info.first.offset};
        break;
      case date::local_info::nonexistent:  // skipped by a spring change: runs at the change
        at = info.second.begin;
        break;
    }
    if (at > after) return at;
  }
  return SysSeconds::max();
}

std::optional<SysSeconds> ZonedSchedule::Last(SysSeconds at) const {
  // Widening windows keep the walk short whatever the schedule's period.
  static constexpr std::array<std::int64_t, 7> kWindows = {
      2 * 3600, 2 * 86400, 9 * 86400, 33 * 86400, 367 * 86400, 4 * 366 * 86400,
      8 * 366 * 86400 + 2 * 86400};
  for (std::int64_t window : kWindows) {
    SysSeconds run = Next(at - seconds(window));
    if (run > at) continue;
    for (;;) {
      const SysSeconds next = Next(run);
      if (next > at) return run;
      run = next;
    }
  }
  return std::nullopt;
}

std::string_view JobKindName(JobKind kind) {
  switch (kind) {
    case JobKind::kFetch: return "fetch";
    case JobKind::kDeliver: return "deliver";
    case JobKind::kDigest: return "digest";
    case JobKind::kHighlights: return "highlights";
    case JobKind::kPrune: return "prune";
  }
  return "job";
}

std::string ShowJob(const JobKey& key) {
  std::string out(JobKindName(key.kind));
  if (!key.name.empty()) out += " " + key.name;
  return out;
}

SysSeconds JobScheduler::NextCron(const Job& job, SysSeconds after) {
  const SysSeconds run = job.schedule->Next(after);
  if (run == SysSeconds::max() || job.jitter <= seconds(0)) return run;
  std::uniform_int_distribution<std::int64_t> delay(0, job.jitter.count());
  return run + seconds(delay(random_));
}

void JobScheduler::SetCron(const JobKey& key, ZonedSchedule schedule, std::chrono::seconds jitter,
                           SysSeconds now) {
  Job job{.due = SysSeconds::max(), .schedule = std::move(schedule), .jitter = jitter};
  job.due = NextCron(job, now);
  jobs_.insert_or_assign(key, std::move(job));
}

void JobScheduler::SetOnce(const JobKey& key, SysSeconds at) {
  jobs_.insert_or_assign(key, Job{.due = at});
}

void JobScheduler::SetEvery(const JobKey& key, std::chrono::seconds period, SysSeconds first) {
  jobs_.insert_or_assign(key, Job{.due = first, .period = period});
}

void JobScheduler::Remove(const JobKey& key) { jobs_.erase(key); }

void JobScheduler::RemoveKind(JobKind kind) {
  std::erase_if(jobs_, [kind](const auto& entry) { return entry.first.kind == kind; });
}

std::optional<std::pair<SysSeconds, JobKey>> JobScheduler::Earliest() const {
  std::optional<std::pair<SysSeconds, JobKey>> best;
  for (const auto& [key, job] : jobs_) {
    if (job.due == SysSeconds::max()) continue;
    if (!best || job.due < best->first) best = std::make_pair(job.due, key);
  }
  return best;
}

std::optional<SysSeconds> JobScheduler::DueAt(const JobKey& key) const {
  const auto it = jobs_.find(key);
  if (it == jobs_.end()) return std::nullopt;
  return it->second.due;
}

std::vector<JobKey> JobScheduler::TakeDue(SysSeconds now) {
  std::vector<JobKey> due;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    Job& job = it->second;
    if (job.due > now) {
      ++it;
      continue;
    }
    due.push_back(it->first);
    if (job.schedule) {
      job.due = NextCron(job, now);
    } else if (job.period > seconds(0)) {
      job.due = now + job.period;
    } else {
      it = jobs_.erase(it);
      continue;
    }
    ++it;
  }
  return due;
}

void JobScheduler::ClockChanged(SysSeconds now) {
  for (auto& [key, job] : jobs_) {
    if (job.schedule) {
      const SysSeconds next = job.schedule->Next(now);
      if (job.due > next + job.jitter) job.due = NextCron(job, now);
    } else if (job.period > seconds(0) && job.due > now + job.period) {
      job.due = now + job.period;
    }
  }
}

}  // namespace digestd
