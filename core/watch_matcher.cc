// WatchMatcher: each watch becomes one boolean tree, (query OR keywords OR authors) AND NOT
// (excludes), over leaves. Every literal text leaf of every watch is a pattern of one
// Aho-Corasick automaton, exact author names sit in a hash index by surname. A paper's fields
// are folded and scanned once; a verified hit marks its leaves, and only the watches owning
// a positive hit (plus the few that can match without one: `*`, votes, regex, pure NOT) have
// their trees evaluated, so cost follows the hits, not the number of watches.
#include <re2/re2.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/aho_corasick.h"
#include "core/query.h"
#include "core/text.h"
#include "core/watch.h"

namespace digestd {
namespace {

// Field bits of a leaf hit. Text fields are scanned by the automaton.
constexpr std::uint8_t kTitleBit = 1, kSummaryBit = 2, kTagBit = 4, kAuthorBit = 8, kOtherBit = 16;
constexpr std::uint8_t kTextFields = kTitleBit | kSummaryBit | kTagBit;

std::uint8_t FieldBits(QueryField field) {
  switch (field) {
    case QueryField::kText:
      return kTextFields;
    case QueryField::kTitle:
      return kTitleBit;
    case QueryField::kSummary:
      return kSummaryBit;
    case QueryField::kTag:
      return kTagBit;
    case QueryField::kAuthor:
      return kAuthorBit;
    case QueryField::kSource:
      return kOtherBit;
  }
  return 0;
}

enum class LeafKind : std::uint8_t {
  kText,          // a pattern of the automaton (literal: only true through a hit)
  kAuthor,        // an exact author name in the index (literal)
  kAuthorPrefix,  // evaluated on demand from here on
  kRegex,
  kVotes,
  kSource,
  kAll,
};

bool IsLiteral(LeafKind k) { return k == LeafKind::kText || k == LeafKind::kAuthor; }

struct Leaf {
  LeafKind kind = LeafKind::kAll;
  std::uint8_t fields = 0;  // where it looks
  bool negative = false;    // under an odd number of NOTs (an exclude entry is one)
  std::uint32_t watch = 0;
  std::string label;    // "keyword:x", "author:x", "exclude:x", "query:title:x"
  std::string key;      // normalised identity, for lint: equal keys, equal leaf
  std::string text;     // kAuthorPrefix: normalised tokens; kSource: the name
  bool prefix = false;  // kText, kSource
  VotesOp votes_op = VotesOp::kGe;
  int votes = 0;
  std::shared_ptr<const re2::RE2> regex;
  std::uint32_t pattern = 0;  // kText: its automaton pattern
};

// Whether `votes` satisfies a `votes OP N` leaf.
bool VotesMeet(int votes, VotesOp op, int bound) {
  switch (op) {
    case VotesOp::kGe:
      return votes >= bound;
    case VotesOp::kGt:
      return votes > bound;
    case VotesOp::kLe:
      return votes <= bound;
    case VotesOp::kLt:
      return votes < bound;
    case VotesOp::kEq:
      return votes == bound;
  }
  return false;
}

// A tree node: kLeaf names a leaf; others name children kids[begin, end).
struct Node {
  enum class Op : std::uint8_t { kLeaf, kAnd, kOr, kNot } op = Op::kLeaf;
  std::uint32_t a = 0;  // leaf id, or kids begin
  std::uint32_t b = 0;  // kids end
};

struct CompiledWatch {
  std::uint32_t root = 0;
  std::uint32_t leaf_begin = 0, leaf_end = 0;
  bool always = false;       // can match without a positive literal hit: evaluated for every paper
  bool on_demand = false;    // has leaves that scanning does not set (EvalOnDemand has work)
  bool all_sources = false;  // `sources` is empty: no need to look at the spec
};

// What scanning and evaluation need of a leaf, packed apart from Leaf so that marking
// thousands of hits per paper touches 12 bytes per leaf instead of a Leaf full of strings
// (with 100,000 watches the Leafs no longer fit any cache).
struct HotLeaf {
  std::uint32_t watch = 0;
  std::uint8_t fields = 0;
  bool negative = false;
  LeafKind kind = LeafKind::kAll;
  VotesOp votes_op = VotesOp::kGe;  // kVotes
  int votes = 0;                    // kVotes
};

// A distinct (folded text, prefix) literal; its index is its automaton pattern number.
struct Pattern {
  BoundaryRule boundary;
  std::uint32_t length = 0;
  std::vector<std::uint32_t> leaves;
};

struct AuthorRule {
  AuthorName name;
  std::uint32_t leaf = 0;
};

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// A keyword or exclude entry: folded, with a trailing `*` meaning "prefix" (`\*` at the end
// is a literal star).
std::pair<std::string, bool> ParseListTerm(std::string_view raw) {
  std::string t = FoldText(raw);
  bool prefix = false;
  if (t.size() >= 2 && t.ends_with("\\*")) {
    t.erase(t.size() - 2, 1);
  } else if (!t.empty() && t.back() == '*') {
    t.pop_back();
    prefix = true;
    while (!t.empty() && t.back() == ' ') t.pop_back();
  }
  return {std::move(t), prefix};
}

std::string AuthorKey(const AuthorName& name) {
  std::string key;
  for (const std::string& g : name.given) key += g + " ";
  return key + name.surname;
}

// Collects leaves and nodes for the watches; shared by Compile and LintWatches.
struct Builder {
  std::vector<Leaf> leaves;
  std::vector<Node> nodes;
  std::vector<std::uint32_t> kids;
  std::vector<CompiledWatch> watches;
  std::vector<Pattern> patterns;
  std::vector<std::string> pattern_texts;
  std::map<std::pair<std::string, bool>, std::uint32_t> pattern_ids;
  std::unordered_map<std::string, std::vector<AuthorRule>> single_authors;
  std::unordered_map<std::string, std::vector<AuthorRule>> multi_authors;

