// Metrics: the counters and gauges `digestd run` serves on metrics_listen, in the Prometheus
// text exposition format (version 0.0.4). The worker thread records, the event loop renders:
// every method is thread-safe (one mutex; recording is a few map updates per source, row or
// job, never per byte).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace digestd {

// How one outbox row ended in a delivery pass.
enum class DeliveryOutcome { kSent, kRetry, kDead };

class Metrics {
 public:
  // Watches beyond this many get no series of their own; their matches count in the total.
  static constexpr std::size_t kMaxWatchSeries = 1000;

  // Gives every configured source and notifier its series from the start (zeros), so a
  // scrape before the first job already lists them. Series of removed names stay.
  void Declare(const std::vector<std::string>& sources, const std::vector<std::string>& notifiers);
  // One source's run in a cycle: `ok` or failed, the papers of its digests, how long its
  // fetch took, at unix time `now`.
  void SourceFetched(const std::string& source, bool ok, int papers, double fetch_seconds,
                     std::int64_t now);
  // One row's attempt: `latency_seconds` from its planning to now (counted for kSent).
  void Delivery(const std::string& notifier, DeliveryOutcome outcome, double latency_seconds);
  // Rows waiting per notifier, as the state says after a job (replaces the previous figures).
  void SetPending(const std::map<std::string, int>& pending_by_notifier);
  void Matched(const std::string& watch, int matches);
  void JobDone(double seconds);

  // The whole exposition, one family after another; ends with a newline.
  std::string Render() const;

 private:
  struct Summary {
    double sum = 0;
    std::uint64_t count = 0;
  };
  struct SourceSeries {
    std::uint64_t fetches = 0, failures = 0, papers = 0;
    std::int64_t last_success = 0;
    Summary fetch;
  };
  struct NotifierSeries {
    std::uint64_t sent = 0, failed = 0, dead = 0;
    int pending = 0;
    Summary latency;
  };

  mutable std::mutex mu_;
  std::map<std::string, SourceSeries> sources_;
  std::map<std::string, NotifierSeries> notifiers_;
  std::map<std::string, std::uint64_t> watches_;
  std::uint64_t matches_total_ = 0;
  Summary jobs_;
};

// The exposition format's label value: backslash, double quote and newline escaped.
std::string PrometheusLabel(const std::string& value);

}  // namespace digestd
