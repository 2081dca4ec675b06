#include <gtest/gtest.h>
#include <re2/re2.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/query.h"
#include "core/text.h"
#include "core/watch.h"

namespace digestd {
namespace {

Paper MakePaper(std::string title, std::vector<std::string> summary = {},
                std::vector<std::string> authors = {}, std::vector<std::string> tags = {}) {
  Paper p;
  p.key = "arxiv:0000.00000";
  p.title = std::move(title);
  p.summary = std::move(summary);
  p.authors = std::move(authors);
  p.tags = std::move(tags);
  return p;
}

WatchMatcher MustCompile(std::vector<WatchSpec> specs) {
  Result<WatchMatcher> m = WatchMatcher::Compile(std::move(specs));
  EXPECT_TRUE(m) << m.error().message;
  return std::move(*m);
}

std::vector<std::size_t> Fired(const WatchMatcher& m, const Paper& p,
                               std::string_view source = "hf") {
  std::vector<std::size_t> out;
  for (const WatchHit& h : m.Match(p, source).hits) out.push_back(h.watch);
  return out;
}

bool Fires(const WatchSpec& spec, const Paper& p, std::string_view source = "hf") {
  return !Fired(MustCompile({spec}), p, source).empty();
}

struct KeywordCase {
  std::string keyword;
  Paper paper;
  bool want;
};

TEST(WatchMatcher, Keywords) {
  const std::vector<KeywordCase> cases = {
      {"LLM", MakePaper("Scaling LLM inference"), true},
      {"LLM", MakePaper("Scaling LLMs"), false},
      {"LLM*", MakePaper("Scaling LLMs"), true},
      {"LLM*", MakePaper("reLLMs"), false},
      {"LLM", MakePaper("A survey (LLM)"), true},
      {"LLM", MakePaper("x", {"\uCD5C\uADFC LLM\uC744 \uD65C\uC6A9"}), true},  // LLM을
      {"llm", MakePaper("\uFF2C\uFF2C\uFF2D agents"), true},                   // full-width
      {"\uD76C\uC18C\uD654", MakePaper("x", {"\uD76C\uC18C\uD654\uB294 \uC911\uC694"}), true},
      {"\uBAA8\uB378", MakePaper("x", {"\uC5B8\uC5B4\uBAA8\uB378\uC744"}), true},
      {"sparse attention", MakePaper("x", {"uses sparse\n  attention"}), true},
      {"sparse attention", MakePaper("x", {"sparse", "attention"}), false},  // not across bullets
      {"sparse attention", MakePaper("sparse attentions"), false},
      {"What's New", MakePaper("x", {"***What's New***: \uC0C8 \uBC29\uBC95"}), false},
      {"What's New", MakePaper("What\u2019s new in RL"), true},
      {"bold term", MakePaper("x", {"a **bold** term"}), true},
      {"cs.CL", MakePaper("x", {}, {}, {"cs.CL"}), true},
      {"CL", MakePaper("x", {}, {}, {"cs.CL"}), true},            // '.' is no letter
      {"Hensman", MakePaper("x", {}, {"James Hensman"}), false},  // keywords skip authors
      {"A\\*", MakePaper("A* search"), true},
      {"A\\*", MakePaper("Any search"), false},
      {"\u00C9lodie", MakePaper("\u00E9lodie and friends"), true},
  };
  for (const KeywordCase& c : cases) {
    EXPECT_EQ(Fires(WatchSpec{.name = "w", .keywords = {c.keyword}}, c.paper), c.want)
        << "keyword: " << c.keyword << " title: " << c.paper.title;
  }
}

TEST(WatchMatcher, Authors) {
  const Paper paper = MakePaper("t", {}, {"James Hensman", "Thomas M\u00FCller", "DeepSeek-AI"});
  const std::vector<std::pair<std::string, bool>> cases = {
      {"J. Hensman", true},     {"James Hensman", true}, {"Hensman, James", true},
      {"Hensman James", false}, {"Thomas Muller", true}, {"T. M\u00FCller", true},
      {"Muller", false},        {"DeepSeek-AI", true},   {"DeepSeek-AI Team", false},
      {"DeepSeek", false},      {"Hensman", false},
  };
  for (const auto& [rule, want] : cases) {
    EXPECT_EQ(Fires(WatchSpec{.name = "w", .authors = {rule}}, paper), want) << rule;
  }
  EXPECT_TRUE(Fires(WatchSpec{.name = "w", .authors = {"James Hensman"}},
                    MakePaper("t", {}, {"J. Hensman"})));
  EXPECT_TRUE(Fires(WatchSpec{.name = "w", .authors = {"Jean-Pierre Dupont"}},
                    MakePaper("t", {}, {"Jean-Pierre Dupont"})));
  EXPECT_FALSE(Fires(WatchSpec{.name = "w", .authors = {"Tao"}}, MakePaper("t", {}, {"Tao Gui"})));
}

TEST(WatchMatcher, ExcludeSourcesAndTerms) {
  const std::vector<WatchSpec> specs = {
      {.name = "sparsity",
       .keywords = {"sparsity", "\uD76C\uC18C\uD654"},
       .authors = {"Torsten Hoefler"},
       .exclude = {"survey"}},
      {.name = "hf only", .keywords = {"sparsity"}, .sources = {"hf"}},
      {.name = "no positive", .exclude = {"sparsity"}},
  };
  const WatchMatcher m = MustCompile(specs);
  ASSERT_EQ(m.specs().size(), 3u);
  const Paper hit = MakePaper("Sparsity in LLMs", {"**What's New**: \uD76C\uC18C\uD654\uB294"},
                              {"Torsten Hoefler"}, {"sparsity"});
  const WatchMatches matches = m.Match(hit, "hf");
  const std::vector<WatchHit>& hits = matches.hits;
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].watch, 0u);
  EXPECT_EQ(m.TermLabels(matches, hits[0]), (std::vector<std::string>{
                               "keyword:sparsity (title)", "keyword:sparsity (tag)",
                               "keyword:\uD76C\uC18C\uD654 (summary)", "author:Torsten Hoefler"}));
  EXPECT_EQ(hits[1].watch, 1u);
  EXPECT_EQ(Fired(m, hit, "arxiv"), (std::vector<std::size_t>{0}));

