#include "net/http_multi.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "net/easy_transfer.h"
#include "net/mail_transfer.h"

// One multi handle driven by curl_multi_socket_action over an epoll set that libcurl keeps
// through its socket callback, with an eventfd beside the sockets for Wakeup. Each readiness
// event runs only the transfer whose socket it is, and tells libcurl which way the socket is
// ready: curl_multi_perform would visit every running transfer (and poll each one's socket once
// more) whenever any socket stirs, which is most of the client's CPU when 64 transfers run and
// their answers arrive one by one, as a fan-out to one slow server does. Nothing is queued here
// and no CURLMOPT_MAX_*_CONNECTIONS cap is set: the engine above decides what runs, and a
// libcurl queue would count waiting time against each transfer's timeout.

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
using Steady = std::chrono::steady_clock;

// Readiness events taken from the epoll set at once; more simply wait for the next turn.
constexpr int kMaxEvents = 64;

}  // namespace

struct HttpMulti::Impl {
  // Why the sockets cannot be watched (the epoll set or the eventfd could not be made); set
  // by the constructor only, so other threads' Wakeup may read it.
  std::string watch_error;
  std::string multi_error;  // why there is no multi handle, once that is known
  // The sockets libcurl asks us to watch (OnSocket keeps the set), and the eventfd Wakeup
  // writes to, which sits in the same set. Closed after the multi handle is cleaned up.
  int epoll_fd = -1;
  int wake_fd = -1;
  // Made with the first transfer (a run that sends nothing never loads libcurl). Declared
  // before the slots, so it is destroyed after them: every easy handle is out of it and
  // cleaned up by then, the order libcurl asks for.
  CurlMultiPtr multi;
  std::vector<std::unique_ptr<Slot>> spare;  // at most kMaxSpareHandles
  std::unordered_map<CURL*, std::unique_ptr<Slot>> running;
  Finished refused;  // ended before any I/O; the next Poll returns them
  // When libcurl wants curl_multi_socket_action(CURL_SOCKET_TIMEOUT); none when unset.
  std::optional<Steady::time_point> timer_at;
  // Set by Wakeup, consumed by Poll: the eventfd only interrupts the wait, this tells Poll to
  // return.
  std::atomic<bool> woken{false};
  // Only where the sockets cannot be watched (watch_error): Poll waits here instead.
  std::mutex wake_mutex;
  std::condition_variable wake_cv;

  ~Impl() {
    if (multi) {
      // Cleaning the multi handle up closes its cached connections: nothing to watch anymore.
      Libcurl().multi_setopt(multi.get(), CURLMOPT_SOCKETFUNCTION, nullptr);
      Libcurl().multi_setopt(multi.get(), CURLMOPT_TIMERFUNCTION, nullptr);
    }
    running.clear();
    spare.clear();
    multi.reset();
    if (wake_fd >= 0) ::close(wake_fd);
    if (epoll_fd >= 0) ::close(epoll_fd);
  }

