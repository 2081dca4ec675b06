#include "core/dates.h"

#include <gtest/gtest.h>

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
