#include "core/text.h"

#include <gtest/gtest.h>
#include <utf8proc.h>

#include <random>
#include <string>
#include <vector>

#include "core/utf8.h"

namespace digestd {
namespace {

struct FoldCase {
  std::string in;
  std::string want;
};

TEST(FoldText, NormalisesAndCaseFolds) {
  const std::vector<FoldCase> cases = {
      {"LLM", "llm"},
      {"\uFF2C\uFF2C\uFF2D", "llm"},                             // full-width ＬＬＭ
      {"\u00C9lodie", "\u00E9lodie"},                            // É → é
      {"E\u0301lodie", "\u00E9lodie"},                           // decomposed é composes
      {"Stra\u00DFe", "strasse"},                                // ß → ss
      {"\u039F\u0394\u039F\u03A3", "\u03BF\u03B4\u03BF\u03C3"},  // ΟΔΟΣ → οδοσ
      {"\u03BF\u03B4\u03BF\u03C2", "\u03BF\u03B4\u03BF\u03C3"},  // final ς → σ
      {"\u1112\u1161\u11AB\u1100\u116E\u11A8", "\uD55C\uAD6D"},  // NFD jamo → 한국
      {"\uFB01ne \u2460", "fine 1"},                             // ligature, circled digit
      // Turkish dotted İ folds to i + combining dot above (full case folding), so "istanbul"
      // does not match "İstanbul"; accepted, Turkish-specific folding would break English.
      {"\u0130stanbul", "i\u0307stanbul"},
      {"What\u2019s New", "what's new"},  // curly apostrophe lumped
      {"state\u2010of\u2010the\u2010art", "state-of-the-art"},
      {"soft\u00ADhyphen zero\u200Bwidth", "softhyphen zerowidth"},
      {"  a \n\t b\r\n\r\nc  ", "a b c"},
      {"a\u00A0\u3000b", "a b"},     // no-break and ideographic spaces
      {"a\u2028b\u0085c", "a b c"},  // line separator, NEL
      {"x\x01y", "x y"},             // control characters separate
      {"", ""},
      {"\xFF\xFEx", "\uFFFD\uFFFDx"},  // invalid bytes replaced
  };
  for (const FoldCase& c : cases) {
    EXPECT_EQ(FoldText(c.in), c.want) << "input: " << c.in;
  }
}

TEST(FoldText, ArbitraryBytesGiveValidUtf8) {
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 64);
  for (int round = 0; round < 3000; ++round) {
    std::string in;
    const int n = length(rng);
    for (int i = 0; i < n; ++i) in += static_cast<char>(byte(rng));
    const std::string folded = FoldText(in);
    EXPECT_TRUE(IsValidUtf8(folded));
    EXPECT_EQ(folded, Trim(folded));
    EXPECT_EQ(folded.find("  "), std::string::npos);
    EXPECT_TRUE(IsValidUtf8(CleanSummary(in)));
    const AuthorName name = NormalizeAuthorName(in);
    EXPECT_TRUE(IsValidUtf8(name.surname));
  }
}

// FoldText as one utf8proc_map call over the whole text and a code point at a time
// collapse: what the run-at-a-time fast paths must agree with.
std::string ReferenceFold(const std::string& text) {
  const std::string valid = ToValidUtf8(text);
  utf8proc_uint8_t* mapped = nullptr;
  const auto n = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(valid.data()),
      static_cast<utf8proc_ssize_t>(valid.size()), &mapped,
      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                                     UTF8PROC_CASEFOLD | UTF8PROC_IGNORE | UTF8PROC_LUMP));
  const std::string folded(reinterpret_cast<const char*>(mapped), static_cast<std::size_t>(n));
  std::free(mapped);
  std::string out;
  bool pending_space = false;
  for (std::size_t i = 0; i < folded.size();) {
    utf8proc_int32_t cp = 0;
    const auto len = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(&folded[i]),
                                      static_cast<utf8proc_ssize_t>(folded.size() - i), &cp);
    const auto cat = utf8proc_category(cp);
    if (cp <= 0x20 || (cp >= 0x7F && cp <= 0x9F) || cat == UTF8PROC_CATEGORY_ZS ||
        cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP) {
      pending_space = !out.empty();
    } else {
      if (pending_space) out += ' ';
      pending_space = false;
      out.append(folded, i, static_cast<std::size_t>(len));
    }
    i += static_cast<std::size_t>(len);
  }
  return out;
}