  // The exclude cancels keyword and author hits alike, wherever it occurs.
  Paper survey = hit;
  survey.summary.push_back("A SURVEY of methods");
  EXPECT_EQ(Fired(m, survey, "hf"), (std::vector<std::size_t>{1}));
  Paper surveys = hit;
  surveys.title = "Sparsity surveys";  // "survey" has a word boundary: "surveys" is no hit
  EXPECT_EQ(Fired(m, surveys, "hf"), (std::vector<std::size_t>{0, 1}));
  EXPECT_TRUE(m.Match(MakePaper("nothing here"), "hf").hits.empty());
}

TEST(WatchMatcher, CompileErrors) {
  Result<WatchMatcher> query = WatchMatcher::Compile(
      {{.name = "ok", .query = "title:llm"}, {.name = "q", .query = "llm AND (a OR b"}});
  ASSERT_FALSE(query);
  EXPECT_EQ(query.error().message,
            "watch \"q\": query column 9: '(' is never closed\nllm AND (a OR b\n        ^");

  for (const WatchSpec& spec :
       {WatchSpec{.name = "k", .keywords = {"ok", "  \u200B "}},
        WatchSpec{.name = "k", .exclude = {"*"}}, WatchSpec{.name = "k", .authors = {"-."}}}) {
    Result<WatchMatcher> m = WatchMatcher::Compile({spec});
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().message.find("watch \"k\""), std::string::npos) << m.error().message;
    EXPECT_NE(m.error().message.find("empty"), std::string::npos) << m.error().message;
  }
  Result<WatchMatcher> none = WatchMatcher::Compile({});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->Match(MakePaper("LLM"), "hf").hits.empty());
}

struct QueryCase {
  std::string query;
  Paper paper;
  bool want;
  std::string source = "hf";
};

Paper WithVotes(Paper p, int votes) {
  p.votes = votes;
  return p;
}

TEST(Issue4, QueryForms) {
  const Paper llm =
      MakePaper("Speculative Decoding for LLMs",
                {"**What's New**: \uCD5C\uADFC LLM\uC744 \uD76C\uC18C\uD654\uB294 sampling"},
                {"Hongyang Zhang", "James Hensman"}, {"cs.CL"});
  const std::vector<QueryCase> cases = {
      {"llm", llm, true},  // LLM을 in the summary
      {"title:llm", llm, false},
      {"title:llm*", llm, true},
      {"title:LLMs", llm, true},
      {"\"speculative decoding\"", llm, true},
      {"\"decoding speculative\"", llm, false},
      {"title:\"speculative decoding\" OR summary:nothing", llm, true},
      {"summary:speculative", llm, false},
      {"summary:speculative AND summary:sampling", llm, false},
      {"title:speculative AND summary:sampling", llm, true},
      {"\uD76C\uC18C\uD654", llm, true},    // Hangul: substring of 희소화는
      {"summary:\uD76C\uC18C", llm, true},  // even a fragment
      {"what's", llm, false},               // the bold label is gone
      {"author:\"Hongyang Zhang\"", llm, true},
      {"author:\"H. Zhang\"", llm, true},
      {"author:Zhang", llm, false},  // one token matches one-token names only
      {"author:Hens*", llm, true},
      {"author:/hens/", llm, true},
      {"tag:cs.cl", llm, true},
      {"tag:cl", llm, true},
      {"title:cs.cl", llm, false},
      {"source:hf", llm, true},
      {"source:hf", llm, false, "arxiv"},
      {"source:h*", llm, true},
      {"*", llm, true},
      {"* -sampling", llm, false},
      {"NOT survey", llm, true},
      {"llm -survey", llm, true},
      {"llm NOT sampling", llm, false},
      {"llm AND NOT (sampling OR survey)", llm, false},
      {"(survey OR sampling) llm", llm, true},
      {"survey OR sampling llm", llm, true},
      {"survey OR (decoding -llm)", llm, false},
      {"/spec\\w+ive/", llm, true},
      {"title:/^spec/", llm, true},
      {"summary:/^spec/", llm, false},
      {"/LLM\\b/", llm, true},  // RE2's \b is ASCII: 을 ends the word, as our boundaries do
      {"votes>=5", WithVotes(llm, 5), true},
      {"votes>=5", WithVotes(llm, 4), false},
      {"votes>=5", llm, false},  // no votes never meets a comparison
      {"votes<5", llm, false},
      {"votes<5", WithVotes(llm, 4), true},
      {"votes=4 llm", WithVotes(llm, 4), true},
      {"votes>4 OR author:\"Nobody Here\"", WithVotes(llm, 4), false},
      {"and", MakePaper("rock and roll"), true},  // lowercase operators are words
      {"rock and roll", MakePaper("rock roll"), false},
      {"\"A*\"", MakePaper("A* search"), true},
      {"\"A*\"", MakePaper("Any search"), false},
      {"\uFF2C\uFF2C\uFF2D", MakePaper("llm"), true},  // full-width folds too
  };
  for (const QueryCase& c : cases) {
    EXPECT_EQ(Fires(WatchSpec{.name = "w", .query = c.query}, c.paper, c.source), c.want)
        << "query: " << c.query << " title: " << c.paper.title;
  }
}

