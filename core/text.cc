#include "core/text.h"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/utf8.h"

namespace digestd {
namespace {

// Decodes the code point starting at `pos`; sets `len` to its byte length. A byte that
// starts no valid sequence is U+FFFD, one byte long, so callers always progress.
char32_t DecodeAt(std::string_view text, std::size_t pos, std::size_t* len) {
  utf8proc_int32_t cp = 0;
  const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos),
                                  static_cast<utf8proc_ssize_t>(text.size() - pos), &cp);
  if (n <= 0) {
    *len = 1;
    return 0xFFFD;
  }
  *len = static_cast<std::size_t>(n);
  return static_cast<char32_t>(cp);
}

void AppendUtf8(char32_t cp, std::string* out) {
  utf8proc_uint8_t buf[4];
  const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
  out->append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

// utf8proc_map over valid UTF-8; on its only possible failures (out of memory, input too
// long) the text is returned unmapped rather than lost.
std::string MapUtf8(std::string_view valid, int options) {
  utf8proc_uint8_t* mapped = nullptr;
  const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(valid.data()),
                              static_cast<utf8proc_ssize_t>(valid.size()), &mapped,
                              static_cast<utf8proc_option_t>(options));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(mapped, &std::free);
  if (n < 0 || mapped == nullptr) return std::string(valid);
  return std::string(reinterpret_cast<const char*>(mapped), static_cast<std::size_t>(n));
}

bool IsSpaceOrControl(char32_t cp) {
  if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) return true;
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

// Scripts written without spaces between words: a term in them may sit inside a longer
// run of letters (Korean particles and compounds, Japanese, Chinese, Thai).
bool IsUnspacedScript(char32_t cp) {
  struct Range {
    char32_t first, last;
  };
  static constexpr Range kRanges[] = {
      {0x0E00, 0x0EFF},    // Thai, Lao
      {0x0F00, 0x0FFF},    // Tibetan
      {0x1000, 0x109F},    // Myanmar
      {0x1100, 0x11FF},    // Hangul Jamo
      {0x1780, 0x17FF},    // Khmer
      {0x1950, 0x19FF},    // Tai Le, New Tai Lue, Khmer symbols
      {0x2E80, 0x2FDF},    // CJK radicals, Kangxi radicals
      {0x3000, 0x33FF},    // CJK symbols, kana, Bopomofo, compatibility jamo, CJK compat
      {0x3400, 0x4DBF},    // CJK extension A
      {0x4E00, 0x9FFF},    // CJK unified ideographs
      {0xA000, 0xA4CF},    // Yi
      {0xA960, 0xA97F},    // Hangul Jamo extended A
      {0xA9E0, 0xA9FF},    // Myanmar extended B
      {0xAA60, 0xAA7F},    // Myanmar extended A
      {0xAC00, 0xD7FF},    // Hangul syllables, Jamo extended B
      {0xF900, 0xFAFF},    // CJK compatibility ideographs
      {0xFF66, 0xFFDC},    // half-width katakana and Hangul
      {0x16FE0, 0x18AFF},  // ideographic symbols, Tangut
      {0x1B000, 0x1B2FF},  // kana supplement, Nushu
      {0x20000, 0x3FFFF},  // CJK extensions B and later
  };
  for (const Range& r : kRanges) {
    if (cp < r.first) return false;  // ranges are sorted
    if (cp <= r.last) return true;
  }
  return false;
}

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool IsAsciiPunct(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 0x21 && u <= 0x2F) || (u >= 0x3A && u <= 0x40) || (u >= 0x5B && u <= 0x60) ||
         (u >= 0x7B && u <= 0x7E);
}

// ---- CleanSummary ----------------------------------------------------------------------

// Text with a flag per byte: literal bytes (escaped, inside code spans, URLs) are never
// emphasis delimiters.
struct MarkedText {
  std::string text;
  std::vector<bool> literal;

  void Add(char c, bool is_literal) {
    text += c;
    literal.push_back(is_literal);
  }
  void AddAll(std::string_view s, bool is_literal) {
    text.append(s);
    literal.insert(literal.end(), s.size(), is_literal);
  }
};

