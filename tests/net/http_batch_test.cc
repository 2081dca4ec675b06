// HttpBatch against a real HTTP server on 127.0.0.1 (tests/support/http_server.py). The
// server counts concurrent /sleep requests, so concurrency and caps are asserted from what
// it saw, never from the clock.
#include "net/http_batch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "net/http_client.h"
#include "tests/support/local_http_server.h"

namespace digestd {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kProxyVariables[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                           "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};

// Unsets the proxy variables for the object's lifetime, so requests go to 127.0.0.1 directly.
class NoProxyEnvironment {
 public:
  NoProxyEnvironment() {
    for (const char* name : kProxyVariables) {
      if (const char* value = std::getenv(name)) saved_.emplace_back(name, value);
      ::unsetenv(name);
    }
  }
  ~NoProxyEnvironment() {
    for (const auto& [name, value] : saved_) ::setenv(name.c_str(), value.c_str(), 1);
  }
  NoProxyEnvironment(const NoProxyEnvironment&) = delete;
  NoProxyEnvironment& operator=(const NoProxyEnvironment&) = delete;

 private:
  std::vector<std::pair<std::string, std::string>> saved_;
};

// A 127.0.0.1 port that refuses connections: bound but never listening.
int BindClosedPort(int& fd) {
  fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return 0;
  }
  return ntohs(addr.sin_port);
}

int JsonInt(const std::string& json, const std::string& name) {
  std::smatch m;
  const std::regex re("\"" + name + "\": ([0-9]+)");
  return std::regex_search(json, m, re) ? std::stoi(m[1]) : -1;
}

// An /echo-headers body minus the one field that differs between two clients.
std::string WithoutClientPort(const std::string& body) {
  return std::regex_replace(body, std::regex("\"client_port\": [0-9]+"), "");
}

class HttpBatchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<test::LocalHttpServer>(); }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(server_->ok()) << server_->error();
    no_proxy_ = std::make_unique<NoProxyEnvironment>();
  }

  void TearDown() override {
    if (closed_fd_ >= 0) ::close(closed_fd_);
    if (!temp_dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(temp_dir_, ignored);
    }
  }

  static std::string Url(const std::string& path) { return server_->Url(path); }

  static HttpRequest Get(const std::string& path, milliseconds timeout = milliseconds(5000)) {
    return HttpRequest{.url = Url(path), .timeout = timeout, .connect_timeout = timeout};
  }

  // The server's /sleep concurrency since the last reset: {in_flight, max_in_flight}.
  std::pair<int, int> Concurrency(bool reset = false) {
    const HttpResponse r = client_.Fetch(Get(reset ? "/concurrency?reset=1" : "/concurrency"));
    EXPECT_TRUE(r.ok()) << r.error_message;
    return {JsonInt(r.body, "in_flight"), JsonInt(r.body, "max_in_flight")};
  }

  int MaxInFlightSinceReset() { return Concurrency().second; }

  void ResetConcurrency() { EXPECT_EQ(Concurrency(/*reset=*/true).first, 0); }

  std::filesystem::path TempDir() {
    if (temp_dir_.empty()) {
      std::string pattern = ::testing::TempDir() + "digestd_batch_XXXXXX";
      EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
      temp_dir_ = pattern;
    }
    return temp_dir_;
  }

  std::string ClosedPortUrl() {
    const int port = BindClosedPort(closed_fd_);
    EXPECT_NE(port, 0);
    return "http://127.0.0.1:" + std::to_string(port) + "/x";
  }

  static std::unique_ptr<test::LocalHttpServer> server_;
  std::unique_ptr<NoProxyEnvironment> no_proxy_;
  HttpClient client_;  // for the server's counters, and as the reference classification
  std::filesystem::path temp_dir_;
  int closed_fd_ = -1;
};

std::unique_ptr<test::LocalHttpServer> HttpBatchTest::server_;

TEST_F(HttpBatchTest, EmptyBatchReturnsNothingAndReportsNothing) {
  HttpBatch batch;
  EXPECT_TRUE(batch.FetchAll({}).empty());
  int reports = 0;
  batch.FetchEach({}, [&](std::size_t, HttpResponse) { ++reports; });
  EXPECT_EQ(reports, 0);
}

