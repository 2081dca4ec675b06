// Metrics (issue 10, point 6): the exposition's figures, the 1,000-watch cap with its total,
// label escaping, and recording from one thread while another renders.
#include "daemon/metrics.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <thread>

namespace digestd {
namespace {

int CountLines(const std::string& text, const std::string& prefix) {
  int n = 0;
  std::size_t at = 0;
  while ((at = text.find("\n" + prefix, at)) != std::string::npos) {
    ++n;
    ++at;
  }
  return n;
}

TEST(Issue10, MetricsRenderWhatWasRecorded) {
  Metrics m;
  m.Declare({"hf", "arxiv"}, {"team"});
  m.SourceFetched("hf", true, 12, 0.25, 1700000000);
  m.SourceFetched("hf", false, 0, 1.5, 1700000600);
  m.Delivery("team", DeliveryOutcome::kSent, 4);
  m.Delivery("team", DeliveryOutcome::kRetry, 0);
  m.Delivery("team", DeliveryOutcome::kDead, 0);
  m.SetPending({{"team", 7}});
  m.Matched("w", 3);
  m.JobDone(2.0);
  const std::string text = "\n" + m.Render();
  for (const char* line : {
           "digestd_source_fetches_total{source=\"hf\"} 2\n",
           "digestd_source_failures_total{source=\"hf\"} 1\n",
           "digestd_source_last_success_timestamp_seconds{source=\"hf\"} 1700000000\n",
           "digestd_source_papers_total{source=\"hf\"} 12\n",
           "digestd_source_fetch_duration_seconds_sum{source=\"hf\"} 1.750000\n",
           "digestd_source_fetch_duration_seconds_count{source=\"hf\"} 2\n",
           "digestd_source_fetches_total{source=\"arxiv\"} 0\n",
           "digestd_notifier_sent_total{notifier=\"team\"} 1\n",
           "digestd_notifier_failed_total{notifier=\"team\"} 2\n",
           "digestd_notifier_dead_total{notifier=\"team\"} 1\n",
           "digestd_notifier_pending{notifier=\"team\"} 7\n",
           "digestd_notifier_delivery_latency_seconds_sum{notifier=\"team\"} 4.000000\n",
           "digestd_notifier_delivery_latency_seconds_count{notifier=\"team\"} 1\n",
           "digestd_watch_matches_total{watch=\"w\"} 3\n",
           "digestd_matches_total 3\n",
           "digestd_cycle_duration_seconds_count 1\n",
       }) {
    EXPECT_NE(text.find(std::string("\n") + line), std::string::npos) << line << text;
  }
  // Pending is replaced, not added: a notifier no longer waiting shows 0.
  m.SetPending({});
  EXPECT_NE(m.Render().find("digestd_notifier_pending{notifier=\"team\"} 0\n"),
            std::string::npos);
}

TEST(Issue10, WatchesBeyondTheThousandthCountInTheTotalOnly) {
  Metrics m;
  for (int i = 0; i < 1005; ++i) m.Matched("watch " + std::to_string(i), 2);
  m.Matched("watch 0", 1);      // a watch with a series keeps counting
  m.Matched("watch 1004", 1);   // one without stays out
  const std::string text = "\n" + m.Render();
  EXPECT_EQ(CountLines(text, "digestd_watch_matches_total{"), 1000);
  EXPECT_NE(text.find("\ndigestd_watch_matches_total{watch=\"watch 0\"} 3\n"), std::string::npos);
  EXPECT_EQ(text.find("watch=\"watch 1004\""), std::string::npos);
  EXPECT_NE(text.find("\ndigestd_matches_total 2012\n"), std::string::npos);
}

TEST(Issue10, LabelValuesAreEscaped) {
  EXPECT_EQ(PrometheusLabel("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  Metrics m;
  m.Matched("say \"hi\"\n", 1);
  EXPECT_NE(m.Render().find("{watch=\"say \\\"hi\\\"\\n\"} 1\n"), std::string::npos);
}

TEST(Issue10, RecordingWhileRenderingLosesNothing) {
  Metrics m;
  constexpr int kRows = 20000;
  std::thread worker([&] {
    for (int i = 0; i < kRows; ++i) {
      m.Delivery("n", DeliveryOutcome::kSent, 1);
      m.Matched("w" + std::to_string(i % 10), 1);
    }
  });
  int renders = 0;
  const std::regex family("# TYPE digestd_notifier_sent_total counter\n");
  for (; renders < 200; ++renders) {
    ASSERT_TRUE(std::regex_search(m.Render(), family));
  }
  worker.join();
  const std::string text = m.Render();
  EXPECT_NE(text.find("digestd_notifier_sent_total{notifier=\"n\"} 20000\n"), std::string::npos);
  EXPECT_NE(text.find("digestd_matches_total 20000\n"), std::string::npos);
}

}  // namespace
}  // namespace digestd
