#include "notifiers/local_channels.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "notifiers/chat_text.h"
#include "notifiers/registry.h"
#include "tests/notifiers/notifier_testing.h"

namespace digestd {
namespace {

using test::ContextFor;
using test::ExpectGolden;
using test::MakeNotifierConfig;

Notification Make(int papers) {
  Notification n;
  n.id = NotificationId("k");
  n.notifier = "screen";
  n.event = "new";
  n.watches = {"sparsity"};
  for (int i = 0; i < papers; ++i) {
    Paper p;
    p.key = "arxiv:2401.0000" + std::to_string(i);
    p.title = "Title \x1b[31mred\x1b[0m " + std::to_string(i);
    p.url = "https://arxiv.org/abs/2401.0000" + std::to_string(i);
    p.votes = 40;
    p.authors = {"A", "B", "C", "D", "E"};
    p.summary = {"첫 요약"};
    n.papers.push_back({.paper = p, .source = "hf-ko", .date = "2024-01-29"});
  }
  return n;
}

std::size_t Count(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

TEST(RenderConsole, ShowsWhatAPersonNeeds) {
  const std::string text = RenderConsole(Make(1), 50);
  EXPECT_NE(text.find("[new] watch \"sparsity\""), std::string::npos) << text;
  EXPECT_NE(text.find("https://arxiv.org/abs/2401.00000"), std::string::npos);
  EXPECT_NE(text.find("(40 votes)"), std::string::npos);
  EXPECT_NE(text.find("A, B, C, D, et al."), std::string::npos);
  EXPECT_NE(text.find("첫 요약"), std::string::npos);
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << "escape sequences must not reach a terminal";
}

// Issue 11, point 4: a person reads the summary, not its markdown, and not a whole abstract.
TEST(Issue11, ConsoleSummaryIsReadable) {
  Notification n = Make(1);
  Paper& p = n.papers[0].paper.Edit();
  p.votes = 1;
  p.summary = {"***What's New***: **Sparse** `rows`\x07\n  and columns."};
  std::string text = RenderConsole(n, 50);
  EXPECT_NE(text.find("(1 vote)"), std::string::npos) << text;
  EXPECT_NE(text.find("- Sparse rows and columns.\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("What's New"), std::string::npos) << text;
  EXPECT_EQ(text.find('*'), std::string::npos) << text;
  EXPECT_EQ(text.find('\x07'), std::string::npos) << text;

  // An abstract of many sentences: the whole ones that fit, then " …".
  std::string abstract;
  for (int i = 0; i < 12; ++i) {
    abstract += "Sentence number " + std::to_string(i) + " says a little. ";
  }
  p.summary = {abstract};
  text = RenderConsole(n, 50);
  const std::size_t at = text.find("- Sentence number 0");
  ASSERT_NE(at, std::string::npos) << text;
  const std::string line = text.substr(at + 2, text.find('\n', at) - at - 2);
  EXPECT_LE(TextLength(line, TextUnit::kCodePoints), 242u) << line;
  EXPECT_TRUE(line.ends_with("says a little. \u2026")) << line;
  EXPECT_EQ(line.find("Sentence number 11"), std::string::npos) << line;

  // One sentence too long to fit is cut with "…".
  p.summary = {std::string(600, 'x')};
  text = RenderConsole(n, 50);
  EXPECT_NE(text.find(std::string(239, 'x') + "\u2026\n"), std::string::npos) << text;
}

TEST(RenderConsole, CapsPapersWithAndNMore) {
  const std::string text = RenderConsole(Make(5), 2);
  EXPECT_NE(text.find("  and 3 more\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("2401.00002"), std::string::npos);
}

TEST(RenderConsole, AndNMoreLinksTheDigest) {
  Notification n = Make(5);
  n.digest_url = "https://huggingface.co/papers?date=2024-01-29";
  const std::string text = RenderConsole(n, 4);
  EXPECT_NE(text.find("  and 1 more: https://huggingface.co/papers?date=2024-01-29\n"),
            std::string::npos)
      << text;
  // Nothing left over: no "more" line, even with a digest to link.
  EXPECT_EQ(RenderConsole(n, 5).find("more"), std::string::npos);
}

TEST(RenderConsole, DigestGroupedListsEachPaperOnceUnderItsWatchesWithItsEvent) {
  const Notification n = test::MakeDigestGrouped();
  const std::string text = RenderConsole(n, 50);
  for (const SourcedPaper& p : n.papers) {
    EXPECT_EQ(Count(text, p.paper->url + " "), 1u) << p.paper->url << "\n" << text;
  }
  EXPECT_EQ(Count(text, "  watch \"sparse attention\":\n"), 1u) << text;
  EXPECT_EQ(Count(text, "  watch \"agents\":\n"), 1u) << text;
  EXPECT_EQ(Count(text, "  watch \"agents\", \"sparse attention\":\n"), 1u) << text;
  EXPECT_EQ(Count(text, "    [updated] "), 1u) << text;
  EXPECT_EQ(Count(text, "    [new] "), 3u) << text;
  // Papers 2 and 5 share a watch set: one group, in order of first appearance.
  const auto group = text.find("  watch \"sparse attention\":\n");
  const auto second_group = text.find("  watch \"agents\":\n");
  EXPECT_LT(group, text.find("Paper 2:"));
  EXPECT_LT(text.find("Paper 5:"), second_group) << text;
}

TEST(RenderConsole, Goldens) {
  ExpectGolden("console_instant.txt", RenderConsole(test::MakeInstant(), 50));
  ExpectGolden("console_digest.txt", RenderConsole(test::MakeDigestGrouped(), 3));
  ExpectGolden("console_alert.txt", RenderConsole(test::MakeAlert(), 50));
}

TEST(RenderJsonLines, OneNewlineTerminatedLinePerPaper) {
  const std::string text = RenderJsonLines(Make(3));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
  EXPECT_EQ(text.back(), '\n');
}

TEST(RenderJsonLines, Goldens) {
  ExpectGolden("file_instant.jsonl", RenderJsonLines(test::MakeInstant()));
  ExpectGolden("file_digest.jsonl", RenderJsonLines(test::MakeDigestGrouped()));
  ExpectGolden("file_alert.jsonl", RenderJsonLines(test::MakeAlert()));
}

TEST(ConsoleChannel, OneConsolePayloadHonouringMaxPapers) {
  NotifierConfig config = MakeNotifierConfig("screen", ConsoleSettings{});
  config.max_papers = 2;
  auto channel = MakeChannel(config);
  ASSERT_TRUE(channel) << channel.error().message;
  const Notification n = Make(5);
  auto payloads = (*channel)->Render(n, ContextFor(n));
  ASSERT_TRUE(payloads);
  ASSERT_EQ(payloads->size(), 1u);
  const Payload& p = payloads->front();
  EXPECT_EQ(p.part_id, n.id);
  EXPECT_EQ(p.transfer, Transfer::kConsole);
  EXPECT_EQ(p.body, RenderConsole(n, 2));
}

TEST(FileChannel, AppendsJsonLinesToThePath) {
  auto channel = MakeChannel(MakeNotifierConfig("log", FileSettings{.path = "/var/log/p.jsonl"}));
  ASSERT_TRUE(channel) << channel.error().message;
  const Notification n = test::MakeDigestGrouped();
  auto payloads = (*channel)->Render(n, ContextFor(n));
  ASSERT_TRUE(payloads);
  ASSERT_EQ(payloads->size(), 1u);
  const Payload& p = payloads->front();
  EXPECT_EQ(p.part_id, n.id);
  EXPECT_EQ(p.transfer, Transfer::kAppend);
  EXPECT_EQ(p.url, "/var/log/p.jsonl");
  EXPECT_EQ(p.body, RenderJsonLines(n));
}

TEST(FileChannel, NeedsAnAbsolutePath) {
  for (const char* path : {"", "relative.jsonl"}) {
    auto channel = MakeChannel(MakeNotifierConfig("log", FileSettings{.path = path}));
    ASSERT_FALSE(channel) << path;
    EXPECT_NE(channel.error().message.find("notifier 'log'"), std::string::npos);
  }
}

TEST(LocalChannels, FailureRetriesAnythingElseIsDelivered) {
  for (KindSettings settings :
       {KindSettings{ConsoleSettings{}}, KindSettings{FileSettings{.path = "/tmp/x.jsonl"}}}) {
    auto channel = MakeChannel(MakeNotifierConfig("local", settings));
    ASSERT_TRUE(channel);
    const Outcome failed = (*channel)->Classify({}, {.failure = "/tmp/x.jsonl: disk full"});
    EXPECT_EQ(failed.kind, Outcome::Kind::kRetry);
    EXPECT_EQ(failed.reason, "/tmp/x.jsonl: disk full");
    EXPECT_EQ((*channel)->Classify({}, {}).kind, Outcome::Kind::kDelivered);
  }
}

}  // namespace
}  // namespace digestd

namespace digestd {
namespace {

// Issue 13 (a start): upstream text reaches a terminal without C0, C1 or bidi controls.
TEST(Issue13, ConsoleShowsNoControlCharactersFromUpstream) {
  Notification n;
  n.notifier = "screen";
  n.event = "new";
  n.watches = {"w"};
  n.id = "id";
  Paper p;
  p.key = "arxiv:2401.00001";
  p.title = "A\x1b]0;owned\x07 B \xc2\x9b" "31m C \xe2\x80\xae" "D";
  p.url = "https://arxiv.org/abs/2401.00001";
  n.papers.push_back({.paper = p, .source = "hf"});
  const std::string text = RenderConsole(n, 10);
  for (const std::string_view bad : {"\x1b", "\x07", "\xc2\x9b", "\xe2\x80\xae"}) {
    EXPECT_EQ(text.find(bad), std::string::npos) << text;
  }
  EXPECT_NE(text.find("31m C"), std::string::npos) << "the rest of the text stays";
}

}  // namespace
}  // namespace digestd
