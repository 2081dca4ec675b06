#include "daemon/exec_runner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/utf8.h"
#include "tests/support/temp_dir.h"

namespace digestd {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kReplacement = "\xEF\xBF\xBD";

// A run with a plain PATH and a timeout long enough that hitting it means a bug.
CommandRun Command(std::vector<std::string> argv) {
  return CommandRun{.argv = std::move(argv), .env = {{"PATH", "/usr/bin:/bin"}}, .timeout = 60s};
}

CommandRun Shell(const std::string& script) { return Command({"/bin/sh", "-c", script}); }

int CountOpenFds() {
  int count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

// True once `pid` has ended: gone from /proc, or a zombie nobody reaped yet (whoever adopts
// orphans here may not reap them at once, or at all).
bool HasEnded(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  const std::size_t paren = line.rfind(')');
  return paren == std::string::npos || line.substr(paren + 2, 1) == "Z";
}

bool EndsWithin(pid_t pid, std::chrono::seconds limit) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (HasEnded(pid)) return true;
    std::this_thread::sleep_for(20ms);
  }
  return HasEnded(pid);
}

pid_t FirstLineAsPid(const std::string& output) {
  return static_cast<pid_t>(std::stol(output.substr(0, output.find('\n'))));
}

std::string WriteExecutable(const test::TempDir& dir, const std::string& name,
                            const std::string& contents, mode_t mode = 0755) {
  const std::string path = dir.Write(name, contents);
  EXPECT_EQ(::chmod(path.c_str(), mode), 0);
  return path;
}

TEST(ExecRunner, ExitZeroWithOutputCaptured) {
  const CommandResult r = RunCommand(Command({"/bin/echo", "hello", "world"}));
  EXPECT_TRUE(r.started);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.signal, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.cancelled);
  EXPECT_EQ(r.output, "hello world\n");
  EXPECT_EQ(r.error, "");
}

TEST(ExecRunner, ExitCodeIsReported) {
  const CommandResult r = RunCommand(Shell("echo 'try later'; exit 75"));
  EXPECT_TRUE(r.started);
  EXPECT_EQ(r.exit_code, 75);
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.output, "try later\n");
  EXPECT_EQ(r.error, "");
}

TEST(ExecRunner, InputArrivesOnStdinWhichIsThenClosed) {
  CommandRun run = Command({"/bin/cat"});
  run.input = "line one\nline two\n";
  const CommandResult r = RunCommand(run);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out);  // cat saw end of input
  EXPECT_EQ(r.output, run.input);

  run.input = "";
  EXPECT_EQ(RunCommand(run).exit_code, 0);
}

TEST(ExecRunner, StdoutAndStderrAreInterleavedInOrder) {
  const CommandResult r = RunCommand(Shell("echo out1; echo err1 >&2; echo out2; echo err2 >&2"));
  EXPECT_EQ(r.output, "out1\nerr1\nout2\nerr2\n");
}

TEST(ExecRunner, EnvironmentIsExactlyTheGivenOne) {
  CommandRun run = Command({"/usr/bin/env"});
  run.env = {{"A", "1"}, {"B", "two words"}, {"EMPTY", ""}};
  EXPECT_EQ(RunCommand(run).output, "A=1\nB=two words\nEMPTY=\n");

  run.env.clear();
  const CommandResult r = RunCommand(run);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "");
}

TEST(ExecRunner, BareNameIsFoundThroughTheGivenPath) {
  test::TempDir dir;
  // The first match cannot be executed, so the search goes on, as execvp's does.
  WriteExecutable(dir, "first/digestd-probe", "#!/bin/sh\necho wrong\n", 0644);
  WriteExecutable(dir, "second/digestd-probe", "#!/bin/sh\necho \"probe $*\"\n");
  CommandRun run = Command({"digestd-probe", "a", "b"});
  run.env = {{"PATH", "relative/dir::" + dir.File("first") + ":" + dir.File("second") + "/"}};
  const CommandResult r = RunCommand(run);
  EXPECT_TRUE(r.started) << r.error;
  EXPECT_EQ(r.output, "probe a b\n");
}

TEST(ExecRunner, LookupUsesTheGivenPathNotOurs) {
  test::TempDir empty;
  CommandRun run = Command({"sh", "-c", "true"});
  run.env = {{"PATH", empty.path()}};
  const CommandResult r = RunCommand(run);
  EXPECT_FALSE(r.started);
  EXPECT_NE(r.error.find("'sh' not found in PATH"), std::string::npos) << r.error;
}

TEST(ExecRunner, DefaultPathWhenEnvHasNone) {
  CommandRun run = Command({"sh", "-c", "echo ok"});
  run.env.clear();
  const CommandResult r = RunCommand(run);
  EXPECT_TRUE(r.started) << r.error;
  EXPECT_EQ(r.output, "ok\n");
}

