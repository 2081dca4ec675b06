#include "notifiers/webhook.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

#include "core/utf8.h"
#include "notifiers/limits.h"
#include "notifiers/registry.h"
#include "tests/notifiers/notifier_testing.h"

namespace digestd {
namespace {

namespace json = boost::json;
using test::ContextFor;
using test::RenderWith;
using test::ExpectGolden;
using test::kNow;
using test::MakeNotifierConfig;

// Standard Webhooks' published test vector (platforms.md §3.1).
constexpr std::string_view kVectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
// A second secret, as while rotating: 32 bytes 0x00..0x1f.
constexpr std::string_view kSecondSecret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

NotifierConfig WebhookConfig(std::vector<std::string> secrets = {std::string(kVectorSecret)}) {
  NotifierConfig config = MakeNotifierConfig(
      "hook", WebhookSettings{.url = "https://hooks.example.com/digestd?token=s3cret",
                              .secrets = std::move(secrets),
                              .headers = {{"Authorization", "Bearer abc"}, {"X-Team", "ml"}}});
  config.timeout = std::chrono::milliseconds(15000);
  config.tls_verify = false;
  config.ca_file = "/etc/ssl/private-ca.pem";
  return config;
}


std::string Header(const Payload& p, std::string_view name) {
  for (const auto& [key, value] : p.headers) {
    if (key == name) return value;
  }
  return "<absent>";
}

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> out(1);
  for (char c : text) {
    if (c == separator) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

TEST(SignWebhook, StandardWebhooksTestVector) {
  auto key = DecodeWebhookSecret(kVectorSecret);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(
      SignWebhook(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})"),
      "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  // Any change to the signed content changes the signature.
  EXPECT_NE(
      SignWebhook(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, R"({"test": 2432232314})"),
      "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(DecodeWebhookSecret, KeyBytesAndRejects) {
  auto key = DecodeWebhookSecret(kSecondSecret);
  ASSERT_TRUE(key);
  ASSERT_EQ(key->size(), 32u);
  for (int i = 0; i < 32; ++i) EXPECT_EQ((*key)[i], char(i));
  // Unpadded base64 decodes the same.
  auto unpadded = DecodeWebhookSecret(kSecondSecret.substr(0, kSecondSecret.size() - 1));
  ASSERT_TRUE(unpadded);
  EXPECT_EQ(*unpadded, *key);
  EXPECT_EQ(DecodeWebhookSecret("whsec_YWI=").value_or(""), "ab");
  EXPECT_EQ(DecodeWebhookSecret("whsec_YWJj").value_or(""), "abc");
  for (const char* bad :
       {"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_====", "whsec_a", "whsec_ab!d",
        "whsec_ab=d", "whsec_YQ===", "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}) {
    EXPECT_FALSE(DecodeWebhookSecret(bad)) << bad;
  }
}

TEST(WebhookChannel, HeadersSignEveryPartWithEverySecret) {
  const Notification n = test::MakeInstant();
  const std::vector<Payload> payloads =
      RenderWith(WebhookConfig({std::string(kVectorSecret), std::string(kSecondSecret)}), n);
  ASSERT_EQ(payloads.size(), 1u);
  const Payload& p = payloads.front();
  EXPECT_EQ(p.transfer, Transfer::kHttp);
  EXPECT_EQ(p.method, "POST");
  EXPECT_EQ(p.url, "https://hooks.example.com/digestd?token=s3cret");
  EXPECT_EQ(p.timeout, std::chrono::milliseconds(15000));
  EXPECT_FALSE(p.tls_verify);
  EXPECT_EQ(p.ca_file, "/etc/ssl/private-ca.pem");
  EXPECT_EQ(Header(p, "Content-Type"), "application/json");
  EXPECT_EQ(Header(p, "webhook-id"), n.id);
  EXPECT_EQ(Header(p, "webhook-timestamp"), std::to_string(kNow));
  EXPECT_EQ(Header(p, "Authorization"), "Bearer abc");
  EXPECT_EQ(Header(p, "X-Team"), "ml");
  const std::vector<std::string> signatures = Split(Header(p, "webhook-signature"), ' ');
  ASSERT_EQ(signatures.size(), 2u);
  EXPECT_EQ(signatures[0], SignWebhook(*DecodeWebhookSecret(kVectorSecret), n.id, kNow, p.body));
  EXPECT_EQ(signatures[1], SignWebhook(*DecodeWebhookSecret(kSecondSecret), n.id, kNow, p.body));
  EXPECT_NE(signatures[0], signatures[1]);
}

TEST(WebhookChannel, NoSecretNoSignatureHeader) {
  const std::vector<Payload> payloads = RenderWith(WebhookConfig({}), test::MakeInstant());
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_EQ(Header(payloads[0], "webhook-signature"), "<absent>");
  EXPECT_EQ(Header(payloads[0], "webhook-id"), test::MakeInstant().id);
}

TEST(WebhookChannel, Goldens) {
  for (const auto& [name, n] : {std::pair{"webhook_instant.http", test::MakeInstant()},
                                std::pair{"webhook_digest.http", test::MakeDigestGrouped()},
                                std::pair{"webhook_alert.http", test::MakeAlert()}}) {
    NotifierConfig config = WebhookConfig();
    config.max_papers = 3;
    const std::vector<Payload> payloads = RenderWith(config, n);
    ASSERT_EQ(payloads.size(), 1u) << name;
    ExpectGolden(name, test::DescribePayload(payloads.front()));
  }
}

TEST(WebhookChannel, BodyFields) {
  const Notification n = test::MakeDigestGrouped();
  NotifierConfig config = WebhookConfig();
  config.max_papers = 3;
  const std::vector<Payload> payloads = RenderWith(config, n);
  ASSERT_EQ(payloads.size(), 1u);
  const json::object body = json::parse(payloads[0].body).as_object();
  EXPECT_EQ(body.at("version").as_int64(), kWebhookBodyVersion);
  EXPECT_EQ(body.at("type").as_string(), "digestd.notification");
  EXPECT_EQ(body.at("id").as_string(), n.id);
  EXPECT_EQ(body.at("notification").as_string(), n.id);
  EXPECT_EQ(body.at("part").as_int64(), 0);
  EXPECT_EQ(body.at("parts").as_int64(), 1);
  EXPECT_EQ(body.at("timestamp").as_string(), "2024-01-29T08:00:00Z");
  EXPECT_EQ(body.at("notifier").as_string(), "team");
  EXPECT_EQ(body.at("event").as_string(), "mixed");
  const json::array& papers = body.at("papers").as_array();
  ASSERT_EQ(papers.size(), 3u);
  EXPECT_EQ(body.at("more").as_int64(), 1);
  EXPECT_EQ(body.at("digest_url").as_string(), n.digest_url);
  EXPECT_TRUE(body.at("alert").is_null());
  EXPECT_EQ(papers[1].at("event").as_string(), "updated");
  EXPECT_EQ(papers[1].at("watches").as_array(), json::array({"agents"}));
  EXPECT_EQ(papers[1].at("source").as_string(), "hf-daily");
  EXPECT_EQ(papers[1].at("date").as_string(), "2024-01-29");
  EXPECT_EQ(papers[1].at("key").as_string(), n.papers[1].paper->key);

  const std::vector<Payload> alert = RenderWith(WebhookConfig(), test::MakeAlert());
  ASSERT_EQ(alert.size(), 1u);
  const json::object alert_body = json::parse(alert[0].body).as_object();
  EXPECT_EQ(alert_body.at("alert").at("source").as_string(), "hf-daily");
  EXPECT_TRUE(alert_body.at("papers").as_array().empty());
  EXPECT_EQ(alert_body.at("more").as_int64(), 0);
}

TEST(WebhookChannel, MaxPapersCountsTheRestInMore) {
  Notification n = test::MakeLarge(7, 10);
  NotifierConfig config = WebhookConfig();
  config.max_papers = 2;
  const std::vector<Payload> payloads = RenderWith(config, n);
  ASSERT_EQ(payloads.size(), 1u);
  const json::object body = json::parse(payloads[0].body).as_object();
  ASSERT_EQ(body.at("papers").as_array().size(), 2u);
  EXPECT_EQ(body.at("papers").as_array()[1].at("key").as_string(), n.papers[1].paper->key);
  EXPECT_EQ(body.at("more").as_int64(), 5);
}

TEST(WebhookChannel, SplitsLargeMessagesIntoPartsThatFit) {
  const Notification n = test::MakeLarge(50, 4096);
  const std::vector<Payload> payloads = RenderWith(WebhookConfig(), n);
  ASSERT_GT(payloads.size(), 5u);  // 50 x 4 KB cannot fit fewer than ten parts of 20 KB
  std::vector<std::string> keys;
  for (std::size_t k = 0; k < payloads.size(); ++k) {
    const Payload& p = payloads[k];
    const std::string id = k == 0 ? n.id : n.id + "-" + std::to_string(k);
    EXPECT_EQ(p.part_id, id);
    EXPECT_EQ(Header(p, "webhook-id"), id);
    EXPECT_EQ(Header(p, "webhook-signature"),
              SignWebhook(*DecodeWebhookSecret(kVectorSecret), id, kNow, p.body));
    EXPECT_LE(p.body.size(), kWebhookMaxBodyBytes) << "part " << k;
    const json::object body = json::parse(p.body).as_object();
    EXPECT_EQ(body.at("id").as_string(), id);
    EXPECT_EQ(body.at("notification").as_string(), n.id);
    EXPECT_EQ(body.at("part").as_int64(), std::int64_t(k));
    EXPECT_EQ(body.at("parts").as_int64(), std::int64_t(payloads.size()));
    EXPECT_EQ(body.at("more").as_int64(), 0);
    ASSERT_FALSE(body.at("papers").as_array().empty()) << "part " << k;
    for (const json::value& paper : body.at("papers").as_array()) {
      keys.emplace_back(paper.at("key").as_string());
      // Papers that fit are not shortened.
      EXPECT_EQ(paper.at("summary").as_array()[0].as_string(),
                n.papers[keys.size() - 1].paper->summary[0]);
    }
  }
  // Every paper once, in order: none lost, none doubled.
  ASSERT_EQ(keys.size(), n.papers.size());
  for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(keys[i], n.papers[i].paper->key);
  // Parts are packed: part k could not also take the first paper of part k + 1.
  for (std::size_t k = 0; k + 1 < payloads.size(); ++k) {
    const std::string& next = payloads[k + 1].body;
    const std::size_t begin = next.find("\"papers\":[") + 10;
    const std::size_t end =
        std::min(next.find(",{\"key\":", begin), next.find("],\"more\"", begin));
    ASSERT_LT(end, next.size());
    EXPECT_GT(payloads[k].body.size() + 1 + (end - begin), kWebhookMaxBodyBytes) << "part " << k;
  }
}

TEST(WebhookChannel, SplittingIsTheSameAtEveryAttempt) {
  const Notification n = test::MakeLarge(30, 3000);
  auto channel = MakeChannel(WebhookConfig());
  ASSERT_TRUE(channel);
  auto first = (*channel)->Render(n, {.id = n.id, .now = kNow});
  auto later = (*channel)->Render(n, {.id = n.id, .now = kNow + 86400 * 365});
  ASSERT_TRUE(first && later);
  ASSERT_EQ(first->size(), later->size());
  for (std::size_t k = 0; k < first->size(); ++k) {
    EXPECT_EQ((*first)[k].part_id, (*later)[k].part_id);
    EXPECT_EQ((*first)[k].body.size(), (*later)[k].body.size());
  }
}

TEST(WebhookChannel, OversizedPaperLosesTheEndOfItsSummaryOnACharacterBoundary) {
  const Notification n = test::MakeLarge(3, 50'000);
  const std::vector<Payload> payloads = RenderWith(WebhookConfig(), n);
  ASSERT_EQ(payloads.size(), 3u);
  for (std::size_t k = 0; k < payloads.size(); ++k) {
    const std::string& body = payloads[k].body;
    EXPECT_LE(body.size(), kWebhookMaxBodyBytes);
    // Nearly full: the summary is cut just enough (within a character and its ellipsis).
    EXPECT_GT(body.size(), kWebhookMaxBodyBytes - 8);
    ASSERT_TRUE(IsValidUtf8(body));
    const json::object parsed = json::parse(body).as_object();
    const json::object& paper = parsed.at("papers").as_array()[0].as_object();
    EXPECT_EQ(paper.at("key").as_string(), n.papers[k].paper->key);
    const std::string summary(paper.at("summary").as_array()[0].as_string());
    EXPECT_TRUE(summary.ends_with("…")) << summary.substr(summary.size() - 20);
    EXPECT_TRUE(n.papers[k].paper->summary[0].starts_with(summary.substr(0, summary.size() - 3)));
    EXPECT_EQ(paper.at("authors").as_array().size(), n.papers[k].paper->authors.size());
  }
}

TEST(WebhookChannel, ThousandsOfAuthorsAreTruncated) {
  Notification n = test::MakeInstant();
  Paper& paper = n.papers[0].paper.Edit();
  for (int i = 0; i < 3000; ++i)
    paper.authors.push_back("Collaborator Number " + std::to_string(i));
  const std::vector<Payload> payloads = RenderWith(WebhookConfig(), n);
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_LE(payloads[0].body.size(), kWebhookMaxBodyBytes);
  const json::object body = json::parse(payloads[0].body).as_object();
  const json::object& rendered = body.at("papers").as_array()[0].as_object();
  EXPECT_TRUE(rendered.at("authors_truncated").as_bool());
  const json::array& authors = rendered.at("authors").as_array();
  // Authors go from the end, just enough; the summary stays.
  EXPECT_GT(payloads[0].body.size(), kWebhookMaxBodyBytes - 64);
  ASSERT_GT(authors.size(), 10u);
  EXPECT_LT(authors.size(), paper.authors.size());
  for (std::size_t i = 0; i < authors.size(); ++i) {
    EXPECT_EQ(std::string_view(authors[i].as_string()), paper.authors[i]);
  }
  EXPECT_EQ(rendered.at("summary").as_array().size(), paper.summary.size());
}

TEST(RenderWebhookBodies, UnlimitedIsOnePart) {
  const Notification n = test::MakeLarge(50, 4096);
  auto parts = RenderWebhookBodies(n, ContextFor(n), 50, 0);
  ASSERT_TRUE(parts);
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].id, n.id);
  EXPECT_EQ(json::parse((*parts)[0].body).at("papers").as_array().size(), 50u);
}

TEST(RenderWebhookBodies, FailsWhenNothingCanFit) {
  Notification n = test::MakeInstant();
  for (int i = 0; i < 2000; ++i) n.watches.push_back("watch number " + std::to_string(i));
  auto parts = RenderWebhookBodies(n, ContextFor(n), 50, kWebhookMaxBodyBytes);
  ASSERT_FALSE(parts);
  EXPECT_NE(parts.error().message.find("20000"), std::string::npos) << parts.error().message;
}

TEST(RenderWebhookBodies, LongAlertMessageIsShortened) {
  Notification n = test::MakeAlert();
  n.message.assign(30'000, 'x');
  auto parts = RenderWebhookBodies(n, ContextFor(n), 50, kWebhookMaxBodyBytes);
  ASSERT_TRUE(parts) << parts.error().message;
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_LE((*parts)[0].body.size(), kWebhookMaxBodyBytes);
  EXPECT_TRUE(json::parse((*parts)[0].body).at("alert").at("message").as_string().ends_with("…"));
}

TEST(RenderWebhookBodies, IdMustBeUsableInTheSignature) {
  const Notification n = test::MakeInstant();
  EXPECT_FALSE(RenderWebhookBodies(n, {.id = "", .now = kNow}, 50, kWebhookMaxBodyBytes));
  EXPECT_FALSE(RenderWebhookBodies(n, {.id = "a.b", .now = kNow}, 50, kWebhookMaxBodyBytes));
}

TEST(WebhookChannel, ClassifyIsClassifyHttp) {
  auto channel = MakeChannel(WebhookConfig());
  ASSERT_TRUE(channel);
  for (long status : {200L, 301L, 404L, 410L, 429L, 503L}) {
    const Response response{.status = status, .body = "x", .retry_after = "30"};
    const Outcome mine = (*channel)->Classify({}, response);
    const Outcome http = ClassifyHttp(response);
    EXPECT_EQ(mine.kind, http.kind);
    EXPECT_EQ(mine.reason, http.reason);
    EXPECT_EQ(mine.retry_after, http.retry_after);
  }
}

TEST(WebhookChannel, RejectsBadSettings) {
  const auto error_of = [](WebhookSettings settings) {
    auto channel = MakeChannel(MakeNotifierConfig("hook", std::move(settings)));
    return channel ? std::string("<made>") : channel.error().message;
  };
  const std::string url = "https://hooks.example.com/x";
  EXPECT_NE(error_of({.url = url, .secrets = {"nope"}}).find("secret 1"), std::string::npos);
  EXPECT_NE(
      error_of({.url = url, .secrets = {std::string(kVectorSecret), "whsec_!"}}).find("secret 2"),
      std::string::npos);
  EXPECT_NE(error_of({.url = url, .method = "GET"}).find("method 'GET'"), std::string::npos);
  EXPECT_NE(error_of({.url = ""}).find("url"), std::string::npos);
  for (const char* reserved :
       {"Content-Type", "content-length", "Webhook-Id", "webhook-timestamp", "WEBHOOK-SIGNATURE"}) {
    EXPECT_NE(error_of({.url = url, .headers = {{reserved, "x"}}}).find("set by digestd"),
              std::string::npos)
        << reserved;
  }
  EXPECT_NE(error_of({.url = url, .headers = {{"X-Evil", "a\r\nInjected: 1"}}}).find("line break"),
            std::string::npos);
  EXPECT_NE(error_of({.url = url, .headers = {{"Bad Name", "x"}}}).find("not valid"),
            std::string::npos);
  EXPECT_EQ(error_of({.url = url, .headers = {{"X-Ok", "y"}}, .method = "PUT"}), "<made>");
}

}  // namespace
}  // namespace digestd
