// RunCommand: the `exec` notifier's transport. Runs argv with no shell, feeds `input` on
// stdin, captures stdout and stderr together (bounded), and kills the process group when the
// timeout passes or `cancel` is set. Blocks the calling thread; the delivery engine calls it
// from a worker thread per run. Thread-safe (no shared state).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace digestd {

struct CommandRun {
  std::vector<std::string> argv;  // argv[0]: an absolute path, or a name looked up in PATH
  std::vector<std::pair<std::string, std::string>> env;  // the whole environment
  std::string input;                                     // written to stdin, which is then closed
  std::chrono::milliseconds timeout{30000};
  std::size_t max_output = 64 * 1024;  // bytes of stdout+stderr kept; the rest is read and dropped
};

struct CommandResult {
  bool started = false;    // false: could not start (see `error`)
  bool timed_out = false;  // killed at the timeout
  bool cancelled = false;  // killed because `cancel` was set
  int exit_code = -1;      // when it exited; -1 when killed by a signal
  int signal = 0;          // the signal that ended it, if any
  std::string output;      // stdout and stderr interleaved, from at most max_output
                           // bytes read (see RunCommand for how it is made safe)
  std::string error;       // why it did not start, or how it ended abnormally
  int start_errno = 0;     // when it did not start: ENOENT (no such program),
                           // EACCES (not executable), EINVAL (malformed), or 0
};

// Runs the command to its end (or the timeout, or `cancel`). Never throws.
// Not started (started=false, `error` names argv[0]): empty argv, a relative path with a '/',
// a name not found or not executable (a bare name is looked up in the PATH of `env`, default
// "/usr/local/bin:/usr/bin:/bin"; empty and relative PATH entries are skipped), a file the
// kernel cannot execute (no shell fallback), or a NUL byte / bad variable name in argv or env.
// The child gets its own process group, an empty signal mask, every signal at its default
// action and no descriptor of ours but stdin/stdout/stderr. At the timeout or `cancel` the
// group gets SIGTERM, then SIGKILL 500 ms later. After the command exits, anything it left
// behind that still holds the output open gets 500 ms more, then SIGKILL; background processes
// that closed the output are left alone. A normal exit, whatever its code, leaves `error` empty.
// `output` is valid UTF-8 with every control character but \n and \t (C0, DEL, C1) replaced
// by U+FFFD and "\r\n" turned into "\n"; when cut, it ends in "[output cut at N bytes of M]".
// The process-wide SIGPIPE disposition is never changed.
CommandResult RunCommand(const CommandRun& run, const std::atomic<bool>* cancel = nullptr);

}  // namespace digestd
