// HttpClient against a real HTTP server on 127.0.0.1 (tests/support/http_server.py).
#include "net/http_client.h"

#include <gmock/gmock.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include "net/easy_transfer.h"
#include "tests/support/local_http_server.h"

namespace digestd {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr const char* kProxyVariables[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                           "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};

// Sets (or unsets, for nullopt) an environment variable and restores it on destruction.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A 127.0.0.1 port that refuses connections: bound (so nobody else takes it) but never
// listening.
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~ClosedPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class HttpClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<test::LocalHttpServer>(); }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(server_->ok()) << server_->error();
    // The tests talk to 127.0.0.1 directly whatever proxy the environment names.
    for (const char* name : kProxyVariables) {
      proxy_env_.push_back(std::make_unique<ScopedEnv>(name, std::nullopt));
    }
  }

  static std::string Url(const std::string& path) { return server_->Url(path); }

  static HttpRequest Get(const std::string& path, milliseconds timeout = milliseconds(2000)) {
    return HttpRequest{.url = Url(path), .timeout = timeout, .connect_timeout = timeout};
  }

  HttpResponse Fetch(const HttpRequest& request) { return client_.Fetch(request); }

  // A fresh directory under the test temp dir, removed with the fixture.
  std::filesystem::path TempDir() {
    if (temp_dir_.empty()) {
      std::string pattern = ::testing::TempDir() + "digestd_net_XXXXXX";
      EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
      temp_dir_ = pattern;
    }
    return temp_dir_;
  }

  std::filesystem::path WriteFile(const std::string& name, const std::string& content) {
    const std::filesystem::path path = TempDir() / name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  void TearDown() override {
    if (!temp_dir_.empty()) {
      std::error_code ignored;
      std::filesystem::permissions(temp_dir_, std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::add, ignored);
      std::filesystem::remove_all(temp_dir_, ignored);
    }
  }

  static std::unique_ptr<test::LocalHttpServer> server_;
  HttpClient client_;
  std::vector<std::unique_ptr<ScopedEnv>> proxy_env_;
  std::filesystem::path temp_dir_;
};

std::unique_ptr<test::LocalHttpServer> HttpClientTest::server_;

std::string FileUrl(const std::filesystem::path& path) { return "file://" + path.string(); }

// Seconds since `start`, for upper bounds on how long a failing transfer may take.
double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int ClientPort(const std::string& echo) {
  std::smatch m;
  const std::regex re("\"client_port\": ([0-9]+)");
  return std::regex_search(echo, m, re) ? std::stoi(m[1]) : -1;
}

TEST_F(HttpClientTest, Ok200ReturnsBodyAndContentType) {
  const HttpResponse r = Fetch(Get("/ok"));
  ASSERT_EQ(r.error, TransferError::kNone) << r.error_message;
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello digestd\n");
  EXPECT_EQ(r.content_type, "text/plain");
  EXPECT_EQ(r.effective_url, Url("/ok"));
  EXPECT_TRUE(r.error_message.empty());
}

TEST_F(HttpClientTest, ContentTypeCaptured) {
  const HttpResponse r = Fetch(Get("/content-type?type=application/atom%2Bxml;%20charset=utf-8"));
  ASSERT_TRUE(r.ok()) << r.error_message;
  EXPECT_EQ(r.content_type, "application/atom+xml; charset=utf-8");
}

