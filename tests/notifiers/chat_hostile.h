// The hostile notification of issue 9: every text a digest could use against a chat target
// (mentions of every platform, <script>, markdown and HTML metacharacters, RTL overrides,
// control characters), a 20,000-character summary, a 2,000-character title, 200 authors,
// and 300 matching papers. Header-only test fixture.
#pragma once

#include <string>

#include "core/notification.h"

namespace digestd::test {

inline constexpr const char* kHostileText =
    "@everyone @here <!channel> <!here> <!everyone> <@U024BE7LH> <users/all> @room "
    "<script>alert(1)</script> **bold** _it_ ~~s~~ `code` [click](https://evil.example/) "
    "![img](https://evil.example/p.png) <a href=\"https://evil.example\">x</a> &amp; & < > \" ' "
    "| # - + > quote \xE2\x80\xAE" "evil RTL\xE2\x80\xAC \xE2\x81\xA6isolate\xE2\x81\xA9 "
    "\x1b[31mred\x1b[0m \x07" "bell \xC2\x9B" "csi";

inline Notification MakeHostile(int papers = 300) {
  Notification n;
  n.dedupe_key = "hostile";
  n.id = NotificationId(n.dedupe_key);
  n.notifier = "chat";
  n.kind = "instant";
  n.event = "mixed";
  n.watches = {"sparse attention", "@everyone <!channel>"};
  n.digest_url = "https://huggingface.co/papers?date=2024-01-29";
  std::string summary;
  while (summary.size() < 20'000) summary += std::string(kHostileText) + " 요약 ";
  std::string title;
  while (title.size() < 2'000) title += std::string(kHostileText) + " ";
  for (int i = 0; i < papers; ++i) {
    Paper p;
    p.key = "arxiv:2401." + std::to_string(10000 + i);
    p.title = i % 2 == 0 ? title : std::string(kHostileText);
    p.url = "https://arxiv.org/abs/2401." + std::to_string(10000 + i) + "?q=<x>|(y)\"";
    for (int a = 0; a < 200; ++a) p.authors.push_back("Author " + std::to_string(a) + " @here");
    p.summary = {summary, "**What's New**: a second bullet <b>bold</b>"};
    p.media_url = "https://cdn.example.org/thumb" + std::to_string(i) + ".png";
    p.votes = i;
    p.version = "v2";
    const char* events[] = {"new", "updated", "threshold", "new_version"};
    SourcedPaper sp{.paper = p, .source = "hf-daily", .date = "2024-01-29"};
    sp.event = events[i % 4];
    sp.watches = {"sparse attention", std::string(kHostileText)};
    sp.SetPrior({.votes = 3, .version = "v1"});
    n.papers.push_back(std::move(sp));
  }
  return n;
}

}  // namespace digestd::test
