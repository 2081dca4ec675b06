// A hand-written recursive-descent parser: the language is small, and a generator would
// give worse error columns. Precedence, loosest first: OR, AND (explicit or implicit), NOT.
#include "core/query.h"

#include <re2/re2.h>
#include <utf8proc.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

#include "core/text.h"

namespace digestd {
namespace {

constexpr int kMaxDepth = 64;  // nesting of parentheses and NOTs; keeps recursion bounded
constexpr int kMaxVotes = 1000000000;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Characters that end a bare word.
bool EndsWord(char c) { return IsSpace(c) || c == '(' || c == ')'; }

struct FieldName {
  std::string_view name;
  QueryField field;
};
constexpr FieldName kFields[] = {{"title", QueryField::kTitle},
                                 {"summary", QueryField::kSummary},
                                 {"tag", QueryField::kTag},
                                 {"author", QueryField::kAuthor},
                                 {"source", QueryField::kSource}};

std::string_view FieldPrefix(QueryField field) {
  switch (field) {
    case QueryField::kText:
      return "";
    case QueryField::kTitle:
      return "title:";
    case QueryField::kSummary:
      return "summary:";
    case QueryField::kTag:
      return "tag:";
    case QueryField::kAuthor:
      return "author:";
    case QueryField::kSource:
      return "source:";
  }
  return "";
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  std::optional<QueryNode> Parse() {
    SkipSpace();
    if (AtEnd()) return Fail(pos_, "the query is empty");
    std::optional<QueryNode> root = ParseOr(QueryField::kText, 0);
    if (!root) return std::nullopt;
    SkipSpace();
    if (!AtEnd()) {
      // ParseOr stops only at the end or at a ')' it did not open.
      return Fail(pos_, "unexpected ')' without a matching '('");
    }
    return root;
  }

  const QueryError& error() const { return error_; }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek(std::size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  void SkipSpace() {
    while (!AtEnd() && IsSpace(text_[pos_])) ++pos_;
  }

  int ColumnAt(std::size_t byte) const {
    int column = 1;
    for (std::size_t i = 0; i < byte && i < text_.size(); ++i) {
      if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++column;
    }
    return column;
  }

  std::nullopt_t Fail(std::size_t byte, std::string message) {
    error_ = QueryError{ColumnAt(byte), std::move(message)};
    return std::nullopt;
  }

  // True when an uppercase operator word starts at pos_ (and ends at a word end).
  bool AtKeyword(std::string_view word) const {
    if (text_.substr(pos_, word.size()) != word) return false;
    const std::size_t after = pos_ + word.size();
    return after >= text_.size() || EndsWord(text_[after]);
  }

  // Where a term is required but something else is there, say what is there.
  std::nullopt_t MissingTerm(std::string_view after) {
    const std::string what =
        after.empty() ? "expected a term" : "expected a term after " + std::string(after);
    if (AtEnd()) return Fail(pos_, what + ", found the end of the query");
    if (Peek() == ')') return Fail(pos_, what + ", found ')'");
    if (AtKeyword("AND")) return Fail(pos_, what + ", found AND");
    return Fail(pos_, what + ", found OR");
  }

  bool AtTermStart() const {
    return !AtEnd() && Peek() != ')' && !AtKeyword("AND") && !AtKeyword("OR");
  }

  std::optional<QueryNode> ParseOr(QueryField field, int depth) {
    std::optional<QueryNode> left = ParseAnd(field, depth);
    if (!left) return std::nullopt;
    QueryNode node{.op = QueryNode::Op::kOr, .column = left->column};
    node.children.push_back(std::move(*left));
    for (;;) {
      SkipSpace();
      if (!AtKeyword("OR")) break;
      pos_ += 2;
      SkipSpace();
      if (!AtTermStart()) return MissingTerm("OR");
      std::optional<QueryNode> right = ParseAnd(field, depth);
      if (!right) return std::nullopt;
      node.children.push_back(std::move(*right));
    }
    if (node.children.size() == 1) return std::move(node.children[0]);
    return node;
  }

  std::optional<QueryNode> ParseAnd(QueryField field, int depth) {
    SkipSpace();
    if (!AtTermStart()) return MissingTerm("");
    std::optional<QueryNode> left = ParseUnary(field, depth);
    if (!left) return std::nullopt;
    QueryNode node{.op = QueryNode::Op::kAnd, .column = left->column};
    node.children.push_back(std::move(*left));
    for (;;) {
      SkipSpace();
      if (AtEnd() || Peek() == ')' || AtKeyword("OR")) break;
      if (AtKeyword("AND")) {
        pos_ += 3;
        SkipSpace();
        if (!AtTermStart()) return MissingTerm("AND");
      }
      std::optional<QueryNode> right = ParseUnary(field, depth);
      if (!right) return std::nullopt;
      node.children.push_back(std::move(*right));
    }
    if (node.children.size() == 1) return std::move(node.children[0]);
    return node;
  }

  std::optional<QueryNode> ParseUnary(QueryField field, int depth) {
    if (depth > kMaxDepth) return Fail(pos_, "the query nests too deeply");
    const std::size_t start = pos_;
    std::string_view op;
    if (AtKeyword("NOT")) {
      pos_ += 3;
      op = "NOT";
      SkipSpace();
    } else if (Peek() == '-') {
      ++pos_;
      op = "'-'";
      if (AtEnd() || IsSpace(Peek())) return Fail(start, "expected a term right after '-'");
    }
    if (op.empty()) return ParsePrimary(field, depth);
    if (!AtTermStart()) return MissingTerm(op);
    std::optional<QueryNode> child = ParseUnary(field, depth + 1);
    if (!child) return std::nullopt;
    QueryNode node{.op = QueryNode::Op::kNot, .column = ColumnAt(start)};
    node.children.push_back(std::move(*child));
    return node;
  }

  std::optional<QueryNode> ParsePrimary(QueryField field, int depth) {
    const std::size_t start = pos_;
    if (Peek() == '(') {
      ++pos_;
      std::optional<QueryNode> inner = ParseOr(field, depth + 1);
      if (!inner) return std::nullopt;
      SkipSpace();
      if (Peek() != ')') return Fail(start, "'(' is never closed");
      ++pos_;
      return inner;
    }
    if (Peek() == '"') return ParsePhrase(field, start, start);
    if (Peek() == '/') return ParseRegex(field, start, start);

    std::size_t end = pos_;
    while (end < text_.size() && !EndsWord(text_[end])) ++end;
    const std::string_view word = text_.substr(pos_, end - pos_);
    if (word == "*") {
      pos_ = end;
      return QueryNode{.op = QueryNode::Op::kAll, .column = ColumnAt(start), .written = "*"};
    }
    if (EqualsIgnoreCase(word.substr(0, 5), "votes") && word.size() > 5 &&
        (word[5] == '>' || word[5] == '<' || word[5] == '=')) {
      return ParseVotes(word, start);
    }
    const std::size_t colon = word.find(':');
    if (colon != std::string_view::npos && colon > 0) {
      const std::string_view name = word.substr(0, colon);
      bool letters = true;
      for (char c : name) letters = letters && std::isalpha(static_cast<unsigned char>(c));
      if (letters) return ParseFielded(name, start, colon, depth);
    }
    return ParseWord(field, start, start);
  }

  std::optional<QueryNode> ParseFielded(std::string_view name, std::size_t start, std::size_t colon,
                                        int depth) {
    if (EqualsIgnoreCase(name, "votes")) {
      return Fail(start, "votes takes a comparison, e.g. votes>=5");
    }
    const FieldName* found = nullptr;
    for (const FieldName& f : kFields) {
      if (EqualsIgnoreCase(name, f.name)) found = &f;
    }
    if (found == nullptr) {
      return Fail(start, "unknown field \"" + std::string(name) +
                             "\" (fields: title, summary, author, tag, source; quote the term "
                             "to search for it literally)");
    }
    pos_ = start + colon + 1;
    const std::string after = std::string(found->name) + ":";
    if (AtEnd() || IsSpace(Peek()) || Peek() == ')') {
      return Fail(pos_, "expected a term right after " + after);
    }
    if (Peek() == '(') return ParsePrimary(found->field, depth);
    if (Peek() == '"') return ParsePhrase(found->field, pos_, start);
    if (Peek() == '/') return ParseRegex(found->field, pos_, start);
    const std::size_t inner = pos_;
    std::size_t end = pos_;
    while (end < text_.size() && !EndsWord(text_[end])) ++end;
    const std::string_view rest = text_.substr(inner, end - inner);
    if (rest == "*") return Fail(inner, after + "* is not a term; write * alone for every paper");
    const std::size_t colon2 = rest.find(':');
    if (colon2 != std::string_view::npos) {
      bool letters = colon2 > 0;
      for (char c : rest.substr(0, colon2)) {
        letters = letters && std::isalpha(static_cast<unsigned char>(c));
      }
      if (letters) return Fail(inner, "a term has one field; quote it to search for ':'");
    }
    return ParseWord(found->field, inner, start);
  }

  // A bare word at pos_: a term, or a prefix with a trailing `*` (`\*` is a literal star).
  std::optional<QueryNode> ParseWord(QueryField field, std::size_t at, std::size_t leaf_start) {
    std::size_t end = pos_;
    while (end < text_.size() && !EndsWord(text_[end])) ++end;
    std::string word(text_.substr(pos_, end - pos_));
    const std::size_t quote = word.find('"');
    if (quote != std::string::npos) {
      return Fail(pos_ + quote, "a quote inside a term; put the whole phrase in quotes");
    }
    QueryNode node{.op = QueryNode::Op::kTerm, .field = field, .column = ColumnAt(leaf_start)};
    if (word.size() >= 2 && word.ends_with("\\*")) {
      word.erase(word.size() - 2, 1);
    } else if (word.size() >= 2 && word.back() == '*') {
      word.pop_back();
      node.prefix = true;
    }
    pos_ = end;
    node.text = std::move(word);
    node.written = std::string(text_.substr(leaf_start, end - leaf_start));
    if (!CheckTerm(node, at)) return std::nullopt;
    return node;
  }

  // A "phrase" at pos_: `\"` and `\\` are the only escapes; a `*` right after the closing
  // quote makes it a prefix.
  std::optional<QueryNode> ParsePhrase(QueryField field, std::size_t at, std::size_t leaf_start) {
    std::string text;
    std::size_t i = pos_ + 1;
    for (;; ++i) {
      if (i >= text_.size()) return Fail(at, "the phrase is never closed");
      const char c = text_[i];
      if (c == '"') break;
      if (c == '\\') {
        const char next = i + 1 < text_.size() ? text_[i + 1] : '\0';
        if (next != '"' && next != '\\') {
          return Fail(i, "unknown escape in a phrase; only \\\" and \\\\ are escapes");
        }
        text += next;
        ++i;
      } else {
        text += c;
      }
    }
    pos_ = i + 1;
    QueryNode node{.op = QueryNode::Op::kTerm,
                   .field = field,
                   .text = std::move(text),
                   .phrase = true,
                   .column = ColumnAt(leaf_start)};
    if (Peek() == '*') {
      node.prefix = true;
      ++pos_;
    }
    if (!AtEnd() && !IsSpace(Peek()) && Peek() != ')') {
      return Fail(pos_, "expected a space or ')' after the phrase");
    }
    if (node.text.empty()) return Fail(at, "the phrase is empty");
    node.written = std::string(text_.substr(leaf_start, pos_ - leaf_start));
    if (!CheckTerm(node, at)) return std::nullopt;
    return node;
  }

  // A /regex/ at pos_: `\/` is a slash; every other backslash goes to RE2 as written.
  std::optional<QueryNode> ParseRegex(QueryField field, std::size_t at, std::size_t leaf_start) {
    if (field == QueryField::kSource) return Fail(at, "source: takes a name, not a regex");
    std::string pattern;
    std::size_t i = pos_ + 1;
    for (;; ++i) {
      if (i >= text_.size()) return Fail(at, "the regex is never closed with '/'");
      const char c = text_[i];
      if (c == '/') break;
      if (c == '\\' && i + 1 < text_.size()) {
        if (text_[i + 1] == '/') {
          pattern += '/';
        } else {
          pattern += c;
          pattern += text_[i + 1];
        }
        ++i;
      } else {
        pattern += c;
      }
    }
    pos_ = i + 1;
    if (!AtEnd() && !IsSpace(Peek()) && Peek() != ')') {
      return Fail(pos_, "expected a space or ')' after the regex");
    }
    if (pattern.empty()) return Fail(at, "the regex is empty");
    RE2::Options options;
    options.set_case_sensitive(false);
    options.set_log_errors(false);
    auto regex = std::make_shared<const RE2>(pattern, options);
    if (!regex->ok()) return Fail(at, "bad regex: " + regex->error());
    return QueryNode{.op = QueryNode::Op::kRegex,
                     .field = field,
                     .text = std::move(pattern),
                     .column = ColumnAt(leaf_start),
                     .written = std::string(text_.substr(leaf_start, pos_ - leaf_start)),
                     .regex = std::move(regex)};
  }

  std::optional<QueryNode> ParseVotes(std::string_view word, std::size_t start) {
    std::string_view rest = word.substr(5);
    QueryNode node{.op = QueryNode::Op::kVotes, .column = ColumnAt(start)};
    struct OpText {
      std::string_view text;
      VotesOp op;
    };
    constexpr OpText kOps[] = {{">=", VotesOp::kGe},
                               {"<=", VotesOp::kLe},
                               {">", VotesOp::kGt},
                               {"<", VotesOp::kLt},
                               {"=", VotesOp::kEq}};
    for (const OpText& o : kOps) {
      if (rest.starts_with(o.text)) {
        node.votes_op = o.op;
        rest.remove_prefix(o.text.size());
        break;
      }
    }
    const std::size_t number_at = start + (word.size() - rest.size());
    if (rest.empty()) return Fail(number_at, "expected a number of votes");
    long long value = 0;
    for (std::size_t i = 0; i < rest.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(rest[i]))) {
        return Fail(number_at + i, "expected a number of votes (digits only)");
      }
      value = value * 10 + (rest[i] - '0');
      if (value > kMaxVotes) return Fail(number_at, "the number of votes is too large");
    }
    node.votes = static_cast<int>(value);
    pos_ = start + word.size();
    node.written = std::string(word);
    return node;
  }

