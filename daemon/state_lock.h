// StateLock: the lock a running `digestd run` holds beside its state file (STATE.lock), so a
// second `run` on the same state refuses to start. The file holds the holder's pid, so
// `outbox retry` can wake it (SIGUSR1). `once`, `outbox` and `test-notify` never take it:
// the outbox's row claims keep them from delivering a row twice. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "core/result.h"

namespace digestd {

class StateLock {
 public:
  // Takes the lock, or fails naming the state and the lock file when another process has it.
  static Result<std::unique_ptr<StateLock>> Acquire(const std::string& state_path);
  // The pid of the `run` holding the lock on `state_path`, if one does.
  static std::optional<pid_t> Holder(const std::string& state_path);
  ~StateLock();
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;

 private:
  explicit StateLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace digestd
