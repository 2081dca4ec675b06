// MailRequest: one SMTP transaction as the delivery engine asks net/ for it (HttpMulti::
// StartMail): one envelope, one message. Plain data.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/notifier_config.h"

namespace digestd {

struct MailRequest {
  std::string url;                       // smtp://host[:port] or smtps://host[:port]
  std::string mail_from;                 // envelope sender: a bare address
  std::vector<std::string> recipients;   // envelope recipients: bare addresses
  std::string username;                  // empty: no AUTH
  std::string password;
  StartTls starttls = StartTls::kRequired;  // smtp:// only
  std::string message;                   // the whole RFC 5322 message, CRLF line ends
  std::chrono::milliseconds timeout{30000};  // the whole transaction, and each server reply
  std::chrono::milliseconds connect_timeout{10000};
  bool tls_verify = true;
  std::string ca_file;                   // PEM CAs to trust; empty: the system's
};

}  // namespace digestd
