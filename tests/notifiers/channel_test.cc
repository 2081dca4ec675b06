#include "notifiers/channel.h"

#include <gtest/gtest.h>

#include "core/utf8.h"
#include "tests/notifiers/notifier_testing.h"

namespace digestd {
namespace {

using std::chrono::seconds;
using test::kNow;
using Kind = Outcome::Kind;

Response Answer(long status, std::string body = "", std::string retry_after = "") {
  return {.status = status,
          .body = std::move(body),
          .retry_after = std::move(retry_after),
          .received_at = kNow};
}

TEST(ClassifyHttp, EveryStatusClass) {
  const struct {
    long status;
    Kind kind;
  } table[] = {
      {200, Kind::kDelivered}, {201, Kind::kDelivered}, {204, Kind::kDelivered},
      {299, Kind::kDelivered}, {100, Kind::kPermanent}, {301, Kind::kPermanent},
      {302, Kind::kPermanent}, {304, Kind::kPermanent}, {307, Kind::kPermanent},
      {400, Kind::kPermanent}, {401, Kind::kPermanent}, {403, Kind::kPermanent},
      {404, Kind::kPermanent}, {409, Kind::kPermanent}, {413, Kind::kPermanent},
      {422, Kind::kPermanent}, {408, Kind::kRetry},     {425, Kind::kRetry},
      {429, Kind::kRetry},     {500, Kind::kRetry},     {502, Kind::kRetry},
      {503, Kind::kRetry},     {504, Kind::kRetry},     {599, Kind::kRetry},
      {410, Kind::kDisable},   {600, Kind::kPermanent},
  };
  for (const auto& row : table) {
    const Outcome outcome = ClassifyHttp(Answer(row.status, "nope"));
    EXPECT_EQ(outcome.kind, row.kind) << "status " << row.status;
    if (row.kind == Kind::kDelivered) {
      EXPECT_EQ(outcome.reason, "") << row.status;
    } else {
      EXPECT_EQ(outcome.reason, "HTTP status " + std::to_string(row.status) + ": nope");
    }
  }
}

TEST(ClassifyHttp, TransportFailureRetriesWithItsMessage) {
  const Outcome outcome =
      ClassifyHttp({.failure = "https://hooks.example/REDACTED: connection refused"});
  EXPECT_EQ(outcome.kind, Kind::kRetry);
  EXPECT_EQ(outcome.reason, "https://hooks.example/REDACTED: connection refused");
  EXPECT_FALSE(outcome.retry_after);
}

TEST(ClassifyHttp, RetryAfterInSecondsAndAsDate) {
  EXPECT_EQ(ClassifyHttp(Answer(429, "", "120")).retry_after, seconds(120));
  EXPECT_EQ(ClassifyHttp(Answer(503, "", "Mon, 29 Jan 2024 08:05:00 GMT")).retry_after,
            seconds(300));
  EXPECT_FALSE(ClassifyHttp(Answer(503, "", "")).retry_after);
  EXPECT_FALSE(ClassifyHttp(Answer(503, "", "tomorrow")).retry_after);
  // Retry-After on a permanent answer means nothing.
  EXPECT_FALSE(ClassifyHttp(Answer(400, "", "120")).retry_after);
  // Without the time of the answer only delay-seconds can be read.
  Response undated = Answer(503, "", "Mon, 29 Jan 2024 08:05:00 GMT");
  undated.received_at = 0;
  EXPECT_FALSE(ClassifyHttp(undated).retry_after);
  undated.retry_after = "7";
  EXPECT_EQ(ClassifyHttp(undated).retry_after, seconds(7));
}

TEST(ClassifyHttp, ReasonIsTheStartOfTheBodyWithoutControlCharacters) {
  EXPECT_EQ(ClassifyHttp(Answer(404)).reason, "HTTP status 404");
  EXPECT_EQ(ClassifyHttp(Answer(400, "{\"error\":\n\t\"bad\x1b[31m payload\"}\r\n")).reason,
            "HTTP status 400: {\"error\": \"bad [31m payload\"}");
  // 200 bytes at most, cut between characters: "가" is 3 bytes, so 66 fit.
  std::string korean;
  for (int i = 0; i < 100; ++i) korean += "가";
  const std::string reason = ClassifyHttp(Answer(422, korean + "\xff")).reason;
  EXPECT_TRUE(IsValidUtf8(reason)) << reason;
  std::string expected = "HTTP status 422: ";
  for (int i = 0; i < 66; ++i) expected += "가";
  EXPECT_EQ(reason, expected + "…");
  EXPECT_EQ(ClassifyHttp(Answer(500, "\xff\xfe")).reason, "HTTP status 500: \uFFFD\uFFFD");
}

TEST(ParseRetryAfter, DelaySeconds) {
  EXPECT_EQ(ParseRetryAfter("0", kNow), seconds(0));
  EXPECT_EQ(ParseRetryAfter("120", kNow), seconds(120));
  EXPECT_EQ(ParseRetryAfter(" 120 ", kNow), seconds(120));
  EXPECT_EQ(ParseRetryAfter("604800", kNow), kMaxRetryAfter);
  EXPECT_EQ(ParseRetryAfter("604801", kNow), kMaxRetryAfter);
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999999", kNow), kMaxRetryAfter);
}

TEST(ParseRetryAfter, HttpDatesInAllThreeForms) {
  EXPECT_EQ(ParseRetryAfter("Mon, 29 Jan 2024 08:02:00 GMT", kNow), seconds(120));
  EXPECT_EQ(ParseRetryAfter("Monday, 29-Jan-24 08:02:00 GMT", kNow), seconds(120));
  EXPECT_EQ(ParseRetryAfter("Mon Jan 29 08:02:00 2024", kNow), seconds(120));
  EXPECT_EQ(ParseRetryAfter("Thu Feb  1 08:00:00 2024", kNow), seconds(3 * 86400));
  EXPECT_EQ(ParseRetryAfter("Thu, 01 Feb 2024 08:00:00 GMT", kNow), seconds(3 * 86400));
  // The RFC's own example, long past: retry now.
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", kNow), seconds(0));
  EXPECT_EQ(ParseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", kNow), seconds(0));
  EXPECT_EQ(ParseRetryAfter("Sun Nov  6 08:49:37 1994", kNow), seconds(0));
  EXPECT_EQ(ParseRetryAfter("Mon, 29 Jan 2024 08:00:00 GMT", kNow), seconds(0));
  EXPECT_EQ(ParseRetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", kNow), kMaxRetryAfter);
  // A leap second is a valid time of day.
  EXPECT_EQ(ParseRetryAfter("Mon, 29 Jan 2024 08:00:60 GMT", kNow), seconds(60));
}

TEST(ParseRetryAfter, TwoDigitYearsMoreThanFiftyYearsAheadAreInThePast) {
  // From 2024, "74" is 2074 (50 years ahead) but "75" is 1975.
  EXPECT_EQ(ParseRetryAfter("Monday, 29-Jan-74 08:00:00 GMT", kNow), kMaxRetryAfter);
  EXPECT_EQ(ParseRetryAfter("Wednesday, 29-Jan-75 08:00:00 GMT", kNow), seconds(0));
}

TEST(ParseRetryAfter, GarbageIsUnreadable) {
  for (const char* value : {"",
                            "   ",
                            "-1",
                            "+5",
                            "1.5",
                            "12 s",
                            "soon",
                            "0x10",
                            "Mon, 29 Jan 2024 08:02:00 UTC",
                            "Mon, 29 Jan 2024 08:02:00 gmt",
                            "Mon, 29 Jan 2024 08:02 GMT",
                            "Mon, 29 Jan 24 08:02:00 GMT",
                            "Mon, 31 Feb 2024 08:02:00 GMT",
                            "Mon, 29 Jan 2024 24:00:00 GMT",
                            "Mon, 29 Jan 2024 08:60:00 GMT",
                            "Mon, 29 Foo 2024 08:02:00 GMT",
                            "Xyz, 29 Jan 2024 08:02:00 GMT",
                            "Mon, 29 Jan 2024 08:02:00 GMT x",
                            "Mon, 29-Jan-24 08:02:00 GMT",
                            "Mon Jan 29 08:02:00 24",
                            "Mon Jan 290 08:02:00 2024"}) {
    EXPECT_FALSE(ParseRetryAfter(value, kNow)) << "'" << value << "'";
  }
}

TEST(ReasonExcerpt, CutsHeadOrTailOnCharacterBoundaries) {
  EXPECT_EQ(ReasonExcerpt("short", 10), "short");
  EXPECT_EQ(ReasonExcerpt("  a\n\n b\t", 10), "a b");
  EXPECT_EQ(ReasonExcerpt("abcdefghij", 4), "abcd…");
  EXPECT_EQ(ReasonExcerpt("abcdefghij", 4, true), "…ghij");
  EXPECT_EQ(ReasonExcerpt("가나다", 4), "가…");
  EXPECT_EQ(ReasonExcerpt("가나다", 4, true), "…다");
  EXPECT_EQ(ReasonExcerpt("", 4), "");
}

}  // namespace
}  // namespace digestd
