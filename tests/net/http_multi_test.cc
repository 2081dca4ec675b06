// HttpMulti against a real HTTP server on 127.0.0.1 (tests/support/http_server.py). Outcomes
// are asserted from what comes back and in what order, never from the clock, except that a
// Poll cut short by Wakeup must return well inside its (long) wait.
#include "net/http_multi.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
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

// Far longer than any transfer here takes: a Poll that waits it out has missed its wakeup.
constexpr milliseconds kLongWait{60000};
// Bounds every "until all are back" loop, so a lost transfer fails the test instead of hanging.
constexpr auto kGiveUpAfter = std::chrono::seconds(30);

int ClientPort(const std::string& echo) {
  std::smatch m;
  const std::regex re("\"client_port\": ([0-9]+)");
  return std::regex_search(echo, m, re) ? std::stoi(m[1]) : -1;
}

class HttpMultiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<test::LocalHttpServer>(); }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override { ASSERT_TRUE(server_->ok()) << server_->error(); }

  static std::string Url(const std::string& path) { return server_->Url(path); }

  static HttpRequest Get(const std::string& path, milliseconds timeout = milliseconds(5000)) {
    return HttpRequest{.url = Url(path), .timeout = timeout, .connect_timeout = timeout};
  }

  // Polls until nothing is pending; every response in the order Poll returned them.
  static std::vector<std::pair<std::uint64_t, HttpResponse>> PollAll(HttpMulti& multi) {
    std::vector<std::pair<std::uint64_t, HttpResponse>> all;
    const auto give_up = std::chrono::steady_clock::now() + kGiveUpAfter;
    while (multi.pending() > 0 && std::chrono::steady_clock::now() < give_up) {
      for (auto& done : multi.Poll(milliseconds(1000))) all.push_back(std::move(done));
    }
    EXPECT_EQ(multi.pending(), 0u)
        << "transfers still pending after " << kGiveUpAfter.count() << " s";
    return all;
  }

  // The one response that came back under `tag`.
  static HttpResponse Only(HttpMulti& multi, std::uint64_t tag) {
    auto all = PollAll(multi);
    EXPECT_EQ(all.size(), 1u);
    if (all.empty()) return {};
    EXPECT_EQ(all[0].first, tag);
    return std::move(all[0].second);
  }

  static std::unique_ptr<test::LocalHttpServer> server_;
  test::NoProxyEnvironment no_proxy_;
};

std::unique_ptr<test::LocalHttpServer> HttpMultiTest::server_;

TEST_F(HttpMultiTest, NothingStartedPollReturnsNothing) {
  HttpMulti multi;
  EXPECT_EQ(multi.pending(), 0u);
  EXPECT_TRUE(multi.Poll(milliseconds(0)).empty());
  EXPECT_TRUE(multi.Poll(milliseconds(20)).empty());
}

TEST_F(HttpMultiTest, EveryStartedTransferComesBackOnceUnderItsTag) {
  HttpMulti multi;
  constexpr int kCount = 24;
  std::map<std::uint64_t, int> want_status;
  for (int i = 0; i < kCount; ++i) {
    const std::uint64_t tag = 1000 + 7 * i;  // not 0..N-1: tags are the caller's
    const int status = 200 + i;
    // Staggered sleeps, so they end across several Polls and out of start order.
    const std::string path = i % 3 == 0 ? "/sleep?ms=" + std::to_string((kCount - i) * 10)
                                        : "/status?code=" + std::to_string(status);
    want_status[tag] = i % 3 == 0 ? 200 : status;
    multi.Start(tag, Get(path));
  }
  EXPECT_EQ(multi.pending(), static_cast<std::size_t>(kCount));

  std::map<std::uint64_t, int> seen;
  for (const auto& [tag, response] : PollAll(multi)) {
    ASSERT_TRUE(want_status.contains(tag)) << "unknown tag " << tag;
    EXPECT_EQ(++seen[tag], 1) << "tag " << tag << " came back twice";
    EXPECT_EQ(response.error, TransferError::kNone) << response.error_message;
    EXPECT_EQ(response.status, want_status[tag]) << "tag " << tag;
  }
  EXPECT_EQ(seen.size(), want_status.size());
}

TEST_F(HttpMultiTest, StartingBetweenPollsKeepsTheOthersRunning) {
  HttpMulti multi;
  multi.Start(1, Get("/sleep?ms=300"));
  EXPECT_TRUE(multi.Poll(milliseconds(0)).empty());
  multi.Start(2, Get("/ok"));
  std::map<std::uint64_t, HttpResponse> got;
  for (auto& [tag, response] : PollAll(multi)) got.emplace(tag, std::move(response));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].body, "slept 300\n");
  EXPECT_EQ(got[2].body, "hello digestd\n");
}

