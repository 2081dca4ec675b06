// The Hugging Face daily JSON parser (fetchers/hf_daily_parser.h) on any bytes: no crash, no
// sanitizer report, valid UTF-8 out, and an empty digest only with a warning saying why.
#include "fetchers/hf_daily_parser.h"
#include "tests/fuzz/fuzz_check.h"

DIGESTD_FUZZ_TARGET {
  using namespace digestd;
  const ParseResult result = ParseHfDaily(fuzz::Bytes(data, size));
  fuzz::CheckParseResult(result);
  for (const Paper& p : result.digest.papers) {
    FUZZ_CHECK(!p.key.empty() && !p.title.empty(), "a kept paper without id or title");
  }
  return 0;
}
