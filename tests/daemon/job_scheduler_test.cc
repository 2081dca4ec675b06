// Issue 10 point 1: typed jobs with one earliest due time, cron in IANA zones across the
// daylight-saving change days (no skipped and no doubled run), overdue jobs run once after
// a suspend, jitter bounded and seeded; and the wall-clock timer the shell waits on.
#include "daemon/job_scheduler.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <date/tz.h>

#include <chrono>
#include <map>

#include "config/time_zone.h"
#include "daemon/cycle.h"
#include "daemon/wall_timer.h"

namespace digestd {
namespace {

using namespace std::chrono;

// An instant given in UTC.
SysSeconds Utc(int y, unsigned m, unsigned d, int hh, int mm = 0) {
  return sys_days{year{y} / month{m} / day{d}} + hours(hh) + minutes(mm);
}

ZonedSchedule Make(const char* cron, const char* zone) {
  auto s = ZonedSchedule::Make(cron, zone);
  EXPECT_TRUE(s) << s.error().message;
  return *s;
}

// Every run in [from, to).
std::vector<SysSeconds> Runs(const ZonedSchedule& s, SysSeconds from, SysSeconds to) {
  std::vector<SysSeconds> out;
  for (SysSeconds t = s.Next(from - seconds(1)); t < to; t = s.Next(t)) out.push_back(t);
  return out;
}

std::string Local(SysSeconds t, const char* zone) {
  return date::format("%F %H:%M %Z", date::make_zoned(zone, t));
}

// Runs per local date.
std::map<std::string, int> PerLocalDay(const std::vector<SysSeconds>& runs, const char* zone) {
  std::map<std::string, int> out;
  for (SysSeconds t : runs) ++out[date::format("%F", date::make_zoned(zone, t))];
  return out;
}

// --- fixed hours: once per local wall-clock match --------------------------------------

TEST(ZonedScheduleTest, NewYorkSpringSkippedTimeRunsAtTheChange) {
  // 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00 UTC); 02:30 does not exist.
  const auto s = Make("30 2 * * *", "America/New_York");
  const auto runs = Runs(s, Utc(2026, 3, 6, 0), Utc(2026, 3, 11, 0));
  ASSERT_EQ(runs.size(), 5u);
  EXPECT_EQ(Local(runs[1], "America/New_York"), "2026-03-07 02:30 EST");
  EXPECT_EQ(runs[2], Utc(2026, 3, 8, 7));
  EXPECT_EQ(Local(runs[2], "America/New_York"), "2026-03-08 03:00 EDT");
  EXPECT_EQ(Local(runs[3], "America/New_York"), "2026-03-09 02:30 EDT");
  for (const auto& [day, n] : PerLocalDay(runs, "America/New_York")) EXPECT_EQ(n, 1) << day;
}

TEST(ZonedScheduleTest, NewYorkAutumnRepeatedTimeRunsOnce) {
  // 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00 UTC); 01:30 happens twice.
  const auto s = Make("30 1 * * *", "America/New_York");
  const auto runs = Runs(s, Utc(2026, 10, 30, 0), Utc(2026, 11, 4, 0));
  ASSERT_EQ(runs.size(), 5u);
  EXPECT_EQ(runs[2], Utc(2026, 11, 1, 5, 30));
  EXPECT_EQ(Local(runs[2], "America/New_York"), "2026-11-01 01:30 EDT");
  EXPECT_EQ(Local(runs[3], "America/New_York"), "2026-11-02 01:30 EST");
  for (const auto& [day, n] : PerLocalDay(runs, "America/New_York")) EXPECT_EQ(n, 1) << day;
}

TEST(ZonedScheduleTest, BerlinSpringAndAutumn) {
  const auto s = Make("30 2 * * *", "Europe/Berlin");
  // 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
  auto runs = Runs(s, Utc(2026, 3, 27, 0), Utc(2026, 4, 1, 0));
  ASSERT_EQ(runs.size(), 5u);
  EXPECT_EQ(runs[2], Utc(2026, 3, 29, 1));
  EXPECT_EQ(Local(runs[2], "Europe/Berlin"), "2026-03-29 03:00 CEST");
  for (const auto& [day, n] : PerLocalDay(runs, "Europe/Berlin")) EXPECT_EQ(n, 1) << day;
  // 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:30 happens twice.
  runs = Runs(s, Utc(2026, 10, 23, 0), Utc(2026, 10, 28, 0));
  ASSERT_EQ(runs.size(), 5u);
  EXPECT_EQ(runs[2], Utc(2026, 10, 25, 0, 30));
  EXPECT_EQ(Local(runs[2], "Europe/Berlin"), "2026-10-25 02:30 CEST");
  for (const auto& [day, n] : PerLocalDay(runs, "Europe/Berlin")) EXPECT_EQ(n, 1) << day;
}

TEST(ZonedScheduleTest, SeveralFixedTimesInTheSkippedHourRunOnce) {
  // 02:00, 02:15, 02:30 and 02:45 all fall into the gap: one run, at 03:00 EDT.
  const auto s = Make("*/15 2 * * *", "America/New_York");  // fixed hour, stepped minutes
  const auto runs = Runs(s, Utc(2026, 3, 8, 0), Utc(2026, 3, 9, 0));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0], Utc(2026, 3, 8, 7));
}