  std::uint32_t AddNode(Node n) {
    nodes.push_back(n);
    return static_cast<std::uint32_t>(nodes.size() - 1);
  }
  std::uint32_t AddGroup(Node::Op op, const std::vector<std::uint32_t>& children) {
    const auto begin = static_cast<std::uint32_t>(kids.size());
    kids.insert(kids.end(), children.begin(), children.end());
    return AddNode({op, begin, static_cast<std::uint32_t>(kids.size())});
  }
  std::uint32_t AddLeaf(Leaf leaf) {
    leaves.push_back(std::move(leaf));
    return AddNode({Node::Op::kLeaf, static_cast<std::uint32_t>(leaves.size() - 1), 0});
  }

  std::uint32_t AddTextLeaf(std::string folded, bool prefix, std::uint8_t fields, Leaf leaf) {
    leaf.kind = LeafKind::kText;
    leaf.fields = fields;
    leaf.prefix = prefix;
    leaf.key = "t" + std::to_string(fields) + (prefix ? "*" : "=") + folded;
    auto [it, inserted] = pattern_ids.emplace(std::make_pair(folded, prefix),
                                              static_cast<std::uint32_t>(patterns.size()));
    if (inserted) {
      patterns.push_back(
          {BoundaryFor(folded, prefix), static_cast<std::uint32_t>(folded.size()), {}});
      pattern_texts.push_back(std::move(folded));
    }
    leaf.pattern = it->second;
    patterns[it->second].leaves.push_back(static_cast<std::uint32_t>(leaves.size()));
    return AddLeaf(std::move(leaf));
  }

  std::uint32_t AddAuthorLeaf(AuthorName name, Leaf leaf) {
    leaf.kind = LeafKind::kAuthor;
    leaf.fields = kAuthorBit;
    leaf.key = "a" + AuthorKey(name);
    auto& index = name.given.empty() ? single_authors : multi_authors;
    const std::string surname = name.surname;
    index[surname].push_back(
        AuthorRule{std::move(name), static_cast<std::uint32_t>(leaves.size())});
    return AddLeaf(std::move(leaf));
  }

  std::uint32_t AddQuery(const QueryNode& q, std::uint32_t watch, bool negative) {
    Leaf leaf{.negative = negative, .watch = watch, .label = "query:" + q.written};
    switch (q.op) {
      case QueryNode::Op::kAnd:
      case QueryNode::Op::kOr: {
        std::vector<std::uint32_t> children;
        for (const QueryNode& c : q.children) children.push_back(AddQuery(c, watch, negative));
        return AddGroup(q.op == QueryNode::Op::kAnd ? Node::Op::kAnd : Node::Op::kOr, children);
      }
      case QueryNode::Op::kNot:
        return AddGroup(Node::Op::kNot, {AddQuery(q.children[0], watch, !negative)});
      case QueryNode::Op::kAll:
        leaf.kind = LeafKind::kAll;
        leaf.key = "*";
        return AddLeaf(std::move(leaf));
      case QueryNode::Op::kVotes:
        leaf.kind = LeafKind::kVotes;
        leaf.votes_op = q.votes_op;
        leaf.votes = q.votes;
        leaf.key = DescribeQuery(q);
        return AddLeaf(std::move(leaf));
      case QueryNode::Op::kRegex:
        leaf.kind = LeafKind::kRegex;
        leaf.fields = FieldBits(q.field);
        leaf.regex = q.regex;
        leaf.key = "r" + std::to_string(leaf.fields) + "/" + q.text;
        return AddLeaf(std::move(leaf));
      case QueryNode::Op::kTerm:
        break;
    }
    if (q.field == QueryField::kSource) {
      leaf.kind = LeafKind::kSource;
      leaf.text = q.text;
      leaf.prefix = q.prefix;
      leaf.key = std::string("s") + (q.prefix ? "*" : "=") + q.text;
      return AddLeaf(std::move(leaf));
    }
    if (q.field == QueryField::kAuthor) {
      if (!q.prefix) return AddAuthorLeaf(NormalizeAuthorName(q.text), std::move(leaf));
      // Name tokens joined by spaces, matched at a token start of the listed name.
      const AuthorName name = NormalizeAuthorName(q.text);
      leaf.kind = LeafKind::kAuthorPrefix;
      leaf.fields = kAuthorBit;
      leaf.text = name.empty() ? FoldText(q.text) : AuthorKey(name);
      leaf.key = "p" + leaf.text;
      return AddLeaf(std::move(leaf));
    }
    std::string folded = FoldText(q.text);
    if (q.prefix) {
      while (!folded.empty() && folded.back() == ' ') folded.pop_back();
    }
    return AddTextLeaf(std::move(folded), q.prefix, FieldBits(q.field), std::move(leaf));
  }

