// The chat notifier kinds of issue 9: golden payloads per kind, the hostile day on every
// platform (limits, escaping, mentions, controls), and each platform's answers.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "notifiers/chat_channels.h"
#include "notifiers/chat_message.h"
#include "notifiers/chat_text.h"
#include "notifiers/email_render.h"
#include "notifiers/limits.h"
#include "tests/notifiers/chat_hostile.h"
#include "tests/notifiers/notifier_testing.h"

namespace digestd {
namespace {

using test::MakeNotifierConfig;

const char* const kChatKinds[] = {"slack",  "discord",    "teams",      "telegram",
                                  "matrix", "mattermost", "googlechat", "ntfy"};

KindSettings SettingsFor(std::string_view kind) {
  if (kind == "slack") return SlackSettings{.url = "https://hooks.slack.test/services/T0/B0/S3CRET"};
  if (kind == "discord") return DiscordSettings{.url = "https://discord.test/api/webhooks/1/S3CRET"};
  if (kind == "teams") return TeamsSettings{.url = "https://flow.test/workflows/1?sig=S3CRET"};
  if (kind == "telegram") {
    return TelegramSettings{
        .token = "123456:S3CRET", .chat_id = "-1001", .api_url = "https://api.telegram.test"};
  }
  if (kind == "matrix") {
    return MatrixSettings{.homeserver = "https://matrix.test",
                          .room_id = "!room:matrix.test",
                          .access_token = "S3CRET"};
  }
  if (kind == "mattermost") return MattermostSettings{.url = "https://mm.test/hooks/S3CRET"};
  if (kind == "googlechat") {
    return GoogleChatSettings{.url = "https://chat.test/v1/spaces/AAA/messages?key=k&token=S3CRET"};
  }
  return NtfySettings{.url = "https://ntfy.test/S3CRET-topic", .token = "tk_S3CRET", .priority = 4};
}

NotifierConfig ChatConfig(std::string_view kind, int max_papers = 0) {
  NotifierConfig config = MakeNotifierConfig("chat", SettingsFor(kind));
  config.max_papers = max_papers > 0 ? max_papers : LimitsFor(kind).default_max_papers;
  config.min_interval = LimitsFor(kind).default_min_interval;
  return config;
}

// A digest-grouped message whose papers changed: votes 3 -> 42, v1 -> v2, and updated.
Notification MakeChanges() {
  Notification n = test::MakeDigestGrouped();
  n.papers[0].event = "threshold";
  n.papers[0].SetPrior({.votes = 3});
  n.papers[2].event = "new_version";
  n.papers[2].SetPrior({.version = "v1"});
  return n;
}

std::string Describe(const std::vector<Payload>& payloads) {
  std::string out;
  for (const Payload& p : payloads) {
    out += "shown_url: " + p.shown_url + "\n" + test::DescribePayload(p) + "\n";
  }
  return out;
}

TEST(Issue9, GoldenPayloadsOfEveryChatKind) {
  for (const char* kind : kChatKinds) {
    SCOPED_TRACE(kind);
    const NotifierConfig config = ChatConfig(kind);
    test::ExpectGolden(std::string(kind) + "_instant.http",
                       Describe(test::RenderWith(config, test::MakeInstant())));
    test::ExpectGolden(std::string(kind) + "_changes.http",
                       Describe(test::RenderWith(config, MakeChanges())));
    test::ExpectGolden(std::string(kind) + "_alert.http",
                       Describe(test::RenderWith(config, test::MakeAlert())));
  }
}

TEST(Issue9, WhatChangedIsSaid) {
  for (const char* kind : kChatKinds) {
    const std::vector<Payload> payloads = test::RenderWith(ChatConfig(kind), MakeChanges());
    ASSERT_FALSE(payloads.empty()) << kind;
    std::string all;
    for (const Payload& p : payloads) all += p.body;
    EXPECT_NE(all.find("votes 3 → 42"), std::string::npos) << kind;
    EXPECT_NE(all.find("v1 → v2"), std::string::npos) << kind;
    EXPECT_NE(all.find("updated"), std::string::npos) << kind;
  }
}

// What no payload may carry, whatever the digest said.
void ExpectDefused(std::string_view kind, const std::string& body) {
  // ntfy's message and Matrix's `body` are plain text, where <script> is only text; Matrix's
  // formatted_body is HTML and is checked on its own.
  const bool plain = kind == "ntfy" || kind == "matrix";
  if (!plain) {
    EXPECT_EQ(body.find("<script>"), std::string::npos) << kind;
  }
  if (kind == "matrix") {
    EXPECT_EQ(JsonMember(body, "formatted_body").find("<script>"), std::string::npos);
  }
  for (const char* raw : {"\xE2\x80\xAE", "\xE2\x81\xA6", "\x1b", "\xC2\x9B",
                          "\x07", "@everyone", "@here", "@room", "<!channel>", "<!here>",
                          "<users/all>", "<@U024BE7LH>"}) {
    EXPECT_EQ(body.find(raw), std::string::npos) << kind << " carries " << raw;
  }
  // JSON escapes of controls would smuggle them too.
  EXPECT_EQ(body.find("\\u001b"), std::string::npos) << kind;
  EXPECT_EQ(body.find("\\u202e"), std::string::npos) << kind;
}

TEST(Issue9, HostileDayFitsEveryPlatformAndCarriesEveryPaperOnce) {
  const Notification hostile = test::MakeHostile();
  for (const char* kind : kChatKinds) {
    SCOPED_TRACE(kind);
    const ChannelLimits limits = LimitsFor(kind);
    const std::vector<Payload> payloads = test::RenderWith(ChatConfig(kind, 300), hostile);
    ASSERT_FALSE(payloads.empty());
    std::multiset<std::string> seen;
    const std::regex paper_link(R"(arxiv\.org/abs/2401\.(1\d{4}))");
    for (std::size_t k = 0; k < payloads.size(); ++k) {
      const Payload& p = payloads[k];
      EXPECT_EQ(p.part_id, k == 0 ? hostile.id : hostile.id + "-" + std::to_string(k));
      EXPECT_LE(p.body.size(), limits.max_body_bytes);
      ExpectDefused(kind, p.body);
      EXPECT_FALSE(p.shown_url.empty());
      EXPECT_EQ(p.shown_url.find("S3CRET"), std::string::npos) << p.shown_url;
      std::set<std::string> in_part;
      for (auto it = std::sregex_iterator(p.body.begin(), p.body.end(), paper_link);
           it != std::sregex_iterator(); ++it) {
        in_part.insert((*it)[1]);
      }
      seen.insert(in_part.begin(), in_part.end());
    }
    EXPECT_EQ(seen.size(), 300u) << "every paper in exactly one part";
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 300u);
  }
}

TEST(Issue9, DefaultMaxPapersCutsTheDayWithALinkToTheDigest) {
  const Notification hostile = test::MakeHostile();
  for (const char* kind : kChatKinds) {
    SCOPED_TRACE(kind);
    const int shown = LimitsFor(kind).default_max_papers;
    const std::vector<Payload> payloads = test::RenderWith(ChatConfig(kind), hostile);
    ASSERT_FALSE(payloads.empty());
    const std::string& last = payloads.back().body;
    EXPECT_NE(last.find("and " + std::to_string(300 - shown) + " more papers"), std::string::npos);
    EXPECT_NE(last.find("huggingface.co/papers?date=2024-01-29"), std::string::npos);
    for (std::size_t k = 0; k + 1 < payloads.size(); ++k) {
      EXPECT_EQ(payloads[k].body.find(" more papers"), std::string::npos);
    }
  }
}

TEST(Issue9, PlatformMarkersOfMentionSafety) {
  const Notification hostile = test::MakeHostile(2);
  const auto body = [&](const char* kind) {
    return test::RenderWith(ChatConfig(kind), hostile).front().body;
  };
  EXPECT_NE(body("discord").find(R"("allowed_mentions":{"parse":[]})"), std::string::npos);
  EXPECT_NE(body("matrix").find(R"("m.mentions":{})"), std::string::npos);
  EXPECT_NE(body("matrix").find(R"("msgtype":"m.notice")"), std::string::npos);
  EXPECT_NE(body("slack").find("&lt;\u2060!channel&gt;"), std::string::npos);
  EXPECT_NE(body("telegram").find("&lt;script&gt;"), std::string::npos);
  EXPECT_NE(body("googlechat").find("&lt;\u2060users/all&gt;"), std::string::npos);
  EXPECT_NE(body("mattermost").find("&lt;\u2060\\\\!channel&gt;"), std::string::npos);
  EXPECT_NE(body("discord").find(R"(\\[click\\]\\(https://evil.example/\\))"), std::string::npos);
}

// ---- classification -------------------------------------------------------------------

Outcome ClassifyWith(std::string_view kind, Response r) {
  auto channel = MakeChannel(ChatConfig(kind));
  EXPECT_TRUE(channel);
  return (*channel)->Classify(Payload{}, r);
}

TEST(Issue9, RetryAfterComesFromTheHeaderOrTheJsonBody) {
  using Kind = Outcome::Kind;
  struct Case {
    const char* kind;
    Response response;
    std::int64_t after;
  };
  const Case cases[] = {
      {"slack", {.status = 429, .body = "rate_limited", .retry_after = "2"}, 2},
      {"discord",
       {.status = 429, .body = R"({"message":"limited","retry_after":1.2,"global":false})"},
       2},
      {"discord", {.status = 429, .body = R"({"retry_after":0.5})", .retry_after = "3"}, 3},
      {"telegram",
       {.status = 429,
        .body = R"({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7",)"
                R"("parameters":{"retry_after":7}})"},
       7},
      {"matrix", {.status = 429, .body = R"({"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":2500})"}, 3},
      {"teams", {.status = 429, .retry_after = "4"}, 4},
      {"teams", {.status = 200, .body = "Microsoft Teams endpoint returned HTTP error 429"}, -1},
      {"googlechat", {.status = 429, .retry_after = "2"}, 2},
      {"mattermost", {.status = 429, .retry_after = "2"}, 2},
      {"ntfy", {.status = 429, .body = R"({"code":42901,"http":429,"error":"limit reached"})"}, 5},
  };
  for (const Case& c : cases) {
    const Outcome o = ClassifyWith(c.kind, c.response);
    EXPECT_EQ(o.kind, Kind::kRetry) << c.kind << " " << c.response.body;
    if (c.after >= 0) {
      ASSERT_TRUE(o.retry_after) << c.kind << " " << c.response.body;
      EXPECT_EQ(o.retry_after->count(), c.after) << c.kind << " " << c.response.body;
    }
  }
}