TEST_F(HttpBatchTest, ResponsesComeBackInRequestOrder) {
  // The first request sleeps longest, so completion order is roughly the reverse.
  constexpr int kCount = 6;
  std::vector<HttpRequest> requests;
  for (int i = 0; i < kCount; ++i) {
    requests.push_back(Get("/sleep?ms=" + std::to_string((kCount - 1 - i) * 60)));
  }
  requests.push_back(Get("/status?code=203"));
  requests.push_back(Get("/404"));
  HttpBatch batch(BatchOptions{.max_total = 16, .max_per_host = 16});
  const std::vector<HttpResponse> responses = batch.FetchAll(requests);
  ASSERT_EQ(responses.size(), requests.size());
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(responses[i].ok()) << i << ": " << responses[i].error_message;
    EXPECT_EQ(responses[i].body, "slept " + std::to_string((kCount - 1 - i) * 60) + "\n");
    EXPECT_EQ(responses[i].effective_url, requests[i].url);
  }
  EXPECT_EQ(responses[kCount].status, 203);
  EXPECT_EQ(responses[kCount + 1].status, 404);
}

TEST_F(HttpBatchTest, RequestsRunConcurrentlyUpToThePerHostCap) {
  ResetConcurrency();
  HttpBatch batch(BatchOptions{.max_total = 16, .max_per_host = 4});
  const std::vector<HttpRequest> requests(20, Get("/sleep?ms=300"));
  const std::vector<HttpResponse> responses = batch.FetchAll(requests);
  for (const HttpResponse& r : responses) EXPECT_TRUE(r.ok()) << r.error_message;
  const int seen = MaxInFlightSinceReset();
  EXPECT_GT(seen, 1);
  EXPECT_LE(seen, 4);
}

TEST_F(HttpBatchTest, TotalCapHoldsOverManyRequests) {
  ResetConcurrency();
  HttpBatch batch(BatchOptions{.max_total = 8, .max_per_host = 64});
  const std::vector<HttpRequest> requests(200, Get("/sleep?ms=20"));
  const std::vector<HttpResponse> responses = batch.FetchAll(requests);
  ASSERT_EQ(responses.size(), 200u);
  for (const HttpResponse& r : responses) ASSERT_TRUE(r.ok()) << r.error_message;
  const int seen = MaxInFlightSinceReset();
  EXPECT_GT(seen, 1);
  EXPECT_LE(seen, 8);
}

TEST_F(HttpBatchTest, CapsBelowOneMeanOneAtATime) {
  ResetConcurrency();
  HttpBatch batch(BatchOptions{.max_total = 0, .max_per_host = -3});
  const std::vector<HttpRequest> requests(3, Get("/sleep?ms=50"));
  for (const HttpResponse& r : batch.FetchAll(requests)) EXPECT_TRUE(r.ok()) << r.error_message;
  EXPECT_EQ(MaxInFlightSinceReset(), 1);
}

TEST_F(HttpBatchTest, HangingRequestTimesOutWhileTheOthersFinish) {
  // Two slots: the hanging request holds one for its whole timeout, and every other request
  // must still get through the second one and be reported before it.
  HttpBatch batch(BatchOptions{.max_total = 2, .max_per_host = 2});
  std::vector<HttpRequest> requests = {Get("/hang", milliseconds(1000))};
  for (int i = 0; i < 6; ++i) requests.push_back(Get("/ok"));
  std::vector<std::size_t> order;
  std::vector<std::optional<HttpResponse>> responses(requests.size());
  batch.FetchEach(requests, [&](std::size_t index, HttpResponse response) {
    order.push_back(index);
    ASSERT_LT(index, responses.size());
    EXPECT_FALSE(responses[index].has_value()) << "index " << index << " reported twice";
    responses[index] = std::move(response);
  });
  ASSERT_EQ(order.size(), requests.size());
  EXPECT_EQ(order.back(), 0u);
  EXPECT_EQ(responses[0]->error, TransferError::kTimeout) << responses[0]->error_message;
  EXPECT_THAT(responses[0]->error_message, HasSubstr(Url("/hang")));
  for (std::size_t i = 1; i < responses.size(); ++i) {
    EXPECT_TRUE(responses[i]->ok()) << i << ": " << responses[i]->error_message;
    EXPECT_EQ(responses[i]->body, "hello digestd\n");
  }
}

TEST_F(HttpBatchTest, TimeoutRunsFromWhenTheTransferStarts) {
  // One slot: /ok waits about 800 ms for /sleep, longer than its own 400 ms timeout. Had
  // its clock started while it waited, it would time out unsent.
  HttpBatch batch(BatchOptions{.max_total = 1, .max_per_host = 1});
  const std::vector<HttpRequest> requests = {Get("/sleep?ms=800"), Get("/ok", milliseconds(400))};
  const std::vector<HttpResponse> responses = batch.FetchAll(requests);
  EXPECT_TRUE(responses[0].ok()) << responses[0].error_message;
  EXPECT_TRUE(responses[1].ok()) << responses[1].error_message;
}

