// Templates on every kind but file (issue 9 point 5): a template_file's heading, paper and
// footer sections; console, email, webhook and exec written by them (goldens); the hostile
// day through a template on each; and errors naming the file's line in any section.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "core/channel_limits.h"
#include "notifiers/chat_message.h"
#include "notifiers/email_render.h"
#include "notifiers/local_channels.h"
#include "notifiers/message_texts.h"
#include "notifiers/registry.h"
#include "notifiers/template.h"
#include "notifiers/webhook.h"
#include "tests/notifiers/chat_hostile.h"
#include "tests/notifiers/notifier_testing.h"

namespace digestd {
namespace {

constexpr char kPath[] = "/etc/digestd/t.mustache";

// The template of the goldens: every section, a literal tag the HTML part must escape.
constexpr char kSectioned[] =
    "{{! heading }}\n"
    "{{count}} for {{notifier}}: {{heading}}\n"
    "{{! paper }}\n"
    "* {{title}} [{{event}}]{{#votes}} ({{votes}} votes){{/votes}}\n"
    "  {{#url}}<{{url}}>{{/url}} <b>literal</b>\n"
    "{{! footer }}\n"
    "{{more}} more of {{count}} ({{#digest_url}}linked{{/digest_url}})\n";

// The template of the hostile day: every untrusted value in each section.
constexpr char kHostileTemplate[] =
    "{{! heading }}\n"
    "HEAD {{count}} {{watches}} {{source}} <i>lit</i> @everyone\n"
    "{{! paper }}\n"
    "PAPER {{title}} | {{authors}} | {{watches}} | {{summary}} | {{url}}\n"
    "{{! footer }}\n"
    "FOOT {{more}} {{digest_url}}\n";

NotifierConfig WithTemplate(NotifierConfig config, std::string text) {
  config.template_file = kPath;
  config.template_text = std::move(text);
  return config;
}

NotifierConfig Console(int max_papers) {
  NotifierConfig c = test::MakeNotifierConfig("term", ConsoleSettings{});
  c.max_papers = max_papers;
  return c;
}

NotifierConfig Webhook(int max_papers) {
  NotifierConfig c =
      test::MakeNotifierConfig("hook", WebhookSettings{.url = "https://hooks.example.com/x"});
  c.max_papers = max_papers;
  return c;
}

NotifierConfig Exec(int max_papers) {
  NotifierConfig c = test::MakeNotifierConfig("script", ExecSettings{.command = {"/bin/cat"}});
  c.max_papers = max_papers;
  return c;
}

NotifierConfig Email(int max_papers) {
  NotifierConfig c = test::MakeNotifierConfig(
      "mail", EmailSettings{.url = "smtps://mail.example.org",
                            .from = "bot@example.org",
                            .to = {"ana@example.org"}});
  c.max_papers = max_papers;
  return c;
}

MessageTexts Texts(const std::string& text, std::string_view built_in_paper) {
  NotifierConfig config = WithTemplate(Console(50), text);
  auto texts = LoadMessageTexts(config, built_in_paper);
  EXPECT_TRUE(texts) << texts.error().message;
  return std::move(*texts);
}

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// ---- sections ----

TEST(Issue9, TemplateFileSectionsAreSplitAndKeepTheirLines) {
  auto sections = ParseTemplateFile(kSectioned, kPath);
  ASSERT_TRUE(sections) << sections.error().message;
  ASSERT_TRUE(sections->heading && sections->paper && sections->footer);
  const TemplateData data{.values = {{"count", "3"}, {"more", "1"}, {"title", "T"}}};
  EXPECT_EQ(sections->heading->Render(data, &NoEscape), "3 for : ");
  EXPECT_EQ(sections->footer->Render(data, &NoEscape), "1 more of 3 ()");
  EXPECT_EQ(sections->paper->Render(data, &NoEscape), "* T []\n   <b>literal</b>");

  // A file without section lines is the paper section, as before.
  auto plain = ParseTemplateFile("{{title}}\n", kPath);
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->paper && !plain->heading && !plain->footer);
  // Only the sections given; spaces inside the section tag are optional.
  auto heading_only = ParseTemplateFile("\n{{!heading}}\nH\n", kPath);
  ASSERT_TRUE(heading_only) << heading_only.error().message;
  EXPECT_TRUE(!heading_only->paper && heading_only->heading && !heading_only->footer);
}

TEST(Issue9, TemplateFileSectionErrorsNameTheFilesLine) {
  struct Case {
    std::string text;
    std::string message;
  };
  for (const Case& c : {
           Case{"{{! heading }}\nok\n{{! paper }}\nfine\n  {{{title}}}\n", ":5:3: unescaped"},
           Case{"{{! footer }}\n{{& more}}\n", ":2:1: unescaped"},
           Case{"{{! paper }}\n{{title}}\n{{! heading }}\n{{#count}}\n", ":4:1: "},
           Case{"stray\n{{! paper }}\n{{title}}\n", ":1:1: text before the first section"},
           Case{"{{! paper }}\na\n{{! paper }}\nb\n", ":3:1: section \"paper\" given twice"},
       }) {
    SCOPED_TRACE(c.text);
    auto parsed = ParseTemplateFile(c.text, kPath);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().message.rfind(std::string(kPath) + c.message, 0), 0u)
        << parsed.error().message;
  }
}