// The bytes AppendInline looks at; the text between them is copied in runs.
constexpr bool IsInlineMarkup(char c) {
  return c == '\\' || c == '`' || c == '!' || c == '[' || c == '<';
}

// Bounds on how far a closing bracket or backtick run is looked for, so that adversarial
// input ("[[[[..." or "` `` ` ...") stays linear instead of quadratic.
constexpr std::size_t kMaxLinkText = 1024;
constexpr std::size_t kMaxLinkUrl = 2048;
constexpr std::size_t kMaxCodeSpan = 4096;
constexpr int kMaxLinkNesting = 16;

// Index of the bracket closing the one at `open` (`[`→`]`, `(`→`)`), honouring nesting and
// backslash escapes, or npos.
std::size_t FindClosing(std::string_view s, std::size_t open, char close, std::size_t limit) {
  const char opening = s[open];
  int depth = 0;
  const std::size_t end = std::min(s.size(), open + limit);
  for (std::size_t i = open; i < end; ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == opening) {
      ++depth;
    } else if (s[i] == close && --depth == 0) {
      return i;
    } else if (close == ')' && s[i] == '\n') {
      return std::string_view::npos;
    }
  }
  return std::string_view::npos;
}

std::size_t RunLength(std::string_view s, std::size_t pos, char c) {
  std::size_t n = 0;
  while (pos + n < s.size() && s[pos + n] == c) ++n;
  return n;
}

void AppendInline(std::string_view s, int nesting, MarkedText* out);

// Tries a link or image whose `[` is at `open`; on success appends its text and returns
// the index just past its `)`.
std::size_t TryLink(std::string_view s, std::size_t open, int nesting, MarkedText* out) {
  if (nesting >= kMaxLinkNesting) return std::string_view::npos;
  const std::size_t close = FindClosing(s, open, ']', kMaxLinkText);
  if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != '(') {
    return std::string_view::npos;
  }
  const std::size_t paren = FindClosing(s, close + 1, ')', kMaxLinkUrl);
  if (paren == std::string_view::npos) return std::string_view::npos;
  AppendInline(s.substr(open + 1, close - open - 1), nesting + 1, out);
  return paren + 1;
}

// `<scheme:...>` autolink: the address is kept as literal text.
std::size_t TryAutolink(std::string_view s, std::size_t open, MarkedText* out) {
  std::size_t i = open + 1;
  while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
  if (i == open + 1 || i - open - 1 > 32 || i >= s.size() || s[i] != ':') {
    return std::string_view::npos;
  }
  const std::size_t end = s.find('>', i);
  if (end == std::string_view::npos || end - open > kMaxLinkUrl) return std::string_view::npos;
  const std::string_view inner = s.substr(open + 1, end - open - 1);
  for (char c : inner) {
    if (IsAsciiSpace(c) || c == '<') return std::string_view::npos;
  }
  out->AddAll(inner, true);
  return end + 1;
}

// Links, images, code spans, escapes and autolinks of `s`, appended to `out`; emphasis
// delimiters are left for ResolveEmphasis.
void AppendInline(std::string_view s, int nesting, MarkedText* out) {
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '\\' && i + 1 < s.size() && IsAsciiPunct(s[i + 1])) {
      out->Add(s[i + 1], true);
      i += 2;
    } else if (c == '`') {
      const std::size_t run = RunLength(s, i, '`');
      // The closing run has the same length and is not part of a longer run.
      std::size_t close = i + run;
      std::size_t found = std::string_view::npos;
      const std::size_t limit = std::min(s.size(), i + run + kMaxCodeSpan);
      while (close < limit) {
        close = s.find('`', close);
        if (close == std::string_view::npos || close >= limit) break;
        const std::size_t n = RunLength(s, close, '`');
        if (n == run) {
          found = close;
          break;
        }
        close += n;
      }
      if (found != std::string_view::npos) {
        out->AddAll(s.substr(i + run, found - i - run), true);
        i = found + run;
      } else {
        i += run;  // a stray backtick run is markup noise, not text
      }
    } else if (c == '!' && i + 1 < s.size() && s[i + 1] == '[') {
      const std::size_t next = TryLink(s, i + 1, nesting, out);
      if (next != std::string_view::npos) {
        i = next;
      } else {
        out->Add(c, false);
        ++i;
      }
    } else if (c == '[') {
      const std::size_t next = TryLink(s, i, nesting, out);
      if (next != std::string_view::npos) {
        i = next;
      } else {
        out->Add(c, false);
        ++i;
      }
    } else if (c == '<') {
      const std::size_t next = TryAutolink(s, i, out);
      if (next != std::string_view::npos) {
        i = next;
      } else {
        out->Add(c, false);
        ++i;
      }
    } else {
      std::size_t end = i + 1;
      while (end < s.size() && !IsInlineMarkup(s[end])) ++end;
      out->AddAll(s.substr(i, end - i), false);
      i = end;
    }
  }
}