  // Builds watch `w`; fails like Compile.
  Status AddWatch(const WatchSpec& spec, std::uint32_t w, std::uint32_t* positive_out,
                  std::uint32_t* exclude_out) {
    CompiledWatch cw{.leaf_begin = static_cast<std::uint32_t>(leaves.size())};
    std::vector<std::uint32_t> positive, exclude;
    for (const std::string& raw : spec.keywords) {
      auto [folded, prefix] = ParseListTerm(raw);
      if (folded.empty()) {
        return Unexpected("watch " + Quote(spec.name) + ": keyword " + Quote(raw) +
                          " is empty after normalisation");
      }
      positive.push_back(AddTextLeaf(std::move(folded), prefix, kTextFields,
                                     {.watch = w, .label = "keyword:" + raw}));
    }
    for (const std::string& raw : spec.authors) {
      AuthorName name = NormalizeAuthorName(raw);
      if (name.empty()) {
        return Unexpected("watch " + Quote(spec.name) + ": author " + Quote(raw) +
                          " is empty after normalisation");
      }
      positive.push_back(AddAuthorLeaf(std::move(name), {.watch = w, .label = "author:" + raw}));
    }
    if (!spec.query.empty()) {
      QueryError detail;
      Result<Query> query = ParseQuery(spec.query, &detail);
      if (!query) {
        return Unexpected("watch " + Quote(spec.name) + ": query column " +
                          std::to_string(detail.column) + ": " + detail.message + "\n" +
                          RenderCaret(spec.query, detail.column));
      }
      positive.push_back(AddQuery(query->root, w, false));
    }
    for (const std::string& raw : spec.exclude) {
      auto [folded, prefix] = ParseListTerm(raw);
      if (folded.empty()) {
        return Unexpected("watch " + Quote(spec.name) + ": exclude " + Quote(raw) +
                          " is empty after normalisation");
      }
      exclude.push_back(AddTextLeaf(std::move(folded), prefix, kTextFields,
                                    {.negative = true, .watch = w, .label = "exclude:" + raw}));
    }
    const std::uint32_t pos = AddGroup(Node::Op::kOr, positive);
    if (positive_out != nullptr) *positive_out = pos;
    if (exclude.empty()) {
      cw.root = pos;
    } else {
      const std::uint32_t ex = AddGroup(Node::Op::kOr, exclude);
      if (exclude_out != nullptr) *exclude_out = ex;
      cw.root = AddGroup(Node::Op::kAnd, {pos, AddGroup(Node::Op::kNot, {ex})});
    }
    cw.leaf_end = static_cast<std::uint32_t>(leaves.size());
    cw.always = !Requires(cw.root);
    cw.all_sources = spec.sources.empty();
    for (std::uint32_t l = cw.leaf_begin; l < cw.leaf_end; ++l) {
      if (!IsLiteral(leaves[l].kind)) cw.on_demand = true;
    }
    watches.push_back(cw);
    return Ok();
  }

  // True when the node can only be true if some literal leaf under it is true.
  bool Requires(std::uint32_t n) const {
    const Node& node = nodes[n];
    switch (node.op) {
      case Node::Op::kLeaf:
        return IsLiteral(leaves[node.a].kind);
      case Node::Op::kNot:
        return false;
      case Node::Op::kAnd:
        for (std::uint32_t k = node.a; k < node.b; ++k) {
          if (Requires(kids[k])) return true;
        }
        return false;
      case Node::Op::kOr:
        for (std::uint32_t k = node.a; k < node.b; ++k) {
          if (!Requires(kids[k])) return false;
        }
        return true;
    }
    return false;
  }
};

// Evaluates node `n` given each leaf's hit bits; with `drop_negative`, NOT-ed leaves count as
// false, which is the most the watch could match without them (the tree is monotone in each
// leaf's polarity).
bool Eval(const Builder& b, std::uint32_t n, const std::uint8_t* bits, bool drop_negative) {
  const Node& node = b.nodes[n];
  switch (node.op) {
    case Node::Op::kLeaf:
      return bits[node.a] != 0 && !(drop_negative && b.leaves[node.a].negative);
    case Node::Op::kNot:
      return !Eval(b, b.kids[node.a], bits, drop_negative);
    case Node::Op::kAnd:
      for (std::uint32_t k = node.a; k < node.b; ++k) {
        if (!Eval(b, b.kids[k], bits, drop_negative)) return false;
      }
      return true;
    case Node::Op::kOr:
      for (std::uint32_t k = node.a; k < node.b; ++k) {
        if (Eval(b, b.kids[k], bits, drop_negative)) return true;
      }
      return false;
  }
  return false;
}

// A paper's fields as rules see them, folded once.
struct PaperText {
  std::string title;
  std::vector<std::string> summary;
  std::vector<std::string> tags;
  std::vector<std::string> authors_folded;  // for author regexes, filled on demand
  std::vector<std::string> author_keys;     // " given surname", filled on demand
  bool authors_done = false;

