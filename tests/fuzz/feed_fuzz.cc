// The XML parsers (fetchers/feed_parser.h: RSS 2.0, RSS 1.0/RDF, Atom; fetchers/arxiv_parser.h:
// the arXiv API and RSS) on any bytes: no crash, no sanitizer report, valid UTF-8 out. The
// same bytes go through both, since both share the hardened libxml2 layer (feed_xml.h), and
// through the feed parser again a few bytes at a time, as a spooled body is read, and once
// more in two parts at once (split whatever its size), which must give the same result as
// the same pieces read in one part.
#include "fetchers/arxiv_parser.h"
#include "fetchers/feed_parser.h"
#include "fetchers/feed_xml.h"
#include "tests/fuzz/fuzz_check.h"

DIGESTD_FUZZ_TARGET {
  using namespace digestd;
  const std::string_view bytes = fuzz::Bytes(data, size);
  fuzz::CheckParseResult(ParseFeed(bytes));
  fuzz::CheckParseResult(ParseArxiv(bytes));
  const ParseResult whole = ParseFeed(PiecesOf(bytes, 1 + size % 61));
  fuzz::CheckParseResult(whole);
  const ParseResult halves = ParseFeed(RereadableOf(bytes, 1 + size % 61), {}, nullptr, 0);
  FUZZ_CHECK(halves.digest.papers == whole.digest.papers,
             "the feed read in two parts gave other papers");
  FUZZ_CHECK(halves.warnings == whole.warnings, "the feed read in two parts gave other warnings");
  // The helpers the parsers apply to fetched text, on the raw bytes too.
  const std::string text = HtmlToText(bytes);
  FUZZ_CHECK(IsValidUtf8(text), "HtmlToText gave invalid UTF-8");
  FUZZ_CHECK(HtmlToText(std::string(bytes)) == text, "HtmlToText in place gave other text");
  const std::string date = NormalizeFeedDate(bytes.substr(0, 64));
  FUZZ_CHECK(date.empty() || date.size() >= 10, "NormalizeFeedDate gave a short date: " + date);
  return 0;
}
