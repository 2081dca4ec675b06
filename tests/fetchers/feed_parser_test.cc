#include "fetchers/feed_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/spool.h"
#include "core/utf8.h"
#include "fetchers/arxiv_parser.h"
#include "fetchers/feed_xml.h"
#include "fetchers/parse_limits.h"
#include "tests/support/parser_testing.h"
#include "tests/support/temp_dir.h"

namespace digestd {
namespace {

using Strings = std::vector<std::string>;

const char* const kFixtures[] = {"atom.xml",   "blog_rss2.xml", "cp1252.xml",
                                 "latin1.xml", "rdf.xml",       "relative_tracking.xml"};

std::string ReadFixture(const std::string& name) { return test::ReadTestData("feeds/" + name); }

ParseResult ParseFixture(const std::string& name) { return ParseFeed(ReadFixture(name)); }

Strings Keys(const Digest& digest) {
  Strings keys;
  for (const Paper& paper : digest.papers) keys.push_back(paper.key);
  return keys;
}

// Every byte of every string the parse produced, for size and content checks.
std::string Everything(const ParseResult& result) {
  std::string all = result.digest.date;
  for (const Paper& p : result.digest.papers) {
    all += p.key + p.title + p.url + p.media_url + p.version;
    for (const auto* list : {&p.authors, &p.summary, &p.tags}) {
      for (const std::string& s : *list) all += s;
    }
    for (const auto& [name, value] : p.extra) all += name + value;
  }
  for (const ParseWarning& w : result.warnings) all += w.message;
  return all;
}

TEST(FeedParser, BlogRss2WithCdataEntitiesAndMedia) {
  const ParseResult result = ParseFixture("blog_rss2.xml");
  EXPECT_EQ(result.digest.date, "");
  ASSERT_EQ(Keys(result.digest), (Strings{"https://blog.lamplight.example/2026/11/moth-attention/",
                                          "lamplight-podcast-0012", "arxiv:2611.08123"}));
  // The fourth item has neither link nor guid.
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0].line, 43);

  const Paper& moth = result.digest.papers[0];
  EXPECT_EQ(moth.title, "Moth Attention & the <think> Token");
  EXPECT_EQ(moth.url, "https://blog.lamplight.example/2026/11/moth-attention/");
  EXPECT_EQ(moth.authors, (Strings{"Corvina Ashdown"}));
  EXPECT_EQ(moth.tags, (Strings{"attention", "moths & lamps"}));
  EXPECT_EQ(moth.summary,
            (Strings{"Why do moths attend to lamps? We trained a model\u2026 Read \u201cmore\u201d "
                     "\u2014 it\u2019s short. Also: 3 < 4."}));
  EXPECT_EQ(moth.media_url, "https://blog.lamplight.example/img/moth.jpg");
  EXPECT_EQ(moth.extra.at("published"), "2026-11-11T15:30:00+00:00");
  EXPECT_EQ(moth.votes, std::nullopt);

  const Paper& podcast = result.digest.papers[1];
  EXPECT_EQ(podcast.authors, (Strings{"Ysbrand Teller"}));
  EXPECT_EQ(podcast.summary, (Strings{"An episode about lanterns."}));
  // An audio enclosure is no media; the thumbnail is.
  EXPECT_EQ(podcast.media_url, "https://blog.lamplight.example/img/ep12.png");
  EXPECT_EQ(podcast.extra.at("published"), "2026-11-10T09:00:00+01:00");

  const Paper& kelp = result.digest.papers[2];
  EXPECT_EQ(kelp.url, "https://arxiv.org/abs/2611.08123");
  EXPECT_EQ(kelp.summary, (Strings{"Content only, with a link."}));
  EXPECT_EQ(kelp.media_url, "https://blog.lamplight.example/video/kelp.mp4");
}

TEST(FeedParser, Rss1Rdf) {
  const ParseResult result = ParseFixture("rdf.xml");
  EXPECT_TRUE(result.warnings.empty());
  ASSERT_EQ(Keys(result.digest),
            (Strings{"https://journal.example.net/articles/jpr-2026-0042", "arxiv:2611.09001"}));
  const Paper& article = result.digest.papers[0];
  EXPECT_EQ(article.authors, (Strings{"Ottilie Marchetti", "Kwabena Asante-Li"}));
  EXPECT_EQ(article.tags, (Strings{"calibration"}));
  EXPECT_EQ(article.extra.at("published"), "2026-11-09T08:00:00Z");
  EXPECT_EQ(result.digest.papers[1].version, "v1");
}

TEST(FeedParser, Atom) {
  const ParseResult result = ParseFixture("atom.xml");
  EXPECT_TRUE(result.warnings.empty());
  ASSERT_EQ(Keys(result.digest),
            (Strings{"tag:notes.quillfeather.example,2026:post-17", "arxiv:2611.08123",
                     "urn:uuid:11111111-2222-3333-4444-555555555555"}));
  const Paper& owls = result.digest.papers[0];
  EXPECT_EQ(owls.title, "Sparse Owls & Dense Larks");
  EXPECT_EQ(owls.url, "https://notes.quillfeather.example/posts/sparse-owls");
  EXPECT_EQ(owls.media_url, "https://notes.quillfeather.example/img/owl.png");
  EXPECT_EQ(owls.authors, (Strings{"Aurelio Brightwater", "Sunniva Holt"}));
  EXPECT_EQ(owls.tags, (Strings{"sparsity", "birds"}));
  EXPECT_EQ(owls.summary, (Strings{"Owls are sparse."}));
  EXPECT_EQ(owls.extra.at("published"), "2026-11-12T09:00:00+09:00");

  const Paper& kelp = result.digest.papers[1];
  EXPECT_EQ(kelp.version, "v2");
  EXPECT_EQ(kelp.authors, (Strings{"Quillfeather Collective"}));  // inherited from the feed
  EXPECT_EQ(kelp.summary, (Strings{"An xhtml body with 1 < 2."}));
  EXPECT_EQ(kelp.media_url, "https://notes.quillfeather.example/img/kelp.jpg");
  EXPECT_EQ(kelp.extra.at("published"), "2026-11-11T12:00:00Z");  // updated stands in

  const Paper& plain = result.digest.papers[2];
  EXPECT_EQ(plain.url, "");
  EXPECT_EQ(plain.summary, (Strings{"Plain text content."}));
}

