#include "daemon/digest_job.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "core/dedupe_key.h"
#include "core/text.h"
#include "daemon/job_scheduler.h"

namespace digestd {

bool HoldForDigests(Notification& n, const std::set<std::string>& digest_watches,
                    std::vector<HeldMatch>& held) {
  if (digest_watches.empty()) return true;
  std::vector<std::string> keep;
  for (const std::string& w : n.watches) {
    if (!digest_watches.count(w)) {
      keep.push_back(w);
      continue;
    }
    Notification copy = n;
    copy.watches = {w};
    for (SourcedPaper& p : copy.papers) p.watches.clear();
    held.push_back(HeldMatch{.watch = w, .notification = std::move(copy)});
  }
  n.watches = std::move(keep);
  return !n.watches.empty();
}

std::vector<HeldMatch> HoldForDigests(std::vector<Notification>& notifications,
                                      const std::set<std::string>& digest_watches) {
  std::vector<HeldMatch> held;
  if (digest_watches.empty()) return held;
  std::vector<Notification> instant;
  for (Notification& n : notifications) {
    if (HoldForDigests(n, digest_watches, held)) instant.push_back(std::move(n));
  }
  notifications = std::move(instant);
  return held;
}

Notification MakeWatchDigest(const std::string& watch, const std::string& notifier,
                             std::int64_t period, const std::vector<HeldMatch>& held) {
  Notification d;
  d.notifier = notifier;
  d.kind = "digest";
  d.watches = {watch};
  d.dedupe_key = JoinKey({"watch-digest", notifier, watch, std::to_string(period)});
  d.id = NotificationId(d.dedupe_key);
  std::map<std::string, std::size_t> index;  // paper key -> its place in d.papers
  for (const HeldMatch& h : held) {
    const Notification& n = h.notification;
    if (d.event.empty()) {
      d.event = n.event;
    } else if (d.event != n.event) {
      d.event = "mixed";
    }
    if (d.digest_url.empty()) d.digest_url = n.digest_url;
    for (const SourcedPaper& p : n.papers) {
      SourcedPaper entry = p;
      entry.event = n.EventOf(p);
      entry.watches = {watch};
      const auto [it, fresh] = index.emplace(p.paper->key, d.papers.size());
      if (fresh) {
        d.papers.push_back(std::move(entry));
      } else {
        d.papers[it->second] = std::move(entry);  // a later sighting says it best
      }
    }
  }
  // "and N more" links to one source's digest; papers from several have no one link.
  for (const SourcedPaper& p : d.papers) {
    if (p.source != d.papers.front().source || p.date != d.papers.front().date) {
      d.digest_url.clear();
      break;
    }
  }
  return d;
}

Result<std::vector<Notification>> QueueDueDigests(const Config& config, StateStore& store,
                                                  std::int64_t now,
                                                  const std::set<std::string>* only,
                                                  bool dry_run) {
  std::vector<Notification> planned;
  const SysSeconds at{std::chrono::seconds(now)};
  for (const WatchConfig& w : config.watches) {
    if (!w.enabled || w.delivery != "digest") continue;
    if (only && !only->count(w.spec.name)) continue;
    auto schedule = ZonedSchedule::Make(w.digest_schedule, w.timezone);
    if (!schedule) {  // check rejects these; keep the rest going regardless
      spdlog::error("watch {}: digest_schedule: {}", w.spec.name, schedule.error().message);
      continue;
    }
    const std::optional<SysSeconds> run = schedule->Last(at);
    if (!run) continue;
    const std::int64_t period = run->time_since_epoch().count();
    for (const std::string& notifier : w.spec.notify) {
      const NotifierConfig* n = config.FindNotifier(notifier);
      if (n == nullptr || !n->enabled) continue;
      auto held = store.HeldFor(w.spec.name, notifier, period);
      if (!held) return Unexpected(held.error());
      if (held->empty()) continue;  // an empty digest sends nothing
      Notification digest = MakeWatchDigest(w.spec.name, notifier, period, *held);
      if (!dry_run) {
        std::vector<std::int64_t> rows;
        for (const HeldMatch& h : *held) rows.push_back(h.row);
        auto taken = store.TakeHeld(rows, digest, now);
        if (!taken) return Unexpected(taken.error());
        if (!*taken) continue;  // another process took them first
        spdlog::info("watch {}: digest of {} to {} queued ({})", w.spec.name,
                     Counted(static_cast<long long>(digest.papers.size()), "paper"), notifier,
                     digest.id);
      }
      planned.push_back(std::move(digest));
    }
  }
  return planned;
}

}  // namespace digestd