TEST(Issue9, EveryKindButFileRefusesABadTemplateWithItsLine) {
  const std::string bad = "{{! heading }}\nok\n{{! paper }}\nfine\n  {{{title}}}\n";
  for (const NotifierConfig& config :
       {Console(5), Webhook(5), Exec(5), Email(5),
        test::MakeNotifierConfig("chat", SlackSettings{.url = "https://hooks.slack.test/X"})}) {
    SCOPED_TRACE(config.kind);
    auto channel = MakeChannel(WithTemplate(config, bad));
    ASSERT_FALSE(channel);
    EXPECT_NE(channel.error().message.find(std::string(kPath) + ":5:3: unescaped"),
              std::string::npos)
        << channel.error().message;
    const auto problems = ChannelProblems({WithTemplate(config, bad)});
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_TRUE(problems[0].in_template) << problems[0].message;
  }
}

// ---- goldens of the kinds without a platform markup ----

TEST(Issue9, TemplatedConsoleGolden) {
  const auto payloads =
      test::RenderWith(WithTemplate(Console(2), kSectioned), test::MakeDigestGrouped());
  ASSERT_EQ(payloads.size(), 1u);
  test::ExpectGolden("template_console.txt", payloads[0].body);
}

TEST(Issue9, TemplatedEmailGolden) {
  const MessageTexts texts = Texts(kSectioned, kEmailBuiltInPaper);
  const EmailContent c = RenderEmailContent(
      test::MakeDigestGrouped(),
      {.max_papers = 2, .texts = &texts, .html_paper_from_texts = true});
  test::ExpectGolden("template_email.txt", "Subject: " + c.subject + "\n\n" + c.text);
  test::ExpectGolden("template_email.html", c.html);
  // The template's own markup is text in the HTML part, every value escaped.
  EXPECT_NE(c.html.find("&lt;b&gt;literal&lt;/b&gt;"), std::string::npos);
  EXPECT_EQ(c.html.find("<b>literal"), std::string::npos);
  EXPECT_NE(c.html.find("&lt;https://arxiv.org/abs/2401.15003&gt;"), std::string::npos);
  // And the whole message goes out through the channel.
  const auto payloads =
      test::RenderWith(WithTemplate(Email(2), kSectioned), test::MakeDigestGrouped());
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_NE(payloads[0].body.find("Subject: "), std::string::npos);
}