TEST(FeedParser, DeclaredEncodingsAreDecoded) {
  const ParseResult latin1 = ParseFixture("latin1.xml");
  EXPECT_TRUE(latin1.warnings.empty());
  ASSERT_EQ(latin1.digest.papers.size(), 1u);
  EXPECT_EQ(latin1.digest.papers[0].title, "Été naïf à la façon de Grünwald ½");
  EXPECT_EQ(latin1.digest.papers[0].authors, (Strings{"Amélie Dupré"}));
  EXPECT_EQ(latin1.digest.papers[0].summary, (Strings{"Résumé très détaillé © 2026"}));

  const ParseResult cp1252 = ParseFixture("cp1252.xml");
  EXPECT_TRUE(cp1252.warnings.empty());
  ASSERT_EQ(cp1252.digest.papers.size(), 1u);
  EXPECT_EQ(cp1252.digest.papers[0].title, "\u201cSmart quotes\u201d cost \u20ac5 \u2014 really");
}

TEST(FeedParser, RelativeAndTrackingUrls) {
  const ParseResult result = ParseFixture("relative_tracking.xml");
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_EQ(Keys(result.digest),
            (Strings{"https://driftwood.example.com/news/2026/tide-tables?id=7",
                     "https://driftwood.example.com/news/2026/sandbars.html",
                     "https://cdn.driftwood.example.com/reports/Q3",
                     "https://www.driftwood.example.com/news/shells?page=2",
                     "https://driftwood.example.com/news/guid-only", "arxiv:2611.10002"}));
  ASSERT_EQ(result.digest.papers.size(), 6u);
  // The URL stays the publisher's link, made absolute.
  EXPECT_EQ(result.digest.papers[1].url,
            "https://Driftwood.Example.com:443/news/2026/sandbars.html?fbclid=abc123");
  EXPECT_EQ(result.digest.papers[1].media_url,
            "https://Driftwood.Example.com:443/img/sandbar.webp");
  EXPECT_EQ(result.digest.papers[4].url, "https://driftwood.example.com/news/guid-only");
  EXPECT_EQ(result.digest.papers[5].version, "v1");
}

TEST(FeedParser, ArxivItemsKeepTheirIdentityThroughAGenericFeed) {
  const std::string rss = test::ReadTestData("arxiv/rss.xml");
  const ParseResult generic = ParseFeed(rss);
  const ParseResult arxiv = ParseArxiv(rss);
  ASSERT_EQ(generic.digest.papers.size(), arxiv.digest.papers.size());
  for (std::size_t i = 0; i < arxiv.digest.papers.size(); ++i) {
    EXPECT_EQ(generic.digest.papers[i].key, arxiv.digest.papers[i].key);
    EXPECT_EQ(generic.digest.papers[i].version, arxiv.digest.papers[i].version);
  }
}

TEST(FeedParser, UnknownRootAndGarbage) {
  const ParseResult html = ParseFeed("<html><body><p>Not a feed</p></body></html>");
  EXPECT_TRUE(html.digest.papers.empty());
  ASSERT_EQ(html.warnings.size(), 1u);
  for (const std::string& bad :
       {std::string(""), std::string("\xEF\xBB\xBF"), std::string("<<<>>>"),
        std::string("<?xml version=\"1.0\" encoding=\"no-such-charset\"?><rss/>"),
        std::string(300, '<')}) {
    const ParseResult result = ParseFeed(bad);
    EXPECT_TRUE(result.digest.papers.empty());
    EXPECT_FALSE(result.warnings.empty());
    EXPECT_TRUE(test::AllFieldsValidUtf8(result));
  }
}

TEST(FeedParser, TruncatedFeedKeepsWhatWasRead) {
  const std::string doc = ReadFixture("blog_rss2.xml");
  const ParseResult result = ParseFeed(doc.substr(0, doc.find("Podcast: Episode")));
  ASSERT_GE(result.digest.papers.size(), 1u);
  EXPECT_EQ(result.digest.papers[0].title, "Moth Attention & the <think> Token");
  ASSERT_FALSE(result.warnings.empty());
  EXPECT_EQ(result.warnings[0].line, 23);
}

// "Billion laughs": ten levels of ten references would be 10^9 bytes if expanded.
TEST(FeedParser, EntityExpansionBombIsNotExpanded) {
  std::string doc = "<?xml version=\"1.0\"?>\n<!DOCTYPE rss [\n<!ENTITY lol \"lol\">\n";
  for (int level = 1; level <= 9; ++level) {
    doc += "<!ENTITY lol" + std::to_string(level) + " \"";
    for (int i = 0; i < 10; ++i) {
      doc += level == 1 ? "&lol;" : "&lol" + std::to_string(level - 1) + ";";
    }
    doc += "\">\n";
  }
  doc +=
      "]>\n<rss version=\"2.0\"><channel><item><title>a&lol9;b</title>"
      "<link>https://bomb.example/x</link><description>&lol9;</description>"
      "<enclosure url=\"https://bomb.example/&lol9;.png\" type=\"image/png\"/>"
      "<category domain=\"&lol9;\">c&lol9;</category></item></channel></rss>\n";
  const ParseResult result = ParseFeed(doc);
  EXPECT_LT(Everything(result).size(), 4096u);
  ASSERT_EQ(result.digest.papers.size(), 1u);
  EXPECT_EQ(result.digest.papers[0].title, "ab");
  EXPECT_EQ(result.digest.papers[0].key, "https://bomb.example/x");
  bool told = false;
  for (const ParseWarning& w : result.warnings) {
    told = told || w.message.find("entity declarations ignored") != std::string::npos;
  }
  EXPECT_TRUE(told);
  // The arXiv parser shares the XML layer.
  EXPECT_LT(Everything(ParseArxiv(doc)).size(), 4096u);
}

