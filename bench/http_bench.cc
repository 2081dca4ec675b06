// Delivery throughput over loopback: N small JSON POSTs one after another with HttpClient
// versus concurrently with HttpBatch, and kept C in flight with HttpMulti (perf-notes §4). The
// server is an in-process epoll responder thread, so it costs a few µs per request and the
// client is what is measured.
// latency_ms:0 answers at once (pure CPU cost); latency_ms:1 answers each request 1 ms
// later, like a nearby webhook endpoint, which is where concurrency pays. The CPU column is
// the benchmark thread's alone (the responder's excluded): divided by kRequests it is the
// client CPU per request that perf-notes §4 quotes.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "net/http_batch.h"
#include "net/http_client.h"
#include "net/http_multi.h"

namespace digestd::bench {
namespace {

constexpr int kRequests = 1000;
constexpr std::string_view kNoContent = "HTTP/1.1 204 No Content\r\n\r\n";

// A keep-alive HTTP/1.1 responder on 127.0.0.1: reads each request (head and a
// Content-Length body) and answers 204 after `latency`. Just enough HTTP for libcurl.
class Responder {
 public:
  explicit Responder(std::chrono::milliseconds latency) : latency_(latency) {
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
    Watch(listen_fd_, EPOLLIN);
    Watch(stop_fd_, EPOLLIN);
    thread_ = std::thread([this] { Loop(); });
  }

  ~Responder() {
    const std::uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    thread_.join();
    for (const auto& [fd, connection] : connections_) ::close(fd);
    ::close(stop_fd_);
    ::close(epoll_fd_);
    ::close(listen_fd_);
  }
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }

 private:
  struct Connection {
    std::string in;
    std::string out;
  };
  struct Delayed {
    std::chrono::steady_clock::time_point due;
    int fd;
  };

  void Watch(int fd, std::uint32_t events, int op = EPOLL_CTL_ADD) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd_, op, fd, &ev);
  }

  void Loop() {
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
        if (const auto it = connections_.find(fd); it != connections_.end()) {
          it->second.out.append(kNoContent);
          Flush(fd, it->second);
        }
      }
    }
  }

  void Accept() {
    while (true) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      const int on = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      connections_[fd];
      Watch(fd, EPOLLIN);
    }
  }

  void Close(int fd) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    connections_.erase(fd);
  }

  void Serve(int fd) {
    Connection& c = connections_[fd];
    char buffer[16384];
    while (true) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n > 0) {
        c.in.append(buffer, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || errno != EAGAIN) return Close(fd);
      break;
    }
    // Answer every complete request in the buffer.
    while (true) {
      const size_t head_end = c.in.find("\r\n\r\n");
      if (head_end == std::string::npos) break;
      const size_t body_length = ContentLength(std::string_view(c.in).substr(0, head_end));
      const size_t total = head_end + 4 + body_length;
      if (c.in.size() < total) break;
      c.in.erase(0, total);
      if (latency_.count() > 0) {
        delayed_.push_back({std::chrono::steady_clock::now() + latency_, fd});
      } else {
        c.out.append(kNoContent);
      }
    }
    Flush(fd, c);
  }

  void Flush(int fd, Connection& c) {
    while (!c.out.empty()) {
      const ssize_t n = ::write(fd, c.out.data(), c.out.size());
      if (n < 0 && errno == EAGAIN) break;
      if (n < 0) return Close(fd);
      c.out.erase(0, static_cast<size_t>(n));
    }
    Watch(fd, c.out.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
  }

  static size_t ContentLength(std::string_view head) {
    for (size_t at = head.find("\r\n"); at != std::string_view::npos;
         at = head.find("\r\n", at + 2)) {
      const std::string_view line = head.substr(at + 2, head.find("\r\n", at + 2) - (at + 2));
      constexpr std::string_view kName = "content-length:";
      if (line.size() < kName.size()) continue;
      bool match = true;
      for (size_t i = 0; i < kName.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(line[i])) != kName[i]) match = false;
      }
      if (match) return std::strtoul(std::string(line.substr(kName.size())).c_str(), nullptr, 10);
    }
    return 0;
  }

  const std::chrono::milliseconds latency_;
  std::deque<Delayed> delayed_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int stop_fd_ = -1;
  int port_ = 0;
  std::unordered_map<int, Connection> connections_;  // touched by the thread only
  std::thread thread_;
};

