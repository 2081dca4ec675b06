// RunService: `digestd run` — the long-running service. One Boost.Asio io_context on one
// thread: the jobs of daemon/job_scheduler.h (each source's fetch, each highlights entry and
// digest watch, the outbox's next delivery, a daily prune) with one wall-clock timer
// (daemon/wall_timer.h) armed for the earliest; the due jobs go to the worker
// (daemon/worker.h) as one job. Signals (SIGTERM/SIGINT stop, SIGHUP reload, SIGUSR1 wake),
// sd_notify (READY, RELOADING, STOPPING, STATUS, and WATCHDOG every WatchdogSec/2 when the
// unit asks for it), and /metrics on metrics_listen. Idle between jobs: only the watchdog
// wakes it.
#pragma once

#include <string>

#include "daemon/logging.h"

namespace digestd {

// Runs until SIGTERM or SIGINT; returns the exit code (0 after a clean stop, 1 when the
// state cannot be opened or is locked by another `run` or metrics_listen cannot be bound,
// 78 for a bad config at start). Logs go to stderr in `log_format`.
int RunService(const std::string& config_path, LogFormat log_format = LogFormat::kAuto);

}  // namespace digestd
