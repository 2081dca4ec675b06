#include "daemon/cycle.h"

#include <algorithm>
#include <cctype>
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
#include "core/utf8.h"
#include "fetchers/digest_parser.h"
#include "net/http_batch.h"

namespace digestd {
namespace {


// One fetched date of one source, kept until the source's dates are all fetched so that a
// first run knows which date is the newest.
struct Fetched {
  Date date;
  std::string url;
  HttpResponse response;
  std::string known_body_hash;  // of the body last parsed from this URL; "" when none
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
                   const SourceState& state, const std::string& failure,
                   std::int64_t retry_after, std::int64_t now) {
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
  const std::int64_t retry_at = std::max(outcome.retry_at, now + retry_after);
  if (auto st = store.RecordFetchFailure(source.name, failure, outcome.health, retry_at,
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

std::string UserAgent(const Config& config) {
  std::string ua = "digestd/" DIGESTD_VERSION;
  if (!config.daemon.contact.empty()) ua += " (+" + config.daemon.contact + ")";
  return ua;
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

namespace {

// One enabled source in this cycle: its state, and the transfers its due dates need.
struct SourceJob {
  const SourceConfig* source = nullptr;
  SourceState state;
  bool dated = false;                 // the URL has a {date} placeholder
  std::vector<Date> dates;            // oldest first, so diffs run in publication order
  std::vector<HttpRequest> requests;  // one per date
  std::vector<std::string> known_body_hashes;  // per request: the body last parsed, or ""
  std::string failure;                // why this source failed; empty while it works
  std::int64_t retry_after = 0;       // seconds the server asked us to wait (429/503)
};

// What one cycle shares between its sources.
struct CycleContext {
  const Config& config;
  const WatchMatcher& matcher;
  StateStore& store;
  const CycleOptions& options;
  const CycleOutput& output;
  std::set<std::string> enabled_notifiers;
  std::vector<std::string> digest_grouped;  // notifiers with group = "digest"
  CycleReport report;
};

std::optional<SourceJob> PrepareJob(CycleContext& cx, const SourceConfig& source) {
  SourceJob job{.source = &source};
  auto state = cx.store.GetSourceState(source.name);
  if (!state) {
    spdlog::error("source {}: {}", source.name, state.error().message);
    ++cx.report.sources_failed;
    return std::nullopt;
  }
  job.state = *state;
  if (cx.options.honour_backoff && job.state.retry_at && *job.state.retry_at > cx.options.now) {
    spdlog::debug("source {}: backing off after {} failures", source.name, job.state.failures);
    return std::nullopt;
  }
  if (!source.tls_verify) {
    spdlog::warn("source {}: TLS verification is off (tls_verify = false)", source.name);
  }
  const Date today = cx.options.date.value_or(TodayIn(source.timezone, cx.options.now));
  job.dated = HasDatePlaceholder(source.url);
  job.dates = job.dated ? DatesToCheck(today, source.lookback_days, source.backfill_days,
                                       ParseIsoDate(job.state.last_success_date))
                        : std::vector<Date>{today};
  std::reverse(job.dates.begin(), job.dates.end());
  for (const Date& date : job.dates) {
    auto url = ExpandUrlTemplate(source.url, date);
    if (!url) {
      job.failure = url.error().message;
      job.requests.clear();
      job.known_body_hashes.clear();
      break;
    }
    HttpRequest request{.url = *url,
                        .headers = source.headers,
                        .timeout = source.timeout,
                        .connect_timeout = std::min(source.timeout, std::chrono::milliseconds(10000)),
                        .max_bytes = source.max_bytes,
                        .tls_verify = source.tls_verify,
                        .user_agent = UserAgent(cx.config)};
    std::string known_body_hash;
    if (auto v = cx.store.GetValidators(source.name, *url); v && v->has_value()) {
      request.if_none_match = (*v)->etag;
      request.if_modified_since = (*v)->last_modified;
      known_body_hash = (*v)->body_hash;
    }
    job.requests.push_back(std::move(request));
    job.known_body_hashes.push_back(std::move(known_body_hash));
  }
  return job;
}

// Diffs, plans and commits one fetched digest. Returns the failure, or "" on success.
// `run_prior`/`run_notified` carry what a dry run planned for earlier dates (it commits
// nothing, so the store cannot tell it).
std::string ApplyDigest(CycleContext& cx, const SourceJob& job, const Fetched& f, bool newest,
                        std::map<std::string, PriorSighting>& run_prior,
                        std::set<std::string>& run_notified) {
  const SourceConfig& source = *job.source;
  StateStore& store = cx.store;
  const std::string body_hash = Hash128Hex(f.response.body);
  if (f.known_body_hash == body_hash) {
    spdlog::debug("source {}: {} unchanged", source.name, RedactUrl(f.url));
    if (!cx.options.dry_run) {
      (void)store.RecordSourceSuccess(source.name, FormatIsoDate(f.date), cx.options.now, true);
    }
    return "";
  }
  // The parse gets its own budget, as long as the transfer's (`timeout`), and ends early
  // when the service stops: one hostile body never holds the cycle or a SIGTERM.
  const ParseBudget budget{.deadline = std::chrono::steady_clock::now() + source.timeout,
                           .cancel = cx.options.stop};
  ParseResult parsed = ParseDigest(source.kind, f.response.body, budget);
  if (cx.options.stop && cx.options.stop->load()) return "stopped while parsing";
  if (budget.Exhausted()) {
    // What was read is partial: applying it would record the body as seen, and the rest
    // would never be read. The source fails (backoff, alerts) instead.
    return RedactUrl(f.url) + ": processing took longer than the source's budget (timeout = " +
           std::to_string(source.timeout.count() / 1000) + "s); nothing of it applied";
  }
  for (const ParseWarning& w : parsed.warnings) {
    spdlog::warn("{}:{}: {}", RedactUrl(f.url), w.line, w.message);
  }
  Digest& digest = parsed.digest;
  // Bytes that gave nothing readable (an HTML error page, garbage, a truncated document)
  // mean the upstream is broken: a failure to retry and alert on, not an empty day.
  const bool unreadable =
      digest.papers.empty() && !Trim(f.response.body).empty() &&
      (!parsed.warnings.empty() || (source.kind == "markdown" && digest.date.empty()));
  if (unreadable) {
    std::string why = RedactUrl(f.url) + ": not a readable " + source.kind + " digest";
    if (!f.response.content_type.empty()) why += " (Content-Type " + f.response.content_type + ")";
    if (!parsed.warnings.empty()) why += ": " + parsed.warnings.front().message;
    return why;
  }
  if (digest.date.empty() || job.dated) digest.date = FormatIsoDate(f.date);

  std::vector<Paper> papers;
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (Paper& p : digest.papers) {
    if (p.key.empty() || !seen.insert(p.key).second) continue;
    keys.push_back(p.key);
    papers.push_back(std::move(p));
  }
  if (auto st = KeepKeysOfKnownUrls(store, source.name, papers, keys); !st) {
    return st.error().message;
  }
  auto prior = store.LoadPriorSightings(source.name, keys);
  if (!prior) return prior.error().message;
  auto notified = store.LoadNotified(keys);
  if (!notified) return notified.error().message;
  for (const auto& [key, p] : run_prior) prior->insert_or_assign(key, p);
  notified->insert(run_notified.begin(), run_notified.end());

  const PlanInput input{.source = source.name,
                        .date = digest.date,
                        .papers = &papers,
                        .prior = &*prior,
                        .notified = &*notified,
                        .matcher = &cx.matcher,
                        .enabled_notifiers = cx.enabled_notifiers,
                        .first_run = ModeFor(source, !job.state.first_run_at.has_value(), newest),
                        .latest_n = source.first_run_latest};
  Plan plan = PlanDigest(input);
  // "and N more" links to the digest, unless its URL carries a secret or is a local file.
  const bool linkable = (f.url.rfind("https://", 0) == 0 || f.url.rfind("http://", 0) == 0) &&
                        RedactUrl(f.url) == f.url;
  for (Notification& n : plan.notifications) {
    if (linkable) n.digest_url = f.url;
  }
  plan.notifications = GroupByDigest(std::move(plan.notifications), cx.digest_grouped);
  cx.report.papers_seen += int(papers.size());
  cx.report.notifications_planned += int(plan.notifications.size());
  spdlog::info("source {}: {} ({} papers, {} notifications)", source.name, digest.date,
               papers.size(), plan.notifications.size());

  if (cx.options.dry_run) {
    for (const Paper& p : papers) {
      run_prior[p.key] = PriorSighting{
          .content_hash = SightingContentHash(p),
          .votes = p.votes,
          .version = p.version,
          .title = p.title};
    }
    run_notified.insert(plan.notified.begin(), plan.notified.end());
    if (cx.options.json) {
      for (const Notification& n : plan.notifications) {
        for (const std::string& line : NotificationJsonLines(n)) cx.output.json_line(line);
      }
    }
    return "";
  }
  const DigestCommit commit{.source = source.name,
                            .url = f.url,
                            .date = digest.date,
                            .now = cx.options.now,
                            .validators = {.etag = f.response.etag,
                                           .last_modified = f.response.last_modified,
                                           .body_hash = body_hash},
                            .papers = std::move(papers),
                            .notified = std::move(plan.notified),
                            .notifications = std::move(plan.notifications)};
  if (auto st = store.CommitDigest(commit); !st) return st.error().message;
  return "";
}

// Classifies one source's responses, applies its digests in date order, and records the
// outcome: success (and recovery), or failure with backoff and alerts.
void FinishJob(CycleContext& cx, SourceJob& job, std::vector<HttpResponse> responses) {
  const SourceConfig& source = *job.source;
  std::vector<Fetched> fetched;
  for (std::size_t i = 0; i < responses.size() && job.failure.empty(); ++i) {
    HttpResponse& response = responses[i];
    const std::string& url = job.requests[i].url;
    if (response.error != TransferError::kNone) {
      job.failure = response.error_message;
    } else if (response.status == 404 && job.dated) {
      spdlog::debug("source {}: {} not published yet (404)", source.name, RedactUrl(url));
    } else if (response.status == 304) {
      spdlog::debug("source {}: {} not modified", source.name, RedactUrl(url));
    } else if (response.status < 200 || response.status >= 300) {
      job.failure = fmt::format("{}: HTTP status {}", RedactUrl(url), response.status);
      // Retry-After in seconds; an HTTP-date falls back to our own backoff.
      if (!response.retry_after.empty() &&
          std::all_of(response.retry_after.begin(), response.retry_after.end(), ::isdigit) &&
          response.retry_after.size() < 10) {
        job.retry_after = std::stoll(response.retry_after);
        job.failure += " (Retry-After " + response.retry_after + "s)";
      }
    } else {
      fetched.push_back(Fetched{.date = job.dates[i],
                                .url = url,
                                .response = std::move(response),
                                .known_body_hash = job.known_body_hashes[i]});
    }
  }
  std::map<std::string, PriorSighting> run_prior;
  std::set<std::string> run_notified;
  for (std::size_t i = 0; i < fetched.size() && job.failure.empty(); ++i) {
    job.failure = ApplyDigest(cx, job, fetched[i], i + 1 == fetched.size(), run_prior,
                              run_notified);
  }

  // Stopping is no failure of the source: nothing more is applied or recorded.
  if (cx.options.stop && cx.options.stop->load()) return;
  if (!job.failure.empty()) {
    spdlog::error("source {}: {}", source.name, job.failure);
    ++cx.report.sources_failed;
    if (!cx.options.dry_run) {
      RecordFailure(cx.config, cx.store, source, job.state, job.failure, job.retry_after,
                    cx.options.now);
    }
    return;
  }
  ++cx.report.sources_ok;
  if (cx.options.dry_run) return;
  if (job.state.alerted) {
    std::vector<Notification> alerts;
    for (const std::string& notifier : cx.config.daemon.alert_notify) {
      alerts.push_back(SourceAlert(notifier, source.name, "source_recovered",
                                   job.state.failing_since.value_or(0),
                                   "works again after " + std::to_string(job.state.failures) +
                                       " failed attempts"));
    }
    spdlog::info("source {}: recovered", source.name);
    if (auto st = cx.store.QueueNotifications(alerts, cx.options.now); !st) {
      spdlog::error("source {}: {}", source.name, st.error().message);
    }
  }
  // A run whose every date was "not modified" or "not published" still counts as a success.
  (void)cx.store.RecordSourceSuccess(source.name, "", cx.options.now, false);
  if (!job.state.first_run_at) {
    if (auto st = cx.store.MarkFirstRunDone(source.name, cx.options.now); !st) {
      spdlog::error("source {}: {}", source.name, st.error().message);
    }
  }
}

}  // namespace

CycleReport RunCycle(const Config& config, const WatchMatcher& matcher, StateStore& store,
                     HttpBatch& http, const CycleOptions& options, const CycleOutput& output) {
  CycleContext cx{.config = config, .matcher = matcher, .store = store, .options = options,
                  .output = output};
  for (const NotifierConfig& n : config.notifiers) {
    if (n.enabled) cx.enabled_notifiers.insert(n.name);
    if (n.group == Grouping::kDigest) cx.digest_grouped.push_back(n.name);
  }
  std::vector<SourceJob> jobs;
  for (const SourceConfig& source : config.sources) {
    if (!source.enabled) continue;
    if (!options.only_sources.empty() && !options.only_sources.count(source.name)) continue;
    if (auto job = PrepareJob(cx, source)) jobs.push_back(std::move(*job));
  }

  // Every source's every date is fetched concurrently; one slow source delays no other.
  std::vector<HttpRequest> requests;
  for (const SourceJob& job : jobs) {
    requests.insert(requests.end(), job.requests.begin(), job.requests.end());
  }
  std::vector<HttpResponse> responses = http.FetchAll(requests);
  // Stopping cut the transfers short: what they got is no failure of the sources, and
  // nothing is committed; the next start fetches again.
  if (options.stop && options.stop->load()) return cx.report;
  std::size_t next = 0;
  for (SourceJob& job : jobs) {
    std::vector<HttpResponse> mine(std::make_move_iterator(responses.begin() + long(next)),
                                   std::make_move_iterator(responses.begin() +
                                                           long(next + job.requests.size())));
    next += job.requests.size();
    if (options.stop && options.stop->load()) break;
    FinishJob(cx, job, std::move(mine));
  }

  return cx.report;
}

}  // namespace digestd
