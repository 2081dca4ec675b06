// The watch query language (core/query.h) on any text: ParseQuery gives a query or an error
// whose column lies within the text (and RenderCaret can point at it: valid UTF-8 for a
// valid query); a parsed query
// describes itself.
#include "core/query.h"
#include "tests/fuzz/fuzz_check.h"

DIGESTD_FUZZ_TARGET {
  using namespace digestd;
  const std::string_view text = fuzz::Bytes(data, size);
  QueryError detail;
  auto query = ParseQuery(text, &detail);
  if (!query) {
    FUZZ_CHECK(!query.error().message.empty(), "an error without a message");
    FUZZ_CHECK(detail.column >= 1 && detail.column <= static_cast<int>(size) + 1,
               "error column " + std::to_string(detail.column) + " outside the query");
    // A query comes from TOML, so it is valid UTF-8 and so is its caret; other bytes must
    // only not crash.
    const std::string caret = RenderCaret(text, detail.column);
    FUZZ_CHECK(!IsValidUtf8(text) || IsValidUtf8(caret), "RenderCaret gave invalid UTF-8");
    return 0;
  }
  const std::string described = DescribeQuery(query->root);
  FUZZ_CHECK(!described.empty(), "an empty description");
  return 0;
}
