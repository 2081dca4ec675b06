// Message templates (issue 9 point 5): compile errors with file:line:col, unescaped tags
// refused, and every value escaped for the platform it goes to.
#include "notifiers/template.h"

#include <gtest/gtest.h>

#include "notifiers/chat_text.h"
#include "notifiers/registry.h"
#include "tests/notifiers/notifier_testing.h"

namespace digestd {
namespace {

MessageTemplate Compiled(const std::string& text) {
  auto t = MessageTemplate::Compile(text, "/etc/digestd/paper.mustache");
  EXPECT_TRUE(t.has_value()) << (t ? "" : t.error().message);
  return *t;
}

TEST(Issue9, TemplateRendersEveryValueThroughTheEscaper) {
  const MessageTemplate t = Compiled("<b>{{title}}</b>{{#url}} {{url}}{{/url}}{{^votes}}!{{/votes}}");
  const TemplateData data{.values = {{"title", "<script>&"}, {"url", ""}}};
  EXPECT_EQ(t.Render(data, [](std::string_view v) { return EscapeHtml(v); }),
            "<b>&lt;script&gt;&amp;</b>!");
}

TEST(Issue9, TemplateFilesLastLineBreakIsNotOutput) {
  const TemplateData data{.values = {{"title", "T"}}};
  EXPECT_EQ(Compiled("{{title}}\n").Render(data, &NoEscape), "T");
  EXPECT_EQ(Compiled("{{title}}\r\n").Render(data, &NoEscape), "T");
  EXPECT_EQ(Compiled("{{title}}\n\n").Render(data, &NoEscape), "T\n");
}

TEST(Issue9, TemplateListsIterate) {
  const MessageTemplate t = Compiled("{{#author_list}}[{{.}}]{{/author_list}}");
  const TemplateData data{.lists = {{"author_list", {"a<", "b"}}}};
  EXPECT_EQ(t.Render(data, &EscapeSlack), "[a&lt;][b]");
}

TEST(Issue9, TemplateRefusesUnescapedTagsWithTheirPosition) {
  struct Case {
    std::string text;
    std::string where;
  };
  for (const Case& c : {Case{"ok\n  {{{title}}}", "paper.mustache:2:3: "},
                        Case{"{{& title}}", "paper.mustache:1:1: "},
                        Case{"a\nb {{  &title}}", "paper.mustache:2:3: "},
                        Case{"{{\n\t& title}}", "paper.mustache:1:1: "},
                        Case{"{{> other}}", "paper.mustache:1:1: "},
                        Case{"{{=<% %>=}}", "paper.mustache:1:1: "}}) {
    SCOPED_TRACE(c.text);
    auto t = MessageTemplate::Compile(c.text, "/etc/digestd/paper.mustache");
    ASSERT_FALSE(t.has_value());
    EXPECT_NE(t.error().message.find(c.where), std::string::npos) << t.error().message;
  }
  auto triple = MessageTemplate::Compile("{{{title}}}", "t.mustache");
  ASSERT_FALSE(triple.has_value());
  EXPECT_NE(triple.error().message.find("unescaped"), std::string::npos);
}

// Whatever spelling a tag takes, a template either is refused or escapes the value.
TEST(Issue9, NoSpellingOfATagRendersAValueRaw) {
  const TemplateData data{.values = {{"t", "<b>"}}};
  int accepted = 0;
  for (const char* text : {"{{t}}", "{{ t }}", "{{{t}}}", "{{{ t }}}", "{{&t}}", "{{ &t}}",
                           "{{\n&t}}", "{{\r\n& t}}", "{{\v&t}}", "{{#t}}{{.}}{{/t}}",
                           "{{#t}}{{{.}}}{{/t}}", "{{#t}}{{&.}}{{/t}}", "{{=| |=}}|&t|",
                           "{{> t}}", "{{! {{{t}}} }}{{t}}"}) {
    SCOPED_TRACE(text);
    auto t = MessageTemplate::Compile(text, "t.mustache");
    if (!t) continue;
    ++accepted;
    EXPECT_EQ(t->Render(data, [](std::string_view v) { return EscapeHtml(v); }), "&lt;b&gt;");
  }
  EXPECT_EQ(accepted, 3);  // the escaped forms; so the loop checked something
}

TEST(Issue9, TemplateSyntaxErrorNamesFileAndLine) {
  auto unclosed = MessageTemplate::Compile("line one\n{{#url}}\nno end", "/x/paper.mustache");
  ASSERT_FALSE(unclosed.has_value());
  EXPECT_EQ(unclosed.error().message.rfind("/x/paper.mustache:2:1: ", 0), 0u)
      << unclosed.error().message;
  auto open_tag = MessageTemplate::Compile("a\nb\nc {{title", "/x/paper.mustache");
  ASSERT_FALSE(open_tag.has_value());
  EXPECT_EQ(open_tag.error().message.rfind("/x/paper.mustache:3:3: ", 0), 0u)
      << open_tag.error().message;
}

// A chat target with a template file: its text is the template's, with hostile values
// escaped and mentions defused as in the built-in text.
NotifierConfig Templated(std::string kind, KindSettings settings, std::string text) {
  NotifierConfig config = test::MakeNotifierConfig("chat", std::move(settings));
  config.kind = std::move(kind);
  config.template_file = "/etc/digestd/paper.mustache";
  config.template_text = std::move(text);
  return config;
}

Notification HostileTitle() {
  Notification n = test::MakeInstant();
  n.papers[0].paper.Edit().title = "<script>alert(1)</script> @everyone <!channel> *bold*";
  return n;
}

TEST(Issue9, TemplatedSlackAndTelegramStayEscaped) {
  const std::string text = "PAPER {{title}} ({{votes}} votes) by {{authors}} for {{notifier}}";
  const auto slack = test::RenderWith(
      Templated("slack", SlackSettings{.url = "https://hooks.slack.test/services/X"}, text),
      HostileTitle());
  const auto telegram = test::RenderWith(
      Templated("telegram",
                TelegramSettings{.token = "1:T", .chat_id = "5", .api_url = "https://tg.test"},
                text),
      HostileTitle());
  ASSERT_EQ(slack.size(), 1u);
  ASSERT_EQ(telegram.size(), 1u);
  for (const std::string& body : {slack[0].body, telegram[0].body}) {
    EXPECT_NE(body.find("PAPER "), std::string::npos) << body;
    EXPECT_NE(body.find("(41 votes) by James Hensman"), std::string::npos) << body;
    EXPECT_NE(body.find("&lt;script&gt;"), std::string::npos) << body;
    EXPECT_EQ(body.find("<script>"), std::string::npos) << body;
    EXPECT_EQ(body.find("@everyone"), std::string::npos) << body;
    EXPECT_EQ(body.find("<!channel>"), std::string::npos) << body;
  }
}

TEST(Issue9, ChannelWithABadTemplateIsNotMade) {
  auto channel = MakeChannel(
      Templated("slack", SlackSettings{.url = "https://hooks.slack.test/services/X"},
                "fine\n{{{title}}}"));
  ASSERT_FALSE(channel.has_value());
  EXPECT_NE(channel.error().message.find("/etc/digestd/paper.mustache:2:1: "), std::string::npos)
      << channel.error().message;
}

}  // namespace
}  // namespace digestd