TEST(Issue4, QueryAndListsCombine) {
  // Any positive selector fires; excludes veto the query too.
  const WatchSpec spec{
      .name = "w", .query = "title:diffusion", .keywords = {"sparsity"}, .exclude = {"survey"}};
  EXPECT_TRUE(Fires(spec, MakePaper("Diffusion models")));
  EXPECT_TRUE(Fires(spec, MakePaper("Sparsity")));
  EXPECT_FALSE(Fires(spec, MakePaper("Diffusion models: a survey")));
  EXPECT_FALSE(Fires(spec, MakePaper("Transformers")));
}

TEST(Issue4, HitTermsNameTheField) {
  const WatchMatcher m = MustCompile({{.name = "w",
                                       .query = "title:\"speculative decoding\" OR llm* OR "
                                                "votes>=5 OR author:\"J. Hensman\" -survey",
                                       .keywords = {"sampling"}}});
  Paper p = MakePaper("Speculative Decoding", {"LLMs and sampling"}, {"James Hensman"}, {"llm"});
  p.votes = 7;
  const WatchMatches matches = m.Match(p, "hf");
  ASSERT_EQ(matches.hits.size(), 1u);
  EXPECT_EQ(m.TermLabels(matches, matches.hits[0]),
            (std::vector<std::string>{"keyword:sampling (summary)",
                                      "query:title:\"speculative decoding\" (title)",
                                      "query:llm* (summary)", "query:llm* (tag)", "query:votes>=5",
                                      "query:author:\"J. Hensman\""}));
}

// Term ids render to the strings hits carried before they became ids; explain output,
// decisions and logs print them.
TEST(WatchMatcher, TermLabelsRenderTheFormerStrings) {
  const WatchMatcher m = MustCompile({
      {.name = "a", .keywords = {"Sparsity", "LLM*"}, .authors = {"T. Hoefler"}},
      {.name = "b", .query = "tag:cs.cl OR votes>=3 OR author:Hoef* OR /spars\\w+/"},
      {.name = "c", .keywords = {"\uD76C\uC18C\uD654"}, .exclude = {"survey"}},
  });
  Paper p = MakePaper("Sparsity for LLMs", {"\uD76C\uC18C\uD654\uB294 sparsity"},
                      {"Torsten Hoefler"}, {"cs.CL"});
  p.votes = 3;
  WatchMatches matches;
  m.Match(p, "hf", &matches);
  ASSERT_EQ(matches.hits.size(), 3u);
  EXPECT_EQ(m.TermLabels(matches, matches.hits[0]),
            (std::vector<std::string>{"keyword:Sparsity (title)", "keyword:Sparsity (summary)",
                                      "keyword:LLM* (title)", "author:T. Hoefler"}));
  EXPECT_EQ(m.TermLabels(matches, matches.hits[1]),
            (std::vector<std::string>{"query:tag:cs.cl (tag)", "query:votes>=3",
                                      "query:author:Hoef*", "query:/spars\\w+/ (title)",
                                      "query:/spars\\w+/ (summary)"}));
  EXPECT_EQ(m.TermLabels(matches, matches.hits[2]),
            (std::vector<std::string>{"keyword:\uD76C\uC18C\uD654 (summary)"}));
  // One id at a time renders the same, and each hit's ids are its own slice.
  const std::span<const std::uint32_t> ids = matches.TermIds(matches.hits[2]);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(m.TermLabel(ids[0]), "keyword:\uD76C\uC18C\uD654 (summary)");
  EXPECT_EQ(matches.term_ids.size(), 10u);

  // Reusing the result for another paper replaces, never appends.
  m.Match(MakePaper("a survey of sparsity"), "hf", &matches);
  ASSERT_EQ(matches.hits.size(), 2u);
  EXPECT_EQ(m.TermLabels(matches, matches.hits[0]),
            (std::vector<std::string>{"keyword:Sparsity (title)"}));
  EXPECT_EQ(m.TermLabels(matches, matches.hits[1]),
            (std::vector<std::string>{"query:/spars\\w+/ (title)"}));
  EXPECT_EQ(matches.term_ids.size(), 2u);
}

