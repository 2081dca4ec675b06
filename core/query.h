// The watch query language (docs/query-language.md): ParseQuery turns `query = '...'` into
// an AST that WatchMatcher compiles. Columns in errors count code points from 1. Pure
// functions; a parsed Query is immutable and may be shared between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace re2 {
class RE2;
}

namespace digestd {

// Where a term looks. kText is a bare term: title, summary bullets and tags.
enum class QueryField : std::uint8_t { kText, kTitle, kSummary, kTag, kAuthor, kSource };

enum class VotesOp : std::uint8_t { kGe, kGt, kLe, kLt, kEq };

struct QueryNode {
  enum class Op : std::uint8_t { kAll, kTerm, kRegex, kVotes, kAnd, kOr, kNot };
  Op op = Op::kAll;
  QueryField field = QueryField::kText;
  std::string text;     // kTerm: unescaped, unfolded; kRegex: the RE2 pattern
  bool phrase = false;  // kTerm written in quotes
  bool prefix = false;  // kTerm with a trailing `*`
  VotesOp votes_op = VotesOp::kGe;
  int votes = 0;
  int column = 1;                   // 1-based code point column where the node starts in the query
  std::string written;              // leaves: the leaf as written (`title:"a b"`, `votes>=5`)
  std::vector<QueryNode> children;  // kAnd, kOr: two or more; kNot: one
  std::shared_ptr<const re2::RE2> regex;  // kRegex: compiled case-insensitive, UTF-8
};

struct Query {
  QueryNode root;
};

// Why a query did not parse: the 1-based code point column it points at, and what is wrong.
struct QueryError {
  int column = 1;
  std::string message;
};

// Parses `text`. On failure the Error message is "column C: what"; when `detail` is given it
// also receives the column and the bare message (for RenderCaret).
Result<Query> ParseQuery(std::string_view text, QueryError* detail = nullptr);

// "query\n" followed by a line with a caret under code point `column` (1-based), indented by
// terminal width so that wide characters (Hangul, CJK) line up.
std::string RenderCaret(std::string_view query, int column);

// The tree as an s-expression, e.g. (or "a" (and title:"b" (not "c*"))); for tests and lint.
std::string DescribeQuery(const QueryNode& node);

}  // namespace digestd