TEST(Issue9, EmailWithOnlyAHeadingKeepsItsHtmlCards) {
  const MessageTexts texts = Texts("{{! heading }}\nMy {{count}}\n", kEmailBuiltInPaper);
  const Notification n = test::MakeDigestGrouped();
  const EmailContent templated = RenderEmailContent(n, {.max_papers = 2, .texts = &texts});
  const EmailContent built_in = RenderEmailContent(n, {.max_papers = 2});
  EXPECT_EQ(templated.subject, "My 4");
  EXPECT_NE(templated.html.find("<h1 style=\"font-size:20px;line-height:1.3;margin:0 0 4px\">My 4"),
            std::string::npos);
  // Past the heading, the built-in text part is the built-in paper template's.
  EXPECT_EQ(templated.text.substr(templated.text.find("== agents")),
            built_in.text.substr(built_in.text.find("== agents")));
}

TEST(Issue9, TemplatedWebhookAndExecGoldens) {
  const auto hook =
      test::RenderWith(WithTemplate(Webhook(2), kSectioned), test::MakeDigestGrouped());
  ASSERT_EQ(hook.size(), 1u);
  test::ExpectGolden("template_webhook.http", test::DescribePayload(hook[0]));
  const auto exec =
      test::RenderWith(WithTemplate(Exec(2), kSectioned), test::MakeDigestGrouped());
  ASSERT_EQ(exec.size(), 1u);
  test::ExpectGolden("template_exec.txt", test::DescribePayload(exec[0]));
  EXPECT_EQ(JsonMember(exec[0].body, "text"), JsonMember(hook[0].body, "text"));
  EXPECT_NE(JsonMember(exec[0].body, "text").find("2 more of 4"), std::string::npos)
      << exec[0].body;
  // Without a template_file there is no "text": the body is the one documented before.
  const auto plain = test::RenderWith(Webhook(2), test::MakeDigestGrouped());
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(plain[0].body.find("\"text\""), std::string::npos);
}

TEST(Issue9, TemplatedWebhookTextCarriesAnAlertsMessage) {
  const auto hook = test::RenderWith(WithTemplate(Webhook(50), "{{! heading }}\nALERT {{source}}\n"),
                                     test::MakeAlert());
  ASSERT_EQ(hook.size(), 1u);
  EXPECT_EQ(JsonMember(hook[0].body, "text"),
            "ALERT hf-daily\n\n3 fetches failed since 2024-01-28T06:00:00Z: HTTP status 503");
}

TEST(Issue9, WebhookTemplateWithoutAPaperSectionUsesTheBuiltInEntry) {
  const auto hook = test::RenderWith(WithTemplate(Webhook(50), "{{! heading }}\nH {{count}}\n"),
                                     test::MakeInstant());
  ASSERT_EQ(hook.size(), 1u);
  EXPECT_EQ(JsonMember(hook[0].body, "text").rfind("H 1\n\nPaper 1: ", 0), 0u) << hook[0].body;
}

// ---- the hostile day through a template ----

void ExpectSafeText(const std::string& text, bool plain_html) {
  for (const char* raw : {"\xE2\x80\xAE", "\xE2\x81\xA6", "\x1b", "\xC2\x9B", "\x07"}) {
    EXPECT_EQ(text.find(raw), std::string::npos) << "carries a control";
  }
  if (plain_html) {
    EXPECT_EQ(text.find("<script>"), std::string::npos);
  }
}

TEST(Issue9, HostileDayThroughATemplateOnConsole) {
  const auto payloads =
      test::RenderWith(WithTemplate(Console(100), kHostileTemplate), test::MakeHostile());
  ASSERT_EQ(payloads.size(), 1u);
  const std::string& body = payloads[0].body;
  ExpectSafeText(body, false);
  EXPECT_EQ(body.rfind("HEAD 300 sparse attention, @everyone", 0), 0u) << body.substr(0, 200);
  EXPECT_EQ(Count(body, "PAPER "), 100u);
  EXPECT_NE(body.find("\n  FOOT 200 https://huggingface.co/papers?date=2024-01-29: "
                      "https://huggingface.co/papers?date=2024-01-29\n"),
            std::string::npos);
}