TEST(Issue9, DeliveredAnswersAndTheirRemoteIds) {
  using Kind = Outcome::Kind;
  struct Case {
    const char* kind;
    Response response;
    std::string remote_id;
  };
  const Case cases[] = {
      {"slack", {.status = 200, .body = "ok"}, ""},
      {"discord", {.status = 200, .body = R"({"id":"1185000000000000001","type":0})"},
       "1185000000000000001"},
      {"teams", {.status = 202}, ""},
      {"telegram", {.status = 200, .body = R"({"ok":true,"result":{"message_id":77}})"}, "77"},
      {"matrix", {.status = 200, .body = R"({"event_id":"$ev:matrix.test"})"}, "$ev:matrix.test"},
      {"mattermost", {.status = 200, .body = "ok"}, ""},
      {"googlechat", {.status = 200, .body = R"({"name":"spaces/AAA/messages/m1"})"},
       "spaces/AAA/messages/m1"},
      {"ntfy", {.status = 200, .body = R"({"id":"sPs71M8A2T","event":"message"})"}, "sPs71M8A2T"},
  };
  for (const Case& c : cases) {
    const Outcome o = ClassifyWith(c.kind, c.response);
    EXPECT_EQ(o.kind, Kind::kDelivered) << c.kind;
    EXPECT_EQ(o.remote_id, c.remote_id) << c.kind;
  }
}