// Removes matched emphasis delimiter runs (`*`, `_`, `~~`) with CommonMark's flanking rules,
// simplified: a closer pairs with the nearest open run of the same character. Unmatched runs
// stay, so "A* search", "k_inf" and "2 * 3" keep their characters.
std::string ResolveEmphasis(const MarkedText& m) {
  struct Run {
    std::size_t pos, len;
    char c;
    bool can_open, can_close, removed;
  };
  const std::string& t = m.text;
  std::vector<Run> runs;
  for (std::size_t i = 0; i < t.size();) {
    const char c = t[i];
    if ((c != '*' && c != '_' && c != '~') || m.literal[i]) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    while (i + len < t.size() && t[i + len] == c && !m.literal[i + len]) ++len;
    if (c == '~' && len != 2) {
      i += len;
      continue;
    }
    const char prev = i == 0 ? ' ' : t[i - 1];
    const char next = i + len >= t.size() ? ' ' : t[i + len];
    const bool prev_space = IsAsciiSpace(prev), next_space = IsAsciiSpace(next);
    const bool prev_punct = IsAsciiPunct(prev), next_punct = IsAsciiPunct(next);
    const bool left = !next_space && (!next_punct || prev_space || prev_punct);
    const bool right = !prev_space && (!prev_punct || next_space || next_punct);
    Run run{i, len, c, left, right, false};
    if (c == '_') {  // intraword underscores are text (snake_case, k_inf)
      run.can_open = left && (!right || prev_punct);
      run.can_close = right && (!left || next_punct);
    }
    runs.push_back(run);
    i += len;
  }
  std::vector<std::size_t> openers;
  for (std::size_t r = 0; r < runs.size(); ++r) {
    if (runs[r].can_close) {
      for (std::size_t k = openers.size(); k-- > 0;) {
        if (runs[openers[k]].c == runs[r].c) {
          runs[openers[k]].removed = true;
          runs[r].removed = true;
          openers.resize(k);
          break;
        }
      }
    }
    if (!runs[r].removed && runs[r].can_open) openers.push_back(r);
  }
  std::string out;
  out.reserve(t.size());
  std::size_t at = 0;
  for (const Run& run : runs) {
    if (!run.removed) continue;
    out.append(t, at, run.pos - at);
    at = run.pos + run.len;
  }
  out.append(t, at, std::string::npos);
  return out;
}

// Length of a leading bold label ("**What's New**:", "***Details***:", "**Note:**",
// optionally after a list marker) including the whitespace after it, or 0.
std::size_t LeadingLabelLength(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && IsAsciiSpace(s[i])) ++i;
  if (i + 1 < s.size() && (s[i] == '-' || s[i] == '*' || s[i] == '+') && s[i + 1] == ' ') {
    const std::size_t after = i + 2;
    // A list marker only counts when a bold label follows it.
    if (after < s.size() && (s[after] == '*' || s[after] == '_')) i = after;
  }
  if (i >= s.size() || (s[i] != '*' && s[i] != '_')) return 0;
  const char delim = s[i];
  const std::size_t run = RunLength(s, i, delim);
  if (run < 2 || run > 3) return 0;
  const std::size_t label_begin = i + run;
  const std::size_t close = s.find(delim, label_begin);
  constexpr std::size_t kMaxLabel = 100;
  if (close == std::string_view::npos || close == label_begin || close - label_begin > kMaxLabel ||
      RunLength(s, close, delim) != run) {
    return 0;
  }
  const std::string_view label = s.substr(label_begin, close - label_begin);
  if (IsAsciiSpace(label.front()) || label.find('\n') != std::string_view::npos) return 0;
  std::size_t end = close + run;
  if (label.back() != ':') {
    while (end < s.size() && (s[end] == ' ' || s[end] == '\t')) ++end;
    if (end >= s.size() || s[end] != ':') return 0;
    ++end;
  }
  while (end < s.size() && IsAsciiSpace(s[end])) ++end;
  return end;
}