  // Keeps the vectors' capacity for the next paper.
  void Clear() {
    summary.clear();
    tags.clear();
    authors_folded.clear();
    author_keys.clear();
    authors_done = false;
  }
};

// Per-thread scratch indexed by leaf, pattern and watch, cleared through the touched lists,
// so that a paper costs its hits and not a memset of every rule. Candidate watches are bits
// rather than a list: walking the words yields them in spec order without a sort, at one
// word per 64 watches.
struct Scratch {
  std::vector<std::uint8_t> leaf_bits;
  std::vector<std::uint8_t> pattern_bits;
  std::vector<std::uint64_t> watch_words;  // zero between calls
  std::vector<std::uint32_t> touched_leaves, touched_patterns;
  PaperText text;

  void Prepare(std::size_t leaves, std::size_t patterns, std::size_t watches) {
    if (leaf_bits.size() < leaves) leaf_bits.resize(leaves, 0);
    if (pattern_bits.size() < patterns) pattern_bits.resize(patterns, 0);
    if (watch_words.size() < WordCount(watches)) watch_words.resize(WordCount(watches), 0);
  }
  static std::size_t WordCount(std::size_t watches) { return (watches + 63) / 64; }
  void SetLeaf(std::uint32_t leaf, std::uint8_t bit) {
    if (leaf_bits[leaf] == 0) touched_leaves.push_back(leaf);
    leaf_bits[leaf] |= bit;
  }
  void MarkWatch(std::uint32_t w) { watch_words[w / 64] |= std::uint64_t{1} << (w % 64); }
  // Leaves the candidate bits to the caller, which clears them as it walks them.
  void Clear() {
    for (std::uint32_t l : touched_leaves) leaf_bits[l] = 0;
    for (std::uint32_t p : touched_patterns) pattern_bits[p] = 0;
    touched_leaves.clear();
    touched_patterns.clear();
    text.Clear();
  }
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// A term id is leaf * 4 + field: 0-2 index kFieldNames, 3 means no text field.
constexpr std::uint32_t kNoField = 3;
constexpr std::size_t kMaxLeaves = std::size_t{1} << 30;

constexpr std::string_view kFieldNames[] = {"title", "summary", "tag"};

}  // namespace

std::string_view OutcomeName(WatchVerdict::Outcome outcome) {
  switch (outcome) {
    case WatchVerdict::Outcome::kMatched:
      return "matched";
    case WatchVerdict::Outcome::kExcluded:
      return "excluded";
    case WatchVerdict::Outcome::kSourceNotSelected:
      return "source not selected";
    case WatchVerdict::Outcome::kNoMatch:
      return "no match";
  }
  return "";
}

struct WatchMatcher::Impl {
  std::vector<WatchSpec> specs;
  Builder b;
  AhoCorasick automaton;
  std::vector<std::uint32_t> always;  // watches with CompiledWatch::always, ascending
  std::vector<HotLeaf> hot;           // by leaf
  bool has_authors = false;
  // Some watch reads the folded title, summary or tags (a text term or a regex). When none
  // does (`query = "*"`, votes, sources, authors only), the text is not folded at all.
  bool reads_text = false;

  // Folds and scans the paper's text fields, authors through the index: leaf bits set in
  // `s`, watches with a positive literal hit in s.candidates.
  void Scan(const Paper& paper, PaperText* text, Scratch* s) const {
    if (reads_text) ScanText(paper, text, s);
    ScanAuthors(paper, s);
  }

  void ScanText(const Paper& paper, PaperText* text, Scratch* s) const {
    text->title = FoldText(paper.title);
    ScanField(text->title, kTitleBit, s);
    for (const std::string& bullet : paper.summary) {
      text->summary.push_back(FoldText(CleanSummary(bullet)));
      ScanField(text->summary.back(), kSummaryBit, s);
    }
    for (const std::string& tag : paper.tags) {
      text->tags.push_back(FoldText(tag));
      ScanField(text->tags.back(), kTagBit, s);
    }
  }

  void ScanAuthors(const Paper& paper, Scratch* s) const {
    if (!has_authors) return;
    for (const std::string& author : paper.authors) {
      const AuthorName listed = NormalizeAuthorName(author);
      if (listed.empty()) continue;
      const auto& index = listed.given.empty() ? b.single_authors : b.multi_authors;
      const auto it = index.find(listed.surname);
      if (it == index.end()) continue;
      for (const AuthorRule& rule : it->second) {
        if (AuthorNamesMatch(rule.name, listed)) MarkLeaf(rule.leaf, kAuthorBit, s);
      }
    }
  }

