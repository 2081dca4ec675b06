#include "net/easy_transfer.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>

#include "core/dates.h"

namespace digestd {
namespace {

constexpr long kMaxRedirects = 5;
constexpr long kCaCacheSeconds = 24 * 60 * 60;
constexpr long kGetBufferBytes = 512 * 1024;  // CURLOPT_BUFFERSIZE of a GET
constexpr const char* kDefaultUserAgent = "digestd/" DIGESTD_VERSION;
// Query parameters whose values are kept out of messages (matched as substrings of the
// lower-cased name).
// Query parameters whose values are redacted: any name containing one of these (access_token,
// apikey, signature, X-Amz-Signature, ...), and the names in kSecretQueryExact (an OAuth
// `code`; as a substring it would hide zipcode=).
constexpr std::string_view kSecretQueryNames[] = {"token", "key", "secret",     "pass",
                                                  "auth",  "sig", "credential", "session"};
constexpr std::string_view kSecretQueryExact[] = {"code", "jwt", "otp"};

struct UrlDeleter {
  void operator()(CURLU* url) const { Libcurl().url_cleanup(url); }
};
struct CurlStringDeleter {
  void operator()(char* s) const { Libcurl().free(s); }
};
using UrlPtr = std::unique_ptr<CURLU, UrlDeleter>;
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && Lower(a) == Lower(b);
}

std::string_view Trim(std::string_view s) {
  const auto not_space = [](char c) { return c != ' ' && c != '\t' && c != '\r' && c != '\n'; };
  while (!s.empty() && !not_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && !not_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string GetPart(CURLU* url, CURLUPart part, unsigned flags = 0) {
  char* raw = nullptr;
  if (Libcurl().url_get(url, part, &raw, flags) != CURLUE_OK) return {};
  CurlString owned(raw);
  return raw ? std::string(raw) : std::string();
}

std::string RedactQuery(std::string_view query) {
  std::string out;
  while (true) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    const std::string name = Lower(pair.substr(0, eq));
    const bool secret =
        std::any_of(std::begin(kSecretQueryNames), std::end(kSecretQueryNames),
                    [&](std::string_view s) { return name.find(s) != name.npos; }) ||
        std::any_of(std::begin(kSecretQueryExact), std::end(kSecretQueryExact),
                    [&](std::string_view s) { return name == s; });
    if (!out.empty()) out += '&';
    if (secret && eq != pair.npos) {
      out.append(pair.substr(0, eq)).append("=REDACTED");
    } else {
      out.append(pair);
    }
    if (amp == query.npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

// Where libcurl cannot parse the URL: drop the userinfo and everything from '?' by hand.
std::string RedactUnparsed(std::string_view url) {
  std::string out(url.substr(0, url.find_first_of("?#")));
  const size_t scheme_end = out.find("://");
  const size_t authority = scheme_end == out.npos ? 0 : scheme_end + 3;
  const size_t authority_end = out.find('/', authority);
  const size_t at = out.rfind('@', authority_end == out.npos ? out.npos : authority_end);
  if (at != out.npos && at >= authority) out.erase(authority, at + 1 - authority);
  return out;
}

struct ParsedUrl {
  std::string scheme;     // lower case
  std::string file_path;  // decoded path, for file:// only
};

// Parses the URL the way libcurl will (libcurl loaded). Returns an empty string on success,
// else the reason.
std::string ParseUrl(const std::string& url, ParsedUrl& parsed) {
  if (const auto path = PlainFilePath(url)) {
    parsed.scheme = "file";
    parsed.file_path = *path;
    return {};
  }
  const CurlApi& curl = Libcurl();
  UrlPtr handle(curl.url());
  if (!handle) return "out of memory";
  const CURLUcode rc =
      curl.url_set(handle.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME);
  if (rc != CURLUE_OK) return std::string("malformed URL (") + curl.url_strerror(rc) + ")";
  parsed.scheme = Lower(GetPart(handle.get(), CURLUPART_SCHEME));
  if (parsed.scheme == "file") {
    char* raw = nullptr;
    if (curl.url_get(handle.get(), CURLUPART_PATH, &raw, CURLU_URLDECODE) != CURLUE_OK ||
        raw == nullptr) {
      return "malformed file path";
    }
    CurlString owned(raw);
    parsed.file_path = raw;
  }
  return {};
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return c > 0x20 && c < 0x7f && c != ':' && c != '(' && c != ')' && c != ',' && c != ';';
  });
}

bool IsHeaderValue(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == s.npos;
}

bool IsTlsError(CURLcode rc) {
  switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
      return true;
    default:
      return false;
  }
}

// Maps libcurl's result to ours; `detail` is libcurl's own message.
TransferError Classify(CURLcode rc, bool too_large, long redirects, bool is_file,
                       std::string_view detail) {
  switch (rc) {
    case CURLE_OK:
      return TransferError::kNone;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      // The first URL was checked before the transfer, so after a redirect these mean
      // the Location itself was bad or pointed at a refused scheme.
      return redirects > 0 ? TransferError::kRedirect : TransferError::kBadUrl;
    case CURLE_TOO_MANY_REDIRECTS:
      return TransferError::kRedirect;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return TransferError::kDns;
    case CURLE_COULDNT_CONNECT:
      return TransferError::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      // A resolver that never answers is a DNS problem to the user, not a slow server.
      return detail.starts_with("Resolving timed out") ? TransferError::kDns
                                                       : TransferError::kTimeout;
    case CURLE_FILESIZE_EXCEEDED:
      return TransferError::kTooLarge;
    case CURLE_WRITE_ERROR:
      return too_large ? TransferError::kTooLarge : TransferError::kOther;
    case CURLE_FILE_COULDNT_READ_FILE:
    case CURLE_READ_ERROR:
      return is_file ? TransferError::kFile : TransferError::kOther;
    default:
      return IsTlsError(rc) ? TransferError::kTls : TransferError::kOther;
  }
}

timespec WallClockNow() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return now;
}

std::string Where(const HttpRequest& request) {
  return request.method + " " +
         (request.shown_url.empty() ? RedactUrl(request.url) : request.shown_url);
}

}  // namespace

