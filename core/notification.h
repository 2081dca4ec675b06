// Notification: the neutral message the planner makes and every channel renders — one
// event about one or more papers (or one alert about a source) for one notifier. Stored in
// the outbox as NotificationToJson and rendered the same way at every attempt. Plain data.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/hash.h"
#include "core/paper.h"

namespace digestd {

// What a source said of a paper before a change, so a message can say what changed (votes
// 3 -> 12, v1 -> v2, the old title). Empty fields were not said or did not change.
struct PriorState {
  std::optional<int> votes;
  std::string version;
  std::string title;                  // set only when the title changed

  bool empty() const { return !votes && version.empty() && title.empty(); }
};

class JsonWriter;

// The members "prior_votes", "prior_version" and "prior_title" of `prior`, those it has: how
// a paper's own JSON (NotificationToJson, the outbox message) says what was said before.
void WritePriorMembers(JsonWriter& json, const PriorState& prior);

// A paper as one source reported it on one date.
struct SourcedPaper {
  SharedPaper paper;
  std::string source;
  std::string date;                   // "YYYY-MM-DD"; empty when the source has none
  // In a message grouped by digest, this paper's own event and watches; empty: the
  // notification's.
  std::string event;
  std::vector<std::string> watches;
  // Set for `updated`, `new_version` and `threshold` events; null for a new paper, as every
  // paper of a first run is, so that a long day's entries carry no room for it. Shared by
  // copies and never changed once set.
  std::shared_ptr<const PriorState> prior;

  // What the source said before: `prior`, or an empty state.
  const PriorState& Prior() const;
  // Sets `prior`, to null when `state` is empty.
  void SetPrior(PriorState state);
};

struct Notification {
  std::string id;                     // NotificationId(dedupe_key)
  std::string dedupe_key;             // unique per (notifier, paper, event class, watches)
  std::string notifier;
  std::string kind = "instant";       // instant | digest | highlights | alert
  std::string event;                  // new | updated | threshold | new_version |
                                      // source_failing | source_recovered
  std::vector<std::string> watches;
  std::vector<SourcedPaper> papers;
  std::string source;                 // alerts: the source concerned
  std::string message;                // alerts: what happened
  std::string digest_url;             // the fetched digest ("and N more" links here); may be ""

  const std::string& EventOf(const SourcedPaper& p) const { return p.event.empty() ? event : p.event; }
  const std::vector<std::string>& WatchesOf(const SourcedPaper& p) const {
    return p.watches.empty() ? watches : p.watches;
  }
};

// The stable id of a notification: 32 hex digits derived from its dedupe key, so a dry run
// shows the id a real run would use (CONFIG.md "JSON shapes").
std::string NotificationId(std::string_view dedupe_key);

// Merges the instant notifications of one fetched digest for each notifier in `grouped`
// into one notification per notifier (CONFIG.md `group = "digest"`): papers in order, each
// once, with its own event and watches. Others pass through unchanged. The merged id derives
// from the notifier, the source, the date and the merged dedupe keys.
std::vector<Notification> GroupByDigest(std::vector<Notification> notifications,
                                        const std::vector<std::string>& grouped);

// GroupByDigest one notification at a time, as the planner makes them: a long day's
// per-paper notifications to a grouped notifier are merged as they come, never all held.
class DigestGrouper {
 public:
  explicit DigestGrouper(std::vector<std::string> grouped);

  // About `count` papers to come, so that a long day's lists are not grown by doubling:
  // the list of notifications once one is not merged, a merged one's list of papers.
  void Reserve(std::size_t count) { expected_ = count; }
  void Add(Notification notification);
  // What was added, merged, in order; the merged ones get their dedupe keys and ids.
  std::vector<Notification> Finish();

 private:
  struct Merged {
    std::size_t index = 0;  // in `out_`
    Hash128 keys;           // of its dedupe key and the keys it merged, as they came
  };

  std::vector<std::string> grouped_;
  std::vector<Notification> out_;
  std::map<std::string, Merged> merged_;  // by notifier
  std::size_t expected_ = 0;
  bool reserved_ = false;  // `out_` has room for `expected_` more
};

// One JSON line per paper in the CONFIG.md `once --json` shape (one line with "paper": null
// for an alert). Lines carry no trailing newline.
std::vector<std::string> NotificationJsonLines(const Notification& notification);
// The same lines appended to `out`, each ended by '\n' (JSON Lines), in one growing buffer.
void AppendNotificationJsonLines(const Notification& notification, std::string& out);

// The whole notification as one JSON object (the outbox's `message`): the same fields as
// the lines, with "papers" as an array, plus "dedupe_key", "source" and "message", and on a
// paper its own "event", "watches", "prior_votes", "prior_version" and "prior_title" when set.
std::string NotificationToJson(const Notification& notification);

}  // namespace digestd
