// Watch rules as core sees them, and WatchMatcher: all enabled watches compiled once, then
// asked which of them a paper's sighting satisfies. Compile once per config snapshot; a
// compiled matcher is immutable and safe to share between threads.
#pragma once

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

// Why a watch fired: each selector that hit, as "keyword:sparsity (title)" (one entry per
// field: title, summary, tag) / "author:Torsten Hoefler"; keywords first, in spec order.
struct WatchHit {
  std::size_t watch = 0;              // index into the specs given to Compile
  std::vector<std::string> terms;
};

class WatchMatcher {
 public:
  // Compiles the specs; fails with the watch's name and the bad term when a term is empty
  // after normalisation, and with the watch's name when it has a query (not supported yet).
  static Result<WatchMatcher> Compile(std::vector<WatchSpec> specs);

  // The watches that fire for `paper` as seen by `source`: a positive selector matches,
  // no exclude matches, and `source` is selected. Votes are not looked at here.
  std::vector<WatchHit> Match(const Paper& paper, std::string_view source) const;

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
