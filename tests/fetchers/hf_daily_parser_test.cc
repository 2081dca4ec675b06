#include "fetchers/hf_daily_parser.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/support/parser_testing.h"

namespace digestd {
namespace {

using Strings = std::vector<std::string>;

std::string ReadFixture(const std::string& name) { return test::ReadTestData("hf-api/" + name); }

Strings Keys(const Digest& digest) {
  Strings keys;
  for (const Paper& paper : digest.papers) keys.push_back(paper.key);
  return keys;
}

TEST(HfDailyParser, CompactDayWithEveryField) {
  const ParseResult result = ParseHfDaily(ReadFixture("daily_compact.json"));
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_EQ(result.digest.date, "2026-11-11");
  EXPECT_EQ(result.digest.source, "");
  ASSERT_EQ(Keys(result.digest),
            (Strings{"arxiv:2611.03001", "arxiv:2611.03117", "arxiv:2611.03250"}));

  const Paper& full = result.digest.papers[0];
  EXPECT_EQ(full.title, "Tidepool: Curriculum Learning from Receding Shorelines");
  EXPECT_EQ(full.url, "https://arxiv.org/abs/2611.03001");
  EXPECT_EQ(full.version, "");
  // The hidden author is kept; the duplicate name is dropped; names are collapsed.
  EXPECT_EQ(full.authors, (Strings{"Ilse Vantongeren", "Rurik Osei-Bannerman", "Petra Lindqvist"}));
  EXPECT_FALSE(full.authors_truncated);
  EXPECT_EQ(full.summary,
            (Strings{"Curricula built from tidal data improve sample efficiency. We release "
                     "Tidepool-7B.",
                     "Tidal curricula make small models learn faster."}));
  EXPECT_EQ(full.votes, 57);
  // The outer thumbnail wins over mediaUrls.
  EXPECT_EQ(full.media_url,
            "https://cdn-thumbnails.example.org/social-thumbnails/papers/2611.03001.png");
  EXPECT_EQ(full.tags, (Strings{"curriculum learning", "tidal data", "sample efficiency"}));
  EXPECT_EQ(full.extra,
            (std::map<std::string, std::string>{{"github", "https://github.com/example/tidepool"},
                                                {"github_stars", "431"},
                                                {"project_page", "https://tidepool.example.org"},
                                                {"comments", "4"},
                                                {"organization", "shoreline-ai"},
                                                {"submitted_on_daily", "2026-11-11"},
                                                {"published", "2026-11-07T00:00:00.000Z"}}));
}

TEST(HfDailyParser, FreshPaperWithoutAiFields) {
  const ParseResult result = ParseHfDaily(ReadFixture("daily_compact.json"));
  ASSERT_EQ(result.digest.papers.size(), 3u);
  const Paper& fresh = result.digest.papers[1];
  EXPECT_EQ(fresh.summary, (Strings{"An abstract with été and 한국어 text."}));
  EXPECT_TRUE(fresh.tags.empty());
  EXPECT_EQ(fresh.votes, 0);
  // No thumbnail: the first mediaUrl, resolved against huggingface.co.
  EXPECT_EQ(fresh.media_url, "https://huggingface.co/avatars/9a8b7c6d.svg");
  EXPECT_EQ(fresh.extra.count("github"), 0u);
  EXPECT_EQ(fresh.extra.count("organization"), 0u);
  EXPECT_EQ(fresh.extra.at("comments"), "1");

  const Paper& float_votes = result.digest.papers[2];
  EXPECT_EQ(float_votes.votes, 7);
  EXPECT_EQ(float_votes.tags, (Strings{"floats"}));
}

TEST(HfDailyParser, PrettyDayWithWrongTypesAndBrokenItems) {
  const ParseResult result = ParseHfDaily(ReadFixture("daily_pretty.json"));
  EXPECT_EQ(result.digest.date, "2026-11-10");
  ASSERT_EQ(Keys(result.digest), (Strings{"arxiv:2611.04417", "arxiv:2611.04502"}));

  const Paper& wrapped = result.digest.papers[0];
  EXPECT_EQ(wrapped.title, "Lanternfish: Sparse Probing of Deep-Sea Sonar Transformers");
  EXPECT_EQ(wrapped.summary, (Strings{"We probe sonar transformers with sparse dictionaries."}));
  EXPECT_EQ(wrapped.votes, std::nullopt);  // "12" is a string, not a number
  EXPECT_EQ(wrapped.media_url, "https://cdn.example.org/uploads/lanternfish.mp4");
  // The organization only inside `paper` still counts.
  EXPECT_EQ(wrapped.extra.at("organization"), "brinylab");
  EXPECT_EQ(wrapped.authors, (Strings{"Marisol Quenby", "Tobiah Wrenfield"}));

  const Paper& odd = result.digest.papers[1];
  EXPECT_EQ(odd.title, "Outer Title Only");  // paper.title missing: the outer title
  EXPECT_TRUE(odd.authors.empty());
  EXPECT_TRUE(odd.summary.empty());
  EXPECT_TRUE(odd.tags.empty());
  EXPECT_EQ(odd.votes, 5);  // 4.6 rounds
  EXPECT_EQ(odd.media_url, "");
  EXPECT_TRUE(odd.extra.empty());

  ASSERT_EQ(result.warnings.size(), 3u);
  EXPECT_EQ(result.warnings[0].message, "hf-daily: item 1 skipped: no paper.id");
  EXPECT_EQ(result.warnings[1].message, "hf-daily: item 3 skipped: no paper.title");
  EXPECT_EQ(result.warnings[2].message, "hf-daily: item 4 skipped: not an object");
}

TEST(HfDailyParser, ObjectInsteadOfArrayWarns) {
  const ParseResult result = ParseHfDaily(ReadFixture("not_array.json"));
  EXPECT_TRUE(result.digest.papers.empty());
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_NE(result.warnings[0].message.find("array"), std::string::npos);
}

TEST(HfDailyParser, EmptyArrayIsAnEmptyDay) {
  const ParseResult result = ParseHfDaily("[]");
  EXPECT_TRUE(result.digest.papers.empty());
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_EQ(result.digest.date, "");
}

TEST(HfDailyParser, GarbageAndTruncatedJsonGiveOneWarning) {
  const std::string compact = ReadFixture("daily_compact.json");
  for (const std::string& bad :
       {std::string(""), std::string("<html>502 Bad Gateway</html>"), std::string("\xff\xfe["),
        compact.substr(0, compact.size() / 2), std::string(100000, '[')}) {
    const ParseResult result = ParseHfDaily(bad);
    EXPECT_TRUE(result.digest.papers.empty());
    EXPECT_EQ(result.warnings.size(), 1u) << bad.substr(0, 40);
  }
  EXPECT_EQ(ParseHfDaily("42").warnings.size(), 1u);
}

TEST(HfDailyParser, InvalidUtf8InStringsIsReplaced) {
  const ParseResult result = ParseHfDaily(
      "[{\"paper\":{\"id\":\"2611.00001v2\",\"title\":\"Bad \xC3\x28 byte\","
      "\"authors\":[{\"name\":\"\xED\xA0\x80X\"}],\"upvotes\":1e300}}]");
  ASSERT_EQ(result.digest.papers.size(), 1u);
  const Paper& paper = result.digest.papers[0];
  EXPECT_EQ(paper.key, "arxiv:2611.00001");
  EXPECT_EQ(paper.version, "v2");
  EXPECT_EQ(paper.url, "https://arxiv.org/abs/2611.00001");
  EXPECT_EQ(paper.title, "Bad \xEF\xBF\xBD( byte");
  EXPECT_TRUE(test::AllFieldsValidUtf8(result));
  EXPECT_EQ(paper.votes, 2147483647);
}

TEST(Issue13, ALoneSurrogateEscapeIsOneReplacementCharacterNotALostDay) {
  const ParseResult result = ParseHfDaily(
      R"([{"paper":{"id":"2401.00001","title":"A \ud800 model"}},)"
      R"({"paper":{"id":"2401.00002","title":"B \udc00\ud83d\ude00 \\ud800 \uD800\u0041"}}])");
  ASSERT_EQ(result.digest.papers.size(), 2u);
  EXPECT_EQ(result.digest.papers[0].title, "A \xEF\xBF\xBD model");
  // A lone low half, a proper pair kept, an escaped backslash left alone, a high half
  // followed by no low half.
  EXPECT_EQ(result.digest.papers[1].title,
            "B \xEF\xBF\xBD\xF0\x9F\x98\x80 \\ud800 \xEF\xBF\xBD" "A");
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0].message,
            "hf-daily: 3 unpaired surrogate escape(s) (\\uD800-\\uDFFF) read as U+FFFD");
}

