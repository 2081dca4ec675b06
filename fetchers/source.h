// Source: what one digest format (core/digest_format.h) asks of a cycle. It plans the URLs a
// source fetches for a day, parses a fetched body, and judges whether that body was a digest
// at all; daemon/cycle.cc moves the bytes and keeps no special case of any format. One
// Source per format, found with SourceFor; immutable, so any thread may use them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dates.h"
#include "core/digest_format.h"
#include "core/paper.h"
#include "core/result.h"
#include "core/spool.h"
#include "fetchers/parse_limits.h"

namespace digestd {

// One URL to fetch and the day it stands for.
struct SourceFetch {
  Date date;
  std::string url;
};

struct FetchPlan {
  bool dated = false;                // the URL template has a {date} placeholder
  std::vector<SourceFetch> fetches;  // oldest first: digests apply in publication order
  // Missed days older than `backfill_days` allows, oldest first: not fetched, and the caller
  // says so (CONFIG.md backfill_days).
  std::vector<Date> beyond_backfill;
};

// What a fetch plan depends on (CONFIG.md [[source]]).
struct FetchWindow {
  std::string_view url_template;  // {date}, {date:FORMAT}
  Date today;                     // in the source's zone
  int lookback_days = 0;
  int backfill_days = 0;
  std::optional<Date> last_success;  // the newest digest date fetched before, if any
};

class Source {
 public:
  virtual ~Source() = default;

  const DigestFormat& format() const { return format_; }

  // The URLs to fetch: for a dated template, `today`, the `lookback_days` before it and the
  // missed days since `last_success` up to `backfill_days` back; otherwise the one URL,
  // standing for `today`. Fails, naming the placeholder, when the template does not expand.
  Result<FetchPlan> PlanFetches(const FetchWindow& window) const;

  // Parses a fetched body within `budget`, keeping the limits of fetchers/parse_limits.h
  // (see ParseDigest). Never fails: what cannot be read becomes warnings.
  ParseResult Parse(std::string_view body, const ParseBudget& budget = {}) const;
  // The same for a fetched body that may be in a file, read a piece at a time: a long body
  // waits for its parse in a file, and is never in memory whole.
  ParseResult Parse(const Spool& body, const ParseBudget& budget = {}) const;

  // Why `parsed`, read from `body` (served as `content_type`, may be empty), is not a digest
  // of this format: bytes that gave no paper and either a warning or, for a dated format, no
  // date (an HTML error page, garbage, a truncated document). nullopt when it is one, even
  // an empty day.
  std::optional<std::string> Unreadable(std::string_view body, std::string_view content_type,
                                        const ParseResult& parsed) const;
  std::optional<std::string> Unreadable(const Spool& body, std::string_view content_type,
                                        const ParseResult& parsed) const;

 protected:
  explicit Source(const DigestFormat& format) : format_(format) {}

 private:
  // The format's own parser, before the limits are applied: bytes in memory are read in
  // pieces too (PiecesOf), as the format's own entry for a string_view reads them. A read
  // error of the body goes to `unread` (when given).
  virtual ParseResult ParseFormat(const RereadableBody& body, const ParseBudget& budget,
                                  std::string* unread) const = 0;
  // Unreadable, given whether the body is empty or all whitespace.
  std::optional<std::string> UnreadableWhy(bool blank, std::string_view content_type,
                                           const ParseResult& parsed) const;

  const DigestFormat& format_;
};

// The Source of format `kind`; nullptr when no format has that name.
const Source* SourceFor(std::string_view kind);

}  // namespace digestd
