#include "daemon/service.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
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
#include "daemon/state_lock.h"
#include "daemon/worker.h"
#include "notifiers/registry.h"

namespace digestd {
namespace {

using Clock = std::chrono::system_clock;
// The next time `schedule` fires after `now`, in the IANA zone `timezone`.
Clock::time_point NextFire(const CronSchedule& schedule, const std::string& timezone,
                           Clock::time_point now) {
  try {
    const auto* zone = date::locate_zone(timezone);
    const auto local = zone->to_local(std::chrono::floor<std::chrono::seconds>(now));
    const std::chrono::local_seconds after{local.time_since_epoch()};
    const std::chrono::local_seconds next = schedule.Next(after);
    if (next == std::chrono::local_seconds::max()) return Clock::time_point::max();
    const date::local_seconds next_local{next.time_since_epoch()};
    // A local time skipped or repeated by a DST change resolves to its earliest instant.
    return zone->to_sys(next_local, date::choose::earliest);
  } catch (const std::exception& e) {
    spdlog::error("schedule in zone {}: {}", timezone, e.what());
    return now + std::chrono::hours(1);
  }
}

class Service {
 public:
  Service(std::string config_path, std::shared_ptr<const Config> config, WatchMatcher matcher,
          std::unique_ptr<StateStore> store)
      : config_path_(std::move(config_path)),
        config_(std::move(config)),
        matcher_(std::make_shared<const WatchMatcher>(std::move(matcher))),
        timer_(io_),
        signals_(io_, SIGTERM, SIGINT, SIGHUP),
        worker_(std::move(store), [this](const WorkerReport& report) {
          // On the worker's thread: hand the report to the event loop.
          boost::asio::post(io_, [this, report] { OnJobDone(report); });
        }) {
    signals_.add(SIGUSR1);
  }

  int Run() {
    WaitForSignal();
    RebuildSchedules();
    // Every source runs once at start, then on its schedule.
    SubmitJobs(/*all_sources=*/true);
    sd_notify(0, "READY=1");
    io_.run();
    sd_notify(0, "STOPPING=1");
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
        worker_.Stop();
        timer_.cancel();
        io_.stop();
        return;
      }
      WaitForSignal();
    });
  }

  // Parse fresh, validate, and swap only on success (mosquitto's reload).
  void Reload() {
    sd_notify(0, "RELOADING=1");
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
      config_ = load.config;
      matcher_ = std::make_shared<const WatchMatcher>(std::move(*m));
      spdlog::set_level(spdlog::level::from_str(config_->daemon.log_level));
      spdlog::info("SIGHUP: configuration reloaded ({} sources, {} watches)",
                   config_->sources.size(), config_->watches.size());
      RebuildSchedules();
      // A notifier's changed configuration may send again what waits for it.
      SubmitJobs(/*all_sources=*/false);
    }
    sd_notify(0, "READY=1");
    ArmTimer();
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
    next_outbox_.reset();  // the worker says when the outbox wants it next
    worker_.Submit(std::move(job));
    ArmTimer();
  }

  void OnJobDone(const WorkerReport& report) {
    next_outbox_ = report.next_outbox_at;
    const std::string status =
        "STATUS=last job: " + std::to_string(report.cycle.sources_ok) + " sources ok, " +
        std::to_string(report.cycle.sources_failed) + " failed, " +
        std::to_string(report.delivery.sent) + " delivered, " +
        std::to_string(report.delivery.retried) + " to retry, " +
        std::to_string(report.delivery.dead) + " dead";
    sd_notify(0, status.c_str());
    ArmTimer();
  }

  // One timer for the earliest due job: a source's schedule or the outbox's next row.
  void ArmTimer() {
    auto next = Clock::time_point::max();
    for (const auto& [name, at] : next_fire_) next = std::min(next, at);
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
  boost::asio::signal_set signals_;
  std::map<std::string, CronSchedule> schedules_;
  std::map<std::string, Clock::time_point> next_fire_;
  std::optional<std::int64_t> next_outbox_;
  Worker worker_;                     // last: its thread posts to io_ until it is joined
};

}  // namespace

int RunService(const std::string& config_path) {
  ConfigLoad load = LoadConfig(config_path);
  for (const auto& d : load.diagnostics) std::cerr << d.ToString() << "\n";
  if (!load.config) return 78;
  SetUpLogging(load.config->daemon.log_level);
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