TEST(ZonedScheduleTest, StartedInTheRepeatedHourDoesNotRunItAgain) {
  const auto s = Make("30 1 * * *", "America/New_York");
  // 01:10 EST, the second pass: today's 01:30 went by at 01:30 EDT.
  const SysSeconds started = Utc(2026, 11, 1, 6, 10);
  EXPECT_EQ(s.Next(started), Utc(2026, 11, 2, 6, 30));
  // And after the run at 01:30 EDT, the next is tomorrow's.
  EXPECT_EQ(s.Next(Utc(2026, 11, 1, 5, 30)), Utc(2026, 11, 2, 6, 30));
}

// --- wildcard and step hours: by elapsed time ------------------------------------------

void ExpectEvenlySpaced(const std::vector<SysSeconds>& runs, seconds gap) {
  for (std::size_t i = 1; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i] - runs[i - 1], gap) << "between run " << i - 1 << " and " << i;
  }
}

TEST(ZonedScheduleTest, StepHoursRunByElapsedTimeAcrossEveryChange) {
  struct Day {
    const char* zone;
    SysSeconds from;
  };
  const Day days[] = {{"America/New_York", Utc(2026, 3, 8, 0)},
                      {"America/New_York", Utc(2026, 11, 1, 0)},
                      {"Europe/Berlin", Utc(2026, 3, 28, 12)},
                      {"Europe/Berlin", Utc(2026, 10, 24, 12)}};
  for (const Day& d : days) {
    SCOPED_TRACE(d.zone);
    auto runs = Runs(Make("*/30 * * * *", d.zone), d.from, d.from + hours(24));
    EXPECT_EQ(runs.size(), 48u);  // 24 elapsed hours, whatever the local clock did
    ExpectEvenlySpaced(runs, minutes(30));
    runs = Runs(Make("0 * * * *", d.zone), d.from, d.from + hours(24));
    EXPECT_EQ(runs.size(), 24u);
    ExpectEvenlySpaced(runs, hours(1));
  }
}

TEST(ZonedScheduleTest, RepeatedHourRunsTwiceByElapsedTime) {
  // 0 * * * *: 01:00 EDT and 01:00 EST are both a local 01:00, an hour apart.
  const auto runs =
      Runs(Make("0 * * * *", "America/New_York"), Utc(2026, 11, 1, 4), Utc(2026, 11, 1, 8));
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(Local(runs[1], "America/New_York"), "2026-11-01 01:00 EDT");
  EXPECT_EQ(Local(runs[2], "America/New_York"), "2026-11-01 01:00 EST");
}

TEST(ZonedScheduleTest, LastFindsTheLatestRunAtOrBefore) {
  const auto daily = Make("0 8 * * *", "Asia/Seoul");  // 23:00 UTC the day before
  EXPECT_EQ(daily.Last(Utc(2026, 5, 10, 12)), Utc(2026, 5, 9, 23));
  EXPECT_EQ(daily.Last(Utc(2026, 5, 9, 23)), Utc(2026, 5, 9, 23));
  const auto often = Make("*/5 * * * *", "UTC");
  EXPECT_EQ(often.Last(Utc(2026, 5, 10, 12, 7)), Utc(2026, 5, 10, 12, 5));
  const auto leap = Make("0 0 29 2 *", "UTC");
  EXPECT_EQ(leap.Last(Utc(2027, 1, 1, 0)), Utc(2024, 2, 29, 0));
}