  // Sets up the epoll set and the eventfd in it; says why in watch_error when it cannot.
  void Watch() {
    epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event wake{};
    wake.events = EPOLLIN;
    wake.data.fd = wake_fd;
    if (epoll_fd < 0 || wake_fd < 0 || ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &wake) != 0) {
      watch_error = std::string("cannot watch sockets: ") + std::strerror(errno);
    }
  }

  // The multi handle, made (and libcurl loaded) by the first transfer; null when it cannot
  // be (multi_error says why).
  CURLM* Multi() {
    if (multi || !multi_error.empty()) return multi.get();
    if (!watch_error.empty()) {
      multi_error = watch_error;
      return nullptr;
    }
    auto made = NewMultiHandle();
    if (!made) {
      multi_error = made.error().message;
      return nullptr;
    }
    multi = std::move(*made);
    const CurlApi& api = Libcurl();
    CURLM* const m = multi.get();
    api.multi_setopt(m, CURLMOPT_MAXCONNECTS, kMaxCachedConnections);
    api.multi_setopt(m, CURLMOPT_SOCKETFUNCTION, &Impl::OnSocket);
    api.multi_setopt(m, CURLMOPT_SOCKETDATA, static_cast<void*>(this));
    api.multi_setopt(m, CURLMOPT_TIMERFUNCTION, &Impl::OnTimer);
    api.multi_setopt(m, CURLMOPT_TIMERDATA, static_cast<void*>(this));
    return m;
  }

  // libcurl's socket callback: watch `s` for what it waits on, or no more. A socket in the set
  // carries a mark (curl_multi_assign), so each call is one epoll_ctl that does not fail.
  static int OnSocket(CURL*, curl_socket_t s, int what, void* user, void* socketp) {
    auto* impl = static_cast<Impl*>(user);
    if (what == CURL_POLL_REMOVE) {
      // Fails harmlessly when libcurl closed the socket first (the kernel dropped it then).
      // libcurl forgets the mark itself.
      ::epoll_ctl(impl->epoll_fd, EPOLL_CTL_DEL, s, nullptr);
      return 0;
    }
    epoll_event ev{};
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    ev.data.fd = s;
    int op = socketp != nullptr ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int rc = ::epoll_ctl(impl->epoll_fd, op, s, &ev);
    if (rc != 0 && (errno == ENOENT || errno == EEXIST)) {
      // The mark and the set disagree (a number reused after a close): do the other one.
      op = op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
      rc = ::epoll_ctl(impl->epoll_fd, op, s, &ev);
    }
    if (rc != 0) {
      spdlog::warn("cannot watch a socket: {}", std::strerror(errno));
      return -1;  // libcurl fails the transfer that owns it
    }
    if (socketp == nullptr) Libcurl().multi_assign(impl->multi.get(), s, impl);
    return 0;
  }

  // libcurl's timer callback: when to call curl_multi_socket_action(CURL_SOCKET_TIMEOUT).
  static int OnTimer(CURLM*, long timeout_ms, void* user) {
    auto* impl = static_cast<Impl*>(user);
    if (timeout_ms < 0) {
      impl->timer_at.reset();
    } else {
      impl->timer_at = Steady::now() + std::chrono::milliseconds(timeout_ms);
    }
    return 0;
  }

  // A slot, with an easy handle if it had one before (Handle makes one).
  std::unique_ptr<Slot> TakeSlot() {
    if (spare.empty()) return std::make_unique<Slot>();
    std::unique_ptr<Slot> slot = std::move(spare.back());
    spare.pop_back();
    return slot;
  }

  // The multi handle and `slot`'s easy handle, made (and libcurl loaded) when first needed;
  // null, with the reason in `why`, when either cannot be.
  CURL* Handle(Slot& slot, std::string& why) {
    if (Multi() == nullptr) {
      why = multi_error;
      return nullptr;
    }
    if (!slot.easy) slot.easy.reset(Libcurl().easy_init());
    if (!slot.easy) why = "libcurl could not create a transfer handle";
    return slot.easy.get();
  }

  // Answers `tag` with `response` at the next Poll, never performed, and takes its `slot`
  // back (by reference: `response` may be made of the slot).
  void Refuse(std::uint64_t tag, std::unique_ptr<Slot>& slot, HttpResponse response) {
    refused.emplace_back(tag, std::move(response));
    Recycle(std::move(slot));
  }

  // Hands `slot`'s prepared handle `easy` to libcurl to perform as `tag`, or refuses it.
  void Add(std::uint64_t tag, std::unique_ptr<Slot>& slot, CURL* easy) {
    const CurlApi& curl = Libcurl();
    if (const CURLMcode rc = curl.multi_add_handle(multi.get(), easy); rc != CURLM_OK) {
      curl.easy_reset(easy);
      return Refuse(
          tag, slot,
          slot->Failure(std::string("libcurl refused the transfer: ") + curl.multi_strerror(rc)));
    }
    slot->tag = tag;
    running.emplace(easy, std::move(slot));
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
    Libcurl().multi_remove_handle(multi.get(), easy);
    return slot;
  }

  // Moves every transfer libcurl reports done into `done`.
  void Reap(Finished& done) {
    int queued = 0;
    while (CURLMsg* msg = Libcurl().multi_info_read(multi.get(), &queued)) {
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
  void FailRunning(std::string_view why, Finished& done) {
    const std::string what = std::string("libcurl multi interface failed: ") + std::string(why);
    while (!running.empty()) {
      CURL* const easy = running.begin()->first;
      std::unique_ptr<Slot> slot = Remove(easy);
      Libcurl().easy_reset(easy);
      done.emplace_back(slot->tag, slot->Failure(what));
      Recycle(std::move(slot));
    }
  }

  // Lets libcurl act on socket `s` (`mask`: which way it is ready), or on its timeout
  // (CURL_SOCKET_TIMEOUT), then reaps. False when the multi handle failed (all reported).
  bool Act(curl_socket_t s, int mask, Finished& done) {
    int still_running = 0;
    if (const CURLMcode rc = Libcurl().multi_socket_action(multi.get(), s, mask, &still_running);
        rc != CURLM_OK) {
      FailRunning(Libcurl().multi_strerror(rc), done);
      return false;
    }
    Reap(done);
    return true;
  }

  // Runs libcurl's timeout if it is due (transfers just added start here).
  bool RunTimerIfDue(Finished& done) {
    if (!timer_at || *timer_at > Steady::now()) return true;
    timer_at.reset();  // libcurl sets the next one from inside the call
    return Act(CURL_SOCKET_TIMEOUT, 0, done);
  }

  // Waits at most `timeout_ms` for readiness and acts on what is ready. False when the multi
  // handle failed (all reported).
  bool WaitAndAct(int timeout_ms, Finished& done) {
    epoll_event events[kMaxEvents];
    const int n = ::epoll_wait(epoll_fd, events, kMaxEvents, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) return true;
      FailRunning(std::string("epoll_wait: ") + std::strerror(errno), done);
      return false;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_fd) {
        std::uint64_t count = 0;
        while (::read(wake_fd, &count, sizeof count) > 0) {
        }
        continue;
      }
      const std::uint32_t e = events[i].events;
      const int mask = ((e & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) ? CURL_CSELECT_IN : 0) |
                       ((e & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                       ((e & EPOLLERR) ? CURL_CSELECT_ERR : 0);
      if (!Act(fd, mask, done)) return false;
    }
    return true;
  }
};

HttpMulti::HttpMulti() : impl_(std::make_unique<Impl>()) { impl_->Watch(); }

HttpMulti::~HttpMulti() { AbandonAll(); }

void HttpMulti::Start(std::uint64_t tag, HttpRequest request) {
  Impl& impl = *impl_;
  std::unique_ptr<Slot> slot = impl.TakeSlot();
  slot->request = std::move(request);
  EasyTransfer& transfer = slot->transfer.emplace();
  // Checked (and a local file answered) before anything of libcurl is needed.
  if (!transfer.Check(slot->request)) return impl.Refuse(tag, slot, transfer.TakeResponse());
  std::string why;
  CURL* const easy = impl.Handle(*slot, why);
  if (easy == nullptr) return impl.Refuse(tag, slot, slot->Failure(why));
  // Prepare leaves the handle untouched when it refuses.
  if (!transfer.Prepare(easy, slot->request)) {
    return impl.Refuse(tag, slot, transfer.TakeResponse());
  }
  // perf-notes §4: wait for a connection that may multiplex (h2 over TLS) rather than open
  // another; plain http is HTTP/1.1 only, where waiting would only delay.
  if (transfer.is_https()) Libcurl().easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
  impl.Add(tag, slot, easy);
}

void HttpMulti::StartMail(std::uint64_t tag, MailRequest request) {
  Impl& impl = *impl_;
  std::unique_ptr<Slot> slot = impl.TakeSlot();
  slot->mail = std::move(request);
  MailTransfer& transfer = slot->mail_transfer.emplace();
  std::string why;
  CURL* const easy = impl.Handle(*slot, why);
  if (easy == nullptr) return impl.Refuse(tag, slot, slot->Failure(why));
  if (!transfer.Prepare(easy, slot->mail)) return impl.Refuse(tag, slot, transfer.TakeResponse());
  impl.Add(tag, slot, easy);
}

std::vector<std::pair<std::uint64_t, HttpResponse>> HttpMulti::Poll(
    std::chrono::milliseconds wait) {
  Impl& impl = *impl_;
  Finished done = std::move(impl.refused);
  impl.refused.clear();
  if (!impl.watch_error.empty()) {
    if (done.empty()) {
      std::unique_lock lock(impl.wake_mutex);
      impl.wake_cv.wait_for(lock, wait, [&] { return impl.woken.exchange(false); });
    }
    return done;
  }

  const auto deadline = Steady::now() + wait;
  // Transfers started since the last Poll begin on libcurl's timeout, which they set to 0.
  bool ok = impl.RunTimerIfDue(done);
  while (ok && done.empty() && !impl.woken.exchange(false)) {
    const auto now = Steady::now();
    // Wait for readiness, a wakeup, libcurl's next timeout or the deadline, whichever first;
    // a wait of 0 still takes what is ready now.
    auto until = deadline;
    if (impl.timer_at) until = std::min(until, *impl.timer_at);
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
    const int timeout_ms =
        static_cast<int>(std::clamp<std::int64_t>(left, 0, std::numeric_limits<int>::max()));
    ok = impl.WaitAndAct(timeout_ms, done) && impl.RunTimerIfDue(done);
    if (Steady::now() >= deadline) break;
  }
  return done;
}

void HttpMulti::Wakeup() {
  Impl& impl = *impl_;
  impl.woken.store(true);
  if (!impl.watch_error.empty()) {
    // Taking the lock orders this notify after a waiter's check of `woken`.
    std::lock_guard lock(impl.wake_mutex);
    impl.wake_cv.notify_all();
    return;
  }
  const std::uint64_t one = 1;
  if (::write(impl.wake_fd, &one, sizeof one) < 0 && errno != EAGAIN) {
    // The flag still ends the Poll, at its next return from epoll_wait.
    spdlog::warn("cannot wake the transfer loop: {}", std::strerror(errno));
  }
}

void HttpMulti::AbandonAll() {
  Impl& impl = *impl_;
  while (!impl.running.empty()) {
    CURL* const easy = impl.running.begin()->first;
    std::unique_ptr<Slot> slot = impl.Remove(easy);
    Libcurl().easy_reset(easy);
    impl.Recycle(std::move(slot));
  }
  impl.refused.clear();
}

std::size_t HttpMulti::pending() const { return impl_->running.size() + impl_->refused.size(); }

}  // namespace digestd
