#include "daemon/exec_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>
#include <system_error>

#include "core/result.h"
#include "core/utf8.h"

namespace digestd {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::string_view kDefaultPath = "/usr/local/bin:/usr/bin:/bin";
// How often the loop wakes to look at `cancel` and at the child, at the longest.
constexpr milliseconds kTick{100};
// Between SIGTERM and SIGKILL; also how long output may stay open after the command exits.
constexpr milliseconds kGrace{500};
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

std::string ErrnoText(int err) { return std::generic_category().message(err); }

// Owns one file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Close();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Close(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

// A close-on-exec pipe whose ends are both above 2, so that dup2 onto the child's 0/1/2
// never lands on one of them (a daemon started with a closed stdin would otherwise hand
// out fd 0 here).
Result<Pipe> MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Unexpected("cannot create a pipe: " + ErrnoText(errno));
  Pipe pipe{.read = UniqueFd(fds[0]), .write = UniqueFd(fds[1])};
  for (UniqueFd* end : {&pipe.read, &pipe.write}) {
    if (end->get() > 2) continue;
    const int moved = ::fcntl(end->get(), F_DUPFD_CLOEXEC, 3);
    if (moved < 0) return Unexpected("cannot create a pipe: " + ErrnoText(errno));
    *end = UniqueFd(moved);
  }
  return pipe;
}

bool SetNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

// "" when `path` is a regular file this process may execute, else why not.
std::string WhyNotExecutable(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoText(errno);
  if (S_ISDIR(st.st_mode)) return "it is a directory";
  if (!S_ISREG(st.st_mode)) return "it is not a regular file";
  if (::faccessat(AT_FDCWD, path.c_str(), X_OK, AT_EACCESS) != 0) return ErrnoText(errno);
  return "";
}

// The first value of `name` in `env` (what getenv in the child would see).
std::optional<std::string_view> EnvValue(const CommandRun& run, std::string_view name) {
  for (const auto& [key, value] : run.env) {
    if (key == name) return value;
  }
  return std::nullopt;
}

// The program to execute for argv[0]: an absolute path as given, or a bare name looked up in
// the PATH of the child's environment (not ours, which posix_spawnp would use). Empty and
// relative PATH entries are skipped: the daemon's working directory is no place to find
// programs in.
Result<std::string> FindProgram(const CommandRun& run) {
  const std::string& name = run.argv[0];
  if (name.find('/') != std::string::npos) {
    if (name.front() != '/') {
      return Unexpected("command '" + name +
                        "' must be an absolute path or a bare name looked up in PATH");
    }
    if (std::string why = WhyNotExecutable(name); !why.empty()) {
      return Unexpected("cannot run command '" + name + "': " + why);
    }
    return name;
  }
  const std::string_view path = EnvValue(run, "PATH").value_or(kDefaultPath);
  std::string first_refusal;  // a match that exists but cannot be executed
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view dir = path.substr(start, end - start);
    start = end + 1;
    if (dir.empty() || dir.front() != '/') continue;
    std::string candidate(dir);
    if (candidate.back() != '/') candidate += '/';
    candidate += name;
    std::string why = WhyNotExecutable(candidate);
    if (why.empty()) return candidate;
    if (first_refusal.empty() && ::access(candidate.c_str(), F_OK) == 0) {
      first_refusal = "cannot run command '" + candidate + "': " + why;
    }
  }
  if (!first_refusal.empty()) return Unexpected(first_refusal);
  return Unexpected("command '" + name + "' not found in PATH (" + std::string(path) + ")");
}

// Refuses what execve cannot carry faithfully: NUL bytes, and variable names that are empty
// or contain '='.
std::string CheckCommand(const CommandRun& run) {
  if (run.argv.empty() || run.argv[0].empty()) return "no command given";
  for (const std::string& arg : run.argv) {
    if (arg.find('\0') != std::string::npos) {
      return "an argument of command '" + run.argv[0] + "' contains a NUL byte";
    }
  }
  for (const auto& [key, value] : run.env) {
    if (key.empty() || key.find('=') != std::string::npos || key.find('\0') != std::string::npos) {
      return "environment variable name '" + ToValidUtf8(key) + "' for command '" + run.argv[0] +
             "' is empty or contains '=' or a NUL byte";
    }
    if (value.find('\0') != std::string::npos) {
      return "environment variable " + key + " for command '" + run.argv[0] +
             "' contains a NUL byte";
    }
  }
  return "";
}

