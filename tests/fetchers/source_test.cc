// Issue 11, point 6: one Source per format plans the fetches and judges a body, so the
// cycle keeps no format special case.
#include "fetchers/source.h"

#include <fcntl.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace digestd {
namespace {

Date D(const char* iso) { return *ParseIsoDate(iso); }

TEST(Issue11, EveryFormatHasItsSource) {
  for (const DigestFormat& f : DigestFormats()) {
    const Source* source = SourceFor(f.name);
    ASSERT_NE(source, nullptr) << f.name;
    EXPECT_EQ(&source->format(), &f);
  }
  EXPECT_EQ(SourceFor("markdwon"), nullptr);
}

TEST(Issue11, PlanFetchesOldestFirstAndNamesTheDaysPastBackfill) {
  const Source& md = *SourceFor("markdown");
  auto plan = md.PlanFetches({.url_template = "https://x.example/{date}.md",
                              .today = D("2024-01-29"),
                              .lookback_days = 1,
                              .backfill_days = 3,
                              .last_success = D("2024-01-20")});
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_TRUE(plan->dated);
  std::vector<std::string> urls;
  for (const SourceFetch& f : plan->fetches) urls.push_back(f.url);
  EXPECT_EQ(urls, (std::vector<std::string>{
                      "https://x.example/2024-01-26.md", "https://x.example/2024-01-27.md",
                      "https://x.example/2024-01-28.md", "https://x.example/2024-01-29.md"}));
  // 21 to 25 were missed and are older than backfill_days allows.
  ASSERT_EQ(plan->beyond_backfill.size(), 5u);
  EXPECT_EQ(plan->beyond_backfill.front(), D("2024-01-21"));
  EXPECT_EQ(plan->beyond_backfill.back(), D("2024-01-25"));

  // Within backfill_days nothing is past it.
  auto close = md.PlanFetches({.url_template = "https://x.example/{date}.md",
                               .today = D("2024-01-29"),
                               .lookback_days = 1,
                               .backfill_days = 7,
                               .last_success = D("2024-01-25")});
  ASSERT_TRUE(close);
  EXPECT_EQ(close->fetches.size(), 4u);
  EXPECT_TRUE(close->beyond_backfill.empty());
}

TEST(Issue11, PlanFetchesOfAnUndatedUrlIsOneFetch) {
  auto plan = SourceFor("feed")->PlanFetches({.url_template = "https://x.example/rss",
                                              .today = D("2024-01-29"),
                                              .lookback_days = 3,
                                              .backfill_days = 7,
                                              .last_success = D("2023-01-01")});
  ASSERT_TRUE(plan);
  EXPECT_FALSE(plan->dated);
  ASSERT_EQ(plan->fetches.size(), 1u);
  EXPECT_EQ(plan->fetches[0].url, "https://x.example/rss");
  EXPECT_TRUE(plan->beyond_backfill.empty());
  auto bad = SourceFor("feed")->PlanFetches(
      {.url_template = "https://x.example/{dat}", .today = D("2024-01-29")});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("{dat}"), std::string::npos) << bad.error().message;
}

TEST(Issue11, UnreadableIsJudgedByTheFormat) {
  const std::string html = "<html><body>502 Bad Gateway</body></html>\n";
  const Source& md = *SourceFor("markdown");
  // A markdown body without a date heading and without papers is no digest ...
  auto why = md.Unreadable(html, "text/html", md.Parse(html));
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(why->rfind("not a readable markdown digest (Content-Type text/html)", 0), 0u) << *why;
  // ... an empty day is one, and so is an empty body.
  const std::string empty_day = "## Daily Papers (2024-01-29)\n";
  EXPECT_FALSE(md.Unreadable(empty_day, "", md.Parse(empty_day)).has_value());
  EXPECT_FALSE(md.Unreadable("  \n", "", md.Parse("  \n")).has_value());
  // An hf-daily empty list is an empty day; the HTML page is not JSON.
  const Source& hf = *SourceFor("hf-daily");
  EXPECT_FALSE(hf.Unreadable("[]", "application/json", hf.Parse("[]")).has_value());
  auto hf_why = hf.Unreadable(html, "", hf.Parse(html));
  ASSERT_TRUE(hf_why.has_value());
  EXPECT_EQ(hf_why->rfind("not a readable hf-daily digest: ", 0), 0u) << *hf_why;
}