TEST_F(HttpClientTest, EtagAndLastModifiedCapturedThen304WithIfNoneMatch) {
  const HttpResponse first = Fetch(Get("/etag"));
  ASSERT_TRUE(first.ok()) << first.error_message;
  EXPECT_EQ(first.etag, "\"v1-digestd\"");
  EXPECT_EQ(first.last_modified, "Wed, 01 Jan 2025 00:00:00 GMT");
  EXPECT_EQ(first.body, "etag body\n");

  HttpRequest again = Get("/etag");
  again.if_none_match = first.etag;
  const HttpResponse second = Fetch(again);
  EXPECT_EQ(second.error, TransferError::kNone) << second.error_message;
  EXPECT_EQ(second.status, 304);
  EXPECT_FALSE(second.ok());
  EXPECT_TRUE(second.body.empty());

  HttpRequest echo = Get("/echo-headers");
  echo.if_none_match = first.etag;
  const HttpResponse sent = Fetch(echo);
  ASSERT_TRUE(sent.ok()) << sent.error_message;
  EXPECT_THAT(sent.body, HasSubstr(R"("if-none-match": "\"v1-digestd\"")"));
  EXPECT_THAT(sent.body, Not(HasSubstr("if-modified-since")));
}

TEST_F(HttpClientTest, IfModifiedSinceSentAndGives304) {
  HttpRequest request = Get("/etag");
  request.if_modified_since = "Wed, 01 Jan 2025 00:00:00 GMT";
  const HttpResponse r = Fetch(request);
  EXPECT_EQ(r.error, TransferError::kNone) << r.error_message;
  EXPECT_EQ(r.status, 304);

  request.url = Url("/echo-headers");
  const HttpResponse sent = Fetch(request);
  EXPECT_THAT(sent.body, HasSubstr(R"("if-modified-since": "Wed, 01 Jan 2025 00:00:00 GMT")"));
}

TEST_F(HttpClientTest, NotFoundIsAStatusNotAnError) {
  const HttpResponse r = Fetch(Get("/404"));
  EXPECT_EQ(r.error, TransferError::kNone) << r.error_message;
  EXPECT_EQ(r.status, 404);
  EXPECT_FALSE(r.ok());
}

TEST_F(HttpClientTest, ServerErrorIsAStatusNotAnError) {
  const HttpResponse r = Fetch(Get("/500"));
  EXPECT_EQ(r.error, TransferError::kNone) << r.error_message;
  EXPECT_EQ(r.status, 500);
  EXPECT_FALSE(r.ok());
}

TEST_F(HttpClientTest, TooManyRequestsCapturesRetryAfter) {
  const HttpResponse r = Fetch(Get("/429"));
  EXPECT_EQ(r.error, TransferError::kNone) << r.error_message;
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.retry_after, "7");
}

TEST_F(HttpClientTest, NeverAnsweringServerTimesOut) {
  const auto start = std::chrono::steady_clock::now();
  const HttpResponse r = Fetch(Get("/hang", milliseconds(1000)));
  EXPECT_EQ(r.error, TransferError::kTimeout) << r.error_message;
  EXPECT_LT(SecondsSince(start), 10.0);
  EXPECT_THAT(r.error_message, HasSubstr(Url("/hang")));
  EXPECT_FALSE(r.ok());
}

TEST_F(HttpClientTest, SlowDripPastTheTotalTimeoutTimesOut) {
  // Bytes keep arriving (so no idle timeout would fire), but the whole transfer is limited.
  const auto start = std::chrono::steady_clock::now();
  const HttpResponse r = Fetch(Get("/drip?bytes=100&interval=0.1", milliseconds(1000)));
  EXPECT_EQ(r.error, TransferError::kTimeout) << r.error_message;
  EXPECT_TRUE(r.body.empty());
  EXPECT_LT(SecondsSince(start), 10.0);
}

TEST_F(HttpClientTest, TruncatedBodyIsAnError) {
  const HttpResponse r = Fetch(Get("/truncated"));
  EXPECT_EQ(r.error, TransferError::kOther);
  EXPECT_THAT(r.error_message, HasSubstr("truncated"));
  EXPECT_THAT(r.error_message, HasSubstr(Url("/truncated")));
  EXPECT_TRUE(r.body.empty());
  EXPECT_FALSE(r.ok());
}

TEST_F(HttpClientTest, AnnouncedOversizedBodyIsRejected) {
  HttpRequest request = Get("/big?bytes=2000000");
  request.max_bytes = 1000;
  const HttpResponse r = Fetch(request);
  EXPECT_EQ(r.error, TransferError::kTooLarge) << r.error_message;
  EXPECT_TRUE(r.body.empty());
}

