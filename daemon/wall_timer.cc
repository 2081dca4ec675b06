#include "daemon/wall_timer.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace digestd {

Result<std::unique_ptr<WallTimer>> WallTimer::Create(boost::asio::io_context& io,
                                                     std::function<void()> fire,
                                                     std::function<void()> clock_set) {
  const int fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) return Unexpected(std::string("timerfd_create: ") + std::strerror(errno));
  return std::unique_ptr<WallTimer>(
      new WallTimer(io, fd, std::move(fire), std::move(clock_set)));
}

WallTimer::WallTimer(boost::asio::io_context& io, int fd, std::function<void()> fire,
                     std::function<void()> clock_set)
    : fd_(io, fd), fire_(std::move(fire)), clock_set_(std::move(clock_set)) {}

Status WallTimer::ArmAt(std::chrono::system_clock::time_point at) {
  if (closed_) return Ok();
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch());
  itimerspec spec{};
  // A zero expiry would disarm: anything at or before the epoch is simply "now".
  const std::int64_t count = std::max<std::int64_t>(ns.count(), 1);
  spec.it_value.tv_sec = time_t(count / 1'000'000'000);
  spec.it_value.tv_nsec = long(count % 1'000'000'000);
  // Setting the timer also clears an expiry not yet read: a stale one cannot fire.
  if (timerfd_settime(fd_.native_handle(), TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &spec,
                      nullptr) != 0) {
    return Unexpected(std::string("timerfd_settime: ") + std::strerror(errno));
  }
  Wait();
  return Ok();
}

void WallTimer::Disarm() {
  if (closed_) return;
  itimerspec spec{};
  (void)timerfd_settime(fd_.native_handle(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

void WallTimer::Close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  fd_.cancel(ignored);
  fd_.close(ignored);
}

void WallTimer::Wait() {
  if (waiting_ || closed_) return;
  waiting_ = true;
  fd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                 [this](const boost::system::error_code& ec) {
                   waiting_ = false;
                   if (ec || closed_) return;
                   std::uint64_t expirations = 0;
                   const ssize_t n = ::read(fd_.native_handle(), &expirations, sizeof expirations);
                   if (n == sizeof expirations) {
                     fire_();
                   } else if (n < 0 && errno == ECANCELED) {
                     clock_set_();
                   } else {
                     Wait();  // re-armed before the expiry was read (EAGAIN): wait for the new one
                   }
                 });
}

}  // namespace digestd
