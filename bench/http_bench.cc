// Delivery throughput over loopback: N small JSON POSTs one after another with HttpClient
// versus concurrently with HttpBatch, and kept C in flight with HttpMulti (perf-notes §4). The
// server is an in-process epoll responder thread (bench/responder.h), so it costs a few µs
// per request and the client is what is measured.
// latency_ms:0 answers at once (pure CPU cost); latency_ms:1 answers each request 1 ms
// later, like a nearby webhook endpoint, which is where concurrency pays. The CPU column is
// the benchmark thread's alone (the responder's excluded): divided by kRequests it is the
// client CPU per request that perf-notes §4 quotes. BM_InFlightBareLibcurl drives libcurl
// itself in HttpMulti's shape with nothing of digestd's between: the floor that any client
// over libcurl pays per request here, beside which HttpMulti's own share can be read.
#include <benchmark/benchmark.h>
#include <curl/curl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/responder.h"
#include "net/http_batch.h"
#include "net/http_client.h"
#include "net/http_multi.h"

namespace digestd::bench {
namespace {

constexpr int kRequests = 1000;

Responder& SharedResponder(int latency_ms) {
  static Responder instant({.latency = std::chrono::milliseconds(0)});
  static Responder delayed({.latency = std::chrono::milliseconds(1)});
  return latency_ms == 0 ? instant : delayed;
}

// One POST of about 190 bytes, like a webhook notification.
HttpRequest Post(int latency_ms) {
  const std::string body =
      R"({"type":"digestd.match","watch":"speculative decoding","paper":{"key":"arxiv:2401.15024",)"
      R"("title":"Speculative decoding at scale","url":"https://arxiv.org/abs/2401.15024"}})";
  return HttpRequest{.url = SharedResponder(latency_ms).Url(),
                     .method = "POST",
                     .body = body,
                     .headers = {{"Content-Type", "application/json"}},
                     .timeout = std::chrono::milliseconds(10000)};
}

std::vector<HttpRequest> Posts(int latency_ms) {
  return std::vector<HttpRequest>(kRequests, Post(latency_ms));
}

// C in flight (1, 16, 64) against a responder answering at once or 1 ms later.
void InFlightArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"C", "latency_ms"})
      ->ArgsProduct({{1, 16, 64}, {0, 1}})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
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
BENCHMARK(BM_ConcurrentHttpBatch)->Apply(InFlightArgs);

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
BENCHMARK(BM_InFlightHttpMulti)->Apply(InFlightArgs);

// libcurl alone: C easy handles, each reused for the next request once its transfer ends,
// driven by curl_multi_socket_action over epoll (as HttpMulti drives them), the same body and
// header, and no per-request work but libcurl's.
class BareCurl {
 public:
  BareCurl() : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)), multi_(curl_multi_init()) {
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, 64L);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &BareCurl::OnSocket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, static_cast<void*>(this));
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &BareCurl::OnTimer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, static_cast<void*>(this));
    headers_ = curl_slist_append(nullptr, "Content-Type: application/json");
  }
  ~BareCurl() {
    for (CURL* easy : easies_) {
      curl_multi_remove_handle(multi_, easy);
      curl_easy_cleanup(easy);
    }
    curl_multi_cleanup(multi_);
    curl_slist_free_all(headers_);
    ::close(epoll_fd_);
  }
  BareCurl(const BareCurl&) = delete;
  BareCurl& operator=(const BareCurl&) = delete;

  // Sends `count` copies of `request` with `concurrency` in flight. False when a transfer
  // failed or nothing happened for 5 s.
  bool Run(const HttpRequest& request, int count, int concurrency) {
    while (static_cast<int>(easies_.size()) < concurrency) easies_.push_back(curl_easy_init());
    int started = 0;
    int finished = 0;
    for (int i = 0; i < concurrency && started < count; ++i, ++started) Start(easies_[i], request);
    while (finished < count) {
      epoll_event events[64];
      const int n = ::epoll_wait(epoll_fd_, events, 64, timeout_ms_ < 0 ? 5000 : int(timeout_ms_));
      if (n < 0) return false;
      if (n == 0 && timeout_ms_ < 0) return false;
      for (int i = 0; i < n; ++i) {
        const std::uint32_t e = events[i].events;
        const int mask = ((e & (EPOLLIN | EPOLLHUP)) ? CURL_CSELECT_IN : 0) |
                         ((e & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                         ((e & EPOLLERR) ? CURL_CSELECT_ERR : 0);
        Act(events[i].data.fd, mask);
      }
      if (n == 0 || timeout_ms_ == 0) Act(CURL_SOCKET_TIMEOUT, 0);
      int queued = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL* const easy = msg->easy_handle;
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        if (msg->data.result != CURLE_OK || status != 204) return false;
        curl_multi_remove_handle(multi_, easy);
        ++finished;
        if (started < count) {
          Start(easy, request);
          ++started;
        }
      }
    }
    return true;
  }

 private:
  void Start(CURL* easy, const HttpRequest& request) {
    curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &BareCurl::Discard);
    curl_multi_add_handle(multi_, easy);
  }

  void Act(curl_socket_t s, int mask) {
    if (s == CURL_SOCKET_TIMEOUT) timeout_ms_ = -1;  // libcurl sets the next one, if any
    int running = 0;
    curl_multi_socket_action(multi_, s, mask, &running);
  }

  static std::size_t Discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

  static int OnSocket(CURL*, curl_socket_t s, int what, void* user, void*) {
    auto* self = static_cast<BareCurl*>(user);
    if (what == CURL_POLL_REMOVE) {
      ::epoll_ctl(self->epoll_fd_, EPOLL_CTL_DEL, s, nullptr);
      return 0;
    }
    epoll_event ev{};
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    ev.data.fd = s;
    if (::epoll_ctl(self->epoll_fd_, EPOLL_CTL_MOD, s, &ev) != 0) {
      ::epoll_ctl(self->epoll_fd_, EPOLL_CTL_ADD, s, &ev);
    }
    return 0;
  }

  static int OnTimer(CURLM*, long timeout_ms, void* user) {
    static_cast<BareCurl*>(user)->timeout_ms_ = timeout_ms;
    return 0;
  }

  int epoll_fd_;
  CURLM* multi_;
  curl_slist* headers_ = nullptr;
  std::vector<CURL*> easies_;
  long timeout_ms_ = -1;
};

void BM_InFlightBareLibcurl(benchmark::State& state) {
  const int concurrency = static_cast<int>(state.range(0));
  const HttpRequest request = Post(static_cast<int>(state.range(1)));
  BareCurl curl;
  for (auto _ : state) {
    if (!curl.Run(request, kRequests, concurrency)) {
      return state.SkipWithError("a transfer failed, or none ended within 5 s");
    }
  }
  state.SetItemsProcessed(state.iterations() * kRequests);
}
BENCHMARK(BM_InFlightBareLibcurl)->Apply(InFlightArgs);

}  // namespace
}  // namespace digestd::bench

BENCHMARK_MAIN();