TEST_F(HttpClientTest, StreamedOversizedBodyStopsAtTheLimit) {
  // No Content-Length, 500 MB on offer: only the write callback can stop this. Had it
  // not, the transfer would end kNone (or kTimeout) with far more than the limit.
  HttpRequest request = Get("/big?bytes=500000000&length=0", milliseconds(20000));
  request.max_bytes = 64 * 1024;
  const HttpResponse r = Fetch(request);
  EXPECT_EQ(r.error, TransferError::kTooLarge) << r.error_message;
  EXPECT_TRUE(r.body.empty());
  EXPECT_LE(r.body.capacity(), 2 * request.max_bytes);
  EXPECT_THAT(r.error_message, HasSubstr("65536"));
}

TEST_F(HttpClientTest, BodyExactlyAtTheLimitIsAccepted) {
  for (const char* path : {"/big?bytes=1000", "/big?bytes=1000&length=0"}) {
    HttpRequest request = Get(path);
    request.max_bytes = 1000;
    const HttpResponse r = Fetch(request);
    EXPECT_TRUE(r.ok()) << path << ": " << r.error_message;
    EXPECT_EQ(r.body.size(), 1000u) << path;
  }
}

// Issue 12: past `spool_above` a body goes to an unnamed file, not memory, and reads back as
// the same bytes; up to it, it stays in memory. max_bytes holds either way.
TEST_F(HttpClientTest, BodyPastSpoolAboveGoesToAFile) {
  const std::string in_memory = Fetch(Get("/big?bytes=300000")).body;
  ASSERT_EQ(in_memory.size(), 300000u);
  for (const char* path : {"/big?bytes=300000", "/big?bytes=300000&length=0"}) {
    HttpRequest request = Get(path);
    request.spool_above = 100000;
    request.spool_dir = TempDir().string();
    const HttpResponse r = Fetch(request);
    ASSERT_TRUE(r.ok()) << path << ": " << r.error_message;
    EXPECT_TRUE(r.body.empty()) << path;
    ASSERT_NE(r.spooled, nullptr) << path;
    EXPECT_TRUE(r.spooled->in_file());
    EXPECT_EQ(r.spooled->size(), 300000u);
    EXPECT_EQ(r.spooled->ReadAll().value_or(""), in_memory) << path;
    EXPECT_TRUE(std::filesystem::is_empty(TempDir()));  // the file has no name
  }
  HttpRequest small = Get("/big?bytes=1000");
  small.spool_above = 1000;
  const HttpResponse r = Fetch(small);
  ASSERT_TRUE(r.ok()) << r.error_message;
  EXPECT_EQ(r.spooled, nullptr);
  EXPECT_EQ(r.body.size(), 1000u);

  HttpRequest endless = Get("/big?bytes=500000000&length=0", milliseconds(20000));
  endless.max_bytes = 200000;
  endless.spool_above = 1000;
  const HttpResponse too_large = Fetch(endless);
  EXPECT_EQ(too_large.error, TransferError::kTooLarge) << too_large.error_message;
  EXPECT_EQ(too_large.spooled, nullptr);
}

TEST_F(HttpClientTest, ASpoolFolderWithoutRoomKeepsTheBodyInMemory) {
  HttpRequest request = Get("/big?bytes=300000");
  request.spool_above = 1000;
  request.spool_dir = (TempDir() / "missing").string();
  const HttpResponse r = Fetch(request);
  ASSERT_TRUE(r.ok()) << r.error_message;
  EXPECT_EQ(r.spooled, nullptr);
  EXPECT_EQ(r.body.size(), 300000u);
}

TEST_F(HttpClientTest, GzipBodyIsDecoded) {
  const HttpResponse r = Fetch(Get("/gzip"));
  ASSERT_TRUE(r.ok()) << r.error_message;
  EXPECT_THAT(r.body, StartsWith("gzip body for digestd: abcdefghij"));
  EXPECT_EQ(r.body.size(), 23u + 1000u + 1u);

  const HttpResponse echo = Fetch(Get("/echo-headers"));
  EXPECT_THAT(echo.body, HasSubstr("\"accept-encoding\": \""));
  EXPECT_THAT(echo.body, HasSubstr("gzip"));
}

