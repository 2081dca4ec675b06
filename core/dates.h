// Calendar dates and URL templates ({date}, {date:%Y/%m/%d}; CONFIG.md). Pure functions on
// civil dates: time zones are the caller's business (daemon/). Thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace digestd {

using Date = std::chrono::year_month_day;

// "YYYY-MM-DD" → Date; nullopt unless it is exactly that form and a real date.
std::optional<Date> ParseIsoDate(std::string_view text);
std::string FormatIsoDate(Date date);

// True when `url_template` contains a {date...} placeholder.
bool HasDatePlaceholder(std::string_view url_template);

// Replaces {date} with YYYY-MM-DD and {date:FORMAT} with strftime(FORMAT). Fails on an
// unknown placeholder or an unbalanced brace, naming it.
Result<std::string> ExpandUrlTemplate(std::string_view url_template, Date date);

// The dates a dated source checks: `today` and the `lookback_days` before it, plus the
// missed dates after `last_success` (exclusive) up to `backfill_days` back; newest first,
// without repeats.
std::vector<Date> DatesToCheck(Date today, int lookback_days, int backfill_days,
                               std::optional<Date> last_success);

// Appends `value` as exactly `width` (1 to 4) zero-padded decimal digits, its lowest ones:
// a field of an ISO 8601 date or time.
void AppendDigits(std::string& out, unsigned value, int width);

// `unix_seconds` as an ISO 8601 UTC timestamp: "2024-01-29T08:00:00Z".
std::string UtcTimestamp(std::int64_t unix_seconds);

// `unix_seconds` as an Internet Message Format date in UTC, the zone written as `zone`:
// "Mon, 29 Jan 2024 08:00:00 +0000" (an email's Date) or "... GMT" (HTTP's Last-Modified).
std::string ImfDate(std::int64_t unix_seconds, std::string_view zone);

}  // namespace digestd
