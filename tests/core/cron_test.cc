#include "core/cron.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace digestd {
namespace {

using namespace std::chrono;

local_seconds At(int y, unsigned mo, unsigned d, int h, int mi) {
  return local_days(year(y) / mo / d) + hours(h) + minutes(mi);
}

struct NextCase {
  const char* expr;
  local_seconds after;
  local_seconds want;
};

TEST(CronNext, Table) {
  const NextCase cases[] = {
      {"*/30 * * * *", At(2024, 1, 29, 10, 0), At(2024, 1, 29, 10, 30)},
      {"*/30 * * * *", At(2024, 1, 29, 10, 29) + seconds(59), At(2024, 1, 29, 10, 30)},
      {"*/30 * * * *", At(2024, 1, 29, 23, 45), At(2024, 1, 30, 0, 0)},
      {"0 8 * * *", At(2024, 1, 29, 8, 0), At(2024, 1, 30, 8, 0)},  // strictly after
      {"0 8 * * *", At(2024, 1, 29, 7, 59), At(2024, 1, 29, 8, 0)},
      {"0 9 * * MON-FRI", At(2024, 2, 2, 9, 0), At(2024, 2, 5, 9, 0)},  // Fri -> Mon
      {"0 9 * * mon-fri", At(2024, 2, 3, 12, 0), At(2024, 2, 5, 9, 0)},
      {"0 0 * * 7", At(2024, 2, 1, 0, 0), At(2024, 2, 4, 0, 0)},  // 7 is Sunday
      {"0 0 * * 0", At(2024, 2, 1, 0, 0), At(2024, 2, 4, 0, 0)},
      {"0 0 * * 5-7", At(2024, 2, 4, 0, 0), At(2024, 2, 9, 0, 0)},  // Sun -> Fri
      {"15,45 1-3 * * *", At(2024, 1, 1, 3, 45), At(2024, 1, 2, 1, 15)},
      {"0 0 1 JAN *", At(2024, 6, 1, 0, 0), At(2025, 1, 1, 0, 0)},
      {"0 0 29 2 *", At(2024, 3, 1, 0, 0), At(2028, 2, 29, 0, 0)},
      {"0 0 29 2 *", At(2096, 3, 1, 0, 0), At(2104, 2, 29, 0, 0)},  // 2100 is no leap year
      {"0 0 31 * *", At(2024, 4, 1, 0, 0), At(2024, 5, 31, 0, 0)},
      // Both day fields restricted: either matches (13th or a Friday).
      {"0 0 13 * FRI", At(2024, 2, 1, 0, 0), At(2024, 2, 2, 0, 0)},
      {"0 0 13 * FRI", At(2024, 2, 9, 0, 0), At(2024, 2, 13, 0, 0)},
      // A '*'-led day-of-month leaves only the weekday deciding (AND).
      {"0 0 */1 * FRI", At(2024, 2, 1, 0, 0), At(2024, 2, 2, 0, 0)},
      {"0 0 * * FRI", At(2024, 2, 2, 0, 0), At(2024, 2, 9, 0, 0)},
      {"5/20 * * * *", At(2024, 1, 1, 0, 45), At(2024, 1, 1, 1, 5)},
      {"@hourly", At(2024, 1, 1, 0, 0), At(2024, 1, 1, 1, 0)},
      {"@daily", At(2024, 1, 1, 0, 0), At(2024, 1, 2, 0, 0)},
      {"@midnight", At(2024, 1, 1, 12, 0), At(2024, 1, 2, 0, 0)},
      {"@weekly", At(2024, 1, 1, 0, 0), At(2024, 1, 7, 0, 0)},
      {"@monthly", At(2024, 1, 31, 0, 0), At(2024, 2, 1, 0, 0)},
      {"@yearly", At(2024, 1, 1, 0, 0), At(2025, 1, 1, 0, 0)},
      {"@ANNUALLY", At(2024, 1, 1, 0, 0), At(2025, 1, 1, 0, 0)},
      {"  0   8\t* * *  ", At(2024, 1, 29, 7, 0), At(2024, 1, 29, 8, 0)},
      {"0 0 1 * *", At(1969, 12, 31, 23, 59) + seconds(30), At(1970, 1, 1, 0, 0)},
  };
  for (const NextCase& c : cases) {
    Result<CronSchedule> s = ParseCron(c.expr);
    ASSERT_TRUE(s.has_value()) << c.expr << ": " << s.error().message;
    EXPECT_EQ(s->Next(c.after), c.want) << c.expr;
  }
}

struct ErrorCase {
  const char* expr;
  const char* want;  // a part of the message
};

TEST(CronParse, ErrorsNameFieldAndValue) {
  const ErrorCase cases[] = {
      {"", "expected 5 fields"},
      {"* * * *", "got 4"},
      {"* * * * * *", "got 6"},
      {"60 * * * *", "minute: \"60\" is out of range 0-59"},
      {"* 24 * * *", "hour: \"24\" is out of range 0-23"},
      {"* * 0 * *", "day-of-month: \"0\" is out of range 1-31"},
      {"* * 32 * *", "day-of-month: \"32\""},
      {"* * * 13 *", "month: \"13\" is out of range 1-12"},
      {"* * * FOO *", "month: \"FOO\" is not a valid value"},
      {"* * * * 8", "day-of-week: \"8\" is out of range 0-7"},
      {"* * * * MONDAY", "day-of-week: \"MONDAY\""},
      {"* * * * JAN", "day-of-week: \"JAN\""},
      {"*/0 * * * *", "minute: \"*/0\" has a step of 0"},
      {"*/x * * * *", "minute: \"*/x\" has an invalid step"},
      {"5-1 * * * *", "minute: \"5-1\" is a range that runs backwards"},
      {"1,,2 * * * *", "minute: \"1,,2\" has an empty list item"},
      {"1, * * * *", "minute: \"1,\" has an empty list item"},
      {"-5 * * * *", "minute: \"-5\" is missing a value"},
      {"99999999999 * * * *", "minute: \"99999999999\" is out of range"},
      {"@reboot", "unknown macro \"@reboot\""},
      {"0 0 30 2 *", "day-of-month: \"30\" never occurs in month \"2\""},
      {"0 0 31 APR,JUN *", "never occurs"},
  };
  for (const ErrorCase& c : cases) {
    Result<CronSchedule> s = ParseCron(c.expr);
    ASSERT_FALSE(s.has_value()) << c.expr;
    EXPECT_NE(s.error().message.find(c.want), std::string::npos)
        << c.expr << " -> " << s.error().message;
  }
}

TEST(CronParse, ImpossibleDayIsFineWhenWeekdayAlsoRestricted) {
  // OR semantics: 30 FEB never happens, but Mondays in February do.
  Result<CronSchedule> s = ParseCron("0 0 30 2 MON");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->Next(At(2024, 1, 1, 0, 0)), At(2024, 2, 5, 0, 0));
}

TEST(CronNext, DefaultScheduleNeverMatches) {
  EXPECT_EQ(CronSchedule().Next(At(2024, 1, 1, 0, 0)), local_seconds::max());
}

}  // namespace
}  // namespace digestd
