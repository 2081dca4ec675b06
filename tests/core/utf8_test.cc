#include "core/utf8.h"
#include "core/json_writer.h"
#include "tests/core/reference_utf8.h"

#include <algorithm>
#include <iterator>
#include <random>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace digestd {
namespace {

using test::RandomText;
using test::ReferenceDecode;

TEST(Utf8, ReplacesEveryKindOfInvalidSequence) {
  const std::string kReplacement = "\xEF\xBF\xBD";
  EXPECT_EQ(ToValidUtf8("ok 한"), "ok 한");
  EXPECT_EQ(ToValidUtf8("\x80"), kReplacement);                    // stray continuation
  EXPECT_EQ(ToValidUtf8("\xC0\xAF"), kReplacement + kReplacement);  // overlong
  EXPECT_EQ(ToValidUtf8("\xED\xA0\x80"), kReplacement + kReplacement + kReplacement);  // surrogate
  EXPECT_EQ(ToValidUtf8("\xF4\x90\x80\x80").size(), 4 * kReplacement.size());  // > U+10FFFF
  EXPECT_EQ(ToValidUtf8("a\xE2\x82"), "a" + kReplacement + kReplacement);     // truncated
}

TEST(Utf8, RandomBytesAlwaysComeOutValid) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = char(rng());
    EXPECT_TRUE(IsValidUtf8(ToValidUtf8(s)));
  }
}

TEST(Utf8, CollapseAndTrim) {
  EXPECT_EQ(CollapseWhitespace("  a \t\n b  "), "a b");
  EXPECT_EQ(Trim("\t x \n"), "x");
  EXPECT_EQ(CollapseWhitespace(""), "");
  EXPECT_EQ(CollapseWhitespace(std::string("  a \t\n b  ")), "a b");
  EXPECT_EQ(CollapseWhitespace(std::string(" \n\t ")), "");
}

TEST(Utf8, CountByteAgreesWithCountingOneByOne) {
  std::mt19937 rng(12);
  // The byte counted, the bytes that differ from it in one bit only (the top one among them),
  // and zero, at every offset of the eight read at a time and in the tail after them.
  for (const char byte : {'\n', '\0', '\xff'}) {
    const char near[] = {byte, static_cast<char>(byte ^ 0x80), static_cast<char>(byte ^ 0x01),
                         static_cast<char>(byte ^ 0x20), '\0', 'a'};
    for (int round = 0; round < 5000; ++round) {
      std::string s(rng() % 40, 'x');
      for (char& c : s) c = near[rng() % std::size(near)];
      ASSERT_EQ(CountByte(s, byte), std::size_t(std::count(s.begin(), s.end(), byte)))
          << round;
    }
  }
}

TEST(Utf8, CollapseAgreesWithSplitAndJoinAndValidTextIsNotCopied) {
  std::mt19937 rng(36);
  // Words longer than the eight bytes read at a time, controls that are no whitespace
  // (\x01, \x1f: kept as text), spaces at every offset within a word of eight, single spaces
  // the scan passes over, and bytes that are a space or a control but for their top bit
  // (\xa0, the no-break space \xc2\xa0, \x81).
  const std::string_view pieces[] = {" ",      "\t",    "\n\r",  "\f\v",
                                     "word",   "한국어", "\xff",  "x",
                                     "\x01",   "\x1f",   "a b c", "seventeen-letters",
                                     "\xa0",   "\xc2\xa0", "\x81", "the quick brown fox"};
  for (int round = 0; round < 20000; ++round) {
    std::string s;
    for (std::size_t n = rng() % 24; n > 0; --n) s += pieces[rng() % std::size(pieces)];
    std::string joined;  // the words, split at ASCII whitespace, joined by one space
    std::string word;
    for (const char c : s + " ") {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        if (!word.empty()) joined += (joined.empty() ? "" : " ") + word;
        word.clear();
      } else {
        word += c;
      }
    }
    ASSERT_EQ(CollapseWhitespace(std::string(s)), joined) << round;
    ASSERT_EQ(CollapseWhitespace(std::string_view(s)), joined) << round;
  }
  std::string valid(4096, 'a');
  valid += "한국어";
  const char* buffer = valid.data();
  const std::string same = ToValidUtf8(std::move(valid));
  EXPECT_EQ(same.data(), buffer);
  std::string spaced = " a  b ";
  spaced.append(4096, 'c');
  const char* spaced_buffer = spaced.data();
  EXPECT_EQ(CollapseWhitespace(std::move(spaced)).data(), spaced_buffer);
}

}  // namespace
}  // namespace digestd

