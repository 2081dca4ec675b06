// Issue 13, point 1: every parse keeps its limits whatever the bytes, and names the limit
// and the line when it cuts.
#include "fetchers/parse_limits.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "fetchers/digest_parser.h"

namespace digestd {
namespace {

std::string Attributes(std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) out += " a" + std::to_string(i) + "=\"x\"";
  return out;
}

// Three items on lines 3 to 5, the middle one's start tag carrying `middle_attributes`.
std::string FeedWithAttributes(const std::string& middle_attributes) {
  return "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>t</title>\n"
         "<item><title>good one</title><guid>g1</guid><link>https://example.org/1</link></item>\n"
         "<item" +
         middle_attributes +
         "><title>bad</title><guid>g2</guid>"
         "<link>https://example.org/2</link></item>\n"
         "<item><title>good two</title><guid>g3</guid><link>https://example.org/3</link></item>\n"
         "</channel></rss>\n";
}

std::vector<std::string> Titles(const ParseResult& result) {
  std::vector<std::string> titles;
  for (const Paper& p : result.digest.papers) titles.push_back(p.title);
  return titles;
}

std::string AllWarnings(const ParseResult& result) {
  std::string all;
  for (const ParseWarning& w : result.warnings) {
    all += std::to_string(w.line) + ": " + w.message + "\n";
  }
  return all;
}

TEST(Issue13, TooManyAttributesAreCutBeforeLibxml2AndTheOtherItemsStay) {
  // 20,000 attributes: quadratic inside libxml2 would be seconds; cut, it is nothing.
  const ParseResult result = ParseDigest("feed", FeedWithAttributes(Attributes(20000)));
  EXPECT_EQ(Titles(result), (std::vector<std::string>{"good one", "bad", "good two"}));
  const std::string warnings = AllWarnings(result);
  EXPECT_NE(warnings.find("4: XML: <item> has 20000 attributes, over the limit of 256 per element"),
            std::string::npos)
      << warnings;
}

TEST(Issue13, AttributesUpToTheLimitAreKept) {
  const ParseResult result =
      ParseDigest("feed", FeedWithAttributes(Attributes(kMaxXmlAttributesPerElement)));
  EXPECT_EQ(result.digest.papers.size(), 3u);
  EXPECT_EQ(AllWarnings(result).find("limit"), std::string::npos) << AllWarnings(result);
}

TEST(Issue13, AnOverlongAttributeValueIsDroppedWithItsLine) {
  const std::string feed = FeedWithAttributes(
      " ok=\"1\" big=\"" + std::string(kMaxXmlAttributeBytes + 1, 'v') + "\" after=\"2\"");
  const ParseResult result = ParseDigest("feed", feed);
  EXPECT_EQ(result.digest.papers.size(), 3u);
  EXPECT_NE(AllWarnings(result).find("4: XML: <item> has an attribute value of 65537 bytes, over "
                                     "the limit of 65536"),
            std::string::npos)
      << AllWarnings(result);
}

TEST(Issue13, QuotedGreaterThanAndCommentsDoNotConfuseTheScan) {
  // A '>' inside a value, and attribute-like text inside a comment and CDATA, are not tags.
  const std::string feed = FeedWithAttributes(" title=\"a > b\"" + Attributes(3)) + "<!-- <x" +
                           Attributes(300) + "> --><![CDATA[<y" + Attributes(300) + ">]]>";
  const ParseResult result = ParseDigest("feed", feed);
  EXPECT_EQ(result.digest.papers.size(), 3u);
  EXPECT_EQ(AllWarnings(result).find("limit"), std::string::npos) << AllWarnings(result);
}

TEST(Issue13, FieldsPastTheirLimitsAreCutOnACharacterBoundary) {
  ParseResult result;
  Paper paper{.key = "arxiv:2401.00001",
              .title = std::string(kMaxTitleBytes - 1, 'x') + "한",
              .url = "https://example.org/"};
  for (std::size_t i = 0; i < kMaxAuthorsPerPaper + 5; ++i) {
    paper.authors.push_back("Author " + std::to_string(i));
  }
  paper.summary = {std::string(kMaxSummaryBytes - 10, 's'), std::string(100, 't'), "gone"};
  result.digest.papers.push_back(paper);
  ApplyParseLimits(result);
  const Paper& cut = result.digest.papers.front();
  EXPECT_EQ(cut.title, std::string(kMaxTitleBytes - 1, 'x')) << "never half a character";
  EXPECT_EQ(cut.authors.size(), kMaxAuthorsPerPaper);
  EXPECT_TRUE(cut.authors_truncated);
  ASSERT_EQ(cut.summary.size(), 2u);
  EXPECT_EQ(cut.summary[1], std::string(10, 't'));
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0].message,
            "arxiv:2401.00001: over the limit of its title (2048 bytes), authors (1000 per "
            "paper), summary (65536 bytes); the rest is dropped");
}