TEST_F(HttpClientTest, GzipBombStopsAtTheDecodedLimit) {
  // About 10 KB on the wire, 10 MB decoded: the limit counts decoded bytes.
  HttpRequest request = Get("/gzip?bytes=10000000");
  request.max_bytes = 1'000'000;
  const HttpResponse r = Fetch(request);
  EXPECT_EQ(r.error, TransferError::kTooLarge) << r.error_message;
  EXPECT_TRUE(r.body.empty());
}

TEST_F(HttpClientTest, HttpRedirectIsFollowedAndKeepsOnlyTheLastHeaders) {
  const HttpResponse r = Fetch(Get("/redirect?to=" + Url("/ok")));
  ASSERT_TRUE(r.ok()) << r.error_message;
  EXPECT_EQ(r.body, "hello digestd\n");
  EXPECT_EQ(r.effective_url, Url("/ok"));
  // The 302 carried an ETag and a Retry-After; /ok carries neither.
  EXPECT_TRUE(r.etag.empty());
  EXPECT_TRUE(r.retry_after.empty());
}

TEST_F(HttpClientTest, FiveRedirectsAreFollowedSixAreNot) {
  const HttpResponse five = Fetch(Get("/redirect-chain?n=5"));
  EXPECT_TRUE(five.ok()) << five.error_message;
  EXPECT_EQ(five.effective_url, Url("/ok"));

  const HttpResponse six = Fetch(Get("/redirect-chain?n=6"));
  EXPECT_EQ(six.error, TransferError::kRedirect) << six.error_message;
  EXPECT_FALSE(six.ok());
}

TEST_F(HttpClientTest, RedirectLoopIsARedirectError) {
  const HttpResponse r = Fetch(Get("/redirect-loop"));
  EXPECT_EQ(r.error, TransferError::kRedirect) << r.error_message;
  EXPECT_THAT(r.error_message, HasSubstr(Url("/redirect-loop")));
}

TEST_F(HttpClientTest, RedirectToFileIsRefusedAndTheFileNotRead) {
  const std::string secret = "secret-content-that-must-not-leak";
  const std::filesystem::path path = WriteFile("secret.txt", secret);
  const HttpResponse r = Fetch(Get("/redirect?to=" + FileUrl(path)));
  EXPECT_EQ(r.error, TransferError::kRedirect) << r.error_message;
  EXPECT_THAT(r.body, Not(HasSubstr(secret)));
  EXPECT_THAT(r.error_message, Not(HasSubstr(secret)));
  EXPECT_THAT(r.error_message, HasSubstr("redirect"));

  const HttpResponse system_file = Fetch(Get("/redirect?to=file:///etc/passwd"));
  EXPECT_EQ(system_file.error, TransferError::kRedirect) << system_file.error_message;
  EXPECT_TRUE(system_file.body.empty());
}

TEST_F(HttpClientTest, RedirectToOtherSchemesIsRefused) {
  for (const char* to : {"ftp://127.0.0.1/x", "gopher://127.0.0.1/x", "dict://127.0.0.1/x"}) {
    const HttpResponse r = Fetch(Get(std::string("/redirect?to=") + to));
    EXPECT_EQ(r.error, TransferError::kRedirect) << to << ": " << r.error_message;
  }
}

TEST_F(HttpClientTest, DefaultUserAgentIsSent) {
  const HttpResponse r = Fetch(Get("/echo-headers"));
  ASSERT_TRUE(r.ok()) << r.error_message;
  EXPECT_THAT(r.body, HasSubstr("\"user-agent\": \"digestd/" DIGESTD_VERSION "\""));
}