namespace digestd {
namespace {

TEST(TerminalSafe, ReplacesControlsKeepsTextAndCutsOnACharacterBoundary) {
  EXPECT_EQ(TerminalSafe("a\x1b" "[2Jb\x07"), "a [2Jb ");
  EXPECT_EQ(TerminalSafe("x\xc2\x9by"), "x y") << "C1 CSI";
  EXPECT_EQ(TerminalSafe("\xe2\x80\xae" "abc\xe2\x81\xa6"), " abc ") << "bidi overrides";
  EXPECT_EQ(TerminalSafe("line\nnext"), "line next");
  EXPECT_EQ(TerminalSafe("line\nnext", std::string::npos, true), "line\nnext");
  EXPECT_EQ(TerminalSafe("한국어", 4), "한...") << "never half a character";
  EXPECT_EQ(TerminalSafe("\xff"), "\xef\xbf\xbd");
}

TEST(TerminalSafe, Issue13NeutralisesDelAndInvisibleFormatCharacters) {
  EXPECT_EQ(TerminalSafe("a\x7f" "b"), "a b") << "DEL";
  EXPECT_EQ(TerminalSafe("\xe2\x80\x8f" "x\xe2\x80\x8e"), " x ") << "RLM, LRM";
  EXPECT_EQ(TerminalSafe("\xd8\x9c" "x"), " x") << "Arabic letter mark";
  EXPECT_EQ(TerminalSafe("a\xe2\x80\xa8" "b\xe2\x80\xa9" "c"), "a b c") << "line separators";
  EXPECT_EQ(TerminalSafe("a\xe2\x80\x8b" "b\xe2\x81\xa0" "c\xef\xbb\xbf"), "a b c ")
      << "ZWSP, word joiner, BOM";
  EXPECT_EQ(TerminalSafe("a\xf3\xa0\x81\x81" "b"), "a b") << "tag character U+E0041";
  EXPECT_EQ(TerminalSafe("a\xef\xbf\xb9" "b"), "a b") << "interlinear annotation";
  // Joiners that scripts and emoji need stay, as does ordinary text.
  EXPECT_EQ(TerminalSafe("\xe2\x80\x8c\xe2\x80\x8d" "é한"), "\xe2\x80\x8c\xe2\x80\x8d" "é한");
}

// Issue 12: TerminalSafe copies runs of kept characters at once; it must still say what one
// character at a time says, cut included.
TEST(Issue12, TerminalSafeAgreesWithOneCharacterAtATime) {
  const auto reference = [](std::string_view text, std::size_t max_bytes, bool keep_newlines) {
    const std::string valid = ToValidUtf8(text);
    std::string out;
    for (std::size_t i = 0; i < valid.size();) {
      std::size_t len = 0;
      const char32_t cp = ReferenceDecode(valid, i, &len);
      if (out.size() + len > max_bytes) return out + "...";
      out += (IsTerminalUnsafe(cp) && !(keep_newlines && cp == '\n')) ? std::string(" ")
                                                                       : valid.substr(i, len);
      i += len;
    }
    return out;
  };
  std::mt19937 rng(1213);
  for (int round = 0; round < 20000; ++round) {
    const std::string s = RandomText(rng);
    const std::size_t max_bytes = rng() % 3 == 0 ? std::string::npos : rng() % (s.size() + 8);
    const bool keep_newlines = rng() % 2 == 0;
    ASSERT_EQ(TerminalSafe(s, max_bytes, keep_newlines), reference(s, max_bytes, keep_newlines))
        << testing::PrintToString(s) << " max " << max_bytes;
  }
  // The characters it keeps without a look (three-byte leads E3..EE) are all safe.
  for (char32_t cp = 0x3000; cp <= 0xEFFF; ++cp) ASSERT_FALSE(IsTerminalUnsafe(cp)) << int(cp);
}

TEST(Issue12, FastValidationAgreesWithTheReferenceDecoder) {
  std::mt19937 rng(12);
  int invalid = 0;
  for (int round = 0; round < 20000; ++round) {
    const std::string s = RandomText(rng);
    std::string expected;
    bool valid = true;
    for (std::size_t i = 0; i < s.size();) {
      std::size_t len = 0;
      ReferenceDecode(s, i, &len);
      if (len == 0) {
        expected += "\xEF\xBF\xBD";
        valid = false;
        ++i;
      } else {
        expected.append(s, i, len);
        i += len;
      }
    }
    invalid += valid ? 0 : 1;
    ASSERT_EQ(ToValidUtf8(s), expected) << round;
    ASSERT_EQ(ToValidUtf8(std::string(s)), expected) << round;
    ASSERT_EQ(IsValidUtf8(s), valid) << round;
  }
  EXPECT_GT(invalid, 1000);  // both kinds of text were tried
  EXPECT_LT(invalid, 19000);
}

// Issue 12: sequences no UTF-8 text holds, each kind at least once (overlongs, surrogates,
// past U+10FFFF, bytes that never lead, stray and missing continuations).
constexpr const char* kBadSequences[] = {
    "\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80",
    "\xed\xbf\xbf", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
    "\xf8\x88\x80\x80\x80", "\xfe", "\xff", "\xc3", "\xe1\x80", "\xf1\x80\x80", "\xc3\xa9\xa9",
    "\xe1\x80\x80\x80"};

// Issue 12: text long enough for blocks of sixteen, mostly valid: the edges of every range
// (E0 A0, ED 9F, EF BF, F0 90, F4 8F), four-byte characters, and the leads JSON looks at
// (C2, D8, E2); then as it is, or with one byte changed, a cut, or a bad sequence put in.
std::string MostlyValidText(std::mt19937& rng) {
  static const char* const kPieces[] = {
      "plain ascii words ", "한국어 요약 ", "é", "\xc2\xa0", "\xe0\xa0\x80", "\xed\x9f\xbf",
      "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xf0\x9f\x98\x80",
      "\xe2\x80\x94", "\xd8\xa7", "abcdefghijklmnop", "\"q\"", "\xdf\xbf", "\xe1\x80\x80"};
  std::string s;
  const int pieces = int(rng() % 40);
  for (int k = 0; k < pieces; ++k) s += kPieces[rng() % std::size(kPieces)];
  if (s.empty()) return s;
  switch (rng() % 4) {
    case 0: break;
    case 1: s[rng() % s.size()] = char(rng()); break;
    case 2: s.resize(rng() % s.size()); break;
    default: s.insert(rng() % s.size(), kBadSequences[rng() % std::size(kBadSequences)]);
  }
  return s;
}

// The length of the longest valid prefix of `s`, and whether `at` is where a character
// starts in it, by the reference decoder.
std::size_t ReferenceValidPrefix(std::string_view s, std::size_t at, bool* starts_at) {
  std::size_t i = 0;
  *starts_at = at == 0;
  while (i < s.size()) {
    std::size_t len = 0;
    ReferenceDecode(s, i, &len);
    if (len == 0) break;
    i += len;
    *starts_at |= i == at;
  }
  return i;
}

bool HasJsonStop(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b < 0x20 || b == '"' || b == '\\' || b == 0x7F || b == 0xC2 || b == 0xD8 || b == 0xE2;
  });
}

