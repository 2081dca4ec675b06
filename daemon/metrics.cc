#include "daemon/metrics.h"

#include <fmt/format.h>

namespace digestd {
namespace {

void Family(std::string& out, const char* name, const char* type, const char* help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

std::string PrometheusLabel(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Metrics::Declare(const std::vector<std::string>& sources,
                      const std::vector<std::string>& notifiers) {
  std::lock_guard lock(mu_);
  for (const std::string& s : sources) sources_[s];
  for (const std::string& n : notifiers) notifiers_[n];
}

void Metrics::SourceFetched(const std::string& source, bool ok, int papers, double fetch_seconds,
                            std::int64_t now) {
  std::lock_guard lock(mu_);
  SourceSeries& s = sources_[source];
  ++s.fetches;
  if (!ok) ++s.failures;
  if (ok) s.last_success = now;
  s.papers += std::uint64_t(papers > 0 ? papers : 0);
  s.fetch.sum += fetch_seconds;
  ++s.fetch.count;
}

void Metrics::Delivery(const std::string& notifier, DeliveryOutcome outcome,
                       double latency_seconds) {
  std::lock_guard lock(mu_);
  NotifierSeries& n = notifiers_[notifier];
  switch (outcome) {
    case DeliveryOutcome::kSent:
      ++n.sent;
      n.latency.sum += latency_seconds;
      ++n.latency.count;
      break;
    case DeliveryOutcome::kRetry:
      ++n.failed;
      break;
    case DeliveryOutcome::kDead:
      ++n.failed;
      ++n.dead;
      break;
  }
}

void Metrics::SetPending(const std::map<std::string, int>& pending_by_notifier) {
  std::lock_guard lock(mu_);
  for (auto& [name, n] : notifiers_) n.pending = 0;
  for (const auto& [name, count] : pending_by_notifier) notifiers_[name].pending = count;
}

void Metrics::Matched(const std::string& watch, int matches) {
  if (matches <= 0) return;
  std::lock_guard lock(mu_);
  matches_total_ += std::uint64_t(matches);
  auto it = watches_.find(watch);
  if (it == watches_.end()) {
    if (watches_.size() >= kMaxWatchSeries) return;
    it = watches_.emplace(watch, 0).first;
  }
  it->second += std::uint64_t(matches);
}

void Metrics::JobDone(double seconds) {
  std::lock_guard lock(mu_);
  jobs_.sum += seconds;
  ++jobs_.count;
}

std::string Metrics::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  auto it = std::back_inserter(out);
  // Per source.
  Family(out, "digestd_source_fetches_total", "counter", "Fetches of a source (all its dates).");
  for (const auto& [name, s] : sources_) {
    fmt::format_to(it, "digestd_source_fetches_total{{source=\"{}\"}} {}\n", PrometheusLabel(name),
                   s.fetches);
  }
  Family(out, "digestd_source_failures_total", "counter", "Fetches of a source that failed.");
  for (const auto& [name, s] : sources_) {
    fmt::format_to(it, "digestd_source_failures_total{{source=\"{}\"}} {}\n",
                   PrometheusLabel(name), s.failures);
  }
  Family(out, "digestd_source_last_success_timestamp_seconds", "gauge",
         "Unix time of the source's last successful fetch by this process (0: none yet).");
  for (const auto& [name, s] : sources_) {
    fmt::format_to(it, "digestd_source_last_success_timestamp_seconds{{source=\"{}\"}} {}\n",
                   PrometheusLabel(name), s.last_success);
  }
  Family(out, "digestd_source_papers_total", "counter", "Papers in the digests a source gave.");
  for (const auto& [name, s] : sources_) {
    fmt::format_to(it, "digestd_source_papers_total{{source=\"{}\"}} {}\n", PrometheusLabel(name),
                   s.papers);
  }
  Family(out, "digestd_source_fetch_duration_seconds", "summary",
         "Wall time of a source's fetch (sources of one job are fetched concurrently).");
  for (const auto& [name, s] : sources_) {
    const std::string l = PrometheusLabel(name);
    fmt::format_to(it, "digestd_source_fetch_duration_seconds_sum{{source=\"{}\"}} {:.6f}\n", l,
                   s.fetch.sum);
    fmt::format_to(it, "digestd_source_fetch_duration_seconds_count{{source=\"{}\"}} {}\n", l,
                   s.fetch.count);
  }
  // Per notifier.
  Family(out, "digestd_notifier_sent_total", "counter", "Notifications delivered (every part).");
  for (const auto& [name, n] : notifiers_) {
    fmt::format_to(it, "digestd_notifier_sent_total{{notifier=\"{}\"}} {}\n",
                   PrometheusLabel(name), n.sent);
  }
  Family(out, "digestd_notifier_failed_total", "counter",
         "Delivery attempts that failed (to be retried, or dead).");
  for (const auto& [name, n] : notifiers_) {
    fmt::format_to(it, "digestd_notifier_failed_total{{notifier=\"{}\"}} {}\n",
                   PrometheusLabel(name), n.failed);
  }
  Family(out, "digestd_notifier_dead_total", "counter",
         "Notifications that went dead (retry budget spent or a permanent failure).");
  for (const auto& [name, n] : notifiers_) {
    fmt::format_to(it, "digestd_notifier_dead_total{{notifier=\"{}\"}} {}\n",
                   PrometheusLabel(name), n.dead);
  }
  Family(out, "digestd_notifier_pending", "gauge", "Notifications waiting in the outbox.");
  for (const auto& [name, n] : notifiers_) {
    fmt::format_to(it, "digestd_notifier_pending{{notifier=\"{}\"}} {}\n", PrometheusLabel(name),
                   n.pending);
  }
  Family(out, "digestd_notifier_delivery_latency_seconds", "summary",
         "From a notification's planning to its delivery.");
  for (const auto& [name, n] : notifiers_) {
    const std::string l = PrometheusLabel(name);
    fmt::format_to(it, "digestd_notifier_delivery_latency_seconds_sum{{notifier=\"{}\"}} {:.6f}\n",
                   l, n.latency.sum);
    fmt::format_to(it, "digestd_notifier_delivery_latency_seconds_count{{notifier=\"{}\"}} {}\n",
                   l, n.latency.count);
  }
  // Per watch, up to kMaxWatchSeries of them, and the total over all.
  Family(out, "digestd_watch_matches_total", "counter",
         "Papers a watch matched (the first 1000 watches seen; all in digestd_matches_total).");
  for (const auto& [name, count] : watches_) {
    fmt::format_to(it, "digestd_watch_matches_total{{watch=\"{}\"}} {}\n", PrometheusLabel(name),
                   count);
  }
  Family(out, "digestd_matches_total", "counter", "Papers matched, over every watch.");
  fmt::format_to(it, "digestd_matches_total {}\n", matches_total_);
  Family(out, "digestd_cycle_duration_seconds", "summary",
         "Wall time of a worker job (fetch, plan, deliver).");
  fmt::format_to(it, "digestd_cycle_duration_seconds_sum {:.6f}\n", jobs_.sum);
  fmt::format_to(it, "digestd_cycle_duration_seconds_count {}\n", jobs_.count);
  return out;
}

}  // namespace digestd