TEST(Issue4, ExplainGivesEveryWatchAVerdict) {
  const WatchMatcher m = MustCompile({
      {.name = "hit", .query = "llm"},
      {.name = "excluded by list", .keywords = {"llm"}, .exclude = {"survey"}},
      {.name = "excluded by NOT", .query = "llm -survey"},
      {.name = "other source", .query = "llm", .sources = {"arxiv"}},
      {.name = "miss", .query = "diffusion"},
      {.name = "author", .authors = {"Torsten Hoefler"}},
  });
  const Paper p = MakePaper("LLM survey", {}, {"T. Hoefler"});
  const std::vector<WatchVerdict> v = m.Explain(p, "hf");
  ASSERT_EQ(v.size(), 6u);
  using O = WatchVerdict::Outcome;
  EXPECT_EQ(v[0].outcome, O::kMatched);
  EXPECT_EQ(v[0].terms, (std::vector<std::string>{"query:llm (title)"}));
  EXPECT_EQ(v[1].outcome, O::kExcluded);
  EXPECT_EQ(v[1].terms, (std::vector<std::string>{"keyword:llm (title)"}));
  EXPECT_EQ(v[1].excluded_by, (std::vector<std::string>{"exclude:survey (title)"}));
  EXPECT_EQ(v[2].outcome, O::kExcluded);
  EXPECT_EQ(v[2].excluded_by, (std::vector<std::string>{"query:survey (title)"}));
  EXPECT_EQ(v[3].outcome, O::kSourceNotSelected);
  EXPECT_EQ(v[3].terms, (std::vector<std::string>{"query:llm (title)"}));
  EXPECT_EQ(v[4].outcome, O::kNoMatch);
  EXPECT_TRUE(v[4].terms.empty());
  EXPECT_EQ(v[5].outcome, O::kMatched);
  EXPECT_EQ(OutcomeName(v[3].outcome), "source not selected");
  // Explain and Match agree on what fires.
  std::vector<std::size_t> matched;
  for (const WatchVerdict& x : v) {
    if (x.outcome == O::kMatched) matched.push_back(x.watch);
  }
  EXPECT_EQ(matched, Fired(m, p, "hf"));
}

TEST(Issue4, LintWarnsWithoutFailing) {
  const std::vector<WatchSpec> specs = {
      {.name = "contradiction", .query = "llm AND NOT llm"},
      {.name = "votes", .query = "votes>=5 AND votes<3"},
      {.name = "fields", .query = "title:llm -llm"},
      {.name = "prefix", .query = "llms -llm*"},
      {.name = "source", .query = "source:hf", .sources = {"arxiv"}},
      {.name = "cancelled", .keywords = {"Survey"}, .exclude = {"survey"}},
      {.name = "cancelled query", .query = "title:survey", .exclude = {"survey"}},
      {.name = "fine", .query = "llm -survey", .exclude = {"benchmark"}},
      {.name = "only not", .query = "NOT survey"},
      {.name = "a", .keywords = {"LLM", "sparsity"}, .sources = {"hf"}},
      {.name = "b", .keywords = {"sparsity", "llm"}, .sources = {"hf"}},
      {.name = "c", .keywords = {"sparsity", "llm"}, .min_votes = 5, .sources = {"hf"}},
      {.name = "bad", .query = "(("},
      {.name = "q1", .query = "a OR (b c)"},
      {.name = "q2", .query = "(c AND b) OR a"},
  };
  std::vector<std::string> got;
  for (const WatchLint& l : LintWatches(specs)) {
    got.push_back(std::to_string(l.watch) + " " + l.message);
  }
  EXPECT_EQ(got, (std::vector<std::string>{
                     "0 watch \"contradiction\": can never match",
                     "1 watch \"votes\": can never match",
                     "2 watch \"fields\": can never match",
                     "3 watch \"prefix\": can never match",
                     "4 watch \"source\": can never match",
                     "5 watch \"cancelled\": its exclude list cancels every match",
                     "6 watch \"cancelled query\": its exclude list cancels every match",
                     "10 watch \"b\": duplicates watch \"a\" (same selectors, exclude, sources "
                     "and min_votes)",
                     "14 watch \"q2\": duplicates watch \"q1\" (same selectors, exclude, "
                     "sources and min_votes)",
                 }));
}

// ---- Randomised comparison with a per-watch reference ---------------------------------

// The straightforward evaluator: every watch, every term, std::string::find on folded text.
// Terms and rule names are normalised once up front, as a config load would.
class Reference {
 public:
  explicit Reference(const std::vector<WatchSpec>& specs) : specs_(specs) {
    for (const WatchSpec& s : specs) {
      keyword_terms_.emplace_back();
      for (const std::string& raw : s.keywords) keyword_terms_.back().push_back(ParseTerm(raw));
      exclude_terms_.emplace_back();
      for (const std::string& raw : s.exclude) exclude_terms_.back().push_back(ParseTerm(raw));
      for (const std::string& a : s.authors) names_.emplace(a, NormalizeAuthorName(a));
      queries_.push_back(s.query.empty() ? std::nullopt : std::optional(*ParseQuery(s.query)));
    }
  }