  void MarkLeaf(std::uint32_t l, std::uint8_t bit, Scratch* s) const {
    s->SetLeaf(l, bit);
    if (!hot[l].negative) s->MarkWatch(hot[l].watch);
  }

  void ScanField(std::string_view folded, std::uint8_t bit, Scratch* s) const {
    automaton.Scan(folded, [&](std::size_t p, std::size_t end) {
      if (s->pattern_bits[p] & bit) return;  // already verified in this field
      const Pattern& pattern = b.patterns[p];
      if (!MeetsBoundary(folded, end - pattern.length, end, pattern.boundary)) return;
      if (s->pattern_bits[p] == 0) s->touched_patterns.push_back(static_cast<std::uint32_t>(p));
      s->pattern_bits[p] |= bit;
      for (std::uint32_t l : pattern.leaves) {
        if (hot[l].fields & bit) MarkLeaf(l, bit, s);
      }
    });
  }

  // Sets the bits of watch w's leaves that are not found by scanning.
  void EvalOnDemand(std::uint32_t w, const Paper& paper, std::string_view source, PaperText* text,
                    Scratch* s) const {
    const CompiledWatch& cw = b.watches[w];
    for (std::uint32_t l = cw.leaf_begin; l < cw.leaf_end; ++l) {
      // The common kinds are decided from the packed HotLeaf, without loading the Leaf.
      const HotLeaf& h = hot[l];
      std::uint8_t bits = 0;
      switch (h.kind) {
        case LeafKind::kText:
        case LeafKind::kAuthor:
          continue;
        case LeafKind::kAll:
          s->SetLeaf(l, kOtherBit);
          continue;
        case LeafKind::kVotes:
          if (paper.votes && VotesMeet(*paper.votes, h.votes_op, h.votes)) {
            s->SetLeaf(l, kOtherBit);
          }
          continue;
        default:
          break;
      }
      const Leaf& leaf = b.leaves[l];
      switch (leaf.kind) {
        case LeafKind::kText:
        case LeafKind::kAuthor:
        case LeafKind::kAll:
        case LeafKind::kVotes:
          continue;
        case LeafKind::kSource:
          if (leaf.prefix ? source.starts_with(leaf.text) : source == leaf.text) bits = kOtherBit;
          break;
        case LeafKind::kRegex:
          if (leaf.fields & kTitleBit && RE2::PartialMatch(text->title, *leaf.regex))
            bits |= kTitleBit;
          if (leaf.fields & kSummaryBit) {
            for (const std::string& t : text->summary) {
              if (RE2::PartialMatch(t, *leaf.regex)) bits |= kSummaryBit;
            }
          }
          if (leaf.fields & kTagBit) {
            for (const std::string& t : text->tags) {
              if (RE2::PartialMatch(t, *leaf.regex)) bits |= kTagBit;
            }
          }
          if (leaf.fields & kAuthorBit) {
            FillAuthors(paper, text);
            for (const std::string& a : text->authors_folded) {
              if (RE2::PartialMatch(a, *leaf.regex)) bits |= kAuthorBit;
            }
          }
          break;
        case LeafKind::kAuthorPrefix:
          FillAuthors(paper, text);
          for (const std::string& key : text->author_keys) {
            if (key.find(" " + leaf.text) != std::string::npos) bits = kAuthorBit;
          }
          break;
      }
      if (bits != 0) s->SetLeaf(l, bits);
    }
  }

  static void FillAuthors(const Paper& paper, PaperText* text) {
    if (text->authors_done) return;
    text->authors_done = true;
    for (const std::string& a : paper.authors) {
      text->authors_folded.push_back(FoldText(a));
      const AuthorName name = NormalizeAuthorName(a);
      if (!name.empty()) text->author_keys.push_back(" " + AuthorKey(name));
    }
  }

  bool SourceSelected(std::uint32_t w, std::string_view source) const {
    const auto& sources = specs[w].sources;
    return sources.empty() || std::find(sources.begin(), sources.end(), source) != sources.end();
  }

  // Term ids of watch w's leaves with bits set and the wanted polarity, appended to `ids`.
  void AppendTermIds(std::uint32_t w, const Scratch& s, bool negative,
                     std::vector<std::uint32_t>* ids) const {
    const CompiledWatch& cw = b.watches[w];
    for (std::uint32_t l = cw.leaf_begin; l < cw.leaf_end; ++l) {
      const std::uint8_t bits = s.leaf_bits[l];
      if (bits == 0 || hot[l].negative != negative) continue;
      if ((bits & kTextFields) == 0) {
        ids->push_back(l * 4 + kNoField);
        continue;
      }
      for (std::uint32_t f = 0; f < 3; ++f) {
        if (bits & (1u << f)) ids->push_back(l * 4 + f);
      }
    }
  }

