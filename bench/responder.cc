#include "bench/responder.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace digestd::bench {
namespace {

constexpr std::string_view kNoContent = "HTTP/1.1 204 No Content\r\n\r\n";

std::size_t ContentLength(std::string_view head) {
  for (std::size_t at = head.find("\r\n"); at != std::string_view::npos;
       at = head.find("\r\n", at + 2)) {
    const std::string_view line = head.substr(at + 2, head.find("\r\n", at + 2) - (at + 2));
    constexpr std::string_view kName = "content-length:";
    if (line.size() < kName.size()) continue;
    bool match = true;
    for (std::size_t i = 0; i < kName.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(line[i])) != kName[i]) match = false;
    }
    if (match) return std::strtoul(std::string(line.substr(kName.size())).c_str(), nullptr, 10);
  }
  return 0;
}

}  // namespace

Responder::Responder(ResponderOptions options) : options_(options) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listen_fd_, 1024) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("responder: listen");
    std::exit(1);
  }
  port_ = ntohs(addr.sin_port);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  Watch(listen_fd_, EPOLLIN, EPOLL_CTL_ADD);
  Watch(stop_fd_, EPOLLIN, EPOLL_CTL_ADD);
  thread_ = std::thread([this] { Loop(); });
  if (pthread_getcpuclockid(thread_.native_handle(), &cpu_clock_) != 0) cpu_clock_ = -1;
}

Responder::~Responder() {
  const std::uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  thread_.join();
  for (const auto& [fd, connection] : open_) ::close(fd);
  ::close(stop_fd_);
  ::close(epoll_fd_);
  ::close(listen_fd_);
}

std::string Responder::Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }

double Responder::CpuSeconds() const {
  timespec ts{};
  if (cpu_clock_ == clockid_t(-1) || clock_gettime(cpu_clock_, &ts) != 0) return 0;
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

void Responder::Watch(int fd, std::uint32_t events, int op) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  ::epoll_ctl(epoll_fd_, op, fd, &ev);
}

void Responder::Loop() {
  epoll_event events[64];
  while (true) {
    int wait_ms = -1;
    if (!delayed_.empty()) {
      const auto left = delayed_.front().due - std::chrono::steady_clock::now();
      // Rounded up: waking early would only spin.
      wait_ms = std::max<int>(
          0, static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count()));
    }
    const int n = ::epoll_wait(epoll_fd_, events, 64, wait_ms);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == stop_fd_) return;
      if (fd == listen_fd_) {
        Accept();
      } else {
        Serve(fd);
      }
    }
    // One latency for all, so the queue is in due order.
    const auto now = std::chrono::steady_clock::now();
    while (!delayed_.empty() && delayed_.front().due <= now) {
      const int fd = delayed_.front().fd;
      delayed_.pop_front();
      if (const auto it = open_.find(fd); it != open_.end()) {
        it->second.out.append(kNoContent);
        Flush(fd, it->second);
      }
    }
  }
}

void Responder::Accept() {
  while (true) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    open_[fd];
    ++connections_;
    Watch(fd, EPOLLIN, EPOLL_CTL_ADD);
  }
}

void Responder::Close(int fd) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  open_.erase(fd);
}

void Responder::Serve(int fd) {
  Connection& c = open_[fd];
  char buffer[16384];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      c.in.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0 || errno != EAGAIN) return Close(fd);
    break;
  }
  // Take every complete request in the buffer.
  while (true) {
    const std::size_t head_end = c.in.find("\r\n\r\n");
    if (head_end == std::string::npos) break;
    const std::size_t body_length = ContentLength(std::string_view(c.in).substr(0, head_end));
    const std::size_t total = head_end + 4 + body_length;
    if (c.in.size() < total) break;
    c.in.erase(0, total);
    ++requests_;
    if (!options_.answer) continue;
    if (options_.latency.count() > 0) {
      delayed_.push_back({std::chrono::steady_clock::now() + options_.latency, fd});
    } else {
      c.out.append(kNoContent);
    }
  }
  Flush(fd, c);
}

void Responder::Flush(int fd, Connection& c) {
  while (!c.out.empty()) {
    const ssize_t n = ::write(fd, c.out.data(), c.out.size());
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) return Close(fd);
    c.out.erase(0, static_cast<std::size_t>(n));
  }
  Watch(fd, c.out.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
}

}  // namespace digestd::bench