Result<CurlMultiPtr> NewMultiHandle() {
  const auto curl = LoadLibcurl();
  if (!curl) return Unexpected(curl.error());
  CurlMultiPtr multi((*curl)->multi_init());
  if (!multi) return Unexpected("libcurl failed to initialise: out of memory");
  return multi;
}

std::optional<std::string_view> PlainFilePath(std::string_view url) {
  if (!url.starts_with("file:///")) return std::nullopt;
  const std::string_view path = url.substr(std::string_view("file://").size());
  for (const char c : path) {
    // libcurl refuses spaces and controls, decodes escapes, ends the path at '?' or '#'.
    if (c <= 0x20 || c >= 0x7f || c == '%' || c == '?' || c == '#') return std::nullopt;
  }
  // It drops "." and ".." segments, and refuses a drive letter ("file:///C:/") off Windows.
  for (std::size_t at = path.find("/."); at != path.npos; at = path.find("/.", at + 1)) {
    const std::string_view rest = path.substr(at + 2);
    if (rest.empty() || rest.front() == '/' ||
        (rest.front() == '.' && (rest.size() == 1 || rest[1] == '/'))) {
      return std::nullopt;
    }
  }
  if (path.size() >= 3 && std::isalpha(static_cast<unsigned char>(path[1])) &&
      (path[2] == ':' || path[2] == '|')) {
    return std::nullopt;
  }
  return path;
}

std::string FileEtag(const struct stat& st, const timespec& now) {
  constexpr std::int64_t kSecond = 1'000'000'000;
  constexpr std::int64_t kSettled = 3 * kSecond;
  const auto ns = [](const timespec& t) { return std::int64_t(t.tv_sec) * kSecond + t.tv_nsec; };
  if (ns(now) - ns(st.st_ctim) < kSettled || ns(now) - ns(st.st_mtim) < kSettled) return {};
  char tag[128];
  const int n = std::snprintf(tag, sizeof tag, "\"%jx-%jx-%jx.%lx-%jx.%lx\"",
                              std::uintmax_t(st.st_ino), std::uintmax_t(st.st_size),
                              std::uintmax_t(st.st_mtim.tv_sec), long(st.st_mtim.tv_nsec),
                              std::uintmax_t(st.st_ctim.tv_sec), long(st.st_ctim.tv_nsec));
  return n > 0 && std::size_t(n) < sizeof tag ? std::string(tag, std::size_t(n)) : std::string();
}