  std::string Label(std::uint32_t term_id) const {
    const std::size_t l = term_id / 4;
    if (l >= b.leaves.size()) return "";
    const std::uint32_t f = term_id % 4;
    if (f == kNoField) return b.leaves[l].label;
    return b.leaves[l].label + " (" + std::string(kFieldNames[f]) + ")";
  }

  // Labels of watch w's leaves with bits set and the wanted polarity.
  std::vector<std::string> Terms(std::uint32_t w, const Scratch& s, bool negative) const {
    std::vector<std::uint32_t> ids;
    AppendTermIds(w, s, negative, &ids);
    std::vector<std::string> terms;
    terms.reserve(ids.size());
    for (std::uint32_t id : ids) terms.push_back(Label(id));
    return terms;
  }
};

Result<WatchMatcher> WatchMatcher::Compile(std::vector<WatchSpec> specs) {
  auto impl = std::make_unique<Impl>();
  for (std::uint32_t w = 0; w < specs.size(); ++w) {
    if (Status s = impl->b.AddWatch(specs[w], w, nullptr, nullptr); !s) {
      return Unexpected(s.error());
    }
    if (impl->b.watches.back().always) impl->always.push_back(w);
  }
  if (impl->b.leaves.size() > kMaxLeaves) {
    return Unexpected("watch terms too many for the matcher: more than 2^30 selectors");
  }
  impl->hot.reserve(impl->b.leaves.size());
  for (const Leaf& leaf : impl->b.leaves) {
    impl->hot.push_back({.watch = leaf.watch,
                         .fields = leaf.fields,
                         .negative = leaf.negative,
                         .kind = leaf.kind,
                         .votes_op = leaf.votes_op,
                         .votes = leaf.votes});
  }
  impl->has_authors = !impl->b.single_authors.empty() || !impl->b.multi_authors.empty();
  impl->reads_text =
      !impl->b.patterns.empty() ||
      std::any_of(impl->b.leaves.begin(), impl->b.leaves.end(),
                  [](const Leaf& leaf) { return leaf.kind == LeafKind::kRegex; });
  Result<AhoCorasick> automaton = AhoCorasick::Build(impl->b.pattern_texts);
  if (!automaton) return Unexpected(automaton.error());
  impl->automaton = std::move(*automaton);
  // Swapped out, not assigned {}: that would keep the list's room (2.4 MB for 100,000
  // watches) for the life of the matcher.
  std::vector<std::string>().swap(impl->b.pattern_texts);
  impl->b.pattern_ids.clear();
  impl->specs = std::move(specs);
  return WatchMatcher(std::move(impl));
}

void WatchMatcher::Match(const Paper& paper, std::string_view source, WatchMatches* out) const {
  const Impl& m = *impl_;
  out->hits.clear();
  out->term_ids.clear();
  Scratch& s = ThreadScratch();
  const std::size_t watch_count = m.b.watches.size();
  s.Prepare(m.b.leaves.size(), m.b.patterns.size(), watch_count);
  m.Scan(paper, &s.text, &s);
  for (std::uint32_t w : m.always) s.MarkWatch(w);
  for (std::size_t i = 0; i < Scratch::WordCount(watch_count); ++i) {
    std::uint64_t word = s.watch_words[i];
    if (word == 0) continue;
    s.watch_words[i] = 0;
    for (; word != 0; word &= word - 1) {
      const auto w = static_cast<std::uint32_t>(i * 64 + std::countr_zero(word));
      const CompiledWatch& cw = m.b.watches[w];
      if (!cw.all_sources && !m.SourceSelected(w, source)) continue;
      if (cw.on_demand) m.EvalOnDemand(w, paper, source, &s.text, &s);
      if (Eval(m.b, cw.root, s.leaf_bits.data(), false)) {
        const auto begin = static_cast<std::uint32_t>(out->term_ids.size());
        m.AppendTermIds(w, s, false, &out->term_ids);
        const auto end = static_cast<std::uint32_t>(out->term_ids.size());
        out->hits.push_back(WatchHit{.watch = w, .terms_begin = begin, .terms_end = end});
      }
    }
  }
  s.Clear();
}

WatchMatches WatchMatcher::Match(const Paper& paper, std::string_view source) const {
  WatchMatches out;
  Match(paper, source, &out);
  return out;
}

std::string WatchMatcher::TermLabel(std::uint32_t term_id) const { return impl_->Label(term_id); }

std::vector<std::string> WatchMatcher::TermLabels(const WatchMatches& matches,
                                                  const WatchHit& hit) const {
  std::vector<std::string> labels;
  labels.reserve(hit.terms_end - hit.terms_begin);
  for (std::uint32_t id : matches.TermIds(hit)) labels.push_back(impl_->Label(id));
  return labels;
}

std::vector<WatchVerdict> WatchMatcher::Explain(const Paper& paper, std::string_view source) const {
  const Impl& m = *impl_;
  Scratch& s = ThreadScratch();
  s.Prepare(m.b.leaves.size(), m.b.patterns.size(), m.b.watches.size());
  m.Scan(paper, &s.text, &s);
  // Every watch is evaluated here, so the candidate bits are not needed.
  std::fill_n(s.watch_words.begin(), Scratch::WordCount(m.b.watches.size()), 0);
  std::vector<WatchVerdict> verdicts;
  for (std::uint32_t w = 0; w < m.b.watches.size(); ++w) {
    m.EvalOnDemand(w, paper, source, &s.text, &s);
    const std::uint32_t root = m.b.watches[w].root;
    WatchVerdict v{.watch = w, .terms = m.Terms(w, s, false), .excluded_by = m.Terms(w, s, true)};
    if (Eval(m.b, root, s.leaf_bits.data(), false)) {
      v.outcome = WatchVerdict::Outcome::kMatched;
    } else if (Eval(m.b, root, s.leaf_bits.data(), true)) {
      v.outcome = WatchVerdict::Outcome::kExcluded;
    }
    if (!m.SourceSelected(w, source)) v.outcome = WatchVerdict::Outcome::kSourceNotSelected;
    verdicts.push_back(std::move(v));
  }
  s.Clear();
  return verdicts;
}

const std::vector<WatchSpec>& WatchMatcher::specs() const { return impl_->specs; }

WatchMatcher::WatchMatcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WatchMatcher::WatchMatcher(WatchMatcher&&) noexcept = default;
WatchMatcher& WatchMatcher::operator=(WatchMatcher&&) noexcept = default;
WatchMatcher::~WatchMatcher() = default;

// ---- Lint ---------------------------------------------------------------------------------

namespace {

constexpr std::size_t kMaxLintVariables = 12;
constexpr std::uint32_t kNoNode = UINT32_MAX;

// Satisfiability of one watch by enumeration: each distinct literal/regex leaf key is a free
// variable (except that a hit of a term implies a hit of any prefix of it in the same or
// wider fields), votes and source take the values that tell their comparisons apart.
class WatchSolver {
 public:
  WatchSolver(const Builder& b, const WatchSpec& spec) : b_(b), spec_(spec) {
    const CompiledWatch& cw = b.watches.back();
    for (std::uint32_t l = cw.leaf_begin; l < cw.leaf_end; ++l) {
      const Leaf& leaf = b.leaves[l];
      if (leaf.kind == LeafKind::kVotes) {
        for (int d = -1; d <= 1; ++d) {
          if (leaf.votes + d >= 0) votes_.insert(leaf.votes + d);
        }
      } else if (leaf.kind == LeafKind::kSource) {
        sources_.insert(leaf.prefix ? leaf.text + "\x01" : leaf.text);
      } else if (leaf.kind != LeafKind::kAll) {
        auto [it, inserted] = var_of_key_.emplace(leaf.key, vars_.size());
        if (inserted) vars_.push_back(l);
      }
    }
    if (spec.min_votes) votes_.insert(*spec.min_votes);
    if (spec.sources.empty()) {
      sources_.insert("\x01");  // a source no leaf names
    } else {
      std::set<std::string> selected(spec.sources.begin(), spec.sources.end());
      sources_ = selected;
    }
    // A hit of term A implies a hit of prefix term B when B's text starts A's, in fields
    // that include A's.
    for (std::size_t i = 0; i < vars_.size(); ++i) {
      for (std::size_t j = 0; j < vars_.size(); ++j) {
        const Leaf& a = b.leaves[vars_[i]];
        const Leaf& c = b.leaves[vars_[j]];
        if (i == j || a.kind != LeafKind::kText || c.kind != LeafKind::kText) continue;
        const std::string& ta = b.pattern_texts[a.pattern];
        const std::string& tc = b.pattern_texts[c.pattern];
        const bool text_ok = c.prefix ? ta.starts_with(tc) : (!a.prefix && ta == tc);
        if (text_ok && (a.fields & c.fields) == a.fields) implies_.emplace_back(i, j);
      }
    }
  }

