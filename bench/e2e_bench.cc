// End-to-end benchmark: the real digestd binary on generated digests and watch sets.
// Measures `digestd once` (wall time, CPU, peak RSS) for a first run that notifies and for
// a second run that finds nothing new, `digestd run` idling (RSS, wakeups over 5 s), and how
// long `digestd run` takes to exit on SIGTERM (issue 7) while 1,000 webhook deliveries are in
// flight (64 at once, to a sink on 127.0.0.1 that reads and never answers), and while a
// fetch hangs on such a sink.
// Usage: e2e_bench [PAPERS [WATCHES]]  (default 10000 papers, 1000 watches)
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/responder.h"
#include "bench/synthetic.h"
#include "core/dates.h"

namespace {

namespace fs = std::filesystem;
using digestd::bench::KeywordWatches;
using digestd::bench::MarkdownDigest;
using digestd::bench::Responder;
using Steady = std::chrono::steady_clock;

constexpr int kStopRepeats = 5;
constexpr int kStopFetchRepeats = 3;
constexpr int kQueued = 1000;
constexpr int kInFlight = 64;

struct RunFigures {
  int status = -1;
  double wall_ms = 0;
  double cpu_ms = 0;
  long peak_rss_kb = 0;
};

pid_t Spawn(const std::vector<std::string>& args) {
  // Else the child's freopen writes our buffered stdout a second time (stdout a pipe).
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(126);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

RunFigures Run(const std::vector<std::string>& args) {
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = Spawn(args);
  RunFigures f;
  struct rusage usage {};
  wait4(pid, &f.status, 0, &usage);
  f.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  f.cpu_ms = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e3 +
             (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e3;
  f.peak_rss_kb = usage.ru_maxrss;
  return f;
}

long StatusField(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

std::string ExitText(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// Waits for `pid` to end, polling every 0.2 ms for at most `bound`; then kills it. Returns
// its wait status (-1: it had to be killed).
int WaitBounded(pid_t pid, std::chrono::milliseconds bound) {
  const auto deadline = Steady::now() + bound;
  int status = 0;
  while (Steady::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

std::string TodayUtc() { return digestd::UtcTimestamp(std::time(nullptr)).substr(0, 10); }

struct StopFigures {
  std::vector<double> ms;
  std::vector<std::string> exits;
  std::string error;  // why a repetition could not be measured
};

// Starts `digestd run --config cfg` `repeats` times on a fresh state file, waits until
// `seen()` reaches `wanted` (the work is in flight), sends SIGTERM and times the exit.
template <typename Seen>
StopFigures TimeSigterm(const fs::path& dir, const std::string& cfg, const std::string& state,
                        int repeats, std::uint64_t wanted, Seen seen) {
  StopFigures f;
  for (int i = 0; i < repeats; ++i) {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(dir / (state + suffix));
    const std::uint64_t before = seen();
    const pid_t pid = Spawn({DIGESTD_BINARY, "run", "--config", cfg});
    const auto give_up = Steady::now() + std::chrono::seconds(20);
    int status = 0;
    while (seen() - before < wanted && Steady::now() < give_up) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        f.error = "digestd run ended before the work was in flight: " + ExitText(status);
        return f;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (seen() - before < wanted) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      f.error = "only " + std::to_string(seen() - before) + " of " + std::to_string(wanted) +
                " seen within 20 s";
      return f;
    }
    const auto start = Steady::now();
    kill(pid, SIGTERM);
    status = WaitBounded(pid, std::chrono::seconds(20));
    f.ms.push_back(std::chrono::duration<double, std::milli>(Steady::now() - start).count());
    f.exits.push_back(status == -1 ? std::string("killed after 20 s") : ExitText(status));
  }
  return f;
}

void PrintStop(const char* what, const StopFigures& f) {
  if (!f.error.empty()) {
    std::printf("%-34s FAILED: %s\n", what, f.error.c_str());
    return;
  }
  std::vector<double> sorted = f.ms;
  std::sort(sorted.begin(), sorted.end());
  std::printf("%-34s min %7.1f ms  median %7.1f ms  max %7.1f ms  (n=%zu)  exits:", what,
              sorted.front(), sorted[sorted.size() / 2], sorted.back(), sorted.size());
  for (const std::string& e : f.exits) std::printf(" %s;", e.c_str());
  std::printf("\n");
}

void Print(const char* what, const RunFigures& f) {
  std::printf("%-34s exit %d  wall %8.1f ms  cpu %8.1f ms  peak RSS %6.1f MB\n", what,
              WIFEXITED(f.status) ? WEXITSTATUS(f.status) : -1, f.wall_ms, f.cpu_ms,
              f.peak_rss_kb / 1024.0);
}

}  // namespace

int main(int argc, char** argv) {
  const int papers = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int watches = argc > 2 ? std::atoi(argv[2]) : 1000;
  const fs::path dir = fs::temp_directory_path() / ("digestd-e2e-" + std::to_string(getpid()));
  fs::create_directories(dir / "digests/2024/01");
  std::ofstream(dir / "digests/2024/01/29.md") << MarkdownDigest(papers);

  std::ostringstream config;
  config << "[daemon]\nstate = \"state.db\"\nlog_level = \"warn\"\n\n"
         << "[[source]]\nname = \"hf-ko\"\nkind = \"markdown\"\n"
         << "url = \"file://" << (dir / "digests").string() << "/{date:%Y/%m/%d}.md\"\n"
         << "lookback_days = 0\nfirst_run = \"notify\"\nschedule = \"0 8 * * *\"\n\n"
         << "[[notifier]]\nname = \"log\"\nkind = \"file\"\npath = \"matches.jsonl\"\n\n";
  for (const auto& w : KeywordWatches(watches)) {
    config << "[[watch]]\nname = \"" << w.name << "\"\nkeywords = [";
    for (std::size_t i = 0; i < w.keywords.size(); ++i) {
      config << (i ? ", " : "") << "\"" << w.keywords[i] << "\"";
    }
    config << "]\nnotify = [\"log\"]\n\n";
  }
  std::ofstream(dir / "digestd.toml") << config.str();
  const std::string cfg = (dir / "digestd.toml").string();

  std::printf("digestd end-to-end: %d papers (%.1f MB digest), %d watches\n", papers,
              double(fs::file_size(dir / "digests/2024/01/29.md")) / 1e6, watches);
  Print("check", Run({DIGESTD_BINARY, "check", "--config", cfg}));
  Print("once (first run, notify)",
        Run({DIGESTD_BINARY, "once", "--config", cfg, "--date", "2024-01-29"}));
  std::ifstream matches(dir / "matches.jsonl");
  std::size_t lines = 0;
  for (std::string l; std::getline(matches, l);) ++lines;
  std::printf("%-34s %zu JSON lines\n", "  notifications delivered", lines);
  Print("once (again, nothing new)",
        Run({DIGESTD_BINARY, "once", "--config", cfg, "--date", "2024-01-29"}));

  // Idle: `run` after its start-up cycle, sampled over 5 s.
  const pid_t pid = Spawn({DIGESTD_BINARY, "run", "--config", cfg});
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const long switches_before = StatusField(pid, "voluntary_ctxt_switches");
  std::this_thread::sleep_for(std::chrono::seconds(5));
  const long switches_after = StatusField(pid, "voluntary_ctxt_switches");
  std::printf("%-34s VmRSS %.1f MB, VmHWM %.1f MB, threads %ld, wakeups in 5 s: %ld\n",
              "run (idle)", StatusField(pid, "VmRSS") / 1024.0, StatusField(pid, "VmHWM") / 1024.0,
              StatusField(pid, "Threads"), switches_after - switches_before);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  std::printf("%-34s exit %d\n", "run (SIGTERM)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);

  // SIGTERM while deliveries are in flight: the start-up cycle queues kQueued matches of
  // today's digest (the source's {date} in UTC) and the engine keeps kInFlight of them waiting
  // on a sink that never answers.
  {
    Responder hung({.answer = false});
    const std::string today = TodayUtc();
    fs::create_directories(dir / "today");
    std::ofstream(dir / "today" / (today + ".md")) << MarkdownDigest(kQueued, today);
    std::ostringstream stop_config;
    stop_config << "[daemon]\nstate = \"stop.db\"\nlog_level = \"warn\"\n\n"
                << "[[source]]\nname = \"papers\"\nkind = \"markdown\"\n"
                << "url = \"file://" << (dir / "today").string() << "/{date}.md\"\n"
                << "lookback_days = 0\nfirst_run = \"notify\"\nschedule = \"0 8 * * *\"\n\n"
                << "[[notifier]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"" << hung.Url()
                << "\"\nmax_in_flight = " << kInFlight << "\n\n"
                << "[[watch]]\nname = \"everything\"\nquery = \"*\"\nnotify = [\"hook\"]\n";
    std::ofstream(dir / "stop.toml") << stop_config.str();
    PrintStop("run: SIGTERM, 64 deliveries hung",
              TimeSigterm(dir, (dir / "stop.toml").string(), "stop.db", kStopRepeats, kInFlight,
                          [&] { return hung.connections(); }));

    // The same with the start-up fetch itself hanging (an HTTP source that never answers).
    std::ostringstream fetch_config;
    fetch_config << "[daemon]\nstate = \"fetch.db\"\nlog_level = \"warn\"\n\n"
                 << "[[source]]\nname = \"papers\"\nkind = \"markdown\"\n"
                 << "url = \"http://127.0.0.1:" << hung.port() << "/{date}.md\"\n"
                 << "lookback_days = 0\nfirst_run = \"notify\"\nschedule = \"0 8 * * *\"\n\n"
                 << "[[notifier]]\nname = \"log\"\nkind = \"file\"\npath = \"fetch.jsonl\"\n\n"
                 << "[[watch]]\nname = \"everything\"\nquery = \"*\"\nnotify = [\"log\"]\n";
    std::ofstream(dir / "fetch.toml") << fetch_config.str();
    PrintStop("run: SIGTERM, fetch hung",
              TimeSigterm(dir, (dir / "fetch.toml").string(), "fetch.db", kStopFetchRepeats, 1,
                          [&] { return hung.requests(); }));
  }
  if (std::getenv("DIGESTD_E2E_KEEP") == nullptr)
    fs::remove_all(dir);
  else
    std::printf("kept %s\n", dir.c_str());
  return 0;
}