// ---- Author names ----------------------------------------------------------------------

// Letters without a Unicode decomposition that people still write without their stroke.
std::string_view PlainLetter(char32_t cp) {
  switch (cp) {
    case U'ł':
      return "l";
    case U'ø':
      return "o";
    case U'đ':
      return "d";
    case U'ð':
      return "d";
    case U'ħ':
      return "h";
    case U'ı':
      return "i";
    case U'ŧ':
      return "t";
    case U'æ':
      return "ae";
    case U'œ':
      return "oe";
    case U'þ':
      return "th";
    default:
      return {};
  }
}

// Tokens of a folded name: whitespace, dots and commas split; other punctuation and
// symbols vanish, joining the parts ("jean-pierre" → "jeanpierre", "o'brien" → "obrien").
std::vector<std::string> NameTokens(std::string_view folded) {
  std::vector<std::string> tokens(1);
  for (std::size_t i = 0; i < folded.size();) {
    std::size_t len = 0;
    const char32_t cp = DecodeAt(folded, i, &len);
    i += len;
    if (cp == U' ' || cp == U'.' || cp == U',') {
      if (!tokens.back().empty()) tokens.emplace_back();
      continue;
    }
    const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
    const bool keep = (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
                      (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
    if (!keep) continue;
    const std::string_view plain = PlainLetter(cp);
    if (!plain.empty()) {
      tokens.back() += plain;
    } else {
      AppendUtf8(cp, &tokens.back());
    }
  }
  if (tokens.back().empty()) tokens.pop_back();
  return tokens;
}

bool IsNameSuffix(std::string_view token) {
  return token == "jr" || token == "sr" || token == "ii" || token == "iii" || token == "iv";
}

// True when `token` is a single code point, i.e. an initial.
bool IsInitial(std::string_view token) {
  if (token.empty()) return false;
  std::size_t len = 0;
  DecodeAt(token, 0, &len);
  return len == token.size();
}

bool GivenNamesAgree(std::string_view a, std::string_view b) {
  if (a == b) return true;
  if (IsInitial(a) && b.substr(0, a.size()) == a) return true;
  return IsInitial(b) && a.substr(0, b.size()) == b;
}

// The index of the first byte at or after `i` that is not ASCII, or text.size(). Eight
// bytes at a time.
std::size_t AsciiRunEnd(std::string_view text, std::size_t i) {
  for (; i + 8 <= text.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, text.data() + i, 8);
    if ((word & 0x8080808080808080ULL) != 0) break;
  }
  while (i < text.size() && static_cast<unsigned char>(text[i]) < 0x80) ++i;
  return i;
}

bool IsAscii(std::string_view text) { return AsciiRunEnd(text, 0) == text.size(); }

// Lower-cases the ASCII letters of out[from, end): UTF-8 sequences have no byte below 0x80.
// Eight bytes at a time: with the top bits cleared no byte carries into the next, so the
// two sums flag the bytes from 'A' up and those past 'Z'; the bytes between get 0x20.
void LowerAsciiFrom(std::string& out, std::size_t from) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  std::size_t k = from;
  for (; k + 8 <= out.size(); k += 8) {
    std::uint64_t word;
    std::memcpy(&word, out.data() + k, 8);
    const std::uint64_t low = word & ~kHigh;
    const std::uint64_t from_a = low + kOnes * (0x80 - 'A');
    const std::uint64_t past_z = low + kOnes * (0x80 - 'Z' - 1);
    const std::uint64_t upper = from_a & ~past_z & ~word & kHigh;
    if (upper == 0) continue;
    word |= upper >> 2;
    std::memcpy(out.data() + k, &word, 8);
  }
  for (; k < out.size(); ++k) {
    const char c = out[k];
    if (c >= 'A' && c <= 'Z') out[k] = static_cast<char>(c - 'A' + 'a');
  }
}