  // Terms must keep something after folding; author terms must keep a name.
  bool CheckTerm(const QueryNode& node, std::size_t at) {
    if (node.field == QueryField::kAuthor) {
      if (node.prefix ? FoldText(node.text).empty() : NormalizeAuthorName(node.text).empty()) {
        Fail(at, "the author name is empty after normalisation");
        return false;
      }
      return true;
    }
    if (node.field == QueryField::kSource) {
      if (node.text.empty()) {
        Fail(at, "the source name is empty");
        return false;
      }
      return true;
    }
    if (FoldText(node.text).empty()) {
      Fail(at, "the term is empty after normalisation");
      return false;
    }
    return true;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  QueryError error_;
};

void Describe(const QueryNode& node, std::string* out) {
  switch (node.op) {
    case QueryNode::Op::kAll:
      *out += "*";
      return;
    case QueryNode::Op::kTerm:
      out->append(FieldPrefix(node.field));
      *out += '"';
      for (char c : node.text) {
        if (c == '"' || c == '\\') *out += '\\';
        *out += c;
      }
      *out += '"';
      if (node.prefix) *out += '*';
      return;
    case QueryNode::Op::kRegex:
      out->append(FieldPrefix(node.field));
      *out += "/" + node.text + "/";
      return;
    case QueryNode::Op::kVotes: {
      constexpr std::string_view kOps[] = {">=", ">", "<=", "<", "="};
      *out += "votes";
      out->append(kOps[static_cast<int>(node.votes_op)]);
      *out += std::to_string(node.votes);
      return;
    }
    case QueryNode::Op::kAnd:
    case QueryNode::Op::kOr:
    case QueryNode::Op::kNot:
      *out += node.op == QueryNode::Op::kAnd  ? "(and"
              : node.op == QueryNode::Op::kOr ? "(or"
                                              : "(not";
      for (const QueryNode& child : node.children) {
        *out += ' ';
        Describe(child, out);
      }
      *out += ')';
      return;
  }
}

}  // namespace

Result<Query> ParseQuery(std::string_view text, QueryError* detail) {
  Parser parser(text);
  std::optional<QueryNode> root = parser.Parse();
  if (!root) {
    if (detail != nullptr) *detail = parser.error();
    return Unexpected("column " + std::to_string(parser.error().column) + ": " +
                      parser.error().message);
  }
  return Query{.root = std::move(*root)};
}

std::string RenderCaret(std::string_view query, int column) {
  std::string line1;
  int width = 0;
  int at = 1;
  for (std::size_t i = 0; i < query.size();) {
    utf8proc_int32_t cp = 0;
    const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(query.data() + i),
                                    static_cast<utf8proc_ssize_t>(query.size() - i), &cp);
    const std::size_t len = n > 0 ? static_cast<std::size_t>(n) : 1;
    // Newlines and tabs would break the alignment of the caret line.
    const bool space = len == 1 && IsSpace(query[i]);
    if (space) {
      line1 += ' ';
    } else {
      line1.append(query, i, len);
    }
    if (at < column) width += space || n <= 0 ? 1 : std::max(0, utf8proc_charwidth(cp));
    ++at;
    i += len;
  }
  return line1 + "\n" + std::string(static_cast<std::size_t>(width), ' ') + "^";
}

std::string DescribeQuery(const QueryNode& node) {
  std::string out;
  Describe(node, &out);
  return out;
}

}  // namespace digestd
