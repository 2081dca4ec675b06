#include "daemon/service.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_timer.hpp>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>

#include <date/tz.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "config/config_loader.h"
#include "core/cron.h"
#include "daemon/cycle.h"
#include "daemon/logging.h"
#include "daemon/metrics.h"
#include "daemon/metrics_server.h"
#include "daemon/state_lock.h"
#include "daemon/worker.h"
#include "notifiers/registry.h"

namespace digestd {
namespace {

using Clock = std::chrono::system_clock;

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
  Service(std::string config_path, std::shared_ptr<const Config> config, WatchMatcher matcher,
          std::unique_ptr<StateStore> store)
      : config_path_(std::move(config_path)),
        config_(std::move(config)),
        matcher_(std::make_shared<const WatchMatcher>(std::move(matcher))),
        timer_(io_),
        watchdog_(io_),
        signals_(io_, SIGTERM, SIGINT, SIGHUP),
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
    WaitForSignal();
    StartWatchdog();
    RebuildSchedules();
    // Every source runs once at start, then on its schedule.
    SubmitJobs(/*all_sources=*/true);
    sd_notify(0, "READY=1");
    io_.run();  // until SIGTERM/SIGINT, whose handler says STOPPING=1
    // In-flight deliveries are abandoned at once (their rows stay pending); a fetch cannot
    // be interrupted, so it gets a bound, after which the process leaves without it: the
    // state is a WAL database, safe at any instant.
    worker_.Stop();
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
        SubmitJobs(/*all_sources=*/false);
      } else {
        spdlog::info("{}: stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        sd_notify(0, "STOPPING=1\nSTATUS=stopping");
        worker_.Stop();
        timer_.cancel();
        watchdog_.cancel();
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
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
    watchdog_every_ = std::chrono::microseconds(usec / 2);
    spdlog::debug("watchdog: every {} ms", watchdog_every_.count() / 1000);
    sd_notify(0, "WATCHDOG=1");
    ArmWatchdog();
  }

  void ArmWatchdog() {
    watchdog_.expires_after(watchdog_every_);
    watchdog_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      sd_notify(0, "WATCHDOG=1");
      ArmWatchdog();
    });
  }

  // STATUS=: what the service does now, and what it does next and when.
  void SendStatus(const std::string& doing) {
    std::string next;
    auto at = Clock::time_point::max();
    for (const auto& [name, when] : next_fire_) {
      if (when < at) {
        at = when;
        next = "fetch " + name;
      }
    }
    for (const auto& [name, when] : highlights_fire_) {
      if (when < at) {
        at = when;
        next = "highlights " + name;
      }
    }
    if (next_outbox_) {
      const Clock::time_point outbox{std::chrono::seconds(*next_outbox_)};
      if (outbox < at) {
        at = outbox;
        next = "deliver";
      }
    }
    std::string status = "STATUS=" + doing;
    if (at != Clock::time_point::max()) {
      status += "; next: " + next + " at " + ShowTime(at, config_->daemon.timezone);
    }
    sd_notify(0, status.c_str());
  }

  // Parse fresh, validate, and swap only on success (mosquitto's reload).
  void Reload() {
    // RELOADING=1 with the time it began, as systemd's Type=notify-reload expects.
    const auto monotonic = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now().time_since_epoch());
    const std::string reloading = "RELOADING=1\nSTATUS=reloading " + config_path_ +
                                  "\nMONOTONIC_USEC=" + std::to_string(monotonic.count());
    sd_notify(0, reloading.c_str());
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
      spdlog::info("SIGHUP: configuration reloaded ({} sources, {} watches)",
                   config_->sources.size(), config_->watches.size());
      RebuildSchedules();
      // A notifier's changed configuration may send again what waits for it.
      SubmitJobs(/*all_sources=*/false);
      sd_notify(0, "READY=1");
      return;
    }
    sd_notify(0, "READY=1");
    ArmTimer();
    SendStatus("running the previous configuration: the reload was refused (see the log)");
  }

  void RebuildSchedules() {
    next_fire_.clear();
    schedules_.clear();
    const auto now = Clock::now();
    for (const SourceConfig& s : config_->sources) {
      if (!s.enabled) continue;
      auto schedule = ParseCron(s.schedule);
      if (!schedule) {  // check already rejects these; keep the daemon up regardless
        spdlog::error("source {}: schedule: {}", s.name, schedule.error().message);
        continue;
      }
      schedules_.emplace(s.name, *schedule);
      next_fire_[s.name] = NextFire(*schedule, s.timezone, now);
    }
    // One slot per highlights entry; every job also posts what is due (QueueDueHighlights),
    // so the slot only has to wake the worker.
    highlights_fire_.clear();
    highlights_schedules_.clear();
    for (const HighlightsConfig& h : config_->highlights) {
      auto schedule = ParseCron(h.schedule);
      if (!schedule) {
        spdlog::error("highlights {}: schedule: {}", h.name, schedule.error().message);
        continue;
      }
      highlights_schedules_.emplace(h.name, std::make_pair(*schedule, h.timezone));
      highlights_fire_[h.name] = NextFire(*schedule, h.timezone, now);
    }
  }

  // Hands the worker the sources now due (all of them at start) and a delivery pass.
  void SubmitJobs(bool all_sources) {
    const auto now = Clock::now();
    WorkerJob job{.config = config_, .matcher = matcher_};
    for (auto& [name, at] : next_fire_) {
      if (all_sources || at <= now) {
        job.sources.insert(name);
        const SourceConfig* s = config_->FindSource(name);
        at = NextFire(schedules_.at(name), s ? s->timezone : "UTC", now);
      }
    }
    for (auto& [name, at] : highlights_fire_) {
      if (at > now) continue;
      const auto& [schedule, timezone] = highlights_schedules_.at(name);
      at = NextFire(schedule, timezone, now);
    }
    next_outbox_.reset();  // the worker says when the outbox wants it next
    std::string doing = "working: ";
    if (!job.sources.empty()) {
      doing += "fetching";
      for (const std::string& name : job.sources) doing += " " + name;
      doing += ", then ";
    }
    doing += "delivering";
    worker_.Submit(std::move(job));
    ArmTimer();
    SendStatus(doing);
  }

  void OnJobDone(const WorkerReport& report) {
    next_outbox_ = report.next_outbox_at;
    ArmTimer();
    SendStatus("idle; last job: " + std::to_string(report.cycle.sources_ok) + " sources ok, " +
               std::to_string(report.cycle.sources_failed) + " failed, " +
               std::to_string(report.delivery.sent) + " delivered, " +
               std::to_string(report.delivery.retried) + " to retry, " +
               std::to_string(report.delivery.dead) + " dead");
  }

  // One timer for the earliest due job: a source's or a highlights entry's schedule, or the
  // outbox's next row.
  void ArmTimer() {
    auto next = Clock::time_point::max();
    for (const auto& [name, at] : next_fire_) next = std::min(next, at);
    for (const auto& [name, at] : highlights_fire_) next = std::min(next, at);
    if (next_outbox_) next = std::min(next, Clock::time_point(std::chrono::seconds(*next_outbox_)));
    if (next == Clock::time_point::max()) {
      timer_.cancel();
      return;
    }
    timer_.expires_at(next);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) SubmitJobs(/*all_sources=*/false);
    });
  }

  std::string config_path_;
  std::shared_ptr<const Config> config_;
  std::shared_ptr<const WatchMatcher> matcher_;
  boost::asio::io_context io_;
  boost::asio::system_timer timer_;
  boost::asio::steady_timer watchdog_;
  std::chrono::microseconds watchdog_every_{0};
  boost::asio::signal_set signals_;
  Metrics metrics_;                   // before worker_: the worker records into it
  std::unique_ptr<MetricsServer> metrics_server_;
  std::string metrics_host_;          // where metrics_server_ listens (empty: nowhere) until
  std::uint16_t metrics_port_ = 0;    // a restart, whatever a reload says
  std::map<std::string, CronSchedule> schedules_;
  std::map<std::string, Clock::time_point> next_fire_;
  std::map<std::string, std::pair<CronSchedule, std::string>> highlights_schedules_;  // zone
  std::map<std::string, Clock::time_point> highlights_fire_;
  std::optional<std::int64_t> next_outbox_;
  Worker worker_;                     // last: its thread posts to io_ until it is joined
};

}  // namespace

int RunService(const std::string& config_path, LogFormat log_format) {
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
  auto lock = StateLock::Acquire(load.config->daemon.state_path);
  if (!lock) {
    spdlog::error("{}", lock.error().message);
    return 1;
  }
  auto store = StateStore::Open(load.config->daemon.state_path);
  if (!store) {
    spdlog::error("{}", store.error().message);
    return 1;
  }
  spdlog::info("digestd {} running with {} ({} sources, {} watches)", DIGESTD_VERSION,
               config_path, load.config->sources.size(), load.config->watches.size());
  Service service(config_path, load.config, std::move(*matcher), std::move(*store));
  return service.Run();
}

}  // namespace digestd