// XXE: external entities (general and parameter) must never be read.
TEST(FeedParser, ExternalEntitiesAreNeverLoaded) {
  const std::filesystem::path secret =
      std::filesystem::temp_directory_path() / ("digestd_xxe_" + std::to_string(::getpid()));
  {
    std::ofstream out(secret);
    out << "TOP-SECRET-XXE-MARKER";
  }
  const std::string uri = "file://" + secret.string();
  for (const std::string& target : {uri, std::string("file:///etc/passwd")}) {
    for (const bool parameter_entity : {false, true}) {
      const std::string doc =
          "<?xml version=\"1.0\"?>\n<!DOCTYPE rss [\n<!ENTITY x SYSTEM \"" + target + "\">\n" +
          (parameter_entity ? "<!ENTITY % p SYSTEM \"" + target + "\">\n%p;\n" : std::string()) +
          "]>\n<rss version=\"2.0\"><channel><item><title>t&x;</title>"
          "<link>https://xxe.example/&x;</link><description>&x;</description>"
          "<category>&x;</category></item></channel></rss>\n";
      for (const ParseResult& result : {ParseFeed(doc), ParseArxiv(doc)}) {
        const std::string all = Everything(result);
        EXPECT_EQ(all.find("TOP-SECRET-XXE-MARKER"), std::string::npos);
        EXPECT_EQ(all.find("root:"), std::string::npos);
      }
      const ParseResult feed = ParseFeed(doc);
      ASSERT_EQ(feed.digest.papers.size(), 1u);
      EXPECT_EQ(feed.digest.papers[0].title, "t");
    }
  }
  std::filesystem::remove(secret);
}

TEST(FeedParser, ErrorsNeverReachStderr) {
  testing::internal::CaptureStderr();
  ParseFeed("<rss><channel><item><title>&undefined; <b></title></rss>");
  ParseFeed("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss>\xff\xfe</rss>");
  ParseArxiv("<feed><entry>");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(FeedParser, FuzzedFixturesNeverCrash) {
  std::mt19937 rng(77031);
  std::vector<std::string> seeds;
  for (const char* name : kFixtures) seeds.push_back(ReadFixture(name));
  const std::vector<std::string> specials = test::BytePieces("<>/&;=\"'!?[]-:# \xC3\xFF\x80");
  for (int round = 0; round < 2000; ++round) {
    const std::string doc = test::Mutate(seeds[round % seeds.size()], rng, specials);
    const ParseResult result = ParseFeed(doc);
    ASSERT_TRUE(test::AllFieldsValidUtf8(result)) << "round " << round;
  }
}

// Issue 12: a long fetched body waits in a spool file and is read a piece at a time; it reads
// as the same bytes in one piece do: the same papers and warnings (with their lines),
// whatever the pieces. A tag, comment or attribute value a piece cuts is held back until it
// is whole, so the guard of the attribute limits sees it whole.
TEST(Issue12, FeedReadInPiecesReadsAsInOnePiece) {
  std::vector<std::string> docs;
  for (const char* name : kFixtures) docs.push_back(ReadFixture(name));
  std::string many = "<item";
  for (std::size_t i = 0; i < kMaxXmlAttributesPerElement + 5; ++i) {
    many += " a" + std::to_string(i) + "=\"v\"";
  }
  many += "><title>many</title><link>https://h.example/m</link></item>\n";
  const std::string long_value =
      "<item><title x=\"" + std::string(kMaxXmlAttributeBytes + 10, 'y') +
      "\">long</title><link>https://h.example/l</link></item>\n";
  docs.push_back(
      "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>t</title>\n" + many +
      "<!-- a comment with <item a='1'> in it -->\n" + long_value +
      "<item><title><![CDATA[<b>cdata</b> ]]></title><link>https://h.example/c</link></item>\n" +
      "<?pi x?><item><title>NUL " + std::string(1, '\0') +
      "</title><link>https://h.example/n</link></item>\n</channel></rss>\n");
  test::PiecesCheck check{.rounds = 700, .seed = 1212};
  check.docs = std::move(docs);
  check.specials = test::BytePieces("<>/&;=\"'!?[]-:# \xC3\xFF\x80");
  for (const char* token : {"<!--", "-->", "<![CDATA[", "]]>", "<?", "?>", "<item a=\""}) {
    check.specials.push_back(token);
  }
  check.specials.push_back(std::string(1, '\0'));
  // libxml2's own messages depend on where its input chunks end, as they did before pieces
  // (it was always fed 64 KB at a time): a failed conversion quotes the bytes its chunk
  // holds, a fatal error names the line it had reached, and a recovered error may be said
  // once per chunk. They are not compared; every other warning (the guard's, the NUL one,
  // the feed reader's) must be the same, line and all.
  test::ExpectPiecesReadAsOne(
      check, [](const ByteSource& next) { return ParseFeed(next); },
      [](const ParseResult& r) {
        std::string text = r.digest.date + "\n";
        for (const ParseWarning& w : r.warnings) {
          const bool ours = w.message.find("over the limit") != std::string::npos ||
                            w.message.find("more elements over") != std::string::npos ||
                            w.message == "XML: NUL bytes read as spaces" ||
                            !w.message.starts_with("XML: ");
          if (ours) text += std::to_string(w.line) + ": " + w.message + "\n";
        }
        return text;
      });
}

// Issue 13: libxml2 reads a NUL byte as the end of the input; the items after one are kept.
TEST(Issue13, NulByteInOneItemKeepsTheItemsAfterIt) {
  const std::string feed = std::string(
      "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>"
      "<item><title>Good first</title><link>https://h.example/1</link></item>"
      "<item><title>NUL ") + '\0' + " inside</title><link>https://h.example/2</link></item>"
      "<item><title>Good last</title><link>https://h.example/3</link></item>"
      "</channel></rss>";
  const ParseResult r = ParseFeed(feed);
  ASSERT_EQ(r.digest.papers.size(), 3u);
  EXPECT_EQ(r.digest.papers[0].title, "Good first");
  EXPECT_EQ(r.digest.papers[1].title, "NUL inside");
  EXPECT_EQ(r.digest.papers[2].title, "Good last");
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings[0].message.find("NUL"), std::string::npos);
}

