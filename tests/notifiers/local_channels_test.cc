#include "notifiers/local_channels.h"

#include <algorithm>

#include <gtest/gtest.h>

namespace digestd {
namespace {

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

TEST(RenderConsole, ShowsWhatAPersonNeeds) {
  const std::string text = RenderConsole(Make(1), 50);
  EXPECT_NE(text.find("[new] watch \"sparsity\""), std::string::npos) << text;
  EXPECT_NE(text.find("https://arxiv.org/abs/2401.00000"), std::string::npos);
  EXPECT_NE(text.find("(40 votes)"), std::string::npos);
  EXPECT_NE(text.find("A, B, C, D, et al."), std::string::npos);
  EXPECT_NE(text.find("첫 요약"), std::string::npos);
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << "escape sequences must not reach a terminal";
}

TEST(RenderConsole, CapsPapersWithAndNMore) {
  const std::string text = RenderConsole(Make(5), 2);
  EXPECT_NE(text.find("and 3 more"), std::string::npos) << text;
  EXPECT_EQ(text.find("2401.00002"), std::string::npos);
}

TEST(RenderJsonLines, OneNewlineTerminatedLinePerPaper) {
  const std::string text = RenderJsonLines(Make(3));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
  EXPECT_EQ(text.back(), '\n');
}

}  // namespace
}  // namespace digestd