TEST(FoldText, AgreesWithOneUtf8procMapOfTheWholeText) {
  // What composes, decomposes, folds or separates, beside ASCII and Hangul syllables.
  const std::vector<std::string> pieces = {
      "A", "z", "Q", "7", "@", "[", "`", "{", "Z", "a", "Mixed Case Words", " ", "  ", "\t",
      "\n", "\x01", "\x7F", "-", "\u00C9", "E\u0301",
      "\u0301", "\u00DF", "\u03A3", "\u03C2", "\uD55C", "\uAD6D", "\uAC00", "\uD7A3",
      "\u1112", "\u1161", "\u11AB", "\u11A8", "\u3131", "\uFF21", "\uFB01", "\u2460",
      "\u2019", "\u2010", "\u00AD", "\u200B", "\u00A0", "\u3000", "\u2028", "\u0085",
      "\u1680", "\u2009", "\u202F", "\u205F", "\u2029", "\u0090",
      "\u0130", "\u4E00", "\uF900", "\u1E9E", "\xFF", "\xED\xA0\x80", "\xEA\xB0",
      // Invalid bytes next to the runs copied straight: made valid where they are, as the
      // whole text would be (a lone lead or continuation, truncated and overlong forms).
      "\x80", "\xBF", "\xC3", "\xEB", "\xE0\xA0", "\xF0\x9F\x98", "\xC0\xAF",
      "\xF8\x88\x80\x80\x80"};
  std::mt19937 rng(20261203);
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
  std::uniform_int_distribution<int> length(0, 24);
  for (int round = 0; round < 20000; ++round) {
    std::string in;
    for (int k = length(rng); k > 0; --k) in += pieces[pick(rng)];
    ASSERT_EQ(FoldText(in), ReferenceFold(in)) << "input: " << in;
  }
  // ASCII alone (its own path), every byte from 0x01 to 0x7F, around each letter's edges.
  std::uniform_int_distribution<int> ascii(1, 0x7F);
  for (int round = 0; round < 20000; ++round) {
    std::string in;
    for (int k = length(rng) * 2; k > 0; --k) in += static_cast<char>(ascii(rng));
    ASSERT_EQ(FoldText(in), ReferenceFold(in)) << "input: " << in;
  }
}

struct CleanCase {
  std::string in;
  std::string want;
};

TEST(CleanSummary, RemovesMarkdownAndLeadingLabel) {
  const std::vector<CleanCase> cases = {
      {"***What's New***: \uC774 \uB17C\uBB38\uC740", "\uC774 \uB17C\uBB38\uC740"},
      {"**What's New**: A new method.", "A new method."},
      {"**Performance Highlights**:   +3.2 points", "+3.2 points"},
      {"***Technical Details***:x", "x"},
      {"**Note:** colon inside", "colon inside"},
      {"__Label__ : underscores", "underscores"},
      {"- **What's New**: with a list marker", "with a list marker"},
      {"**What's New** without a colon", "What's New without a colon"},
      {"*Italic*: not bold, kept", "Italic: not bold, kept"},
      {"We use **LLM**\uC744 and *sparse* _attention_.", "We use LLM\uC744 and sparse attention."},
      {"See [the paper](https://arxiv.org/abs/1) now", "See the paper now"},
      {"![diagram](x.png) caption", "diagram caption"},
      {"[**bold link**](u)", "bold link"},
      {"code `x * y` and ``a`b``", "code x * y and a`b"},
      {"snake k_inf and Whisper_Streaming stay", "snake k_inf and Whisper_Streaming stay"},
      {"A* search and 2 * 3", "A* search and 2 * 3"},
      {"escaped \\*stars\\* and \\_under\\_", "escaped *stars* and _under_"},
      {"~~struck~~ but ~5% kept", "struck but ~5% kept"},
      {"autolink <https://example.org/a>", "autolink https://example.org/a"},
      {"[IDK] tags and <think> stay", "[IDK] tags and <think> stay"},
      {"unclosed [link](", "unclosed [link]("},
      {"  padded  ", "padded"},
  };
  for (const CleanCase& c : cases) {
    EXPECT_EQ(CleanSummary(c.in), c.want) << "input: " << c.in;
  }
}

TEST(CleanSummary, AdversarialNestingStaysBounded) {
  const std::string brackets(200000, '[');
  EXPECT_EQ(CleanSummary(brackets).size(), brackets.size());
  std::string nested;
  for (int i = 0; i < 1000; ++i) nested += "[";
  nested += "x";
  for (int i = 0; i < 1000; ++i) nested += "](u)";
  EXPECT_TRUE(IsValidUtf8(CleanSummary(nested)));
  const std::string ticks(100000, '`');
  EXPECT_EQ(CleanSummary(ticks), "");
}

TEST(IsWordCodePoint, SpacedScriptsOnly) {
  for (char32_t cp : {U'a', U'Z', U'0', U'9', U'\u00E9', U'\u03C3', U'\u0436', U'\u0301'}) {
    EXPECT_TRUE(IsWordCodePoint(cp)) << static_cast<std::uint32_t>(cp);
  }
  for (char32_t cp : {U'\uD55C', U'\u1100', U'\u6F22', U'\u3042', U'\u30A2', U'\u0E01', U'-', U'_',
                      U'(', U' ', U'\'', U'.', U'\uFFFD'}) {
    EXPECT_FALSE(IsWordCodePoint(cp)) << static_cast<std::uint32_t>(cp);
  }
}

// True when folded `term` occurs in folded `text` somewhere meeting its boundary rule.
bool Finds(std::string_view text, std::string_view term, bool prefix = false) {
  const std::string t = FoldText(text), p = FoldText(term);
  const BoundaryRule rule = BoundaryFor(p, prefix);
  for (std::size_t at = t.find(p); at != std::string::npos; at = t.find(p, at + 1)) {
    if (MeetsBoundary(t, at, at + p.size(), rule)) return true;
  }
  return false;
}

