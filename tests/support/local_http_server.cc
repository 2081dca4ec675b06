#include "tests/support/local_http_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace digestd::test {
namespace {

// Debian's interpreter on purpose: the python3 first on PATH may be another one.
constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kScript = DIGESTD_TEST_SUPPORT "/http_server.py";
constexpr auto kStartupTimeout = std::chrono::seconds(10);
constexpr const char* kProxyVariables[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                           "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Reads the first line the child prints, giving up after kStartupTimeout.
bool ReadFirstLine(int fd, std::string& line, std::string& error) {
  const auto deadline = std::chrono::steady_clock::now() + kStartupTimeout;
  line.clear();
  while (line.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      error = "timed out waiting for the server's port";
      return false;
    }
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) {
      error = Errno("poll");
      return false;
    }
    if (ready == 0) continue;
    char buf[64];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = "the server exited before printing its port";
      return false;
    }
    line.append(buf, static_cast<size_t>(n));
  }
  line.resize(line.find('\n'));
  return true;
}

}  // namespace

LocalHttpServer::LocalHttpServer(std::vector<std::string> extra_args) {
  int in_pipe[2];   // test -> child stdin
  int out_pipe[2];  // child stdout -> test
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
    error_ = Errno("pipe2");
    return;
  }
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    error_ = Errno("pipe2");
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    return;
  }

  // dup2 clears close-on-exec on the target descriptors, so only stdin and stdout (and the
  // inherited stderr, for tracebacks) reach the child.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);

  std::vector<std::string> args = {kPython, kScript};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const int rc = ::posix_spawn(&pid_, kPython, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  stdin_fd_ = in_pipe[1];
  int stdout_fd = out_pipe[0];
  if (rc != 0) {
    pid_ = -1;
    error_ = std::string("posix_spawn ") + kPython + ": " + std::strerror(rc);
    CloseFd(stdout_fd);
    CloseFd(stdin_fd_);
    return;
  }

  std::string line;
  if (ReadFirstLine(stdout_fd, line, error_)) {
    try {
      const int port = std::stoi(line);
      if (port > 0 && port < 65536) port_ = port;
    } catch (const std::exception&) {
    }
    if (port_ == 0) error_ = "the server printed \"" + line + "\" instead of a port";
  }
  // The server prints nothing after its port.
  CloseFd(stdout_fd);
  if (port_ == 0) Stop();
}

LocalHttpServer::~LocalHttpServer() { Stop(); }

std::string LocalHttpServer::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void LocalHttpServer::Stop() {
  CloseFd(stdin_fd_);
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
  port_ = 0;
}

NoProxyEnvironment::NoProxyEnvironment() {
  for (const char* name : kProxyVariables) {
    if (const char* value = std::getenv(name)) saved_.emplace_back(name, value);
    ::unsetenv(name);
  }
}

NoProxyEnvironment::~NoProxyEnvironment() {
  for (const auto& [name, value] : saved_) ::setenv(name.c_str(), value.c_str(), 1);
}

}  // namespace digestd::test
