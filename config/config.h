// Config: the validated, immutable view of digestd.toml (CONFIG.md). Built only by
// LoadConfig (config/config_loader.h); shared as shared_ptr<const Config> and never mutated,
// so any thread may read it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/highlights.h"
#include "core/notifier_config.h"
#include "core/watch.h"

namespace digestd {

struct DaemonConfig {
  std::string state_path;             // absolute, or a postgresql:// URL (IsPostgresLocation)
  // PostgreSQL state only: how long a leader that stops renewing keeps the fetch jobs.
  std::chrono::milliseconds leader_lease{30000};
  std::string timezone = "UTC";       // IANA zone
  std::string log_level = "info";     // trace|debug|info|warn|error
  std::string contact;                // appended to the User-Agent; may be empty
  std::vector<std::string> alert_notify;
  int retention_days = 90;
  // metrics_listen: where `run` serves /metrics (an IP literal, or localhost; only a port
  // means 127.0.0.1). Empty host: no endpoint.
  std::string metrics_host;
  std::uint16_t metrics_port = 0;
};

enum class FirstRun { kBaseline, kNotify, kLatest };

struct SourceConfig {
  std::string name;                   // [a-z0-9_-]+, unique
  std::string kind;                   // markdown (hf-daily, arxiv, feed: later)
  std::string url;                    // template: {date}, {date:%Y/%m/%d}
  // The url came from a secret (`url_file`, "${NAME}"): it is shown by its host only, and
  // never linked from a message.
  bool url_secret = false;
  std::string schedule = "*/30 * * * *";
  // A random delay in [0, jitter] added to each scheduled run (`digestd run`), so many
  // daemons do not all fetch at the same second.
  std::chrono::milliseconds jitter{0};
  std::string timezone;               // resolved: the [daemon] timezone when not given
  int lookback_days = 2;
  int backfill_days = 7;
  FirstRun first_run = FirstRun::kBaseline;
  int first_run_latest = 0;           // N of "latest:N"
  std::chrono::milliseconds timeout{30000};
  std::uint64_t max_bytes = 20'000'000;
  std::map<std::string, std::string> headers;  // secrets resolved
  bool tls_verify = true;
  int alert_after_failures = 5;
  int alert_after_hours = 24;
  // A dated URL with no digest for more than this many weekdays fails the source ("check
  // the URL"), so a typo is not "not published yet" forever; 0: never.
  int alert_after_missing_days = 7;
  bool enabled = true;
};

// A [[watch]]: what the matcher and planner take (core/watch.h), and what only config and
// the daemon need.
struct WatchConfig {
  WatchSpec spec;                     // name, query, keywords, ..., notify
  std::string delivery = "instant";   // instant | digest
  // delivery = "digest": when the accumulated matches go out, in `timezone` (resolved: the
  // [daemon] timezone when not given).
  std::string digest_schedule = "0 8 * * *";
  std::string timezone;
  bool enabled = true;
  int line = 0;                       // where the [[watch]] table starts, for messages
  int column = 0;
  std::string file;                   // the config file that defined it
};

struct Config {
  std::string path;                   // the main config file, absolute
  DaemonConfig daemon;
  std::vector<SourceConfig> sources;
  std::vector<NotifierConfig> notifiers;
  std::vector<WatchConfig> watches;
  std::vector<HighlightsConfig> highlights;

  const SourceConfig* FindSource(const std::string& name) const;
  const NotifierConfig* FindNotifier(const std::string& name) const;
};

}  // namespace digestd