std::string UrlOrigin(const std::string& url) {
  // Only an http(s) URL has an origin; no other needs libcurl loaded to say so.
  const std::string scheme = Lower(std::string_view(url).substr(0, url.find(':')));
  if (scheme != "http" && scheme != "https") return {};
  const auto curl = LoadLibcurl();
  if (!curl) return {};
  UrlPtr handle((*curl)->url());
  if (!handle || (*curl)->url_set(handle.get(), CURLUPART_URL, url.c_str(),
                                  CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return {};
  }
  return Lower(GetPart(handle.get(), CURLUPART_SCHEME)) + "://" +
         Lower(GetPart(handle.get(), CURLUPART_HOST)) + ":" +
         GetPart(handle.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
}

std::string RedactUrl(std::string_view url) {
  if (PlainFilePath(url)) return std::string(url);  // nothing in it to hide
  const auto loaded = LoadLibcurl();
  if (!loaded) return RedactUnparsed(url);
  const CurlApi& curl = **loaded;
  UrlPtr handle(curl.url());
  const std::string copy(url);
  if (!handle || curl.url_set(handle.get(), CURLUPART_URL, copy.c_str(),
                              CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return RedactUnparsed(url);
  }
  curl.url_set(handle.get(), CURLUPART_USER, nullptr, 0);
  curl.url_set(handle.get(), CURLUPART_PASSWORD, nullptr, 0);
  curl.url_set(handle.get(), CURLUPART_OPTIONS, nullptr, 0);
  curl.url_set(handle.get(), CURLUPART_FRAGMENT, nullptr, 0);
  const std::string query = GetPart(handle.get(), CURLUPART_QUERY);
  if (!query.empty()) {
    // The query is already encoded; CURLU_URLENCODE would encode it twice.
    curl.url_set(handle.get(), CURLUPART_QUERY, RedactQuery(query).c_str(), 0);
  }
  std::string out = GetPart(handle.get(), CURLUPART_URL);
  return out.empty() ? RedactUnparsed(url) : out;
}

const char* TransferErrorName(TransferError e) {
  switch (e) {
    case TransferError::kNone:
      return "none";
    case TransferError::kBadUrl:
      return "bad_url";
    case TransferError::kDns:
      return "dns";
    case TransferError::kConnect:
      return "connect";
    case TransferError::kTls:
      return "tls";
    case TransferError::kTimeout:
      return "timeout";
    case TransferError::kTooLarge:
      return "too_large";
    case TransferError::kRedirect:
      return "redirect";
    case TransferError::kFile:
      return "file";
    case TransferError::kAuth:
      return "auth";
    case TransferError::kOther:
      return "other";
  }
  return "unknown";
}

HttpResponse TransferFailure(const HttpRequest& request, TransferError error,
                             std::string_view what) {
  HttpResponse response;
  response.error = error;
  response.error_message = Where(request) + ": " + std::string(what);
  spdlog::debug("{}", response.error_message);
  return response;
}

std::string EasyTransfer::Where() const {
  return method_ + " " + (redact_shown_ ? RedactUrl(shown_url_) : shown_url_);
}

void EasyTransfer::Fail(TransferError error, std::string_view what) {
  response_.error = error;
  response_.error_message = Where() + ": " + std::string(what);
  response_.body.clear();
  response_.spooled.reset();
  spdlog::debug("{}", response_.error_message);
}

size_t EasyTransfer::OnBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<EasyTransfer*>(user);
  const size_t n = size * count;
  std::string& body = transfer->response_.body;
  std::shared_ptr<Spool>& spooled = transfer->response_.spooled;
  const std::uint64_t held = spooled ? spooled->size() : body.size();
  // Checked before appending, so the body never holds more than max_bytes, even for
  // a decompression bomb (these are decoded bytes).
  if (n > transfer->max_bytes_ - held) {
    transfer->too_large_ = true;
    return 0;  // makes libcurl abort with CURLE_WRITE_ERROR
  }
  // The announced length (a file's size, a Content-Length), read once: only a hint, since a
  // body may differ from it. One over the request's spool_above goes to its file from the
  // first byte, not through a megabyte of memory grown by doubling; a shorter one gets its
  // room in one allocation (a 14 MB feed otherwise peaks at 24 MB while the last copy is
  // made), capped at max_bytes.
  bool announced_long = false;
  if (!transfer->body_sized_ && transfer->curl_ != nullptr) {
    transfer->body_sized_ = true;
    curl_off_t length = -1;
    if (Libcurl().easy_getinfo(transfer->curl_, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) ==
            CURLE_OK &&
        length > 0) {
      announced_long =
          transfer->spool_above_ > 0 && std::uint64_t(length) > transfer->spool_above_;
      if (!announced_long) {
        body.reserve(
            std::size_t(std::min<std::uint64_t>(std::uint64_t(length), transfer->max_bytes_)));
      }
    }
  }
  if (!spooled && transfer->spool_above_ > 0 &&
      (announced_long || held + n > transfer->spool_above_)) {
    // Past the request's limit the body goes to a file: what memory holds moves there. A
    // folder where no file can be made costs memory, not the transfer.
    auto spool = std::make_shared<Spool>(transfer->spool_dir_, 0);
    Status st = spool->Append(body);
    if (st) st = spool->Append(std::string_view(data, n));
    if (st) {
      spooled = std::move(spool);
      std::string().swap(body);
      return n;
    }
    spdlog::warn("{}: the body stays in memory: {}", transfer->Where(), st.error().message);
    transfer->spool_above_ = 0;
  } else if (spooled) {
    if (auto st = spooled->Append(std::string_view(data, n)); !st) {
      transfer->spool_error_ = st.error().message;
      return 0;
    }
    return n;
  }
  body.append(data, n);
  return n;
}

void EasyTransfer::OnRedirect(std::string_view location) {
  if (custom_headers_ == 0) return;  // nothing left to guard
  // Resolve the Location against the URL that answered with it, as libcurl will.
  const CurlApi& curl = Libcurl();
  UrlPtr handle(curl.url());
  if (!handle ||
      curl.url_set(handle.get(), CURLUPART_URL, current_url_.c_str(), CURLU_NON_SUPPORT_SCHEME) !=
          CURLUE_OK ||
      curl.url_set(handle.get(), CURLUPART_URL, std::string(location).c_str(),
                   CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    current_url_.clear();  // unknown: whatever follows is another origin
  } else {
    current_url_ = GetPart(handle.get(), CURLUPART_URL);
  }
  if (UrlOrigin(current_url_) == origin_) return;
  // Another origin: the caller's headers (they may hold credentials, as Authorization does)
  // are not sent there, nor anywhere after. libcurl reads the list again for the next
  // request, so cutting each entry to "Name:" (a header it does not send) takes effect.
  curl_slist* entry = headers_.get();
  for (std::size_t i = 0; i < custom_headers_ && entry != nullptr; ++i, entry = entry->next) {
    char* name_end = std::strpbrk(entry->data, ":;");
    if (name_end != nullptr) name_end[1] = '\0';
    if (name_end != nullptr) *name_end = ':';
  }
  custom_headers_ = 0;
}

size_t EasyTransfer::OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<EasyTransfer*>(user);
  HttpResponse& r = transfer->response_;
  const size_t n = size * count;
  const std::string_view line(data, n);
  // A status line starts a new response (a redirect, a 100 Continue, a proxy CONNECT):
  // only the last response's headers and body are the caller's.
  if (line.starts_with("HTTP/")) {
    const size_t space = line.find(' ');
    transfer->in_redirect_ = space != line.npos && line.substr(space + 1, 1) == "3";
    r.content_type.clear();
    r.etag.clear();
    r.last_modified.clear();
    r.retry_after.clear();
    r.body.clear();
    r.spooled.reset();
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == line.npos) return n;
  const std::string_view name = Trim(line.substr(0, colon));
  const std::string value(Trim(line.substr(colon + 1)));
  if (IEquals(name, "Content-Type")) {
    r.content_type = value;
  } else if (IEquals(name, "ETag")) {
    r.etag = value;
  } else if (IEquals(name, "Last-Modified")) {
    r.last_modified = value;
  } else if (IEquals(name, "Retry-After")) {
    r.retry_after = value;
  } else if (IEquals(name, "Location") && transfer->in_redirect_ && transfer->follows_) {
    transfer->OnRedirect(value);
  }
  return n;
}

bool EasyTransfer::Check(const HttpRequest& request) {
  method_ = request.method;
  redact_shown_ = request.shown_url.empty();
  shown_url_ = redact_shown_ ? request.url : request.shown_url;
  max_bytes_ = request.max_bytes;
  spool_above_ = request.spool_above;
  spool_dir_ = request.spool_dir;

  // Any URL but a plain file's is read by libcurl's parser, and fetched by libcurl.
  if (!PlainFilePath(request.url) && !LibcurlLoaded()) return false;
  // Check the first URL ourselves: it gives clear kBadUrl messages, and it lets a refused
  // scheme during the transfer mean "a redirect went there".
  ParsedUrl parsed;
  if (std::string why = ParseUrl(request.url, parsed); !why.empty()) {
    Fail(TransferError::kBadUrl, why);
    return false;
  }
  is_file_ = parsed.scheme == "file";
  is_https_ = parsed.scheme == "https";
  if (parsed.scheme != "http" && !is_https_ && !is_file_) {
    Fail(TransferError::kBadUrl,
         "scheme \"" + parsed.scheme + "\" is not allowed (only http, https, file)");
    return false;
  }
  if (!IsToken(request.method)) {
    Fail(TransferError::kOther, "invalid HTTP method");
    return false;
  }

  if (is_file_) {
    // libcurl reports a missing file and an unreadable one alike, and reads a directory
    // as an empty body; a missing file must be "not published yet" like an HTTP 404.
    struct stat st {};
    if (::stat(parsed.file_path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        response_.status = 404;
        response_.effective_url = request.url;
        return false;
      }
      Fail(TransferError::kFile, std::string("cannot read file: ") + std::strerror(errno));
      return false;
    }
    if (S_ISDIR(st.st_mode)) {
      Fail(TransferError::kFile, "is a directory, not a file");
      return false;
    }
    if (S_ISREG(st.st_mode) && request.method == "GET" &&
        ReadLocalFile(parsed.file_path, request.if_none_match)) {
      response_.effective_url = request.url;
      return false;
    }
    // What it could not read libcurl reads, and says why it cannot.
    if (!LibcurlLoaded()) return false;
  }
  return true;
}

bool EasyTransfer::LibcurlLoaded() {
  const auto curl = LoadLibcurl();
  if (!curl) Fail(TransferError::kOther, curl.error().message);
  return curl.has_value();
}

bool EasyTransfer::Prepare(CURL* curl, const HttpRequest& request) {
  const CurlApi& api = Libcurl();

  const auto add_line = [&](const std::string& line) {
    curl_slist* appended = api.slist_append(headers_.get(), line.c_str());
    if (appended == nullptr) return false;
    (void)headers_.release();  // curl_slist_append extended the same list
    headers_.reset(appended);
    return true;
  };
  const auto add_header = [&](std::string_view name, std::string_view value) {
    // "Name;" is how libcurl sends a header with an empty value ("Name:" would remove it).
    return add_line(std::string(name) + (value.empty() ? ";" : ": ") + std::string(value));
  };
  custom_headers_ = request.headers.size();  // first in headers_, in this order
  follows_ = request.follow_redirects;
  // Only a followed redirect asks where it leads, and only to guard the request's headers.
  if (follows_ && custom_headers_ > 0) {
    origin_ = UrlOrigin(request.url);
    current_url_ = request.url;
  }
  for (const auto& [name, value] : request.headers) {
    // Neither name nor value goes into the message: they may hold credentials.
    if (!IsToken(name) || !IsHeaderValue(value)) {
      Fail(TransferError::kOther, "a request header has an invalid name or value");
      return false;
    }
    if (!add_header(name, value)) {
      Fail(TransferError::kOther, "out of memory");
      return false;
    }
  }
  if (!IsHeaderValue(request.if_none_match) || !IsHeaderValue(request.if_modified_since)) {
    Fail(TransferError::kOther, "invalid validator header value");
    return false;
  }
  if ((!request.if_none_match.empty() && !add_header("If-None-Match", request.if_none_match)) ||
      (!request.if_modified_since.empty() &&
       !add_header("If-Modified-Since", request.if_modified_since)) ||
      // libcurl would otherwise wait up to a second for "100 Continue" before the body.
      (!request.body.empty() && !add_line("Expect:"))) {
    Fail(TransferError::kOther, "out of memory");
    return false;
  }

  CURLcode set_result = CURLE_OK;
  const auto set = [&](CURLoption option, auto value) {
    const CURLcode rc = api.easy_setopt(curl, option, value);
    if (rc != CURLE_OK && set_result == CURLE_OK) set_result = rc;
  };
  const long timeout_ms = std::max<long>(1, request.timeout.count());
  const long connect_timeout_ms = std::max<long>(1, request.connect_timeout.count());
  set(CURLOPT_ERRORBUFFER, error_buffer_);
  set(CURLOPT_URL, request.url.c_str());
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_PROTOCOLS_STR, "http,https,file");
  set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  // Standard Webhooks: a 3xx is the receiver's answer, not a place to go.
  set(CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  set(CURLOPT_MAXREDIRS, kMaxRedirects);
  set(CURLOPT_TIMEOUT_MS, timeout_ms);
  set(CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
  if (request.max_bytes > 0) {
    // Rejects an announced Content-Length up front; the write callback counts the rest.
    const auto limit = static_cast<curl_off_t>(std::min<std::uint64_t>(
        request.max_bytes, static_cast<std::uint64_t>(std::numeric_limits<curl_off_t>::max())));
    set(CURLOPT_MAXFILESIZE_LARGE, limit);
  }
  set(CURLOPT_WRITEFUNCTION, &EasyTransfer::OnBody);
  set(CURLOPT_WRITEDATA, static_cast<void*>(this));
  curl_ = curl;
  set(CURLOPT_HEADERFUNCTION, &EasyTransfer::OnHeader);
  set(CURLOPT_HEADERDATA, static_cast<void*>(this));
  set(CURLOPT_ACCEPT_ENCODING, "");
  set(CURLOPT_USERAGENT,
      request.user_agent.empty() ? kDefaultUserAgent : request.user_agent.c_str());
  set(CURLOPT_SSL_VERIFYPEER, request.tls_verify ? 1L : 0L);
  set(CURLOPT_SSL_VERIFYHOST, request.tls_verify ? 2L : 0L);
  // perf-notes §4: h2 only where TLS negotiates it; h2c is broken on reuse in libcurl 7.88.
  set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  // perf-notes §4: libcurl caches the parsed CA bundle only when no CA path is set;
  // otherwise every new TLS connection re-reads the system store (~25 ms of CPU).
  set(CURLOPT_CAPATH, static_cast<const char*>(nullptr));
  set(CURLOPT_CA_CACHE_TIMEOUT, kCaCacheSeconds);
  if (!request.ca_file.empty()) set(CURLOPT_CAINFO, request.ca_file.c_str());
  if (headers_) set(CURLOPT_HTTPHEADER, headers_.get());
  if (request.method == "GET") {
    set(CURLOPT_HTTPGET, 1L);
    // What a GET fetches can be long (a 14 MB feed). Read in pieces of up to 512 KiB (as much
    // as the socket holds) instead of libcurl's 16 KiB, it takes 35 reads and polls, not 900
    // of each; the buffer's pages beyond what arrives are never touched. A hint only:
    // libcurl 7.88 refuses it for a handle whose last transfer left its buffer, which keeps
    // that one.
    api.easy_setopt(curl, CURLOPT_BUFFERSIZE, kGetBufferBytes);
  } else if (request.method == "HEAD") {
    set(CURLOPT_NOBODY, 1L);
  } else {
    if (request.method == "POST") {
      set(CURLOPT_POST, 1L);
    } else {
      set(CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    if (request.method == "POST" || !request.body.empty()) {
      set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      set(CURLOPT_POSTFIELDS, request.body.c_str());
    }
  }
  if (set_result != CURLE_OK) {
    api.easy_reset(curl);  // "untouched" for the caller, as promised
    Fail(TransferError::kOther,
         std::string("libcurl refused an option: ") + api.easy_strerror(set_result));
    return false;
  }
  response_.effective_url = request.url;  // until libcurl reports where it ended
  return true;
}

bool EasyTransfer::ReadLocalFile(const std::string& path, std::string_view if_none_match) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
      std::uint64_t(st.st_size) > max_bytes_) {
    ::close(fd);
    return false;
  }
  std::string etag = FileEtag(st, WallClockNow());
  if (!etag.empty() && etag == if_none_match) {
    ::close(fd);
    response_.status = 304;
    if (spdlog::should_log(spdlog::level::debug)) {
      spdlog::debug("{}: 304 (the file is as it was)", Where());
    }
    return true;
  }
  const auto size = std::uint64_t(st.st_size);
  auto file = std::make_shared<Spool>(Spool::OfFile(fd, size));  // closes `fd` when it goes
  if (spool_above_ > 0 && size > spool_above_) {
    response_.spooled = std::move(file);
  } else {
    auto bytes = file->ReadAll();
    if (!bytes) return false;  // cut short or unreadable since: libcurl says what it finds
    response_.body = std::move(*bytes);
  }
  response_.status = 200;
  response_.etag = std::move(etag);
  response_.last_modified = ImfDate(st.st_mtime, "GMT");  // what libcurl reports for a file
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("{}: 200 ({} bytes{})", Where(), size, response_.spooled ? ", in place" : "");
  }
  return true;
}

void EasyTransfer::Finish(CURL* curl, CURLcode rc) {
  curl_ = nullptr;
  long status = 0;
  long redirects = 0;
  char* effective = nullptr;
  const CurlApi& api = Libcurl();
  api.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  api.easy_getinfo(curl, CURLINFO_REDIRECT_COUNT, &redirects);
  api.easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective);
  response_.status = is_file_ && rc == CURLE_OK ? 200 : status;
  if (effective != nullptr) response_.effective_url = effective;

  const std::string detail = error_buffer_[0] != '\0' ? error_buffer_ : api.easy_strerror(rc);
  // From here on nothing of libcurl's points at us or at the request.
  api.easy_reset(curl);

  const TransferError error = Classify(rc, too_large_, redirects, is_file_, detail);
  if (error == TransferError::kNone) {
    if (spdlog::should_log(spdlog::level::debug)) {
      spdlog::debug("{}: {} ({} bytes{})", Where(), response_.status,
                    response_.spooled ? response_.spooled->size() : response_.body.size(),
                    response_.spooled ? ", spooled" : "");
    }
    return;
  }

  std::string what;
  if (!spool_error_.empty()) {
    what = spool_error_;
  } else if (error == TransferError::kTooLarge) {
    what = "body larger than " + std::to_string(max_bytes_) + " bytes";
  } else if (rc == CURLE_PARTIAL_FILE) {
    what = "truncated body (" + detail + ")";
  } else if (error == TransferError::kRedirect) {
    what = "redirect refused (" + detail + ")";
  } else {
    what = detail;
  }
  if (redirects > 0) {
    what += " after " + std::to_string(redirects) + " redirect(s), at " +
            RedactUrl(response_.effective_url);
  }
  Fail(error, what);
}

}  // namespace digestd