TEST_F(HttpBatchTest, EveryOutcomeIsClassifiedLikeHttpClient) {
  const std::filesystem::path file = TempDir() / "digest.md";
  std::ofstream(file) << "# Papers\n";
  const std::string file_url = "file://" + file.string();

  struct Case {
    HttpRequest request;
    TransferError error;
    long status;
  };
  HttpRequest too_large = Get("/big?bytes=2000000");
  too_large.max_bytes = 1000;
  HttpRequest streamed_too_large = Get("/big?bytes=500000000&length=0");
  streamed_too_large.max_bytes = 64 * 1024;
  HttpRequest not_modified = Get("/etag");
  not_modified.if_none_match = "\"v1-digestd\"";
  HttpRequest bad_header = Get("/echo-headers");
  bad_header.headers = {{"Authorization", "Bearer sekrit\r\nX-Injected: 1"}};
  HttpRequest post = Get("/echo-headers");
  post.method = "POST";
  post.body = R"({"text":"hi"})";
  const std::vector<Case> cases = {
      {Get("/ok"), TransferError::kNone, 200},
      {Get("/404"), TransferError::kNone, 404},
      {Get("/500"), TransferError::kNone, 500},
      {Get("/429"), TransferError::kNone, 429},
      {not_modified, TransferError::kNone, 304},
      {Get("/gzip"), TransferError::kNone, 200},
      {Get("/redirect?to=/ok"), TransferError::kNone, 200},
      {post, TransferError::kNone, 200},
      {Get("/hang", milliseconds(1000)), TransferError::kTimeout, 0},
      {too_large, TransferError::kTooLarge, 200},
      {streamed_too_large, TransferError::kTooLarge, 200},
      {Get("/truncated"), TransferError::kOther, 200},
      {Get("/redirect?to=file:///etc/passwd"), TransferError::kRedirect, 302},
      {Get("/redirect?to=" + file_url), TransferError::kRedirect, 302},
      {Get("/redirect-chain?n=6"), TransferError::kRedirect, 302},
      {HttpRequest{.url = "ftp://127.0.0.1/x"}, TransferError::kBadUrl, 0},
      {HttpRequest{.url = "not a url"}, TransferError::kBadUrl, 0},
      {HttpRequest{.url = file_url}, TransferError::kNone, 200},
      {HttpRequest{.url = "file://" + (TempDir() / "2099-01-01.md").string()}, TransferError::kNone,
       404},
      {HttpRequest{.url = "file://" + TempDir().string()}, TransferError::kFile, 0},
      {HttpRequest{.url = ClosedPortUrl(), .timeout = milliseconds(2000)}, TransferError::kConnect,
       0},
      {bad_header, TransferError::kOther, 0},
  };
  std::vector<HttpRequest> requests;
  for (const Case& c : cases) requests.push_back(c.request);

  HttpBatch batch;
  const std::vector<HttpResponse> got = batch.FetchAll(requests);
  ASSERT_EQ(got.size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const HttpRequest& request = cases[i].request;
    const HttpResponse want = client_.Fetch(request);
    SCOPED_TRACE(request.url);
    EXPECT_EQ(got[i].error, cases[i].error) << got[i].error_message;
    EXPECT_EQ(got[i].status, cases[i].status);
    // And exactly what HttpClient makes of the same request.
    EXPECT_EQ(got[i].error, want.error) << want.error_message;
    EXPECT_EQ(got[i].status, want.status);
    EXPECT_EQ(WithoutClientPort(got[i].body), WithoutClientPort(want.body));
    EXPECT_EQ(got[i].content_type, want.content_type);
    EXPECT_EQ(got[i].etag, want.etag);
    EXPECT_EQ(got[i].retry_after, want.retry_after);
    EXPECT_EQ(got[i].effective_url, want.effective_url);
    if (got[i].error == TransferError::kNone) {
      EXPECT_TRUE(got[i].error_message.empty()) << got[i].error_message;
    } else {
      EXPECT_THAT(got[i].error_message, HasSubstr(RedactUrl(request.url)));
      EXPECT_TRUE(got[i].body.empty());
    }
  }
  EXPECT_EQ(got[3].retry_after, "7");
  EXPECT_EQ(got[17].body, "# Papers\n");
  EXPECT_THAT(got[7].body, HasSubstr(R"("body": "{\"text\":\"hi\"}")"));
  EXPECT_THAT(got[21].error_message, Not(HasSubstr("sekrit")));
}

TEST_F(HttpBatchTest, ConnectionIsReusedAcrossCalls) {
  HttpBatch batch;
  const std::vector<HttpRequest> one = {Get("/echo-headers")};
  const std::vector<HttpResponse> first = batch.FetchAll(one);
  const std::vector<HttpResponse> second = batch.FetchAll(one);
  ASSERT_TRUE(first[0].ok()) << first[0].error_message;
  ASSERT_TRUE(second[0].ok()) << second[0].error_message;
  EXPECT_NE(JsonInt(first[0].body, "client_port"), -1);
  EXPECT_EQ(JsonInt(first[0].body, "client_port"), JsonInt(second[0].body, "client_port"));
}

TEST_F(HttpBatchTest, OneConnectionPerHostCarriesTheWholeBatch) {
  HttpBatch batch(BatchOptions{.max_total = 4, .max_per_host = 1});
  const std::vector<HttpRequest> requests(5, Get("/echo-headers"));
  std::set<int> ports;
  for (const HttpResponse& r : batch.FetchAll(requests)) {
    ASSERT_TRUE(r.ok()) << r.error_message;
    ports.insert(JsonInt(r.body, "client_port"));
  }
  EXPECT_EQ(ports.size(), 1u);
}

TEST_F(HttpBatchTest, BodiesAndHeadersStayWithTheirRequest) {
  HttpBatch batch(BatchOptions{.max_total = 4, .max_per_host = 4});
  std::vector<HttpRequest> posts;
  for (int i = 0; i < 12; ++i) {
    HttpRequest post = Get("/echo-headers");
    post.method = "POST";
    post.body = "payload-" + std::to_string(i);
    post.headers = {{"X-Index", std::to_string(i)}};
    post.user_agent = "agent-" + std::to_string(i);
    posts.push_back(std::move(post));
  }
  const std::vector<HttpResponse> echoed = batch.FetchAll(posts);
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(echoed[i].ok()) << echoed[i].error_message;
    EXPECT_THAT(echoed[i].body, HasSubstr("\"body\": \"payload-" + std::to_string(i) + "\""));
    EXPECT_THAT(echoed[i].body, HasSubstr("\"x-index\": \"" + std::to_string(i) + "\""));
    EXPECT_THAT(echoed[i].body, HasSubstr("\"user-agent\": \"agent-" + std::to_string(i) + "\""));
  }

  // The same easy handles run the next call; nothing of the last one carries over.
  const std::vector<HttpResponse> plain =
      batch.FetchAll(std::vector<HttpRequest>(4, Get("/echo-headers")));
  for (const HttpResponse& r : plain) {
    ASSERT_TRUE(r.ok()) << r.error_message;
    EXPECT_THAT(r.body, HasSubstr(R"("method": "GET")"));
    EXPECT_THAT(r.body, Not(HasSubstr("x-index")));
    EXPECT_THAT(r.body, Not(HasSubstr("payload-")));
    EXPECT_THAT(r.body, HasSubstr("\"user-agent\": \"digestd/" DIGESTD_VERSION "\""));
  }
}

TEST_F(HttpBatchTest, ThrowingCallbackAbandonsTheRestAndTheBatchStaysUsable) {
  HttpBatch batch(BatchOptions{.max_total = 4, .max_per_host = 4});
  // /hang, not /sleep: the server's /sleep count must be back to zero for the next test.
  std::vector<HttpRequest> requests = {Get("/ok")};
  for (int i = 0; i < 3; ++i) requests.push_back(Get("/hang"));
  int reports = 0;
  EXPECT_THROW(batch.FetchEach(requests,
                               [&](std::size_t, HttpResponse) {
                                 ++reports;
                                 throw std::runtime_error("stop");
                               }),
               std::runtime_error);
  EXPECT_EQ(reports, 1);

  const std::vector<HttpResponse> after = batch.FetchAll(std::vector<HttpRequest>(5, Get("/ok")));
  for (const HttpResponse& r : after) EXPECT_TRUE(r.ok()) << r.error_message;
}

}  // namespace
}  // namespace digestd

namespace digestd {
namespace {

// Issue 7: a stopping service cancels a fetch that would otherwise hang until its timeout.
TEST_F(HttpBatchTest, CancelEndsAFetchInProgressAndEveryLaterOne) {
  HttpBatch batch;
  const std::vector<HttpRequest> requests = {Get("/hang", milliseconds(60'000)),
                                             Get("/hang", milliseconds(60'000))};
  std::vector<HttpResponse> responses;
  const auto started = std::chrono::steady_clock::now();
  std::thread fetch([&] { responses = batch.FetchAll(requests); });
  std::this_thread::sleep_for(milliseconds(200));
  batch.Cancel();
  fetch.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30))
      << "the fetch waited for its timeout";
  ASSERT_EQ(responses.size(), 2u);
  for (const HttpResponse& r : responses) {
    EXPECT_EQ(r.error, TransferError::kOther);
    EXPECT_THAT(r.error_message, HasSubstr("cancelled"));
  }
  const std::vector<HttpResponse> later = batch.FetchAll(std::vector<HttpRequest>{Get("/ok")});
  ASSERT_EQ(later.size(), 1u);
  EXPECT_THAT(later[0].error_message, HasSubstr("cancelled"));
}

}  // namespace
}  // namespace digestd
