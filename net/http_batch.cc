#include "net/http_batch.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "net/easy_transfer.h"

// Why we queue requests ourselves instead of adding them all to the multi handle and letting
// CURLMOPT_MAX_*_CONNECTIONS queue them: libcurl's timeout counts the time a transfer spends
// waiting for a connection, so a request queued behind slow ones could time out without ever
// being sent; and one easy handle per request would cost memory for the whole batch. Here at most
// max_total easy handles exist, each transfer's clock starts when it does, and the CURLMOPT caps
// stay set only as a backstop (a redirect to another host, a proxy shared by many hosts).

namespace digestd {
namespace {

// libcurl wakes curl_multi_poll at its own next timeout; this only bounds a single wait.
constexpr int kMaxPollMs = 1000;

// An easy handle and, while it runs, its transfer. Kept across calls for reuse.
struct Slot {
  CurlEasyPtr easy;
  std::optional<EasyTransfer> transfer;
  std::size_t index = 0;
  struct Host* host = nullptr;  // while running
};

// The requests of one call that share a scheme://host:port.
struct Host {
  std::deque<std::size_t> waiting;  // request indices, in request order
  int running = 0;
  std::optional<std::size_t> ready_key;  // its entry in Run::ready_, when it has one
};

// What a batch keeps across calls: its handles and options.
struct BatchState {
  BatchOptions options;
  // Made with the first transfer libcurl performs (a batch of local files needs none);
  // declared before the slots, so it is destroyed after them; none is in it by then.
  CurlMultiPtr multi;
  std::string multi_error;            // why it could not be made, once that is known
  std::atomic<CURLM*> live{nullptr};  // `multi`, for Cancel on another thread
  // Easy handles not running a transfer, at most max_total of them.
  std::vector<std::unique_ptr<Slot>> spare;
  std::atomic<bool> cancelled{false};

  // The multi handle, made (and libcurl loaded) the first time; null when it cannot be
  // (multi_error says why).
  CURLM* Multi() {
    if (multi || !multi_error.empty()) return multi.get();
    auto made = NewMultiHandle();
    if (!made) {
      multi_error = made.error().message;
      return nullptr;
    }
    multi = std::move(*made);
    const CurlApi& api = Libcurl();
    CURLM* m = multi.get();
    api.multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(options.max_total));
    api.multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(options.max_per_host));
    // Idle connections kept for the next call; by default the cache shrinks with the number
    // of handles in the multi, which is zero between calls.
    api.multi_setopt(m, CURLMOPT_MAXCONNECTS, static_cast<long>(options.max_total));
    live.store(m, std::memory_order_release);
    return m;
  }
};

// One FetchEach call: queues, admission under the caps, the poll loop.
class Run {
 public:
  Run(BatchState& batch, std::span<const HttpRequest> requests,
      const HttpBatch::OnResponse& on_response)
      : batch_(batch),
        cancelled_(batch.cancelled),
        spare_(batch.spare),
        options_(batch.options),
        requests_(requests),
        on_response_(on_response) {}
  ~Run() { Abandon(); }
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  void Perform() {
    for (std::size_t i = 0; i < requests_.size(); ++i) {
      hosts_[UrlOrigin(requests_[i].url)].waiting.push_back(i);
    }
    for (auto& [origin, host] : hosts_) Refresh(host);
    StartMore();
    while (!running_.empty()) {
      if (cancelled_.load()) return FailRest("cancelled");
      // Something runs: the multi handle exists, and libcurl is loaded.
      const CurlApi& curl = Libcurl();
      CURLM* const multi = batch_.multi.get();
      int still_running = 0;
      if (const CURLMcode rc = curl.multi_perform(multi, &still_running); rc != CURLM_OK) {
        return FailRest(std::string("libcurl multi interface failed: ") + curl.multi_strerror(rc));
      }
      int queued = 0;
      while (CURLMsg* msg = curl.multi_info_read(multi, &queued)) {
        // Copied out: removing the handle invalidates `msg`.
        if (msg->msg == CURLMSG_DONE) Complete(msg->easy_handle, msg->data.result);
      }
      StartMore();
      if (running_.empty()) break;
      if (const CURLMcode rc = curl.multi_poll(multi, nullptr, 0, kMaxPollMs, nullptr);
          rc != CURLM_OK) {
        return FailRest(std::string("libcurl multi interface failed: ") + curl.multi_strerror(rc));
      }
    }
  }

 private:
  // Puts `host` in ready_ (keyed by its first waiting index, so requests start in request
  // order as far as the caps allow) exactly when it has a waiting request and room.
  void Refresh(Host& host) {
    if (host.ready_key) ready_.erase({*host.ready_key, &host});
    host.ready_key.reset();
    if (!host.waiting.empty() && host.running < options_.max_per_host) {
      host.ready_key = host.waiting.front();
      ready_.insert({*host.ready_key, &host});
    }
  }

  void StartMore() {
    while (running_.size() < static_cast<std::size_t>(options_.max_total) && !ready_.empty()) {
      Host& host = *ready_.begin()->second;
      const std::size_t index = host.waiting.front();
      host.waiting.pop_front();
      Start(index, host);
      Refresh(host);
    }
  }

