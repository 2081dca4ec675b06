#include "daemon/cycle.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include <date/tz.h>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "core/hash.h"
#include "core/planner.h"
#include "core/source_health.h"
#include "fetchers/digest_parser.h"
#include "notifiers/local_channels.h"

namespace digestd {
namespace {

constexpr int kDeliveryBatch = 200;
constexpr int kMaxAttempts = 12;
constexpr std::int64_t kMaxAgeSeconds = 24 * 3600;

std::string UserAgent(const Config& config) {
  std::string ua = "digestd/" DIGESTD_VERSION;
  if (!config.daemon.contact.empty()) ua += " (+" + config.daemon.contact + ")";
  return ua;
}

// One fetched date of one source, kept until the source's dates are all fetched so that a
// first run knows which date is the newest.
struct Fetched {
  Date date;
  std::string url;
  HttpResponse response;
};

FirstRunMode ModeFor(const SourceConfig& source, bool first_run, bool newest) {
  if (!first_run) return FirstRunMode::kNotFirst;
  switch (source.first_run) {
    case FirstRun::kBaseline: return FirstRunMode::kBaseline;
    case FirstRun::kNotify: return FirstRunMode::kNotify;
    case FirstRun::kLatest: return newest ? FirstRunMode::kLatest : FirstRunMode::kBaseline;
  }
  return FirstRunMode::kBaseline;
}

// Appends `bytes` to `path` durably: a notification written here counts as delivered.
Status AppendDurably(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return Unexpected(path + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return Unexpected(path + ": write failed: " + why);
    }
    done += std::size_t(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const std::string why = synced ? "" : std::strerror(errno);
  ::close(fd);
  if (!synced) return Unexpected(path + ": fsync failed: " + why);
  return Ok();
}

// Exponential backoff with full jitter (DESIGN.md §8), the jitter drawn from the row id so
// that it is deterministic for a given row and attempt.
std::int64_t RetryDelaySeconds(const std::string& id, int attempts) {
  const std::int64_t cap = std::min<std::int64_t>(6 * 3600, 30LL << std::min(attempts, 12));
  const std::uint64_t h = Fnv1a64(id + std::to_string(attempts));
  return 1 + std::int64_t(h % std::uint64_t(cap));
}

// A feed item whose GUID changes on every fetch would look new each time. An item whose key
// is unknown but whose link a known item of the same source already has keeps that item's
// key, with a warning, so it is not notified again.
Status KeepKeysOfKnownUrls(StateStore& store, const std::string& source,
                           std::vector<Paper>& papers, std::vector<std::string>& keys) {
  std::vector<std::string> urls;
  for (const Paper& p : papers) {
    if (!p.url.empty() && p.key.rfind("arxiv:", 0) != 0) urls.push_back(p.url);
  }
  if (urls.empty()) return Ok();
  auto known_keys = store.LoadPriorSightings(source, keys);
  auto by_url = store.KeysByUrl(source, urls);
  if (!known_keys) return Unexpected(known_keys.error());
  if (!by_url) return Unexpected(by_url.error());
  std::set<std::string> taken(keys.begin(), keys.end());
  for (std::size_t i = 0; i < papers.size(); ++i) {
    Paper& p = papers[i];
    const auto old = by_url->find(p.url);
    if (old == by_url->end() || old->second == p.key || known_keys->count(p.key) ||
        taken.count(old->second)) {
      continue;
    }
    spdlog::warn("source {}: item {} changed its GUID ({} -> {}); the feed's GUIDs look "
                 "unstable, so it is treated as the item already seen",
                 source, RedactUrl(p.url), old->second, p.key);
    taken.insert(old->second);
    p.key = old->second;
    keys[i] = old->second;
  }
  return Ok();
}

// Records a failed attempt, backs the source off, and raises one source_failing alert when
// the streak passes the source's limits (CONFIG.md alert_after_failures/_hours).
void RecordFailure(const Config& config, StateStore& store, const SourceConfig& source,
                   const SourceState& state, const std::string& failure, std::int64_t now) {
  const HealthPolicy policy{.alert_after_failures = source.alert_after_failures,
                            .alert_after_hours = source.alert_after_hours};
  const FailureOutcome outcome = OnSourceFailure(state.health(), policy, source.name, now);
  std::vector<Notification> alerts;
  if (outcome.alert) {
    spdlog::warn("source {}: failing ({} attempts in a row); alerting {}", source.name,
                 outcome.health.failures, fmt::join(config.daemon.alert_notify, ", "));
    for (const std::string& notifier : config.daemon.alert_notify) {
      alerts.push_back(SourceAlert(notifier, source.name, "source_failing",
                                   *outcome.health.failing_since,
                                   std::to_string(outcome.health.failures) +
                                       " failed attempts in a row; last: " + failure));
    }
  }
  if (auto st = store.RecordFetchFailure(source.name, failure, outcome.health, outcome.retry_at,
                                         alerts, now);
      !st) {
    spdlog::error("source {}: {}", source.name, st.error().message);
  }
}

}  // namespace

std::vector<WatchSpec> WatchSpecsFrom(const Config& config) {
  std::vector<WatchSpec> specs;
  for (const WatchConfig& w : config.watches) {
    if (!w.enabled) continue;
    specs.push_back(WatchSpec{.name = w.name,
                              .query = w.query,
                              .keywords = w.keywords,
                              .authors = w.authors,
                              .exclude = w.exclude,
                              .min_votes = w.min_votes,
                              .sources = w.sources,
                              .events = w.events,
                              .notify = w.notify});
  }
  return specs;
}

Date TodayIn(const std::string& timezone, std::int64_t now) {
  const auto instant = std::chrono::sys_seconds{std::chrono::seconds{now}};
  try {
    const auto local = date::locate_zone(timezone)->to_local(instant);
    const auto day = date::floor<date::days>(local);
    return Date{std::chrono::sys_days{std::chrono::days{day.time_since_epoch().count()}}};
  } catch (const std::exception&) {
    return Date{std::chrono::floor<std::chrono::days>(instant)};
  }
}

CycleReport RunCycle(const Config& config, const WatchMatcher& matcher, StateStore& store,
                     HttpClient& http, const CycleOptions& options, const CycleOutput& output) {
  CycleReport report;
  std::set<std::string> enabled_notifiers;
  for (const NotifierConfig& n : config.notifiers) {
    if (n.enabled) enabled_notifiers.insert(n.name);
  }

  for (const SourceConfig& source : config.sources) {
    if (!source.enabled) continue;
    if (!options.only_sources.empty() && !options.only_sources.count(source.name)) continue;
    if (!source.tls_verify) {
      spdlog::warn("source {}: TLS verification is off (tls_verify = false)", source.name);
    }
    auto state = store.GetSourceState(source.name);
    if (!state) {
      spdlog::error("source {}: {}", source.name, state.error().message);
      ++report.sources_failed;
      continue;
    }
    if (options.honour_backoff && state->retry_at && *state->retry_at > options.now) {
      spdlog::debug("source {}: backing off after {} failures", source.name, state->failures);
      continue;
    }
    const bool first_run = !state->first_run_at.has_value();
    const Date today = options.date.value_or(TodayIn(source.timezone, options.now));
    std::vector<Date> dates = {today};
    const bool dated = HasDatePlaceholder(source.url);
    if (dated) {
      dates = DatesToCheck(today, source.lookback_days, source.backfill_days,
                           ParseIsoDate(state->last_success_date));
    }

    // Fetch every due date, oldest first, so diffs run in publication order.
    std::reverse(dates.begin(), dates.end());
    std::vector<Fetched> fetched;
    std::string failure;  // why this source failed; empty while it works
    for (const Date& date : dates) {
      auto url = ExpandUrlTemplate(source.url, date);
      if (!url) {
        failure = fmt::format("{}", url.error().message);
        spdlog::error("source {}: {}", source.name, failure);
        break;
      }
      HttpRequest request{.url = *url,
                          .headers = source.headers,
                          .timeout = source.timeout,
                          .connect_timeout = std::min(source.timeout,
                                                      std::chrono::milliseconds(10000)),
                          .max_bytes = source.max_bytes,
                          .tls_verify = source.tls_verify,
                          .user_agent = UserAgent(config)};
      if (auto v = store.GetValidators(source.name, *url); v && v->has_value()) {
        request.if_none_match = (*v)->etag;
        request.if_modified_since = (*v)->last_modified;
      }
      HttpResponse response = http.Fetch(request);
      if (response.error != TransferError::kNone) {
        failure = fmt::format("{}", response.error_message);
        spdlog::error("source {}: {}", source.name, failure);
        break;
      }
      if (response.status == 404 && dated) {
        spdlog::debug("source {}: {} not published yet (404)", source.name, RedactUrl(*url));
        if (!options.dry_run) {
          (void)store.RecordSourceSuccess(source.name, "", options.now, false);
        }
        continue;
      }
      if (response.status == 304) {
        spdlog::debug("source {}: {} not modified", source.name, RedactUrl(*url));
        continue;
      }
      if (response.status < 200 || response.status >= 300) {
        failure = fmt::format("{}: HTTP status {}", RedactUrl(*url), response.status);
        spdlog::error("source {}: {}", source.name, failure);
        break;
      }
      fetched.push_back(Fetched{.date = date, .url = *url, .response = std::move(response)});
    }

    // What this run has already planned, so a dry run (which commits nothing) does not
    // plan the same paper twice across dates.
    std::map<std::string, PriorSighting> run_prior;
    std::set<std::string> run_notified;
    for (std::size_t i = 0; i < fetched.size() && failure.empty(); ++i) {
      const Fetched& f = fetched[i];
      const std::string body_hash = Hash128Hex(f.response.body);
      auto validators = store.GetValidators(source.name, f.url);
      if (validators && validators->has_value() && (*validators)->body_hash == body_hash) {
        spdlog::debug("source {}: {} unchanged", source.name, RedactUrl(f.url));
        if (!options.dry_run) {
          (void)store.RecordSourceSuccess(source.name, FormatIsoDate(f.date),
                                           options.now, true);
        }
        continue;
      }
      ParseResult parsed = ParseDigest(source.kind, f.response.body);
      for (const ParseWarning& w : parsed.warnings) {
        spdlog::warn("{}:{}: {}", RedactUrl(f.url), w.line, w.message);
      }
      Digest& digest = parsed.digest;
      digest.source = source.name;
      if (digest.date.empty() || dated) digest.date = FormatIsoDate(f.date);

      std::vector<Paper> papers;
      std::vector<std::string> keys;
      std::set<std::string> seen;
      for (Paper& p : digest.papers) {
        if (p.key.empty() || !seen.insert(p.key).second) continue;
        keys.push_back(p.key);
        papers.push_back(std::move(p));
      }
      if (auto st = KeepKeysOfKnownUrls(store, source.name, papers, keys); !st) {
        failure = st.error().message;
        spdlog::error("source {}: {}", source.name, failure);
        break;
      }
      auto prior = store.LoadPriorSightings(source.name, keys);
      auto notified = store.LoadNotified(keys);
      if (!prior || !notified) {
        failure = fmt::format("{}", (!prior ? prior.error() : notified.error()).message);
        spdlog::error("source {}: {}", source.name, failure);
        break;
      }
      for (const auto& [key, p] : run_prior) prior->insert_or_assign(key, p);
      notified->insert(run_notified.begin(), run_notified.end());

      PlanInput input{.source = source.name,
                      .date = digest.date,
                      .papers = &papers,
                      .prior = &*prior,
                      .notified = &*notified,
                      .matcher = &matcher,
                      .enabled_notifiers = enabled_notifiers,
                      .first_run = ModeFor(source, first_run, i + 1 == fetched.size()),
                      .latest_n = source.first_run_latest};
      Plan plan = PlanDigest(input);
      report.papers_seen += int(papers.size());
      report.notifications_planned += int(plan.notifications.size());
      spdlog::info("source {}: {} ({} papers, {} notifications)", source.name, digest.date,
                   papers.size(), plan.notifications.size());

      if (options.dry_run) {
        for (const Paper& p : papers) {
          run_prior[p.key] = PriorSighting{.content_hash = SightingContentHash(p),
                                           .votes = p.votes,
                                           .version = p.version};
        }
        run_notified.insert(plan.notified.begin(), plan.notified.end());
        if (options.json) {
          for (const Notification& n : plan.notifications) {
            for (const std::string& line : NotificationJsonLines(n)) output.json_line(line);
          }
        }
        continue;
      }
      DigestCommit commit{.source = source.name,
                          .url = f.url,
                          .date = digest.date,
                          .now = options.now,
                          .validators = {.etag = f.response.etag,
                                         .last_modified = f.response.last_modified,
                                         .body_hash = body_hash},
                          .papers = std::move(papers),
                          .notified = std::move(plan.notified),
                          .notifications = std::move(plan.notifications)};
      if (auto st = store.CommitDigest(commit); !st) {
        failure = fmt::format("{}", st.error().message);
        spdlog::error("source {}: {}", source.name, failure);
        break;
      }
    }

    if (!failure.empty()) {
      ++report.sources_failed;
      if (!options.dry_run) RecordFailure(config, store, source, *state, failure, options.now);
      continue;
    }
    ++report.sources_ok;
    if (options.dry_run) continue;
    if (state->alerted) {
      std::vector<Notification> alerts;
      for (const std::string& notifier : config.daemon.alert_notify) {
        alerts.push_back(SourceAlert(notifier, source.name, "source_recovered",
                                     state->failing_since.value_or(0),
                                     "works again after " + std::to_string(state->failures) +
                                         " failed attempts"));
      }
      spdlog::info("source {}: recovered", source.name);
      if (auto st = store.QueueNotifications(alerts, options.now); !st) {
        spdlog::error("source {}: {}", source.name, st.error().message);
      }
    }
    // A run whose every date was "not modified" or "not published" still counts as a success.
    (void)store.RecordSourceSuccess(source.name, "", options.now, false);
    if (first_run) {
      if (auto st = store.MarkFirstRunDone(source.name, options.now); !st) {
        spdlog::error("source {}: {}", source.name, st.error().message);
      }
    }
  }

  if (!options.dry_run) DeliverDue(config, store, options, output, report);
  return report;
}

Status SendNow(const NotifierConfig& notifier, const Notification& notification,
               const std::function<void(const std::string&)>& console) {
  if (notifier.kind == "console") {
    console(RenderConsole(notification, notifier.max_papers));
    return Ok();
  }
  if (notifier.kind == "file") return AppendDurably(notifier.path, RenderJsonLines(notification));
  return Unexpected("notifier kind '" + notifier.kind + "' is not supported yet");
}

void DeliverDue(const Config& config, StateStore& store, const CycleOptions& options,
                const CycleOutput& output, CycleReport& report) {
  auto rows = store.DueOutbox(options.now, kDeliveryBatch);
  if (!rows) {
    spdlog::error("outbox: {}", rows.error().message);
    ++report.deliveries_failed;
    return;
  }
  for (const OutboxRow& row : *rows) {
    const NotifierConfig* notifier = config.FindNotifier(row.notifier);
    if (!notifier || !notifier->enabled) {
      spdlog::warn("outbox {}: notifier '{}' is not configured or disabled; kept for later",
                   row.id, row.notifier);
      continue;
    }
    auto notification = ParseNotificationJson(row.message);
    Status sent = notification ? SendNow(*notifier, *notification, output.console)
                               : Status(Unexpected(notification.error()));
    if (sent) {
      if (auto st = store.MarkSent(row.id, options.now, ""); !st) {
        spdlog::error("outbox {}: {}", row.id, st.error().message);
      }
      ++report.deliveries_ok;
      if (options.json) {
        for (const std::string& line : NotificationJsonLines(*notification)) {
          output.json_line(line);
        }
      }
      continue;
    }
    ++report.deliveries_failed;
    const int attempts = row.attempts + 1;
    std::optional<std::int64_t> next;
    if (attempts < kMaxAttempts && options.now - row.created_at < kMaxAgeSeconds) {
      next = options.now + RetryDelaySeconds(row.id, attempts);
    }
    spdlog::error("notifier {}: notification {}: {}{}", row.notifier, row.id,
                  sent.error().message, next ? "; will retry" : "; giving up (dead)");
    if (auto st = store.MarkAttemptFailed(row.id, sent.error().message, next); !st) {
      spdlog::error("outbox {}: {}", row.id, st.error().message);
    }
  }
}

}  // namespace digestd