TEST(Issue9, HostileDayThroughATemplateOnEmail) {
  const MessageTexts texts = Texts(kHostileTemplate, kEmailBuiltInPaper);
  const EmailContent c = RenderEmailContent(
      test::MakeHostile(), {.max_papers = 300, .texts = &texts, .html_paper_from_texts = true});
  ExpectSafeText(c.html, true);
  ExpectSafeText(c.text, false);
  ExpectSafeText(c.subject, false);
  EXPECT_EQ(c.html.find("<i>lit</i>"), std::string::npos);
  EXPECT_LE(c.html.size(), kEmailMaxHtmlBytes);
  EXPECT_EQ(c.subject.rfind("HEAD 300 ", 0), 0u) << c.subject;
  EXPECT_EQ(c.subject.find('\n'), std::string::npos);
  EXPECT_GT(c.cards, 0);
  EXPECT_EQ(Count(c.html, "PAPER "), std::size_t(c.cards));
  // What does not fit as a card is counted by the footer template.
  EXPECT_NE(c.html.find("FOOT "), std::string::npos);
  // Through the channel too: a whole message for every recipient.
  const auto payloads =
      test::RenderWith(WithTemplate(Email(300), kHostileTemplate), test::MakeHostile());
  ASSERT_EQ(payloads.size(), 1u);
}

TEST(Issue9, HostileDayThroughATemplateOnWebhookAndExec) {
  const Notification hostile = test::MakeHostile();
  const auto parts = test::RenderWith(WithTemplate(Webhook(100), kHostileTemplate), hostile);
  ASSERT_GT(parts.size(), 1u);
  std::size_t entries = 0;
  std::set<std::string> keys;
  const std::regex key(R"re("key":"(arxiv:2401\.\d+)")re");
  for (std::size_t k = 0; k < parts.size(); ++k) {
    SCOPED_TRACE(k);
    const std::string& body = parts[k].body;
    EXPECT_LE(body.size(), LimitsFor("webhook").max_body_bytes);
    const std::string text = JsonMember(body, "text");
    ExpectSafeText(text, false);
    for (const char* mention : {"@everyone", "@here", "<!channel>", "<users/all>"}) {
      EXPECT_EQ(text.find(mention), std::string::npos) << mention;
    }
    EXPECT_EQ(text.rfind("HEAD 300 ", 0), 0u) << text.substr(0, 100);
    EXPECT_NE(text.find(" (" + std::to_string(k + 1) + "/" + std::to_string(parts.size()) + ")"),
              std::string::npos);
    const std::size_t in_text = Count(text, "PAPER ");
    std::size_t in_papers = 0;
    for (auto it = std::sregex_iterator(body.begin(), body.end(), key);
         it != std::sregex_iterator(); ++it, ++in_papers) {
      EXPECT_TRUE(keys.insert((*it)[1]).second) << (*it)[1];
    }
    EXPECT_EQ(in_text, in_papers);  // each part's text holds its own papers
    entries += in_text;
    EXPECT_EQ(text.find("FOOT 200") != std::string::npos, k + 1 == parts.size());
  }
  EXPECT_EQ(entries, 100u);
  EXPECT_EQ(keys.size(), 100u);

  const auto exec = test::RenderWith(WithTemplate(Exec(300), kHostileTemplate), hostile);
  ASSERT_EQ(exec.size(), 1u);
  const std::string text = JsonMember(exec[0].body, "text");
  ExpectSafeText(text, false);
  EXPECT_EQ(Count(text, "PAPER "), 300u);
}

// ---- heading and footer on the chat kinds ----