struct BoundaryCase {
  std::string text;
  std::string term;
  bool prefix;
  bool want;
};

TEST(Boundary, LatinNeedsWordEdgesHangulDoesNot) {
  const std::vector<BoundaryCase> cases = {
      {"LLM", "LLM", false, true},
      {"LLMs", "LLM", false, false},
      {"LLMs", "LLM", true, true},
      {"LLM", "LLM", true, true},
      {"reLLM", "LLM", true, false},
      {"reLLM", "LLM", false, false},
      {"(LLM)", "LLM", false, true},
      {"LLM\uC744 \uC0AC\uC6A9", "LLM", false, true},  // LLM을
      {"\uBA40\uD2F0\uBAA8\uB2EC LLMs(", "LLM", false, false},
      {"LLM-based", "LLM", false, true},
      {"LLM's", "LLM", false, true},
      {"GPT-4o", "GPT-4", false, false},
      {"GPT-4, GPT-4o", "GPT-4", false, true},
      {"agent in reagent", "agent", false, true},
      {"reagents", "agent", false, false},
      {"\u00FCberLLM", "LLM", false, false},                            // ü is a Latin letter
      {"\uD76C\uC18C\uD654\uB294", "\uD76C\uC18C\uD654", false, true},  // 희소화는 ⊃ 희소화
      {"\uC5B8\uC5B4\uBAA8\uB378\uC744", "\uBAA8\uB378", false, true},  // 언어모델을 ⊃ 모델
      {"\uBAA8\uB378LLM", "LLM", false, true},                // Hangul before Latin is no word
      {"xLLM\uBAA8\uB378", "LLM\uBAA8\uB378", false, false},  // left end is Latin
      {"sparse  mixture\nof experts", "sparse mixture of experts", false, true},
      {"\u03B1\u03BB\u03C6\u03B1", "\u03BB\u03C6", false, false},  // inside a Greek word
  };
  for (const BoundaryCase& c : cases) {
    EXPECT_EQ(Finds(c.text, c.term, c.prefix), c.want)
        << "text: " << c.text << " term: " << c.term << (c.prefix ? "*" : "");
  }
}

struct AuthorCase {
  std::string rule;
  std::string listed;
  bool want;
};

TEST(AuthorNames, NormaliseAndMatch) {
  const std::vector<AuthorCase> cases = {
      {"James Hensman", "James Hensman", true},
      {"J. Hensman", "James Hensman", true},
      {"James Hensman", "J. Hensman", true},
      {"J Hensman", "James Hensman", true},
      {"Hensman, James", "James Hensman", true},
      {"Hensman, J.", "James Hensman", true},
      // Without a comma the last token is the surname: word order is not guessed.
      {"Hensman James", "James Hensman", false},
      {"K. Hensman", "James Hensman", false},
      {"James Hensman", "James T. Hensman", true},  // a missing middle name is allowed
      {"James Hensman", "Hensman", false},
      {"Thomas M\u00FCller", "Thomas Muller", true},
      {"thomas muller", "THOMAS M\u00DCLLER", true},
      {"M\u00FCller", "Muller", true},
      {"M\u00FCller", "Thomas M\u00FCller", false},  // one-token rule: one-token names only
      {"DeepSeek-AI", "DeepSeek-AI", true},
      {"DeepSeek-AI", "deepseek ai", false},
      {"DeepSeek-AI", "DeepSeekAI", true},
      {"DeepSeek-AI", "DeepSeek-AI Team", false},
      {"Tao", "Tao Gui", false},
      {"Jean-Pierre Sartre", "Jean-Pierre Sartre", true},
      {"Jean-Pierre Sartre", "J. Sartre", true},
      {"Jean-Pierre Sartre", "Jean Sartre", false},  // hyphenated given name is one token
      {"\u0141ukasz Kaiser", "Lukasz Kaiser", true},
      {"Martin Luther King Jr.", "Martin Luther King", true},
      {"Torsten Hoefler", "Torsten Hoefler", true},
      {"Torsten Hoefler", "Torsten Hoefle", false},  // no substring matches
      {"\uAE40\uCCA0\uC218", "\uAE40\uCCA0\uC218", true},
  };
  for (const AuthorCase& c : cases) {
    EXPECT_EQ(AuthorNamesMatch(NormalizeAuthorName(c.rule), NormalizeAuthorName(c.listed)), c.want)
        << "rule: " << c.rule << " listed: " << c.listed;
  }
}

TEST(AuthorNames, Tokens) {
  const AuthorName n = NormalizeAuthorName("  O\u2019Brien,  J.-P. ");
  EXPECT_EQ(n.surname, "obrien");
  EXPECT_EQ(n.given, (std::vector<std::string>{"j", "p"}));
  EXPECT_TRUE(NormalizeAuthorName(" .,-' ").empty());
  EXPECT_TRUE(NormalizeAuthorName("").empty());
}

}  // namespace
}  // namespace digestd
