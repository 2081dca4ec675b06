#include "core/source_health.h"

#include <gtest/gtest.h>

namespace digestd {
namespace {

TEST(SourceHealth, AlertsOnceAfterNFailures) {
  HealthPolicy policy{.alert_after_failures = 3, .alert_after_hours = 1000};
  SourceHealth h{.last_success_at = 0};
  int alerts = 0;
  for (int i = 0; i < 10; ++i) {
    FailureOutcome out = OnSourceFailure(h, policy, "hf", 100 + i);
    alerts += out.alert;
    if (i == 2) {
      EXPECT_TRUE(out.alert) << "the third failure alerts";
    }
    h = out.health;
  }
  EXPECT_EQ(alerts, 1);
  EXPECT_EQ(h.failures, 10);
  EXPECT_EQ(h.failing_since, 100);
}

TEST(SourceHealth, AlertsAfterHoursWithoutSuccess) {
  HealthPolicy policy{.alert_after_failures = 100, .alert_after_hours = 24};
  SourceHealth h{.last_success_at = 0};
  EXPECT_FALSE(OnSourceFailure(h, policy, "hf", 23 * 3600).alert);
  EXPECT_TRUE(OnSourceFailure(h, policy, "hf", 24 * 3600).alert);
}

TEST(SourceHealth, NeverSucceededCountsFromTheFirstFailure) {
  HealthPolicy policy{.alert_after_failures = 100, .alert_after_hours = 1};
  FailureOutcome first = OnSourceFailure({}, policy, "hf", 1000);
  EXPECT_FALSE(first.alert);
  EXPECT_TRUE(OnSourceFailure(first.health, policy, "hf", 1000 + 3600).alert);
}

TEST(SourceHealth, BackoffGrowsAndIsCapped) {
  HealthPolicy policy;
  SourceHealth h;
  std::int64_t last_delay = 0;
  for (int i = 0; i < 20; ++i) {
    FailureOutcome out = OnSourceFailure(h, policy, "hf", 0);
    EXPECT_GE(out.retry_at, std::min<std::int64_t>(60 << std::min(i, 9), 6 * 3600));
    EXPECT_LE(out.retry_at, 6 * 3600 + 6 * 3600 / 4);
    if (i < 8) {
      EXPECT_GT(out.retry_at, last_delay);
    }
    last_delay = out.retry_at;
    h = out.health;
  }
}

TEST(SourceHealth, AlertIdsAreTiedToTheStreak) {
  Notification a = SourceAlert("me", "hf", "source_failing", 100, "down");
  Notification b = SourceAlert("me", "hf", "source_failing", 100, "down again");
  Notification c = SourceAlert("me", "hf", "source_failing", 500, "down");
  EXPECT_EQ(a.id, b.id);
  EXPECT_NE(a.id, c.id);
  EXPECT_EQ(a.kind, "alert");
  EXPECT_TRUE(a.papers.empty());
}

}  // namespace
}  // namespace digestd
