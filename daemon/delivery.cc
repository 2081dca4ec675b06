#include "daemon/delivery.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <system_error>
#include <unordered_map>

#include "core/hash.h"
#include "core/source_health.h"
#include "core/two_threads.h"
#include "notifiers/registry.h"

namespace digestd {
namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::int64_t kMinLeaseSeconds = 300;
constexpr int kMaxClaim = 512;
// Rows rendered by one thread at a turn: a large claim's render is shared by two threads.
constexpr std::size_t kRenderChunk = 32;
constexpr milliseconds kMaxWait{1000};
// Results in a batch from which it is recorded beside the pass (Pass::RecordBeside): below,
// a thread costs more than the pass would do meanwhile.
constexpr std::size_t kRecordBesideResults = 256;
// A retried (or handed back) row whose earlier parts were refused for good keeps the
// refusals at the end of its last error, after this, so the attempt that ends the row can
// still name them.
constexpr std::string_view kRefusedBefore = "[refused for good before: ";

// `text` (a target's words, which it chooses) with the marker made inert, so only the tail
// RetryError appends is ever read back as refusals.
std::string Defused(std::string_view text) {
  std::string out(text);
  for (std::size_t at = out.find(kRefusedBefore); at != std::string::npos;
       at = out.find(kRefusedBefore, at)) {
    out[at] = '(';
  }
  return out;
}

// The last error of a retried row: why it is retried, and the refusals so far.
std::string RetryError(const std::string& why, const std::string& refused) {
  if (refused.empty()) return Defused(why);
  return Defused(why) + (why.empty() ? "" : " ") + std::string(kRefusedBefore) +
         Defused(refused) + "]";
}

// Where the refusals a last error carries (RetryError) begin; npos if none.
std::size_t RefusalsAt(std::string_view last_error) {
  if (!last_error.ends_with(']')) return std::string_view::npos;
  const std::size_t at = last_error.rfind(kRefusedBefore);
  if (at == std::string_view::npos || (at > 0 && last_error[at - 1] != ' ')) {
    return std::string_view::npos;
  }
  return at;
}

// The refusals a retried row's last error carries; empty if none.
std::string RefusedBefore(std::string_view last_error) {
  const std::size_t at = RefusalsAt(last_error);
  if (at == std::string_view::npos) return {};
  last_error.remove_suffix(1);
  return std::string(last_error.substr(at + kRefusedBefore.size()));
}

// A retried row's last error without the refusals it carries.
std::string WithoutRefusals(std::string_view last_error) {
  const std::size_t at = RefusalsAt(last_error);
  if (at == std::string_view::npos) return std::string(last_error);
  return std::string(last_error.substr(0, at > 0 ? at - 1 : 0));
}

// One claimed row on its way: the row (with its notification, while DeliveryOptions::
// on_delivered is to be told of it), rendered parts and progress.
struct RowWork {
  OutboxRow row;
  std::vector<Payload> payloads;
  std::size_t next_part = 0;  // parts before it were accepted (or refused alone)
  std::string remote_id;
  // Outcome::part_only reasons of the parts before next_part, this attempt's and those a
  // retry carried over (RetryError).
  std::vector<std::string> refused_parts;
  bool in_flight = false;
};

// One notifier during a run: its channel, its claimed rows and its pace.
struct Target {
  const NotifierConfig* config = nullptr;
  std::unique_ptr<Channel> channel;
  NotifierHealth health;
  bool health_dirty = false;
  bool disabled = false;  // its target answered 410; rows stay pending
  bool paused = false;    // its target asked us to come back later
  bool drained = false;   // the last claim found nothing more due
  std::deque<std::unique_ptr<RowWork>> rows;
  int in_flight = 0;
  Steady::time_point next_send{};
  std::int64_t lease_seconds = kMinLeaseSeconds;
  std::int64_t attempt_seconds = 31;  // the longest one transfer may take (its timeout)
  std::string origin;                 // scheme://host:port of an HTTP target; "" for others
  std::size_t origin_slot = 0;        // its index in Pass::origins_ (0: no origin)
  bool queued = false;                // in its origin's `waiting` queue
  int claim_limit = 1;
};

std::string StatField22(const std::string& path) {
  std::ifstream in(path);
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return {};
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  // After ") ": state is field 3; starttime is field 22.
  for (int i = 3; i <= 22 && (fields >> field); ++i) {
    if (i == 22) return field;
  }
  return {};
}

// "scheme://host:port" of an HTTP URL, lower case, without user info: the key of the
// per-origin cap. Notifiers that post to one server share it.
std::string OriginOf(std::string_view url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  std::size_t end = url.find_first_of("/?#", scheme_end + 3);
  if (end == std::string_view::npos) end = url.size();
  std::string_view authority = url.substr(scheme_end + 3, end - scheme_end - 3);
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  std::string origin(url.substr(0, scheme_end + 3));
  origin += authority;
  std::transform(origin.begin(), origin.end(), origin.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return origin;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) (out += s) += '\x1f';
  return out;
}

// Runs one engine pass: the state that lives while Run does.
class Pass {
 public:
  Pass(const Config& config, StateStore& store, Transport& transport,
       const DeliveryOptions& options, const std::atomic<bool>& stop)
      : config_(config), store_(store), transport_(transport), options_(options), stop_(stop) {}