// Issue 12: ParseXml hands each item over as soon as it is read and drops it, so the tree
// never holds more than one item, and what stays around the items is intact.
TEST(Issue12, ParseXmlHandsOverEachItemAndDropsIt) {
  constexpr int kItems = 2000;
  std::string feed = "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel>\n <title>t</title>\n";
  for (int i = 0; i < kItems; ++i) {
    feed += "  <item><title>Item " + std::to_string(i) + "</title></item>\n";
  }
  feed += "  stray text after the items\n  <link>https://h.example/late</link>\n</channel></rss>";
  std::vector<std::string> titles;
  std::size_t largest_channel = 0;
  std::size_t largest_text = 0;
  std::vector<ParseWarning> warnings;
  const XmlTreePtr doc = ParseXml(feed, warnings, {}, [&](const XmlElement* element) {
    if (LocalName(element) != "item") return false;
    titles.push_back(CollapsedText(FirstChild(element, "title")));
    std::size_t children = 0;
    for (const XmlElement* c = element->parent()->first_child(); c != nullptr;
         c = c->next_sibling()) {
      ++children;
    }
    largest_channel = std::max(largest_channel, children);
    largest_text = std::max(largest_text, element->parent()->text().size());
    return true;
  });
  ASSERT_NE(doc, nullptr);
  ASSERT_EQ(titles.size(), std::size_t(kItems));
  EXPECT_EQ(titles.front(), "Item 0");
  EXPECT_EQ(titles.back(), "Item " + std::to_string(kItems - 1));
  // The channel held its title and the item being read, and the text between them.
  EXPECT_EQ(largest_channel, 2u);
  EXPECT_LE(largest_text, 30u);
  const XmlElement* channel = FirstChild(doc->root(), "channel");
  EXPECT_TRUE(Children(channel, "item").empty());
  EXPECT_EQ(CollapsedText(FirstChild(channel, "title")), "t");
  EXPECT_EQ(CollapsedText(FirstChild(channel, "link")), "https://h.example/late");
  EXPECT_EQ(CollapseWhitespace(NodeText(channel)),
            "t stray text after the items https://h.example/late");
  EXPECT_TRUE(warnings.empty());
}

// Issue 12: libxml2 builds no tree; its SAX events write an XmlTree that reads as its tree
// did: attribute values with their references decoded, undeclared prefixes kept in the name,
// namespaced attributes apart, and comments, processing instructions and unknown entity
// references left out of the text.
TEST(Issue12, XmlTreeReadsAsLibxml2sTreeDid) {
  const std::string feed =
      "<rss xmlns:m=\"http://search.yahoo.com/mrss/\"><channel><item>"
      "<title>A<!-- c -->B<?p x?>&amp;C&bogus;<b>D</b></title>"
      "<m:thumbnail url=\"https://h.example/t?a=1&amp;b=&#50;&#x33;&lt;&bogus;.\"/>"
      "<dc:creator>Undeclared</dc:creator>"
      "<enclosure m:type=\"image/png\" type=\"image/jpeg\"/>"
      "</item></channel></rss>";
  std::vector<ParseWarning> warnings;
  const XmlTreePtr doc = ParseXml(feed, warnings);
  ASSERT_NE(doc, nullptr);
  const XmlElement* item = FirstChild(FirstChild(doc->root(), "channel"), "item");
  ASSERT_NE(item, nullptr);
  EXPECT_EQ(NodeText(FirstChild(item, "title")), "AB&CD");
  const XmlElement* thumbnail = FirstChild(item, "thumbnail", "http://search.yahoo.com/mrss/");
  ASSERT_NE(thumbnail, nullptr);
  EXPECT_EQ(Attribute(thumbnail, "url"), "https://h.example/t?a=1&b=23<.");
  EXPECT_EQ(FirstChild(item, "creator"), nullptr);
  const XmlElement* creator = FirstChild(item, "dc:creator");
  ASSERT_NE(creator, nullptr);
  EXPECT_EQ(NamespaceUri(creator), "");
  EXPECT_EQ(Attribute(FirstChild(item, "enclosure"), "type"), "image/jpeg");
  EXPECT_EQ(CollapsedText(item), "AB&CDUndeclared");
  EXPECT_EQ(item->line(), 1);
}