TEST(Issue9, GoneHooksDisableOtherClientErrorsArePermanentServerErrorsRetry) {
  using Kind = Outcome::Kind;
  for (const char* kind : kChatKinds) {
    SCOPED_TRACE(kind);
    const bool webhook = std::string_view(kind) != "telegram" &&
                         std::string_view(kind) != "matrix" && std::string_view(kind) != "ntfy";
    EXPECT_EQ(ClassifyWith(kind, {.status = 404}).kind,
              webhook || std::string_view(kind) == "telegram" ? Kind::kDisable
                                                              : Kind::kPermanent);
    EXPECT_EQ(ClassifyWith(kind, {.status = 410}).kind, Kind::kDisable);
    EXPECT_EQ(ClassifyWith(kind, {.status = 400, .body = "invalid_payload"}).kind,
              Kind::kPermanent);
    EXPECT_EQ(ClassifyWith(kind, {.status = 500}).kind, Kind::kRetry);
    EXPECT_EQ(ClassifyWith(kind, {.status = 502}).kind, Kind::kRetry);
    const Outcome timeout =
        ClassifyWith(kind, {.failure = "POST https://host/…: timed out", .timed_out = true});
    EXPECT_EQ(timeout.kind, Kind::kRetry);
  }
  EXPECT_EQ(ClassifyWith("telegram", {.status = 401}).kind, Kind::kDisable);
  EXPECT_EQ(ClassifyWith("telegram", {.status = 403}).kind, Kind::kDisable);
  EXPECT_EQ(ClassifyWith("matrix", {.status = 401}).kind, Kind::kDisable);
  EXPECT_EQ(ClassifyWith("matrix", {.status = 403}).kind, Kind::kPermanent);
  const Outcome moved = ClassifyWith(
      "telegram", {.status = 400,
                   .body = R"({"ok":false,"description":"Bad Request: group chat was upgraded",)"
                           R"("parameters":{"migrate_to_chat_id":-1009}})"});
  EXPECT_EQ(moved.kind, Kind::kPermanent);
  EXPECT_NE(moved.reason.find("set chat_id = -1009"), std::string::npos) << moved.reason;
}