  struct Hit {
    std::size_t watch = 0;
    std::vector<std::string> terms;  // labelled as WatchHit's comment says
  };

  std::vector<Hit> Match(const Paper& p, std::string_view source) const {
    std::vector<Field> fields = {{FoldText(p.title), kNames[0]}};
    for (const std::string& b : p.summary) {
      fields.push_back({FoldText(CleanSummary(b)), kNames[1]});
    }
    for (const std::string& t : p.tags) fields.push_back({FoldText(t), kNames[2]});
    std::vector<AuthorName> listed;
    for (const std::string& a : p.authors) listed.push_back(NormalizeAuthorName(a));
    const Context ctx{fields, listed, p, source};
    std::vector<Hit> out;
    for (std::size_t w = 0; w < specs_.size(); ++w) {
      const WatchSpec& s = specs_[w];
      if (!s.sources.empty() &&
          std::find(s.sources.begin(), s.sources.end(), source) == s.sources.end()) {
        continue;
      }
      bool excluded = false;
      for (const Term& e : exclude_terms_[w]) {
        for (const Field& f : fields) excluded = excluded || TermHits(e, f.text);
      }
      if (excluded) continue;
      Hit hit{.watch = w, .terms = {}};
      for (std::size_t k = 0; k < s.keywords.size(); ++k) {
        for (const char* name : kNames) {
          bool any = false;
          for (const Field& f : fields) {
            if (f.name == name) any = any || TermHits(keyword_terms_[w][k], f.text);
          }
          if (any) hit.terms.push_back("keyword:" + s.keywords[k] + " (" + name + ")");
        }
      }
      for (const std::string& a : s.authors) {
        bool any = false;
        for (const AuthorName& name : listed) {
          any = any || AuthorNamesMatch(names_.at(a), name);
        }
        if (any) hit.terms.push_back("author:" + a);
      }
      const bool fires_before_query = !hit.terms.empty();
      bool query_true = false;
      if (queries_[w]) {
        query_true = Eval(queries_[w]->root, ctx);
        CollectTerms(queries_[w]->root, ctx, false, &hit.terms);
      }
      if (fires_before_query || query_true) out.push_back(std::move(hit));
    }
    return out;
  }

 private:
  struct Term {
    std::string text;
    bool prefix = false;
  };
  // Field names, compared by address.
  static constexpr const char* kNames[] = {"title", "summary", "tag"};
  struct Field {
    std::string text;
    const char* name;
  };
  struct Context {
    const std::vector<Field>& fields;
    const std::vector<AuthorName>& listed;
    const Paper& paper;
    std::string_view source;
  };

  static bool Looks(QueryField f, std::string_view name) {  // by value, not address
    return f == QueryField::kText || (f == QueryField::kTitle && name == "title") ||
           (f == QueryField::kSummary && name == "summary") ||
           (f == QueryField::kTag && name == "tag");
  }

  // The names of the text fields where a text leaf hits, in title, summary, tag order.
  static std::vector<std::string> FieldsHit(const QueryNode& n, const Context& ctx) {
    std::vector<std::string> out;
    for (const char* name : kNames) {
      if (!Looks(n.field, name)) continue;
      bool any = false;
      for (const Field& f : ctx.fields) {
        if (f.name != name) continue;
        if (n.op == QueryNode::Op::kRegex) {
          any = any || RE2::PartialMatch(f.text, *n.regex);
        } else {
          any = any || TermHits(Folded(n), f.text);
        }
      }
      if (any) out.push_back(name);
    }
    return out;
  }

  // Query terms folded once: the reference is slow enough as it is.
  static const Term& Folded(const QueryNode& n) {
    thread_local std::map<std::pair<std::string, bool>, Term> cache;
    auto [it, inserted] = cache.try_emplace({n.text, n.prefix});
    if (inserted) {
      it->second = Term{FoldText(n.text), n.prefix};
      std::string& t = it->second.text;
      while (n.prefix && !t.empty() && t.back() == ' ') t.pop_back();
    }
    return it->second;
  }

  static const AuthorName& Normalized(const std::string& name) {
    thread_local std::map<std::string, AuthorName> cache;
    auto [it, inserted] = cache.try_emplace(name);
    if (inserted) it->second = NormalizeAuthorName(name);
    return it->second;
  }

  static std::string Joined(const AuthorName& n) {
    std::string s;
    for (const std::string& g : n.given) s += " " + g;
    return s + " " + n.surname;
  }