// Issue 12: the tree keeps libxml2's depth limit, so a hostile nesting stops the parse.
TEST(Issue12, XmlTreeStopsAtLibxml2sDepthLimit) {
  std::string feed = "<rss><channel>";
  for (int i = 0; i < 5000; ++i) feed += "<a>";
  std::vector<ParseWarning> warnings;
  const XmlTreePtr doc = ParseXml(feed, warnings);
  ASSERT_NE(doc, nullptr);
  int depth = 0;
  for (const XmlElement* e = doc->root(); e != nullptr; e = e->first_child()) ++depth;
  EXPECT_LE(depth, 260);
  EXPECT_TRUE(std::any_of(warnings.begin(), warnings.end(), [](const ParseWarning& w) {
    return w.message.find("Excessive depth") != std::string::npos;
  }));
}

// Issue 12: where libxml2 cannot finish a start tag it pops its node stack without an end
// event; the tree follows, so the entries after it are still read as the feed's.
TEST(Issue12, XmlTreeFollowsLibxml2PastACutOffStartTag) {
  const std::string feed =
      "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>F</title>"
      "<link href=\"https://h.example/\" <entry><id>tag:x,1</id><title>A</title>"
      "<link href=\"https://h.example/a\"/></entry>"
      "<entry><id>tag:x,2</id><title>B</title></entry></feed>";
  const ParseResult r = ParseFeed(feed);
  ASSERT_EQ(r.digest.papers.size(), 2u);
  EXPECT_EQ(r.digest.papers[0].title, "A");
  EXPECT_EQ(r.digest.papers[0].url, "https://h.example/a");
  EXPECT_EQ(r.digest.papers[1].title, "B");
  EXPECT_FALSE(r.warnings.empty());
}

// Issue 12: items are read as they come, yet a relative link waits for the feed's own link
// even when that comes after the items, and the feed's order is kept.
TEST(Issue12, ChannelLinkAfterTheItemsStillResolvesRelativeLinks) {
  const std::string feed =
      "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>"
      "<item><title>A</title><link>https://h.example/a</link></item>"
      "<item><title>B</title><link>posts/b</link></item>"
      "<item><title>C</title><link>https://h.example/c</link></item>"
      "<link>https://h.example/blog/</link></channel></rss>";
  const ParseResult r = ParseFeed(feed);
  ASSERT_EQ(r.digest.papers.size(), 3u);
  EXPECT_EQ(r.digest.papers[0].url, "https://h.example/a");
  EXPECT_EQ(r.digest.papers[1].url, "https://h.example/blog/posts/b");
  EXPECT_EQ(r.digest.papers[2].url, "https://h.example/c");
}

// Issue 12: an Atom feed's <author> after its entries is inherited all the same.
TEST(Issue12, AtomFeedAuthorAfterTheEntriesIsInherited) {
  const std::string feed =
      "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\">"
      "<entry><id>urn:1</id><title>One</title></entry>"
      "<entry><id>urn:2</id><title>Two</title><author><name>Own</name></author></entry>"
      "<author><name>Feed Author</name></author></feed>";
  const ParseResult r = ParseFeed(feed);
  ASSERT_EQ(r.digest.papers.size(), 2u);
  EXPECT_EQ(r.digest.papers[0].authors, Strings{"Feed Author"});
  EXPECT_EQ(r.digest.papers[1].authors, Strings{"Own"});
}

// Issue 12: the arXiv parser reads items as they come too; a cut-off last item is still read.
TEST(Issue12, ArxivRssCutOffInTheLastItemKeepsEveryItem) {
  std::string feed =
      "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>cs</title>"
      "<pubDate>Thu, 24 Sep 2026 00:00:00 -0400</pubDate>";
  for (int i = 0; i < 3; ++i) {
    feed += "<item><title>T" + std::to_string(i) + "</title><link>https://arxiv.org/abs/2609.0000" +
            std::to_string(i) + "</link></item>";
  }
  feed += "<item><title>Cut</title><link>https://arxiv.org/abs/2609.00009</link>";
  const ParseResult r = ParseArxiv(feed);
  ASSERT_EQ(r.digest.papers.size(), 4u);
  EXPECT_EQ(r.digest.papers[0].key, "arxiv:2609.00000");
  EXPECT_EQ(r.digest.papers[3].key, "arxiv:2609.00009");
  EXPECT_EQ(r.digest.date, "2026-09-24");
}

}  // namespace
}  // namespace digestd

