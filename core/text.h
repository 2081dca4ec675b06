// Text as watch rules compare it (DESIGN.md §6): Unicode folding, summary cleaning, word
// boundaries and author-name normalisation. Pure functions over any bytes (invalid UTF-8 is
// replaced first); thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace digestd {

// NFKC + full Unicode case folding (ß → ss, ς → σ, ＬＬＭ → llm, NFD jamo → NFC Hangul),
// default-ignorable characters (soft hyphen, zero-width space/joiner) dropped, look-alike
// punctuation lumped to ASCII (’ → ', ‐ − → -), and every run of whitespace or control
// characters made one space, ends trimmed. Turkish İ folds to "i̇" (i + U+0307), not "i".
// The result is valid UTF-8 whatever the input.
std::string FoldText(std::string_view text);

// Letters of `text` by script, for telling which language a source writes in: Hangul
// syllables and jamo, and Latin letters (ASCII and the Latin blocks). Invalid UTF-8 counts
// as neither.
struct ScriptCounts {
  long long hangul = 0;
  long long latin = 0;
};
ScriptCounts CountScripts(std::string_view text);

// "1 paper", "2 papers", "0 papers": a count with its noun in the right number (`many`
// defaults to `one` + "s").
std::string Counted(long long n, std::string_view one, std::string_view many = {});

// A summary bullet as rules see it: markdown syntax removed (emphasis *, _, ~~; code
// backticks; [text](url) and ![alt](url) become text/alt; backslash escapes resolved) and a
// leading bold label ending in a colon (`**What's New**:`, `***Technical Details***:`,
// `**Note:**`) dropped. Not folded; valid UTF-8 whatever the input.
std::string CleanSummary(std::string_view bullet);

// True when `cp` is a letter, digit or combining mark of a script written with spaces
// between words (Latin, Greek, Cyrillic and the like): such characters next to a term end
// mean the term is only part of a word. Hangul, Han, kana, Thai and other unspaced scripts
// are not word characters: terms in them match as substrings.
bool IsWordCodePoint(char32_t cp);

// Where a literal term needs a word boundary: at an end whose character is a word code point.
// A prefix term (`LLM*`) never needs one on the right.
struct BoundaryRule {
  bool left = false;
  bool right = false;
};
BoundaryRule BoundaryFor(std::string_view folded_term, bool prefix);

// True when [begin, end) of the valid UTF-8 `text` meets `rule`: no word code point directly
// before `begin` (when rule.left) or directly at `end` (when rule.right).
bool MeetsBoundary(std::string_view text, std::size_t begin, std::size_t end, BoundaryRule rule);

// An author name as normalised tokens: diacritics, case and punctuation removed, hyphenated
// and apostrophe parts joined ("Jean-Pierre" → "jeanpierre"), dots split initials
// ("J.R. Smith" → j r smith), "Last, First" reordered. Empty when nothing is left.
struct AuthorName {
  std::vector<std::string> given;  // given names and initials, in order
  std::string surname;             // the last token; the only token of a one-token name
  bool empty() const { return surname.empty(); }
};
AuthorName NormalizeAuthorName(std::string_view name);

// True when the rule name and a listed name denote the same person: one-token names only
// match an equal one-token name; otherwise surnames are equal and the given names agree
// pairwise over the shorter list (equal, or one is the initial of the other), so
// "J. Hensman" ~ "James Hensman" and "James Hensman" ~ "James T. Hensman".
bool AuthorNamesMatch(const AuthorName& rule, const AuthorName& listed);

}  // namespace digestd