  bool Tractable() const { return vars_.size() <= kMaxLintVariables; }

  // True when some paper and source make `node` true (and `also_false` false, unless kNoNode).
  bool Satisfiable(std::uint32_t node, std::uint32_t also_false) const {
    std::vector<std::uint8_t> bits(b_.leaves.size(), 0);
    std::vector<std::optional<int>> vote_values = {std::nullopt};
    for (int v : votes_) vote_values.push_back(v);
    for (std::uint32_t mask = 0; mask < (1u << vars_.size()); ++mask) {
      bool consistent = true;
      for (const auto& [i, j] : implies_) {
        if ((mask >> i & 1) && !(mask >> j & 1)) consistent = false;
      }
      if (!consistent) continue;
      for (const std::optional<int>& votes : vote_values) {
        if (spec_.min_votes && !(votes && *votes >= *spec_.min_votes)) continue;
        for (const std::string& source : sources_) {
          const CompiledWatch& cw = b_.watches.back();
          for (std::uint32_t l = cw.leaf_begin; l < cw.leaf_end; ++l) {
            bits[l] = LeafValue(l, mask, votes, source);
          }
          if (Eval(b_, node, bits.data(), false) &&
              (also_false == kNoNode || !Eval(b_, also_false, bits.data(), false))) {
            return true;
          }
        }
      }
    }
    return false;
  }

