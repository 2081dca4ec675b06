// End-to-end benchmark: the real digestd binary on generated digests and watch sets.
// Measures `digestd once` (wall time, CPU, peak RSS) for a first run that notifies and for
// a second run that finds nothing new, and `digestd run` idling (RSS, wakeups over 5 s).
// Usage: e2e_bench [PAPERS [WATCHES]]  (default 10000 papers, 1000 watches)
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/synthetic.h"

namespace {

namespace fs = std::filesystem;
using digestd::bench::KeywordWatches;
using digestd::bench::MarkdownDigest;

struct RunFigures {
  int status = -1;
  double wall_ms = 0;
  double cpu_ms = 0;
  long peak_rss_kb = 0;
};

pid_t Spawn(const std::vector<std::string>& args) {
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
  f.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                  .count();
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
  Print("once (first run, notify)", Run({DIGESTD_BINARY, "once", "--config", cfg, "--date",
                                         "2024-01-29"}));
  std::ifstream matches(dir / "matches.jsonl");
  std::size_t lines = 0;
  for (std::string l; std::getline(matches, l);) ++lines;
  std::printf("%-34s %zu JSON lines\n", "  notifications delivered", lines);
  Print("once (again, nothing new)", Run({DIGESTD_BINARY, "once", "--config", cfg, "--date",
                                          "2024-01-29"}));

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
  if (std::getenv("DIGESTD_E2E_KEEP") == nullptr) fs::remove_all(dir);
  else std::printf("kept %s\n", dir.c_str());
  return 0;
}
