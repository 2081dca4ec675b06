// Delivery throughput over loopback: N small JSON POSTs one after another with HttpClient
// versus concurrently with HttpBatch, and kept C in flight with HttpMulti (perf-notes §4). The
// server is an in-process epoll responder thread (bench/responder.h), so it costs a few µs
// per request and the client is what is measured.
// latency_ms:0 answers at once (pure CPU cost); latency_ms:1 answers each request 1 ms
// later, like a nearby webhook endpoint, which is where concurrency pays. The CPU column is
// the benchmark thread's alone (the responder's excluded): divided by kRequests it is the
// client CPU per request that perf-notes §4 quotes.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
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
