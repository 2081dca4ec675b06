// Delivery rate of the real engine (issue 7): DeliveryEngine + LiveTransport + a StateStore in
// a temp file, one webhook notifier with max_in_flight = C, to an in-process HTTP sink on
// 127.0.0.1 (bench/responder.h) answering 204 at once (latency_ms:0) or 1 ms later
// (latency_ms:1). Each iteration gets a fresh state file holding kNotifications queued
// notifications (one paper each, from a synthetic digest), built outside the timed region;
// the timed region is one DeliveryEngine::Run that claims, renders, sends and records them.
//
// Counters: items_per_second = notifications/s (wall clock); thread_us/notif = CPU of the
// benchmark thread per notification (the engine, libcurl, rendering and the SQLite claims and
// commits all run on it); proc_us/notif = the whole process's CPU minus the sink's thread;
// sink_us/notif = the sink's thread. The CPU column is the benchmark thread's alone.
#include <benchmark/benchmark.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/responder.h"
#include "bench/synthetic.h"
#include "config/config_loader.h"
#include "core/notification.h"
#include "daemon/delivery.h"
#include "daemon/live_transport.h"
#include "daemon/logging.h"
#include "fetchers/markdown_parser.h"
#include "store/state_store.h"

namespace digestd::bench {
namespace {

namespace fs = std::filesystem;

constexpr int kNotifications = 1000;
constexpr char kDate[] = "2024-01-29";

Responder& SharedResponder(int latency_ms) {
  static Responder instant({.latency = std::chrono::milliseconds(0)});
  static Responder delayed({.latency = std::chrono::milliseconds(1)});
  return latency_ms == 0 ? instant : delayed;
}

// One notification per paper of a synthetic digest, as a `query = "*"` watch would queue.
const std::vector<Notification>& Notifications() {
  static const std::vector<Notification> notifications = [] {
    const ParseResult parsed = ParseMarkdownDigest(MarkdownDigest(kNotifications, kDate));
    const std::string sep(1, '\x1f');
    std::vector<Notification> out;
    for (const Paper& paper : parsed.digest.papers) {
      Notification n{.dedupe_key = "hook" + sep + paper.key + sep + "new" + sep + "everything",
                     .notifier = "hook",
                     .kind = "instant",
                     .event = "new",
                     .watches = {"everything"},
                     .papers = {{.paper = paper, .source = "papers", .date = kDate}},
                     .digest_url = "https://example.org/digests/2024-01-29.md"};
      n.id = NotificationId(n.dedupe_key);
      out.push_back(std::move(n));
    }
    return out;
  }();
  return notifications;
}

std::int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double ClockSeconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

struct CpuSample {
  double thread = 0;
  double process = 0;
  double sink = 0;
};

CpuSample Sample(const Responder& sink) {
  return {.thread = ClockSeconds(CLOCK_THREAD_CPUTIME_ID),
          .process = ClockSeconds(CLOCK_PROCESS_CPUTIME_ID),
          .sink = sink.CpuSeconds()};
}

void BM_DeliveryEngine(benchmark::State& state) {
  const int concurrency = int(state.range(0));
  Responder& sink = SharedResponder(int(state.range(1)));
  const std::vector<Notification>& notifications = Notifications();
  if (notifications.size() != std::size_t(kNotifications)) {
    return state.SkipWithError("the synthetic digest did not parse into 1,000 papers");
  }
  // As `digestd` logs with log_level = "warn"; once, as SetUpLogging wants.
  [[maybe_unused]] static const bool logging = (SetUpLogging("warn"), true);

  const fs::path dir =
      fs::temp_directory_path() / ("digestd-delivery-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string toml =
      "[daemon]\nstate = \"state.db\"\nlog_level = \"warn\"\n\n"
      "[[notifier]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"" +
      sink.Url() + "\"\nmax_in_flight = " + std::to_string(concurrency) + "\n";
  const ConfigLoad load = LoadConfigText(toml, (dir / "digestd.toml").string());
  if (!load.config) {
    fs::remove_all(dir);
    const std::string why =
        load.diagnostics.empty() ? "config rejected" : load.diagnostics.front().ToString();
    return state.SkipWithError(why.c_str());
  }
  const fs::path db = dir / "state.db";
  // Kept across iterations, as `digestd run` keeps it across jobs (connections reused).
  LiveTransport transport(nullptr, "digestd-bench");
  std::unique_ptr<StateStore> store;

  CpuSample used;
  std::uint64_t delivered = 0;
  std::string error;
  for (auto _ : state) {
    state.PauseTiming();
    store.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db.string() + suffix);
    auto opened = StateStore::Open(db.string());
    if (!opened) {
      error = opened.error().message;
    } else {
      store = std::move(*opened);
      if (auto st = store->QueueNotifications(notifications, UnixNow()); !st) {
        error = st.error().message;
      }
    }
    const std::uint64_t requests_before = sink.requests();
    state.ResumeTiming();
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }

    const CpuSample before = Sample(sink);
    DeliveryEngine engine(*load.config, *store, transport);
    const DeliveryReport report = engine.Run();
    const CpuSample after = Sample(sink);

    used.thread += after.thread - before.thread;
    used.process += after.process - before.process;
    used.sink += after.sink - before.sink;
    delivered += std::uint64_t(report.sent);
    if (report.sent != kNotifications || report.failed() ||
        sink.requests() - requests_before != std::uint64_t(kNotifications)) {
      error = "delivered " + std::to_string(report.sent) + " of " + std::to_string(kNotifications) +
              " (sink saw " + std::to_string(sink.requests() - requests_before) + ", " +
              std::to_string(report.retried) + " to retry, " + std::to_string(report.dead) +
              " dead, " + std::to_string(report.store_errors) + " store errors)";
      state.SkipWithError(error.c_str());
      break;
    }
  }
  store.reset();
  fs::remove_all(dir);
  if (!error.empty()) return;

  const double n = double(delivered);
  state.SetItemsProcessed(std::int64_t(delivered));
  state.counters["thread_us/notif"] = used.thread * 1e6 / n;
  state.counters["proc_us/notif"] = (used.process - used.sink) * 1e6 / n;
  state.counters["sink_us/notif"] = used.sink * 1e6 / n;
}
BENCHMARK(BM_DeliveryEngine)
    ->ArgNames({"C", "latency_ms"})
    ->ArgsProduct({{1, 16, 64}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace digestd::bench

BENCHMARK_MAIN();
