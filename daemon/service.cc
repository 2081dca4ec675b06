#include "daemon/service.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <malloc.h>
#include <memory>
#include <random>

#include <date/tz.h>
#include <spdlog/spdlog.h>

#include "config/config_loader.h"
#include "core/text.h"
#include "daemon/cycle.h"
#include "daemon/job_scheduler.h"
#include "daemon/leader_lease.h"
#include "daemon/logging.h"
#include "daemon/metrics.h"
#include "daemon/metrics_server.h"
#include "daemon/service_manager.h"
#include "daemon/state_lock.h"
#include "daemon/wall_timer.h"
#include "daemon/worker.h"
#include "notifiers/registry.h"

namespace digestd {
namespace {

using Clock = std::chrono::system_clock;

// Pruning by retention_days: at start, then once a day.
constexpr std::chrono::hours kPruneEvery{24};

SysSeconds Now() { return std::chrono::floor<std::chrono::seconds>(Clock::now()); }

std::vector<std::string> SourceNames(const Config& config) {
  std::vector<std::string> out;
  for (const SourceConfig& s : config.sources) out.push_back(s.name);
  return out;
}

std::vector<std::string> NotifierNames(const Config& config) {
  std::vector<std::string> out;
  for (const NotifierConfig& n : config.notifiers) out.push_back(n.name);
  return out;
}

class Service {
 public:
  // `lease_store`: a connection of the event loop's own to a shared state, for the leader
  // lease; null on a SQLite state (one `run` per file: it always leads).
  Service(std::string config_path, std::shared_ptr<const Config> config, WatchMatcher matcher,
          std::unique_ptr<StateStore> store, std::unique_ptr<StateStore> lease_store)
      : config_path_(std::move(config_path)),
        config_(std::move(config)),
        matcher_(std::make_shared<const WatchMatcher>(std::move(matcher))),
        jobs_(std::random_device{}()),
        watchdog_(io_),
        lease_timer_(io_),
        signals_(io_, SIGTERM, SIGINT, SIGHUP),
        lease_store_(std::move(lease_store)),
        leading_(lease_store_ == nullptr),
        worker_(std::move(store), metrics_, [this](const WorkerReport& report) {
          // On the worker's thread: hand the report to the event loop.
          boost::asio::post(io_, [this, report] { OnJobDone(report); });
        }) {
    signals_.add(SIGUSR1);
  }

  int Run() {
    metrics_.Declare(SourceNames(*config_), NotifierNames(*config_));
    metrics_host_ = config_->daemon.metrics_host;
    metrics_port_ = config_->daemon.metrics_port;
    if (!metrics_host_.empty()) {
      auto server = MetricsServer::Listen(io_, config_->daemon.metrics_host,
                                          config_->daemon.metrics_port, metrics_);
      if (!server) {
        spdlog::error("{}", server.error().message);
        worker_.Stop();
        return 1;
      }
      metrics_server_ = std::move(*server);
      spdlog::info("metrics on http://{}:{}/metrics", config_->daemon.metrics_host,
                   config_->daemon.metrics_port);
    }
    auto timer = WallTimer::Create(
        io_, [this] { OnTimer(); },
        [this] {
          // The clock was set: jobs it jumped over are due now, ones it went back from
          // come back to their next run.
          spdlog::info("the system clock was set; looking at the schedule again");
          jobs_.ClockChanged(Now());
          ArmTimer();
        });
    if (!timer) {
      spdlog::error("{}", timer.error().message);
      worker_.Stop();
      return 1;
    }
    timer_ = std::move(*timer);
    WaitForSignal();
    StartWatchdog();
    if (lease_store_) {
      // Rows another instance queued, retried or gave back wake this one at once.
      if (auto st = lease_store_->ListenForOutbox(); !st) {
        spdlog::warn("outbox wake-ups: {}", st.error().message);
      }
    }
    RenewLease(/*start=*/true);
    RebuildSchedules();
    jobs_.SetEvery({JobKind::kPrune, ""}, kPruneEvery, Now());
    // Every source runs once at start, then on its schedule; digests and highlights whose
    // time passed while the daemon was down go out now, once.
    Submit(jobs_.TakeDue(Now()), /*start=*/true);
    NotifyServiceManager("READY=1");
    io_.run();  // until SIGTERM/SIGINT, whose handler says STOPPING=1
    // In-flight deliveries are abandoned at once (their rows stay pending); a fetch cannot
    // be interrupted, so it gets a bound, after which the process leaves without it: the
    // state is a WAL database, safe at any instant.
    worker_.Stop();
    if (lease_store_ && leading_) {
      // Another instance takes the fetch jobs over at once, not when the lease runs out.
      if (auto st = lease_store_->Resign(instance_); !st) {
        spdlog::warn("leader lease: {}", st.error().message);
      }
    }
    if (!worker_.Join(kStopBound)) {
      spdlog::warn("stopping: a job still runs after {} s; leaving without it",
                   kStopBound.count() / 1000);
      spdlog::shutdown();
      std::_Exit(0);
    }
    spdlog::info("stopped");
    return 0;
  }