// The length of the Hangul syllable (U+AC00-U+D7A3, three well-formed bytes) at text[i],
// else 0. Asked of every non-ASCII character the folding loops meet: inlined, it keeps a
// Korean summary's fold about a tenth faster (bench/match_bench).
[[gnu::always_inline]] inline std::size_t HangulSyllableAt(std::string_view text,
                                                           std::size_t i) {
  const auto b = static_cast<unsigned char>(text[i]);
  if (b < 0xEA || b > 0xED || i + 2 >= text.size()) return 0;
  const auto b1 = static_cast<unsigned char>(text[i + 1]);
  const auto b2 = static_cast<unsigned char>(text[i + 2]);
  if ((b1 & 0xC0) != 0x80 || (b2 & 0xC0) != 0x80) return 0;
  const char32_t cp = (char32_t(b & 0x0F) << 12) | (char32_t(b1 & 0x3F) << 6) | (b2 & 0x3F);
  return cp >= 0xAC00 && cp <= 0xD7A3 ? 3 : 0;
}

// NFKC + case folding as utf8proc_map does it, with the common characters of digests
// copied straight, in runs: ASCII (lower-cased) and Hangul syllables map to themselves.
// The rest goes to utf8proc in segments that start at the code point before them, since a
// combining mark or trailing jamo composes with that one; nothing composes with a following
// ASCII character or precomposed syllable, so segments can end there. Invalid bytes can only
// be in a segment (a run holds none, and a segment never ends inside a sequence): a segment
// is made valid before it is mapped, which reads as making the whole text valid first.
std::string NfkcCasefold(std::string_view text) {
  constexpr int kOptions = UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                           UTF8PROC_CASEFOLD | UTF8PROC_IGNORE | UTF8PROC_LUMP;
  const auto fast_length = [&](std::size_t i) -> std::size_t {
    return static_cast<unsigned char>(text[i]) < 0x80 ? 1 : HangulSyllableAt(text, i);
  };
  std::string out;
  out.reserve(text.size());
  std::size_t prev_start = std::string::npos;  // the last code point copied straight
  std::size_t prev_out = 0;                    // out.size() before it
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t run = i;
    std::size_t last = i;
    for (std::size_t len; i < text.size() && (len = fast_length(i)) != 0; i += len) {
      if (len == 1) i = AsciiRunEnd(text, i + 1) - 1;  // an ASCII run, eight bytes at a time
      last = i;
    }
    if (i > run) {
      const std::size_t at = out.size();
      out.append(text, run, i - run);
      LowerAsciiFrom(out, at);
      prev_start = last;
      prev_out = at + (last - run);
      if (i == text.size()) break;
    }
    std::size_t begin = i;
    if (prev_start != std::string::npos) {
      begin = prev_start;
      out.resize(prev_out);
    }
    std::size_t len = 0;
    DecodeAt(text, i, &len);
    std::size_t end = i + len;
    while (end < text.size() && fast_length(end) == 0) {
      DecodeAt(text, end, &len);
      end += len;
    }
    const std::string_view segment = text.substr(begin, end - begin);
    out += IsValidUtf8(segment) ? MapUtf8(segment, kOptions)
                                : MapUtf8(ToValidUtf8(segment), kOptions);
    prev_start = std::string::npos;
    i = end;
  }
  return out;
}

