// Test helpers shared by the UTF-8 and JSON tests (issue 12): a byte-at-a-time UTF-8
// decoder as the reference the word-at-a-time paths must agree with, and random text shaped
// like fetched text.
#pragma once

#include <cstddef>
#include <cstdio>
#include <iterator>
#include <random>
#include <string>
#include <string_view>

#include "core/utf8.h"

namespace digestd::test {

// Issue 12: the reference the word-at-a-time paths must agree with, one code point at a time
// as the old code decoded: the valid sequence at `s[i]`, its length in `len` (0: invalid).
inline char32_t ReferenceDecode(std::string_view s, std::size_t i, std::size_t* len) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  *len = 0;
  if (b0 < 0x80) {
    *len = 1;
    return b0;
  }
  std::size_t n = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) n = 2, cp = b0 & 0x1F, min = 0x80;
  else if ((b0 & 0xF0) == 0xE0) n = 3, cp = b0 & 0x0F, min = 0x800;
  else if ((b0 & 0xF8) == 0xF0) n = 4, cp = b0 & 0x07, min = 0x10000;
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  *len = n;
  return cp;
}

// Issue 12: `s` quoted as JSON one code point at a time (with its quotes), as AppendJsonQuoted
// must quote it; `exact` (when given) says whether every byte was valid UTF-8.
inline std::string ReferenceJsonQuote(std::string_view s, bool* exact = nullptr) {
  std::string out = "\"";
  if (exact) *exact = true;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t len = 0;
    const char32_t cp = ReferenceDecode(s, i, &len);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      if (exact) *exact = false;
      ++i;
      continue;
    }
    char buffer[16];
    if (cp == '"') out += "\\\"";
    else if (cp == '\\') out += "\\\\";
    else if (cp == '\n') out += "\\n";
    else if (cp == '\r') out += "\\r";
    else if (cp == '\t') out += "\\t";
    else if (cp == '\b') out += "\\b";
    else if (cp == '\f') out += "\\f";
    else if (IsControlOrBidi(cp)) {
      std::snprintf(buffer, sizeof buffer, "\\u%04x", unsigned(cp));
      out += buffer;
    } else {
      out.append(s, i, len);
    }
    i += len;
  }
  out += '"';
  return out;
}

// Random text shaped like fetched text: ASCII runs longer than a word, Hangul, accents,
// controls, quotes, bidi marks, and now and then a broken sequence.
inline std::string RandomText(std::mt19937& rng) {
  static const char* const kPieces[] = {
      "plain ascii words ", "한국어 요약 ", "é", "\"", "\\", "\n", "\x01", "\x7f", "\xc2\x9b",
      "\xe2\x80\xae", "\xe2\x81\xa0", "\xd8\x9c", "\xf0\x9f\x98\x80", "\x80", "\xc0\xaf",
      "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xff", "abcdefgh", "12345678901234"};
  std::string s;
  const int pieces = int(rng() % 24);
  for (int k = 0; k < pieces; ++k) s += kPieces[rng() % std::size(kPieces)];
  if (rng() % 4 == 0 && !s.empty()) s.resize(rng() % s.size());  // cut anywhere
  return s;
}

}  // namespace digestd::test