TEST_F(HttpMultiTest, HangingTransferTimesOutWhileTheOthersCompletePromptly) {
  HttpMulti multi;
  multi.Start(0, Get("/hang", milliseconds(1500)));
  for (std::uint64_t tag = 1; tag <= 6; ++tag) multi.Start(tag, Get("/ok"));
  const auto all = PollAll(multi);
  ASSERT_EQ(all.size(), 7u);
  // The six came back first, none waiting on the hanging one.
  for (std::size_t i = 0; i + 1 < all.size(); ++i) {
    EXPECT_NE(all[i].first, 0u);
    EXPECT_TRUE(all[i].second.ok()) << all[i].second.error_message;
  }
  EXPECT_EQ(all.back().first, 0u);
  EXPECT_EQ(all.back().second.error, TransferError::kTimeout) << all.back().second.error_message;
  EXPECT_THAT(all.back().second.error_message, HasSubstr(Url("/hang")));
}

// Calls multi.Wakeup() from another thread while `multi` polls for kLongWait; returns what
// that Poll returned and how long it took.
std::pair<std::vector<std::pair<std::uint64_t, HttpResponse>>, std::chrono::nanoseconds>
PollWokenFromAnotherThread(HttpMulti& multi) {
  std::thread waker([&] {
    std::this_thread::sleep_for(milliseconds(100));
    multi.Wakeup();
  });
  const auto start = std::chrono::steady_clock::now();
  auto done = multi.Poll(kLongWait);
  const auto took = std::chrono::steady_clock::now() - start;
  waker.join();
  return {std::move(done), took};
}

TEST_F(HttpMultiTest, WakeupFromAnotherThreadEndsALongPoll) {
  // Nothing running, so no timeout of libcurl's own can end the Poll: only the wakeup can.
  HttpMulti multi;
  const auto [done, took] = PollWokenFromAnotherThread(multi);
  EXPECT_TRUE(done.empty());
  EXPECT_LT(took, kLongWait / 2);
}

TEST_F(HttpMultiTest, WakeupEndsAPollWhileATransferHangs) {
  HttpMulti multi;
  multi.Start(1, Get("/hang", kLongWait * 2));  // keeps the Poll from ending on its own
  const auto [done, took] = PollWokenFromAnotherThread(multi);
  EXPECT_TRUE(done.empty());
  EXPECT_LT(took, kLongWait / 2);
  EXPECT_EQ(multi.pending(), 1u);
}

TEST_F(HttpMultiTest, WakeupBeforePollEndsTheNextPollWithNothingRunning) {
  HttpMulti multi;
  multi.Wakeup();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(multi.Poll(kLongWait).empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, kLongWait / 2);
}

TEST_F(HttpMultiTest, AbandonAllReportsNothingAndLaterStartsWork) {
  HttpMulti multi;
  for (std::uint64_t tag = 1; tag <= 3; ++tag) multi.Start(tag, Get("/hang"));
  multi.Start(4, HttpRequest{.url = "not a url"});  // refused, not yet returned
  EXPECT_EQ(multi.pending(), 4u);
  multi.AbandonAll();
  EXPECT_EQ(multi.pending(), 0u);
  EXPECT_TRUE(multi.Poll(milliseconds(200)).empty());

  multi.Start(5, Get("/ok"));
  EXPECT_EQ(multi.pending(), 1u);
  const HttpResponse r = Only(multi, 5);
  EXPECT_TRUE(r.ok()) << r.error_message;
  EXPECT_EQ(r.body, "hello digestd\n");
}

TEST_F(HttpMultiTest, DestroyingWithTransfersRunningAbandonsThem) {
  auto multi = std::make_unique<HttpMulti>();
  multi->Start(1, Get("/hang"));
  multi->Start(2, Get("/sleep?ms=50"));
  EXPECT_TRUE(multi->Poll(milliseconds(0)).empty());
  multi.reset();  // under ASan, a leak or a use after free fails here

  HttpMulti another;
  another.Start(3, Get("/ok"));
  EXPECT_TRUE(Only(another, 3).ok());
}

TEST_F(HttpMultiTest, BadUrlComesBackFromPollNotFromStart) {
  HttpMulti multi;
  multi.Start(1, HttpRequest{.url = "not a url"});
  multi.Start(2, HttpRequest{.url = "ftp://127.0.0.1/x"});
  EXPECT_EQ(multi.pending(), 2u);
  std::map<std::uint64_t, HttpResponse> got;
  for (auto& [tag, response] : multi.Poll(milliseconds(0))) got.emplace(tag, std::move(response));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].error, TransferError::kBadUrl) << got[1].error_message;
  EXPECT_EQ(got[2].error, TransferError::kBadUrl) << got[2].error_message;
  EXPECT_THAT(got[2].error_message, HasSubstr("ftp"));
  EXPECT_EQ(multi.pending(), 0u);
}