TEST(Issue9, RequestsPerPlatform) {
  const Notification n = test::MakeInstant();
  const Payload discord = test::RenderWith(ChatConfig("discord"), n).front();
  EXPECT_EQ(discord.url, "https://discord.test/api/webhooks/1/S3CRET?wait=true");
  const Payload matrix = test::RenderWith(ChatConfig("matrix"), n).front();
  EXPECT_EQ(matrix.method, "PUT");
  EXPECT_EQ(matrix.url, "https://matrix.test/_matrix/client/v3/rooms/%21room%3Amatrix.test/send/"
                        "m.room.message/" + n.id);
  const Payload telegram = test::RenderWith(ChatConfig("telegram"), n).front();
  EXPECT_EQ(telegram.url, "https://api.telegram.test/bot123456:S3CRET/sendMessage");
  EXPECT_EQ(telegram.shown_url, "https://api.telegram.test/bot…/sendMessage");
  const Payload ntfy = test::RenderWith(ChatConfig("ntfy"), n).front();
  EXPECT_EQ(ntfy.url, "https://ntfy.test/");
  const Payload chat = test::RenderWith(ChatConfig("googlechat"), n).front();
  EXPECT_NE(chat.url.find("&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"),
            std::string::npos);
  EXPECT_NE(chat.body.find(R"("threadKey":"digestd-2024-01-29")"), std::string::npos);
}

// ---- text helpers ---------------------------------------------------------------------

TEST(ChatText, LinesLoseControlsAndBidiAndMentionsAreDefused) {
  EXPECT_EQ(ChatLine("a\x1b[31mb\tc\n\nd \xE2\x80\xAE" "e\xE2\x81\xA9"), "a[31mb c d e");
  EXPECT_EQ(ChatLine("@everyone hi @ x mail@example.org"),
            "@\u2060everyone hi @ x mail@\u2060example.org");
  EXPECT_EQ(ChatLine("\xff" "ok"), "\xEF\xBF\xBD" "ok");
}

TEST(ChatText, CutCountsInThePlatformsUnit) {
  EXPECT_EQ(CutText("abcdef", 4, TextUnit::kCodePoints), "abc…");
  EXPECT_EQ(CutText("abcdef", 6, TextUnit::kCodePoints), "abcdef");
  EXPECT_EQ(CutText("요약요약", 7, TextUnit::kBytes), "요…");
  EXPECT_EQ(TextLength("😀a", TextUnit::kUtf16), 3u);
  EXPECT_EQ(TextLength("😀a", TextUnit::kCodePoints), 2u);
  EXPECT_EQ(CutText("😀😀😀", 4, TextUnit::kUtf16), "😀…");
}