 private:
  static constexpr std::chrono::milliseconds kStopBound{10000};

  void WaitForSignal() {
    signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      if (signo == SIGHUP) {
        Reload();
      } else if (signo == SIGUSR1) {
        spdlog::info("SIGUSR1: looking at the outbox again");
        Submit({{JobKind::kDeliver, ""}});
      } else {
        spdlog::info("{}: stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        NotifyServiceManager("STOPPING=1\nSTATUS=stopping");
        worker_.Stop();
        timer_->Close();
        watchdog_.cancel();
        lease_timer_.cancel();
        ForgetWakeSocket();
        if (metrics_server_) metrics_server_->Close();
        io_.stop();
        return;
      }
      WaitForSignal();
    });
  }

  // WATCHDOG=1 from this loop every WatchdogSec/2 when the unit sets WatchdogSec=: a loop
  // stuck in a handler stops sending, and systemd restarts the service.
  void StartWatchdog() {
    const std::chrono::microseconds timeout = WatchdogTimeout();
    if (timeout.count() == 0) return;
    watchdog_every_ = timeout / 2;
    spdlog::debug("watchdog: every {} ms", watchdog_every_.count() / 1000);
    NotifyServiceManager("WATCHDOG=1");
    ArmWatchdog();
  }

  void ArmWatchdog() {
    watchdog_.expires_after(watchdog_every_);
    watchdog_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      NotifyServiceManager("WATCHDOG=1");
      ArmWatchdog();
    });
  }

  // The leader lease on a shared state (issue 14), renewed from this loop every third of its
  // length: while this instance holds it, it runs the planning jobs; when it takes it over
  // (a leader died, hung or was cut off), it runs what a start runs, so nothing scheduled
  // meanwhile is missed. A renewal that fails leaves the lease to run out: the instance
  // stops leading when it would have ended, and its fenced store writes nothing after.
  void RenewLease(bool start = false) {
    if (!lease_store_) return;
    const auto lease = config_->daemon.leader_lease;
    const auto asked = std::chrono::steady_clock::now();
    auto held = lease_store_->Lead(instance_, lease.count());
    bool now_leading = false;
    if (!held) {
      spdlog::warn("leader lease: {}", held.error().message);
      now_leading = leading_ && asked < lead_until_;
    } else {
      now_leading = held->holder == instance_;
      if (now_leading) lead_until_ = asked + lease;
      if (!now_leading && (leading_ || start || held->holder != last_leader_)) {
        spdlog::info("leader lease: {} leads; this instance delivers", DescribeLeader(*held));
      }
      last_leader_ = held->holder;
    }
    const bool took_over = now_leading && !leading_;
    if (leading_ && !now_leading) spdlog::warn("leader lease: lost; fetching stops here");
    leading_ = now_leading;
    if (took_over) {
      spdlog::info("leader lease: this instance ({}) leads; it runs the fetch jobs", instance_);
      if (!start) Submit({}, /*start=*/true);
    }
    WatchWakeUps();  // the renewal may have reconnected: another socket
    lease_timer_.expires_after(lease / 3);
    lease_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) RenewLease();
    });
  }

  // Waits for the outbox announcements of the other instances (StateStore::WakeSocket) on
  // the event loop: one delivery pass per wake-up. The socket is libpq's, watched, never
  // closed here; after a reconnect it is another one.
  void WatchWakeUps() {
    if (!lease_store_) return;
    const WakeSource source = lease_store_->WakeSocket();
    if (source == wake_source_ && wake_) return;
    ForgetWakeSocket();
    wake_source_ = source;
    if (source.fd < 0) return;  // disconnected: the next renewal reconnects
    wake_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, source.fd);
    ArmWakeUp();
  }

  void ArmWakeUp() {
    wake_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [this](const boost::system::error_code& ec) {
                        if (ec) return;
                        if (lease_store_->TakeWakeUps()) {
                          spdlog::debug("outbox: rows announced by an instance");
                          Submit({{JobKind::kDeliver, ""}});
                        }
                        if (lease_store_->WakeSocket() == wake_source_) {
                          ArmWakeUp();
                        } else {
                          WatchWakeUps();  // the session went: wait for the next one
                        }
                      });
  }

  void ForgetWakeSocket() {
    if (!wake_) return;
    boost::system::error_code ignored;
    wake_->cancel(ignored);
    (void)wake_->release();  // libpq's: not ours to close
    wake_.reset();
    wake_source_ = {};
  }

  // STATUS=: what the service does now, and what it does next and when.
  void SendStatus(const std::string& doing) {
    std::string status = "STATUS=" + doing;
    if (const auto next = jobs_.Earliest()) {
      status += "; next: " + ShowJob(next->second) + " at " +
                ShowTime(next->first, config_->daemon.timezone);
    }
    NotifyServiceManager(status);
  }

  // Parse fresh, validate, and swap only on success (mosquitto's reload).
  void Reload() {
    // RELOADING=1 with the time it began, as systemd's Type=notify-reload expects.
    const auto monotonic = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now().time_since_epoch());
    const std::string reloading = "RELOADING=1\nSTATUS=reloading " + config_path_ +
                                  "\nMONOTONIC_USEC=" + std::to_string(monotonic.count());
    NotifyServiceManager(reloading);
    ConfigLoad load = LoadConfig(config_path_);
    for (const auto& d : load.diagnostics) {
      (d.warning ? spdlog::warn("{}", d.ToString()) : spdlog::error("{}", d.ToString()));
    }
    if (!load.config) {
      spdlog::error("SIGHUP: {} has errors; keeping the running configuration", config_path_);
    } else if (auto m = WatchMatcher::Compile(WatchSpecsFrom(*load.config)); !m) {
      spdlog::error("SIGHUP: {}: {}; keeping the running configuration", config_path_,
                    m.error().message);
    } else if (const auto problems = ChannelProblems(load.config->notifiers);
               !problems.empty()) {
      // A template that does not compile, say: every delivery to it would fail.
      for (const ChannelProblem& p : problems) spdlog::error("{}", p.message);
      spdlog::error("SIGHUP: {} has errors; keeping the running configuration", config_path_);
    } else if (load.config->daemon.state_path != config_->daemon.state_path) {
      spdlog::error("SIGHUP: [daemon] state changed; restart digestd to use another state file");
    } else {
      if (load.config->daemon.metrics_host != metrics_host_ ||
          load.config->daemon.metrics_port != metrics_port_) {
        spdlog::warn("SIGHUP: [daemon] metrics_listen changed; it takes effect at a restart");
      }
      config_ = load.config;
      metrics_.Declare(SourceNames(*config_), NotifierNames(*config_));
      matcher_ = std::make_shared<const WatchMatcher>(std::move(*m));
      spdlog::set_level(spdlog::level::from_str(config_->daemon.log_level));
      spdlog::info("SIGHUP: configuration reloaded ({}, {})",
                   Counted(static_cast<long long>(config_->sources.size()), "source"),
                   Counted(static_cast<long long>(config_->watches.size()), "watch", "watches"));
      RebuildSchedules();
      // A notifier's changed configuration may send again what waits for it.
      Submit({{JobKind::kDeliver, ""}});
      NotifyServiceManager("READY=1");
      return;
    }
    NotifyServiceManager("READY=1");
    SendStatus("running the previous configuration: the reload was refused (see the log)");
  }

  // The cron jobs of the running configuration, each due at its next run from now: a
  // source's fetch (with its jitter), a highlights entry, a digest watch.
  void RebuildSchedules() {
    const SysSeconds now = Now();
    jobs_.RemoveKind(JobKind::kFetch);
    jobs_.RemoveKind(JobKind::kHighlights);
    jobs_.RemoveKind(JobKind::kDigest);
    const auto add = [&](JobKind kind, const std::string& name, const std::string& cron,
                         const std::string& zone, std::chrono::milliseconds jitter) {
      auto schedule = ZonedSchedule::Make(cron, zone);
      if (!schedule) {  // check already rejects these; keep the daemon up regardless
        spdlog::error("{}: schedule: {}", ShowJob({kind, name}), schedule.error().message);
        return;
      }
      jobs_.SetCron({kind, name}, std::move(*schedule),
                    std::chrono::duration_cast<std::chrono::seconds>(jitter), now);
    };
    for (const SourceConfig& s : config_->sources) {
      if (s.enabled) add(JobKind::kFetch, s.name, s.schedule, s.timezone, s.jitter);
    }
    // A highlights slot only has to wake the worker: every job posts what is due
    // (QueueDueHighlights).
    for (const HighlightsConfig& h : config_->highlights) {
      add(JobKind::kHighlights, h.name, h.schedule, h.timezone, {});
    }
    for (const WatchConfig& w : config_->watches) {
      if (w.enabled && w.delivery == "digest") {
        add(JobKind::kDigest, w.spec.name, w.digest_schedule, w.timezone, {});
      }
    }
  }

  void OnTimer() {
    Submit(jobs_.TakeDue(Now()));
  }

  // Hands the worker the jobs `due` (with every source and digest at start); every job
  // ends with a delivery pass, so a pending delivery job merges into it.
  void Submit(const std::vector<JobKey>& due, bool start = false) {
    WorkerJob job{.config = config_, .matcher = matcher_, .lead = leading_};
    if (lease_store_) {
      job.lease_holder = leading_ ? instance_ : std::string();
      job.lease = config_->daemon.leader_lease;
    }
    for (const JobKey& key : due) {
      if (!leading_ && key.kind != JobKind::kDeliver) continue;  // the leader's work
      if (key.kind == JobKind::kFetch) job.sources.insert(key.name);
      if (key.kind == JobKind::kDigest) job.digests.insert(key.name);
      if (key.kind == JobKind::kPrune) job.prune = true;
    }
    if (start && leading_) {
      for (const SourceConfig& s : config_->sources) {
        if (s.enabled) job.sources.insert(s.name);
      }
      for (const WatchConfig& w : config_->watches) {
        job.all_digests = job.all_digests || (w.enabled && w.delivery == "digest");
      }
    }
    jobs_.Remove({JobKind::kDeliver, ""});  // the worker says when the outbox wants it next
    std::string doing = "working: ";
    if (!job.sources.empty()) {
      doing += "fetching";
      for (const std::string& name : job.sources) doing += " " + name;
      doing += ", then ";
    }
    if (!job.digests.empty() || job.all_digests) doing += "digests, then ";
    doing += "delivering";
    worker_.Submit(std::move(job));
    ArmTimer();
    SendStatus(doing);
  }

  void OnJobDone(const WorkerReport& report) {
    if (report.next_outbox_at) {
      jobs_.SetOnce({JobKind::kDeliver, ""}, SysSeconds(std::chrono::seconds(*report.next_outbox_at)));
    }
    ArmTimer();
    SendStatus("idle; last job: " + Counted(report.cycle.sources_ok, "source") + " ok, " +
               std::to_string(report.cycle.sources_failed) + " failed, " +
               std::to_string(report.delivery.sent) + " delivered, " +
               std::to_string(report.delivery.retried) + " to retry, " +
               std::to_string(report.delivery.dead) + " dead");
  }

  // One timer, on the wall clock, for the earliest due job.
  void ArmTimer() {
    const auto next = jobs_.Earliest();
    if (!next) {
      timer_->Disarm();
      return;
    }
    if (auto st = timer_->ArmAt(next->first); !st) {
      spdlog::error("{}", st.error().message);
    }
  }

  std::string config_path_;
  std::shared_ptr<const Config> config_;
  std::shared_ptr<const WatchMatcher> matcher_;
  boost::asio::io_context io_;
  JobScheduler jobs_;
  std::unique_ptr<WallTimer> timer_;
  boost::asio::steady_timer watchdog_;
  std::chrono::microseconds watchdog_every_{0};
  boost::asio::steady_timer lease_timer_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> wake_;  // null: no wake socket
  WakeSource wake_source_;
  boost::asio::signal_set signals_;
  Metrics metrics_;                   // before worker_: the worker records into it
  std::unique_ptr<MetricsServer> metrics_server_;
  std::string metrics_host_;          // where metrics_server_ listens (empty: nowhere) until
  std::uint16_t metrics_port_ = 0;    // a restart, whatever a reload says
  std::unique_ptr<StateStore> lease_store_;  // null: a SQLite state, which this run leads
  const std::string instance_ = ProcessLeaseOwner();
  bool leading_;
  std::chrono::steady_clock::time_point lead_until_{};  // when an unrenewed lease ends
  std::string last_leader_;
  Worker worker_;                     // last: its thread posts to io_ until it is joined
};

}  // namespace

