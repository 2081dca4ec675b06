#include "net/http_multi.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "net/easy_transfer.h"
#include "net/mail_transfer.h"

// One multi handle driven by curl_multi_poll, which curl_multi_wakeup interrupts from any
// thread (perf-notes §4: within a few percent of the fastest loop on this machine). Nothing is
// queued here and no CURLMOPT_MAX_*_CONNECTIONS cap is set: the engine above decides what runs,
// and a libcurl queue would count waiting time against each transfer's timeout.

namespace digestd {
namespace {

// Easy handles kept for reuse once their transfers end; more are cleaned up.
constexpr std::size_t kMaxSpareHandles = 64;
// Idle connections kept between Polls (by default libcurl sizes its cache from the number of
// handles in the multi, which falls to zero whenever nothing runs).
constexpr long kMaxCachedConnections = 64;

// An easy handle and, while it runs, its transfer (HTTP or mail) and the request libcurl
// reads in place.
struct Slot {
  CurlEasyPtr easy;
  HttpRequest request;
  std::optional<EasyTransfer> transfer;
  MailRequest mail;
  std::optional<MailTransfer> mail_transfer;
  std::uint64_t tag = 0;

  void Finish(CURL* curl, CURLcode rc) {
    if (mail_transfer) return mail_transfer->Finish(curl, rc);
    transfer->Finish(curl, rc);
  }
  HttpResponse TakeResponse() {
    return mail_transfer ? mail_transfer->TakeResponse() : transfer->TakeResponse();
  }
  // A failure that ended the transfer from outside (the multi handle failed).
  HttpResponse Failure(std::string_view what) const {
    if (!mail_transfer) return TransferFailure(request, TransferError::kOther, what);
    HttpResponse r;
    r.error = TransferError::kOther;
    r.error_message = "SMTP " + RedactUrl(mail.url) + ": " + std::string(what);
    return r;
  }
};

using Finished = std::vector<std::pair<std::uint64_t, HttpResponse>>;

}  // namespace

struct HttpMulti::Impl {
  CURLcode init_result = CURLE_OK;
  // Declared first, so it is destroyed last: every easy handle is out of it and cleaned up by
  // then, the order libcurl asks for.
  CurlMultiPtr multi;
  std::vector<std::unique_ptr<Slot>> spare;  // at most kMaxSpareHandles
  std::unordered_map<CURL*, std::unique_ptr<Slot>> running;
  Finished refused;  // ended before any I/O; the next Poll returns them
  // Set by Wakeup, consumed by Poll: curl_multi_poll also returns on socket activity, so
  // this tells a wakeup apart.
  std::atomic<bool> woken{false};
  // Only where there is no multi handle to wake: Poll waits here instead.
  std::mutex wake_mutex;
  std::condition_variable wake_cv;

  // A slot with an easy handle (possibly null, when libcurl could not make one).
  std::unique_ptr<Slot> TakeSlot() {
    if (spare.empty()) {
      auto slot = std::make_unique<Slot>();
      slot->easy.reset(curl_easy_init());
      return slot;
    }
    std::unique_ptr<Slot> slot = std::move(spare.back());
    spare.pop_back();
    return slot;
  }

  // Takes a slot whose handle is out of the multi and keeps nothing of its last request.
  void Recycle(std::unique_ptr<Slot> slot) {
    slot->transfer.reset();
    slot->mail_transfer.reset();
    slot->request = {};
    slot->mail = {};
    if (spare.size() < kMaxSpareHandles) spare.push_back(std::move(slot));
  }

  // Removes a running transfer from the multi handle unfinished, and returns its slot.
  std::unique_ptr<Slot> Remove(CURL* easy) {
    const auto it = running.find(easy);
    std::unique_ptr<Slot> slot = std::move(it->second);
    running.erase(it);
    curl_multi_remove_handle(multi.get(), easy);
    return slot;
  }

  // Moves every transfer libcurl reports done into `done`.
  void Reap(Finished& done) {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi.get(), &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      // Copied out: removing the handle invalidates `msg`.
      CURL* const easy = msg->easy_handle;
      const CURLcode result = msg->data.result;
      if (!running.contains(easy)) continue;  // cannot happen: the multi handle is private
      std::unique_ptr<Slot> slot = Remove(easy);
      slot->Finish(easy, result);
      done.emplace_back(slot->tag, slot->TakeResponse());
      Recycle(std::move(slot));
    }
  }

  // The multi handle itself failed: every running transfer fails with it.
  void FailRunning(CURLMcode rc, Finished& done) {
    const std::string what =
        std::string("libcurl multi interface failed: ") + curl_multi_strerror(rc);
    while (!running.empty()) {
      CURL* const easy = running.begin()->first;
      std::unique_ptr<Slot> slot = Remove(easy);
      curl_easy_reset(easy);
      done.emplace_back(slot->tag, slot->Failure(what));
      Recycle(std::move(slot));
    }
  }

  // One round of I/O, then reaping. False when the multi handle failed (all reported).
  bool Drive(Finished& done) {
    int still_running = 0;
    if (const CURLMcode rc = curl_multi_perform(multi.get(), &still_running); rc != CURLM_OK) {
      FailRunning(rc, done);
      return false;
    }
    Reap(done);
    return true;
  }
};

HttpMulti::HttpMulti() : impl_(std::make_unique<Impl>()) {
  impl_->init_result = CurlGlobalInit();
  if (impl_->init_result != CURLE_OK) return;
  impl_->multi.reset(curl_multi_init());
  if (impl_->multi) {
    curl_multi_setopt(impl_->multi.get(), CURLMOPT_MAXCONNECTS, kMaxCachedConnections);
  }
}

