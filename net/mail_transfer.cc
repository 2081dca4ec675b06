#include "net/mail_transfer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace digestd {
namespace {

constexpr long kCaCacheSeconds = 24 * 60 * 60;
constexpr std::size_t kMaxReplyBytes = 300;

bool IsEnvelopeAddress(std::string_view address) {
  return !address.empty() && address.find('@') != std::string_view::npos &&
         std::all_of(address.begin(), address.end(), [](char c) {
           const auto u = static_cast<unsigned char>(c);
           return u > 0x20 && u < 0x7f && c != '<' && c != '>';
         });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

size_t MailTransfer::OnRead(char* buffer, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<MailTransfer*>(user);
  const size_t n = std::min(size * count, transfer->message_.size() - transfer->sent_);
  std::memcpy(buffer, transfer->message_.data() + transfer->sent_, n);
  transfer->sent_ += n;
  return n;
}

// libcurl shows the server's replies only to a debug callback: the last one names what the
// server refused and why ("550 5.1.1 <bob@example.org>: no such user").
int MailTransfer::OnDebug(CURL*, curl_infotype type, char* data, size_t size, void* user) {
  if (type != CURLINFO_HEADER_IN) return 0;
  auto* transfer = static_cast<MailTransfer*>(user);
  std::string_view line(data, size);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.empty()) return 0;
  std::string reply(line.substr(0, kMaxReplyBytes));
  for (char& c : reply) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  if (reply.size() >= 3 && (reply[0] == '4' || reply[0] == '5')) transfer->refusal_ = reply;
  transfer->last_reply_ = std::move(reply);
  return 0;
}

void MailTransfer::Fail(TransferError error, std::string_view what) {
  response_.error = error;
  response_.error_message = where_ + ": " + std::string(what);
  spdlog::debug("{}", response_.error_message);
}

bool MailTransfer::Prepare(CURL* curl, const MailRequest& request) {
  const CurlApi& api = Libcurl();
  where_ = "SMTP " + RedactUrl(request.url);
  username_ = request.username;
  message_ = request.message;
  sent_ = 0;
  const std::string scheme = Lower(request.url.substr(0, request.url.find("://")));
  if (request.url.find("://") == std::string::npos || (scheme != "smtp" && scheme != "smtps")) {
    Fail(TransferError::kBadUrl, "the URL must be smtp:// or smtps://");
    return false;
  }
  if (!IsEnvelopeAddress(request.mail_from)) {
    Fail(TransferError::kOther, "the envelope sender is not an address");
    return false;
  }
  if (request.recipients.empty()) {
    Fail(TransferError::kOther, "no recipient");
    return false;
  }
  for (const std::string& rcpt : request.recipients) {
    if (!IsEnvelopeAddress(rcpt)) {
      Fail(TransferError::kOther, "a recipient is not an address");
      return false;
    }
    curl_slist* appended = api.slist_append(recipients_.get(), ("<" + rcpt + ">").c_str());
    if (appended == nullptr) {
      Fail(TransferError::kOther, "out of memory");
      return false;
    }
    (void)recipients_.release();  // curl_slist_append extended the same list
    recipients_.reset(appended);
  }

  CURLcode set_result = CURLE_OK;
  const auto set = [&](CURLoption option, auto value) {
    const CURLcode rc = api.easy_setopt(curl, option, value);
    if (rc != CURLE_OK && set_result == CURLE_OK) set_result = rc;
  };
  const long timeout_ms = std::max<long>(1, request.timeout.count());
  set(CURLOPT_ERRORBUFFER, error_buffer_);
  set(CURLOPT_URL, request.url.c_str());
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  set(CURLOPT_TIMEOUT_MS, timeout_ms);
  set(CURLOPT_CONNECTTIMEOUT_MS, std::max<long>(1, request.connect_timeout.count()));
  set(CURLOPT_SERVER_RESPONSE_TIMEOUT, std::max<long>(1, (timeout_ms + 999) / 1000));
  set(CURLOPT_MAIL_FROM, ("<" + request.mail_from + ">").c_str());
  set(CURLOPT_MAIL_RCPT, recipients_.get());
  set(CURLOPT_UPLOAD, 1L);
  set(CURLOPT_READFUNCTION, &MailTransfer::OnRead);
  set(CURLOPT_READDATA, static_cast<void*>(this));
  set(CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.message.size()));
  set(CURLOPT_VERBOSE, 1L);
  set(CURLOPT_DEBUGFUNCTION, &MailTransfer::OnDebug);
  set(CURLOPT_DEBUGDATA, static_cast<void*>(this));
  if (!request.username.empty()) {
    set(CURLOPT_USERNAME, request.username.c_str());
    set(CURLOPT_PASSWORD, request.password.c_str());
  }
  if (scheme == "smtp") {
    // platforms.md §2.2: CURLUSESSL_ALL fails when STARTTLS is not offered; TRY goes on in
    // plain text (only ever chosen by the user, or on loopback by default).
    const long use_ssl = request.starttls == StartTls::kRequired    ? long(CURLUSESSL_ALL)
                         : request.starttls == StartTls::kIfOffered ? long(CURLUSESSL_TRY)
                                                                    : long(CURLUSESSL_NONE);
    set(CURLOPT_USE_SSL, use_ssl);
  }
  set(CURLOPT_SSL_VERIFYPEER, request.tls_verify ? 1L : 0L);
  set(CURLOPT_SSL_VERIFYHOST, request.tls_verify ? 2L : 0L);
  set(CURLOPT_CAPATH, static_cast<const char*>(nullptr));
  set(CURLOPT_CA_CACHE_TIMEOUT, kCaCacheSeconds);
  if (!request.ca_file.empty()) set(CURLOPT_CAINFO, request.ca_file.c_str());
  if (set_result != CURLE_OK) {
    api.easy_reset(curl);
    Fail(TransferError::kOther,
         std::string("libcurl refused an option: ") + api.easy_strerror(set_result));
    return false;
  }
  return true;
}

