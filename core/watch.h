// Watch rules as core sees them, and WatchMatcher: all enabled watches compiled once, then
// asked which of them a paper's sighting satisfies. Compile once per config snapshot; a
// compiled matcher is immutable and safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/paper.h"
#include "core/result.h"

namespace digestd {

// One watch (CONFIG.md [[watch]]), independent of the config library. Keywords and excludes
// are literal phrases compared after FoldText (core/text.h) with word boundaries at Latin/
// Greek/Cyrillic ends; a trailing `*` makes a prefix term (`LLM*`), `\*` is a literal star.
// `query` is the query language of core/query.h (docs/query-language.md).
struct WatchSpec {
  std::string name;
  std::string query;                  // the query language (issue #4); empty when not given
  std::vector<std::string> keywords;  // any of these, in title, summary and tags
  std::vector<std::string> authors;   // any of these, in the author names
  std::vector<std::string> exclude;   // none of these, in title, summary and tags
  std::optional<int> min_votes;       // decided by the planner, not the matcher
  std::vector<std::string> sources;   // empty: every source
  std::vector<std::string> events = {"new", "threshold"};
  std::vector<std::string> notify;
};

// Why a watch fired: each positive selector that hit, keywords first in spec order, then
// authors, then query leaves left to right: "keyword:sparsity (title)" (one entry per field:
// title, summary, tag), "author:Torsten Hoefler", "query:title:\"speculative decoding\" (title)",
// "query:votes>=5".
struct WatchHit {
  std::size_t watch = 0;  // index into the specs given to Compile
  std::vector<std::string> terms;
};

// What became of one watch for one paper and source, for `digestd explain`.
struct WatchVerdict {
  enum class Outcome : std::uint8_t {
    kMatched,            // Match reports it
    kExcluded,           // it would match but an exclude entry or a NOT-ed term hit
    kSourceNotSelected,  // the source is not in `sources` (terms are still listed)
    kNoMatch,
  };
  std::size_t watch = 0;
  Outcome outcome = Outcome::kNoMatch;
  std::vector<std::string> terms;        // positive selectors that hit, as in WatchHit
  std::vector<std::string> excluded_by;  // exclude entries and NOT-ed terms that hit
};
std::string_view OutcomeName(WatchVerdict::Outcome outcome);  // "matched", "excluded", ...

// A questionable but valid watch found by LintWatches: `digestd check` prints a warning.
struct WatchLint {
  std::size_t watch = 0;
  std::string message;  // names the watch: `watch "x": can never match`
};

// Watches that can never match (`x AND NOT x`, `votes>=5 AND votes<3`, a `source:` outside
// `sources`), excludes that cancel every match, and duplicates (same normalised selectors,
// exclude, sources and min_votes). Watches that do not compile are skipped: Compile reports
// them.
std::vector<WatchLint> LintWatches(const std::vector<WatchSpec>& specs);

class WatchMatcher {
 public:
  // Compiles the specs; fails with the watch's name and the bad term when a term is empty
  // after normalisation, or with the watch's name, "query column C: what" and the caret
  // display (RenderCaret, core/query.h) on the lines after when its query does not parse.
  static Result<WatchMatcher> Compile(std::vector<WatchSpec> specs);

  // The watches that fire for `paper` as seen by `source`, in spec order: a positive
  // selector matches, no exclude matches, and `source` is selected. min_votes is the
  // planner's; only a query's `votes` comparisons look at paper.votes here.
  std::vector<WatchHit> Match(const Paper& paper, std::string_view source) const;

  // One verdict for every watch, in spec order; slower than Match (every watch is evaluated).
  std::vector<WatchVerdict> Explain(const Paper& paper, std::string_view source) const;

  const std::vector<WatchSpec>& specs() const;

  WatchMatcher(WatchMatcher&&) noexcept;
  WatchMatcher& operator=(WatchMatcher&&) noexcept;
  ~WatchMatcher();

 private:
  struct Impl;
  explicit WatchMatcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace digestd
