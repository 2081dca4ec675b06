#include "core/source_health.h"

#include <algorithm>

#include "core/dedupe_key.h"
#include "core/hash.h"

namespace digestd {

FailureOutcome OnSourceFailure(const SourceHealth& before, const HealthPolicy& policy,
                               const std::string& source, std::int64_t now) {
  FailureOutcome out;
  out.health = before;
  out.health.failures = before.failures + 1;
  if (!out.health.failing_since) out.health.failing_since = now;

  const int doublings = std::min(out.health.failures - 1, 9);
  const std::int64_t delay = std::min<std::int64_t>(6 * 3600, std::int64_t(60) << doublings);
  // Up to a quarter of the delay as jitter, stable per source and attempt, so that many
  // sources failing together (network down) do not retry in lockstep.
  const std::int64_t jitter = std::int64_t(
      Fnv1a64(source + "#" + std::to_string(out.health.failures)) % std::uint64_t(delay / 4 + 1));
  out.retry_at = now + delay + jitter;

  const std::int64_t healthy_at = before.last_success_at.value_or(*out.health.failing_since);
  const bool too_many = out.health.failures >= policy.alert_after_failures;
  const bool too_long = now - healthy_at >= std::int64_t(policy.alert_after_hours) * 3600;
  if (!before.alerted && (too_many || too_long)) {
    out.alert = true;
    out.health.alerted = true;
  }
  return out;
}

Notification SourceAlert(const std::string& notifier, const std::string& source,
                         const std::string& event, std::int64_t streak_started,
                         const std::string& message) {
  Notification n;
  n.notifier = notifier;
  n.kind = "alert";
  n.event = event;
  n.source = source;
  n.message = message;
  n.dedupe_key = JoinKey({"alert", notifier, source, event, std::to_string(streak_started)});
  n.id = NotificationId(n.dedupe_key);
  return n;
}

}  // namespace digestd