  static bool Leaf(const QueryNode& n, const Context& ctx) {
    switch (n.op) {
      case QueryNode::Op::kAll:
        return true;
      case QueryNode::Op::kVotes: {
        if (!ctx.paper.votes) return false;
        const int v = *ctx.paper.votes;
        switch (n.votes_op) {
          case VotesOp::kGe:
            return v >= n.votes;
          case VotesOp::kGt:
            return v > n.votes;
          case VotesOp::kLe:
            return v <= n.votes;
          case VotesOp::kLt:
            return v < n.votes;
          case VotesOp::kEq:
            return v == n.votes;
        }
        return false;
      }
      default:
        break;
    }
    if (n.field == QueryField::kSource) {
      return n.prefix ? ctx.source.starts_with(n.text) : ctx.source == n.text;
    }
    if (n.field == QueryField::kAuthor) {
      for (std::size_t i = 0; i < ctx.listed.size(); ++i) {
        if (n.op == QueryNode::Op::kRegex) {
          if (RE2::PartialMatch(FoldText(ctx.paper.authors[i]), *n.regex)) return true;
          continue;
        } else if (n.prefix) {
          if (!ctx.listed[i].empty() &&
              Joined(ctx.listed[i]).find(Joined(Normalized(n.text))) != std::string::npos) {
            return true;
          }
        } else if (AuthorNamesMatch(Normalized(n.text), ctx.listed[i])) {
          return true;
        }
      }
      return false;
    }
    return !FieldsHit(n, ctx).empty();
  }

  static bool Eval(const QueryNode& n, const Context& ctx) {
    switch (n.op) {
      case QueryNode::Op::kAnd:
        return std::all_of(n.children.begin(), n.children.end(),
                           [&](const QueryNode& c) { return Eval(c, ctx); });
      case QueryNode::Op::kOr:
        return std::any_of(n.children.begin(), n.children.end(),
                           [&](const QueryNode& c) { return Eval(c, ctx); });
      case QueryNode::Op::kNot:
        return !Eval(n.children[0], ctx);
      default:
        return Leaf(n, ctx);
    }
  }

  // Positive leaves that hit, left to right, labelled as WatchHit::terms says.
  static void CollectTerms(const QueryNode& n, const Context& ctx, bool negative,
                           std::vector<std::string>* out) {
    if (n.op == QueryNode::Op::kAnd || n.op == QueryNode::Op::kOr) {
      for (const QueryNode& c : n.children) CollectTerms(c, ctx, negative, out);
      return;
    }
    if (n.op == QueryNode::Op::kNot) return CollectTerms(n.children[0], ctx, !negative, out);
    if (negative) return;
    const bool text = (n.op == QueryNode::Op::kTerm || n.op == QueryNode::Op::kRegex) &&
                      n.field != QueryField::kAuthor && n.field != QueryField::kSource;
    if (!text) {
      if (Leaf(n, ctx)) out->push_back("query:" + n.written);
      return;
    }
    for (const std::string& f : FieldsHit(n, ctx)) {
      out->push_back("query:" + n.written + " (" + f + ")");
    }
  }

  static Term ParseTerm(std::string_view raw) {
    Term t{FoldText(raw), false};
    if (t.text.size() >= 2 && t.text.ends_with("\\*")) {
      t.text.erase(t.text.size() - 2, 1);
    } else if (!t.text.empty() && t.text.back() == '*') {
      t.text.pop_back();
      t.prefix = true;
      while (!t.text.empty() && t.text.back() == ' ') t.text.pop_back();
    }
    return t;
  }

  static bool TermHits(const Term& term, const std::string& text) {
    const BoundaryRule rule = BoundaryFor(term.text, term.prefix);
    for (std::size_t at = text.find(term.text); at != std::string::npos;
         at = text.find(term.text, at + 1)) {
      if (MeetsBoundary(text, at, at + term.text.size(), rule)) return true;
    }
    return false;
  }

  const std::vector<WatchSpec>& specs_;
  std::vector<std::vector<Term>> keyword_terms_, exclude_terms_;
  std::map<std::string, AuthorName> names_;
  std::vector<std::optional<Query>> queries_;
};

class Generator {
 public:
  explicit Generator(std::uint32_t seed) : rng_(seed) {}

  // A curated tricky word, or one made of random syllables so that the vocabulary is large
  // and words share prefixes and suffixes ("mati", "matis", "rema").
  std::string Word() {
    if (Uniform(0, 2) == 0) return Pick(kWords);
    std::string w;
    for (int k = Uniform(1, 3); k > 0; --k) w += Pick(kSyllables);
    return w;
  }

  std::string Text(int max_words) {
    std::string out;
    const int n = Uniform(0, max_words);
    for (int i = 0; i < n; ++i) {
      if (i > 0 || Uniform(0, 3) == 0) out += Pick(kGlue);
      out += Word();
    }
    return out;
  }

  // A keyword: one to three words, sometimes a fragment of a word, sometimes a prefix.
  std::string Term() {
    std::string t = Word();
    if (Uniform(0, 3) == 0) t += " " + Word();
    if (Uniform(0, 8) == 0) t += " " + Word();
    if (Uniform(0, 5) == 0 && t.size() > 3) {  // a fragment, cut at a code point boundary
      std::size_t cut = t.size() / 2 + 1;
      while (cut < t.size() && (static_cast<unsigned char>(t[cut]) & 0xC0) == 0x80) ++cut;
      t.resize(cut);
    }
    if (FoldText(t).empty()) t = Word();
    if (Uniform(0, 4) == 0) t += "*";
    return t;
  }