TEST(ExecRunner, MissingCommandDoesNotStart) {
  CommandResult r = RunCommand(Command({"/nonexistent-digestd/notify"}));
  EXPECT_FALSE(r.started);
  EXPECT_NE(r.error.find("/nonexistent-digestd/notify"), std::string::npos) << r.error;

  r = RunCommand(Command({"digestd-no-such-command"}));
  EXPECT_FALSE(r.started);
  EXPECT_NE(r.error.find("digestd-no-such-command"), std::string::npos) << r.error;
}

TEST(ExecRunner, UnexecutableFilesDoNotStart) {
  test::TempDir dir;
  const std::string not_executable = WriteExecutable(dir, "plain", "#!/bin/sh\n", 0644);
  // No "#!": a shell would run it; we run no shell.
  const std::string no_interpreter = WriteExecutable(dir, "script", "echo ran\n");
  for (const std::string& path : {not_executable, no_interpreter, dir.path()}) {
    const CommandResult r = RunCommand(Command({path}));
    EXPECT_FALSE(r.started) << path;
    EXPECT_NE(r.error.find(path), std::string::npos) << r.error;
    EXPECT_EQ(r.output, "");
  }
}

TEST(ExecRunner, MalformedCommandsDoNotStart) {
  EXPECT_FALSE(RunCommand(Command({})).started);
  EXPECT_FALSE(RunCommand(Command({""})).started);
  EXPECT_FALSE(RunCommand(Command({"bin/echo"})).started);  // relative to what?
  EXPECT_FALSE(RunCommand(Command({"/bin/echo", std::string("a\0b", 3)})).started);
  CommandRun run = Command({"/bin/true"});
  run.env = {{"A=B", "c"}};
  const CommandResult r = RunCommand(run);
  EXPECT_FALSE(r.started);
  EXPECT_NE(r.error.find("A=B"), std::string::npos) << r.error;
}

TEST(ExecRunner, DeathBySignalIsReported) {
  const CommandResult r = RunCommand(Shell("kill -KILL $$"));
  EXPECT_TRUE(r.started);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_NE(r.error.find("SIGKILL"), std::string::npos) << r.error;
}

TEST(ExecRunner, TimeoutStopsTheCommand) {
  CommandRun run = Command({"/bin/sleep", "30"});
  run.timeout = 300ms;
  const auto start = Clock::now();
  const CommandResult r = RunCommand(run);
  EXPECT_LT(Clock::now() - start, 10s);
  EXPECT_TRUE(r.started);
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.cancelled);
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_NE(r.error.find("timed out"), std::string::npos) << r.error;
}

TEST(ExecRunner, TimeoutStopsTheWholeProcessGroup) {
  CommandRun run = Shell("sleep 30 & echo $!; wait");
  run.timeout = 500ms;
  const auto start = Clock::now();
  const CommandResult r = RunCommand(run);
  EXPECT_LT(Clock::now() - start, 10s);
  EXPECT_TRUE(r.timed_out);
  ASSERT_FALSE(r.output.empty());
  EXPECT_TRUE(EndsWithin(FirstLineAsPid(r.output), 5s)) << "the background sleep survived";
}

TEST(ExecRunner, CommandIgnoringSigtermIsKilled) {
  CommandRun run = Shell("trap '' TERM; sleep 30");  // sleep inherits the ignored SIGTERM
  run.timeout = 300ms;
  const auto start = Clock::now();
  const CommandResult r = RunCommand(run);
  EXPECT_LT(Clock::now() - start, 10s);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
}

TEST(ExecRunner, CancelFromAnotherThreadStopsTheCommand) {
  std::atomic<bool> cancel = false;
  std::thread canceller([&cancel] {
    std::this_thread::sleep_for(200ms);
    cancel = true;
  });
  const auto start = Clock::now();
  const CommandResult r = RunCommand(Command({"/bin/sleep", "30"}), &cancel);
  canceller.join();
  EXPECT_LT(Clock::now() - start, 10s);
  EXPECT_TRUE(r.started);
  EXPECT_TRUE(r.cancelled);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.signal, SIGTERM);
}

TEST(ExecRunner, BackgroundProcessHoldingTheOutputIsKilledAfterTheCommandExits) {
  const auto start = Clock::now();
  const CommandResult r = RunCommand(Shell("sleep 30 & echo $!"));
  EXPECT_LT(Clock::now() - start, 10s);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_FALSE(r.output.empty());
  EXPECT_TRUE(EndsWithin(FirstLineAsPid(r.output), 5s));
}

TEST(ExecRunner, BackgroundProcessThatClosedTheOutputIsLeftAlone) {
  const CommandResult r = RunCommand(Shell("sleep 30 </dev/null >/dev/null 2>&1 & echo $!"));
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_FALSE(r.output.empty());
  const pid_t pid = FirstLineAsPid(r.output);
  EXPECT_FALSE(HasEnded(pid));
  ::kill(pid, SIGKILL);
}