TEST(Issue13, PapersPastTheLimitAreDropped) {
  ParseResult result;
  for (std::size_t i = 0; i < kMaxPapersPerDigest + 3; ++i) {
    result.digest.papers.push_back(Paper{.key = "k" + std::to_string(i), .title = "t"});
  }
  ApplyParseLimits(result);
  EXPECT_EQ(result.digest.papers.size(), kMaxPapersPerDigest);
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0].message,
            "20003 entries, over the limit of 20000 per digest; the ones past it are dropped");
}

// A long day's list takes room for kMaxPapersPerDigest papers (AppendToDay); a longer
// digest grows past that room and is cut only afterwards, in order.
TEST(Issue13, ADigestLongerThanItsRoomIsReadInOrderAndCut) {
  std::string items;
  for (std::size_t i = 0; i < kMaxPapersPerDigest + 2; ++i) {
    items += "<item><title>t</title><guid>g" + std::to_string(i) + "</guid></item>";
  }
  const ParseResult feed = ParseDigest("feed", "<rss><channel>" + items + "</channel></rss>");
  ASSERT_EQ(feed.digest.papers.size(), kMaxPapersPerDigest);
  EXPECT_EQ(feed.digest.papers.front().key, "g0");
  EXPECT_EQ(feed.digest.papers.back().key, "g" + std::to_string(kMaxPapersPerDigest - 1));
  EXPECT_NE(AllWarnings(feed).find("20002 entries, over the limit of 20000"), std::string::npos)
      << AllWarnings(feed);
  // A short day takes no room: a fuzzer's every input would map the whole block.
  const ParseResult short_day =
      ParseDigest("feed", "<rss><channel><item><guid>g</guid></item></channel></rss>");
  ASSERT_EQ(short_day.digest.papers.size(), 1u);
  EXPECT_LT(short_day.digest.papers.capacity(), kShortDayPapers);
}

TEST(Issue13, AnExhaustedBudgetStopsEveryParserWithAWarning) {
  std::atomic<bool> cancel{true};
  const ParseBudget budget{.cancel = &cancel};
  std::string items;
  for (int i = 0; i < 200; ++i) {
    items += "<item><title>t" + std::to_string(i) + "</title><guid>g" + std::to_string(i) +
             "</guid></item>\n";
  }
  const ParseResult feed =
      ParseDigest("feed", "<rss><channel>" + items + "</channel></rss>", budget);
  EXPECT_LT(feed.digest.papers.size(), 200u);
  EXPECT_NE(AllWarnings(feed).find("processing budget ran out"), std::string::npos);

  const ParseResult markdown = ParseDigest(
      "markdown", "## Daily Papers (2024-01-29)\n\n### [T](https://arxiv.org/abs/2401.15024)\n",
      budget);
  EXPECT_TRUE(markdown.digest.papers.empty());
  EXPECT_NE(AllWarnings(markdown).find("processing budget ran out"), std::string::npos);

  std::string json = "[";
  for (int i = 0; i < 300; ++i) json += std::string(i ? "," : "") + "{}";
  const ParseResult hf = ParseDigest("hf-daily", json + "]", budget);
  EXPECT_NE(AllWarnings(hf).find("processing budget ran out at item 255"), std::string::npos);

  cancel = false;
  EXPECT_EQ(ParseDigest("feed", "<rss><channel>" + items + "</channel></rss>", budget)
                .digest.papers.size(),
            200u)
      << "the same input with budget left is read whole";
}

}  // namespace
}  // namespace digestd