TEST(Issue12, BlocksOfSixteenStopAtTheFirstWrongByteAndAgreeWithTheReference) {
  std::mt19937 rng(1216);
  int whole = 0;
  for (int round = 0; round < 30000; ++round) {
    const std::string s = MostlyValidText(rng);
    for (const Utf8Plain plain : {Utf8Plain::kAnyValid, Utf8Plain::kJsonAsIs}) {
      const std::size_t passed = Utf8PlainPrefix(s, plain);
      bool starts = false;
      const std::size_t valid = ReferenceValidPrefix(s, passed, &starts);
      ASSERT_LE(passed, valid) << testing::PrintToString(s);
      ASSERT_TRUE(starts) << testing::PrintToString(s) << " passed " << passed;
      if (plain == Utf8Plain::kJsonAsIs) {
        ASSERT_FALSE(HasJsonStop(std::string_view(s).substr(0, passed)))
            << testing::PrintToString(s);
      }
#if defined(__x86_64__)
      // Where the CPU has the instructions, all but the last block and a cut character pass.
      const bool stops = plain == Utf8Plain::kJsonAsIs && HasJsonStop(s);
      if (__builtin_cpu_supports("ssse3") && valid == s.size() && !stops) {
        ASSERT_GE(passed + 18, s.size()) << testing::PrintToString(s);
        whole += s.size() >= 64 ? 1 : 0;
      }
#endif
    }
    ASSERT_EQ(ValidUtf8PrefixLength(s), [&] {
      bool ignored = false;
      return ReferenceValidPrefix(s, 0, &ignored);
    }()) << testing::PrintToString(s);
    ASSERT_EQ(JsonQuote(s), test::ReferenceJsonQuote(s)) << testing::PrintToString(s);
  }
#if defined(__x86_64__)
  if (__builtin_cpu_supports("ssse3")) {
    EXPECT_GT(whole, 1000);  // long valid text was tried
  }
#endif
}

// Each bad sequence at each place of three blocks, in ASCII and in Hangul: found where it
// goes wrong.
TEST(Issue12, BlocksOfSixteenFindEachBadSequenceWhereverItIs) {
  for (const char* bad : kBadSequences) {
    for (const std::string& background : {std::string(70, 'a'), [] {
                                           std::string hangul;
                                           for (int k = 0; k < 24; ++k) hangul += "가";
                                           return hangul;
                                         }()}) {
      const std::size_t step = background[0] == 'a' ? 1 : 3;  // where a character starts
      for (std::size_t at = 0; at <= 48; at += step) {
        std::string s = background;
        s.insert(at, bad);
        bool ignored = false;
        const std::size_t wrong = at + ReferenceValidPrefix(bad, 0, &ignored);  // é, then 0xA9
        ASSERT_EQ(ValidUtf8PrefixLength(s), wrong) << testing::PrintToString(s);
        ASSERT_EQ(JsonQuote(s), test::ReferenceJsonQuote(s)) << testing::PrintToString(s);
        ASSERT_LE(Utf8PlainPrefix(s, Utf8Plain::kAnyValid), wrong);
      }
    }
  }
}

}  // namespace
}  // namespace digestd
