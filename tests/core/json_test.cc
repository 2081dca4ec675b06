// JsonWriter, the paper/digest shapes of CONFIG.md and notification lines.
#include <gtest/gtest.h>

#include <cstdio>
#include <iterator>
#include <random>
#include <string>
#include <string_view>

#include "core/json_writer.h"
#include "core/notification.h"
#include "core/paper_json.h"
#include "core/utf8.h"
#include "tests/core/reference_utf8.h"

namespace digestd {
namespace {

using test::RandomText;
using test::ReferenceJsonQuote;

TEST(JsonWriter, EscapesAndRepairsUtf8) {
  EXPECT_EQ(JsonQuote("a\"b\\c\n\t\x01"), "\"a\\\"b\\\\c\\n\\t\\u0001\"");
  EXPECT_EQ(JsonQuote("\xff"), "\"\xEF\xBF\xBD\"");
  EXPECT_EQ(JsonQuote("한국어"), "\"한국어\"");
}

TEST(JsonWriter, Issue13EscapesWhatATerminalWouldObeySoPrintedJsonIsSafeAndExact) {
  EXPECT_EQ(JsonQuote("a\x7f" "b"), "\"a\\u007fb\"") << "DEL";
  EXPECT_EQ(JsonQuote("x\xc2\x9b" "31m"), "\"x\\u009b31m\"") << "C1 CSI";
  EXPECT_EQ(JsonQuote("\xe2\x80\xae" "exe\xe2\x81\xa6"), "\"\\u202eexe\\u2066\"") << "bidi";
  EXPECT_EQ(JsonQuote("a\xe2\x80\xa8"), "\"a\\u2028\"") << "line separator";
  // Invisible characters that move nothing stay raw (chat payloads add word joiners).
  EXPECT_EQ(JsonQuote("\xe2\x81\xa0\xe2\x80\x8d" "é"), "\"\xe2\x81\xa0\xe2\x80\x8d" "é\"");
}

TEST(JsonWriter, NestsWithCommas) {
  JsonWriter j;
  j.BeginObject().Key("a").Int(1).Key("b").BeginArray().String("x").Null().Bool(true).EndArray();
  j.Key("c").BeginObject().EndObject().EndObject();
  EXPECT_EQ(j.str(), R"({"a":1,"b":["x",null,true],"c":{}})");
}

// Past the depth the writer keeps in bits (64), commas still go between elements only, at
// every depth, on the way in and back out.
TEST(JsonWriter, NestsDeeperThanItsBitsWithCommas) {
  JsonWriter json;
  std::string expected;
  for (int depth = 0; depth < 70; ++depth) {
    json.BeginArray().Int(depth);
    expected += "[" + std::to_string(depth) + ",";
  }
  expected.pop_back();
  for (int depth = 69; depth >= 0; --depth) {
    json.EndArray().String("x");
    expected += "]";
    if (depth > 0) expected += ",\"x\"";
  }
  // The last "x" follows the outermost array at the top level, where no comma goes.
  EXPECT_EQ(json.str(), expected + "\"x\"");
}

TEST(PaperJson, EmptyValuesAreNull) {
  Digest d;
  d.date = "2024-01-29";
  Paper p;
  p.key = "arxiv:2401.15024";
  p.title = "T";
  d.papers.push_back(p);
  EXPECT_EQ(DigestToJson(d),
            R"({"source":null,"date":"2024-01-29","papers":[{"key":"arxiv:2401.15024",)"
            R"("title":"T","url":null,"authors":[],"authors_truncated":false,"votes":null,)"
            R"("media_url":null,"summary":[],"tags":[],"version":null,"extra":{}}]})");
}

TEST(NotificationJson, OneLinePerPaperWithTheSameId) {
  Notification n;
  n.dedupe_key = "k";
  n.id = NotificationId(n.dedupe_key);
  n.notifier = "log";
  n.event = "new";
  n.watches = {"w"};
  Paper a;
  a.key = "arxiv:1";
  Paper b;
  b.key = "arxiv:2";
  n.papers = {{.paper = a, .source = "s", .date = "2024-01-29"}, {.paper = b, .source = "s"}};
  auto lines = NotificationJsonLines(n);
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& line : lines) {
    EXPECT_EQ(line.rfind("{\"notification\":\"" + n.id + "\",\"notifier\":\"log\",\"kind\":"
                         "\"instant\",\"event\":\"new\",\"watches\":[\"w\"],\"paper\":{",
                         0),
              0u)
        << line;
  }
  EXPECT_NE(lines[0].find("\"source\":\"s\",\"date\":\"2024-01-29\"}"), std::string::npos);
  EXPECT_NE(lines[1].find("\"date\":null"), std::string::npos);
}

TEST(NotificationJson, AlertHasNullPaperAndSource) {
  Notification n;
  n.id = NotificationId("alert");
  n.notifier = "me";
  n.kind = "alert";
  n.event = "source_failing";
  n.source = "hf";
  n.message = "5 failures";
  auto lines = NotificationJsonLines(n);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("\"paper\":null,\"source\":\"hf\""), std::string::npos);
}

TEST(NotificationId, StableHexOfTheKey) {
  EXPECT_EQ(NotificationId("abc"), NotificationId("abc"));
  EXPECT_NE(NotificationId("abc"), NotificationId("abd"));
  EXPECT_EQ(NotificationId("abc").size(), 32u);
}

TEST(Issue12, FastQuotingAgreesWithTheReferenceQuoter) {
  std::mt19937 rng(1212);
  int escaped = 0;
  int inexact = 0;
  for (int round = 0; round < 20000; ++round) {
    const std::string s = RandomText(rng);
    bool exact = true;
    const std::string expected = ReferenceJsonQuote(s, &exact);
    escaped += expected.find('\\') != std::string::npos ? 1 : 0;
    ASSERT_EQ(JsonQuote(s), expected) << round;
    // The writer says whether the text went in byte for byte (it reads back the same).
    JsonWriter writer;
    writer.BeginArray().String("plain").String(s).String("more").EndArray();
    ASSERT_EQ(writer.exact(), exact) << round;
    inexact += exact ? 0 : 1;
  }
  EXPECT_GT(escaped, 1000);
  EXPECT_GT(inexact, 1000);
  EXPECT_LT(inexact, 19000);
}

}  // namespace
}  // namespace digestd