  void Start(std::size_t index, Host& host) {
    const HttpRequest& request = requests_[index];
    std::unique_ptr<Slot> slot;
    if (spare_.empty()) {
      slot = std::make_unique<Slot>();
    } else {
      slot = std::move(spare_.back());
      spare_.pop_back();
    }
    // Reports a request that is not performed, and keeps the slot (its handle untouched).
    const auto answer = [&](HttpResponse response) {
      slot->transfer.reset();
      spare_.push_back(std::move(slot));
      Report(index, std::move(response));
    };
    EasyTransfer& transfer = slot->transfer.emplace();
    // A local file is answered here, without libcurl; the handle is made once one is needed.
    if (!transfer.Check(request)) return answer(transfer.TakeResponse());
    CURLM* const multi = batch_.Multi();
    if (multi == nullptr) {
      return answer(TransferFailure(request, TransferError::kOther, batch_.multi_error));
    }
    const CurlApi& curl = Libcurl();
    if (!slot->easy) slot->easy.reset(curl.easy_init());
    CURL* easy = slot->easy.get();
    if (easy == nullptr) {
      return answer(TransferFailure(request, TransferError::kOther,
                                    "libcurl could not create a transfer handle"));
    }
    if (!transfer.Prepare(easy, request)) return answer(transfer.TakeResponse());
    // perf-notes §4: wait for a connection that may multiplex (h2 over TLS) rather than
    // opening another; plain http is HTTP/1.1 only, where waiting would only delay.
    if (transfer.is_https()) curl.easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
    if (const CURLMcode rc = curl.multi_add_handle(multi, easy); rc != CURLM_OK) {
      curl.easy_reset(easy);
      return answer(
          TransferFailure(request, TransferError::kOther,
                          std::string("libcurl refused the transfer: ") + curl.multi_strerror(rc)));
    }
    slot->index = index;
    slot->host = &host;
    ++host.running;
    running_.emplace(easy, std::move(slot));
  }

  void Complete(CURL* easy, CURLcode result) {
    const auto it = running_.find(easy);
    if (it == running_.end()) return;  // not ours: cannot happen, the multi is private
    std::unique_ptr<Slot> slot = std::move(it->second);
    running_.erase(it);
    Libcurl().multi_remove_handle(batch_.multi.get(), easy);
    slot->transfer->Finish(easy, result);
    HttpResponse response = slot->transfer->TakeResponse();
    slot->transfer.reset();
    --slot->host->running;
    Refresh(*slot->host);
    const std::size_t index = slot->index;
    spare_.push_back(std::move(slot));
    Report(index, std::move(response));
  }

  // The multi handle itself failed, or the batch was cancelled: every transfer not yet
  // reported fails with `what`.
  void FailRest(const std::string& what) {
    std::vector<std::size_t> unreported;
    for (const auto& [easy, slot] : running_) unreported.push_back(slot->index);
    Abandon();
    for (auto& [origin, host] : hosts_) {
      unreported.insert(unreported.end(), host.waiting.begin(), host.waiting.end());
      host.waiting.clear();
    }
    ready_.clear();
    std::sort(unreported.begin(), unreported.end());
    for (const std::size_t index : unreported) {
      Report(index, TransferFailure(requests_[index], TransferError::kOther, what));
    }
  }

  // Takes every running transfer out of the multi handle, unreported, keeping the handles.
  void Abandon() {
    for (auto& [easy, slot] : running_) {
      Libcurl().multi_remove_handle(batch_.multi.get(), easy);
      Libcurl().easy_reset(easy);
      slot->transfer.reset();
      spare_.push_back(std::move(slot));
    }
    running_.clear();
  }

  void Report(std::size_t index, HttpResponse response) {
    on_response_(index, std::move(response));
  }

  BatchState& batch_;
  const std::atomic<bool>& cancelled_;
  std::vector<std::unique_ptr<Slot>>& spare_;
  const BatchOptions& options_;
  const std::span<const HttpRequest> requests_;
  const HttpBatch::OnResponse& on_response_;
  std::map<std::string, Host> hosts_;  // node-based: slots and ready_ point into it
  std::set<std::pair<std::size_t, Host*>> ready_;
  std::unordered_map<CURL*, std::unique_ptr<Slot>> running_;
};

}  // namespace

struct HttpBatch::Impl : BatchState {};

HttpBatch::HttpBatch(BatchOptions options) : impl_(std::make_unique<Impl>()) {
  options.max_total = std::max(1, options.max_total);
  options.max_per_host = std::max(1, options.max_per_host);
  impl_->options = options;
}

HttpBatch::~HttpBatch() = default;

std::vector<HttpResponse> HttpBatch::FetchAll(std::span<const HttpRequest> requests) {
  std::vector<HttpResponse> responses(requests.size());
  FetchEach(requests, [&](std::size_t index, HttpResponse response) {
    responses[index] = std::move(response);
  });
  return responses;
}

void HttpBatch::FetchEach(std::span<const HttpRequest> requests, const OnResponse& on_response) {
  if (impl_->cancelled.load()) {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      on_response(i, TransferFailure(requests[i], TransferError::kOther, "cancelled"));
    }
    return;
  }
  Run run(*impl_, requests, on_response);
  run.Perform();
}

void HttpBatch::Cancel() {
  impl_->cancelled.store(true);
  if (CURLM* multi = impl_->live.load(std::memory_order_acquire)) Libcurl().multi_wakeup(multi);
}

}  // namespace digestd
