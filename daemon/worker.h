// Worker: where `digestd run` does its work, off the event loop's thread, so signals and
// timers are answered while a fetch or 1,000 deliveries are in flight. It owns the state
// store (one connection, used only here) and the delivery transport (connections kept from
// job to job). Jobs run one at a time; a job submitted while one runs waits, merged with any
// other waiting one. Submit and Stop are thread-safe; the rest belongs to the owner's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "config/config.h"
#include "core/watch.h"
#include "daemon/cycle.h"
#include "daemon/delivery.h"
#include "daemon/metrics.h"
#include "store/state_store.h"

namespace digestd {

struct WorkerJob {
  std::shared_ptr<const Config> config;
  std::shared_ptr<const WatchMatcher> matcher;
  std::set<std::string> sources;  // fetch these first; empty: deliver only
  std::set<std::string> digests;  // digest watches whose schedule came: send what is due
  bool all_digests = false;       // every digest watch (at start: runs missed while down)
  bool prune = false;             // prune by retention_days
  // Whether this instance runs the planning jobs (fetch, highlights, digests, prune): on a
  // shared state only while it holds the leader lease, whose holder fences the store's
  // planning writes (StateStore::FenceWith); empty on a SQLite state.
  bool lead = true;
  std::string lease_holder;
  std::chrono::milliseconds lease{0};
  // Every job also queues the highlights that are due, then delivers what the outbox holds.
};

struct WorkerReport {
  CycleReport cycle;
  DeliveryReport delivery;
  std::optional<std::int64_t> next_outbox_at;  // when the outbox wants the next pass
};

class Worker {
 public:
  // `done` runs on the worker's thread after each job; each job records into `metrics`,
  // which must outlive the worker.
  Worker(std::unique_ptr<StateStore> store, Metrics& metrics,
         std::function<void(const WorkerReport&)> done);
  ~Worker();  // Stop() and join
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void Submit(WorkerJob job);

  // Stops the job in progress soon (deliveries abandoned, their rows pending again) and
  // runs no other. Thread-safe.
  void Stop();

  // Waits up to `bound` for the thread to end; false when it is still busy (a fetch that
  // cannot be interrupted).
  bool Join(std::chrono::milliseconds bound);

 private:
  void Loop();
  void RunJob(const WorkerJob& job);

  std::unique_ptr<StateStore> store_;
  Metrics& metrics_;
  std::function<void(const WorkerReport&)> done_;
  std::unique_ptr<class LiveTransport> transport_;
  std::string user_agent_;            // the one transport_ sends
  HttpBatch http_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<WorkerJob> next_;     // guarded by mu_
  bool stopping_ = false;             // guarded by mu_
  std::atomic<bool> stop_{false};     // the same, for the cycle to read without the lock
  DeliveryEngine* engine_ = nullptr;  // guarded by mu_: the delivery in progress
  bool finished_ = false;             // guarded by mu_
  std::condition_variable finished_cv_;
  std::thread thread_;
};

}  // namespace digestd
