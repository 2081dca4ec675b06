#include "notifiers/exec.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cerrno>

#include "notifiers/limits.h"
#include "notifiers/registry.h"
#include "notifiers/webhook.h"
#include "tests/notifiers/notifier_testing.h"

namespace digestd {
namespace {

using Kind = Outcome::Kind;
using test::ContextFor;
using test::MakeNotifierConfig;

NotifierConfig ExecConfig() {
  NotifierConfig config =
      MakeNotifierConfig("script", ExecSettings{.command = {"/usr/local/bin/notify-me", "--json"},
                                                .env = {"HOME", "MATRIX_TOKEN"}});
  config.timeout = std::chrono::milliseconds(5000);
  config.max_papers = 2;
  return config;
}

std::unique_ptr<Channel> Make(const NotifierConfig& config = ExecConfig()) {
  auto channel = MakeChannel(config);
  EXPECT_TRUE(channel) << channel.error().message;
  return channel ? std::move(*channel) : nullptr;
}

TEST(ExecChannel, OnePayloadWithTheWebhookBodyAndAFixedEnvironment) {
  const Notification n = test::MakeDigestGrouped();
  auto payloads = Make()->Render(n, ContextFor(n));
  ASSERT_TRUE(payloads) << payloads.error().message;
  ASSERT_EQ(payloads->size(), 1u);
  const Payload& p = payloads->front();
  EXPECT_EQ(p.transfer, Transfer::kExec);
  EXPECT_EQ(p.part_id, n.id);
  EXPECT_EQ(p.argv, (std::vector<std::string>{"/usr/local/bin/notify-me", "--json"}));
  EXPECT_EQ(p.pass_env, (std::vector<std::string>{"HOME", "MATRIX_TOKEN"}));
  EXPECT_EQ(p.timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(p.body, RenderWebhookBodies(n, ContextFor(n), 2, 0)->front().body);
  const boost::json::object body = boost::json::parse(p.body).as_object();
  EXPECT_EQ(body.at("papers").as_array().size(), 2u);
  EXPECT_EQ(body.at("more").as_int64(), 2);
  EXPECT_EQ(body.at("parts").as_int64(), 1);
  test::ExpectGolden("exec_digest.txt", test::DescribePayload(p));
}

TEST(ExecChannel, NeverSplits) {
  const Notification n = test::MakeLarge(40, 4096);
  NotifierConfig config = ExecConfig();
  config.max_papers = 50;
  auto payloads = Make(config)->Render(n, ContextFor(n));
  ASSERT_TRUE(payloads);
  ASSERT_EQ(payloads->size(), 1u);
  EXPECT_GT(payloads->front().body.size(), kWebhookMaxBodyBytes);
}

TEST(ExecChannel, ExitStatusDecides) {
  auto channel = Make();
  EXPECT_EQ(channel->Classify({}, {.status = 0, .body = "ok"}).kind, Kind::kDelivered);
  const Outcome tempfail = channel->Classify({}, {.status = 75, .body = "server busy\n"});
  EXPECT_EQ(tempfail.kind, Kind::kRetry);
  EXPECT_EQ(tempfail.reason, "exit status 75 (EX_TEMPFAIL): server busy");
  for (long status : {1L, 2L, 64L, 74L, 76L, 126L, 127L, 255L}) {
    const Outcome outcome = channel->Classify({}, {.status = status});
    EXPECT_EQ(outcome.kind, Kind::kPermanent) << status;
    EXPECT_EQ(outcome.reason, "exit status " + std::to_string(status));
  }
}

TEST(ExecChannel, ReasonCarriesTheEndOfTheOutput) {
  std::string output(2000, 'x');
  output += "\nTraceback: KeyError: 'papers'\n";
  const Outcome outcome = Make()->Classify({}, {.status = 1, .body = output});
  EXPECT_TRUE(outcome.reason.starts_with("exit status 1: …xxx")) << outcome.reason;
  EXPECT_TRUE(outcome.reason.ends_with("x Traceback: KeyError: 'papers'")) << outcome.reason;
  EXPECT_LT(outcome.reason.size(), 600u);
}

TEST(ExecChannel, FailuresToRun) {
  auto channel = Make();
  const Outcome timeout =
      channel->Classify({}, {.failure = "timed out after 5s", .timed_out = true, .body = "half"});
  EXPECT_EQ(timeout.kind, Kind::kRetry);
  EXPECT_EQ(timeout.reason, "timed out after 5s: half");
  const Outcome missing = channel->Classify(
      {},
      {.failure = "/usr/local/bin/notify-me: No such file or directory", .start_errno = ENOENT});
  EXPECT_EQ(missing.kind, Kind::kPermanent);
  EXPECT_EQ(missing.reason, "/usr/local/bin/notify-me: No such file or directory");
  for (int error : {EAGAIN, ENOMEM, EMFILE, EACCES, 0}) {
    EXPECT_EQ(channel->Classify({}, {.failure = "could not start", .start_errno = error}).kind,
              Kind::kRetry)
        << error;
  }
}

TEST(ExecChannel, RejectsBadSettings) {
  const auto error_of = [](ExecSettings settings) {
    auto channel = MakeChannel(MakeNotifierConfig("script", std::move(settings)));
    return channel ? std::string("<made>") : channel.error().message;
  };
  EXPECT_NE(error_of({}).find("command is empty"), std::string::npos);
  EXPECT_NE(error_of({.command = {""}}).find("command is empty"), std::string::npos);
  for (const char* name : {"", "A=B", "1ABC", "WITH SPACE"}) {
    EXPECT_NE(error_of({.command = {"/bin/true"}, .env = {name}}).find("not a variable name"),
              std::string::npos)
        << name;
  }
  EXPECT_NE(error_of({.command = {"/bin/true"}, .env = {"DIGESTD_NOTIFICATION_ID"}})
                .find("set by digestd"),
            std::string::npos);
  EXPECT_EQ(error_of({.command = {"notify-send"}, .env = {"DISPLAY", "_x1"}}), "<made>");
}

}  // namespace
}  // namespace digestd
