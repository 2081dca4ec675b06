#include "core/query.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace digestd {
namespace {

struct ParseCase {
  std::string query;
  std::string tree;  // DescribeQuery of the result
};

TEST(Issue4, QueryParsesToTree) {
  const std::vector<ParseCase> cases = {
      // Terms, phrases, prefixes.
      {"llm", "\"llm\""},
      {"LLM*", "\"LLM\"*"},
      {"A\\*", "\"A*\""},
      {"GPT-4", "\"GPT-4\""},
      {"\"speculative decoding\"", "\"speculative decoding\""},
      {"\"spec dec\"*", "\"spec dec\"*"},
      {"\"say \\\"hi\\\"\"", "\"say \\\"hi\\\"\""},
      {"\"back\\\\slash\"", "\"back\\\\slash\""},
      {"\"A OR B\"", "\"A OR B\""},
      {"\uD76C\uC18C\uD654", "\"\uD76C\uC18C\uD654\""},
      {"*", "*"},
      // Lowercase operator words are terms.
      {"rock and roll", "(and \"rock\" \"and\" \"roll\")"},
      {"not or", "(and \"not\" \"or\")"},
      // Precedence: NOT > AND > OR; AND is implicit between terms.
      {"a b", "(and \"a\" \"b\")"},
      {"a AND b", "(and \"a\" \"b\")"},
      {"a OR b c", "(or \"a\" (and \"b\" \"c\"))"},
      {"a b OR c", "(or (and \"a\" \"b\") \"c\")"},
      {"a OR b AND c OR d", "(or \"a\" (and \"b\" \"c\") \"d\")"},
      {"NOT a b", "(and (not \"a\") \"b\")"},
      {"NOT a OR b", "(or (not \"a\") \"b\")"},
      {"-a b", "(and (not \"a\") \"b\")"},
      {"a -b -c", "(and \"a\" (not \"b\") (not \"c\"))"},
      {"NOT NOT a", "(not (not \"a\"))"},
      {"-(a OR b)", "(not (or \"a\" \"b\"))"},
      {"(a OR b) c", "(and (or \"a\" \"b\") \"c\")"},
      {"a (b OR (c d))", "(and \"a\" (or \"b\" (and \"c\" \"d\")))"},
      {"NOT(a)", "(not \"a\")"},
      {"  a\n\tOR  b ", "(or \"a\" \"b\")"},
      // Fields.
      {"title:llm", "title:\"llm\""},
      {"Title:llm", "title:\"llm\""},
      {"summary:\"sparse attention\"", "summary:\"sparse attention\""},
      {"author:\"Hongyang Zhang\"", "author:\"Hongyang Zhang\""},
      {"author:Hens*", "author:\"Hens\"*"},
      {"tag:cs.CL", "tag:\"cs.CL\""},
      {"source:hf-ko", "source:\"hf-ko\""},
      {"title:/spars(e|ity)/", "title:/spars(e|ity)/"},
      {"title:(a OR b)", "(or title:\"a\" title:\"b\")"},
      {"title:(a author:b)", "(and title:\"a\" author:\"b\")"},
      {"-title:survey", "(not title:\"survey\")"},
      {"\"title:llm\"", "\"title:llm\""},
      {"arxiv.org/abs:1", "\"arxiv.org/abs:1\""},
      // Regex and votes.
      {"/llm-\\d+/", "/llm-\\d+/"},
      {"/a\\/b/", "/a/b/"},
      {"votes>=5", "votes>=5"},
      {"votes>5 votes<=10", "(and votes>5 votes<=10)"},
      {"votes<3 OR votes=7", "(or votes<3 votes=7)"},
      {"votes", "\"votes\""},
      {"* -survey", "(and * (not \"survey\"))"},
  };
  for (const ParseCase& c : cases) {
    Result<Query> q = ParseQuery(c.query);
    ASSERT_TRUE(q) << c.query << ": " << q.error().message;
    EXPECT_EQ(DescribeQuery(q->root), c.tree) << c.query;
  }
}

TEST(Issue4, QueryLeavesKeepWhatWasWritten) {
  Result<Query> q = ParseQuery("title:\"a b\" OR -votes>=5");
  ASSERT_TRUE(q);
  ASSERT_EQ(q->root.children.size(), 2u);
  EXPECT_EQ(q->root.children[0].written, "title:\"a b\"");
  EXPECT_EQ(q->root.children[0].column, 1);
  EXPECT_EQ(q->root.children[1].column, 16);
  EXPECT_EQ(q->root.children[1].children[0].written, "votes>=5");
  EXPECT_TRUE(q->root.children[0].phrase);
}

struct ErrorCase {
  std::string query;
  int column;
  std::string message_part;
};

TEST(Issue4, QueryErrorsPointAtTheColumn) {
  const std::vector<ErrorCase> cases = {
      {"", 1, "empty"},
      {"   ", 4, "empty"},
      {"(a OR b", 1, "never closed"},
      {"a (b (c)", 3, "never closed"},
      {"a)", 2, "')'"},
      {"()", 2, "expected a term"},
      {"a AND", 6, "after AND"},
      {"a OR", 5, "after OR"},
      {"OR a", 1, "found OR"},
      {"a OR OR b", 6, "found OR"},
      {"a AND OR b", 7, "found OR"},
      {"NOT", 4, "after NOT"},
      {"a - b", 3, "'-'"},
      {"(a AND)", 7, "found ')'"},
      {"\"\"", 1, "phrase is empty"},
      {"x \"abc", 3, "never closed"},
      {"\"a\\n\"", 3, "escape"},
      {"\"a\"b", 4, "after the phrase"},
      {"ab\"c\"", 3, "quote inside"},
      {"foo:bar", 1, "unknown field \"foo\""},
      {"llm titel:x", 5, "unknown field"},
      {"title:", 7, "after title:"},
      {"title: x", 7, "after title:"},
      {"title:author:x", 7, "one field"},
      {"title:*", 7, "alone"},
      {"/a(/", 1, "bad regex"},
      {"x title:/[z-a]/", 9, "bad regex"},
      {"//", 1, "regex is empty"},
      {"/abc", 1, "never closed"},
      {"source:/x/", 8, "not a regex"},
      {"votes>=x", 8, "number"},
      {"votes>=", 8, "number"},
      {"votes>=5x", 9, "digits"},
      {"votes>=99999999999", 8, "too large"},
      {"votes:5", 1, "comparison"},
      {"\u200B", 1, "empty after normalisation"},
      {"author:\"-.\"", 8, "author name is empty"},
      // Columns count code points: the Hangul word is three code points, nine bytes.
      {"\uD76C\uC18C\uD654 AND", 8, "after AND"},
      {"\uD76C\uC18C\uD654 foo:x", 5, "unknown field"},
  };
  for (const ErrorCase& c : cases) {
    QueryError detail;
    Result<Query> q = ParseQuery(c.query, &detail);
    ASSERT_FALSE(q) << c.query;
    EXPECT_EQ(detail.column, c.column) << c.query << ": " << detail.message;
    EXPECT_NE(detail.message.find(c.message_part), std::string::npos)
        << c.query << ": " << detail.message;
    EXPECT_EQ(q.error().message, "column " + std::to_string(c.column) + ": " + detail.message);
  }
}

TEST(Issue4, DocumentedExamplesParse) {
  for (const char* q : {
           "title:\"speculative decoding\" OR (summary:speculative AND summary:sampling)",
           "(sparsity OR \uD76C\uC18C\uD654) -survey author:\"Torsten Hoefler\"",
           "title:/\\bmoe\\b|mixture[- ]of[- ]experts/ votes>=10",
           "tag:cs.CL source:arxiv-cl NOT (survey OR benchmark)",
           "*",
       }) {
    Result<Query> parsed = ParseQuery(q);
    EXPECT_TRUE(parsed) << q << ": " << parsed.error().message;
  }
}

TEST(Issue4, QueryNestingIsBounded) {
  const std::string deep = std::string(200, '(') + "a" + std::string(200, ')');
  QueryError detail;
  EXPECT_FALSE(ParseQuery(deep, &detail));
  EXPECT_NE(detail.message.find("deeply"), std::string::npos);
  EXPECT_TRUE(ParseQuery(std::string(20, '(') + "a" + std::string(20, ')')));
}

TEST(Issue4, CaretLinesUpUnderTheColumn) {
  EXPECT_EQ(RenderCaret("title: x", 7), "title: x\n      ^");
  EXPECT_EQ(RenderCaret("a AND", 6), "a AND\n     ^");
  EXPECT_EQ(RenderCaret("a\nb OR", 3), "a b OR\n  ^");
  // Hangul is two terminal columns wide.
  EXPECT_EQ(RenderCaret("\uD76C\uC18C\uD654 foo:x", 5), "\uD76C\uC18C\uD654 foo:x\n       ^");
}

}  // namespace
}  // namespace digestd
