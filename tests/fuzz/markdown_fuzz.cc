// The markdown digest parser (fetchers/markdown_parser.h) on any bytes: no crash, no
// sanitizer report, valid UTF-8 out, the same papers and warnings as the parse that reads
// every entry's blocks with cmark, and through ParseDigest the same papers once the parse
// limits (fetchers/parse_limits.h) are applied.
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
  ApplyParseLimits(result);
  fuzz::CheckParseResult(result);
  FUZZ_CHECK(ParseDigest("markdown", bytes).digest.papers == result.digest.papers,
             "ParseDigest differs from ParseMarkdownDigest with the parse limits applied");
  return 0;
}
