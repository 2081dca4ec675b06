#include "notifiers/registry.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "notifiers/limits.h"
#include "tests/notifiers/notifier_testing.h"

namespace digestd {
namespace {

using test::MakeNotifierConfig;

TEST(Registry, ListsEveryKindOnceInAStableOrder) {
  EXPECT_EQ(ChannelKinds(),
            (std::vector<std::string_view>{"console", "file", "webhook", "exec", "email", "slack",
                                           "discord", "teams", "telegram", "matrix",
                                           "mattermost", "googlechat", "ntfy"}));
}

TEST(Registry, MakesEveryListedKind) {
  const std::vector<KindSettings> settings = {ConsoleSettings{},
                                              FileSettings{.path = "/tmp/p.jsonl"},
                                              WebhookSettings{.url = "https://hooks.example.com/x"},
                                              ExecSettings{.command = {"/bin/true"}},
                                              EmailSettings{.url = "smtps://mail.example.com",
                                                            .from = "a@example.com",
                                                            .to = {"b@example.com"}},
                                              SlackSettings{.url = "https://hooks.example.com/s"},
                                              DiscordSettings{.url = "https://d.example.com/w"},
                                              TeamsSettings{.url = "https://t.example.com/w"},
                                              TelegramSettings{.token = "1:x", .chat_id = "5"},
                                              MatrixSettings{.homeserver = "https://m.example",
                                                             .room_id = "!r:m.example",
                                                             .access_token = "tok"},
                                              MattermostSettings{.url = "https://mm.example/h"},
                                              GoogleChatSettings{.url = "https://gc.example/s"},
                                              NtfySettings{.url = "https://ntfy.example/t"}};
  ASSERT_EQ(settings.size(), ChannelKinds().size());
  for (const KindSettings& s : settings) {
    const NotifierConfig config = MakeNotifierConfig("n", s);
    auto channel = MakeChannel(config);
    ASSERT_TRUE(channel) << config.kind << ": " << channel.error().message;
    const Notification n = test::MakeInstant();
    auto payloads = (*channel)->Render(n, test::ContextFor(n));
    ASSERT_TRUE(payloads) << config.kind;
    EXPECT_EQ(payloads->size(), 1u) << config.kind;
  }
}

TEST(Registry, UnknownKindNamesTheKnownOnes) {
  NotifierConfig config = MakeNotifierConfig("pager", ConsoleSettings{});
  config.kind = "pagerduty";
  auto channel = MakeChannel(config);
  ASSERT_FALSE(channel);
  EXPECT_EQ(channel.error().message,
            "notifier 'pager': kind 'pagerduty' has no channel (known: console, file, webhook, "
            "exec, email, slack, discord, teams, telegram, matrix, mattermost, googlechat, "
            "ntfy)");
}

TEST(Registry, SettingsOfAnotherKindAreRefused) {
  NotifierConfig config = MakeNotifierConfig("hook", FileSettings{.path = "/tmp/x"});
  config.kind = "webhook";
  auto channel = MakeChannel(config);
  ASSERT_FALSE(channel);
  EXPECT_EQ(channel.error().message,
            "notifier 'hook': the settings given are not those of kind 'webhook'");
  config.settings = std::monostate{};
  EXPECT_FALSE(MakeChannel(config));
}

TEST(Limits, EveryKindHasItsRowAndWebhooksKeepUnder20KB) {
  for (std::string_view kind : ChannelKinds()) {
    EXPECT_TRUE(std::any_of(kChannelLimits.begin(), kChannelLimits.end(),
                            [&](const ChannelLimits& row) { return row.kind == kind; }))
        << kind;
  }
  EXPECT_EQ(LimitsFor("webhook").max_body_bytes, 20'000u);
  EXPECT_EQ(LimitsFor("exec").max_body_bytes, 0u);
  EXPECT_EQ(LimitsFor("no-such-kind").max_body_bytes, 0u);
  EXPECT_EQ(LimitsFor("no-such-kind").default_max_papers, 50);
}

}  // namespace
}  // namespace digestd