int RunService(const std::string& config_path, LogFormat log_format) {
  // SIGHUP and SIGUSR1 end a process by default, and digestd starts for a while (the config,
  // the state's migrations) before its loop listens: one sent meanwhile (logrotate's
  // postrotate, `kill -HUP` right after a restart) is held until the loop's signal set is in
  // place, and answered there. Threads started meanwhile keep them blocked, so the loop's
  // thread takes them. An early exit leaves them held: it ends with its own status.
  sigset_t held;
  sigemptyset(&held);
  sigaddset(&held, SIGHUP);
  sigaddset(&held, SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &held, nullptr);
  // One malloc arena for every thread. The worker's own arena kept a page of each of the
  // hundreds of free chunks a 10,000-paper job leaves between the few objects that outlive
  // it, which malloc_trim cannot give back: idle came back 2.2 MB above its size, now
  // 1.5 MB (issue 12). Only a long digest's helper thread (core/two_threads.h) allocates
  // beside the worker, and then contends for the arena: a 10,000-paper first run costs 3 to
  // 13% more CPU than on one thread, and ends 2 to 5% sooner. A usual day never starts one.
  mallopt(M_ARENA_MAX, 1);
  ConfigLoad load = LoadConfig(config_path);
  PrintDiagnostics(load, log_format);
  if (!load.config) return 78;
  SetUpLogging(load.config->daemon.log_level, log_format);
  auto matcher = WatchMatcher::Compile(WatchSpecsFrom(*load.config));
  if (!matcher) {
    spdlog::error("{}: {}", config_path, matcher.error().message);
    return 78;
  }
  if (const auto problems = ChannelProblems(load.config->notifiers); !problems.empty()) {
    for (const ChannelProblem& p : problems) spdlog::error("{}", p.message);
    return 78;
  }
  // A SQLite state has one `run`; a PostgreSQL state is shared by several, which take
  // turns at the fetch jobs by the leader lease.
  const std::string& state = load.config->daemon.state_path;
  std::unique_ptr<StateLock> lock;
  if (!IsPostgresLocation(state)) {
    auto acquired = StateLock::Acquire(state);
    if (!acquired) {
      spdlog::error("{}", acquired.error().message);
      return 1;
    }
    lock = std::move(*acquired);
  }
  auto store = StateStore::Open(state);
  if (!store) {
    spdlog::error("{}", store.error().message);
    return 1;
  }
  std::unique_ptr<StateStore> lease_store;
  if ((*store)->shared()) {
    auto opened = StateStore::Open(state);
    if (!opened) {
      spdlog::error("{}", opened.error().message);
      return 1;
    }
    lease_store = std::move(*opened);
  }
  Service service(config_path, load.config, std::move(*matcher), std::move(*store),
                  std::move(lease_store));
  ::pthread_sigmask(SIG_UNBLOCK, &held, nullptr);
  // Said once the loop's signal set is in place: from here on every signal is answered.
  spdlog::info("digestd {} running with {} ({}, {})", DIGESTD_VERSION, config_path,
               Counted(static_cast<long long>(load.config->sources.size()), "source"),
               Counted(static_cast<long long>(load.config->watches.size()), "watch", "watches"));
  return service.Run();
}

}  // namespace digestd
