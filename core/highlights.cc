#include "core/highlights.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "core/dedupe_key.h"

namespace digestd {
namespace {

// Votes for ranking: a paper without votes ranks below one with 0.
int RankVotes(const Paper& p) { return p.votes.value_or(-1); }

}  // namespace

std::vector<SourcedPaper> SelectTopPapers(const std::vector<HighlightsCandidate>& candidates,
                                          int top) {
  struct Merged {
    const HighlightsCandidate* best = nullptr;  // the sighting with the most votes
    std::int64_t first_seen = 0;                // the earliest of all its sightings
  };
  std::map<std::string, Merged> by_key;
  for (const HighlightsCandidate& c : candidates) {
    auto [it, fresh] = by_key.try_emplace(c.sighting.paper->key);
    Merged& m = it->second;
    if (fresh) {
      m = {.best = &c, .first_seen = c.first_seen};
      continue;
    }
    m.first_seen = std::min(m.first_seen, c.first_seen);
    // Input order must not matter: compare by value, never by position.
    const auto rank = [](const HighlightsCandidate& x) {
      return std::make_tuple(-RankVotes(x.sighting.paper), x.first_seen,
                             std::cref(x.sighting.source));
    };
    if (rank(c) < rank(*m.best)) m.best = &c;
  }
  std::vector<const std::pair<const std::string, Merged>*> order;
  order.reserve(by_key.size());
  for (const auto& entry : by_key) order.push_back(&entry);
  const auto better = [](const auto* a, const auto* b) {
    const int va = RankVotes(a->second.best->sighting.paper);
    const int vb = RankVotes(b->second.best->sighting.paper);
    if (va != vb) return va > vb;
    if (a->second.first_seen != b->second.first_seen) {
      return a->second.first_seen < b->second.first_seen;
    }
    return a->first < b->first;
  };
  const std::size_t keep = std::min(order.size(), std::size_t(std::max(0, top)));
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                    better);
  std::vector<SourcedPaper> out;
  out.reserve(keep);
  for (std::size_t i = 0; i < keep; ++i) out.push_back(order[i]->second.best->sighting);
  return out;
}

Notification HighlightsPost(const HighlightsConfig& h, const std::string& notifier,
                            const std::string& date, std::vector<SourcedPaper> papers) {
  Notification n;
  n.notifier = notifier;
  n.kind = "highlights";
  n.event = "top";
  n.watches = {h.name};
  n.papers = std::move(papers);
  n.dedupe_key = JoinKey({"highlights", h.name, notifier, date});
  n.id = NotificationId(n.dedupe_key);
  return n;
}

Notification HighlightsNote(const HighlightsConfig& h, const std::string& notifier,
                            const std::string& date) {
  Notification n;
  n.notifier = notifier;
  n.kind = "highlights";
  n.event = "no_papers";
  n.watches = {h.name};
  n.message = "No papers today (" + date + ")";
  n.dedupe_key = JoinKey({"highlights-empty", h.name, notifier, date});
  n.id = NotificationId(n.dedupe_key);
  return n;
}

bool HighlightsDue(const CronSchedule& schedule, Date day, std::chrono::local_seconds now) {
  const std::chrono::local_seconds midnight{std::chrono::local_days{day}};
  // Next() looks strictly after its argument: one second before midnight finds a slot at
  // midnight itself.
  const std::chrono::local_seconds slot = schedule.Next(midnight - std::chrono::seconds(1));
  return slot <= now;
}

}  // namespace digestd