TEST(ExecRunner, OutputBeyondTheLimitIsCutWithoutBlockingTheCommand) {
  CommandRun run = Shell("head -c 10000000 /dev/zero | tr '\\0' a");
  run.max_output = 64 * 1024;
  const CommandResult r = RunCommand(run);
  EXPECT_FALSE(r.timed_out);  // a child blocked on a full pipe would have hit the timeout
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, std::string(64 * 1024, 'a') + "\n[output cut at 65536 bytes of 10000000]");
}

TEST(ExecRunner, CutNeverSplitsACharacter) {
  CommandRun run = Command({"/bin/cat"});
  run.input = "ééééé";  // two bytes each
  run.max_output = 5;
  const CommandResult r = RunCommand(run);
  EXPECT_EQ(r.output, "éé\n[output cut at 5 bytes of 10]");
}

TEST(ExecRunner, OutputIsValidUtf8WithoutControlCharacters) {
  CommandRun run = Command({"/bin/cat"});
  run.input = "a\x1b[31mb\r\nc\td\xffy\xc2\x9bz\x7f\x07\n";
  const CommandResult r = RunCommand(run);
  EXPECT_TRUE(IsValidUtf8(r.output));
  EXPECT_EQ(r.output, "a" + kReplacement + "[31mb\nc\td" + kReplacement + "y" + kReplacement + "z" +
                          kReplacement + kReplacement + "\n");
}

TEST(ExecRunner, CommandThatNeverReadsStdinNeitherHangsNorRaisesSigpipe) {
  // With SIGPIPE ignored or blocked this test would pass whatever the runner does.
  struct sigaction before {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &before), 0);
  ASSERT_EQ(before.sa_handler, SIG_DFL);
  sigset_t mask;
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, nullptr, &mask), 0);
  ASSERT_FALSE(sigismember(&mask, SIGPIPE));

  const std::string mebibyte(1024 * 1024, 'x');
  for (const char* script : {"exit 0", "exec 0<&-; sleep 0.2; echo done"}) {
    CommandRun run = Shell(script);
    run.input = mebibyte;
    const CommandResult r = RunCommand(run);
    EXPECT_FALSE(r.timed_out) << script;
    EXPECT_EQ(r.exit_code, 0) << script;
  }

  struct sigaction after {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, SIG_DFL);
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, nullptr, &mask), 0);
  EXPECT_FALSE(sigismember(&mask, SIGPIPE));
  sigset_t pending;
  ASSERT_EQ(::sigpending(&pending), 0);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
}

TEST(ExecRunner, ChildStartsWithNoBlockedOrIgnoredSignals) {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction old_usr2 {};
  ASSERT_EQ(::sigaction(SIGUSR2, &ignore, &old_usr2), 0);
  CommandResult r;
  std::thread worker([&r] {  // a worker thread with signals blocked, as the daemon's are
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGUSR1);
    ::pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
    r = RunCommand(Command({"/bin/grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"}));
  });
  worker.join();
  ::sigaction(SIGUSR2, &old_usr2, nullptr);
  ASSERT_EQ(r.output.size(), 2 * std::string("SigXxx:\t0000000000000000\n").size()) << r.output;
  const std::uint64_t blocked = std::stoull(r.output.substr(8, 16), nullptr, 16);
  const std::uint64_t ignored = std::stoull(r.output.substr(33, 16), nullptr, 16);
  EXPECT_EQ(blocked, 0u) << r.output;
  // Bit n-1 is signal n. glibc's posix_spawn leaves its own internal signals (32 and 33)
  // ignored; the standard ones must all be at their default.
  EXPECT_EQ(ignored & 0x7FFFFFFFu, 0u) << r.output;
}

TEST(ExecRunner, ChildInheritsNoOtherDescriptor) {
  const int fd = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::dup2(fd, 100), 100);
  ::close(fd);
  const CommandResult r = RunCommand(Command({"/bin/ls", "/proc/self/fd"}));
  ::close(100);
  EXPECT_EQ(r.exit_code, 0);
  std::istringstream lines(r.output);
  std::vector<std::string> fds;
  for (std::string line; std::getline(lines, line);) fds.push_back(line);
  // 0, 1, 2 and the directory ls is reading.
  EXPECT_EQ(fds.size(), 4u) << r.output;
  EXPECT_EQ(std::count(fds.begin(), fds.end(), "100"), 0) << r.output;
}

TEST(ExecRunner, NoDescriptorLeaksOnAnyPath) {
  const int before = CountOpenFds();
  CommandRun cut = Shell("head -c 200000 /dev/zero");
  cut.max_output = 10;
  CommandRun timeout = Command({"/bin/sleep", "30"});
  timeout.timeout = 100ms;
  CommandRun unread = Command({"/bin/true"});
  unread.input = std::string(300000, 'x');
  for (const CommandRun& run : {Command({"/bin/echo", "hi"}), Command({"/nonexistent"}), cut,
                                timeout, unread, Shell("sleep 30 & echo")}) {
    const CommandResult r = RunCommand(run);
    EXPECT_EQ(r.started, run.argv[0] != "/nonexistent") << r.error;
  }
  EXPECT_EQ(CountOpenFds(), before);
}

}  // namespace
}  // namespace digestd