TEST(HfDailyParser, NonArxivIdFallsBackToThePaperPage) {
  const ParseResult result = ParseHfDaily(R"([{"paper":{"id":"hf-0001","title":"T"}}])");
  ASSERT_EQ(result.digest.papers.size(), 1u);
  EXPECT_EQ(result.digest.papers[0].key, "https://huggingface.co/papers/hf-0001");
  EXPECT_EQ(result.digest.papers[0].url, "https://huggingface.co/papers/hf-0001");
}

// Issue 12: items are read one at a time; every kind of element, nested containers and
// strings with escapes inside an item come out as the whole-tree parse read them.
TEST(Issue12, ItemsOfEveryKindAreReadOneAtATime) {
  const ParseResult result = ParseHfDaily(
      R"([1, "two", null, true, [{"paper":{"id":"2401.00009","title":"In an array"}}],)"
      R"( {"paper":{"id":"2401.00001","title":"First \"quoted\" \u00e9",)"
      R"("authors":[{"name":"A"},[],{"name":{"n":"B"}},{"name":"C"}],"upvotes":-3,)"
      R"("ai_keywords":["k1",["nested"],"k2"],"submittedOnDailyAt":"2026-11-12T00:00:00Z"}},)"
      R"( {}, {"paper":{"id":"2401.00002","title":"Second","upvotes":18446744073709551615}}])");
  ASSERT_EQ(Keys(result.digest), (Strings{"arxiv:2401.00001", "arxiv:2401.00002"}));
  EXPECT_EQ(result.digest.date, "2026-11-12");
  const Paper& first = result.digest.papers[0];
  EXPECT_EQ(first.title, "First \"quoted\" \xC3\xA9");
  EXPECT_EQ(first.authors, (Strings{"A", "C"}));
  EXPECT_EQ(first.tags, (Strings{"k1", "k2"}));
  EXPECT_EQ(first.votes, -3);
  EXPECT_EQ(result.digest.papers[1].votes, 2147483647);
  Strings warnings;
  for (const ParseWarning& w : result.warnings) warnings.push_back(w.message);
  EXPECT_EQ(warnings, (Strings{"hf-daily: item 0 skipped: not an object",
                               "hf-daily: item 1 skipped: not an object",
                               "hf-daily: item 2 skipped: not an object",
                               "hf-daily: item 3 skipped: not an object",
                               "hf-daily: item 4 skipped: not an object",
                               "hf-daily: item 6 skipped: no \"paper\" object"}));
}

