#include "fetchers/markdown_parser.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include "tests/support/parser_testing.h"

namespace digestd {
namespace {

using Strings = std::vector<std::string>;

const char* const kFixtures[] = {"broken_entries.md", "empty_day.md",      "first_day.md",
                                 "media_variants.md", "python_authors.md", "readme_wrapper.md",
                                 "relative_links.md", "tricky_titles.md"};

std::string ReadFixture(const std::string& name) { return test::ReadTestData("markdown/" + name); }

ParseResult ParseFixture(const std::string& name) { return ParseMarkdownDigest(ReadFixture(name)); }

Strings Keys(const Digest& digest) {
  Strings keys;
  for (const Paper& paper : digest.papers) keys.push_back(paper.key);
  return keys;
}

TEST(MarkdownParser, FirstDayWithoutBlankLinesOrMetadata) {
  const ParseResult result = ParseFixture("first_day.md");
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_EQ(result.digest.date, "2023-11-20");
  EXPECT_EQ(result.digest.source, "");
  ASSERT_EQ(Keys(result.digest),
            (Strings{"arxiv:2311.90101", "arxiv:2311.90102", "arxiv:2311.90103"}));
  const Paper& first = result.digest.papers[0];
  EXPECT_EQ(first.title, "Lantern-LM: Teaching Small Models to Read Maps by Candlelight");
  EXPECT_EQ(first.url, "https://arxiv.org/abs/2311.90101");
  EXPECT_TRUE(first.authors.empty());
  EXPECT_FALSE(first.authors_truncated);
  EXPECT_EQ(first.votes, std::nullopt);
  EXPECT_EQ(first.media_url, "");
  EXPECT_EQ(first.version, "");
  EXPECT_TRUE(first.tags.empty());
  // The last bullet runs straight into the next `### [` line.
  EXPECT_EQ(first.summary.size(), 3u);
  EXPECT_EQ(first.summary[2], "제안된 모델은 기존 모델보다 12% 높은 정확도를 보인다.");

  const Paper& nested = result.digest.papers[1];
  EXPECT_EQ(nested.title, "R&D-Bench: Measuring Research & Development Agents");
  EXPECT_EQ(nested.summary, (Strings{"연구 개발 에이전트를 평가하는 벤치마크 R&D-Bench를 소개한다.",
                                     "벤치마크는 세 가지 특징을 가진다:\n"
                                     "  - (1) 실제 실험실 작업을 모사한 과제 40개\n"
                                     "  - (2) 자동 채점 스크립트\n"
                                     "  - (3) 사람 전문가의 기준 점수",
                                     "현재 최고 모델도 전문가 점수의 절반에 미치지 못한다."}));
  EXPECT_EQ(result.digest.papers[2].summary.size(), 2u);
}

TEST(MarkdownParser, MediaVariantsVotesAndAuthorLists) {
  const ParseResult result = ParseFixture("media_variants.md");
  EXPECT_TRUE(result.warnings.empty());
  // Two identical day headers: one day, the second block continues it.
  EXPECT_EQ(result.digest.date, "2023-12-04");
  ASSERT_EQ(result.digest.papers.size(), 6u);
  const auto& papers = result.digest.papers;
  const std::string uploads = "https://cdn-uploads.huggingface.co/production/uploads/aaaa1111/";

  EXPECT_EQ(papers[0].media_url, uploads + "pebble-thumb.png");
  EXPECT_EQ(papers[0].authors, (Strings{"Mina Park", "Joon Lee"}));  // `+` at the end
  EXPECT_TRUE(papers[0].authors_truncated);
  EXPECT_EQ(papers[0].votes, std::nullopt);  // no Vote line

  EXPECT_EQ(papers[1].media_url, uploads + "teapot-dance.mp4");  // raw <video src='...'>
  EXPECT_EQ(papers[1].authors, (Strings{"Hana Kim"}));
  EXPECT_FALSE(papers[1].authors_truncated);

  EXPECT_EQ(papers[2].media_url, uploads + "wobble.mp4");  // [Watch Video] + <div><video>
  // `+` in the middle, and a duplicate: the first occurrence stays.
  EXPECT_EQ(papers[2].authors, (Strings{"Theo Grant", "Ada Sun", "Bo Chen"}));
  EXPECT_TRUE(papers[2].authors_truncated);
  EXPECT_EQ(papers[2].summary.size(), 2u);

  EXPECT_EQ(papers[3].key, "arxiv:2312.90204");
  EXPECT_EQ(papers[3].media_url, uploads + "loop.webm");
  EXPECT_EQ(papers[3].votes, std::nullopt);  // Vote: -
  EXPECT_EQ(papers[3].authors, (Strings{"Ola Berg", "Ken Ito"}));

  EXPECT_EQ(papers[4].media_url, uploads + "memories.qt");
  EXPECT_EQ(papers[4].votes, 0);

  EXPECT_EQ(papers[5].media_url, "https://huggingface.co/avatars/0f0f0f0f0f0f0f0f.svg");
  EXPECT_EQ(papers[5].votes, 17);
  EXPECT_EQ(papers[5].summary, (Strings{"개인정보 보호를 위한 얼굴 없는 아바타를 만든다."}));
}

TEST(MarkdownParser, RelativePaperLinksWithoutBlankLines) {
  const ParseResult result = ParseFixture("relative_links.md");
  EXPECT_TRUE(result.warnings.empty());
  ASSERT_EQ(Keys(result.digest), (Strings{"arxiv:2311.90301", "arxiv:2311.90302"}));
  const Paper& first = result.digest.papers[0];
  EXPECT_EQ(first.url, "https://huggingface.co/papers/2311.90301");
  EXPECT_EQ(first.media_url,
            "https://cdn-uploads.huggingface.co/production/uploads/bbbb2222/lantern.png");
  EXPECT_EQ(first.authors, (Strings{"Ivo Petrov", "Lea Novak"}));
  EXPECT_EQ(first.summary.size(), 2u);
  // A video written in image syntax is still the media.
  EXPECT_EQ(result.digest.papers[1].media_url,
            "https://cdn-uploads.huggingface.co/production/uploads/bbbb2222/clockwork.mp4");
}

TEST(MarkdownParser, PythonListAuthorsAndRepeatedHeader) {
  const ParseResult result = ParseFixture("python_authors.md");
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_EQ(result.digest.date, "2024-10-18");
  ASSERT_EQ(Keys(result.digest),
            (Strings{"arxiv:2410.90401", "arxiv:2410.90402", "arxiv:2410.90403"}));
  const Paper& first = result.digest.papers[0];
  EXPECT_EQ(first.authors,
            (Strings{"Sean O'Neil", "Dara O'Brien", "Zoë 'Zed\" Ray", "Min-jun Choi"}));
  EXPECT_FALSE(first.authors_truncated);
  EXPECT_EQ(first.votes, 0);
  EXPECT_EQ(first.summary[0], "***What's New***: 속삭임 음성을 인식하는 모델을 제안한다.");
  EXPECT_EQ(result.digest.papers[1].authors, (Strings{"Yuki Tanaka"}));
  EXPECT_EQ(result.digest.papers[1].summary[1],
            "**Performance Highlights**: 지연 시간이 절반으로 줄었다.");
  EXPECT_EQ(result.digest.papers[2].authors, (Strings{"Ana Lima", "Ben Ode"}));
}

TEST(MarkdownParser, ReadmeWrapperStopsAtEveryLevelTwoHeading) {
  const ParseResult result = ParseFixture("readme_wrapper.md");
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_EQ(result.digest.date, "2025-05-09");
  // The `### [` inside the project description is not an entry.
  ASSERT_EQ(Keys(result.digest), (Strings{"arxiv:2505.90501", "arxiv:2505.90502"}));
  const Paper& last = result.digest.papers[1];
  EXPECT_EQ(last.summary, (Strings{"***What's New***: 라이선스 제목 앞의 마지막 항목이다."}));
  EXPECT_EQ(last.media_url,
            "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2505.90502.png");
  EXPECT_EQ(result.digest.papers[0].summary[1],
            "***Technical Details***: 계획은 <plan>과 </plan> 토큰 사이에 쓴다.");
}

TEST(MarkdownParser, EmptyDayHasDateAndNoPapers) {
  const ParseResult result = ParseFixture("empty_day.md");
  EXPECT_EQ(result.digest.date, "2023-11-22");
  EXPECT_TRUE(result.digest.papers.empty());
  EXPECT_TRUE(result.warnings.empty());
}

TEST(MarkdownParser, TitlesAreKeptExactlyAsWritten) {
  const ParseResult result = ParseFixture("tricky_titles.md");
  EXPECT_TRUE(result.warnings.empty());
  Strings titles;
  for (const Paper& paper : result.digest.papers) titles.push_back(paper.title);
  EXPECT_EQ(
      titles,
      (Strings{
          "I Don't Know Yet: Abstaining with an [IDK] Token",
          "Beyond GPT-[n]: Scaling o-[n] Reasoners", "Is a `dog.n.01` a Dog? Probing Word Senses",
          "Grading `Rubrics' with Language Models", "$\\textit{Tiny-Adapt}$: Portable Adapters",
          "Planner-R2: Let's <think> before Acting", "\"Say It Again\": Repetition in Dialogue",
          "Q&A*: Search with A* and Friends", "MiX^2 for V_AI: Counting Tests",
          "Tabbed Title With Gaps"}));
  EXPECT_EQ(result.digest.papers[0].url, "https://arxiv.org/abs/2412.90601");
  EXPECT_EQ(result.digest.papers[9].url, "https://arxiv.org/abs/2412.90610");
  EXPECT_EQ(result.digest.papers[9].summary, (Strings{"제목에 탭과 여러 칸 공백이 있다."}));
}

TEST(MarkdownParser, StrayLinesJoinTheBulletBeforeThem) {
  const ParseResult result = ParseFixture("tricky_titles.md");
  ASSERT_GE(result.digest.papers.size(), 5u);
  EXPECT_EQ(result.digest.papers[0].summary,
            (Strings{"***What's New***: 모르는 것을 [IDK] 토큰으로 표시한다.",
                     "***Technical Details***: 학습 손실에 불확실성 항을 더한다:\n"
                     "1) 정답을 모르면 [IDK]를 출력하도록 유도한다.\n"
                     "2) 과도한 회피를 벌한다.",
                     "***Performance Highlights***: 환각이 줄었다."}));
  // An ordered-list line and a paragraph after a blank line join too; links stay markdown.
  EXPECT_EQ(result.digest.papers[1].summary,
            (Strings{"추론 모델의 확장 법칙을 다룬다.\n1. **Tokenizer**: 숫자를 한 자리씩 자른다.",
                     "결과는 [프로젝트 페이지](https://example.org/reasoners)에 있다.\n"
                     "E = mc^2 + \\frac{1}{2}",
                     "마지막 불릿이다."}));
  EXPECT_EQ(result.digest.papers[1].votes, 4);
  // A TAB inside a bullet is kept; trailing spaces are not.
  EXPECT_EQ(result.digest.papers[4].summary,
            (Strings{"모델 사이를 옮길 수 있는 어댑터를 만든다.\t핵심은 \\textbf{정렬}이다."}));
}

TEST(MarkdownParser, BrokenEntriesAreSkippedWithTheirLine) {
  const ParseResult result = ParseFixture("broken_entries.md");
  EXPECT_EQ(Keys(result.digest), (Strings{"arxiv:2405.90701", "https://example.org/papers/seven",
                                          "", "arxiv:2405.90703"}));
  ASSERT_EQ(result.warnings.size(), 5u);
  EXPECT_EQ(result.warnings[0].line, 5);
  EXPECT_NE(result.warnings[0].message.find("'many'"), std::string::npos);
  EXPECT_EQ(result.warnings[1].line, 9);
  EXPECT_NE(result.warnings[1].message.find("no '](' "), std::string::npos);
  EXPECT_NE(result.warnings[1].message.find("Missing Its Link Part (draft)"), std::string::npos);
  EXPECT_EQ(result.warnings[2].line, 13);
  EXPECT_NE(result.warnings[2].message.find("does not end with ')'"), std::string::npos);
  EXPECT_NE(result.warnings[2].message.find("No Closing Parenthesis"), std::string::npos);
  EXPECT_EQ(result.warnings[3].line, 17);
  EXPECT_NE(result.warnings[3].message.find("Plain Heading Without Brackets"), std::string::npos);
  EXPECT_EQ(result.warnings[4].line, 25);
  EXPECT_NE(result.warnings[4].message.find("no URL"), std::string::npos);

  const auto& papers = result.digest.papers;
  EXPECT_EQ(papers[0].votes, std::nullopt);
  EXPECT_EQ(papers[2].title, "Nameless Link");
  EXPECT_EQ(papers[3].url, "https://arxiv.org/pdf/2405.90703v2.pdf");
  EXPECT_EQ(papers[3].version, "v2");
  EXPECT_EQ(papers[3].summary, (Strings{"정상 항목이다."}));
}

// CRLF, old Mac CR and a mix of all three line ends read as LF, at the same line numbers.
TEST(MarkdownParser, CrLfReadsLikeLf) {
  for (const char* name : kFixtures) {
    const std::string lf = ReadFixture(name);
    const ParseResult a = ParseMarkdownDigest(lf);
    for (const int style : {0, 1, 2}) {  // CRLF; CR; CRLF, LF and CR in turn
      // (In turn, a CR is always followed by a CRLF: a CR before an LF would be one CRLF.)
      constexpr const char* kEnds[] = {"\r\n", "\r"};
      constexpr const char* kInTurn[] = {"\r\n", "\n", "\r"};
      std::string other;
      int line = 0;
      for (char c : lf) {
        if (c != '\n') {
          other += c;
          continue;
        }
        other += style < 2 ? kEnds[style] : kInTurn[line++ % 3];
      }
      const ParseResult b = ParseMarkdownDigest(other);
      const std::string where = std::string(name) + ", line ends " + std::to_string(style);
      EXPECT_EQ(a.digest.date, b.digest.date) << where;
      ASSERT_EQ(a.digest.papers.size(), b.digest.papers.size()) << where;
      for (std::size_t i = 0; i < a.digest.papers.size(); ++i) {
        EXPECT_EQ(a.digest.papers[i].title, b.digest.papers[i].title) << where;
        EXPECT_EQ(a.digest.papers[i].url, b.digest.papers[i].url) << where;
        EXPECT_EQ(a.digest.papers[i].authors, b.digest.papers[i].authors) << where;
        EXPECT_EQ(a.digest.papers[i].summary, b.digest.papers[i].summary) << where;
        EXPECT_EQ(a.digest.papers[i].media_url, b.digest.papers[i].media_url) << where;
      }
      ASSERT_EQ(a.warnings.size(), b.warnings.size()) << where;
      for (std::size_t i = 0; i < a.warnings.size(); ++i) {
        EXPECT_EQ(a.warnings[i].line, b.warnings[i].line) << where;
      }
    }
  }
}

TEST(MarkdownParser, InvalidUtf8NulAndBomBecomeValidText) {
  using namespace std::string_literals;
  const std::string input =
      "\xEF\xBB\xBF## Daily Papers (2024-01-02)\n\n"
      "### [Bad \xFF Byte\0Title](https://arxiv.org/abs/2401.90801)\n\n"
      "Authors: Ana \xC3, Bo\n\n- text \xE2\x82 cut\n"s;
  const ParseResult result = ParseMarkdownDigest(input);
  EXPECT_EQ(result.digest.date, "2024-01-02");
  ASSERT_EQ(result.digest.papers.size(), 1u);
  const Paper& paper = result.digest.papers[0];
  EXPECT_EQ(paper.title, "Bad \xEF\xBF\xBD Byte\xEF\xBF\xBDTitle");
  EXPECT_EQ(paper.authors, (Strings{"Ana \xEF\xBF\xBD", "Bo"}));
  EXPECT_EQ(paper.summary, (Strings{"text \xEF\xBF\xBD\xEF\xBF\xBD cut"}));
}

// A collaboration's list: past the names looked for one by one (32) and past the room a
// list is first given (64), repeats are still dropped (the first of each kept, in order), in
// both the plain and the Python form.
TEST(MarkdownParser, LongAuthorListsKeepEachNameOnce) {
  Strings names;
  for (int i = 0; i < 100; ++i) names.push_back("Author Number" + std::to_string(i));
  std::string plain;
  std::string python;
  for (int round = 0; round < 2; ++round) {
    for (const std::string& name : names) {
      plain += (plain.empty() ? "" : ", ") + name;
      python += (python.empty() ? "" : ", ") + ("'" + name + "'");
    }
    plain += ", +,  Author   Number7";  // whitespace collapsed first: a repeat too
  }
  const ParseResult result = ParseMarkdownDigest(
      "## Daily Papers (2024-01-02)\n\n"
      "### [Plain](https://arxiv.org/abs/2401.90811)\n\nAuthors: " +
      plain +
      "\n\n- a\n\n"
      "### [Python](https://arxiv.org/abs/2401.90812)\n\nAuthors: [" +
      python + "]\n\n- b\n");
  ASSERT_EQ(result.digest.papers.size(), 2u);
  EXPECT_EQ(result.digest.papers[0].authors, names);
  EXPECT_TRUE(result.digest.papers[0].authors_truncated);
  EXPECT_EQ(result.digest.papers[1].authors, names);
  EXPECT_FALSE(result.digest.papers[1].authors_truncated);
}

// A line of commas says nothing of how many names there are: the paper keeps no room for
// the 100,000 its commas could hold.
TEST(MarkdownParser, AnAuthorLineOfCommasKeepsNoRoomForNames) {
  const ParseResult result =
      ParseMarkdownDigest("### [Commas](https://arxiv.org/abs/2401.90813)\n\nAuthors: Ana Lima" +
                          std::string(100000, ',') + "Bo Chen\n\n- a\n");
  ASSERT_EQ(result.digest.papers.size(), 1u);
  EXPECT_EQ(result.digest.papers[0].authors, (Strings{"Ana Lima", "Bo Chen"}));
  EXPECT_LE(result.digest.papers[0].authors.capacity(), 64u);
}

TEST(MarkdownParser, EntriesWithoutDayHeaderAndAfterForeignSections) {
  const ParseResult result = ParseMarkdownDigest(
      "### [Headerless](https://arxiv.org/abs/2402.90901)\n- a\n"
      "## Notes\n### [Under Notes](https://arxiv.org/abs/2402.90902)\n- b\n"
      "## Daily Papers (not a date)\n### [Back In](https://arxiv.org/abs/2402.90903)\n- c\n"
      "## Daily Papers (2024-02-03)\n");
  EXPECT_EQ(result.digest.date, "2024-02-03");
  EXPECT_EQ(Keys(result.digest), (Strings{"arxiv:2402.90901", "arxiv:2402.90903"}));
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0].line, 6);
}

