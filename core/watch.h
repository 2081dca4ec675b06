// Watch rules as core sees them, and WatchMatcher: all enabled watches compiled once, then
// asked which of them a paper's sighting satisfies. Compile once per config snapshot; a
// compiled matcher is immutable and safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
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
// authors, then query leaves left to right, as term ids that WatchMatcher::TermLabel renders:
// "keyword:sparsity (title)" (one entry per field: title, summary, tag),
// "author:Torsten Hoefler", "query:title:\"speculative decoding\" (title)", "query:votes>=5".
// Ids rather than strings because Match is hot and most callers never print the terms.
struct WatchHit {
  std::size_t watch = 0;          // index into the specs given to Compile
  std::uint32_t terms_begin = 0;  // this hit's ids: WatchMatches::term_ids[begin, end)
  std::uint32_t terms_end = 0;
};

// What Match found for one paper. Reuse one across calls: Match clears it and keeps its
// capacity, so a stream of papers stops allocating once the buffers have grown.
struct WatchMatches {
  std::vector<WatchHit> hits;            // in spec order
  std::vector<std::uint32_t> term_ids;   // every hit's ids, hit after hit

  std::span<const std::uint32_t> TermIds(const WatchHit& hit) const {
    return std::span<const std::uint32_t>(term_ids).subspan(hit.terms_begin,
                                                           hit.terms_end - hit.terms_begin);
  }
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
  // Fills `out` (cleared first). Safe to call from several threads at once, each with its
  // own `out`.
  void Match(const Paper& paper, std::string_view source, WatchMatches* out) const;
  WatchMatches Match(const Paper& paper, std::string_view source) const;

  // The text of a term id from this matcher's WatchMatches, as in the WatchHit comment.
  std::string TermLabel(std::uint32_t term_id) const;
  std::vector<std::string> TermLabels(const WatchMatches& matches, const WatchHit& hit) const;

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
