#include "daemon/state_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace digestd {

Result<std::unique_ptr<StateLock>> StateLock::Acquire(const std::string& state_path) {
  const std::string path = state_path + ".lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Unexpected(path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return Unexpected("another digestd run is using " + state_path + " (lock " + path + ")");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The lock holds without the pid; only waking the daemon from `outbox retry` suffers.
  }
  return std::unique_ptr<StateLock>(new StateLock(fd));
}

std::optional<pid_t> StateLock::Holder(const std::string& state_path) {
  const std::string path = state_path + ".lock";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<pid_t> holder;
  // Only a held lock has a live holder: if we can take it, nobody runs.
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    if (n > 0) {
      const long pid = std::strtol(buf, nullptr, 10);
      if (pid > 0) holder = pid_t(pid);
    }
  }
  ::close(fd);
  return holder;
}

StateLock::~StateLock() { ::close(fd_); }

}  // namespace digestd
