// Source health: when a failing source backs off, and when it raises one `source_failing`
// alert or one `source_recovered` alert (never one per failed attempt). Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/notification.h"

namespace digestd {

// What the state remembers of a source's recent attempts (unix seconds).
struct SourceHealth {
  int failures = 0;                          // consecutive
  std::optional<std::int64_t> failing_since; // first failure of the current streak
  std::optional<std::int64_t> last_success_at;
  bool alerted = false;                      // a source_failing alert went out for this streak
};

struct HealthPolicy {
  int alert_after_failures = 5;
  int alert_after_hours = 24;
};

// After a failed attempt at `now`: the new health, when to try again (exponential backoff
// from 1 minute to 6 hours, jittered by the source name), and whether to alert now.
struct FailureOutcome {
  SourceHealth health;
  std::int64_t retry_at = 0;
  bool alert = false;
};
FailureOutcome OnSourceFailure(const SourceHealth& before, const HealthPolicy& policy,
                               const std::string& source, std::int64_t now);

// The alert notification for `notifier` about `source` (event source_failing or
// source_recovered); its dedupe key ties it to the failure streak, so it is sent once.
Notification SourceAlert(const std::string& notifier, const std::string& source,
                         const std::string& event, std::int64_t streak_started,
                         const std::string& message);

}  // namespace digestd