 private:
  std::uint8_t LeafValue(std::uint32_t l, std::uint32_t mask, std::optional<int> votes,
                         std::string_view source) const {
    const Leaf& leaf = b_.leaves[l];
    switch (leaf.kind) {
      case LeafKind::kAll:
        return 1;
      case LeafKind::kVotes:
        return votes && VotesMeet(*votes, leaf.votes_op, leaf.votes);
      case LeafKind::kSource:
        return leaf.prefix ? source.starts_with(leaf.text) : source == leaf.text;
      default:
        return mask >> var_of_key_.at(leaf.key) & 1;
    }
  }

  const Builder& b_;
  const WatchSpec& spec_;
  std::vector<std::uint32_t> vars_;  // one leaf per distinct key
  std::map<std::string, std::size_t> var_of_key_;
  std::vector<std::pair<std::size_t, std::size_t>> implies_;
  std::set<int> votes_;
  std::set<std::string> sources_;
};

// The watch's tree with leaves replaced by their keys and OR/AND children sorted, so that
// equal rules written differently compare equal.
std::string Canonical(const Builder& b, std::uint32_t n) {
  const Node& node = b.nodes[n];
  if (node.op == Node::Op::kLeaf) return b.leaves[node.a].key;
  std::vector<std::string> parts;
  for (std::uint32_t k = node.a; k < node.b; ++k) parts.push_back(Canonical(b, b.kids[k]));
  if (node.op != Node::Op::kNot) std::sort(parts.begin(), parts.end());
  std::string out = node.op == Node::Op::kAnd ? "(&" : node.op == Node::Op::kOr ? "(|" : "(!";
  for (const std::string& p : parts) out += " " + p;
  return out + ")";
}

}  // namespace

namespace {

// The bare words of a query that spell an operator in lower case (`and`, `or`, `not`):
// operators are upper case only, so `diffusion and not video` searches for the words "and"
// and "not". Phrases and regexes are skipped; a field prefix (`title:and`) is a term.
std::vector<std::string> LowercaseOperators(std::string_view query) {
  std::vector<std::string> found;
  std::size_t i = 0;
  while (i < query.size()) {
    const char c = query[i];
    if (c == '"' || c == '/') {  // a phrase or a regex, with backslash escapes
      for (++i; i < query.size() && query[i] != c; ++i) {
        if (query[i] == '\\') ++i;
      }
      ++i;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c)) || c == '(' || c == ')') {
      ++i;
      continue;
    }
    const std::size_t start = i;
    while (i < query.size() && !std::isspace(static_cast<unsigned char>(query[i])) &&
           query[i] != '(' && query[i] != ')' && query[i] != '"') {
      ++i;
    }
    const std::string_view word = query.substr(start, i - start);
    if (word == "and" || word == "or" || word == "not") found.emplace_back(word);
  }
  return found;
}

}  // namespace

std::vector<WatchLint> LintWatches(const std::vector<WatchSpec>& specs) {
  std::vector<WatchLint> lints;
  for (std::size_t w = 0; w < specs.size(); ++w) {
    for (const std::string& word : LowercaseOperators(specs[w].query)) {
      std::string upper = word;
      for (char& ch : upper) ch = char(std::toupper(static_cast<unsigned char>(ch)));
      lints.push_back({w, "watch " + Quote(specs[w].name) + ": query has a lowercase \"" + word +
                              "\", which searches for that word; did you mean " + upper +
                              "? (operators are upper case)"});
    }
  }
  std::map<std::string, std::size_t> seen;  // canonical watch -> first index
  for (std::size_t w = 0; w < specs.size(); ++w) {
    const WatchSpec& spec = specs[w];
    Builder b;
    std::uint32_t positive = 0;
    std::uint32_t exclude_node = kNoNode;
    if (!b.AddWatch(spec, 0, &positive, &exclude_node)) continue;
    const std::string name = "watch " + Quote(spec.name);

    std::vector<std::string> sources = spec.sources;
    std::sort(sources.begin(), sources.end());
    std::string key = Canonical(b, b.watches.back().root) + "\x1f";
    for (const std::string& s : sources) key += s + ",";
    key += "\x1f" + (spec.min_votes ? std::to_string(*spec.min_votes) : "-");
    const auto [it, inserted] = seen.emplace(key, w);
    if (!inserted) {
      lints.push_back({w, name + ": duplicates watch " + Quote(specs[it->second].name) +
                              " (same selectors, exclude, sources and min_votes)"});
    }

    const WatchSolver solver(b, spec);
    if (!solver.Tractable()) continue;
    if (!solver.Satisfiable(positive, kNoNode)) {
      lints.push_back({w, name + ": can never match"});
    } else if (exclude_node != kNoNode && !solver.Satisfiable(positive, exclude_node)) {
      lints.push_back({w, name + ": its exclude list cancels every match"});
    }
  }
  return lints;
}

}  // namespace digestd