TEST(MarkdownParser, OversizedEntryIsSkippedWithWarning) {
  std::string input = "### [Huge](https://arxiv.org/abs/2402.91001)\n";
  for (int i = 0; i < 40000; ++i) input += "- 0123456789\n";
  input += "### [Small](https://arxiv.org/abs/2402.91002)\n- ok\n";
  const ParseResult result = ParseMarkdownDigest(input);
  EXPECT_EQ(Keys(result.digest), (Strings{"arxiv:2402.91002"}));
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0].line, 1);
}

// A long digest is read on two threads (more than a chunk of entries): it reads as its
// parts do one after the other, papers and warnings in document order.
TEST(MarkdownParser, ALongDigestReadsAsItsPartsInOrder) {
  const std::string part = ReadFixture("broken_entries.md");  // 31 lines, warnings included
  const ParseResult one = ParseMarkdownDigest(part);
  ASSERT_FALSE(one.warnings.empty());
  ASSERT_FALSE(one.digest.papers.empty());
  // 2,100 entries: more than a batch of the reader, which reads a few thousand entries at a
  // time (the warnings and line numbers go on across batches), and two threads in each.
  constexpr int kCopies = 300;
  std::string whole;
  for (int i = 0; i < kCopies; ++i) whole += part;
  const ParseResult all = ParseMarkdownDigest(whole);
  EXPECT_EQ(all.digest.date, one.digest.date);
  Strings want_keys;
  Strings want_warnings;
  for (int i = 0; i < kCopies; ++i) {
    for (const Paper& p : one.digest.papers) want_keys.push_back(p.key);
    for (const ParseWarning& w : one.warnings) {
      want_warnings.push_back(std::to_string(w.line + 31 * i) + ": " + w.message);
    }
  }
  Strings warnings;
  for (const ParseWarning& w : all.warnings) {
    warnings.push_back(std::to_string(w.line) + ": " + w.message);
  }
  EXPECT_EQ(Keys(all.digest), want_keys);
  EXPECT_EQ(warnings, want_warnings);
  for (std::size_t i = 0; i < all.digest.papers.size(); ++i) {
    ASSERT_EQ(all.digest.papers[i], one.digest.papers[i % one.digest.papers.size()]) << i;
  }
}