NotifierConfig Chat(std::string_view kind) {
  KindSettings settings;
  if (kind == "slack") settings = SlackSettings{.url = "https://hooks.slack.test/services/X"};
  if (kind == "discord") settings = DiscordSettings{.url = "https://discord.test/api/webhooks/1/X"};
  if (kind == "teams") settings = TeamsSettings{.url = "https://teams.test/workflows/X"};
  if (kind == "telegram") {
    settings = TelegramSettings{.token = "1:T", .chat_id = "5", .api_url = "https://tg.test"};
  }
  if (kind == "matrix") {
    settings = MatrixSettings{
        .homeserver = "https://matrix.test", .room_id = "!r:matrix.test", .access_token = "T"};
  }
  if (kind == "mattermost") settings = MattermostSettings{.url = "https://mm.test/hooks/X"};
  if (kind == "googlechat") {
    settings = GoogleChatSettings{.url = "https://chat.test/v1/spaces/S/messages?key=K"};
  }
  if (kind == "ntfy") settings = NtfySettings{.url = "https://ntfy.test/topic"};
  NotifierConfig config = test::MakeNotifierConfig("chat", settings);
  config.max_papers = 5;
  return config;
}

TEST(Issue9, ChatHeadingAndFooterComeFromTheTemplateEscaped) {
  const Notification hostile = test::MakeHostile();
  for (const char* kind : {"slack", "discord", "teams", "telegram", "matrix", "mattermost",
                           "googlechat", "ntfy"}) {
    SCOPED_TRACE(kind);
    const auto payloads = test::RenderWith(WithTemplate(Chat(kind), kHostileTemplate), hostile);
    ASSERT_FALSE(payloads.empty());
    const std::string_view k(kind);
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      const std::string& body = payloads[i].body;
      EXPECT_LE(body.size(), LimitsFor(kind).max_body_bytes);
      for (const char* raw : {"\xE2\x80\xAE", "\x1b", "@everyone", "@here", "<!channel>",
                              "<users/all>"}) {
        EXPECT_EQ(body.find(raw), std::string::npos) << raw;
      }
      if (k != "ntfy" && k != "matrix") {
        EXPECT_EQ(body.find("<script>"), std::string::npos);
      }
      // Slack's header and Google Chat's card header are plain text; markup is escaped
      // everywhere else (Slack's `text` fallback is mrkdwn).
      if (k == "slack") {
        EXPECT_EQ(JsonMember(body, "text").find("<i>lit</i>"), std::string::npos);
      } else if (k != "ntfy" && k != "matrix" && k != "googlechat") {
        EXPECT_EQ(body.find("<i>lit</i>"), std::string::npos);
      }
      if (k == "matrix") {
        EXPECT_EQ(JsonMember(body, "formatted_body").find("<i>lit</i>"), std::string::npos);
      }
      EXPECT_NE(body.find("HEAD 300"), std::string::npos) << body.substr(0, 400);
      EXPECT_EQ(body.find("FOOT 295") != std::string::npos, i + 1 == payloads.size())
          << body.substr(body.size() > 600 ? body.size() - 600 : 0);
    }
  }
}

TEST(Issue9, ChatBuiltInHeadingAndFooterAreTemplatesToo) {
  const Notification n = test::MakeDigestGrouped();
  const MessageTexts texts = Texts("{{! heading }}\n{{heading}}\n{{! footer }}\n{{more_line}}\n",
                                   "{{title}}");
  const ChatMessage plain = BuildChatMessage(n, 2, 0);
  const ChatMessage templated = BuildChatMessage(n, 2, 0, &texts.heading, &texts.footer);
  EXPECT_EQ(templated.heading, plain.heading);
  EXPECT_EQ(MoreLine(templated), MoreLine(plain));
  EXPECT_EQ(MoreLine(plain), "and 2 more papers");
  // A template that renders nothing keeps the built-in line.
  const MessageTexts empty = Texts("{{! heading }}\n{{#nothing}}x{{/nothing}}\n", "{{title}}");
  EXPECT_EQ(BuildChatMessage(n, 2, 0, &empty.heading, &empty.footer).heading, plain.heading);
}

}  // namespace
}  // namespace digestd