namespace digestd {
namespace {

// Issue 12: a long feed's summaries are made text on two threads, after the items are read;
// each still lands on its own paper, past skipped items, with the fallbacks and caps of a
// short feed.
TEST(Issue12, LongFeedGivesEachPaperItsOwnSummary) {
  constexpr int kItems = 1000;
  std::string feed =
      "<?xml version=\"1.0\"?><rss version=\"2.0\" "
      "xmlns:content=\"http://purl.org/rss/1.0/modules/content/\"><channel><title>t</title>";
  Strings expected;
  for (int i = 0; i < kItems; ++i) {
    const std::string n = std::to_string(i);
    if (i % 97 == 5) {  // no link nor guid: skipped with a warning, no summary taken
      feed += "<item><title>skipped</title><description>not mine</description></item>";
      continue;
    }
    feed += "<item><title>T" + n + "</title><link>https://h.example/" + n + "</link>";
    if (i % 10 == 3) {  // an empty description: the content is read instead
      feed += "<description>&lt;p&gt; &lt;/p&gt;</description>"
              "<content:encoded><![CDATA[<p>whole <b>" + n + "</b></p>]]></content:encoded>";
      expected.push_back("whole " + n);
    } else if (i % 10 == 4) {  // none at all
      expected.push_back("");
    } else if (i == 500) {  // longer than a summary may be: cut, with an ellipsis
      feed += "<description>" + std::string(5000, 'x') + "</description>";
      expected.push_back(std::string(4096, 'x') + "\u2026");
    } else {
      feed += "<description>&lt;p&gt;Summary  of\n" + n + "&amp;c&lt;/p&gt;</description>";
      expected.push_back("Summary of " + n + "&c");
    }
    feed += "</item>";
  }
  feed += "</channel></rss>";
  const ParseResult r = ParseFeed(feed);
  ASSERT_EQ(r.digest.papers.size(), expected.size());
  EXPECT_EQ(r.warnings.size(), std::size_t(kItems / 97 + 1));
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const Paper& p = r.digest.papers[i];
    const std::string got = p.summary.empty() ? "" : p.summary.front();
    ASSERT_EQ(got, expected[i]) << p.key;
    EXPECT_LE(p.summary.size(), 1u);
  }
}


TEST(FeedXml, DatesOfEveryWrittenFormBecomeIso8601) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"Mon, 29 Jan 2024 00:00:00 +0000", "2024-01-29T00:00:00+00:00"},
      {"Thu, 12 Nov 2026 23:30:00 EST", "2026-11-12T23:30:00-05:00"},
      {"12 nov 2026 09:00:00 -0930", "2026-11-12T09:00:00-09:30"},
      {"  Tue,  3 Feb 26 7:05 PDT ", "2026-02-03"},  // a one-digit hour is no time
      {"Tue, 3 Feb 99 07:05 GMT", "1999-02-03T07:05:00+00:00"},
      {"3 February 2026 10:11:12 XYZ", "2026-02-03T10:11:12+00:00"},  // unknown zone: UTC
      {"3 Feb 2026 24:00:00 +0000", "2026-02-03"},  // no hour 24: the day only
      {"3 Feb 2026", "2026-02-03"},
      {"2026-11-12T09:00:00Z", "2026-11-12T09:00:00Z"},  // ISO dates stay as written
      {"32 Jan 2026", ""},
      {"3 Foo 2026", ""},
      {"3 Feb 999", ""},
      {"Monday", ""},
      {"", ""},
  };
  for (const auto& [written, iso] : cases) EXPECT_EQ(NormalizeFeedDate(written), iso) << written;
}

TEST(FeedXml, HtmlBecomesTextWithOneSpaceBetweenWords) {
  EXPECT_EQ(HtmlToText("<p>One &amp; two</p><p>three&nbsp;four &#x263A; &bogus; 5 &lt; 6</p>"),
            "One & two three four \u263A &bogus; 5 < 6");
  EXPECT_EQ(HtmlToText("a<br/>b<script>x < y</SCRIPT>c<!-- d -->e<b>f</b>"), "a bcef");
  EXPECT_EQ(HtmlToText("  plain\n\ttext  "), "plain text");
  EXPECT_EQ(HtmlToText("cut <a href"), "cut");
  EXPECT_EQ(HtmlToText("1 < 2 and 3 > 2"), "1 < 2 and 3 > 2");
}

// Text given up is rewritten in its own buffer: references written back to back in their
// fewest bytes ("&#0;" in three, "&lt;" in one) never overtake what is still to be read.
TEST(FeedXml, HtmlGivenUpBecomesTheSameTextInItsOwnBuffer) {
  const std::string html =
      "&#128512;&lt;<p>&#0;&#x41;&bull;<br>&amp;&amp;x\xFF<b>y</b>&#9731;&#x1F600;<i>&#60;</i>";
  const std::string want = "\U0001F600< \uFFFDA\u2022 &&x\uFFFDy\u2603\U0001F600<";
  EXPECT_EQ(HtmlToText(std::string_view(html)), want);
  EXPECT_EQ(HtmlToText(std::string(html)), want);
  std::string twice = html + html;
  EXPECT_EQ(HtmlToText(std::move(twice)), want + want);
}

// A long feed read in two parts at once (ParseFeed over a RereadableBody) gives what reading
// it in one piece gives: the same papers, warnings and lines, whether the second part was
// taken or the parse read on alone.

// `doc` read in two parts, split at any size (halves_above 0), in pieces of `piece` bytes;
// expects the result of reading it in one part in the same pieces (where libxml2 words an
// error can depend on the pieces), and returns whether the second part was taken.
bool ExpectSameInHalves(const std::string& doc, std::size_t piece = 64 * 1024) {
  bool taken = false;
  std::string unread;
  const ParseResult halves = ParseFeed(RereadableOf(doc, piece), {}, &unread, 0, &taken);
  const ParseResult whole = ParseFeed(PiecesOf(doc, piece));
  EXPECT_EQ(unread, "");
  EXPECT_EQ(halves.digest.papers, whole.digest.papers);
  EXPECT_EQ(halves.warnings, whole.warnings);
  return taken;
}

// An RSS item; `link` "" leaves it without link and GUID (a warning with its line).
std::string RssItem(int i, const std::string& link, const std::string& extra = "") {
  std::string item = "<item>\n<title>Paper " + std::to_string(i) + " &amp; more</title>\n";
  if (!link.empty()) item += "<link>" + link + "</link>\n";
  item += "<description><![CDATA[<p>Summary " + std::to_string(i) +
          " \xEC\x9A\x94\xEC\x95\xBD</p>]]></description>\n<dc:creator>Ada " + std::to_string(i) +
          "</dc:creator>\n" + extra + "</item>\n";
  return item;
}

std::string RssFeed(int items, const std::function<std::string(int)>& item,
                    const std::string& channel_link = "https://feeds.example/") {
  std::string doc =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n<channel>\n"
      "<title>Feed</title>\n";
  if (!channel_link.empty()) doc += "<link>" + channel_link + "</link>\n";
  for (int i = 0; i < items; ++i) doc += item(i);
  return doc + "</channel>\n</rss>\n";
}