TEST(ChatText, EscapersAndLinks) {
  EXPECT_EQ(EscapeSlack("<!here> & *b*"), "&lt;!here&gt; &amp; *b*");
  EXPECT_EQ(EscapeHtml("<a href=\"x\">'&"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;");
  EXPECT_EQ(EscapeHtml("'", false), "'");
  EXPECT_EQ(EscapeMarkdown("[x](y) *b* <@1>"), "\\[x\\]\\(y\\) \\*b\\* \\<@1\\>");
  EXPECT_EQ(EscapeMarkdown("<!channel> & _i_", true), "&lt;\\!channel&gt; &amp; \\_i\\_");
  EXPECT_EQ(SafeUrl("javascript:alert(1)"), "");
  EXPECT_EQ(SafeUrl("https://x.org/a b|c>(d)\"e"), "https://x.org/a%20b%7Cc%3E%28d%29%22e");
  // A Matrix room id as one path segment: only unreserved characters stay.
  EXPECT_EQ(PercentEncoded("!room:ex.org/ü~", "-._~"), "%21room%3Aex.org%2F%C3%BC~");
  EXPECT_TRUE(LooksLikeImage("https://x.org/a.PNG?x=1"));
  EXPECT_FALSE(LooksLikeImage("https://x.org/a.mp4"));
  EXPECT_EQ(ShownTarget("https://user:pw@hooks.slack.com/services/T/B/S?x=1"),
            "https://hooks.slack.com/…");
}

// Issue 9 point 5: a template_file writes every kind's paper text, with the kind's escaping
// and mentions defused, and the hostile day still fits every platform.
TEST(Issue9, TemplateFileWritesEveryKindsPaperTextAndStaysSafe) {
  const Notification hostile = test::MakeHostile();
  for (const char* kind : kChatKinds) {
    SCOPED_TRACE(kind);
    NotifierConfig config = ChatConfig(kind, 300);
    config.template_file = "/etc/digestd/paper.mustache";
    config.template_text =
        "PAPER {{title}}\n{{#url}}{{url}}{{/url}} {{votes}} {{change}} {{#author_list}}{{.}}; "
        "{{/author_list}}{{watches}} {{summary}} {{source}} {{date}} {{notifier}}";
    const std::vector<Payload> instant = test::RenderWith(config, test::MakeInstant());
    ASSERT_EQ(instant.size(), 1u);
    EXPECT_NE(instant[0].body.find("PAPER Paper 1"), std::string::npos) << instant[0].body;
    EXPECT_NE(instant[0].body.find("https://arxiv.org/abs/2401.15001 41 "), std::string::npos)
        << instant[0].body;
    // Markdown kinds escape the '-' of source and date: look for what no escaping changes.
    for (const char* value : {"daily", "2024", "01", "29 chat"}) {
      EXPECT_NE(instant[0].body.find(value), std::string::npos) << instant[0].body;
    }
    if (std::string_view(kind) == "matrix") {
      EXPECT_NE(JsonMember(instant[0].body, "body").find("PAPER Paper 1"), std::string::npos);
    }
    const ChannelLimits limits = LimitsFor(kind);
    const std::vector<Payload> payloads = test::RenderWith(config, hostile);
    ASSERT_FALSE(payloads.empty());
    for (const Payload& p : payloads) {
      ExpectDefused(kind, p.body);
      EXPECT_LE(p.body.size(), limits.max_body_bytes);
    }
  }
}

}  // namespace
}  // namespace digestd

namespace digestd {
namespace {

// Issue 10 point 2: a highlights note (on_empty = "note") says there are no papers, in chat
// and in email, rather than "Top 0 papers".
TEST(Issue10, HighlightsNoteSaysNoPapersToday) {
  Notification n;
  n.kind = "highlights";
  n.event = "no_papers";
  n.watches = {"morning"};
  n.message = "No papers today (2024-01-29)";
  const ChatMessage m = BuildChatMessage(n, 10, 0);
  EXPECT_EQ(m.heading.rfind("No papers today", 0), 0u) << m.heading;
  EXPECT_NE(m.alert.find("2024-01-29"), std::string::npos) << m.alert;
  const EmailContent c = RenderEmailContent(n, {});
  EXPECT_EQ(c.subject.rfind("No papers today", 0), 0u) << c.subject;
}

}  // namespace
}  // namespace digestd
