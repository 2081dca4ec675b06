// DeliveryEngine: empties the outbox (DESIGN.md §2 steps 8-10). Claims due rows per notifier
// under a lease, renders them through the notifier's channel, sends the parts through a
// Transport under each notifier's max_in_flight and min_interval, classifies the answers,
// and commits the results in batches: sent, retry later (exponential backoff with full
// jitter, never sooner than Retry-After), dead after retry_max_attempts or retry_max_age, or
// released untouched. One slow or failing target delays no other. A notifier its target
// disabled (HTTP 410) is skipped until its config changes; alert_notify hears once per dead
// streak and once on recovery. One engine per run, on one thread; Stop() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "config/config.h"
#include "daemon/transport.h"
#include "store/state_store.h"

namespace digestd {

struct DeliveryOptions {
  std::string owner;                  // lease owner; empty: this process (ProcessLeaseOwner)
  std::function<std::int64_t()> now;  // unix seconds; empty: the system clock
  std::function<double()> random;     // uniform in [0, 1) for jitter; empty: a seeded engine
  std::function<bool(const std::string&)> owner_alive;  // empty: LeaseOwnerAlive
  int max_total_in_flight = 1024;                       // transfers at once over every notifier
  int max_per_origin = 64;  // ... and to one scheme://host:port (notifiers that
                            // post to one server share it)
  // Results per commit, at most. A crash before a commit re-sends (under the same ids) what
  // it would have recorded; each commit syncs the state file once. Only a fast local target
  // fills a batch before commit_interval ends it: a first run's 10,000 lines to a `file` take
  // 10 commits rather than 40 (a sync costs about 0.6 ms here), 5% of that run's wall time.
  int commit_every = 1024;
  std::chrono::milliseconds commit_interval{250};  // ... or this long after the first
  // Called with each notification delivered (all its parts), e.g. for `once --json`.
  std::function<void(const Notification&)> on_delivered;
  // Called with each row's result but a release (sent, retry, dead): its notifier, and how
  // many seconds ago it was planned (e.g. for the service's metrics).
  std::function<void(const std::string& notifier, DeliveryResult::Kind kind,
                     std::int64_t age_seconds)>
      on_result;
};

struct DeliveryReport {
  int sent = 0;          // rows delivered (every part)
  int retried = 0;       // rows due again later
  int dead = 0;          // rows that went dead
  int released = 0;      // rows handed back unattempted (stop, disabled)
  int disabled = 0;      // notifiers their target disabled in this run
  int store_errors = 0;  // commits that failed (the rows stay claimed until
                         // their lease runs out: nothing is lost)
  // When a pass should look again: the earliest due row or expiring lease of a notifier
  // it would send to (disabled ones do not count), now for rows of a dead process; nullopt
  // when none waits. Unset also when the state could not be read.
  std::optional<std::int64_t> next_due;
  bool next_due_known = false;
  bool failed() const { return retried > 0 || dead > 0 || disabled > 0 || store_errors > 0; }
};

class DeliveryEngine {
 public:
  DeliveryEngine(const Config& config, StateStore& store, Transport& transport,
                 DeliveryOptions options = {});

  // Delivers until no row is due, or Stop() was called; then commits what it knows and
  // hands back every row it claimed but did not finish. Call once.
  DeliveryReport Run();

  // Makes Run return soon: transfers still running are abandoned, their rows stay pending.
  // Thread-safe; may be called before Run.
  void Stop();

 private:
  const Config& config_;
  StateStore& store_;
  Transport& transport_;
  DeliveryOptions options_;
  std::atomic<bool> stop_{false};
};

// Sends `notification` to `notifier` through its channel and `transport`, outside the
// outbox (`test-notify`): the parts in order, stopping at the first one not delivered.
// Returns each tried part's id and outcome; fails when the channel cannot be made or render.
Result<std::vector<std::pair<std::string, Outcome>>> SendDirect(const NotifierConfig& notifier,
                                                                const Notification& notification,
                                                                Transport& transport,
                                                                std::int64_t now);

// This process as a lease owner: "HOST/pid:START" (START: the process's start time in clock
// ticks since boot, so a reused pid is another owner; HOST: several instances on one
// PostgreSQL state run on several machines). Also the instance's name as the leader.
std::string ProcessLeaseOwner();

// How long one attempt at `notifier` may take (its timeout and a second), and how long the
// engine holds a row of it it has claimed: four attempts' time, and at least five minutes.
// A commit that hands its rows over (DigestCommit::hand_over) queues them under the same.
std::int64_t AttemptSeconds(const NotifierConfig& notifier);
std::int64_t LeaseSeconds(const NotifierConfig& notifier);

// False when `owner` names a process of this host that no longer exists (its lease can be
// taken over at once); true otherwise: another host's process, or an owner of another form.
// "pid:START" without a host (written before issue 14) is this host's.
bool LeaseOwnerAlive(const std::string& owner);

// The delay before retry number `attempts` (1 for the first retry): uniform in
// [0, min(6 h, 10 s * 2^attempts)] (full jitter), at least 1 s, never less than `retry_after`.
std::chrono::seconds RetryDelay(int attempts, double random,
                                std::optional<std::chrono::seconds> retry_after);

// A hash of everything in `notifier` that decides where and how it sends: a notifier its
// target disabled is enabled again when this changes.
std::string NotifierFingerprint(const NotifierConfig& notifier);

}  // namespace digestd