// Issue 12: a digest is read a piece at a time (a long body from its spool file, 64 KB at a
// time) and never held whole: it reads as the same bytes in one piece do, papers, warnings
// (lines and all) and date, wherever the pieces cut: inside a UTF-8 character or the BOM,
// between a CR and its LF, inside a heading, or inside an entry longer than the reader keeps.
TEST(Issue12, MarkdownReadInPiecesReadsAsInOnePiece) {
  using namespace std::string_literals;
  test::PiecesCheck check{.as_is = 3, .seed = 1229};
  for (const char* name : kFixtures) check.docs.push_back(ReadFixture(name));
  std::string crlf;
  for (char c : ReadFixture("media_variants.md")) crlf += c == '\n' ? "\r\n"s : std::string(1, c);
  check.docs.push_back(crlf);
  check.docs.push_back(
      "\xEF\xBB\xBF## Daily Papers (2024-01-02)\r\r\n"
      "### [Bad \xFF Byte\0Title](https://arxiv.org/abs/2401.90801)\r\n\r\n"
      "Authors: Ana \xC3, Bo\r\n\r\n- text \xE2\x82 cut \xF0\x9F\x98\x80 \xE2\x82\xAC\r"s);
  std::string huge = "## Daily Papers (2024-02-01)\n### [Huge](https://arxiv.org/abs/2402.91001)\n";
  for (int i = 0; i < 30000; ++i) huge += "- 0123456789\n";  // 390 KB: refused as too long
  huge += "### [Small](https://arxiv.org/abs/2402.91002)\nVote: x\n- ok\n";
  check.docs.push_back(huge);
  check.specials = {"\r",       "\n",  "\r\n", "### [", "## ",   "\xEF\xBB\xBF", "\xE2\x82",
                    "\xF0\x9F", "\0"s, "\xFF", "- ",    "Vote: "};
  const auto shown = [](const ParseResult& r) {
    std::string text = r.digest.date + "\n";
    for (const ParseWarning& w : r.warnings) {
      text += std::to_string(w.line) + ": " + w.message + "\n";
    }
    return text;
  };
  test::ExpectPiecesReadAsOne(
      check, [](const ByteSource& next) { return ParseMarkdownDigest(next); }, shown);
  // The oversized entry is refused whatever the pieces, and the one after it kept.
  for (const std::size_t piece : {std::size_t(1), std::size_t(4096), std::size_t(65536)}) {
    const ParseResult r = ParseMarkdownDigest(PiecesOf(huge, piece));
    EXPECT_EQ(Keys(r.digest), (Strings{"arxiv:2402.91002"})) << piece;
    EXPECT_EQ(shown(r).find("2: entry skipped: longer than"), 11u) << shown(r);
  }
}

