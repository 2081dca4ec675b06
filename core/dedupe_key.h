// DedupeKey: what makes a notification the same one again, so nothing is sent twice
// (DESIGN.md §2 step 6): the notifier, the paper, the event class and the watches. It is
// stored as a string (outbox.dedupe_key, notified_sets.key); Encode and Decode are the only
// code that knows that string's layout. Plain data; thread-compatible.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace digestd {

struct DedupeKey {
  std::string notifier;
  std::string paper_key;
  std::string event_class;  // "paper" | "updated:HASH" | "version:vN"
  // One watch: "this watch was told" (a notified mark). Several, sorted: an outbox row's
  // key. None: the set the notified marks of one (notifier, paper, class) share.
  std::vector<std::string> watches;

  // The fields joined with U+001F, which cannot occur in a name or a paper key (config and
  // parsers refuse control characters). The layout of every stored key: never change it.
  std::string Encode() const;

  // The key `encoded` holds; nullopt when it has fewer than three fields.
  static std::optional<DedupeKey> Decode(std::string_view encoded);

  // This key without its watches: the notified set it belongs to.
  DedupeKey Set() const { return {notifier, paper_key, event_class, {}}; }
  // Whether this key and `other` belong to one set: Set() == other.Set(), without copies.
  bool SameSet(const DedupeKey& other) const {
    return paper_key == other.paper_key && notifier == other.notifier &&
           event_class == other.event_class;
  }

  bool operator==(const DedupeKey&) const = default;
};

// A notified mark as a plan makes it and a commit records it: watch `watch` was told of
// `paper_key` through `notifier` for `event_class`, DedupeKey{notifier, paper_key,
// event_class, {watch}} without its copies. A long day makes one per paper, so the names
// are views: of the matcher's watch specs (their names and notifiers) and of the papers'
// keys, which must outlive the plan and the commit it goes to. The event class is held
// ("paper" is short).
struct NotifiedMark {
  std::string_view notifier;
  std::string_view paper_key;
  std::string event_class;
  std::string_view watch;

  // DedupeKey::Encode of this mark, and of the set it belongs to (DedupeKey::Set).
  std::string Encode() const;
  std::string EncodeSet() const;
  bool SameSet(const NotifiedMark& other) const {
    return paper_key == other.paper_key && notifier == other.notifier &&
           event_class == other.event_class;
  }

  bool operator==(const NotifiedMark&) const = default;
};

// The dedupe key of an outbox message that is not about one paper (an alert, highlights, a
// watch's digest, a sample): a kind word and its fields, joined as Encode joins them.
std::string JoinKey(std::initializer_list<std::string_view> fields);
// JoinKey's text into `out`, replacing what it held: a key made for each lookup reuses the
// room of the one before.
void JoinKeyInto(std::string& out, std::initializer_list<std::string_view> fields);

}  // namespace digestd