// Issue 12: a body kept in a spool file parses and is judged as the same bytes in memory:
// every format reads it a piece at a time.
TEST(Issue12, ASpooledBodyParsesAsTheSameBytesInMemory) {
  std::string feed = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>";
  for (int i = 0; i < 300; ++i) {
    feed += "<item><title>Item " + std::to_string(i) + "</title><link>https://h.example/" +
            std::to_string(i) + "</link><description>" + std::string(100, 'x') +
            "</description></item>\n";
  }
  feed += "</channel></rss>\n";
  std::string markdown = "## Daily Papers (2024-01-29)\n\n";
  for (int i = 0; i < 300; ++i) {
    markdown += "### [Paper " + std::to_string(i) + "](https://arxiv.org/abs/2401." +
                std::to_string(10000 + i) + ")\n\nVote: 3\n\n- " + std::string(100, 'y') +
                "\n\n";
  }
  std::string hf = "[";
  for (int i = 0; i < 300; ++i) {
    hf += std::string(i > 0 ? "," : "") + "{\"paper\":{\"id\":\"2401." +
          std::to_string(10000 + i) + "\",\"title\":\"Paper \\ud83d\\ude00 " +
          std::to_string(i) + "\",\"summary\":\"" + std::string(100, 'z') + "\"}}\n";
  }
  hf += "]";
  const std::string html = "<html><body>502 Bad Gateway</body></html>\n";
  struct Case {
    const char* kind;
    std::string body;
  };
  for (const Case& c : {Case{"feed", feed}, Case{"arxiv", feed}, Case{"markdown", markdown},
                        Case{"hf-daily", hf}, Case{"feed", html}, Case{"hf-daily", html},
                        Case{"feed", "  \n \n"}}) {
    const Source& source = *SourceFor(c.kind);
    Spool spooled("", 16);  // past 16 bytes, in a file
    ASSERT_TRUE(spooled.Append(c.body));
    ASSERT_EQ(spooled.in_file(), c.body.size() > 16);
    const ParseResult in_memory = source.Parse(c.body);
    const ParseResult from_file = source.Parse(spooled);
    EXPECT_EQ(from_file.digest.papers, in_memory.digest.papers) << c.kind;
    EXPECT_EQ(from_file.digest.date, in_memory.digest.date) << c.kind;
    EXPECT_EQ(source.Unreadable(spooled, "text/html", from_file),
              source.Unreadable(c.body, "text/html", in_memory))
        << c.kind;
  }
  EXPECT_EQ(SourceFor("feed")->Parse(Spool(feed)).digest.papers.size(), 300u);
  EXPECT_EQ(SourceFor("markdown")->Parse(markdown).digest.papers.size(), 300u);
  EXPECT_EQ(SourceFor("hf-daily")->Parse(hf).digest.papers.size(), 300u);
}

// A body whose file ends before its bytes do (cut short since it was fetched or opened) is
// not a digest: the parse says why it stopped (the cycle then applies none of it), where a
// whole one says nothing.
TEST(Issue12, ABodyCutShortWhileReadSaysSo) {
  std::string feed = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>";
  for (int i = 0; i < 100; ++i) {
    feed += "<item><title>Item " + std::to_string(i) + "</title><link>https://h.example/" +
            std::to_string(i) + "</link></item>\n";
  }
  const std::string path = ::testing::TempDir() + "/cut-short.xml";
  {
    std::ofstream out(path, std::ios::binary);
    out << feed;
  }
  const auto open_as = [&](std::uint64_t size) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    return Spool::OfFile(fd, size);
  };
  const ParseResult whole = SourceFor("feed")->Parse(open_as(feed.size()));
  EXPECT_EQ(whole.unread, "");
  EXPECT_EQ(whole.digest.papers.size(), 100u);
  const ParseResult cut = SourceFor("feed")->Parse(open_as(feed.size() + 4096));
  EXPECT_NE(cut.unread.find("shorter than when it was opened"), std::string::npos) << cut.unread;
  std::remove(path.c_str());
}

}  // namespace
}  // namespace digestd
