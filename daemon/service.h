// RunService: `digestd run` — the long-running service. One Boost.Asio io_context on one
// thread: a single timer armed for the next due job (a source's cron schedule or an outbox
// retry), signals (SIGTERM/SIGINT stop, SIGHUP reload, SIGUSR1 wake), sd_notify. Idle
// between jobs: no polling.
#pragma once

#include <string>

namespace digestd {

// Runs until SIGTERM or SIGINT; returns the exit code (0 after a clean stop, 1 when the
// state cannot be opened or is locked by another `run`, 78 for a bad config at start).
int RunService(const std::string& config_path);

}  // namespace digestd
