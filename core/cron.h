// CronSchedule: a parsed cron expression (5 fields, or @hourly/@daily/...) evaluated in local
// civil time; the caller converts to and from its time zone. Pure; an immutable schedule is
// safe to share between threads.
#pragma once

#include <bitset>
#include <chrono>
#include <string_view>

#include "core/result.h"

namespace digestd {

class CronSchedule {
 public:
  // The first minute strictly after `after` that matches, in the same local civil time.
  // ParseCron rejects schedules that can never match, so the search (bounded to 8 years, the
  // longest gap between two 29 Februaries) always succeeds for a parsed schedule; a
  // default-constructed schedule matches nothing and yields local_seconds::max().
  std::chrono::local_seconds Next(std::chrono::local_seconds after) const;

  // True when the hour field is a wildcard or a step (`*`, `*/2`, `8-18/2`): such a schedule
  // runs by elapsed time across a daylight-saving change, a fixed-hour one once per local
  // wall-clock match (CONFIG.md "Dates, schedules, first run").
  bool hour_by_elapsed() const { return hour_by_elapsed_; }

 private:
  friend Result<CronSchedule> ParseCron(std::string_view text);

  bool DayMatches(std::chrono::local_days day) const;

  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  // Vixie cron: when both day fields are restricted (neither starts with '*'), a day matches
  // if EITHER does; otherwise both must (and the '*' one always does).
  bool either_day_ = false;
  bool hour_by_elapsed_ = false;
};

// Parses "M H DoM Mon DoW" (with *, lists, ranges, /steps, JAN-DEC and SUN-SAT names, 0 and 7
// for Sunday) or @hourly @daily @midnight @weekly @monthly @yearly @annually. On failure the
// error names the field and the offending value, e.g. `hour: "25" is out of range 0-23`.
Result<CronSchedule> ParseCron(std::string_view text);

}  // namespace digestd
