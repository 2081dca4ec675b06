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

namespace digestd {
namespace {

// Issue 12: the reference the word-at-a-time paths must agree with, one code point at a time
// as the old code decoded: the valid sequence at `s[i]`, its length in `len` (0: invalid).
char32_t ReferenceDecode(std::string_view s, std::size_t i, std::size_t* len) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  *len = 0;
  if (b0 < 0x80) {
    *len = 1;
    return b0;
  }
  std::size_t n = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) n = 2, cp = b0 & 0x1F, min = 0x80;
  else if ((b0 & 0xF0) == 0xE0) n = 3, cp = b0 & 0x0F, min = 0x800;
  else if ((b0 & 0xF8) == 0xF0) n = 4, cp = b0 & 0x07, min = 0x10000;
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  *len = n;
  return cp;
}

// Random text shaped like fetched text: ASCII runs longer than a word, Hangul, accents,
// controls, quotes, bidi marks, and now and then a broken sequence.
std::string RandomText(std::mt19937& rng) {
  static const char* const kPieces[] = {
      "plain ascii words ", "한국어 요약 ", "é", "\"", "\\", "\n", "\x01", "\x7f", "\xc2\x9b",
      "\xe2\x80\xae", "\xe2\x81\xa0", "\xd8\x9c", "\xf0\x9f\x98\x80", "\x80", "\xc0\xaf",
      "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xff", "abcdefgh", "12345678901234"};
  std::string s;
  const int pieces = int(rng() % 24);
  for (int k = 0; k < pieces; ++k) s += kPieces[rng() % std::size(kPieces)];
  if (rng() % 4 == 0 && !s.empty()) s.resize(rng() % s.size());  // cut anywhere
  return s;
}


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
  for (int round = 0; round < 20000; ++round) {
    const std::string s = RandomText(rng);
    std::string expected = "\"";
    for (std::size_t i = 0; i < s.size();) {
      std::size_t len = 0;
      const char32_t cp = ReferenceDecode(s, i, &len);
      if (len == 0) {
        expected += "\xEF\xBF\xBD";
        ++i;
        continue;
      }
      char buffer[16];
      if (cp == '"') expected += "\\\"";
      else if (cp == '\\') expected += "\\\\";
      else if (cp == '\n') expected += "\\n";
      else if (cp == '\r') expected += "\\r";
      else if (cp == '\t') expected += "\\t";
      else if (cp == '\b') expected += "\\b";
      else if (cp == '\f') expected += "\\f";
      else if (IsControlOrBidi(cp)) {
        std::snprintf(buffer, sizeof buffer, "\\u%04x", unsigned(cp));
        expected += buffer;
      } else {
        expected.append(s, i, len);
      }
      i += len;
    }
    expected += '"';
    escaped += expected.find('\\') != std::string::npos ? 1 : 0;
    ASSERT_EQ(JsonQuote(s), expected) << round;
  }
  EXPECT_GT(escaped, 1000);
}

}  // namespace
}  // namespace digestd