TEST(FeedHalves, RssReadInTwoPartsGivesTheSamePapersWarningsAndLines) {
  const std::string doc = RssFeed(60, [](int i) {
    // Item 45 (in the second part) has neither link nor GUID: its warning's line is the
    // document's, not the second part's own.
    return RssItem(i, i == 45 ? "" : "https://papers.example/" + std::to_string(i));
  });
  EXPECT_TRUE(ExpectSameInHalves(doc));
  EXPECT_TRUE(ExpectSameInHalves(doc, 7));
  const ParseResult whole = ParseFeed(doc);
  ASSERT_EQ(whole.digest.papers.size(), 59u);
  ASSERT_EQ(whole.warnings.size(), 1u);
  const std::size_t item45 = doc.find("<item>\n<title>Paper 45 ");
  EXPECT_EQ(whole.warnings[0].line, 1 + std::count(doc.begin(), doc.begin() + item45, '\n'));
}

TEST(FeedHalves, RelativeLinksResolveAgainstTheChannelLinkInBothParts) {
  const std::string doc = RssFeed(40, [](int i) { return RssItem(i, "/p/" + std::to_string(i)); });
  EXPECT_TRUE(ExpectSameInHalves(doc));
  EXPECT_EQ(ParseFeed(doc).digest.papers[39].url, "https://feeds.example/p/39");
  // Without a channel link the items wait for one: read on alone.
  const std::string no_base = RssFeed(
      40, [](int i) { return RssItem(i, "/p/" + std::to_string(i)); }, "");
  EXPECT_FALSE(ExpectSameInHalves(no_base));
}

TEST(FeedHalves, AtomAndRdfAndPrefixedItemsAreReadInTwoParts) {
  std::string atom =
      "<?xml version=\"1.0\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n"
      "<title>A</title><link href=\"https://atom.example/\"/>\n"
      "<author><name>Feed Author</name></author>\n";
  for (int i = 0; i < 30; ++i) {
    atom += "<entry><id>urn:e:" + std::to_string(i) + "</id><title type=\"html\">T &lt;b&gt;" +
            std::to_string(i) + "&lt;/b&gt;</title><link href=\"e/" + std::to_string(i) + "\"/>" +
            (i % 3 == 0 ? "<author><name>Own</name></author>" : "") +
            "<summary>S</summary></entry>\n";
  }
  atom += "</feed>\n";
  EXPECT_TRUE(ExpectSameInHalves(atom));
  // The entries without an author of their own, in both parts, take the feed's.
  EXPECT_EQ(ParseFeed(atom).digest.papers[29].authors, (Strings{"Feed Author"}));

  std::string prefixed =
      "<?xml version=\"1.0\"?>\n<a:feed xmlns:a=\"http://www.w3.org/2005/Atom\">\n"
      "<a:title>A</a:title>\n";
  for (int i = 0; i < 30; ++i) {
    prefixed +=
        "<a:entry>\n<a:id>urn:p:" + std::to_string(i) + "</a:id><a:title>T</a:title></a:entry>\n";
  }
  prefixed += "</a:feed>\n";
  EXPECT_TRUE(ExpectSameInHalves(prefixed));

  std::string rdf =
      "<?xml version=\"1.0\"?>\n<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" "
      "xmlns=\"http://purl.org/rss/1.0/\">\n<channel rdf:about=\"https://rdf.example/\">"
      "<title>R</title><link>https://rdf.example/</link></channel>\n";
  for (int i = 0; i < 30; ++i) {
    rdf += "<item rdf:about=\"https://rdf.example/" + std::to_string(i) + "\"><title>T" +
           std::to_string(i) + "</title><link>https://rdf.example/" + std::to_string(i) +
           "</link></item>\n";
  }
  rdf += "</rdf:RDF>\n";
  EXPECT_TRUE(ExpectSameInHalves(rdf));
}

// Where the second part would begin at text that only looks like an item's start tag, or
// would miss what the feed says after its items, the parse reads on alone.
TEST(FeedHalves, AStartTagInACommentOrCdataOrAFeedElementAfterTheItemsIsReadOnAlone) {
  const auto with_middle = [](const std::string& middle) {
    return RssFeed(40, [&](int i) {
      return RssItem(i, "https://papers.example/" + std::to_string(i), i == 20 ? middle : "");
    });
  };
  // Long enough that the middle of the document falls inside it.
  const std::string filler(6000, 'x');
  EXPECT_FALSE(ExpectSameInHalves(with_middle("<!-- " + filler +
                                              " <item><title>no</title>"
                                              "<link>https://fake.example/</link></item> " +
                                              filler + " -->\n")));
  EXPECT_FALSE(
      ExpectSameInHalves(with_middle("<content:encoded xmlns:content=\"http://purl.org/"
                                     "rss/1.0/modules/content/\"><![CDATA[" +
                                     filler +
                                     "<item><link>https://fake.example/</link>"
                                     "</item>" +
                                     filler + "]]></content:encoded>\n")));
  // An Atom feed's author after its entries is every authorless entry's.
  std::string atom = "<?xml version=\"1.0\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n";
  for (int i = 0; i < 30; ++i) {
    atom += "<entry><id>urn:e:" + std::to_string(i) + "</id><title>T</title></entry>\n";
  }
  atom += "<author><name>Late</name></author>\n</feed>\n";
  EXPECT_FALSE(ExpectSameInHalves(atom));
  EXPECT_EQ(ParseFeed(atom).digest.papers[29].authors, (Strings{"Late"}));
}

