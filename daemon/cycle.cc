#include "daemon/cycle.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <date/tz.h>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "config/time_zone.h"
#include "core/planner.h"
#include "core/source_health.h"
#include "core/shown_url.h"
#include "core/text.h"
#include "core/utf8.h"
#include "daemon/delivery.h"
#include "daemon/digest_job.h"
#include "daemon/job_scheduler.h"
#include "fetchers/source.h"
#include "net/http_batch.h"

namespace digestd {
namespace {


// One fetched date of one source, kept until the source's dates are all fetched so that a
// first run knows which date is the newest.
struct Fetched {
  Date date;
  std::size_t index = 0;  // of `date` among the source's dates of this run
  std::string url;
  HttpResponse response;
  std::string known_body_hash;  // of the body last parsed from this URL; "" when none
};

// How logs, errors and the state name one of `source`'s URLs: by its host only when the
// URL came from a secret (url_file, "${NAME}"), else with secret-looking parts redacted.
std::string Shown(const SourceConfig& source, std::string_view url) {
  return source.url_secret ? ShownByHost(url) : RedactUrl(url);
}

// A feed item whose GUID changes on every fetch would look new each time. An item whose key
// is unknown but whose link a known item of the same source already has keeps that item's
// key, with a warning, so it is not notified again.
Status KeepKeysOfKnownUrls(StateStore& store, const std::string& source,
                           std::vector<SharedPaper>& papers, std::vector<std::string>& keys) {
  std::vector<std::string> urls;
  for (const SharedPaper& p : papers) {
    if (!p->url.empty() && p->key.rfind("arxiv:", 0) != 0) urls.push_back(p->url);
  }
  if (urls.empty()) return Ok();
  auto known_keys = store.LoadPriorSightings(source, keys);
  auto by_url = store.KeysByUrl(source, urls);
  if (!known_keys) return Unexpected(known_keys.error());
  if (!by_url) return Unexpected(by_url.error());
  std::set<std::string> taken(keys.begin(), keys.end());
  for (std::size_t i = 0; i < papers.size(); ++i) {
    const Paper& p = *papers[i];
    const auto old = by_url->find(p.url);
    if (old == by_url->end() || old->second == p.key || known_keys->count(p.key) ||
        taken.count(old->second)) {
      continue;
    }
    spdlog::warn("source {}: item {} changed its GUID ({} -> {}); the feed's GUIDs look "
                 "unstable, so it is treated as the item already seen",
                 source, RedactUrl(p.url), old->second, p.key);
    taken.insert(old->second);
    papers[i].Edit().key = old->second;  // a copy: the day's other papers share its block
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
  if (outcome.alert && config.daemon.alert_notify.empty()) {
    spdlog::warn("source {}: failing ({} in a row); nobody is told: [daemon] alert_notify is "
                 "not set",
                 source.name, Counted(outcome.health.failures, "attempt"));
  } else if (outcome.alert) {
    spdlog::warn("source {}: failing ({} in a row); alerting {}", source.name,
                 Counted(outcome.health.failures, "attempt"),
                 fmt::join(config.daemon.alert_notify, ", "));
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

FirstRunMode FirstRunModeFor(const SourceConfig& source, bool first_run, bool newest) {
  if (!first_run) return FirstRunMode::kNotFirst;
  switch (source.first_run) {
    case FirstRun::kBaseline: return FirstRunMode::kBaseline;
    case FirstRun::kNotify: return FirstRunMode::kNotify;
    case FirstRun::kLatest: return newest ? FirstRunMode::kLatest : FirstRunMode::kBaseline;
  }
  return FirstRunMode::kBaseline;
}

std::vector<WatchSpec> WatchSpecsFrom(const Config& config) {
  std::vector<WatchSpec> specs;
  for (const WatchConfig& w : config.watches) {
    if (w.enabled) specs.push_back(w.spec);
  }
  return specs;
}

std::string UserAgent(const Config& config) {
  std::string ua = "digestd/" DIGESTD_VERSION;
  if (!config.daemon.contact.empty()) ua += " (+" + config.daemon.contact + ")";
  return ua;
}

// The next time `schedule` fires after `now`, in the IANA zone `timezone`.
std::chrono::system_clock::time_point NextFire(const CronSchedule& schedule,
                                               const std::string& timezone,
                                               std::chrono::system_clock::time_point now) {
  auto zoned = ZonedSchedule::Make(schedule, timezone);
  if (!zoned) {
    spdlog::error("schedule: {}", zoned.error().message);
    return now + std::chrono::hours(1);
  }
  const SysSeconds next = zoned->Next(std::chrono::floor<std::chrono::seconds>(now));
  return next == SysSeconds::max() ? std::chrono::system_clock::time_point::max() : next;
}

// `at` as the admin reads it: "YYYY-MM-DD HH:MM:SS ZONE" in the IANA zone `timezone`.
std::string ShowTime(std::chrono::system_clock::time_point at, const std::string& timezone) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(at);
  try {
    if (const date::time_zone* zone = LocateZone(timezone)) {
      return date::format("%F %T %Z", date::make_zoned(zone, seconds));
    }
  } catch (const std::exception&) {
    // An unknown zone (check refuses those) is shown as UTC, as UTC itself is.
  }
  return date::format("%F %T UTC", seconds);
}

Date TodayIn(const std::string& timezone, std::int64_t now) {
  const std::chrono::local_seconds local =
      LocalTimeIn(timezone, std::chrono::sys_seconds{std::chrono::seconds{now}});
  const auto day = std::chrono::floor<std::chrono::days>(local);
  return Date{std::chrono::sys_days{day.time_since_epoch()}};
}

namespace {

// One enabled source in this cycle: its state, and the transfers its due dates need.
struct SourceJob {
  const SourceConfig* source = nullptr;
  const Source* format = nullptr;     // its kind's requests, parser and judgment
  SourceState state;
  bool dated = false;                 // the URL has a {date} placeholder
  std::vector<Date> dates;            // oldest first, so diffs run in publication order
  std::vector<HttpRequest> requests;  // one per date
  std::vector<std::string> known_body_hashes;  // per request: the body last parsed, or ""
  bool backfill = false;              // catching up on missed dates: progress is logged
  Status outcome;                     // the error that failed this source, once one did
  std::int64_t retry_after = 0;       // seconds the server asked us to wait (429/503)
};

// A backfill (more dates than the lookback checks every run) of more dates than this logs
// its progress: dates done of all.
constexpr std::size_t kProgressAbove = 3;

// "2024-01-11", or "2024-01-11 to 2024-01-22" for consecutive dates.
std::string DateSpan(const std::vector<Date>& dates) {
  if (dates.empty()) return "";
  if (dates.size() == 1) return FormatIsoDate(dates.front());
  return FormatIsoDate(dates.front()) + " to " + FormatIsoDate(dates.back());
}

// What one cycle shares between its sources.
struct CycleContext {
  const Config& config;
  const WatchMatcher& matcher;
  StateStore& store;
  const CycleOptions& options;
  const CycleOutput& output;
  std::set<std::string> enabled_notifiers;
  std::vector<std::string> digest_grouped;  // notifiers with group = "digest"
  std::set<std::string> digest_watches;     // watches with delivery = "digest"
  CycleReport report;
  std::map<std::string, int> papers_by_source;  // for options.on_source
  std::optional<DigestCommit::HandOver> hand_over;  // with options.hand_over
  double fetch_seconds = 0;
  std::string spool_dir;  // where bodies over kSpoolAbove wait to be parsed
};

// A fetched body longer than this waits for its parse in a file, not in memory, when its
// format's parser reads it a piece at a time (XML): a cycle fetches every source at once.
// A format read whole (markdown, JSON) would only pay for the file and read it back.
constexpr std::uint64_t kSpoolAbove = 1 << 20;

// The state's own folder for a SQLite state (a service may write there and nowhere else);
// "" (the TMPDIR) for a PostgreSQL one.
std::string SpoolDir(const Config& config) {
  const std::string& state = config.daemon.state_path;
  if (IsPostgresLocation(state)) return "";
  const std::size_t slash = state.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : state.substr(0, slash);
}

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
  job.format = SourceFor(source.kind);
  if (job.format == nullptr) {  // config refuses an unknown kind; this guards a library user
    job.outcome = Unexpected("unknown source kind '" + source.kind + "'");
    return job;
  }
  const Date today = cx.options.date.value_or(TodayIn(source.timezone, cx.options.now));
  auto plan = job.format->PlanFetches(
      FetchWindow{.url_template = source.url,
                  .today = today,
                  .lookback_days = source.lookback_days,
                  .backfill_days = source.backfill_days,
                  .last_success = ParseIsoDate(job.state.last_success_date)});
  if (!plan) {
    job.outcome = Unexpected(plan.error());
    return job;
  }
  job.dated = plan->dated;
  if (!plan->beyond_backfill.empty()) {
    spdlog::warn("source {}: {} since the last digest ({}) {} beyond backfill_days = {} and "
                 "{} not fetched: {}",
                 source.name,
                 Counted(static_cast<long long>(plan->beyond_backfill.size()), "missed date"),
                 job.state.last_success_date, plan->beyond_backfill.size() == 1 ? "is" : "are",
                 source.backfill_days, plan->beyond_backfill.size() == 1 ? "is" : "are",
                 DateSpan(plan->beyond_backfill));
  }
  job.backfill = plan->fetches.size() > kProgressAbove &&
                 plan->fetches.size() > std::size_t(std::max(0, source.lookback_days)) + 1;
  if (job.backfill) {
    spdlog::info("source {}: backfill of {} ({} to {})", source.name,
                 Counted(static_cast<long long>(plan->fetches.size()), "date"),
                 FormatIsoDate(plan->fetches.front().date),
                 FormatIsoDate(plan->fetches.back().date));
  }
  for (SourceFetch& fetch : plan->fetches) {
    job.dates.push_back(fetch.date);
    const std::string& url = fetch.url;
    HttpRequest request{.url = url,
                        .headers = source.headers,
                        .timeout = source.timeout,
                        .connect_timeout = std::min(source.timeout, std::chrono::milliseconds(10000)),
                        .max_bytes = source.max_bytes,
                        .tls_verify = source.tls_verify,
                        .user_agent = UserAgent(cx.config),
                        .spool_above = kSpoolAbove,
                        .spool_dir = cx.spool_dir};
    if (source.url_secret) request.shown_url = ShownByHost(url);
    std::string known_body_hash;
    if (auto v = cx.store.GetValidators(source.name, url); v && v->has_value()) {
      request.if_none_match = (*v)->etag;
      request.if_modified_since = (*v)->last_modified;
      known_body_hash = (*v)->body_hash;
    }
    job.requests.push_back(std::move(request));
    job.known_body_hashes.push_back(std::move(known_body_hash));
  }
  return job;
}

// Diffs, plans and commits one fetched digest; an error fails the source. `run_prior` and
// `run_notified` carry what a dry run planned for earlier dates (it commits nothing, so the
// store cannot tell it).
Status ApplyDigest(CycleContext& cx, const SourceJob& job, Fetched& f, bool newest,
                   std::map<std::string, PriorSighting>& run_prior,
                   std::set<std::string>& run_notified) {
  const SourceConfig& source = *job.source;
  StateStore& store = cx.store;
  // The body, in memory or (a long one) in its spool file.
  Spool body = f.response.spooled ? std::move(*f.response.spooled)
                                  : Spool(std::move(f.response.body));
  f.response.spooled.reset();
  // A body that cannot be read back (whole) is fetched again later: applying what was read
  // of it would record the whole body as seen.
  const auto cut_short = [&](const std::string& why) -> Status {
    if (body.read_only()) {  // a local file, read where it is
      return Unexpected(Shown(source, f.url) + ": the file could not be read whole (cut short "
                        "while it was read?)" + why);
    }
    return Unexpected(Shown(source, f.url) + ": the fetched body could not be read back from "
                      "its spool file in " + (cx.spool_dir.empty() ? "the TMPDIR" : cx.spool_dir) +
                      why);
  };
  const std::string body_hash = BodyHash(body);
  if (body_hash.empty()) return cut_short("");
  if (f.known_body_hash == body_hash) {
    spdlog::debug("source {}: {} unchanged", source.name, Shown(source, f.url));
    ++cx.report.digests_unchanged;
    if (cx.options.dry_run) return Ok();
    return store.RecordSourceSuccess(source.name, FormatIsoDate(f.date), cx.options.now, true);
  }
  // The parse gets its own budget, as long as the transfer's (`timeout`), and ends early
  // when the service stops: one hostile body never holds the cycle or a SIGTERM.
  const ParseBudget budget{.deadline = std::chrono::steady_clock::now() + source.timeout,
                           .cancel = cx.options.stop};
  ParseResult parsed = job.format->Parse(body, budget);
  if (cx.options.stop && cx.options.stop->load()) return Unexpected("stopped while parsing");
  if (budget.Exhausted()) {
    // What was read is partial: applying it would record the body as seen, and the rest
    // would never be read. The source fails (backoff, alerts) instead.
    return Unexpected(Shown(source, f.url) +
                      ": processing took longer than the source's budget (timeout = " +
                      std::to_string(source.timeout.count() / 1000) +
                      "s); nothing of it applied");
  }
  if (!parsed.unread.empty()) return cut_short(": " + parsed.unread + "; nothing of it applied");
  for (const ParseWarning& w : parsed.warnings) {
    spdlog::warn("{}:{}: {}", Shown(source, f.url), w.line, w.message);
  }
  Digest& digest = parsed.digest;
  // Bytes that gave nothing readable (an HTML error page, garbage, a truncated document)
  // mean the upstream is broken: a failure to retry and alert on, not an empty day.
  if (auto why = job.format->Unreadable(body, f.response.content_type, parsed)) {
    return Unexpected(Shown(source, f.url) + ": " + *why);
  }
  // The body is read: its memory (or file) goes before the papers are planned and committed.
  { const Spool spent = std::move(body); }
  if (digest.date.empty() || job.dated) digest.date = FormatIsoDate(f.date);

  // Each key's first paper, shared from here on, not copied, by its notifications and the
  // commit. A repeated key's later papers are not planned (they stay in the day's block, which
  // goes with the last paper held).
  std::vector<SharedPaper> papers;
  std::vector<std::string> keys;
  {
    std::vector<SharedPaper> all = SharePapers(std::exchange(digest.papers, {}));
    papers.reserve(all.size());
    keys.reserve(all.size());
    // Views of the shared papers' keys: each stays where it is while the set lives.
    std::unordered_set<std::string_view> seen;
    seen.reserve(all.size());
    for (SharedPaper& p : all) {
      if (p->key.empty() || !seen.insert(p->key).second) continue;
      keys.push_back(p->key);
      papers.push_back(std::move(p));
    }
  }
  if (auto st = KeepKeysOfKnownUrls(store, source.name, papers, keys); !st) return st;
  auto prior = store.LoadPriorSightings(source.name, keys);
  if (!prior) return Unexpected(prior.error());
  auto notified = store.LoadNotified(keys);
  if (!notified) return Unexpected(notified.error());
  // A long day's keys are a megabyte: they go before the plan and the commit add theirs.
  std::vector<std::string>().swap(keys);
  for (const auto& [key, p] : run_prior) prior->insert_or_assign(key, p);
  notified->insert(run_notified.begin(), run_notified.end());

  // "and N more" links to the digest, unless its URL carries a secret or is a local file.
  const bool linkable = (f.url.rfind("https://", 0) == 0 || f.url.rfind("http://", 0) == 0) &&
                        !source.url_secret && RedactUrl(f.url) == f.url;
  // Each planned notification is held (digest watches) or merged (group = "digest") as it
  // is made: a long day's per-paper notifications never exist all at once.
  std::vector<HeldMatch> held;
  DigestGrouper grouper(cx.digest_grouped);
  grouper.Reserve(papers.size());  // usually one notification per paper, or fewer
  const PlanInput input{
      .source = source.name,
      .date = digest.date,
      .papers = &papers,
      .prior = &*prior,
      .notified = &*notified,
      .matcher = &cx.matcher,
      .enabled_notifiers = cx.enabled_notifiers,
      .first_run = FirstRunModeFor(source, !job.state.first_run_at.has_value(), newest),
      .latest_n = source.first_run_latest,
      .emit = [&](Notification&& n) {
        if (linkable) n.digest_url = f.url;
        // Matches of digest watches wait in the state for their digest_schedule.
        if (HoldForDigests(n, cx.digest_watches, held)) {
          grouper.Add(std::move(n));
        }
      }};
  Plan plan = PlanDigest(input);
  plan.notifications = grouper.Finish();
  cx.report.papers_seen += int(papers.size());
  cx.papers_by_source[source.name] += int(papers.size());
  cx.report.notifications_planned += int(plan.notifications.size());
  std::string progress;
  if (job.backfill) {
    progress = "; backfill: " + std::to_string(f.index + 1) + " of " +
               Counted(static_cast<long long>(job.dates.size()), "date") + " done";
  }
  spdlog::info("source {}: {} ({}, {}{})", source.name, digest.date,
               Counted(static_cast<long long>(papers.size()), "paper"),
               Counted(static_cast<long long>(plan.notifications.size()), "notification"),
               progress);
  if (input.first_run == FirstRunMode::kBaseline) {
    cx.report.papers_baseline += int(papers.size());
    spdlog::info("source {}: baseline: {} recorded, nothing sent (first_run = \"baseline\"; "
                 "from the next run on, what is new is sent)",
                 source.name, Counted(static_cast<long long>(papers.size()), "paper"));
  }
  if (cx.options.dry_run && !cx.options.json && cx.output.text_line) {
    for (const Notification& n : plan.notifications) {
      for (const SourcedPaper& p : n.papers) {
        std::string watches;
        for (const std::string& w : n.WatchesOf(p)) {
          if (!watches.empty()) watches += ", ";
          watches += w;
        }
        cx.output.text_line(TerminalSafe("would send to " + n.notifier + ": [" + n.EventOf(p) +
                                         "] " + p.paper->title + " (" + p.paper->key +
                                         "; watch " + watches + ")"));
      }
    }
    for (const HeldMatch& h : held) {
      for (const SourcedPaper& p : h.notification.papers) {
        cx.output.text_line(TerminalSafe("would hold for the digest of watch " + h.watch +
                                         " to " + h.notification.notifier + ": [" +
                                         h.notification.EventOf(p) + "] " + p.paper->title +
                                         " (" + p.paper->key + ")"));
      }
    }
  }

  if (cx.options.dry_run) {
    for (std::size_t i = 0; i < papers.size(); ++i) {
      const Paper& p = papers[i];
      run_prior[p.key] = PriorSighting{
          .content_hash = std::string(plan.content_hashes[i].view()),
          .votes = p.votes,
          .version = p.version,
          .title = p.title};
    }
    for (const NotifiedMark& mark : plan.notified) run_notified.insert(mark.Encode());
    if (cx.options.json) {
      for (const Notification& n : plan.notifications) {
        for (const std::string& line : NotificationJsonLines(n)) cx.output.json_line(line);
      }
    }
    return Ok();
  }
  // Matches per watch: each (watch, paper) once, however many notifiers it goes to.
  std::map<std::string, std::set<std::string>> matched;
  if (cx.options.on_matches) {
    for (const Notification& n : plan.notifications) {
      for (const SourcedPaper& p : n.papers) {
        for (const std::string& w : n.WatchesOf(p)) matched[w].insert(p.paper->key);
      }
    }
    for (const HeldMatch& h : held) {
      for (const SourcedPaper& p : h.notification.papers) matched[h.watch].insert(p.paper->key);
    }
  }
  DigestCommit commit{.source = source.name,
                      .url = f.url,
                      .date = digest.date,
                      .now = cx.options.now,
                      .validators = {.etag = f.response.etag,
                                     .last_modified = f.response.last_modified,
                                     .body_hash = body_hash},
                      .papers = std::move(papers),
                      .content_hashes = std::move(plan.content_hashes),
                      .notified = std::move(plan.notified),
                      .notifications = std::move(plan.notifications),
                      .held = std::move(held),
                      .hand_over = cx.hand_over};
  if (auto st = store.CommitDigest(std::move(commit)); !st) return st;
  for (const auto& [w, papers_matched] : matched) {
    cx.options.on_matches(w, int(papers_matched.size()));
  }
  return Ok();
}

// Weekdays (Monday to Friday) after `from` up to and including `to`.
int WeekdaysBetween(Date from, Date to) {
  int days = 0;
  for (auto d = std::chrono::sys_days(from) + std::chrono::days(1); d <= std::chrono::sys_days(to);
       d += std::chrono::days(1)) {
    const unsigned weekday = std::chrono::weekday(d).c_encoding();
    if (weekday != 0 && weekday != 6) ++days;
  }
  return days;
}

// For a dated source whose every date answered 404 (or was not modified): a failure when no
// digest came for more than alert_after_missing_days weekdays since the last one (or since
// the first run), so a wrong URL raises source_failing instead of "not published yet"
// forever. The founding source has real gaps of 4-6 days, hence weekdays and a default of 7.
Status MissingTooLong(const SourceJob& job) {
  const SourceConfig& source = *job.source;
  if (!job.dated || job.dates.empty() || source.alert_after_missing_days <= 0) return Ok();
  std::optional<Date> since = ParseIsoDate(job.state.last_success_date);
  std::string what = "no digest since " + job.state.last_success_date;
  if (!since && job.state.first_run_at) {
    since = TodayIn(source.timezone, *job.state.first_run_at);
    what = "no digest since the first run on " + FormatIsoDate(*since);
  }
  if (!since) return Ok();
  const Date today = *std::max_element(job.dates.begin(), job.dates.end());
  const int missing = WeekdaysBetween(*since, today);
  if (missing <= source.alert_after_missing_days) return Ok();
  return Unexpected(what + " (" + Counted(missing, "weekday") +
                    ", more than alert_after_missing_days = " +
                    std::to_string(source.alert_after_missing_days) + "): check the URL " +
                    Shown(source, source.url));
}

// Classifies one source's responses, applies its digests in date order, and records the
// outcome: success (and recovery), or failure with backoff and alerts.
void FinishJob(CycleContext& cx, SourceJob& job, std::vector<HttpResponse> responses) {
  const SourceConfig& source = *job.source;
  std::vector<Fetched> fetched;
  std::size_t unpublished = 0;
  for (std::size_t i = 0; i < responses.size() && job.outcome; ++i) {
    HttpResponse& response = responses[i];
    const std::string& url = job.requests[i].url;
    if (response.error != TransferError::kNone) {
      job.outcome = Unexpected(response.error_message);
    } else if (response.status == 404 && job.dated) {
      spdlog::debug("source {}: {} not published yet (404)", source.name, Shown(source, url));
      ++unpublished;
    } else if (response.status == 304) {
      spdlog::debug("source {}: {} not modified", source.name, Shown(source, url));
      ++cx.report.digests_unchanged;
    } else if (response.status < 200 || response.status >= 300) {
      std::string failure = fmt::format("{}: HTTP status {}", Shown(source, url), response.status);
      // Retry-After in seconds; an HTTP-date falls back to our own backoff.
      if (!response.retry_after.empty() &&
          std::all_of(response.retry_after.begin(), response.retry_after.end(), ::isdigit) &&
          response.retry_after.size() < 10) {
        job.retry_after = std::stoll(response.retry_after);
        failure += " (Retry-After " + response.retry_after + "s)";
      }
      job.outcome = Unexpected(std::move(failure));
    } else {
      fetched.push_back(Fetched{.date = job.dates[i],
                                .index = i,
                                .url = url,
                                .response = std::move(response),
                                .known_body_hash = job.known_body_hashes[i]});
    }
  }
  if (job.outcome && fetched.empty()) job.outcome = MissingTooLong(job);
  std::map<std::string, PriorSighting> run_prior;
  std::set<std::string> run_notified;
  for (std::size_t i = 0; i < fetched.size() && job.outcome; ++i) {
    job.outcome = ApplyDigest(cx, job, fetched[i], i + 1 == fetched.size(), run_prior,
                              run_notified);
  }
  if (job.outcome && job.backfill) {
    spdlog::info("source {}: backfill done: {} checked, {} applied, {} not published", source.name,
                 Counted(static_cast<long long>(job.dates.size()), "date"),
                 Counted(static_cast<long long>(fetched.size()), "digest"),
                 Counted(static_cast<long long>(unpublished), "date"));
  }

  // Stopping is no failure of the source: nothing more is applied or recorded.
  if (cx.options.stop && cx.options.stop->load()) return;
  if (cx.options.on_source) {
    cx.options.on_source(SourceRun{.source = source.name,
                                   .ok = job.outcome.has_value(),
                                   .papers = cx.papers_by_source[source.name],
                                   .fetch_seconds = cx.fetch_seconds});
  }
  if (!job.outcome) {
    const std::string& failure = job.outcome.error().message;
    spdlog::error("source {}: {}", source.name, failure);
    ++cx.report.sources_failed;
    if (!cx.options.dry_run) {
      RecordFailure(cx.config, cx.store, source, job.state, failure, job.retry_after,
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
  if (auto st = cx.store.RecordSourceSuccess(source.name, "", cx.options.now, false); !st) {
    spdlog::error("source {}: {}", source.name, st.error().message);
  }
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
                  .output = output, .spool_dir = SpoolDir(config)};
  if (options.hand_over && !options.dry_run) {
    cx.hand_over.emplace().owner = ProcessLeaseOwner();
  }
  for (const NotifierConfig& n : config.notifiers) {
    if (n.enabled) cx.enabled_notifiers.insert(n.name);
    if (n.group == Grouping::kDigest) cx.digest_grouped.push_back(n.name);
    if (n.enabled && cx.hand_over) {
      cx.hand_over->lease_until.emplace(n.name, options.now + LeaseSeconds(n));
    }
  }
  for (const WatchConfig& w : config.watches) {
    if (w.enabled && w.delivery == "digest") cx.digest_watches.insert(w.spec.name);
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
  const auto fetch_start = std::chrono::steady_clock::now();
  std::vector<HttpResponse> responses = http.FetchAll(requests);
  cx.fetch_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - fetch_start).count();
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
