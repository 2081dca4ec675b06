// MailTransfer: one SMTP transaction (one envelope: a sender, its recipients, one message) on
// a libcurl easy handle, for HttpMulti to drive beside its HTTP transfers — so the delivery
// engine sends mail on the same multi handle and loop as webhooks (DESIGN.md §7). Sets up
// smtp:// with STARTTLS (required, if offered, or never) and smtps://, AUTH, timeouts, TLS
// verification, and reads how the server answered. Internal to net/.
// One object per transaction, used from one thread.
#pragma once

#include <curl/curl.h>

#include <string>
#include <string_view>

#include "net/easy_transfer.h"
#include "net/http_client.h"
#include "net/mail_request.h"

namespace digestd {

class MailTransfer {
 public:
  MailTransfer() = default;
  MailTransfer(const MailTransfer&) = delete;  // libcurl's callbacks hold its address
  MailTransfer& operator=(const MailTransfer&) = delete;

  // As EasyTransfer::Prepare: true when `curl` is set up to perform `request`; false when the
  // outcome is already known (a refused URL or address) and `curl` is untouched. `request`
  // and this object must outlive the transfer.
  bool Prepare(CURL* curl, const MailRequest& request);

  // Records how the transaction ended and resets `curl`. The response, for mail:
  //  - accepted: error kNone, status 250 (the server's answer to the end of DATA);
  //  - refused by the server (a 4xx or 5xx to MAIL, RCPT or DATA): error kNone, status that
  //    code, body "<step> failed: <the server's reply>" (e.g. "RCPT failed: 550 5.1.1 ...");
  //  - authentication refused: error kAuth, the message naming the user and the reply;
  //  - no connection, TLS (STARTTLS required but not offered too), timeouts: that error.
  void Finish(CURL* curl, CURLcode rc);

  HttpResponse TakeResponse() { return std::move(response_); }

 private:
  static size_t OnRead(char* buffer, size_t size, size_t count, void* user);
  static int OnDebug(CURL* curl, curl_infotype type, char* data, size_t size, void* user);
  void Fail(TransferError error, std::string_view what);

  HttpResponse response_;
  std::string where_;       // "SMTP redacted-url", the prefix of every message
  std::string username_;    // named when authentication fails (never the password)
  std::string_view message_;
  std::size_t sent_ = 0;    // bytes of message_ handed to libcurl
  std::string last_reply_;  // the server's last reply line
  std::string refusal_;     // its last 4xx/5xx reply line (a QUIT's 221 may follow it)
  CurlSlistPtr recipients_;
  char error_buffer_[CURL_ERROR_SIZE] = {};
};

}  // namespace digestd