TEST_F(HttpClientTest, CustomUserAgentAndHeadersAreSent) {
  HttpRequest request = Get("/echo-headers");
  request.user_agent = "digestd/test (+https://example.org/contact)";
  request.headers = {{"X-Digestd-Test", "one two"}, {"Accept", "application/json"}};
  const HttpResponse r = Fetch(request);
  ASSERT_TRUE(r.ok()) << r.error_message;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_THAT(r.body,
              HasSubstr(R"j("user-agent": "digestd/test (+https://example.org/contact)")j"));
  EXPECT_THAT(r.body, HasSubstr(R"("x-digestd-test": "one two")"));
  EXPECT_THAT(r.body, HasSubstr(R"("accept": "application/json")"));
}

TEST_F(HttpClientTest, NothingCarriesOverToTheNextRequest) {
  HttpRequest first = Get("/echo-headers");
  first.headers = {{"X-Only-Once", "1"}};
  first.if_none_match = "\"old\"";
  first.user_agent = "first-agent";
  ASSERT_TRUE(Fetch(first).ok());

  const HttpResponse second = Fetch(Get("/echo-headers"));
  ASSERT_TRUE(second.ok()) << second.error_message;
  EXPECT_THAT(second.body, Not(HasSubstr("x-only-once")));
  EXPECT_THAT(second.body, Not(HasSubstr("if-none-match")));
  EXPECT_THAT(second.body, Not(HasSubstr("first-agent")));
}

TEST_F(HttpClientTest, ConnectionIsReusedAcrossFetches) {
  const HttpResponse first = Fetch(Get("/echo-headers"));
  const HttpResponse second = Fetch(Get("/echo-headers"));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(ClientPort(first.body), -1);
  EXPECT_EQ(ClientPort(first.body), ClientPort(second.body));
}

TEST_F(HttpClientTest, PostSendsTheBody) {
  HttpRequest request = Get("/echo-headers");
  request.method = "POST";
  request.body = R"({"text":"hi"})";
  request.headers = {{"Content-Type", "application/json"}};
  const HttpResponse r = Fetch(request);
  ASSERT_TRUE(r.ok()) << r.error_message;
  EXPECT_THAT(r.body, HasSubstr(R"("method": "POST")"));
  EXPECT_THAT(r.body, HasSubstr(R"("body": "{\"text\":\"hi\"}")"));
  EXPECT_THAT(r.body, Not(HasSubstr("expect")));
}

TEST_F(HttpClientTest, InvalidHeaderIsRefusedWithoutSendingOrLeaking) {
  HttpRequest request = Get("/echo-headers");
  request.headers = {{"Authorization", "Bearer sekrit\r\nX-Injected: 1"}};
  const HttpResponse r = Fetch(request);
  EXPECT_EQ(r.error, TransferError::kOther);
  EXPECT_THAT(r.error_message, Not(HasSubstr("sekrit")));
}

TEST_F(HttpClientTest, RefusedConnectionIsConnectError) {
  const ClosedPort closed;
  ASSERT_NE(closed.port(), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(closed.port()) + "/x";
  const HttpResponse r = Fetch(HttpRequest{.url = url, .timeout = milliseconds(2000)});
  EXPECT_EQ(r.error, TransferError::kConnect) << r.error_message;
  EXPECT_THAT(r.error_message, HasSubstr(url));
}

TEST_F(HttpClientTest, UnresolvableHostIsDnsError) {
  // .invalid never resolves (RFC 6761); with no resolver at all, lookup fails or times
  // out, and both count as DNS errors.
  const HttpResponse r = Fetch(HttpRequest{.url = "http://digestd-test.invalid/",
                                           .timeout = milliseconds(3000),
                                           .connect_timeout = milliseconds(3000)});
  EXPECT_EQ(r.error, TransferError::kDns) << r.error_message;
  EXPECT_THAT(r.error_message, HasSubstr("digestd-test.invalid"));
}

TEST_F(HttpClientTest, HttpsToAPlainHttpServerIsTlsError) {
  for (const bool verify : {true, false}) {
    HttpRequest request{.url = "https://127.0.0.1:" + std::to_string(server_->port()) + "/ok",
                        .timeout = milliseconds(2000),
                        .tls_verify = verify};
    const HttpResponse r = Fetch(request);
    EXPECT_EQ(r.error, TransferError::kTls) << r.error_message;
  }
}

TEST_F(HttpClientTest, ProxyFromTheEnvironmentIsHonoured) {
  const ScopedEnv proxy("http_proxy", "http://127.0.0.1:" + std::to_string(server_->port()));
  // The name cannot resolve, so only a proxy can deliver this request.
  const HttpResponse r = Fetch(HttpRequest{.url = "http://digestd-proxied.invalid/echo-headers",
                                           .timeout = milliseconds(2000)});
  ASSERT_TRUE(r.ok()) << r.error_message;
  EXPECT_THAT(r.body, HasSubstr(R"("target": "http://digestd-proxied.invalid/echo-headers")"));
}

TEST_F(HttpClientTest, FileUrlReturnsTheFile) {
  const std::filesystem::path path = WriteFile("digest 2025-01-01.md", "# Papers\n");
  std::string url = FileUrl(path);
  url.replace(url.find(' '), 1, "%20");
  const HttpResponse r = Fetch(HttpRequest{.url = url});
  ASSERT_TRUE(r.ok()) << r.error_message;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "# Papers\n");
}

// A local file is read where it is: no spool file is made for it, and the response says
// what libcurl's file:// transfer would (status 200, Last-Modified from the file's time).
TEST_F(HttpClientTest, ALongFileIsReadInPlaceNotCopied) {
  std::string bytes;
  for (int i = 0; i < 20000; ++i) bytes += "paper " + std::to_string(i) + "\n";
  const std::filesystem::path path = WriteFile("feed.xml", bytes);
  const timespec times[2] = {{.tv_sec = 784111777, .tv_nsec = 0},
                             {.tv_sec = 784111777, .tv_nsec = 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  const std::filesystem::path spool_dir = TempDir() / "spool";
  std::filesystem::create_directories(spool_dir);
  HttpRequest request{.url = FileUrl(path), .spool_above = 1000, .spool_dir = spool_dir.string()};
  const HttpResponse r = Fetch(request);
  ASSERT_TRUE(r.ok()) << r.error_message;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.last_modified, "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(r.effective_url, request.url);
  EXPECT_TRUE(r.body.empty());
  ASSERT_NE(r.spooled, nullptr);
  EXPECT_EQ(r.spooled->size(), bytes.size());
  EXPECT_EQ(r.spooled->ReadAll().value_or(""), bytes);
  EXPECT_TRUE(std::filesystem::is_empty(spool_dir));
  // Up to spool_above it is in memory, with the same Last-Modified.
  request.spool_above = 0;
  const HttpResponse whole = Fetch(request);
  ASSERT_TRUE(whole.ok()) << whole.error_message;
  EXPECT_EQ(whole.spooled, nullptr);
  EXPECT_EQ(whole.body.size(), bytes.size());
  EXPECT_EQ(whole.last_modified, "Sun, 06 Nov 1994 08:49:37 GMT");

  // Read where it is: a change made since shows (a copy would not).
  {
    std::FILE* f = std::fopen(path.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fputs("PAPER", f);
    std::fclose(f);
  }
  EXPECT_EQ(r.spooled->ReadAll().value_or("").substr(0, 7), "PAPER 0");
}

// A local file 3 s old has an ETag. Asked again with it, and unchanged, it is answered 304
// without being read; a file changed within the last 3 s has none, and is read.
TEST_F(HttpClientTest, ASettledFileIsNotReadAgainWhileItsEtagHolds) {
  const std::filesystem::path path = WriteFile("2024-01-29.md", "# Papers A\n");
  HttpRequest request{.url = FileUrl(path)};
  const HttpResponse fresh = Fetch(request);
  ASSERT_TRUE(fresh.ok()) << fresh.error_message;
  EXPECT_EQ(fresh.etag, "") << "changed just now";

  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  const HttpResponse settled = Fetch(request);
  ASSERT_TRUE(settled.ok()) << settled.error_message;
  EXPECT_EQ(settled.body, "# Papers A\n");
  ASSERT_FALSE(settled.etag.empty());
  request.if_none_match = settled.etag;
  const HttpResponse same = Fetch(request);
  EXPECT_EQ(same.error, TransferError::kNone) << same.error_message;
  EXPECT_EQ(same.status, 304);
  EXPECT_TRUE(same.body.empty());
  EXPECT_EQ(same.spooled, nullptr);
  EXPECT_EQ(same.effective_url, request.url);

  WriteFile("2024-01-29.md", "# Papers B\n");
  const HttpResponse rewritten = Fetch(request);
  EXPECT_EQ(rewritten.status, 200);
  EXPECT_EQ(rewritten.body, "# Papers B\n");
  EXPECT_EQ(rewritten.etag, "") << "changed just now";
}

// A tag only for a file whose times are 3 s behind `now`, naming its inode, size and times:
// written again to the same size with its mtime set back, the ctime tells it apart.
TEST(FileEtag, NamesASettledFilesInodeSizeAndTimes) {
  struct stat st {};
  st.st_ino = 0x1234;
  st.st_size = 11;
  st.st_mtim = {.tv_sec = 1'700'000'000, .tv_nsec = 5};
  st.st_ctim = {.tv_sec = 1'700'000'000, .tv_nsec = 7};
  EXPECT_EQ(FileEtag(st, {.tv_sec = 1'700'000'003, .tv_nsec = 7}),
            "\"1234-b-6553f100.5-6553f100.7\"");
  EXPECT_EQ(FileEtag(st, {.tv_sec = 1'700'000'003, .tv_nsec = 6}), "") << "1 ns short of 3 s";
  const timespec later{.tv_sec = 1'700'000'100, .tv_nsec = 0};
  struct stat rewritten = st;
  rewritten.st_ctim.tv_sec += 5;
  EXPECT_NE(FileEtag(rewritten, later), FileEtag(st, later));
  EXPECT_FALSE(FileEtag(rewritten, later).empty());
  struct stat dated_ahead = st;
  dated_ahead.st_mtim.tv_sec += 1000;
  EXPECT_EQ(FileEtag(dated_ahead, later), "");
}

TEST_F(HttpClientTest, MissingFileIs404LikeHttp) {
  const HttpResponse r = Fetch(HttpRequest{.url = FileUrl(TempDir() / "2099-01-01.md")});
  EXPECT_EQ(r.error, TransferError::kNone) << r.error_message;
  EXPECT_EQ(r.status, 404);
  const HttpResponse under_file =
      Fetch(HttpRequest{.url = FileUrl(WriteFile("plain", "x") / "child.md")});
  EXPECT_EQ(under_file.status, 404) << under_file.error_message;
}

TEST_F(HttpClientTest, DirectoryIsFileError) {
  const HttpResponse r = Fetch(HttpRequest{.url = FileUrl(TempDir())});
  EXPECT_EQ(r.error, TransferError::kFile) << r.error_message;
  EXPECT_THAT(r.error_message, HasSubstr("directory"));
}

TEST_F(HttpClientTest, UnreadableFileIsFileError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  const std::filesystem::path path = WriteFile("locked.md", "x");
  std::filesystem::permissions(path, std::filesystem::perms::none);
  const HttpResponse r = Fetch(HttpRequest{.url = FileUrl(path)});
  EXPECT_EQ(r.error, TransferError::kFile) << r.error_message;
}

TEST_F(HttpClientTest, FileLargerThanTheLimitIsTooLarge) {
  const std::filesystem::path path = WriteFile("big.md", std::string(5000, 'p'));
  const HttpResponse r = Fetch(HttpRequest{.url = FileUrl(path), .max_bytes = 4096});
  EXPECT_EQ(r.error, TransferError::kTooLarge) << r.error_message;
  EXPECT_TRUE(r.body.empty());
}

TEST_F(HttpClientTest, OtherSchemesAndMalformedUrlsAreBadUrl) {
  for (const char* url : {"ftp://127.0.0.1/x", "gopher://127.0.0.1/x", "dict://127.0.0.1/x",
                          "not a url", "", "http://", "127.0.0.1/ok"}) {
    const HttpResponse r = Fetch(HttpRequest{.url = url, .timeout = milliseconds(1000)});
    EXPECT_EQ(r.error, TransferError::kBadUrl) << "'" << url << "': " << r.error_message;
  }
}

TEST_F(HttpClientTest, ErrorMessagesHideCredentials) {
  const ClosedPort closed;
  const std::string url = "http://alice:hunter2@127.0.0.1:" + std::to_string(closed.port()) +
                          "/feed?date=2025-01-01&api_token=abc123";
  const HttpResponse r = Fetch(HttpRequest{.url = url, .timeout = milliseconds(2000)});
  EXPECT_EQ(r.error, TransferError::kConnect) << r.error_message;
  EXPECT_THAT(r.error_message, Not(HasSubstr("hunter2")));
  EXPECT_THAT(r.error_message, Not(HasSubstr("alice")));
  EXPECT_THAT(r.error_message, Not(HasSubstr("abc123")));
  EXPECT_THAT(r.error_message, HasSubstr("date=2025-01-01"));
}

TEST(RedactUrlTest, DropsUserinfoFragmentAndSecretQueryValues) {
  EXPECT_EQ(RedactUrl("https://u:p@example.org/a?b=1&token=x&Signature=y#frag"),
            "https://example.org/a?b=1&token=REDACTED&Signature=REDACTED");
  EXPECT_EQ(RedactUrl("http://example.org/daily?date=2025-01-01"),
            "http://example.org/daily?date=2025-01-01");
  EXPECT_EQ(RedactUrl("file:///srv/digests/2025.md"), "file:///srv/digests/2025.md");
  // Unparseable: userinfo and query are cut by hand.
  EXPECT_EQ(RedactUrl("http://u:p@exa mple/x?key=1"), "http://exa mple/x");
}

TEST(RedactUrlTest, Issue13RedactsOAuthAndSignatureParameters) {
  EXPECT_EQ(RedactUrl("https://example.org/cb?code=abc&state=s&access_token=t&sig=1&signature=2"
                      "&auth=3&apikey=4&zipcode=75001"),
            "https://example.org/cb?code=REDACTED&state=s&access_token=REDACTED&sig=REDACTED"
            "&signature=REDACTED&auth=REDACTED&apikey=REDACTED&zipcode=75001");
  EXPECT_EQ(RedactUrl("https://example.org/a?Code=x"), "https://example.org/a?Code=REDACTED");
}

TEST_F(HttpClientTest, Issue13CustomHeadersAreDroppedOnARedirectToAnotherOrigin) {
  // Same server, another origin: "localhost" is not "127.0.0.1".
  const std::string elsewhere =
      "http://localhost:" + std::to_string(server_->port()) + "/echo-headers";
  HttpRequest request = Get("/redirect?to=" + elsewhere);
  request.headers = {{"X-Api-Key", "sekrit-key"}, {"Authorization", "Bearer sekrit"},
                     {"X-Empty", ""}};
  const HttpResponse away = Fetch(request);
  ASSERT_TRUE(away.ok()) << away.error_message;
  EXPECT_EQ(away.effective_url, elsewhere);
  EXPECT_THAT(away.body, Not(HasSubstr("sekrit")));
  EXPECT_THAT(away.body, Not(HasSubstr("x-api-key")));
  EXPECT_THAT(away.body, Not(HasSubstr("x-empty")));

  // A redirect within the origin keeps them.
  request.url = Url("/redirect?to=" + Url("/echo-headers"));
  const HttpResponse here = Fetch(request);
  ASSERT_TRUE(here.ok()) << here.error_message;
  EXPECT_THAT(here.body, HasSubstr(R"("x-api-key": "sekrit-key")"));
  EXPECT_THAT(here.body, HasSubstr(R"("authorization": "Bearer sekrit")"));
}

TEST(TransferErrorNameTest, EveryErrorHasADistinctName) {
  std::set<std::string> names;
  for (const TransferError e :
       {TransferError::kNone, TransferError::kBadUrl, TransferError::kDns, TransferError::kConnect,
        TransferError::kTls, TransferError::kTimeout, TransferError::kTooLarge,
        TransferError::kRedirect, TransferError::kFile, TransferError::kOther}) {
    names.insert(TransferErrorName(e));
  }
  EXPECT_EQ(names.size(), 10u);
  EXPECT_STREQ(TransferErrorName(TransferError::kTooLarge), "too_large");
}

}  // namespace
}  // namespace digestd