  std::string Author() { return Pick(kAuthors); }

  WatchSpec Watch(int i) {
    WatchSpec s{.name = "w" + std::to_string(i)};
    for (int k = Uniform(0, 3); k > 0; --k) s.keywords.push_back(Term());
    for (int k = Uniform(0, 2) == 0 ? Uniform(1, 2) : 0; k > 0; --k) s.authors.push_back(Author());
    for (int k = Uniform(0, 3) == 0 ? 1 : 0; k > 0; --k) s.exclude.push_back(Term());
    if (Uniform(0, 5) == 0) s.sources = {Uniform(0, 1) ? "hf" : "arxiv"};
    if (Uniform(0, 1) == 0) s.query = QueryText(0);
    return s;
  }

  // A query written the way people write them: bare words where they parse as one term,
  // quoted phrases otherwise, fields, prefixes, NOT/-, explicit and implicit AND, OR, parens.
  std::string QueryText(int depth) {
    const int pick = depth >= 3 ? Uniform(0, 9) : Uniform(0, 14);
    if (pick <= 9) return QueryLeaf();
    const std::string a = QueryText(depth + 1), b = QueryText(depth + 1);
    switch (pick) {
      case 10:
        return a + " " + b;
      case 11:
        return a + " AND " + b;
      case 12:
        return "(" + a + " OR " + b + ")";
      case 13:
        return a + " OR " + b;
      default:
        return (Uniform(0, 1) ? "NOT " : "-") + std::string("(") + a + ")";
    }
  }

  std::string QueryLeaf() {
    static constexpr const char* kFields[] = {"", "", "", "title:", "summary:", "tag:"};
    std::string leaf;
    switch (Uniform(0, 19)) {
      case 0:
        return "votes>=" + std::to_string(Uniform(0, 100));
      case 1:
        return Uniform(0, 1) ? "votes<" + std::to_string(Uniform(0, 100)) : "source:hf";
      case 2:
        return "author:\"" + Author() + "\"";
      case 3:
        return Uniform(0, 3) ? "author:" + std::string(Uniform(0, 1) ? "Hens*" : "\"J Du\"*") : "*";
      case 4:
        return Pick(kFields) + std::string(Uniform(0, 1) ? "/ll?ms?/" : "/\\bmat[a-z]*/");
      default:
        break;
    }
    std::string word = Word();
    if (Uniform(0, 3) == 0) word += " " + Word();
    const bool prefix = Uniform(0, 4) == 0;
    bool bare = word[0] != '-';
    for (char c : word) {
      bare =
          bare && c != ' ' && c != '(' && c != ')' && c != '"' && c != '\\' && c != '*' && c != ':';
    }
    if (word == "AND" || word == "OR" || word == "NOT") bare = false;
    if (!bare) {
      std::string quoted = "\"";
      for (char c : word) {
        if (c == '"' || c == '\\') quoted += '\\';
        quoted += c;
      }
      word = quoted + "\"";
    }
    std::string out = Pick(kFields) + word + (prefix ? "*" : "");
    if (Uniform(0, 6) == 0) out = "-" + out;
    return out;
  }

  Paper MakeRandomPaper() {
    Paper p;
    p.title = Text(8);
    for (int k = Uniform(0, 4); k > 0; --k) {
      std::string bullet = Text(12);
      if (Uniform(0, 2) == 0) bullet = Pick(kLabels) + bullet;
      p.summary.push_back(bullet);
    }
    for (int k = Uniform(0, 4); k > 0; --k) p.authors.push_back(Author());
    for (int k = Uniform(0, 2); k > 0; --k) p.tags.push_back(Word());
    if (Uniform(0, 2) != 0) p.votes = Uniform(0, 100);
    return p;
  }

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

