// What `digestd run` tells the service manager (sd_notify(3)): READY, STATUS, RELOADING,
// STOPPING and the watchdog's pings. libsystemd is opened (core/shared_library.h) only in a
// process systemd started to hear them (NOTIFY_SOCKET set), not linked: every command, a
// `once` from cron and a `run` in a terminal or a container load neither it nor the libraries
// it alone brings (liblz4, libcap). Thread-safe: loading happens once.
#pragma once

#include <chrono>
#include <string>

namespace digestd {

// Sends `state` ("READY=1", "STATUS=...", lines of KEY=VALUE) to the service manager; nothing
// where none listens. A libsystemd that cannot be opened is logged once, and each message
// after is dropped: the service runs on, unsupervised.
void NotifyServiceManager(const std::string& state);

// How often the unit's watchdog wants a WATCHDOG=1 (WatchdogSec=, halved by the caller as
// systemd advises); zero when it wants none, or none listens.
std::chrono::microseconds WatchdogTimeout();

}  // namespace digestd