TEST_F(HttpMultiTest, OutcomesAreClassifiedLikeHttpClient) {
  HttpRequest too_large = Get("/big?bytes=2000000");
  too_large.max_bytes = 1000;
  HttpRequest bad_header = Get("/echo-headers");
  bad_header.headers = {{"X-Bad", "a\r\nX-Injected: 1"}};
  const std::vector<HttpRequest> requests = {
      Get("/404"),
      Get("/429"),
      Get("/redirect?to=/ok"),
      Get("/truncated"),
      too_large,
      bad_header,
      Get("/gzip"),
      Get("/redirect-chain?n=6"),
      Get("/hang", milliseconds(500)),
  };
  HttpMulti multi;
  for (std::size_t i = 0; i < requests.size(); ++i) multi.Start(i, requests[i]);
  std::map<std::uint64_t, HttpResponse> got;
  for (auto& [tag, response] : PollAll(multi)) got.emplace(tag, std::move(response));
  ASSERT_EQ(got.size(), requests.size());

  HttpClient client;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(requests[i].url);
    const HttpResponse want = client.Fetch(requests[i]);
    EXPECT_EQ(got[i].error, want.error) << got[i].error_message;
    EXPECT_EQ(got[i].status, want.status);
    EXPECT_EQ(got[i].body, want.body);
    EXPECT_EQ(got[i].retry_after, want.retry_after);
    EXPECT_EQ(got[i].effective_url, want.effective_url);
    if (got[i].error != TransferError::kNone) {
      EXPECT_THAT(got[i].error_message, HasSubstr(RedactUrl(requests[i].url)));
    }
  }
  EXPECT_EQ(got[7].error, TransferError::kRedirect);
  EXPECT_EQ(got[8].error, TransferError::kTimeout);
}

TEST_F(HttpMultiTest, ConnectionIsReusedAcrossPolls) {
  HttpMulti multi;
  multi.Start(1, Get("/echo-headers"));
  const HttpResponse first = Only(multi, 1);
  EXPECT_TRUE(multi.Poll(milliseconds(50)).empty());  // a Poll with nothing in the multi
  multi.Start(2, Get("/echo-headers"));
  const HttpResponse second = Only(multi, 2);
  ASSERT_TRUE(first.ok()) << first.error_message;
  ASSERT_TRUE(second.ok()) << second.error_message;
  EXPECT_NE(ClientPort(first.body), -1);
  EXPECT_EQ(ClientPort(first.body), ClientPort(second.body));
}

TEST_F(HttpMultiTest, ReusedHandlesKeepNothingOfTheLastRequest) {
  HttpMulti multi;
  HttpRequest post = Get("/echo-headers");
  post.method = "POST";
  post.body = "payload";
  post.headers = {{"X-Index", "1"}};
  post.follow_redirects = false;
  multi.Start(1, post);
  ASSERT_TRUE(Only(multi, 1).ok());
  multi.Start(2, Get("/echo-headers"));
  const HttpResponse plain = Only(multi, 2);
  ASSERT_TRUE(plain.ok()) << plain.error_message;
  EXPECT_THAT(plain.body, HasSubstr(R"("method": "GET")"));
  EXPECT_THAT(plain.body, ::testing::Not(HasSubstr("x-index")));
  EXPECT_THAT(plain.body, ::testing::Not(HasSubstr("payload")));
  multi.Start(3, Get("/redirect?to=/ok"));  // follows again: the last request did not
  EXPECT_EQ(Only(multi, 3).status, 200);
}

TEST_F(HttpMultiTest, RedirectIsTheResponseWhenNotFollowed) {
  HttpRequest webhook = Get("/redirect?to=/ok");
  webhook.method = "POST";
  webhook.body = "{}";
  webhook.follow_redirects = false;
  HttpMulti multi;
  multi.Start(1, webhook);
  const HttpResponse r = Only(multi, 1);
  EXPECT_EQ(r.error, TransferError::kNone) << r.error_message;
  EXPECT_EQ(r.status, 302);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.body, "moved\n");
  EXPECT_EQ(r.etag, "\"from-redirect\"");
  EXPECT_EQ(r.effective_url, webhook.url);

  // The same request, followed (the default), ends at /ok; HttpClient agrees on both.
  HttpRequest followed = webhook;
  followed.follow_redirects = true;
  multi.Start(2, followed);
  EXPECT_EQ(Only(multi, 2).status, 200);
  HttpClient client;
  EXPECT_EQ(client.Fetch(webhook).status, 302);
  EXPECT_EQ(client.Fetch(followed).status, 200);
}

TEST_F(HttpMultiTest, MissingCaFileIsATlsError) {
  const std::string missing =
      (std::filesystem::path(::testing::TempDir()) / "digestd-no-such-ca.pem").string();
  ASSERT_FALSE(std::filesystem::exists(missing));
  // The local server speaks plain HTTP, so no handshake could succeed; the message shows the
  // CA file is what failed, before the handshake.
  HttpRequest request{.url = "https://127.0.0.1:" + std::to_string(server_->port()) + "/ok",
                      .timeout = milliseconds(5000),
                      .ca_file = missing};
  HttpMulti multi;
  multi.Start(1, request);
  const HttpResponse r = Only(multi, 1);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error, TransferError::kTls) << r.error_message;
  EXPECT_THAT(r.error_message, HasSubstr(missing));

  request.ca_file.clear();
  multi.Start(2, request);
  const HttpResponse without = Only(multi, 2);
  EXPECT_EQ(without.error, TransferError::kTls) << without.error_message;
  EXPECT_THAT(without.error_message, ::testing::Not(HasSubstr(missing)));
}

}  // namespace
}  // namespace digestd