// "UTC", the default, is known without the tz database (config/time_zone.h); its schedules
// run as the database's own UTC zone's do, by wall clock and by elapsed time, and its
// days and shown times are the same.
TEST(ZonedScheduleTest, UtcWithoutTheDatabaseRunsAsEtcUtc) {
  EXPECT_EQ(LocateZone("UTC"), nullptr);
  ASSERT_NE(LocateZone("Etc/UTC"), nullptr);
  EXPECT_TRUE(IsKnownZone("UTC"));
  EXPECT_FALSE(IsKnownZone("Mars/Olympus"));
  EXPECT_FALSE(IsKnownZone(""));
  for (const char* cron : {"30 2 * * *", "*/30 * * * *", "0 8 * * 1-5", "0 0 29 2 *",
                           "*/15 2 * * *", "0 * * * *"}) {
    const auto fast = Make(cron, "UTC");
    const auto db = Make(cron, "Etc/UTC");
    for (SysSeconds t = Utc(2026, 2, 27, 23, 59); t < Utc(2026, 3, 3, 0); t += minutes(47)) {
      ASSERT_EQ(fast.Next(t), db.Next(t)) << cron << " after " << Local(t, "UTC");
      ASSERT_EQ(fast.Last(t), db.Last(t)) << cron << " at " << Local(t, "UTC");
    }
  }
  for (const std::int64_t now : {0LL, 1706486399LL, 1706486400LL, 1900000000LL}) {
    EXPECT_EQ(TodayIn("UTC", now), TodayIn("Etc/UTC", now)) << now;
    EXPECT_EQ(LocalTimeIn("UTC", SysSeconds{seconds{now}}),
              LocalTimeIn("Etc/UTC", SysSeconds{seconds{now}}));
  }
  const auto at = std::chrono::system_clock::time_point{seconds{1706486399}};
  EXPECT_EQ(ShowTime(at, "UTC"), "2024-01-28 23:59:59 UTC");
  EXPECT_EQ(ShowTime(at, "Asia/Seoul"), "2024-01-29 08:59:59 KST");
}

TEST(ZonedScheduleTest, UnknownZoneIsAnError) {
  auto s = ZonedSchedule::Make("0 8 * * *", "Mars/Olympus");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("Mars/Olympus"), std::string::npos);
}

// --- the job set ------------------------------------------------------------------------

TEST(JobSchedulerTest, EarliestIsTheOneTimerToArm) {
  JobScheduler jobs(1);
  const SysSeconds now = Utc(2026, 5, 10, 12, 7);
  jobs.SetCron({JobKind::kFetch, "hf"}, Make("*/30 * * * *", "UTC"), seconds(0), now);
  jobs.SetCron({JobKind::kDigest, "w"}, Make("0 8 * * *", "UTC"), seconds(0), now);
  jobs.SetOnce({JobKind::kDeliver, ""}, now + minutes(3));
  auto first = jobs.Earliest();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->first, now + minutes(3));
  EXPECT_EQ(ShowJob(first->second), "deliver");
  EXPECT_TRUE(jobs.TakeDue(now + minutes(2)).empty());
  EXPECT_EQ(jobs.TakeDue(now + minutes(3)), (std::vector<JobKey>{{JobKind::kDeliver, ""}}));
  first = jobs.Earliest();  // the delivery is gone; the fetch at 12:30 is next
  ASSERT_TRUE(first);
  EXPECT_EQ(first->first, Utc(2026, 5, 10, 12, 30));
  EXPECT_EQ(ShowJob(first->second), "fetch hf");
}

TEST(JobSchedulerTest, AnOverdueJobRunsOnceAfterASuspend) {
  JobScheduler jobs(1);
  const SysSeconds now = Utc(2026, 5, 10, 12, 7);
  jobs.SetCron({JobKind::kFetch, "hf"}, Make("*/30 * * * *", "UTC"), seconds(0), now);
  jobs.SetEvery({JobKind::kPrune, ""}, hours(24), now);
  // The machine sleeps from 12:10 to 17:44: ten slots of the fetch went by.
  const SysSeconds woke = Utc(2026, 5, 10, 17, 44);
  const auto due = jobs.TakeDue(woke);
  EXPECT_EQ(due, (std::vector<JobKey>{{JobKind::kFetch, "hf"}, {JobKind::kPrune, ""}}));
  EXPECT_EQ(jobs.DueAt({JobKind::kFetch, "hf"}), Utc(2026, 5, 10, 18, 0));
  EXPECT_EQ(jobs.DueAt({JobKind::kPrune, ""}), woke + hours(24));
  EXPECT_TRUE(jobs.TakeDue(woke + seconds(1)).empty());
}

