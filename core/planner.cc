#include "core/planner.h"

#include <algorithm>
#include <string_view>
#include <unordered_set>

#include "core/hash.h"
#include "core/heap_growth.h"
#include "core/two_threads.h"

namespace digestd {
namespace {

constexpr char kSep = '\x1f';  // between the fields of a content hash

bool Has(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

struct WatchEvent {
  std::string event;        // new | threshold | updated | new_version
  std::string event_class;  // "paper" | "updated:HASH" | "version:vN"
};

// The events one watch gets for one paper, given what the source said before.
// Into `events` (cleared first: one list serves every hit of a plan).
void EventsFor(const WatchSpec& watch, const Paper& paper, const PriorSighting* prior,
               std::string_view hash, std::vector<WatchEvent>& events) {
  const bool votes_met = !watch.min_votes || (paper.votes && *paper.votes >= *watch.min_votes);
  events.clear();
  if (!prior) {
    if (votes_met && Has(watch.events, "new")) events.push_back({"new", "paper"});
    return;
  }
  const bool was_below = !prior->votes || *prior->votes < watch.min_votes.value_or(0);
  if (watch.min_votes && votes_met && was_below && Has(watch.events, "threshold")) {
    events.push_back({"threshold", "paper"});
  }
  if (!votes_met) return;
  if (prior->content_hash != hash && Has(watch.events, "updated")) {
    events.push_back({"updated", "updated:" + std::string(hash)});
  }
  if (!paper.version.empty() && paper.version != prior->version &&
      Has(watch.events, "new_version")) {
    events.push_back({"new_version", "version:" + paper.version});
  }
}

// The papers a `latest:N` first run may notify: the N with most votes.
std::set<std::string> LatestKeys(const std::vector<SharedPaper>& papers, int n) {
  std::vector<const Paper*> sorted;
  for (const SharedPaper& p : papers) sorted.push_back(&*p);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Paper* a, const Paper* b) {
    return a->votes.value_or(-1) > b->votes.value_or(-1);
  });
  std::set<std::string> keys;
  for (int i = 0; i < n && i < int(sorted.size()); ++i) keys.insert(sorted[i]->key);
  return keys;
}

// Papers whose matches are found at once, then planned: a long day's matches are not all
// held (on a 10,000-paper day, 1.4 MB), and a block still keeps two threads busy.
constexpr std::size_t kFactsBlock = 2048;

// What the plan needs of each paper that does not depend on the others, for the papers
// [first, first + matches.size()): the watches each matches, in `matches`, and its content
// hash, in `hashes` (indexed as the papers). A long block's on two threads: matching 10,000
// papers against 1,000 watches is most of a plan, and each paper is matched on its own
// (WatchMatcher::Match is safe on several threads).
void FactsOf(const PlanInput& in, std::size_t first, std::vector<WatchMatches>& matches,
             std::vector<HashDigits>& hashes) {
  const std::vector<SharedPaper>& papers = *in.papers;
  OnTwoThreads(matches.size(), 256, [&] {
    return [&](std::size_t begin, std::size_t end) {
      for (std::size_t k = begin; k < end; ++k) {
        const Paper& paper = *papers[first + k];
        in.matcher->Match(paper, in.source, &matches[k]);  // reuses the block's lists
        hashes[first + k] = SightingContentDigits(paper);
      }
      return true;
    };
  });
}

}  // namespace

std::string SightingContentHash(const Paper& paper) {
  return std::string(SightingContentDigits(paper).view());
}

HashDigits SightingContentDigits(const Paper& paper) {
  // The fields laid end to end in a buffer each thread keeps (a long day's plan hashes its
  // papers on two), then hashed in one call: XXH3 on one block, not a call per field.
  thread_local std::string fields;
  fields.clear();
  fields += paper.title;
  fields += kSep;
  fields += paper.url;
  fields += kSep;
  for (const auto& a : paper.authors) {
    fields += a;
    fields += '\x1e';
  }
  fields += kSep;
  for (const auto& s : paper.summary) {
    fields += s;
    fields += '\x1e';
  }
  return Xxh3Digits(fields);
}

namespace {

// NotifiedKey into `out`, replacing what it held (a plan looks one up for every hit).
void NotifiedKeyInto(std::string& out, std::string_view notifier, std::string_view paper_key,
                     std::string_view event_class, std::string_view watch) {
  JoinKeyInto(out, {notifier, paper_key, event_class, watch});
}

}  // namespace

std::string NotifiedKey(std::string_view notifier, std::string_view paper_key,
                        std::string_view event_class, std::string_view watch) {
  std::string key;
  NotifiedKeyInto(key, notifier, paper_key, event_class, watch);
  return key;
}