// A NULL-terminated char* array over `strings`, which must outlive it.
std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

struct SpawnAttr {
  SpawnAttr() { ::posix_spawnattr_init(&attr); }
  ~SpawnAttr() { ::posix_spawnattr_destroy(&attr); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
  posix_spawnattr_t attr;
};

struct SpawnActions {
  SpawnActions() { ::posix_spawn_file_actions_init(&actions); }
  ~SpawnActions() { ::posix_spawn_file_actions_destroy(&actions); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  posix_spawn_file_actions_t actions;
};

struct Child {
  pid_t pid = -1;
  UniqueFd stdin_write;  // ours, non-blocking
  UniqueFd output_read;  // ours, non-blocking; the child's stdout and stderr
};

// Starts `program` in a process group of its own, with stdin and stdout+stderr on fresh pipes,
// no other descriptor of ours, an empty signal mask and every signal at its default action.
// glibc's posix_spawn reports a failed exec as its return value, so an error here means the
// command did not run.
Result<Child> Spawn(const std::string& program, const CommandRun& run) {
  Result<Pipe> in = MakePipe();
  if (!in) return Unexpected(in.error());
  Result<Pipe> out = MakePipe();
  if (!out) return Unexpected(out.error());

  SpawnActions file;
  SpawnAttr spawn;
  sigset_t no_signals;
  sigset_t all_signals;
  sigemptyset(&no_signals);
  sigfillset(&all_signals);
  int rc = ::posix_spawn_file_actions_adddup2(&file.actions, in->read.get(), STDIN_FILENO);
  if (rc == 0) rc = ::posix_spawn_file_actions_adddup2(&file.actions, out->write.get(), 1);
  if (rc == 0) rc = ::posix_spawn_file_actions_adddup2(&file.actions, out->write.get(), 2);
  // O_CLOEXEC covers our own descriptors; this also covers those other threads and libraries
  // opened without it.
  if (rc == 0) rc = ::posix_spawn_file_actions_addclosefrom_np(&file.actions, 3);
  if (rc == 0) {
    rc = ::posix_spawnattr_setflags(
        &spawn.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  if (rc == 0) rc = ::posix_spawnattr_setpgroup(&spawn.attr, 0);
  if (rc == 0) rc = ::posix_spawnattr_setsigmask(&spawn.attr, &no_signals);
  if (rc == 0) rc = ::posix_spawnattr_setsigdefault(&spawn.attr, &all_signals);
  if (rc != 0) return Unexpected("cannot set up command '" + run.argv[0] + "': " + ErrnoText(rc));

  std::vector<std::string> argv = run.argv;
  std::vector<std::string> env;
  env.reserve(run.env.size());
  for (const auto& [key, value] : run.env) env.push_back(key + "=" + value);
  std::vector<char*> argv_ptrs = CStrings(argv);
  std::vector<char*> env_ptrs = CStrings(env);

  Child child;
  rc = ::posix_spawn(&child.pid, program.c_str(), &file.actions, &spawn.attr, argv_ptrs.data(),
                     env_ptrs.data());
  if (rc != 0) return Unexpected("cannot run command '" + program + "': " + ErrnoText(rc));
  child.stdin_write = std::move(in->write);
  child.output_read = std::move(out->read);
  // Non-blocking on our ends only: each pipe end is its own open file description, so the
  // child's ends stay blocking.
  if (!SetNonBlocking(child.stdin_write.get())) child.stdin_write.Close();
  if (!SetNonBlocking(child.output_read.get())) child.output_read.Close();
  return child;
}

// write() that cannot raise SIGPIPE, without touching the process-wide disposition: SIGPIPE is
// blocked in this thread for the call, and the one the write raised (EPIPE) is taken off the
// pending set before the mask is restored. A SIGPIPE already pending before is left alone.
ssize_t WriteWithoutSigpipe(int fd, std::string_view data) {
  sigset_t sigpipe;
  sigemptyset(&sigpipe);
  sigaddset(&sigpipe, SIGPIPE);
  sigset_t old_mask;
  ::pthread_sigmask(SIG_BLOCK, &sigpipe, &old_mask);
  sigset_t pending;
  sigemptyset(&pending);
  ::sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;

  const ssize_t n = ::write(fd, data.data(), data.size());
  const int saved_errno = errno;
  if (n < 0 && saved_errno == EPIPE && !was_pending) {
    const timespec no_wait{};
    while (::sigtimedwait(&sigpipe, nullptr, &no_wait) < 0 && errno == EINTR) {
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  errno = saved_errno;
  return n;
}

// Moves input into the child and output out of it, keeping the first `max_output` bytes.
class Pump {
 public:
  Pump(Child& child, std::string_view input, std::size_t max_output)
      : in_(child.stdin_write), out_(child.output_read), input_(input), max_output_(max_output) {
    if (input_.empty()) in_.Close();
  }

  bool output_open() const { return out_.valid(); }
  void StopInput() { in_.Close(); }

  // Waits up to `wait` for either pipe to be ready and serves it. With both pipes closed
  // it only sleeps, growing the sleep from 1 ms so a child that has just closed its output
  // is reaped promptly.
  void Step(milliseconds wait) {
    pollfd fds[2];
    nfds_t count = 0;
    if (out_.valid()) fds[count++] = {.fd = out_.get(), .events = POLLIN, .revents = 0};
    if (in_.valid()) fds[count++] = {.fd = in_.get(), .events = POLLOUT, .revents = 0};
    if (count == 0) {
      idle_wait_ = std::min(std::max(idle_wait_ * 2, milliseconds(1)), kTick);
      wait = std::min(wait, idle_wait_);
    }
    const int ready = ::poll(fds, count, static_cast<int>(std::max(wait, milliseconds(0)).count()));
    if (ready <= 0) return;  // timeout, or EINTR: the caller loops
    for (nfds_t i = 0; i < count; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == out_.get()) {
        Read();
      } else if (fds[i].fd == in_.get()) {
        Write();
      }
    }
  }

  // Reads whatever is in the output pipe now, without waiting.
  void Read() {
    char buffer[kReadChunk];
    while (out_.valid()) {
      const ssize_t n = ::read(out_.get(), buffer, sizeof buffer);
      if (n > 0) {
        Keep(std::string_view(buffer, static_cast<std::size_t>(n)));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      out_.Close();  // end of output, or an error we cannot recover from
    }
  }

  std::size_t total() const { return total_; }
  std::string TakeOutput() { return std::move(kept_); }

 private:
  void Keep(std::string_view bytes) {
    total_ += bytes.size();
    if (kept_.size() < max_output_) {
      kept_.append(bytes.substr(0, max_output_ - kept_.size()));
    }
  }

  void Write() {
    while (in_.valid() && !input_.empty()) {
      const ssize_t n = WriteWithoutSigpipe(in_.get(), input_);
      if (n > 0) {
        input_.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      in_.Close();  // EPIPE: the child closed its stdin without reading it all
      return;
    }
    in_.Close();  // all written: the child sees end of input
  }

  UniqueFd& in_;
  UniqueFd& out_;
  std::string_view input_;
  std::size_t max_output_;
  std::string kept_;
  std::size_t total_ = 0;
  milliseconds idle_wait_{0};
};

// True once the child has ended. It stays a zombie until reaped, so its pid, which is also
// its process group's id, cannot be reused while we may still signal the group.
bool HasExited(pid_t pid) {
  siginfo_t info;
  info.si_pid = 0;
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

// The child and everything in its process group. Only called before the child is reaped.
void SignalGroup(pid_t pid, int sig) {
  ::kill(-pid, sig);
  ::kill(pid, sig);  // in case it left the group
}

int Reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

milliseconds Until(Clock::time_point deadline) {
  return std::max(std::chrono::ceil<milliseconds>(deadline - Clock::now()), milliseconds(0));
}

std::string SignalName(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

// `kept` cut at a whole UTF-8 character, so that the cut does not make a U+FFFD of its own.
void DropPartialCharacter(std::string& kept) {
  std::size_t lead = kept.size();
  for (int back = 0; back < 4 && lead > 0; ++back) {
    const auto byte = static_cast<unsigned char>(kept[--lead]);
    if ((byte & 0xC0) == 0x80) continue;  // a continuation byte: keep looking for the lead
    const std::size_t length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1;
    if (lead + length > kept.size()) kept.resize(lead);
    return;
  }
}

// Valid UTF-8 that is safe to print on a terminal: every control character but \n and \t
// (C0, DEL and the C1 range, whose U+009B starts an escape sequence on some terminals) becomes
// U+FFFD, and "\r\n" becomes "\n".
std::string ForTerminal(std::string_view raw) {
  const std::string valid = ToValidUtf8(raw);
  std::string out;
  out.reserve(valid.size());
  for (std::size_t i = 0; i < valid.size(); ++i) {
    const auto byte = static_cast<unsigned char>(valid[i]);
    if (byte == '\r' && i + 1 < valid.size() && valid[i + 1] == '\n') continue;
    if ((byte < 0x20 && byte != '\n' && byte != '\t') || byte == 0x7F) {
      out += kReplacement;
    } else if (byte == 0xC2 && i + 1 < valid.size() &&
               static_cast<unsigned char>(valid[i + 1]) < 0xA0) {
      out += kReplacement;  // U+0080..U+009F, encoded C2 80..C2 9F
      ++i;
    } else {
      out += valid[i];
    }
  }
  return out;
}

}  // namespace

CommandResult RunCommand(const CommandRun& run, const std::atomic<bool>* cancel) {
  CommandResult result;
  if (std::string problem = CheckCommand(run); !problem.empty()) {
    result.error = std::move(problem);
    result.start_errno = EINVAL;
    return result;
  }
  Result<std::string> program = FindProgram(run);
  if (!program) {
    result.error = program.error().message;
    // Nothing of that name exists (ENOENT), or something does but cannot be run (EACCES).
    const std::string& name = run.argv[0];
    const bool exists = name.find('/') != std::string::npos
                            ? ::access(name.c_str(), F_OK) == 0
                            : result.error.find("not found in PATH") == std::string::npos;
    result.start_errno = exists ? EACCES : ENOENT;
    return result;
  }
  const auto deadline = Clock::now() + run.timeout;
  Result<Child> spawned = Spawn(*program, run);
  if (!spawned) {
    result.error = spawned.error().message;
    return result;
  }
  result.started = true;
  Child& child = *spawned;
  Pump pump(child, run.input, run.max_output);
  const auto cancelled = [cancel] { return cancel && cancel->load(); };

  // Run until the command exits, the timeout passes or the caller cancels.
  bool exited = HasExited(child.pid);
  for (; !exited; exited = HasExited(child.pid)) {
    if (cancelled()) {
      result.cancelled = true;
      break;
    }
    if (Clock::now() >= deadline) {
      result.timed_out = true;
      break;
    }
    pump.Step(std::min(Until(deadline), kTick));
  }

  if (!exited) {
    // Ask the whole group to stop, keep draining so that nobody blocks on a full pipe while
    // shutting down, then kill what is left.
    SignalGroup(child.pid, SIGTERM);
    const auto grace_end = Clock::now() + kGrace;
    while (Clock::now() < grace_end && !(HasExited(child.pid) && !pump.output_open())) {
      pump.Step(std::min(Until(grace_end), kTick));
    }
    SignalGroup(child.pid, SIGKILL);
  } else {
    // Whatever it started in the background may still hold the output open: read on for a
    // short while, then kill the holders rather than wait for them.
    pump.StopInput();
    const auto linger_end = std::min(Clock::now() + kGrace, deadline);
    while (pump.output_open() && Clock::now() < linger_end && !cancelled()) {
      pump.Step(std::min(Until(linger_end), kTick));
    }
    if (pump.output_open()) SignalGroup(child.pid, SIGKILL);
  }
  pump.Read();
  const int status = Reap(child.pid);

  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  if (result.timed_out) {
    result.error = "command '" + run.argv[0] + "' timed out after " +
                   std::to_string(run.timeout.count()) + " ms and was stopped";
  } else if (result.cancelled) {
    result.error = "command '" + run.argv[0] + "' was cancelled and stopped";
  } else if (result.signal != 0) {
    result.error = "command '" + run.argv[0] + "' was killed by " + SignalName(result.signal);
  }

  const std::size_t total = pump.total();
  std::string kept = pump.TakeOutput();
  const bool cut = total > kept.size();
  if (cut) DropPartialCharacter(kept);
  result.output = ForTerminal(kept);
  if (cut) {
    if (!result.output.empty() && result.output.back() != '\n') result.output += '\n';
    result.output += "[output cut at " + std::to_string(run.max_output) + " bytes of " +
                     std::to_string(total) + "]";
  }
  return result;
}

}  // namespace digestd