TEST(JobSchedulerTest, JitterIsBoundedAndSeeded) {
  const SysSeconds now = Utc(2026, 5, 10, 12, 7);
  const auto schedule = Make("0 * * * *", "UTC");
  auto delays = [&](std::uint64_t seed) {
    JobScheduler jobs(seed);
    jobs.SetCron({JobKind::kFetch, "hf"}, schedule, seconds(300), now);
    std::vector<seconds> out;
    SysSeconds t = now;
    for (int i = 0; i < 50; ++i) {
      const SysSeconds due = *jobs.DueAt({JobKind::kFetch, "hf"});
      const SysSeconds slot = floor<hours>(due);
      EXPECT_GT(slot, t - hours(1));
      EXPECT_LE(due - slot, seconds(300));
      out.push_back(due - slot);
      t = due;
      EXPECT_EQ(jobs.TakeDue(t).size(), 1u);
    }
    return out;
  };
  const auto a = delays(42);
  EXPECT_EQ(a, delays(42));  // the same seed, the same delays
  EXPECT_NE(a, delays(43));
  // Spread over the bound, not all zero.
  EXPECT_GT(*std::max_element(a.begin(), a.end()), seconds(150));
  // Each run lands in its own hour: one run per slot, none skipped.
  JobScheduler jobs(7);
  jobs.SetCron({JobKind::kFetch, "hf"}, schedule, seconds(300), now);
  SysSeconds last_slot = floor<hours>(now);
  for (int i = 0; i < 24; ++i) {
    const SysSeconds due = *jobs.DueAt({JobKind::kFetch, "hf"});
    EXPECT_EQ(floor<hours>(due), last_slot + hours(1));
    last_slot = floor<hours>(due);
    jobs.TakeDue(due);
  }
}

TEST(JobSchedulerTest, ClockSetBackBringsCronJobsBack) {
  JobScheduler jobs(1);
  const SysSeconds now = Utc(2026, 5, 10, 12, 7);
  jobs.SetCron({JobKind::kFetch, "hf"}, Make("0 * * * *", "UTC"), seconds(0), now);
  // The clock is set back a day: the job would wait 25 hours; it waits one.
  jobs.ClockChanged(now - hours(24));
  EXPECT_EQ(jobs.DueAt({JobKind::kFetch, "hf"}), Utc(2026, 5, 9, 13, 0));
  // Set forward: the job is overdue and runs once.
  jobs.ClockChanged(now + hours(5));
  EXPECT_EQ(jobs.TakeDue(now + hours(5)).size(), 1u);
}

TEST(JobSchedulerTest, RemoveKindDropsOnlyThatKind) {
  JobScheduler jobs(1);
  const SysSeconds now = Utc(2026, 5, 10, 12, 7);
  jobs.SetCron({JobKind::kFetch, "a"}, Make("0 * * * *", "UTC"), seconds(0), now);
  jobs.SetCron({JobKind::kFetch, "b"}, Make("0 * * * *", "UTC"), seconds(0), now);
  jobs.SetOnce({JobKind::kDeliver, ""}, now);
  jobs.RemoveKind(JobKind::kFetch);
  EXPECT_EQ(jobs.size(), 1u);
}

// --- the wall-clock timer ----------------------------------------------------------------

TEST(WallTimerTest, FiresAtAWallClockTime) {
  boost::asio::io_context io;
  int fired = 0;
  const auto at = system_clock::now() + milliseconds(200);
  std::unique_ptr<WallTimer> timer;
  // The machine's clock set meanwhile (a time daemon stepping it) ends the wait early: the
  // timer is armed again for the same time, as the scheduler does.
  auto made = WallTimer::Create(
      io, [&] { ++fired; }, [&] { EXPECT_TRUE(timer->ArmAt(at)); });
  ASSERT_TRUE(made) << made.error().message;
  timer = std::move(*made);
  ASSERT_TRUE(timer->ArmAt(at));
  io.run_for(seconds(5));  // returns once nothing is left to wait for
  EXPECT_EQ(fired, 1);
  EXPECT_GE(system_clock::now(), at);
}

TEST(WallTimerTest, APastTimeFiresAtOnceAndReArmingReplaces) {
  boost::asio::io_context io;
  std::vector<int> fired;
  std::unique_ptr<WallTimer> timer;
  auto made = WallTimer::Create(io, [&] { fired.push_back(int(fired.size())); }, [] {});
  ASSERT_TRUE(made);
  timer = std::move(*made);
  // Armed for an hour from now, then re-armed for the past: one firing, at once.
  ASSERT_TRUE(timer->ArmAt(system_clock::now() + hours(1)));
  ASSERT_TRUE(timer->ArmAt(system_clock::now() - hours(1)));
  io.run_for(milliseconds(500));
  EXPECT_EQ(fired.size(), 1u);
  timer->Close();
}

}  // namespace
}  // namespace digestd
