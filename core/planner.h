// Diff and plan: one source's digest for one date, against what that source said before,
// becomes events (new, updated, threshold, new_version), matched against the watches, and
// the instant notifications to queue (DESIGN.md §2 steps 4-6). Pure; thread-compatible.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/dedupe_key.h"
#include "core/notification.h"
#include "core/hash.h"
#include "core/paper.h"
#include "core/watch.h"

namespace digestd {

// What a source said about a paper the last time, as far as diffing needs it.
struct PriorSighting {
  std::string content_hash;           // SightingContentHash of that sighting
  std::optional<int> votes;
  std::string version;
  std::string title;                  // shown as what an `updated` paper was called
};

// Hash of the fields whose change makes an `updated` event: title, authors, summary, URL
// (never votes). XXH3's 128 bits (core/hash.h) since schema 12.
std::string SightingContentHash(const Paper& paper);
// The same hash's digits, held in place.
HashDigits SightingContentDigits(const Paper& paper);

// The key under which "watch W was told to notifier N about paper P for event class C" is
// remembered, so nothing is sent twice (DESIGN.md §2 step 6): DedupeKey{N, P, C, {W}},
// encoded.
std::string NotifiedKey(std::string_view notifier, std::string_view paper_key,
                        std::string_view event_class, std::string_view watch);

enum class FirstRunMode {
  kNotFirst,  // the source has run before: plan normally
  kBaseline,  // record, notify nothing
  kNotify,    // plan normally
  kLatest,    // notify only the `latest_n` papers with most votes
};

struct PlanInput {
  std::string source;
  std::string date;
  const std::vector<SharedPaper>* papers = nullptr;
  const std::map<std::string, PriorSighting>* prior = nullptr;  // by paper key
  const std::set<std::string>* notified = nullptr;              // NotifiedKey values (encoded)
  const WatchMatcher* matcher = nullptr;
  std::set<std::string> enabled_notifiers;                      // others are skipped
  FirstRunMode first_run = FirstRunMode::kNotFirst;
  int latest_n = 0;
  // Fill Plan::decisions (for `explain`); off, planning skips building and labelling them.
  bool record_decisions = false;
  // When set, each notification goes here as it is made instead of into
  // Plan::notifications, so a caller that merges or holds them never has them all at once.
  std::function<void(Notification&&)> emit;
};

// Why a (paper, watch) pair was or was not notified; `explain` prints these.
struct Decision {
  std::string paper_key;
  std::string watch;
  std::string event;                  // the event considered, or empty
  std::string verdict;                // notified | already sent | below threshold | baseline |
                                      // no event | not latest | notifier disabled
  std::vector<std::string> terms;     // what hit
};

struct Plan {
  std::vector<Notification> notifications;   // ids and dedupe keys filled in
  std::vector<NotifiedMark> notified;        // the marks they cover (views: NotifiedMark)
  std::vector<Decision> decisions;           // only with PlanInput::record_decisions
  // SightingContentHash of each of PlanInput::papers, in order (empty for a repeated key):
  // the commit stores them rather than hashing every paper again.
  std::vector<HashDigits> content_hashes;
};

Plan PlanDigest(const PlanInput& input);

}  // namespace digestd
