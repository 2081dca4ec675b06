#include "fetchers/arxiv_parser.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/support/parser_testing.h"

namespace digestd {
namespace {

using Strings = std::vector<std::string>;
using Extra = std::map<std::string, std::string>;

const char* const kFixtures[] = {"api_new.xml",       "api_old.xml",      "api_empty_old.xml",
                                 "api_empty_new.xml", "rss.xml",          "rss_weekend.xml",
                                 "rss_rdf.xml",       "atom_announce.xml"};

std::string ReadFixture(const std::string& name) { return test::ReadTestData("arxiv/" + name); }

ParseResult ParseFixture(const std::string& name) { return ParseArxiv(ReadFixture(name)); }

Strings Keys(const Digest& digest) {
  Strings keys;
  for (const Paper& paper : digest.papers) keys.push_back(paper.key + paper.version);
  return keys;
}

TEST(ArxivParser, ApiNewLayout) {
  const ParseResult result = ParseFixture("api_new.xml");
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_EQ(result.digest.date, "");
  ASSERT_EQ(Keys(result.digest),
            (Strings{"arxiv:2611.08123v2", "arxiv:cond-mat/0512345v1", "arxiv:2611.09001v1"}));
  const Paper& kelp = result.digest.papers[0];
  EXPECT_EQ(kelp.title, "Kelp Routing: Mixture-of-Experts Gating with Ocean Currents");
  EXPECT_EQ(kelp.url, "https://arxiv.org/abs/2611.08123");
  EXPECT_EQ(kelp.authors, (Strings{"Nadira Okonkwo-Lind", "Bertil Saarinen"}));
  EXPECT_EQ(kelp.summary,
            (Strings{"We route tokens like kelp drifts: gates follow simulated currents, reaching "
                     "<1 ms latency & 2x throughput."}));
  // Primary category first, empty terms dropped.
  EXPECT_EQ(kelp.tags, (Strings{"cs.DC", "cs.LG"}));
  EXPECT_EQ(kelp.votes, std::nullopt);
  EXPECT_EQ(kelp.media_url, "");
  EXPECT_EQ(kelp.extra, (Extra{{"comment", "12 pages, 4 figures; v2 fixes Table 3"},
                               {"journal_ref", "Proc. Imaginary Systems Conf. 2026"},
                               {"doi", "10.5555/kelp.2026.001"},
                               {"published", "2026-11-02T17:45:01Z"},
                               {"updated", "2026-11-10T09:00:00Z"}}));
  EXPECT_EQ(result.digest.papers[1].url, "https://arxiv.org/abs/cond-mat/0512345");
}

TEST(ArxivParser, ApiOldLayoutUnwrapsAndSkipsUnknownIds) {
  const ParseResult result = ParseFixture("api_old.xml");
  // Three placeholder entries for unknown ids: skipped without a warning.
  EXPECT_TRUE(result.warnings.empty());
  ASSERT_EQ(Keys(result.digest), (Strings{"arxiv:2611.07001v3", "arxiv:hep-th/9801123v1"}));
  const Paper& moss = result.digest.papers[0];
  EXPECT_EQ(moss.title,
            "Well-Posedness of a Moss Diffusion System with Seasonal Boundary Conditions");
  EXPECT_EQ(moss.summary,
            (Strings{"We prove existence and uniqueness for a coupled moss diffusion system whose "
                     "boundary data change with the seasons. The proof uses a fixed point argument "
                     "in weighted spaces."}));
  EXPECT_EQ(moss.tags, (Strings{"math.AP", "35"}));  // the MSC code is kept
  EXPECT_EQ(moss.extra.at("doi"), "10.5555/moss.77");
  EXPECT_EQ(moss.extra.at("journal_ref"), "J. Imag. Anal. 9 (2026) 1-20");
  EXPECT_EQ(moss.extra.at("comment"), "20 pages");
  EXPECT_EQ(result.digest.papers[1].title, "Strings on a Very Small Circle");
}

TEST(ArxivParser, EmptyResultsAreNormal) {
  for (const char* name : {"api_empty_old.xml", "api_empty_new.xml", "rss_weekend.xml"}) {
    const ParseResult result = ParseFixture(name);
    EXPECT_TRUE(result.digest.papers.empty()) << name;
    EXPECT_TRUE(result.warnings.empty()) << name;
  }
  EXPECT_EQ(ParseFixture("rss_weekend.xml").digest.date, "2026-11-14");
}

TEST(ArxivParser, RssAnnounceTypes) {
  const ParseResult result = ParseFixture("rss.xml");
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_EQ(result.digest.date, "2026-11-13");  // the channel's own -0500 offset
  ASSERT_EQ(Keys(result.digest),
            (Strings{"arxiv:2611.10001v1", "arxiv:2611.10002v1", "arxiv:2610.05555v1",
                     "arxiv:2401.00007v4", "arxiv:hep-th/0101001v2"}));
  Strings types;
  for (const Paper& paper : result.digest.papers) types.push_back(paper.extra.at("announce_type"));
  EXPECT_EQ(types, (Strings{"new", "new", "cross", "replace", "replace-cross"}));

  const Paper& whale = result.digest.papers[0];
  EXPECT_EQ(whale.title, "Whale Song Tokenizers Are Secretly Byte-Level");
  EXPECT_EQ(whale.url, "https://arxiv.org/abs/2611.10001");
  EXPECT_EQ(whale.summary,
            (Strings{"We find that whale song tokenizers collapse to bytes when x < 3."}));
  EXPECT_EQ(whale.extra.at("published"), "2026-11-12T23:30:00-05:00");

  const Paper& tides = result.digest.papers[1];
  EXPECT_EQ(tides.authors, (Strings{"Ruth Abernathy-Kwan", "Joon-ho Park", "Lise Müller"}));
  EXPECT_EQ(tides.tags, (Strings{"cs.LG", "cs.AI"}));

  const Paper& cross = result.digest.papers[2];
  EXPECT_EQ(cross.extra.at("doi"), "10.5555/sealevel.42");
  EXPECT_EQ(cross.extra.at("journal_ref"), "Imag. Stat. J. 3 (2026)");
  EXPECT_EQ(cross.summary, (Strings{"Cross-listed abstract."}));
  EXPECT_EQ(result.digest.papers[4].url, "https://arxiv.org/abs/hep-th/0101001");
}

TEST(ArxivParser, OldRdfFeedStripsAnchorsAndTitleSuffixes) {
  const ParseResult result = ParseFixture("rss_rdf.xml");
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_EQ(result.digest.date, "2018-05-24");
  ASSERT_EQ(Keys(result.digest),
            (Strings{"arxiv:1805.90001v1", "arxiv:1805.90002v1", "arxiv:1712.90003v3"}));
  const Paper& bosons = result.digest.papers[0];
  EXPECT_EQ(bosons.title, "Search for Imaginary Bosons in Pretend Collisions");
  EXPECT_EQ(bosons.authors, (Strings{"Fenna Borrowdale", "Ren Nakagawa"}));
  EXPECT_EQ(bosons.summary,
            (Strings{"A search for imaginary bosons & their partners is presented."}));
  EXPECT_EQ(bosons.tags, (Strings{"hep-ex"}));
  EXPECT_EQ(bosons.extra.at("announce_type"), "new");
  EXPECT_EQ(result.digest.papers[1].extra.at("announce_type"), "cross");
  EXPECT_EQ(result.digest.papers[1].tags, (Strings{"physics.ins-det"}));
  EXPECT_EQ(result.digest.papers[2].extra.at("announce_type"), "replace");
}

TEST(ArxivParser, AtomAnnouncementFeed) {
  const ParseResult result = ParseFixture("atom_announce.xml");
  EXPECT_TRUE(result.warnings.empty());
  ASSERT_EQ(Keys(result.digest), (Strings{"arxiv:2611.10001v1"}));
  const Paper& paper = result.digest.papers[0];
  EXPECT_EQ(paper.summary, (Strings{"We find that whale song tokenizers collapse to bytes."}));
  EXPECT_EQ(paper.extra.at("announce_type"), "new");
  // The same paper through the API, RSS and this feed has one key.
  EXPECT_EQ(paper.key, ParseFixture("rss.xml").digest.papers[0].key);
}

TEST(ArxivParser, NonArxivIdsAndOtherRootsWarn) {
  const ParseResult entry = ParseArxiv(
      "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><id>urn:x:1</id><title>T</title>"
      "</entry></feed>");
  EXPECT_TRUE(entry.digest.papers.empty());
  ASSERT_EQ(entry.warnings.size(), 1u);
  EXPECT_EQ(entry.warnings[0].line, 1);

  const ParseResult html = ParseArxiv("<html><body>Rate exceeded.</body></html>");
  EXPECT_TRUE(html.digest.papers.empty());
  ASSERT_EQ(html.warnings.size(), 1u);
  EXPECT_NE(html.warnings[0].message.find("<html>"), std::string::npos);
}

TEST(ArxivParser, GarbageAndTruncatedXml) {
  for (const std::string& bad : {std::string(""), std::string("not xml at all"),
                                 std::string("\x00\x01\x02", 3), std::string("{\"json\": 1}")}) {
    const ParseResult result = ParseArxiv(bad);
    EXPECT_TRUE(result.digest.papers.empty());
    EXPECT_FALSE(result.warnings.empty());
  }
  // Cut inside the third entry: the first two are recovered, the cut is reported with a line.
  const std::string doc = ReadFixture("api_new.xml");
  const ParseResult cut = ParseArxiv(doc.substr(0, doc.find("Routing Without")));
  EXPECT_EQ(Keys(cut.digest).size(), 3u);
  ASSERT_FALSE(cut.warnings.empty());
  EXPECT_GT(cut.warnings[0].line, 40);
  EXPECT_EQ(Keys(cut.digest)[0], "arxiv:2611.08123v2");
}

TEST(ArxivParser, FuzzedFixturesNeverCrash) {
  std::mt19937 rng(424242);
  std::vector<std::string> seeds;
  for (const char* name : kFixtures) seeds.push_back(ReadFixture(name));
  const std::vector<std::string> specials = test::BytePieces("<>/&;=\"'!?[]-:# \xC3\xFF\x80");
  for (int round = 0; round < 2000; ++round) {
    const std::string doc = test::Mutate(seeds[round % seeds.size()], rng, specials);
    const ParseResult result = ParseArxiv(doc);
    ASSERT_TRUE(test::AllFieldsValidUtf8(result)) << "round " << round;
  }
}

}  // namespace
}  // namespace digestd