// Good items before a syntax error, or before trailing bytes, are not a day: the body is
// not JSON, and that one warning is all there is.
TEST(Issue12, ASyntaxErrorAfterGoodItemsIsOneWarningAndNoPapers) {
  const std::string good = R"([{"paper":{"id":"2401.00001","title":"T"}})";
  for (const std::string& bad : {good + ",", good + "] x", good + ", {\"paper\": }]",
                                 std::string(R"({"paper":{"id":"2401.00001","title":"T"}} [)")}) {
    const ParseResult result = ParseHfDaily(bad);
    EXPECT_TRUE(result.digest.papers.empty()) << bad;
    ASSERT_EQ(result.warnings.size(), 1u) << bad;
    EXPECT_EQ(result.warnings[0].message.rfind("hf-daily: not valid JSON: ", 0), 0u)
        << result.warnings[0].message;
  }
  // A valid object or scalar root is named as such.
  EXPECT_EQ(ParseHfDaily(R"({"a":[1,{"b":"c"}]})").warnings.at(0).message,
            "hf-daily: expected a JSON array of items, got an object");
  EXPECT_EQ(ParseHfDaily(R"("text")").warnings.at(0).message,
            "hf-daily: expected a JSON array of items, got a scalar");
}

// Items nest at most as deep as the whole-tree parse allowed (32 levels, the array's own
// included).
TEST(Issue12, DepthLimitIsTheDocumentsDepth) {
  auto nested = [](int depth) {
    return "[" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "]";
  };
  EXPECT_EQ(ParseHfDaily(nested(32)).warnings.size(), 1u);
  EXPECT_EQ(ParseHfDaily(nested(32)).warnings[0].message, "hf-daily: item 0 skipped: not an object");
  EXPECT_EQ(ParseHfDaily(nested(33)).warnings[0].message.rfind("hf-daily: not valid JSON: ", 0),
            0u);
}

// A parse stopped by its budget keeps the items it read, even when the unread rest of the
// body is broken.
TEST(Issue12, ABudgetStopKeepsWhatWasReadBeforeABrokenTail) {
  std::string json = "[";
  for (int i = 0; i < 300; ++i) {
    json += std::string(i ? "," : "") + R"({"paper":{"id":"2401.)" + std::to_string(10000 + i) +
            R"(","title":"T"}})";
  }
  std::atomic<bool> cancel{true};
  const ParseResult result = ParseHfDaily(json + ", {broken", ParseBudget{.cancel = &cancel});
  EXPECT_EQ(result.digest.papers.size(), 255u);
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0].message,
            "hf-daily: the source's processing budget ran out at item 255; the rest is not read");
  cancel = false;
  EXPECT_TRUE(ParseHfDaily(json + ", {broken", ParseBudget{.cancel = &cancel}).digest.papers.empty());
  EXPECT_EQ(ParseHfDaily(json + "]", ParseBudget{.cancel = &cancel}).digest.papers.size(), 300u);
}

