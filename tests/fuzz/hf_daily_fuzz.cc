// The Hugging Face daily JSON parser (fetchers/hf_daily_parser.h) on any bytes: no crash, no
// sanitizer report, valid UTF-8 out, an empty digest only with a warning saying why, and the
// same result read a few bytes at a time (as a spooled body is).
#include "fetchers/hf_daily_parser.h"
#include "tests/fuzz/fuzz_check.h"

DIGESTD_FUZZ_TARGET {
  using namespace digestd;
  const std::string_view bytes = fuzz::Bytes(data, size);
  const ParseResult result = ParseHfDaily(bytes);
  fuzz::CheckParseResult(result);
  for (const Paper& p : result.digest.papers) {
    FUZZ_CHECK(!p.key.empty() && !p.title.empty(), "a kept paper without id or title");
  }
  const ParseResult pieces = ParseHfDaily(PiecesOf(bytes, 1 + size % 23));
  FUZZ_CHECK(pieces.digest.papers == result.digest.papers && pieces.warnings == result.warnings &&
                 pieces.digest.date == result.digest.date,
             "the day read in pieces reads otherwise than in one");
  return 0;
}
