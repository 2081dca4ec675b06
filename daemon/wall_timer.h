// WallTimer: a one-shot timer on the wall clock for the service's event loop. Asio's timers
// wait on the monotonic clock, which stops while the machine is suspended, so a job due
// during a suspend would run that long late; this one is a CLOCK_REALTIME timerfd with an
// absolute expiry, which the kernel fires on resume when its time has passed. Armed with
// TFD_TIMER_CANCEL_ON_SET, it also tells when the clock is set (date, NTP step), so the
// owner can look at its schedule again. Belongs to the io_context's thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <functional>
#include <memory>

#include "core/result.h"

namespace digestd {

class WallTimer {
 public:
  // `fire` runs on the loop when the armed time is reached; `clock_set` when the wall clock
  // was set while armed (the timer is then disarmed: arm it again).
  static Result<std::unique_ptr<WallTimer>> Create(boost::asio::io_context& io,
                                                   std::function<void()> fire,
                                                   std::function<void()> clock_set);
  WallTimer(const WallTimer&) = delete;
  WallTimer& operator=(const WallTimer&) = delete;

  // Fires once at `at` (at once when `at` has passed); replaces any earlier arming.
  Status ArmAt(std::chrono::system_clock::time_point at);
  void Disarm();
  // Stops waiting; no callback runs after this.
  void Close();

 private:
  WallTimer(boost::asio::io_context& io, int fd, std::function<void()> fire,
            std::function<void()> clock_set);
  void Wait();

  boost::asio::posix::stream_descriptor fd_;
  std::function<void()> fire_;
  std::function<void()> clock_set_;
  bool waiting_ = false;
  bool closed_ = false;
};

}  // namespace digestd