// Issue 12: the day's JSON is read a piece at a time (a long body from its spool file) and
// never held whole: it reads as the same bytes in one piece do, papers, warnings and date,
// wherever the pieces cut: inside a string, a number, a surrogate pair or a lone surrogate's
// escape, an escaped backslash, the byte order mark, or the white space after the document.
TEST(Issue12, HfDailyReadInPiecesReadsAsInOnePiece) {
  test::PiecesCheck check{.rounds = 800, .as_is = 3, .small = 13, .large = 3000, .seed = 1230};
  check.docs = {ReadFixture("daily_compact.json"), ReadFixture("daily_pretty.json"),
                ReadFixture("not_array.json")};
  check.docs.push_back("\xEF\xBB\xBF" + ReadFixture("daily_compact.json") + " \n\t ");
  check.docs.push_back(
      R"([{"paper":{"id":"2401.00001","title":"A \ud800 model","upvotes":-12.5e3}},)"
      R"({"paper":{"id":"2401.00002","title":"B \udc00\ud83d\ude00 \\ud800 \uD800\u0041"}},)"
      R"({"paper":{"id":"2401.00003","title":"C \\\\\ud83d\ude00 \\ude00 end \ud83d"}}] )");
  check.docs.push_back(ReadFixture("daily_compact.json") + " []");  // data after the document
  check.docs.push_back("[{\"paper\":{\"id\":\"2401.00001\",\"title\":\"cut");
  check.specials = {"\\ud83d", "\\ude00", "\\", "\\u", "\"", "\xEF\xBB\xBF",
                    " ",       ",",       "]",  "}",   "\xFF"};
  test::ExpectPiecesReadAsOne(
      check, [](const ByteSource& next) { return ParseHfDaily(next); },
      [](const ParseResult& r) {
        std::string text = r.digest.date + "\n";
        for (const ParseWarning& w : r.warnings) text += w.message + "\n";
        return text;
      });
  // The lone halves are found and a pair kept, after escaped backslashes too, wherever the
  // pieces cut them.
  for (std::size_t piece = 1; piece <= 14; ++piece) {
    const ParseResult r = ParseHfDaily(PiecesOf(check.docs[4], piece));
    ASSERT_EQ(r.digest.papers.size(), 3u) << piece;
    EXPECT_EQ(r.digest.papers[0].title, "A \xEF\xBF\xBD model");
    EXPECT_EQ(r.digest.papers[2].title, "C \\\\\xF0\x9F\x98\x80 \\ude00 end \xEF\xBF\xBD") << piece;
    ASSERT_FALSE(r.warnings.empty());
    EXPECT_EQ(r.warnings[0].message,
              "hf-daily: 4 unpaired surrogate escape(s) (\\uD800-\\uDFFF) read as U+FFFD")
        << piece;
  }
}

// Random byte mutations of the fixtures: never a crash, always valid UTF-8.
TEST(HfDailyParser, FuzzedFixturesNeverCrash) {
  std::mt19937 rng(20261111);
  const std::vector<std::string> seeds = {ReadFixture("daily_compact.json"),
                                          ReadFixture("daily_pretty.json")};
  const std::vector<std::string> specials =
      test::BytePieces("{}[]\",:\\0123456789.e-tfn \xC3\xFF\x80");
  for (int round = 0; round < 1500; ++round) {
    const std::string doc = test::Mutate(seeds[round % seeds.size()], rng, specials);
    const ParseResult result = ParseHfDaily(doc);
    ASSERT_TRUE(test::AllFieldsValidUtf8(result)) << "round " << round;
  }
}

// Issue 13: one lone surrogate escape spoils one character, not the day. A proper pair,
// and an escaped backslash before "ud800" (text, not an escape), stay as they are.
TEST(Issue13, LoneSurrogateBecomesReplacementCharacter) {
  const ParseResult r = ParseHfDaily(
      R"([{"paper":{"id":"2401.00001","title":"Good first"}},)"
      R"({"paper":{"id":"2401.00002","title":"Lone \ud800 high, lone \uDC00 low, end \ud83d"}},)"
      R"({"paper":{"id":"2401.00003","title":"Pair \ud83d\ude00 and \\ud800 text"}},)"
      R"({"paper":{"id":"2401.00004","title":"Good last"}}])");
  ASSERT_EQ(r.digest.papers.size(), 4u);
  EXPECT_EQ(r.digest.papers[0].title, "Good first");
  EXPECT_EQ(r.digest.papers[1].title,
            "Lone \xEF\xBF\xBD high, lone \xEF\xBF\xBD low, end \xEF\xBF\xBD");
  EXPECT_EQ(r.digest.papers[2].title, "Pair \xF0\x9F\x98\x80 and \\ud800 text");
  EXPECT_EQ(r.digest.papers[3].title, "Good last");
}

}  // namespace
}  // namespace digestd
