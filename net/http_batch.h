// HttpBatch: many transfers at once over one libcurl multi handle, each with the limits and
// the outcome classification of HttpClient::Fetch, under caps on concurrent transfers in all
// and per host. Connections are kept for the next call. An HttpBatch may be used from one
// thread at a time.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "net/http_client.h"

namespace digestd {

struct BatchOptions {
  int max_total = 16;    // transfers (and connections) at once; values below 1 count as 1
  int max_per_host = 6;  // the same per scheme://host:port; values below 1 count as 1
};

class HttpBatch {
 public:
  // Called with a request's index and its response as each transfer ends.
  using OnResponse = std::function<void(std::size_t index, HttpResponse response)>;

  explicit HttpBatch(BatchOptions options = {});
  ~HttpBatch();
  HttpBatch(const HttpBatch&) = delete;
  HttpBatch& operator=(const HttpBatch&) = delete;

  // Performs all requests concurrently and returns their responses in request order. Each
  // request's timeout runs from when its transfer starts (a request waiting for a free slot
  // is not yet timing out). Never throws; every failure comes back in its response.
  std::vector<HttpResponse> FetchAll(std::span<const HttpRequest> requests);

  // Like FetchAll, but hands each response to `on_response` (on this thread) as soon as its
  // transfer ends, in completion order; each index exactly once. `on_response` must not call
  // into this HttpBatch; if it throws, transfers still running are abandoned and the
  // exception propagates.
  void FetchEach(std::span<const HttpRequest> requests, const OnResponse& on_response);

  // Makes a FetchAll/FetchEach in progress return at once, and every later one: transfers
  // still running or waiting fail with kOther "cancelled". For a service that stops.
  // Thread-safe.
  void Cancel();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace digestd
