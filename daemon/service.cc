#include "daemon/service.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
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

namespace digestd {
namespace {

using Clock = std::chrono::system_clock;
constexpr std::int64_t kPruneEverySeconds = 3600;

std::int64_t ToUnix(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

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

// An exclusive lock next to the state file: a second `run` on the same state refuses to
// start instead of racing the first.
class StateLock {
 public:
  static Result<std::unique_ptr<StateLock>> Acquire(const std::string& state_path) {
    const std::string path = state_path + ".lock";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Unexpected(path + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return Unexpected("another digestd run is using " + state_path + " (lock " + path + ")");
    }
    return std::unique_ptr<StateLock>(new StateLock(fd));
  }
  ~StateLock() { ::close(fd_); }

 private:
  explicit StateLock(int fd) : fd_(fd) {}
  int fd_;
};

class Service {
 public:
  Service(std::string config_path, std::shared_ptr<const Config> config, WatchMatcher matcher,
          std::unique_ptr<StateStore> store)
      : config_path_(std::move(config_path)),
        config_(std::move(config)),
        matcher_(std::make_unique<WatchMatcher>(std::move(matcher))),
        store_(std::move(store)),
        timer_(io_),
        signals_(io_, SIGTERM, SIGINT, SIGHUP) {
    signals_.add(SIGUSR1);
  }

  int Run() {
    WaitForSignal();
    RebuildSchedules();
    // Every source runs once at start, then on its schedule.
    RunJobs(/*all_sources=*/true);
    sd_notify(0, "READY=1");
    io_.run();
    sd_notify(0, "STOPPING=1");
    spdlog::info("stopped");
    return 0;
  }

 private:
  void WaitForSignal() {
    signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      if (signo == SIGHUP) {
        Reload();
      } else if (signo == SIGUSR1) {
        spdlog::info("SIGUSR1: looking at the outbox again");
        RunJobs(/*all_sources=*/false);
      } else {
        spdlog::info("{}: stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
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
    } else if (load.config->daemon.state_path != config_->daemon.state_path) {
      spdlog::error("SIGHUP: [daemon] state changed; restart digestd to use another state file");
    } else {
      config_ = load.config;
      matcher_ = std::make_unique<WatchMatcher>(std::move(*m));
      spdlog::set_level(spdlog::level::from_str(config_->daemon.log_level));
      spdlog::info("SIGHUP: configuration reloaded ({} sources, {} watches)",
                   config_->sources.size(), config_->watches.size());
      RebuildSchedules();
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

  void RunJobs(bool all_sources) {
    const auto now = Clock::now();
    CycleOptions options{.now = ToUnix(now), .honour_backoff = true};
    for (auto& [name, at] : next_fire_) {
      if (all_sources || at <= now) {
        options.only_sources.insert(name);
        const SourceConfig* s = config_->FindSource(name);
        at = NextFire(schedules_.at(name), s ? s->timezone : "UTC", now);
      }
    }
    CycleOutput output{.json_line = [](const std::string&) {},
                       .console = [](const std::string& text) { std::cout << text << std::flush; }};
    CycleReport report;
    if (!options.only_sources.empty()) {
      report = RunCycle(*config_, *matcher_, *store_, http_, options, output);
    } else {
      DeliverDue(*config_, *store_, options, output, report);
    }
    if (options.now - last_prune_ >= kPruneEverySeconds) {
      last_prune_ = options.now;
      const std::int64_t before = options.now - std::int64_t(config_->daemon.retention_days) * 86400;
      if (auto st = store_->Prune(before); !st) spdlog::error("prune: {}", st.error().message);
    }
    const std::string status =
        "STATUS=last cycle: " + std::to_string(report.sources_ok) + " sources ok, " +
        std::to_string(report.sources_failed) + " failed, " +
        std::to_string(report.deliveries_ok) + " delivered";
    sd_notify(0, status.c_str());
    ArmTimer();
  }

  // One timer for the earliest due job: a source's schedule or the next outbox retry.
  void ArmTimer() {
    auto next = Clock::time_point::max();
    for (const auto& [name, at] : next_fire_) next = std::min(next, at);
    if (auto retry = store_->NextAttemptAt(); retry && retry->has_value()) {
      next = std::min(next, Clock::time_point(std::chrono::seconds(**retry)));
    }
    if (next == Clock::time_point::max()) {
      timer_.cancel();
      return;
    }
    timer_.expires_at(next);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) RunJobs(/*all_sources=*/false);
    });
  }

  std::string config_path_;
  std::shared_ptr<const Config> config_;
  std::unique_ptr<WatchMatcher> matcher_;
  std::unique_ptr<StateStore> store_;
  HttpBatch http_;
  boost::asio::io_context io_;
  boost::asio::system_timer timer_;
  boost::asio::signal_set signals_;
  std::map<std::string, CronSchedule> schedules_;
  std::map<std::string, Clock::time_point> next_fire_;
  std::int64_t last_prune_ = 0;
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