Plan PlanDigest(const PlanInput& in) {
  Plan plan;
  const auto& specs = in.matcher->specs();
  const std::set<std::string> latest = in.first_run == FirstRunMode::kLatest
                                           ? LatestKeys(*in.papers, in.latest_n)
                                           : std::set<std::string>{};
  std::unordered_set<std::string_view> seen_keys;  // views of the papers' keys
  seen_keys.reserve(in.papers->size());
  std::vector<WatchMatches> block;  // of the papers from `block_start` on
  // Reused by every hit: its events, and the NotifiedKey looked up for each of its notifiers.
  std::vector<WatchEvent> events;
  std::string key;
  std::size_t block_start = 0;
  plan.content_hashes.resize(in.papers->size());
  // A day's marks are about one per paper: grown by doubling, a 10,000-paper day's list
  // would hold twice its size at its last step.
  plan.notified.reserve(in.papers->size());
  for (std::size_t index = 0; index < in.papers->size(); ++index) {
    // The notifications and marks fill the heap as the papers did (core/heap_growth.h).
    PopulateHeapGrowth();
    if (index == block_start + block.size()) {
      block_start = index;
      block.resize(std::min(kFactsBlock, in.papers->size() - index));
      FactsOf(in, block_start, block, plan.content_hashes);
    }
    const SharedPaper& shared = (*in.papers)[index];
    const Paper& paper = *shared;
    // A digest may list one paper twice (FORMATS.md: same id, other title); the first wins.
    if (!seen_keys.insert(paper.key).second) {
      plan.content_hashes[index].clear();
      continue;
    }
    const auto prior_it = in.prior->find(paper.key);
    const PriorSighting* prior = prior_it == in.prior->end() ? nullptr : &prior_it->second;
    const std::string_view hash = plan.content_hashes[index].view();
    const WatchMatches& matches = block[index - block_start];

    // (notifier, event class) -> the event and the watches that want it. The names are
    // views of the specs' (the marks keep them).
    struct Pending {
      std::string event;
      std::vector<std::string_view> watches;
    };
    std::map<std::pair<std::string_view, std::string>, Pending> pending;

    for (const WatchHit& hit : matches.hits) {
      const WatchSpec& watch = specs[hit.watch];
      Decision base;
      if (in.record_decisions) {
        base = {.paper_key = paper.key,
                .watch = watch.name,
                .terms = in.matcher->TermLabels(matches, hit)};
      }
      EventsFor(watch, paper, prior, hash, events);
      if (events.empty()) {
        if (in.record_decisions) {
          base.verdict = (watch.min_votes && !(paper.votes && *paper.votes >= *watch.min_votes))
                             ? "below threshold"
                             : "no event";
          plan.decisions.push_back(std::move(base));
        }
        continue;
      }
      for (const WatchEvent& ev : events) {
        std::string_view verdict;
        if (in.first_run == FirstRunMode::kBaseline) {
          verdict = "baseline";
        } else if (in.first_run == FirstRunMode::kLatest && !latest.count(paper.key)) {
          verdict = "not latest";
        } else {
          int routed = 0;
          int already = 0;
          for (const std::string& notifier : watch.notify) {
            if (!in.enabled_notifiers.count(notifier)) continue;
            ++routed;
            NotifiedKeyInto(key, notifier, paper.key, ev.event_class, watch.name);
            if (in.notified->count(key)) {
              ++already;
              continue;
            }
            Pending& p = pending[{notifier, ev.event_class}];
            // `new` outranks `threshold` when both watches fire in one class.
            if (p.event.empty() || ev.event == "new") p.event = ev.event;
            // A watch's additions come together (watch names are unique): comparing with
            // the last is enough, and keeps a paper that 10,000 watches hit linear.
            if (p.watches.empty() || p.watches.back() != watch.name) {
              p.watches.push_back(watch.name);
            }
          }
          verdict = routed == 0         ? "notifier disabled"
                    : already == routed ? "already sent"
                                        : "notified";
        }
        if (in.record_decisions) {
          Decision d = base;
          d.event = ev.event;
          d.verdict = verdict;
          plan.decisions.push_back(std::move(d));
        }
      }
    }

    for (auto& [target, p] : pending) {
      const auto& [notifier, event_class] = target;
      std::vector<std::string> sorted_watches(p.watches.begin(), p.watches.end());
      std::sort(sorted_watches.begin(), sorted_watches.end());
      Notification n;
      n.dedupe_key = DedupeKey{.notifier = std::string(notifier),
                               .paper_key = paper.key,
                               .event_class = event_class,
                               .watches = std::move(sorted_watches)}
                         .Encode();
      n.id = NotificationId(n.dedupe_key);
      n.notifier = notifier;
      n.kind = "instant";
      n.event = p.event;
      n.watches.assign(p.watches.begin(), p.watches.end());
      n.papers.push_back({.paper = shared, .source = in.source, .date = in.date});
      if (prior && p.event != "new") {
        // What changed, for the message (CONFIG.md: updated, new_version and threshold say).
        n.papers.back().SetPrior(
            {.votes = prior->votes,
             .version = prior->version,
             .title = prior->title != paper.title ? prior->title : std::string()});
      }
      for (std::string_view w : p.watches) {
        plan.notified.push_back(NotifiedMark{
            .notifier = notifier, .paper_key = paper.key, .event_class = event_class,
            .watch = w});
        PopulateNextEntries(plan.notified);
      }
      if (in.emit) {
        in.emit(std::move(n));
      } else {
        plan.notifications.push_back(std::move(n));
      }
    }
  }
  return plan;
}

}  // namespace digestd