Responder& SharedResponder(int latency_ms) {
  static Responder instant(std::chrono::milliseconds(0));
  static Responder delayed(std::chrono::milliseconds(1));
  return latency_ms == 0 ? instant : delayed;
}

// About 190 bytes, like a webhook notification.
std::vector<HttpRequest> Posts(int latency_ms) {
  const std::string body =
      R"({"type":"digestd.match","watch":"speculative decoding","paper":{"key":"arxiv:2401.15024",)"
      R"("title":"Speculative decoding at scale","url":"https://arxiv.org/abs/2401.15024"}})";
  return std::vector<HttpRequest>(kRequests,
                                  HttpRequest{.url = SharedResponder(latency_ms).Url(),
                                              .method = "POST",
                                              .body = body,
                                              .headers = {{"Content-Type", "application/json"}},
                                              .timeout = std::chrono::milliseconds(10000)});
}

void BM_SequentialHttpClient(benchmark::State& state) {
  const std::vector<HttpRequest> requests = Posts(static_cast<int>(state.range(0)));
  HttpClient client;
  for (auto _ : state) {
    for (const HttpRequest& request : requests) {
      const HttpResponse r = client.Fetch(request);
      if (r.status != 204) return state.SkipWithError(r.error_message.c_str());
    }
  }
  state.SetItemsProcessed(state.iterations() * kRequests);
}
BENCHMARK(BM_SequentialHttpClient)
    ->ArgName("latency_ms")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_ConcurrentHttpBatch(benchmark::State& state) {
  const std::vector<HttpRequest> requests = Posts(static_cast<int>(state.range(1)));
  const int concurrency = static_cast<int>(state.range(0));
  HttpBatch batch(BatchOptions{.max_total = concurrency, .max_per_host = concurrency});
  for (auto _ : state) {
    for (const HttpResponse& r : batch.FetchAll(requests)) {
      if (r.status != 204) return state.SkipWithError(r.error_message.c_str());
    }
  }
  state.SetItemsProcessed(state.iterations() * kRequests);
}
BENCHMARK(BM_ConcurrentHttpBatch)
    ->ArgNames({"C", "latency_ms"})
    ->ArgsProduct({{1, 16, 64}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The delivery engine's shape: C requests in flight, each one that ends replaced by the next
// (Start as Poll reaps), over one HttpMulti kept across iterations.
void BM_InFlightHttpMulti(benchmark::State& state) {
  const int concurrency = static_cast<int>(state.range(0));
  const std::vector<HttpRequest> requests = Posts(static_cast<int>(state.range(1)));
  HttpMulti multi;
  for (auto _ : state) {
    std::size_t started = 0;
    std::size_t finished = 0;
    while (started < requests.size() && started < static_cast<std::size_t>(concurrency)) {
      multi.Start(started, requests[started]);
      ++started;
    }
    while (finished < requests.size()) {
      // Bounded: a responder that stopped answering ends the run as an error.
      const auto done = multi.Poll(std::chrono::milliseconds(5000));
      if (done.empty() && multi.pending() > 0) {
        multi.AbandonAll();
        return state.SkipWithError("no transfer ended within 5 s");
      }
      for (const auto& [tag, r] : done) {
        if (r.status != 204) {
          multi.AbandonAll();
          return state.SkipWithError(r.error_message.c_str());
        }
        ++finished;
        if (started < requests.size()) {
          multi.Start(started, requests[started]);
          ++started;
        }
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * kRequests);
}
BENCHMARK(BM_InFlightHttpMulti)
    ->ArgNames({"C", "latency_ms"})
    ->ArgsProduct({{1, 16, 64}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace digestd::bench

BENCHMARK_MAIN();
