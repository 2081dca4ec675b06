#include "daemon/worker.h"

#include <spdlog/spdlog.h>

#include <iostream>

#include "core/heap_growth.h"
#include "daemon/digest_job.h"
#include "daemon/highlights_job.h"
#include "daemon/live_transport.h"

namespace digestd {
namespace {

std::int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Worker::Worker(std::unique_ptr<StateStore> store, Metrics& metrics,
               std::function<void(const WorkerReport&)> done)
    : store_(std::move(store)), metrics_(metrics), done_(std::move(done)) {
  thread_ = std::thread([this] { Loop(); });
}

Worker::~Worker() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

void Worker::Submit(WorkerJob job) {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  if (next_) {
    // Merge: the newest config, everything either job wanted.
    job.sources.insert(next_->sources.begin(), next_->sources.end());
    job.digests.insert(next_->digests.begin(), next_->digests.end());
    job.all_digests = job.all_digests || next_->all_digests;
    job.prune = job.prune || next_->prune;
  }
  next_ = std::move(job);
  cv_.notify_one();
}

void Worker::Stop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  stop_.store(true);
  next_.reset();
  if (engine_) engine_->Stop();
  http_.Cancel();  // a fetch in flight ends now, its results unused
  cv_.notify_one();
}

bool Worker::Join(std::chrono::milliseconds bound) {
  std::unique_lock lock(mu_);
  if (!finished_cv_.wait_for(lock, bound, [this] { return finished_; })) return false;
  lock.unlock();
  if (thread_.joinable()) thread_.join();
  return true;
}

void Worker::Loop() {
  for (;;) {
    WorkerJob job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || next_.has_value(); });
      if (stopping_) break;
      job = std::move(*next_);
      next_.reset();
    }
    RunJob(job);
    // A large cycle (10,000 papers) leaves SQLite's page cache full and frees tens of MB
    // that glibc keeps in this thread's arena; handing both back lets an idle service
    // return to its size (issue 12).
    store_->ReleaseMemory();
    ReturnHeap();
  }
  // Whatever this thread still holds goes with it, before the owner hears it is done.
  transport_.reset();
  std::lock_guard lock(mu_);
  finished_ = true;
  finished_cv_.notify_all();
}

void Worker::RunJob(const WorkerJob& job) {
  const Config& config = *job.config;
  WorkerReport report;
  const std::int64_t now = UnixNow();
  const auto started = std::chrono::steady_clock::now();
  if (!job.lease_holder.empty()) {
    if (auto st = store_->FenceWith(job.lease_holder, job.lease.count()); !st) {
      spdlog::error("{}", st.error().message);
    }
  }
  if (!job.sources.empty()) {
    CycleOptions options{
        .now = now,
        .only_sources = job.sources,
        .honour_backoff = true,
        .stop = &stop_,
        .hand_over = true,  // this job's delivery pass follows
        .on_source =
            [this, now](const SourceRun& run) {
              metrics_.SourceFetched(run.source, run.ok, run.papers, run.fetch_seconds, now);
            },
        .on_matches = [this](const std::string& watch,
                             int papers) { metrics_.Matched(watch, papers); }};
    CycleOutput output{.json_line = [](const std::string&) {}};
    report.cycle = RunCycle(config, *job.matcher, *store_, http_, options, output);
  }
  if (job.lead && !config.highlights.empty()) {
    // Cheap when nothing is due: a few indexed reads; the outbox keeps each post once.
    if (auto queued = QueueDueHighlights(config, *store_, now, std::nullopt); !queued) {
      spdlog::error("highlights: {}", queued.error().message);
    }
  }
  if (job.all_digests || !job.digests.empty()) {
    // Matches held for a digest whose schedule has passed become one outbox row per
    // notifier, in the transaction that takes them.
    const std::set<std::string>* only = job.all_digests ? nullptr : &job.digests;
    if (auto queued = QueueDueDigests(config, *store_, now, only); !queued) {
      spdlog::error("digest: {}", queued.error().message);
    }
  }
  // Delivery is every instance's work: its writes are not the leader's.
  if (!job.lease_holder.empty()) (void)store_->FenceWith("", 0);
  // Kept from job to job for its connections; made anew when a reload changed the contact.
  if (!transport_ || user_agent_ != UserAgent(config)) {
    user_agent_ = UserAgent(config);
    transport_ = std::make_unique<LiveTransport>(
        [](const std::string& text) { std::cout << text << std::flush; }, user_agent_);
  }
  DeliveryOptions delivery_options{
      .on_result = [this](const std::string& notifier, DeliveryResult::Kind kind,
                          std::int64_t age_seconds) {
        metrics_.Delivery(notifier,
                          kind == DeliveryResult::Kind::kSent   ? DeliveryOutcome::kSent
                          : kind == DeliveryResult::Kind::kDead ? DeliveryOutcome::kDead
                                                                : DeliveryOutcome::kRetry,
                          double(age_seconds));
      }};
  DeliveryEngine engine(config, *store_, *transport_, std::move(delivery_options));
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    engine_ = &engine;
  }
  report.delivery = engine.Run();
  {
    std::lock_guard lock(mu_);
    engine_ = nullptr;
    if (stopping_) return;
  }
  if (job.prune && job.lead) {
    const std::int64_t before = now - std::int64_t(config.daemon.retention_days) * 86400;
    if (auto st = store_->Prune(before); !st) spdlog::error("prune: {}", st.error().message);
  }
  if (auto waiting = store_->WaitingByNotifier()) {
    metrics_.SetPending(*waiting);
  } else {
    spdlog::warn("metrics: {}", waiting.error().message);
  }
  metrics_.JobDone(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  // The engine says when its notifiers want it next (rows a killed `once` left claimed are
  // due now); when it could not tell, look again soon rather than never.
  report.next_outbox_at =
      report.delivery.next_due_known ? report.delivery.next_due : std::optional(now + 60);
  done_(report);
}

}  // namespace digestd
