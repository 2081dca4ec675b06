// URL templates (core/dates.h ExpandUrlTemplate: {date}, {date:FORMAT}) on any template and
// any date: an expansion or an error, never a crash; a template without a placeholder comes
// back as it is; {date} alone expands to the ISO date. The first bytes pick the date.
#include "core/dates.h"
#include "tests/fuzz/fuzz_check.h"

DIGESTD_FUZZ_TARGET {
  using namespace digestd;
  using namespace std::chrono;
  std::string_view text = fuzz::Bytes(data, size);
  // A date from the first 4 bytes: any day of years 1..9999 (some invalid, like Feb 30).
  int y = 2024;
  unsigned m = 1, d = 29;
  if (text.size() >= 4) {
    y = 1 + (static_cast<unsigned char>(text[0]) << 8 | static_cast<unsigned char>(text[1])) % 9999;
    m = 1 + static_cast<unsigned char>(text[2]) % 12;
    d = 1 + static_cast<unsigned char>(text[3]) % 31;
    text.remove_prefix(4);
  }
  const Date date{year{y}, month{m}, day{d}};
  auto expanded = ExpandUrlTemplate(text, date);
  if (!expanded) {
    FUZZ_CHECK(!expanded.error().message.empty(), "an error without a message");
    return 0;
  }
  if (!HasDatePlaceholder(text) && text.find('{') == std::string_view::npos &&
      text.find('}') == std::string_view::npos) {
    FUZZ_CHECK(*expanded == text, "a template without placeholders changed: " + *expanded);
  }
  if (date.ok()) {
    auto iso = ExpandUrlTemplate("{date}", date);
    FUZZ_CHECK(iso && *iso == FormatIsoDate(date), "{date} is not the ISO date");
    FUZZ_CHECK(ParseIsoDate(*iso) == date, "the ISO date does not parse back");
  }
  return 0;
}