  DeliveryReport Run() {
    // This engine holds nothing yet: rows still claimed under our name are left from a pass
    // whose results could not be recorded. They go back first, to be claimed like any other.
    if (auto st = store_.ReleaseClaims(Owner()); !st) {
      spdlog::error("outbox: {}", st.error().message);
      ++report_.store_errors;
    }
    SetUpTargets();
    while (!stop_.load()) {
      Claim();
      StartReady();
      if (in_flight_ == 0 && !AnyRowsLeft()) {
        if (!alerts_.empty()) Flush();  // alerts raised in this run go out in this run
        if (AllDrained()) break;
        continue;  // claim again: more rows were due than one claim took
      }
      for (TransferDone& done : transport_.Wait(WaitTime())) Complete(std::move(done));
      ReleaseIdleRowsOfStoppedTargets();
      if (FlushDue()) Flush(Recording::kMayGoOn);
    }
    if (stop_.load()) {
      transport_.Abandon();
      tickets_.clear();
      for (Target& t : targets_) {
        for (auto& work : t.rows) Release(*work, Now());
        t.rows.clear();
        t.in_flight = 0;
      }
      in_flight_ = 0;
      for (OriginSlot& o : origins_) {
        o.in_flight = 0;
        o.waiting.clear();
      }
      for (Target& t : targets_) t.queued = false;
    }
    Flush();
    // Rows a commit handed over that this pass did not take (a stop, a paused or disabled
    // notifier) are pending again, for whoever claims them next.
    if (auto st = store_.ReleaseHandedOver(Owner()); !st) {
      spdlog::error("outbox: {}", st.error().message);
      ++report_.store_errors;
    }
    NoteNextDue();
    return report_;
  }

 private:
  // Rows of notifiers this pass would not send to (disabled in the config or by their
  // target, or removed) must not wake the service over and over: they wait for a change.
  void NoteNextDue() {
    std::vector<std::string> active;
    for (const Target& t : targets_) {
      if (!t.disabled) active.push_back(t.config->name);
    }
    if (auto next = store_.NextAttemptAt(Now(), OwnerAlive(), &active)) {
      report_.next_due = *next;
      report_.next_due_known = true;
    } else {
      spdlog::error("outbox: {}", next.error().message);
      ++report_.store_errors;
    }
  }

  // Whether `t` holds a claimed row not yet in flight (its in-flight rows are all in
  // t.rows, so a count says it).
  static bool HasWaiting(const Target& t) { return t.rows.size() > std::size_t(t.in_flight); }

  bool OriginFull(std::size_t slot) const {
    return slot != 0 && origins_[slot].in_flight >= options_.max_per_origin;
  }
  bool OriginFull(const Target& t) const { return OriginFull(t.origin_slot); }

  // Whether a claim could take rows for `t` (kept counted in claimable_).
  static bool Claimable(const Target& t) { return !t.disabled && !t.paused && !t.drained; }
  // Changes `t`'s flags through `change`, keeping claimable_ and stopped_ up to date.
  template <typename F>
  void Change(std::size_t ti, F change) {
    Target& t = targets_[ti];
    const bool was_claimable = Claimable(t);
    const bool was_stopped = t.disabled || t.paused;
    change(t);
    claimable_ += int(Claimable(t)) - int(was_claimable);
    if (!was_stopped && (t.disabled || t.paused)) stopped_.push_back(ti);
  }
  std::size_t IndexOf(const Target& t) const { return std::size_t(&t - targets_.data()); }

  // Puts target `ti` at the back of its origin's queue if it has rows to start.
  void Enqueue(std::size_t ti) {
    Target& t = targets_[ti];
    if (t.queued || t.disabled || t.paused || !HasWaiting(t)) return;
    origins_[t.origin_slot].waiting.push_back(ti);
    t.queued = true;
  }

