// HttpClient: one transfer at a time over libcurl (http, https and file URLs), with the
// limits every digestd transfer needs. Each call is independent; an HttpClient may be used
// from one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/spool.h"

namespace digestd {

struct HttpRequest {
  std::string url;
  std::string shown_url;  // how messages and logs name the URL; "": RedactUrl(url)
  std::string method = "GET";
  std::string body;                                   // sent when non-empty
  std::map<std::string, std::string> headers;
  std::chrono::milliseconds timeout{30000};           // the whole transfer
  std::chrono::milliseconds connect_timeout{10000};
  std::uint64_t max_bytes = 20'000'000;               // enforced while receiving
  bool tls_verify = true;
  std::string user_agent;                             // empty: "digestd/VERSION"
  std::string if_none_match;                          // ETag from the last 200
  std::string if_modified_since;                      // Last-Modified from the last 200
  std::string ca_file;                                // PEM CAs to trust; empty: the system's
  bool follow_redirects = true;                       // false: a 3xx is the response
  // A body longer than this many bytes goes to an unnamed file in `spool_dir` ("": the
  // TMPDIR), HttpResponse::spooled, instead of memory; 0: always memory.
  std::uint64_t spool_above = 0;
  std::string spool_dir;
};

enum class TransferError {
  kNone,        // the transfer completed; look at `status`
  kBadUrl,      // malformed URL or a scheme other than http, https, file
  kDns,
  kConnect,
  kTls,
  kTimeout,
  kTooLarge,    // the body passed max_bytes
  kRedirect,    // too many redirects, or one to a scheme other than http/https
  kFile,        // a file:// URL that could not be read (a missing file is status 404)
  kAuth,        // the server refused our credentials (SMTP AUTH)
  kOther,
};

struct HttpResponse {
  TransferError error = TransferError::kNone;
  std::string error_message;          // names the URL and what happened, when error != kNone
  long status = 0;                    // HTTP status; file:// gives 200, or 404 when missing
  std::string body;                   // the whole (decoded) body; empty when error != kNone
  // The body instead of `body` when it was longer than the request's spool_above; null
  // otherwise and when error != kNone. Shared, so that a response stays copyable.
  std::shared_ptr<Spool> spooled;
  std::string content_type;
  std::string etag;
  std::string last_modified;
  std::string retry_after;            // raw header value, when the server sent one
  std::string effective_url;          // after redirects

  bool ok() const { return error == TransferError::kNone && status >= 200 && status < 300; }
};

// A stable lower-case name for logs and metrics: "none", "bad_url", "dns", "too_large", ...
const char* TransferErrorName(TransferError e);

// The URL without userinfo or fragment, with the values of secret-looking query parameters
// (token, key, secret, pass, auth, sig, ...) replaced by REDACTED: safe for logs and messages.
std::string RedactUrl(std::string_view url);

// Loads libcurl now (net/libcurl.h); false if it cannot be (the first transfer says why).
bool LoadTransfers();
// LoadTransfers on a thread of its own: the caller goes on meanwhile, and its first transfer
// waits for the load (the answer is ready when the future is). Where no thread can be
// started, loads on the caller's before returning.
std::future<bool> LoadTransfersAside();

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Performs the transfer. Never throws; every failure comes back in the response.
  HttpResponse Fetch(const HttpRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace digestd