HttpMulti::~HttpMulti() { AbandonAll(); }

void HttpMulti::Start(std::uint64_t tag, HttpRequest request) {
  Impl& impl = *impl_;
  if (!impl.multi) {
    const CURLcode why = impl.init_result != CURLE_OK ? impl.init_result : CURLE_OUT_OF_MEMORY;
    impl.refused.emplace_back(tag, TransferFailure(request, TransferError::kOther,
                                                   std::string("libcurl failed to initialise: ") +
                                                       curl_easy_strerror(why)));
    return;
  }
  std::unique_ptr<Slot> slot = impl.TakeSlot();
  CURL* const easy = slot->easy.get();
  if (easy == nullptr) {
    impl.refused.emplace_back(tag, TransferFailure(request, TransferError::kOther,
                                                   "libcurl could not create a transfer handle"));
    return;  // the slot goes with its null handle
  }
  slot->request = std::move(request);
  EasyTransfer& transfer = slot->transfer.emplace();
  if (!transfer.Prepare(easy, slot->request)) {
    impl.refused.emplace_back(tag, transfer.TakeResponse());
    return impl.Recycle(std::move(slot));  // Prepare left the handle untouched
  }
  // perf-notes §4: wait for a connection that may multiplex (h2 over TLS) rather than open
  // another; plain http is HTTP/1.1 only, where waiting would only delay.
  if (transfer.is_https()) curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
  if (const CURLMcode rc = curl_multi_add_handle(impl.multi.get(), easy); rc != CURLM_OK) {
    curl_easy_reset(easy);
    impl.refused.emplace_back(tag, TransferFailure(slot->request, TransferError::kOther,
                                                   std::string("libcurl refused the transfer: ") +
                                                       curl_multi_strerror(rc)));
    return impl.Recycle(std::move(slot));
  }
  slot->tag = tag;
  impl.running.emplace(easy, std::move(slot));
}

void HttpMulti::StartMail(std::uint64_t tag, MailRequest request) {
  Impl& impl = *impl_;
  const auto refuse = [&](std::string_view what) {
    HttpResponse r;
    r.error = TransferError::kOther;
    r.error_message = "SMTP " + RedactUrl(request.url) + ": " + std::string(what);
    impl.refused.emplace_back(tag, std::move(r));
  };
  if (!impl.multi) return refuse("libcurl failed to initialise");
  std::unique_ptr<Slot> slot = impl.TakeSlot();
  CURL* const easy = slot->easy.get();
  if (easy == nullptr) return refuse("libcurl could not create a transfer handle");
  slot->mail = std::move(request);
  MailTransfer& transfer = slot->mail_transfer.emplace();
  if (!transfer.Prepare(easy, slot->mail)) {
    impl.refused.emplace_back(tag, transfer.TakeResponse());
    return impl.Recycle(std::move(slot));
  }
  if (const CURLMcode rc = curl_multi_add_handle(impl.multi.get(), easy); rc != CURLM_OK) {
    curl_easy_reset(easy);
    impl.refused.emplace_back(
        tag, slot->Failure(std::string("libcurl refused the transfer: ") + curl_multi_strerror(rc)));
    return impl.Recycle(std::move(slot));
  }
  slot->tag = tag;
  impl.running.emplace(easy, std::move(slot));
}

std::vector<std::pair<std::uint64_t, HttpResponse>> HttpMulti::Poll(
    std::chrono::milliseconds wait) {
  Impl& impl = *impl_;
  Finished done = std::move(impl.refused);
  impl.refused.clear();
  if (!impl.multi) {
    if (done.empty()) {
      std::unique_lock lock(impl.wake_mutex);
      impl.wake_cv.wait_for(lock, wait, [&] { return impl.woken.exchange(false); });
    }
    return done;
  }

  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (impl.Drive(done) && done.empty() && !impl.woken.exchange(false)) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    // libcurl shortens this to its own next timeout, and returns early on socket activity
    // (driven on the next turn) or a wakeup.
    const int timeout_ms =
        static_cast<int>(std::min<std::int64_t>(left.count(), std::numeric_limits<int>::max()));
    if (const CURLMcode rc = curl_multi_poll(impl.multi.get(), nullptr, 0, timeout_ms, nullptr);
        rc != CURLM_OK) {
      impl.FailRunning(rc, done);
      break;
    }
  }
  return done;
}

void HttpMulti::Wakeup() {
  Impl& impl = *impl_;
  impl.woken.store(true);
  if (!impl.multi) {
    // Taking the lock orders this notify after a waiter's check of `woken`.
    std::lock_guard lock(impl.wake_mutex);
    impl.wake_cv.notify_all();
    return;
  }
  if (const CURLMcode rc = curl_multi_wakeup(impl.multi.get()); rc != CURLM_OK) {
    // The flag still ends the Poll, at its next return from curl_multi_poll.
    spdlog::warn("libcurl could not wake its poll: {}", curl_multi_strerror(rc));
  }
}

void HttpMulti::AbandonAll() {
  Impl& impl = *impl_;
  while (!impl.running.empty()) {
    CURL* const easy = impl.running.begin()->first;
    std::unique_ptr<Slot> slot = impl.Remove(easy);
    curl_easy_reset(easy);
    impl.Recycle(std::move(slot));
  }
  impl.refused.clear();
}

std::size_t HttpMulti::pending() const { return impl_->running.size() + impl_->refused.size(); }

}  // namespace digestd