TEST(FeedHalves, WarningsOnEitherSideOrACutDocumentAreReadOnAlone) {
  const auto link = [](int i) { return "https://papers.example/" + std::to_string(i); };
  // Malformed XML in the second part.
  EXPECT_FALSE(ExpectSameInHalves(RssFeed(40, [&](int i) {
    return i == 35 ? "<item><title>broken <b></title><link>" + link(i) + "</link></item>\n"
                   : RssItem(i, link(i));
  })));
  // An attribute the shape guard blanks, in the first part.
  EXPECT_FALSE(ExpectSameInHalves(RssFeed(40, [&](int i) {
    return RssItem(i, link(i),
                   i == 2 ? "<category domain=\"" + std::string(kMaxXmlAttributeBytes + 1, 'd') +
                                "\">c</category>\n"
                          : "");
  })));
  // Cut off in the second part.
  const std::string doc = RssFeed(40, [&](int i) { return RssItem(i, link(i)); });
  EXPECT_FALSE(ExpectSameInHalves(doc.substr(0, doc.size() - 200)));
  // A NUL byte.
  std::string nul = doc;
  nul[nul.size() - 300] = '\0';
  EXPECT_FALSE(ExpectSameInHalves(nul));
}

// Documents made of random parts (items of each kind, comments, CDATA with tags in it,
// broken items, feed-level elements): whichever way each is read, the result is the same.
TEST(FeedHalves, RandomFeedsGiveTheSameResultReadInTwoParts) {
  std::mt19937 rng(20261207);
  const std::vector<std::string> parts = {
      "<!-- <item><link>https://c.example/</link></item> -->\n",
      "<item><description><![CDATA[<item><link>https://d.example/</link></item>]]>"
      "</description><guid>g-cdata</guid></item>\n",
      "<item><title>no link</title></item>\n",
      "<item><guid isPermaLink=\"true\">https://g.example/1</guid></item>\n",
      "<item><link>rel/1</link></item>\n",
      "<image><url>https://i.example/</url></image>\n",
      "<item><title>bad <b></title><link>https://b.example/</link></item>\n",
      "<?pi <item> ?>\n",
      "<item><link>https://e.example/&amp;x</link><category>c</category></item>\n",
  };
  int taken = 0;
  for (int round = 0; round < 300; ++round) {
    std::string doc =
        "<?xml version=\"1.0\"?>\n<rss xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
        "<channel><link>https://r.example/</link>\n";
    const int count = 5 + int(rng() % 40);
    for (int i = 0; i < count; ++i) {
      doc += rng() % 4 == 0 ? parts[rng() % parts.size()]
                            : RssItem(i, "https://r.example/" + std::to_string(rng() % 50));
    }
    doc += "</channel></rss>\n";
    if (rng() % 10 == 0) doc.resize(rng() % doc.size());
    SCOPED_TRACE(doc);
    if (ExpectSameInHalves(doc, 1 + rng() % 5000)) ++taken;
    if (HasFailure()) break;
  }
  EXPECT_GT(taken, 10);  // the parts were read apart often enough to tell
}

// The fixtures: another encoding (whose offsets libxml2 does not give in the document's
// bytes), relative links, Atom, RDF: read in two parts or not, the same.
TEST(FeedHalves, EveryFixtureGivesTheSameResult) {
  for (const char* name : kFixtures) {
    SCOPED_TRACE(name);
    for (const std::size_t piece : {std::size_t(3), std::size_t(64 * 1024)}) {
      ExpectSameInHalves(ReadFixture(name), piece);
    }
  }
}

// A parse stopped by its budget (a service stopping) stops its helper too, and keeps what
// one parse would have kept.
TEST(FeedHalves, AStoppedParseStopsBothPartsAndKeepsWhatOneParseKeeps) {
  const std::string doc =
      RssFeed(400, [](int i) { return RssItem(i, "https://papers.example/" + std::to_string(i)); });
  const std::atomic<bool> stop{true};
  const ParseBudget budget{.cancel = &stop};
  bool taken = true;
  const ParseResult halves = ParseFeed(RereadableOf(doc), budget, nullptr, 0, &taken);
  const ParseResult whole = ParseFeed(PiecesOf(doc), budget);
  EXPECT_FALSE(taken);
  EXPECT_EQ(halves.digest.papers, whole.digest.papers);
  EXPECT_EQ(halves.warnings, whole.warnings);
  ASSERT_FALSE(whole.warnings.empty());
  EXPECT_NE(whole.warnings.back().message.find("budget"), std::string::npos);
  EXPECT_LT(whole.digest.papers.size(), 400u);
}

TEST(FeedHalves, ASpooledBodyIsReadInTwoPartsFromItsFile) {
  const std::string doc =
      RssFeed(300, [](int i) { return RssItem(i, "https://papers.example/" + std::to_string(i)); });
  const test::TempDir dir;
  Spool spool(dir.path(), 100);
  ASSERT_TRUE(spool.Append(doc.substr(0, 5000)));
  ASSERT_TRUE(spool.Append(doc.substr(5000)));
  ASSERT_TRUE(spool.in_file());
  bool taken = false;
  std::string unread;
  const ParseResult halves = ParseFeed(spool.Rereadable(4096), {}, &unread, 0, &taken);
  EXPECT_TRUE(taken);
  EXPECT_EQ(unread, "");
  EXPECT_EQ(halves.digest.papers, ParseFeed(doc).digest.papers);
  EXPECT_EQ(halves.digest.papers.size(), 300u);
  // Below the size given, one parse reads it all.
  EXPECT_EQ(ParseFeed(spool.Rereadable(), {}, nullptr, doc.size() + 1, &taken).digest.papers,
            halves.digest.papers);
  EXPECT_FALSE(taken);
}

}  // namespace
}  // namespace digestd