// Whether CollapseSpaces would give `text` back as it is, as FoldText calls it on ASCII or
// on NfkcCasefold's output (where UTF8PROC_LUMP has made every Unicode space an ASCII one):
// no control byte (C0, DEL), no space at either end or after another, and no lead byte of
// what is left that separates (C2: the C1 controls; E2: U+2028 and U+2029). Most folded text
// is so (words between single spaces), and a look sixteen bytes at a time spares it a copy
// a word at a time.
bool CollapsesToItself(std::string_view text) {
  if (text.empty()) return true;
  if (text.front() == ' ' || text.back() == ' ') return false;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
#if defined(__SSE2__)
  // Each block with the block one byte on (so a space's successor is seen across blocks).
  const auto eq = [](__m128i v, unsigned char b) {
    return _mm_cmpeq_epi8(v, _mm_set1_epi8(char(b)));
  };
  for (; i + 17 <= n; i += 16) {
    const __m128i in = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const __m128i next = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 1));
    const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(in, _mm_set1_epi8(0x1F)), in);
    const __m128i double_space = _mm_and_si128(eq(in, ' '), eq(next, ' '));
    const __m128i maybe_space = _mm_or_si128(eq(in, 0xC2), eq(in, 0xE2));
    const __m128i bad = _mm_or_si128(_mm_or_si128(control, eq(in, 0x7F)),
                                     _mm_or_si128(double_space, maybe_space));
    if (_mm_movemask_epi8(bad) != 0) return false;
  }
#endif
  for (; i < n; ++i) {
    const unsigned char b = p[i];
    if (b < 0x20 || b == 0x7F || b == 0xC2 || b == 0xE2) return false;
    if (b == ' ' && i + 1 < n && p[i + 1] == ' ') return false;
  }
  return true;
}

// `text` with each run of spaces and controls (as `is_space` says, at a code point and its
// length) made one ASCII space, none at either end; the other bytes copied in runs.
template <class IsSpace>
std::string CollapseSpaces(std::string_view text, IsSpace is_space) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t run = i;
    std::size_t len = 0;
    while (i < text.size() && !is_space(i, &len)) i += len;
    if (i > run) {
      if (pending_space) out += ' ';
      pending_space = false;
      out.append(text, run, i - run);
    }
    if (i < text.size()) {
      pending_space = !out.empty();
      i += len;
    }
  }
  return out;
}

}  // namespace

std::string FoldText(std::string_view text) {
  if (IsAscii(text)) {  // most titles and names: NFKC is the identity, folding is tolower
    const auto is_space = [&](std::size_t i, std::size_t* len) {
      *len = 1;
      const auto b = static_cast<unsigned char>(text[i]);
      return b <= 0x20 || b == 0x7F;
    };
    std::string out = CollapsesToItself(text) ? std::string(text) : CollapseSpaces(text, is_space);
    LowerAsciiFrom(out, 0);
    return out;
  }
  std::string mapped = NfkcCasefold(text);
  if (CollapsesToItself(mapped)) return mapped;
  return CollapseSpaces(mapped, [&](std::size_t i, std::size_t* len) {
    const auto b = static_cast<unsigned char>(mapped[i]);
    if (b < 0x80) {  // ASCII fast path: most digest text
      *len = 1;
      return b <= 0x20 || b == 0x7F;
    }
    if ((*len = HangulSyllableAt(mapped, i)) != 0) return false;
    return IsSpaceOrControl(DecodeAt(mapped, i, len));
  });
}

std::string CleanSummary(std::string_view bullet) {
  std::string repaired;  // only when `bullet` is not valid UTF-8 (a parser's text always is)
  if (!IsValidUtf8(bullet)) repaired = ToValidUtf8(bullet);
  std::string_view rest = repaired.empty() ? bullet : std::string_view(repaired);
  rest.remove_prefix(LeadingLabelLength(rest));
  // A bullet with no inline mark and no emphasis delimiter is its own clean text (most
  // bullets of a plain digest): the passes below would copy it through unchanged.
  static constexpr std::array<bool, 256> kMark = [] {
    std::array<bool, 256> mark{};
    for (int c = 0; c < 256; ++c) {
      mark[std::size_t(c)] = IsInlineMarkup(char(c)) || c == '*' || c == '_' || c == '~';
    }
    return mark;
  }();
  if (std::none_of(rest.begin(), rest.end(),
                   [](char c) { return kMark[static_cast<unsigned char>(c)]; })) {
    return std::string(Trim(rest));
  }
  MarkedText marked;
  marked.text.reserve(rest.size());
  marked.literal.reserve(rest.size());
  AppendInline(rest, 0, &marked);
  // Removing ASCII delimiters from valid UTF-8 keeps it valid; Trim only drops ASCII.
  return std::string(Trim(ResolveEmphasis(marked)));
}