// Entries of the plain shape are read line by line, the others with cmark
// (ParseMarkdownDigestWithCmark reads all so): both must always agree, on the shapes that make
// the plain reading give way and on mutations of every fixture.
TEST(MarkdownParser, PlainEntriesReadAsCmarkReadsThem) {
  const auto same = [](const std::string& input) {
    const ParseResult plain = ParseMarkdownDigest(input);
    const ParseResult cmark = ParseMarkdownDigestWithCmark(input);
    return plain.digest.papers == cmark.digest.papers && plain.warnings == cmark.warnings;
  };
  const std::string head =
      "## Daily Papers (2024-01-29)\n\n### [T](https://arxiv.org/abs/2401.00001)\n\n";
  const Strings bodies = {
      "![](https://x.invalid/a.png)\n\nVote: 3\n\nAuthors: A, B\n\n- one\n- two\n",
      "Vote: 3\n- one\n  - nested\n- two\nlazy line\n\n  indented\n- three\n",
      "![i][r]\n\n- one\n- [r]: https://x.invalid/ref.png\n",
      "![i][r s]\n\n- one\n  [r\ns]: https://x.invalid/ref.png\n",
      "[r]\n\n- one\n\n[r]: https://x.invalid/v.mp4\n",
      "Authors: A\n---\n- one\n",
      "Authors: A\n-\n- one\n",
      "- one\n- - -\n- two\n",
      "- one\n* * *\n- two\n",
      "- one\n```\n- not a bullet\n```\n- two\n",
      "- one\n<div>\n- inside html\n</div>\n\n- two\n",
      "- one\n> quote\n- two\n",
      "  - indented first\n- two\n",
      "- one\n\n    - code or nested\n- two\n",
      "-\ttab\n- two\n",
      "\t- tab\n- two\n",
      "- one\n1. ordered\n- two\n",
      "- one\n2) ordered\n- two\n",
      "- **bold** start\n- *em* start\n- + nested\n- two\n",
      "- one\n#### heading\n- two\n",
      "<video src=\"https://x.invalid/v.mp4\"></video>\n- one\n",
      "[Watch Video](https://x.invalid/v.mp4)\n- one\n",
      "- one\n===\n- two\n",
      "-  two spaces\n- two\n",
      "+ plus\n* star\n- dash\n",
      "Vote: 1\n\n",
      "- \n- two\n",
  };
  for (const std::string& body : bodies) {
    EXPECT_TRUE(same(head + body)) << body;
  }
  for (const char* name : kFixtures) EXPECT_TRUE(same(ReadFixture(name))) << name;

  std::mt19937 rng(20261203);  // fixed: failures must reproduce
  auto below = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n)(rng); };
  const Strings tokens = {"\n- ",  "\n* ",   "\n+ ",  "\n  - ", "\n    ", "\n\t", "\n---\n",
                          "\n===", "\n1. ",  "\n2) ", "\n[a]: /u\n", "![x][a]", "\n```",
                          "\n~~~", "\n<div>", "\n> ", "\n# ", "\n- - -", "\n-", "\n- \n",
                          "**",    "\n",     " ",     "\n\n"};
  std::vector<std::string> fixtures;
  for (const char* name : kFixtures) fixtures.push_back(ReadFixture(name));
  for (const std::string& body : bodies) fixtures.push_back(head + body);
  for (int i = 0; i < 3000; ++i) {
    const std::string input =
        test::Mutate(fixtures[below(fixtures.size() - 1)], rng, tokens, /*max_edits=*/6);
    ASSERT_TRUE(same(input)) << input;
  }
}

