// HttpMulti: transfers started one by one and reaped as they end, over one libcurl multi
// handle — the delivery engine's transport for HTTP and SMTP (it paces and caps per target itself,
// so nothing queues here). Each transfer has the limits and the outcome classification of
// HttpClient::Fetch (net/easy_transfer.h). Connections are kept and reused per origin; a socket
// that becomes ready costs only its own transfer's work (libcurl socket actions over epoll).
// Used from one thread, except Wakeup(), which any thread may call.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "net/http_client.h"
#include "net/mail_request.h"

namespace digestd {

class HttpMulti {
 public:
  HttpMulti();
  ~HttpMulti();  // abandons what still runs
  HttpMulti(const HttpMulti&) = delete;
  HttpMulti& operator=(const HttpMulti&) = delete;

  // Starts `request` now; its response comes back from Poll under `tag`. A request refused
  // before any I/O (a bad URL, say) comes back from the next Poll, never from here. Tags are
  // the caller's: they are returned as given, never checked for uniqueness.
  void Start(std::uint64_t tag, HttpRequest request);

  // Starts one SMTP transaction now, like Start; its response (MailTransfer::Finish says
  // what it holds) comes back from Poll under `tag`.
  void StartMail(std::uint64_t tag, MailRequest request);

  // Drives the transfers for at most `wait` and returns those that ended (possibly none),
  // each started transfer exactly once, failures included (never throws). Returns early when a
  // transfer ends or Wakeup() is called; with nothing pending it simply waits, so the caller
  // can sleep here until its next deadline or a Wakeup.
  std::vector<std::pair<std::uint64_t, HttpResponse>> Poll(std::chrono::milliseconds wait);

  // Makes a Poll in progress (or the next one) return at once. Thread-safe.
  void Wakeup();

  // Stops every running transfer; none of them is reported. Their connections close. Refused
  // requests not yet returned are dropped too, so pending() is 0 afterwards.
  void AbandonAll();

  // Transfers started and not yet returned by Poll.
  std::size_t pending() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace digestd