 private:
  template <std::size_t N>
  std::string Pick(const char* const (&items)[N]) {
    return items[static_cast<std::size_t>(Uniform(0, static_cast<int>(N) - 1))];
  }
  static constexpr const char* kWords[] = {
      "LLM",
      "LLMs",
      "llm",
      "reLLM",
      "sparsity",
      "Sparse",
      "attention",
      "agent",
      "reagent",
      "GPT-4",
      "GPT-4o",
      "\u00DCber",
      "uber",
      "Stra\u00DFe",
      "strasse",
      "\u039F\u0394\u039F\u03A3",
      "\u03BF\u03B4\u03BF\u03C2",
      "\uFF2C\uFF2C\uFF2D",
      "What's",
      "New",
      "model",
      "\uD76C\uC18C\uD654",
      "\uD76C\uC18C\uD654\uB294",
      "\uBAA8\uB378",
      "\uC5B8\uC5B4\uBAA8\uB378\uC744",
      "LLM\uC744",
      "\uC5D0\uC774\uC804\uD2B8",
      "(LLM)",
      "LLM-based",
      "**bold**",
      "[link](u)",
      "k_inf",
      "A*",
      "x",
      "e\u0301",
      "\u00E9",
  };
  static constexpr const char* kSyllables[] = {
      "ma",           "ti",     "lo",     "Re",     "s",      "an",     "LLM",    "gen", "\u00E9",
      "\u03C3\u03B1", "\uBAA8", "\uB378", "\uC744", "\uD654", "\uB294", "\u3042", "-",   "4",
  };
  static constexpr const char* kGlue[] = {" ", " ", " ", "  ", "\n", ", ", " (", ") ", "-", ""};
  static constexpr const char* kLabels[] = {
      "**What's New**: ", "***Technical Details***: ", "**Note:** "};
  static constexpr const char* kAuthors[] = {
      "James Hensman",
      "J. Hensman",
      "Hensman, James",
      "Hensman James",
      "Torsten Hoefler",
      "T. Hoefler",
      "Thomas M\u00FCller",
      "T. Muller",
      "M\u00FCller",
      "Muller",
      "DeepSeek-AI",
      "DeepSeek-AI Team",
      "Jean-Pierre Dupont",
      "J. Dupont",
      "Jean Dupont",
      "Tao",
      "Tao Gui",
      "\uAE40\uCCA0\uC218",
  };
  std::mt19937 rng_;
};

TEST(WatchMatcher, AgreesWithReferenceOnRandomWatches) {
  // Half of the watches carry a query; sizes keep the test to a few seconds under ASan.
  constexpr int kWatches = 1200, kPapers = 700;
  Generator gen(424242);
  std::vector<WatchSpec> specs;
  for (int i = 0; i < kWatches; ++i) specs.push_back(gen.Watch(i));
  const WatchMatcher m = MustCompile(specs);
  const Reference reference(specs);
  std::size_t fired = 0, fired_with_query = 0;
  WatchMatches matches;
  for (int i = 0; i < kPapers; ++i) {
    const Paper p = gen.MakeRandomPaper();
    const std::string source = gen.Uniform(0, 1) ? "hf" : "arxiv";
    // One WatchMatches for every paper, as a caller reusing it would: nothing may leak from
    // one paper's hits into the next.
    m.Match(p, source, &matches);
    const std::vector<WatchHit>& got = matches.hits;
    const std::vector<Reference::Hit> want = reference.Match(p, source);
    ASSERT_EQ(got.size(), want.size()) << "paper " << i << ": " << p.title;
    for (std::size_t k = 0; k < got.size(); ++k) {
      ASSERT_EQ(got[k].watch, want[k].watch) << "paper " << i;
      ASSERT_EQ(m.TermLabels(matches, got[k]), want[k].terms)
          << "paper " << i << " watch " << got[k].watch;
    }
    fired += got.size();
    for (const WatchHit& h : got) {
      if (!specs[h.watch].query.empty()) ++fired_with_query;
    }
  }
  // The generator must exercise both outcomes, or the comparison proves little.
  EXPECT_GT(fired, 1000u);
  EXPECT_GT(fired_with_query, 1000u);
  EXPECT_LT(fired, std::size_t{kWatches} * kPapers / 2);
}

TEST(WatchMatcher, ArbitraryBytesDoNotCrash) {
  Generator gen(99);
  std::vector<WatchSpec> specs;
  for (int i = 0; i < 200; ++i) specs.push_back(gen.Watch(i));
  const WatchMatcher m = MustCompile(specs);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> byte(0, 255);
  auto bytes = [&](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += static_cast<char>(byte(rng));
    return s;
  };
  for (int i = 0; i < 500; ++i) {
    Paper p = MakePaper(bytes(40), {bytes(80), "**" + bytes(10) + "**:" + bytes(10)},
                        {bytes(12), bytes(3)}, {bytes(5)});
    for (const WatchHit& h : m.Match(p, bytes(2)).hits) EXPECT_LT(h.watch, specs.size());
  }
}

}  // namespace
}  // namespace digestd

namespace digestd {
namespace {

// Issue 11: `diffusion and not video` searched for the words "and" and "not".
TEST(Issue11, LowercaseOperatorsInAQueryAreCaught) {
  const std::vector<WatchSpec> specs = {
      {.name = "lower", .query = "diffusion and not video"},
      {.name = "upper", .query = "diffusion AND NOT video"},
      {.name = "quoted", .query = "\"rock and roll\" OR /a or b/ OR title:or"},
      {.name = "nested", .query = "(llm or(agents))"},
  };
  std::vector<std::string> got;
  for (const WatchLint& l : LintWatches(specs)) {
    got.push_back(std::to_string(l.watch) + " " + l.message);
  }
  EXPECT_EQ(got, (std::vector<std::string>{
                     "0 watch \"lower\": query has a lowercase \"and\", which searches for that "
                     "word; did you mean AND? (operators are upper case)",
                     "0 watch \"lower\": query has a lowercase \"not\", which searches for that "
                     "word; did you mean NOT? (operators are upper case)",
                     "3 watch \"nested\": query has a lowercase \"or\", which searches for that "
                     "word; did you mean OR? (operators are upper case)",
                 }));
}

}  // namespace
}  // namespace digestd