bool IsWordCodePoint(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  }
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  const bool letter_mark_digit =
      cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO;  // L*, M*, N*
  return letter_mark_digit && !IsUnspacedScript(cp);
}

BoundaryRule BoundaryFor(std::string_view folded_term, bool prefix) {
  BoundaryRule rule;
  if (folded_term.empty()) return rule;
  std::size_t len = 0;
  rule.left = IsWordCodePoint(DecodeAt(folded_term, 0, &len));
  if (!prefix) {
    std::size_t last = folded_term.size() - 1;
    while (last > 0 && (static_cast<unsigned char>(folded_term[last]) & 0xC0) == 0x80) --last;
    rule.right = IsWordCodePoint(DecodeAt(folded_term, last, &len));
  }
  return rule;
}

bool MeetsBoundary(std::string_view text, std::size_t begin, std::size_t end, BoundaryRule rule) {
  std::size_t len = 0;
  if (rule.left && begin > 0 && begin <= text.size()) {
    std::size_t prev = begin - 1;
    while (prev > 0 && (static_cast<unsigned char>(text[prev]) & 0xC0) == 0x80) --prev;
    if (IsWordCodePoint(DecodeAt(text, prev, &len))) return false;
  }
  if (rule.right && end < text.size()) {
    if (IsWordCodePoint(DecodeAt(text, end, &len))) return false;
  }
  return true;
}

AuthorName NormalizeAuthorName(std::string_view name) {
  std::string valid = ToValidUtf8(name);
  // "Last, First" → "First Last"; a comma before a suffix ("King, Jr.") is not that form.
  const std::size_t comma = valid.find(',');
  if (comma != std::string::npos) {
    const std::string before = valid.substr(0, comma);
    const std::string after = valid.substr(comma + 1);
    const std::vector<std::string> after_tokens = NameTokens(FoldText(after));
    const bool suffix_only = after_tokens.size() == 1 && IsNameSuffix(after_tokens[0]);
    if (!after_tokens.empty() && !suffix_only) valid = after + " " + before;
  }
  std::string folded = FoldText(valid);
  if (!IsAscii(folded)) {
    folded = MapUtf8(folded, UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                                 UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK);
  }
  std::vector<std::string> tokens = NameTokens(folded);
  // "Martin Luther King Jr.": the surname is King. Two-token names keep both tokens.
  while (tokens.size() > 2 && IsNameSuffix(tokens.back())) tokens.pop_back();
  AuthorName result;
  if (tokens.empty()) return result;
  result.surname = std::move(tokens.back());
  tokens.pop_back();
  result.given = std::move(tokens);
  return result;
}

bool AuthorNamesMatch(const AuthorName& rule, const AuthorName& listed) {
  if (rule.empty() || listed.empty() || rule.surname != listed.surname) return false;
  if (rule.given.empty() || listed.given.empty()) {
    return rule.given.empty() && listed.given.empty();
  }
  const std::size_t n = std::min(rule.given.size(), listed.given.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (!GivenNamesAgree(rule.given[i], listed.given[i])) return false;
  }
  return true;
}

std::string Counted(long long n, std::string_view one, std::string_view many) {
  std::string out = std::to_string(n);
  out += ' ';
  if (n == 1) {
    out += one;
  } else if (many.empty()) {
    (out += one) += 's';
  } else {
    out += many;
  }
  return out;
}

ScriptCounts CountScripts(std::string_view text) {
  ScriptCounts counts;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ++counts.latin;
      ++i;
      continue;
    }
    const std::size_t len = ValidUtf8SequenceLength(text.substr(i));
    if (len == 0) {
      ++i;
      continue;
    }
    char32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (text[i + k] & 0x3F);
    if ((cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0x1100 && cp <= 0x11FF) ||
        (cp >= 0x3130 && cp <= 0x318F)) {
      ++counts.hangul;
    } else if ((cp >= 0x00C0 && cp <= 0x024F && cp != 0xD7 && cp != 0xF7) ||
               (cp >= 0x1E00 && cp <= 0x1EFF)) {
      ++counts.latin;
    }
    i += len;
  }
  return counts;
}

}  // namespace digestd
