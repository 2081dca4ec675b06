#include "core/dates.h"

#include <gtest/gtest.h>

#include <ctime>
#include <random>

namespace digestd {
namespace {

using std::chrono::day;
using std::chrono::month;
using std::chrono::year;

Date D(int y, unsigned m, unsigned d) { return Date{year{y}, month{m}, day{d}}; }

TEST(Dates, ParseAndFormatIso) {
  EXPECT_EQ(ParseIsoDate("2024-01-29"), D(2024, 1, 29));
  EXPECT_EQ(FormatIsoDate(D(2024, 1, 29)), "2024-01-29");
  for (const char* bad : {"2024-02-30", "2024-1-29", "20240129", "2024-01-29x", "", "abcd-ef-gh",
                          "2023-02-29"}) {
    EXPECT_FALSE(ParseIsoDate(bad)) << bad;
  }
  EXPECT_TRUE(ParseIsoDate("2024-02-29"));
}

// gmtime_r and strftime, as UtcTimestamp was written before it wrote the digits itself.
std::string ReferenceTimestamp(std::int64_t unix_seconds) {
  const std::time_t tt = std::time_t(unix_seconds);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

TEST(Dates, UtcTimestampsAgreeWithTheCLibrary) {
  EXPECT_EQ(UtcTimestamp(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(UtcTimestamp(1706515200), "2024-01-29T08:00:00Z");
  EXPECT_EQ(UtcTimestamp(951868799), "2000-02-29T23:59:59Z");  // a leap day's last second
  EXPECT_EQ(UtcTimestamp(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatIsoDate(D(987, 6, 5)), "0987-06-05");
  std::mt19937_64 random(20261203);
  // Years 1000 to 9999, where strftime's %Y writes four digits too.
  std::uniform_int_distribution<std::int64_t> seconds(-30610224000, 253402300799);
  for (int i = 0; i < 20000; ++i) {
    const std::int64_t t = seconds(random);
    ASSERT_EQ(UtcTimestamp(t), ReferenceTimestamp(t)) << t;
  }
}

TEST(Dates, ExpandsTemplates) {
  EXPECT_EQ(*ExpandUrlTemplate("https://x/{date}.json", D(2024, 1, 29)), "https://x/2024-01-29.json");
  EXPECT_EQ(*ExpandUrlTemplate("https://x/{date:%Y/%m/%d}.md", D(2024, 1, 9)),
            "https://x/2024/01/09.md");
  EXPECT_EQ(*ExpandUrlTemplate("https://x/{date:%a}", D(2024, 1, 29)), "https://x/Mon");
  EXPECT_EQ(*ExpandUrlTemplate("https://x/feed", D(2024, 1, 29)), "https://x/feed");
}

TEST(Dates, TemplateErrorsNameTheProblem) {
  auto unknown = ExpandUrlTemplate("https://x/{day}", D(2024, 1, 29));
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("{day}"), std::string::npos);
  EXPECT_FALSE(ExpandUrlTemplate("https://x/{date", D(2024, 1, 29)));
  EXPECT_FALSE(ExpandUrlTemplate("https://x/date}", D(2024, 1, 29)));
}

TEST(Dates, HasDatePlaceholder) {
  EXPECT_TRUE(HasDatePlaceholder("x/{date}"));
  EXPECT_TRUE(HasDatePlaceholder("x/{date:%Y}"));
  EXPECT_FALSE(HasDatePlaceholder("x/feed"));
}

TEST(Dates, LookbackAndBackfill) {
  const Date today = D(2024, 1, 29);
  EXPECT_EQ(DatesToCheck(today, 2, 7, std::nullopt),
            (std::vector<Date>{D(2024, 1, 29), D(2024, 1, 28), D(2024, 1, 27)}));
  EXPECT_EQ(DatesToCheck(today, 0, 7, D(2024, 1, 29)), (std::vector<Date>{today}));
  // Down for five days: the missed dates come back.
  EXPECT_EQ(DatesToCheck(today, 1, 7, D(2024, 1, 24)).size(), 5u);
  // Down for a month: at most backfill_days.
  EXPECT_EQ(DatesToCheck(today, 1, 7, D(2023, 12, 1)).size(), 8u);
  EXPECT_EQ(DatesToCheck(D(2024, 3, 1), 1, 7, std::nullopt).back(), D(2024, 2, 29));
}

}  // namespace
}  // namespace digestd
