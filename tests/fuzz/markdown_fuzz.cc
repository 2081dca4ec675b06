// The markdown digest parser (fetchers/markdown_parser.h) on any bytes: no crash, no
// sanitizer report, valid UTF-8 out, the same papers and warnings as the parse that reads
// every entry's blocks with cmark, the same again read a few bytes at a time (as a spooled
// body is), and through ParseDigest the same papers once the parse limits
// (fetchers/parse_limits.h) are applied.
#include "fetchers/digest_parser.h"
#include "fetchers/markdown_parser.h"
#include "tests/fuzz/fuzz_check.h"

DIGESTD_FUZZ_TARGET {
  using namespace digestd;
  const std::string_view bytes = fuzz::Bytes(data, size);
  ParseResult result = ParseMarkdownDigest(bytes);
  fuzz::CheckParseResult(result);
  const ParseResult cmark = ParseMarkdownDigestWithCmark(bytes);
  FUZZ_CHECK(cmark.digest.papers == result.digest.papers,
             "the plain-line reading of an entry's blocks gives other papers than cmark's");
  FUZZ_CHECK(cmark.warnings == result.warnings,
             "the plain-line reading of an entry's blocks gives other warnings than cmark's");
  const ParseResult pieces = ParseMarkdownDigest(PiecesOf(bytes, 1 + size % 61));
  FUZZ_CHECK(pieces.digest.papers == result.digest.papers && pieces.warnings == result.warnings &&
                 pieces.digest.date == result.digest.date,
             "the digest read in pieces reads otherwise than in one");
  ApplyParseLimits(result);
  fuzz::CheckParseResult(result);
  FUZZ_CHECK(ParseDigest("markdown", bytes).digest.papers == result.digest.papers,
             "ParseDigest differs from ParseMarkdownDigest with the parse limits applied");
  return 0;
}