TEST(MarkdownParser, SurvivesRandomBytesAndMutatedFixtures) {
  std::mt19937 rng(20240129);  // fixed: failures must reproduce
  auto below = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n)(rng); };
  const Strings tokens = {"### [",
                          "](",
                          ")",
                          "`",
                          std::string(1, '\0'),
                          "\n",
                          "\r",
                          "## ",
                          "## Daily Papers (2024-01-01)\n",
                          "- ",
                          "  - ",
                          "![](",
                          "<video src='",
                          "[Watch Video](",
                          "Authors: ['",
                          "', '",
                          "Vote: ",
                          "+, ",
                          "\xFF",
                          "\xE2\x82",
                          "```\n",
                          "<div>",
                          "> ",
                          "1) "};

  // Pure noise, biased towards the bytes the parser cares about.
  const std::string alphabet = "#[]()!-*+`'\"<>/:., \n\r\t\\aZ09\xC3\xA9\xFF";
  for (int i = 0; i < 2000; ++i) {
    std::string input(below(400), '\0');
    for (char& c : input) {
      c = below(3) == 0 ? static_cast<char>(below(255)) : alphabet[below(alphabet.size() - 1)];
    }
    ASSERT_TRUE(test::AllFieldsValidUtf8(ParseMarkdownDigest(input)))
        << "input of " << input.size() << " bytes";
  }

  std::vector<std::string> fixtures;
  for (const char* name : kFixtures) fixtures.push_back(ReadFixture(name));
  for (int i = 0; i < 3000; ++i) {
    const std::string input =
        test::Mutate(fixtures[below(fixtures.size() - 1)], rng, tokens, /*max_edits=*/9);
    ASSERT_TRUE(test::AllFieldsValidUtf8(ParseMarkdownDigest(input)))
        << "input of " << input.size() << " bytes";
  }
}

}  // namespace
}  // namespace digestd
