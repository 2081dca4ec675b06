#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

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
  for (const WatchHit& h : m.Match(p, source)) out.push_back(h.watch);
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
  const std::vector<WatchHit> hits = m.Match(hit, "hf");
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].watch, 0u);
  EXPECT_EQ(hits[0].terms, (std::vector<std::string>{
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
  EXPECT_TRUE(m.Match(MakePaper("nothing here"), "hf").empty());
}

TEST(WatchMatcher, CompileErrors) {
  Result<WatchMatcher> query = WatchMatcher::Compile({{.name = "q", .query = "title:llm"}});
  ASSERT_FALSE(query);
  EXPECT_NE(query.error().message.find("\"q\""), std::string::npos);
  EXPECT_NE(query.error().message.find("query"), std::string::npos);

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
  EXPECT_TRUE(none->Match(MakePaper("LLM"), "hf").empty());
}

// ---- Randomised comparison with a per-watch reference ---------------------------------

// The straightforward evaluator: every watch, every term, std::string::find on folded text.
// Terms and rule names are normalised once up front, as a config load would.
class Reference {
 public:
  explicit Reference(const std::vector<WatchSpec>& specs) : specs_(specs) {
    for (const WatchSpec& s : specs) {
      for (const auto* list : {&s.keywords, &s.exclude}) {
        for (const std::string& raw : *list) terms_.emplace(raw, ParseTerm(raw));
      }
      for (const std::string& a : s.authors) names_.emplace(a, NormalizeAuthorName(a));
    }
  }

  std::vector<WatchHit> Match(const Paper& p, std::string_view source) const {
    std::vector<Field> fields = {{FoldText(p.title), "title"}};
    for (const std::string& b : p.summary) {
      fields.push_back({FoldText(CleanSummary(b)), "summary"});
    }
    for (const std::string& t : p.tags) fields.push_back({FoldText(t), "tag"});
    std::vector<AuthorName> listed;
    for (const std::string& a : p.authors) listed.push_back(NormalizeAuthorName(a));
    std::vector<WatchHit> out;
    for (std::size_t w = 0; w < specs_.size(); ++w) {
      const WatchSpec& s = specs_[w];
      if (!s.sources.empty() &&
          std::find(s.sources.begin(), s.sources.end(), source) == s.sources.end()) {
        continue;
      }
      bool excluded = false;
      for (const std::string& e : s.exclude) {
        for (const Field& f : fields) excluded = excluded || TermHits(terms_.at(e), f.text);
      }
      if (excluded) continue;
      WatchHit hit{.watch = w, .terms = {}};
      for (const std::string& k : s.keywords) {
        for (const char* name : {"title", "summary", "tag"}) {
          bool any = false;
          for (const Field& f : fields) {
            if (std::string_view(f.name) == name) any = any || TermHits(terms_.at(k), f.text);
          }
          if (any) hit.terms.push_back("keyword:" + k + " (" + name + ")");
        }
      }
      for (const std::string& a : s.authors) {
        bool any = false;
        for (const AuthorName& name : listed) {
          any = any || AuthorNamesMatch(names_.at(a), name);
        }
        if (any) hit.terms.push_back("author:" + a);
      }
      if (!hit.terms.empty()) out.push_back(std::move(hit));
    }
    return out;
  }

 private:
  struct Term {
    std::string text;
    bool prefix = false;
  };
  struct Field {
    std::string text;
    const char* name;
  };

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
  std::map<std::string, Term> terms_;
  std::map<std::string, AuthorName> names_;
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
    return s;
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
  Generator gen(424242);
  std::vector<WatchSpec> specs;
  for (int i = 0; i < 2000; ++i) specs.push_back(gen.Watch(i));
  const WatchMatcher m = MustCompile(specs);
  const Reference reference(specs);
  std::size_t fired = 0;
  for (int i = 0; i < 1000; ++i) {
    const Paper p = gen.MakeRandomPaper();
    const std::string source = gen.Uniform(0, 1) ? "hf" : "arxiv";
    const std::vector<WatchHit> got = m.Match(p, source);
    const std::vector<WatchHit> want = reference.Match(p, source);
    ASSERT_EQ(got.size(), want.size()) << "paper " << i << ": " << p.title;
    for (std::size_t k = 0; k < got.size(); ++k) {
      ASSERT_EQ(got[k].watch, want[k].watch) << "paper " << i;
      ASSERT_EQ(got[k].terms, want[k].terms) << "paper " << i << " watch " << got[k].watch;
    }
    fired += got.size();
  }
  // The generator must exercise both outcomes, or the comparison proves little.
  EXPECT_GT(fired, 1000u);
  EXPECT_LT(fired, 1000u * 2000u / 2);
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
    for (const WatchHit& h : m.Match(p, bytes(2))) EXPECT_LT(h.watch, specs.size());
  }
}

}  // namespace
}  // namespace digestd