  std::int64_t Now() const {
    if (options_.now) return options_.now();
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  // Now in whole seconds rounded up: a target's "retry after D" counted from Now() could
  // come almost a second early, Now() being the start of the current second.
  std::int64_t NowRoundedUp() const {
    if (options_.now) return options_.now();
    return std::chrono::ceil<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  void SetUpTargets() {
    targets_.reserve(config_.notifiers.size());
    origins_.resize(1);  // slot 0: targets without an origin, never full
    auto health = store_.LoadNotifierHealth();
    if (!health) {
      spdlog::error("outbox: {}", health.error().message);
      ++report_.store_errors;
    }
    for (const NotifierConfig& n : config_.notifiers) {
      if (!n.enabled) continue;
      auto channel = MakeChannel(n);
      if (!channel) {
        spdlog::error("notifier {}: {}", n.name, channel.error().message);
        continue;
      }
      Target t;
      t.config = &n;
      t.channel = std::move(*channel);
      if (health) {
        if (auto it = health->find(n.name); it != health->end()) t.health = it->second;
      }
      if (!t.health.disabled_fingerprint.empty()) {
        if (t.health.disabled_fingerprint == NotifierFingerprint(n)) {
          t.disabled = true;
          spdlog::debug("notifier {}: disabled since its target answered: {}", n.name,
                        t.health.disabled_reason);
        } else {
          spdlog::info("notifier {}: its configuration changed; sending to it again", n.name);
          t.health.disabled_fingerprint.clear();
          t.health.disabled_reason.clear();
          t.health.disabled_at.reset();
          t.health_dirty = true;
        }
      }
      t.attempt_seconds = AttemptSeconds(n);
      t.lease_seconds = LeaseSeconds(n);
      // Enough rows per claim that a claim (a commit) is rare next to the transfers; a row
      // that waits too long for its turn is handed back before its lease ends (StartReady).
      t.claim_limit = std::clamp(n.max_in_flight * 8, 16, kMaxClaim);
      // A paced target must start every claimed row well inside its lease.
      if (n.min_interval.count() > 0) {
        const std::int64_t startable = t.lease_seconds * 1000 / 2 / n.min_interval.count();
        t.claim_limit = int(std::clamp<std::int64_t>(startable, 1, t.claim_limit));
      }
      targets_.push_back(std::move(t));
      claimable_ += int(Claimable(targets_.back()));
      if (targets_.back().disabled) stopped_.push_back(targets_.size() - 1);
    }
  }

  bool AnyRowsLeft() const {
    return std::any_of(targets_.begin(), targets_.end(),
                       [](const Target& t) { return !t.rows.empty(); });
  }
  bool AllDrained() const { return claimable_ == 0; }

  // One claim for every target that has started all it holds: one transaction, however
  // many notifiers (a fan-out to 1,000 webhooks costs one commit, not 1,000).
  void Claim() {
    if (claimable_ == 0) return;  // a fan-out's 1,000 targets, all drained after one claim
    const std::int64_t now = Now();
    std::vector<StateStore::ClaimRequest> requests;
    // Keyed by the config's names, which outlive the pass; counts the rows each one got.
    std::unordered_map<std::string_view, std::pair<Target*, int>> by_name;
    for (Target& t : targets_) {
      if (t.disabled || t.paused || t.drained) continue;
      const int room = t.claim_limit - int(t.rows.size());
      if (room <= 0 || int(t.rows.size()) > t.in_flight) continue;  // claim when all started
      requests.push_back(
          {.notifier = t.config->name, .limit = room, .lease_until = now + t.lease_seconds});
      by_name.emplace(t.config->name, std::make_pair(&t, 0));
    }
    if (requests.empty()) return;
    // What we know goes in first: a row handed back (or finished) must not still look
    // claimed by us, or this claim would pass it over. A claim of rows a commit handed over
    // reads nothing there: the results wait for their batch (a first run's flood is recorded
    // 1,024 rows to a commit, not a claim's 512).
    if (!store_.ClaimsFromMemory(requests, Owner())) Flush();
    auto rows = store_.ClaimDue(requests, now, Owner(), OwnerAlive());
    if (!rows) {
      spdlog::error("outbox: {}", rows.error().message);
      ++report_.store_errors;
      for (auto& [name, target] : by_name) {
        Change(IndexOf(*target.first), [](Target& t) { t.drained = true; });
      }
      return;
    }
    for (const OutboxRow& row : *rows) ++by_name.at(row.notifier).second;
    for (const StateStore::ClaimRequest& r : requests) {
      const auto& [target, got] = by_name.at(r.notifier);
      if (got < r.limit) Change(IndexOf(*target), [](Target& t) { t.drained = true; });
    }
    // Channels are immutable and their renderers pure: a large claim (a first run's 10,000
    // rows to a `file`, 512 at a time) renders on two threads, in the order it was claimed.
    std::vector<std::optional<Result<std::vector<Payload>>>> rendered(rows->size());
    OnTwoThreads(rows->size(), kRenderChunk, [&] {
      return [&](std::size_t first, std::size_t last) {
        for (std::size_t i = first; i < last; ++i) {
          const OutboxRow& row = (*rows)[i];
          if (!row.unreadable.empty()) continue;
          rendered[i] = by_name.at(row.notifier).first->channel->Render(
              row.notification, RenderContext{.id = row.id, .now = now});
        }
        return true;
      };
    });
    for (std::size_t i = 0; i < rows->size(); ++i) {
      OutboxRow& row = (*rows)[i];
      Target& t = *by_name.at(row.notifier).first;  // before `row` is moved from
      Prepare(t, std::move(row), std::move(rendered[i]));
    }
  }

  // Takes on a claimed row with what its channel rendered of it (nothing for a row that
  // could not be read).
  void Prepare(Target& t, OutboxRow row, std::optional<Result<std::vector<Payload>>> rendered) {
    auto work = std::make_unique<RowWork>();
    work->row = std::move(row);
    // Rendered, the notification is needed again only to be reported: its papers go now, not
    // after the transfer (a 10,000-paper digest email peaked 3.6 MB higher while libcurl
    // loaded and sent it with the papers still held).
    if (!options_.on_delivered) work->row.notification = {};
    work->next_part = std::size_t(std::max(0, work->row.parts_sent));
    if (work->next_part > 0) {
      if (std::string before = RefusedBefore(work->row.last_error); !before.empty()) {
        work->refused_parts.push_back(std::move(before));
      }
    }
    if (!work->row.unreadable.empty()) return Finish(t, *work, Dead(*work, work->row.unreadable));
    auto& payloads = *rendered;
    if (!payloads) return Finish(t, *work, Dead(*work, payloads.error().message));
    work->payloads = std::move(*payloads);
    if (t.origin.empty() && work->payloads.front().transfer == Transfer::kHttp) {
      t.origin = OriginOf(work->payloads.front().url);
      const auto [it, fresh] = origin_index_.try_emplace(t.origin, origins_.size());
      if (fresh) origins_.emplace_back();
      t.origin_slot = it->second;
    }
    if (work->next_part >= work->payloads.size()) {
      // Every part went out before a crash kept us from recording it.
      return Finish(t, *work, Sent(*work));
    }
    t.rows.push_back(std::move(work));
    Enqueue(IndexOf(t));
  }

  // Starts what each target's max_in_flight and min_interval allow, under the engine's own
  // caps. Targets take turns through their origin's queue, so the first ones in the config do
  // not always go first; an origin at its cap is passed over whole, so a fan-out of 1,000
  // targets to one server costs a few steps per finished transfer, not a walk over all.
  void StartReady() {
    const auto now = Steady::now();
    // Origins take turns too: under the engine's total cap the first origin must not always
    // take the slots that free up.
    const std::size_t n = origins_.size();
    next_origin_ = (next_origin_ + 1) % n;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t o = (next_origin_ + k) % n;
      std::deque<std::size_t>& waiting = origins_[o].waiting;
      // Each target queued now gets one turn; one with rows still waiting goes to the back.
      for (std::size_t turns = waiting.size(); turns > 0 && !waiting.empty(); --turns) {
        if (in_flight_ >= options_.max_total_in_flight) return;
        if (OriginFull(o)) break;
        const std::size_t ti = waiting.front();
        waiting.pop_front();
        targets_[ti].queued = false;
        StartRows(ti, now);
        Enqueue(ti);
      }
    }
  }

  // Starts the rows of target `ti` that its limits allow now.
  void StartRows(std::size_t ti, Steady::time_point now) {
    Target& t = targets_[ti];
    if (t.disabled || t.paused) return;
    for (auto it = t.rows.begin(); it != t.rows.end();) {
      if (in_flight_ >= options_.max_total_in_flight || OriginFull(t)) break;
      if (t.in_flight >= t.config->max_in_flight || now < t.next_send) break;
      RowWork& work = **it;
      if (work.in_flight) {
        ++it;
        continue;
      }
      // An attempt that could outlast the row's lease is not made: another process may
      // take the row over when the lease ends, and two senders must never overlap. The row
      // goes back, due now, and is claimed afresh.
      const std::int64_t unix_now = Now();
      if (work.row.lease_until && unix_now + t.attempt_seconds >= *work.row.lease_until) {
        Release(work, unix_now);
        it = t.rows.erase(it);
        Change(ti, [](Target& target) { target.drained = false; });
        continue;
      }
      const std::uint64_t ticket = ++last_ticket_;
      tickets_.emplace(ticket, std::make_pair(ti, &work));
      work.in_flight = true;
      ++t.in_flight;
      ++in_flight_;
      ++origins_[t.origin_slot].in_flight;
      transport_.Start(ticket, TakeForSending(work.payloads[work.next_part]));
      // The pace runs from when the request went out, not from when this round began.
      if (t.config->min_interval.count() > 0)
        t.next_send = Steady::now() + t.config->min_interval;
      ++it;
    }
  }

  milliseconds WaitTime() const {
    auto wait = kMaxWait;
    if (!results_.empty()) wait = std::min(wait, options_.commit_interval);
    if (in_flight_ >= options_.max_total_in_flight) return wait;
    const auto now = Steady::now();
    for (std::size_t o = 0; o < origins_.size(); ++o) {
      if (OriginFull(o)) continue;  // a transfer that ends wakes the wait
      for (const std::size_t ti : origins_[o].waiting) {
        const Target& t = targets_[ti];
        if (t.disabled || t.paused || !HasWaiting(t) || t.in_flight >= t.config->max_in_flight) {
          continue;
        }
        const auto until = std::chrono::ceil<milliseconds>(t.next_send - now);
        wait = std::min(wait, std::max(milliseconds(0), until));
      }
    }
    return wait;
  }

  void Complete(TransferDone done) {
    const auto it = tickets_.find(done.ticket);
    if (it == tickets_.end()) return;
    Target& t = targets_[it->second.first];
    RowWork& work = *it->second.second;
    const std::size_t ti = it->second.first;
    tickets_.erase(it);
    work.in_flight = false;
    --t.in_flight;
    --in_flight_;
    --origins_[t.origin_slot].in_flight;
    Apply(ti, work, done.response);
    // Whatever came of the answer, the target may have a row to start now (this one's next
    // part, or one its max_in_flight held back).
    Enqueue(ti);
  }

  // Classifies `response` to the current part of `work` (a row of target `ti`) and acts on it.
  void Apply(std::size_t ti, RowWork& work, const Response& response) {
    Target& t = targets_[ti];
    const Payload& payload = work.payloads[work.next_part];
    const Outcome outcome = t.channel->Classify(payload, response);
    const std::int64_t now = Now();
    switch (outcome.kind) {
      case Outcome::Kind::kDelivered:
        if (!outcome.remote_id.empty()) work.remote_id = outcome.remote_id;
        if (++work.next_part < work.payloads.size()) return;  // the next part goes next
        if (!work.refused_parts.empty()) return Finish(t, work, Dead(work, RefusedParts(work)));
        return Finish(t, work, Sent(work));
      case Outcome::Kind::kRetry: {
        const std::string why = outcome.reason;
        const int attempts = work.row.attempts + 1;
        const bool budget_left = attempts < t.config->retry_max_attempts &&
                                 now - work.row.created_at < t.config->retry_max_age.count();
        if (!budget_left) {
          const std::string gave_up =
              why + " (gave up after " + std::to_string(attempts) + " attempts)";
          return Finish(t, work,
                        Dead(work, work.refused_parts.empty()
                                       ? gave_up
                                       : RefusedParts(work) + "; " + gave_up));
        }
        std::int64_t at = now + RetryDelay(attempts, Random(), outcome.retry_after).count();
        if (outcome.retry_after) at = std::max(at, NowRoundedUp() + outcome.retry_after->count());
        spdlog::warn("notifier {}: {} attempt {} failed: {}; next attempt in {} s", t.config->name,
                     payload.part_id, attempts, why, at - now);
        // The target is struggling: what else we claimed for it waits as long, unattempted.
        Change(ti, [](Target& target) { target.paused = true; });
        retry_at_[&t] = at;
        return Finish(t, work,
                      DeliveryResult{.id = work.row.id,
                                     .kind = DeliveryResult::Kind::kRetry,
                                     .parts_sent = int(work.next_part),
                                     .remote_id = work.remote_id,
                                     .error = RetryError(why, RefusedParts(work)),
                                     .next_attempt_at = at});
      }
      case Outcome::Kind::kPermanent:
        if (outcome.part_only) {
          // One part (one recipient of an email) can never go; the others still do.
          spdlog::error("notifier {}: {} refused: {}", t.config->name, payload.part_id,
                        outcome.reason);
          work.refused_parts.push_back(outcome.reason);
          if (++work.next_part < work.payloads.size()) return;
          return Finish(t, work, Dead(work, RefusedParts(work)));
        }
        return Finish(t, work, Dead(work, outcome.reason));
      case Outcome::Kind::kDisable:
        Disable(t, outcome.reason, now);
        Release(work, now);
        return Remove(t, work);
    }
  }

  // A target that was paused or disabled: its rows not in flight go back, unattempted.
  void ReleaseIdleRowsOfStoppedTargets() {
    // Only targets that stopped in this pass, not every target after every transfer; one
    // whose rows are all gone is done with.
    std::erase_if(stopped_, [&](std::size_t ti) { return targets_[ti].rows.empty(); });
    for (const std::size_t ti : stopped_) {
      Target& t = targets_[ti];
      const std::int64_t at = t.paused ? retry_at_[&t] : Now();
      for (auto it = t.rows.begin(); it != t.rows.end();) {
        if ((*it)->in_flight) {
          ++it;
          continue;
        }
        Release(**it, at);
        it = t.rows.erase(it);
      }
    }
  }

  void Disable(Target& t, const std::string& reason, std::int64_t now) {
    if (t.disabled) return;
    Change(IndexOf(t), [](Target& target) { target.disabled = true; });
    ++report_.disabled;
    spdlog::error("notifier {}: disabled until its configuration changes: {}", t.config->name,
                  reason);
    t.health.disabled_fingerprint = NotifierFingerprint(*t.config);
    t.health.disabled_reason = reason;
    t.health.disabled_at = now;
    t.health_dirty = true;
    Alert(t, "notifier_disabled", now, "disabled until its configuration changes: " + reason);
    t.health.alerted = true;
  }

  DeliveryResult Sent(const RowWork& work) {
    return {.id = work.row.id,
            .kind = DeliveryResult::Kind::kSent,
            .parts_sent = int(work.payloads.size()),
            .remote_id = work.remote_id};
  }
  static std::string RefusedParts(const RowWork& work) {
    std::string why;
    for (const std::string& reason : work.refused_parts) why += (why.empty() ? "" : "; ") + reason;
    return why;
  }
  DeliveryResult Dead(const RowWork& work, const std::string& why) {
    return {.id = work.row.id,
            .kind = DeliveryResult::Kind::kDead,
            .parts_sent = int(work.next_part),
            .remote_id = work.remote_id,
            .error = why};
  }
  void Release(const RowWork& work, std::int64_t at) {
    // A row handed back after some of its parts were refused for good keeps the refusals
    // (its last error says them), so the attempt that ends it still names them.
    std::string error;
    if (!work.refused_parts.empty()) {
      error = RetryError(WithoutRefusals(work.row.last_error), RefusedParts(work));
    }
    results_.push_back({.id = work.row.id,
                        .kind = DeliveryResult::Kind::kRelease,
                        .parts_sent = int(work.next_part),
                        .remote_id = work.remote_id,
                        .error = std::move(error),
                        .next_attempt_at = at});
    ++report_.released;
    MarkFirstResult();
  }

  // Records the row's result and takes it off the target.
  void Finish(Target& t, RowWork& work, DeliveryResult result) {
    const std::int64_t now = Now();
    if (options_.on_result && result.kind != DeliveryResult::Kind::kRelease) {
      options_.on_result(t.config->name, result.kind, now - work.row.created_at);
    }
    switch (result.kind) {
      case DeliveryResult::Kind::kSent:
        ++report_.sent;
        if (options_.on_delivered) options_.on_delivered(work.row.notification);
        if (t.health.failing_since || t.health.alerted) {
          if (t.health.alerted && t.health.disabled_fingerprint.empty()) {
            Alert(t, "notifier_recovered", t.health.failing_since.value_or(now), "delivers again");
          }
          t.health.failing_since.reset();
          t.health.alerted = false;
          t.health_dirty = true;
        }
        break;
      case DeliveryResult::Kind::kDead:
        ++report_.dead;
        spdlog::error("notifier {}: notification {} is dead: {}", t.config->name, work.row.id,
                      result.error);
        if (!t.health.failing_since) {
          t.health.failing_since = now;
          t.health_dirty = true;
        }
        if (!t.health.alerted) {
          Alert(t, "notifier_failing", *t.health.failing_since,
                "notifications go dead; last: " + result.error);
          t.health.alerted = true;
          t.health_dirty = true;
        }
        break;
      case DeliveryResult::Kind::kRetry:
        ++report_.retried;
        break;
      case DeliveryResult::Kind::kRelease:
        ++report_.released;
        break;
    }
    results_.push_back(std::move(result));
    MarkFirstResult();
    Remove(t, work);
  }

  void Remove(Target& t, const RowWork& work) {
    const auto it =
        std::find_if(t.rows.begin(), t.rows.end(), [&](const auto& w) { return w.get() == &work; });
    if (it != t.rows.end()) t.rows.erase(it);
  }

  // Queues `event` about target `t` to every alert_notify notifier but `t` itself.
  void Alert(const Target& t, const std::string& event, std::int64_t streak,
             const std::string& message) {
    for (const std::string& name : config_.daemon.alert_notify) {
      const NotifierConfig* n = config_.FindNotifier(name);
      if (!n || !n->enabled || name == t.config->name) continue;
      alerts_.push_back(SourceAlert(name, "notifier " + t.config->name, event, streak, message));
    }
  }

  void MarkFirstResult() {
    if (results_.size() == 1) first_result_at_ = Steady::now();
  }
  bool FlushDue() const {
    return int(results_.size()) >= options_.commit_every ||
           (!results_.empty() && Steady::now() - first_result_at_ >= options_.commit_interval);
  }

  // Whether a Flush may leave a large batch of results being recorded on a thread of its own
  // (RecordBeside) when it returns, or must have recorded everything.
  enum class Recording { kDone, kMayGoOn };

  // Records the results so far, and the targets' health and the alerts raised, in the state.
  // Every use of the state but a claim from memory follows a Flush (kDone).
  void Flush(Recording recording = Recording::kDone) {
    const std::int64_t now = Now();
    AwaitRecording();  // batches are recorded one at a time, in the order they were made
    if (!results_.empty()) {
      if (recording == Recording::kMayGoOn && results_.size() >= kRecordBesideResults) {
        RecordBeside(now);
      } else {
        ReportRecorded(store_.RecordDeliveries(results_, Owner(), now), results_.size());
        results_.clear();
      }
    }
    const bool health_dirty = std::any_of(targets_.begin(), targets_.end(),
                                          [](const Target& t) { return t.health_dirty; });
    if (!health_dirty && alerts_.empty()) return;
    AwaitRecording();
    for (Target& t : targets_) {
      if (!t.health_dirty) continue;
      if (auto st = store_.PutNotifierHealth(t.config->name, t.health); !st) {
        spdlog::error("notifier {}: {}", t.config->name, st.error().message);
        ++report_.store_errors;
      }
      t.health_dirty = false;
    }
    if (!alerts_.empty()) {
      if (auto st = store_.QueueNotifications(alerts_, now); !st) {
        spdlog::error("alerts: {}", st.error().message);
        ++report_.store_errors;
      }
      // Their targets look again, so the alerts go out in this run.
      for (const Notification& a : alerts_) {
        for (Target& t : targets_) {
          if (t.config->name == a.notifier) {
            Change(IndexOf(t), [](Target& target) { target.drained = false; });
          }
        }
      }
      alerts_.clear();
    }
  }

  // A large batch of results (a first run's flood, commit_every at a time) is recorded on a
  // thread of its own while the pass renders, sends and finishes the next rows: recording
  // 1,024 sent rows takes a few milliseconds of SQLite on one core, in which the other idled.
  // The state is the recording's alone until AwaitRecording: the pass meanwhile only claims
  // rows a commit handed over (StateStore::ClaimsFromMemory), which reads nothing there.
  // Where no thread can be started the batch is recorded at once.
  void RecordBeside(std::int64_t now) {
    recording_results_.swap(results_);
    results_.clear();
    const std::string& owner = Owner();
    try {
      recording_ = std::async(std::launch::async, [this, &owner, now] {
        return store_.RecordDeliveries(recording_results_, owner, now);
      });
    } catch (const std::system_error&) {
      ReportRecorded(store_.RecordDeliveries(recording_results_, owner, now),
                     recording_results_.size());
      recording_results_.clear();
    }
  }

  // Waits for the batch RecordBeside is recording, if any, and reports how that went.
  void AwaitRecording() {
    if (!recording_.valid()) return;
    ReportRecorded(recording_.get(), recording_results_.size());
    recording_results_.clear();
  }

  void ReportRecorded(const Status& st, std::size_t count) {
    if (st) return;
    // The rows stay claimed by us until their lease ends, then are due again: a delivered
    // one may be sent twice (under the same id), none is lost.
    spdlog::error("outbox: recording {} delivery results failed: {}", count, st.error().message);
    ++report_.store_errors;
  }

  const std::string& Owner() {
    if (owner_.empty()) owner_ = options_.owner.empty() ? ProcessLeaseOwner() : options_.owner;
    return owner_;
  }
  std::function<bool(const std::string&)> OwnerAlive() const {
    return options_.owner_alive ? options_.owner_alive : LeaseOwnerAlive;
  }
  double Random() {
    if (options_.random) return options_.random();
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  }

  const Config& config_;
  StateStore& store_;
  Transport& transport_;
  const DeliveryOptions& options_;
  const std::atomic<bool>& stop_;
  std::string owner_;
  std::vector<Target> targets_;  // reserved up front: tickets point into it by index
  std::unordered_map<std::uint64_t, std::pair<std::size_t, RowWork*>> tickets_;
  std::map<const Target*, std::int64_t> retry_at_;
  std::uint64_t last_ticket_ = 0;
  int in_flight_ = 0;
  // Per origin (scheme://host:port) the transfers in flight and the targets with rows to
  // start, in turn order; slot 0 holds the targets without an origin and is never full.
  struct OriginSlot {
    int in_flight = 0;
    std::deque<std::size_t> waiting;  // target indices, each at most once (Target::queued)
  };
  std::vector<OriginSlot> origins_;
  std::unordered_map<std::string, std::size_t> origin_index_;
  std::size_t next_origin_ = 0;     // where StartReady begins its walk over origins_
  int claimable_ = 0;               // targets neither drained, paused nor disabled
  std::vector<std::size_t> stopped_;  // targets paused or disabled in this pass
  std::vector<DeliveryResult> results_;
  std::vector<DeliveryResult> recording_results_;  // the batch RecordBeside is recording
  std::future<Status> recording_;                  // valid while it is
  Steady::time_point first_result_at_{};
  std::vector<Notification> alerts_;
  DeliveryReport report_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace

DeliveryEngine::DeliveryEngine(const Config& config, StateStore& store, Transport& transport,
                               DeliveryOptions options)
    : config_(config), store_(store), transport_(transport), options_(std::move(options)) {}

DeliveryReport DeliveryEngine::Run() {
  Pass pass(config_, store_, transport_, options_, stop_);
  return pass.Run();
}

void DeliveryEngine::Stop() {
  stop_.store(true);
  transport_.Wake();
}

Result<std::vector<std::pair<std::string, Outcome>>> SendDirect(const NotifierConfig& notifier,
                                                                const Notification& notification,
                                                                Transport& transport,
                                                                std::int64_t now) {
  auto channel = MakeChannel(notifier);
  if (!channel) return Unexpected(channel.error());
  auto payloads = (*channel)->Render(notification, {.id = notification.id, .now = now});
  if (!payloads) return Unexpected(payloads.error());
  std::vector<std::pair<std::string, Outcome>> outcomes;
  for (std::size_t i = 0; i < payloads->size(); ++i) {
    Payload& payload = (*payloads)[i];
    transport.Start(i, TakeForSending(payload));
    std::vector<TransferDone> done;
    while (done.empty()) done = transport.Wait(kMaxWait);
    outcomes.emplace_back(payload.part_id, (*channel)->Classify(payload, done.front().response));
    if (outcomes.back().second.kind != Outcome::Kind::kDelivered) break;
  }
  return outcomes;
}

namespace {

// This machine's name: in a lease owner, it tells whose processes this host can see.
const std::string& HostName() {
  static const std::string name = [] {
    char buffer[256] = {};
    if (::gethostname(buffer, sizeof buffer - 1) != 0) return std::string("localhost");
    std::string n(buffer);
    // '/' separates the host from the process in an owner.
    std::replace(n.begin(), n.end(), '/', '_');
    return n;
  }();
  return name;
}

}  // namespace

std::int64_t AttemptSeconds(const NotifierConfig& notifier) {
  return std::chrono::duration_cast<std::chrono::seconds>(notifier.timeout).count() + 1;
}

std::int64_t LeaseSeconds(const NotifierConfig& notifier) {
  return std::max(kMinLeaseSeconds, 4 * AttemptSeconds(notifier));
}

std::string ProcessLeaseOwner() {
  return HostName() + "/" + std::to_string(::getpid()) + ":" + StatField22("/proc/self/stat");
}

bool LeaseOwnerAlive(const std::string& owner) {
  std::string_view process = owner;
  if (const std::size_t slash = owner.rfind('/'); slash != std::string::npos) {
    // Another host's process (several instances on one PostgreSQL state): only its lease
    // tells when it is gone.
    if (std::string_view(owner).substr(0, slash) != HostName()) return true;
    process = process.substr(slash + 1);
  }
  const std::size_t colon = process.find(':');
  if (colon == std::string::npos || colon == 0) return true;
  const std::string pid(process.substr(0, colon));
  if (!std::all_of(pid.begin(), pid.end(), ::isdigit)) return true;
  const std::string start = StatField22("/proc/" + pid + "/stat");
  return !start.empty() && start == process.substr(colon + 1);
}

std::chrono::seconds RetryDelay(int attempts, double random,
                                std::optional<std::chrono::seconds> retry_after) {
  constexpr std::int64_t kBase = 10;
  constexpr std::int64_t kCap = 6 * 3600;
  const std::int64_t ceiling = std::min(kCap, kBase << std::clamp(attempts, 0, 20));
  auto delay = std::int64_t(std::clamp(random, 0.0, 1.0) * double(ceiling));
  delay = std::max<std::int64_t>(1, delay);
  if (retry_after) delay = std::max<std::int64_t>(delay, retry_after->count());
  return std::chrono::seconds(delay);
}

std::string NotifierFingerprint(const NotifierConfig& n) {
  std::string text =
      n.name + '\x1f' + n.kind + '\x1f' + n.ca_file + '\x1f' + (n.tls_verify ? "1" : "0") + '\x1f';
  struct Visitor {
    std::string& out;
    void operator()(const std::monostate&) const {}
    void operator()(const ConsoleSettings&) const {}
    void operator()(const FileSettings& s) const { out += s.path; }
    void operator()(const WebhookSettings& s) const {
      out += s.url + '\x1f' + Join(s.secrets) + s.method + '\x1f';
      for (const auto& [k, v] : s.headers) out += k + '\x1e' + v + '\x1f';
    }
    void operator()(const ExecSettings& s) const { out += Join(s.command) + Join(s.env); }
    // The server, its account and the recipients: a change there may mend a disabled target.
    void operator()(const EmailSettings& s) const {
      out += s.url + '\x1f' + s.username + '\x1f' + s.password + '\x1f' + s.from + '\x1f' +
             Join(s.to) + Join(s.cc) + Join(s.bcc);
    }
    void operator()(const SlackSettings& s) const { out += s.Fingerprint(); }
    void operator()(const DiscordSettings& s) const { out += s.Fingerprint(); }
    void operator()(const TeamsSettings& s) const { out += s.Fingerprint(); }
    void operator()(const MattermostSettings& s) const { out += s.Fingerprint(); }
    void operator()(const GoogleChatSettings& s) const { out += s.Fingerprint(); }
    void operator()(const TelegramSettings& s) const { out += s.Fingerprint(); }
    void operator()(const MatrixSettings& s) const { out += s.Fingerprint(); }
    void operator()(const NtfySettings& s) const { out += s.Fingerprint(); }
  };
  std::visit(Visitor{text}, n.settings);
  return Hash128Hex(text);
}

}  // namespace digestd
