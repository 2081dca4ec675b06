// Digest delivery (CONFIG.md `delivery = "digest"`): a digest watch's matches are held in the
// state as they are found (HoldForDigests, in the cycle's commit) and go out as one message
// per notifier at the watch's digest_schedule (QueueDueDigests, a job of `run` and `once`).
// The digest's outbox row is queued in the transaction that takes the held matches, with a
// dedupe key per (notifier, watch, scheduled run): a crash between the schedule and the send
// neither loses it (the matches stay held and are due at the next look) nor doubles it.
// Not thread-safe: it uses the caller's store.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/notification.h"
#include "core/result.h"
#include "store/state_store.h"

namespace digestd {

// Takes out of `notifications` (planned instant ones) what goes to the watches in
// `digest_watches`: one held match per (notification, digest watch), carrying that watch
// only. A notification that also names instant watches stays, with those only.
std::vector<HeldMatch> HoldForDigests(std::vector<Notification>& notifications,
                                      const std::set<std::string>& digest_watches);
// The same for one notification, as the planner makes it: its digest watches' matches are
// appended to `held`; true when it still names an instant watch (it keeps only those).
bool HoldForDigests(Notification& notification, const std::set<std::string>& digest_watches,
                    std::vector<HeldMatch>& held);

// The one digest message of `held` (oldest first) for `watch` to `notifier`, for the
// scheduled run at unix time `period`: each paper once (its newest event), kind "digest".
// Pure.
Notification MakeWatchDigest(const std::string& watch, const std::string& notifier,
                             std::int64_t period, const std::vector<HeldMatch>& held);

// For each enabled digest watch (those in `only` when given) and each of its notifiers: the
// matches held from before the watch's latest scheduled run at or before `now` (in its zone)
// become one digest, queued (unless `dry_run`) as they are taken. Nothing is sent for an
// empty digest. Returns the digests planned, or the store's error.
Result<std::vector<Notification>> QueueDueDigests(const Config& config, StateStore& store,
                                                  std::int64_t now,
                                                  const std::set<std::string>* only,
                                                  bool dry_run = false);

}  // namespace digestd