void MailTransfer::Finish(CURL* curl, CURLcode rc) {
  const CurlApi& api = Libcurl();
  long code = 0;
  api.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  const std::string detail = error_buffer_[0] != '\0' ? error_buffer_ : api.easy_strerror(rc);
  api.easy_reset(curl);
  recipients_.reset();
  response_.status = code;
  if (rc == CURLE_OK) {
    spdlog::debug("{}: accepted ({})", where_, last_reply_);
    return;
  }
  if (rc == CURLE_LOGIN_DENIED) {
    Fail(TransferError::kAuth, "authentication as " + username_ + " failed: " +
                                   (refusal_.empty() ? detail : refusal_));
    return;
  }
  if (code >= 400 && code < 600) {
    // The server refused a step: an answer, not a transport failure. libcurl's message names
    // the step ("RCPT failed: 550"); the server's own line says why.
    std::string step = detail.substr(0, detail.find(':'));
    if (step.find(" failed") == std::string::npos) step = "the message was refused";
    response_.body = step + ": " + (refusal_.empty() ? std::to_string(code) : refusal_);
    spdlog::debug("{}: {}", where_, response_.body);
    return;
  }
  TransferError error = TransferError::kOther;
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
      error = TransferError::kDns;
      break;
    case CURLE_COULDNT_CONNECT:
      error = TransferError::kConnect;
      break;
    case CURLE_OPERATION_TIMEDOUT:
      error = TransferError::kTimeout;
      break;
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      error = TransferError::kTls;
      break;
    default:
      break;
  }
  std::string what = detail;
  if (rc == CURLE_USE_SSL_FAILED) what = "STARTTLS is required but the server refused or did not offer it (" + detail + ")";
  // Lost between the end of DATA and the server's answer: the mail may have arrived. The
  // retry carries the same Message-ID, so the recipient can tell (platforms.md §2.2).
  if (!last_reply_.empty() && error != TransferError::kTls) what += " (last reply: " + last_reply_ + ")";
  Fail(error, what);
}

}  // namespace digestd
