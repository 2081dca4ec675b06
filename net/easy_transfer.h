// EasyTransfer: one HttpRequest on a libcurl easy handle: the checks, options, callbacks and
// error classification that HttpClient (one at a time) and HttpBatch (many at once) share, so
// both classify every outcome the same way. Internal to net/. One object per transfer, used
// from one thread.
#pragma once

#include <curl/curl.h>
#include <sys/stat.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "net/http_client.h"
#include "net/libcurl.h"

namespace digestd {

struct CurlEasyDeleter {
  void operator()(CURL* curl) const { Libcurl().easy_cleanup(curl); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* list) const { Libcurl().slist_free_all(list); }
};
struct CurlMultiDeleter {
  void operator()(CURLM* multi) const { Libcurl().multi_cleanup(multi); }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlMultiPtr = std::unique_ptr<CURLM, CurlMultiDeleter>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// A validator for a local file, made as web servers make one from a file's inode, size and
// times: "inode-size-mtime-ctime" in hex, the times to the nanosecond. The kernel sets the
// ctime on every change and no one can set it back, so a file written again, renamed over or
// touched back to its old mtime gets another tag. None ("") while the file is less than 3 s
// old at `now`, or dated after it: times move in ticks (a few ms; 2 s on FAT), and a write in
// the tick of the read before would leave every field as it was (git's "racily clean"
// entries).
std::string FileEtag(const struct stat& st, const timespec& now);

// A new multi handle, libcurl loaded first; the error says why there is none.
Result<CurlMultiPtr> NewMultiHandle();

// The path of a plain local file URL ("file:///dir/name.md": printable ASCII without a
// query, fragment, escape, dot segment or drive letter), which libcurl parses to that path
// and prints back unchanged; nullopt for any other URL, which only libcurl's parser reads.
// A run whose sources are such files never loads libcurl (net/libcurl.h).
std::optional<std::string_view> PlainFilePath(std::string_view url);

// "scheme://host:port" (lower case, default port filled in) of an http(s) URL: the key for
// per-host limits. Empty for file:// and for URLs that do not parse.
std::string UrlOrigin(const std::string& url);

// A finished response for a request that never reached libcurl: error set, and the message
// "METHOD redacted-url: what", like every other failure.
HttpResponse TransferFailure(const HttpRequest& request, TransferError error,
                             std::string_view what);

class EasyTransfer {
 public:
  EasyTransfer() = default;
  EasyTransfer(const EasyTransfer&) = delete;  // libcurl's callbacks hold its address
  EasyTransfer& operator=(const EasyTransfer&) = delete;

  // Checks `request` and answers it where that needs no libcurl: a refused request, a local
  // file read where it is, a missing one. True when libcurl must perform it (then Prepare);
  // false when the response is known (TakeResponse).
  bool Check(const HttpRequest& request);

  // After Check returned true: sets `curl` up to perform `request`. `curl` must be fresh
  // from curl_easy_init or handed back by Finish. Returns true when the handle is ready to
  // perform; false when the request is refused after all and `curl` is untouched. `request`
  // and this object must outlive the transfer: libcurl reads the request body in place and
  // the callbacks write here.
  bool Prepare(CURL* curl, const HttpRequest& request);

  // Records how the performed transfer ended (libcurl's result `rc`), then resets `curl` so
  // it keeps no pointer into this object or the request (its connections stay cached).
  void Finish(CURL* curl, CURLcode rc);

  // The response; call once, after Finish or after Prepare returned false.
  HttpResponse TakeResponse() { return std::move(response_); }

  // True for https URLs, where HTTP/2 can be negotiated.
  bool is_https() const { return is_https_; }

 private:
  static size_t OnBody(char* data, size_t size, size_t count, void* user);
  static size_t OnHeader(char* data, size_t size, size_t count, void* user);
  // Whether libcurl is loaded (loading it); if it cannot be, the response fails saying why.
  bool LibcurlLoaded();
  // Marks the response failed with "Where(): what"; a partial body is never the caller's.
  void Fail(TransferError error, std::string_view what);
  // "METHOD redacted-url", the prefix of every message. Made only when one is written:
  // redacting parses the URL again, a cost every successful transfer would pay for nothing.
  std::string Where() const;
  // The regular file at `path` as the response, read where it is (HttpResponse::spooled
  // reads the file itself) rather than copied by libcurl into memory or a spool file. False,
  // with nothing set, where libcurl should read it after all: it cannot be opened, is not a
  // regular file, or is larger than the request allows (libcurl then says why). A file whose
  // FileEtag is `if_none_match` is answered 304, unread.
  bool ReadLocalFile(const std::string& path, std::string_view if_none_match);
  // A 3xx named `location`: when it leads to another origin, the request's own headers
  // are cut from the list libcurl sends next.
  void OnRedirect(std::string_view location);

  HttpResponse response_;
  std::string method_;     // for Where()
  std::string shown_url_;  // the request's shown_url, or its URL to redact in Where()
  bool redact_shown_ = false;
  std::uint64_t max_bytes_ = 0;
  bool too_large_ = false;  // set by OnBody when it refused more bytes
  std::uint64_t spool_above_ = 0;  // the request's
  std::string spool_dir_;
  std::string spool_error_;  // set by OnBody when the spool file could not be written
  CURL* curl_ = nullptr;    // the handle performing this transfer, between Prepare and Finish
  bool body_sized_ = false;  // OnBody has reserved the announced length
  bool is_file_ = false;
  bool is_https_ = false;
  CurlSlistPtr headers_;
  std::string origin_;          // of the request's URL, when a redirect may need it
  std::string current_url_;     // the URL answering now, as redirects lead
  std::size_t custom_headers_ = 0;  // the request's headers still at the front of headers_
  bool in_redirect_ = false;    // the response being read is a 3xx
  bool follows_ = false;        // libcurl follows redirects for this request
  char error_buffer_[CURL_ERROR_SIZE] = {};
};

}  // namespace digestd
