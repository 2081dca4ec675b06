// Responder: an in-process keep-alive HTTP/1.1 sink on 127.0.0.1 for the delivery benchmarks
// (http_bench, delivery_bench, e2e_bench). One epoll thread reads each request (head and a
// Content-Length body) and answers 204 after a fixed latency, or never (a hung target). Just
// enough HTTP for libcurl. The counters and CpuSeconds() may be read from any thread.
#pragma once

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <unordered_map>

namespace digestd::bench {

struct ResponderOptions {
  std::chrono::milliseconds latency{0};  // before each answer
  bool answer = true;                    // false: read requests, never answer
};

class Responder {
 public:
  // Listens on an ephemeral port and starts the thread; exits the process when it cannot.
  explicit Responder(ResponderOptions options = {});
  ~Responder();  // stops the thread and closes every connection
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:PORT/hook".
  std::string Url() const;

  // Connections accepted and complete requests read, since the start.
  std::uint64_t connections() const { return connections_.load(); }
  std::uint64_t requests() const { return requests_.load(); }

  // CPU time the responder's thread has used (to take the sink out of process CPU).
  double CpuSeconds() const;

 private:
  struct Connection {
    std::string in;
    std::string out;
  };
  struct Delayed {
    std::chrono::steady_clock::time_point due;
    int fd;
  };

  void Watch(int fd, std::uint32_t events, int op);
  void Loop();
  void Accept();
  void Close(int fd);
  void Serve(int fd);
  void Flush(int fd, Connection& c);

  const ResponderOptions options_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int stop_fd_ = -1;
  int port_ = 0;
  std::atomic<std::uint64_t> connections_{0};
  std::atomic<std::uint64_t> requests_{0};
  // Touched by the thread only.
  std::deque<Delayed> delayed_;
  std::unordered_map<int, Connection> open_;
  std::thread thread_;
  clockid_t cpu_clock_ = -1;  // the thread's CPU clock
};

}  // namespace digestd::bench
