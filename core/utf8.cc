#include "core/utf8.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>

namespace digestd {
namespace {

constexpr std::uint64_t kLow7 = 0x7F7F7F7F7F7F7F7FULL;  // each byte's low seven bits
constexpr std::uint64_t kHigh = 0x8080808080808080ULL;  // each byte's top bit

// The length (2-4) of the valid multi-byte UTF-8 sequence at p[i] (i < n), or 0. Overlongs,
// surrogates and code points past U+10FFFF are invalid; the lead byte picks the range the
// second byte must fall in, so no code point is assembled.
std::size_t MultiByteLength(const unsigned char* p, std::size_t i, std::size_t n) {
  const unsigned b0 = p[i];
  auto continuation = [&](std::size_t k) { return i + k < n && (p[i + k] & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) return continuation(1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (b0 == 0xE0 && p[i + 1] < 0xA0) return 0;   // overlong
    if (b0 == 0xED && p[i + 1] >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (b0 == 0xF0 && p[i + 1] < 0x90) return 0;   // overlong
    if (b0 == 0xF4 && p[i + 1] >= 0x90) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

// Length of the valid UTF-8 sequence at the start of `s` (not empty), or 0 when it is not valid.
std::size_t ValidSequenceLength(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  return p[0] < 0x80 ? 1 : MultiByteLength(p, 0, s.size());
}

// The length of the longest valid UTF-8 prefix of `s`: sixteen bytes at a time where the
// CPU can (Utf8PlainPrefix), and past the block where that stops, a character at a time for
// at least sixteen bytes. There, ASCII is skipped eight bytes at a time: most fetched text is
// ASCII, and the rest (Korean summaries) has runs of it.
std::size_t ValidPrefixLength(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  std::size_t careful_until = 0;  // where the blocks may be tried again
  while (i < n) {
    if (i >= careful_until) {
      i += Utf8PlainPrefix(s.substr(i), Utf8Plain::kAnyValid);
      careful_until = i + 16;
    }
    while (i + 8 <= n) {
      std::uint64_t word;
      std::memcpy(&word, p + i, 8);
      if ((word & kHigh) != 0) break;
      i += 8;
    }
    // Mixed text (Korean words between spaces, digits and Latin) a character at a time, up
    // to eight ASCII bytes in a row: the eight-byte test would fail at nearly every step.
    // A sequence led by E1-EF (Hangul, CJK, most punctuation) cannot be overlong, so its
    // two continuation bytes, and for ED that it is no surrogate, are all there is to check.
    for (int ascii = 0; i < n && ascii < 8 && i < careful_until;) {
      const unsigned b = p[i];
      if (b < 0x80) {
        ++i;
        ++ascii;
        continue;
      }
      ascii = 0;
      if (b >= 0xE1 && b <= 0xEF && i + 2 < n && (p[i + 1] & 0xC0) == 0x80 &&
          (p[i + 2] & 0xC0) == 0x80 && (b != 0xED || p[i + 1] < 0xA0)) {
        i += 3;
        continue;
      }
      const std::size_t len = MultiByteLength(p, i, n);
      if (len == 0) return i;
      i += len;
    }
  }
  return n;
}

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Per byte of `word`, 0x80 where the byte is below 0x20 (a C0 control: every ASCII
// whitespace byte but the space is one), else 0. Exact for every byte: (b & 0x7F) + 0x60
// cannot carry into the next byte, and a byte with its top bit set is never below.
std::uint64_t ControlBytes(std::uint64_t word) {
  return ~(((word & kLow7) + 0x6060606060606060ULL) | word) & kHigh;
}

// Per byte of `word`, 0x80 where the byte is `byte`, else 0 (exact, as above: the low seven
// bits plus 0x7F carry into the top bit only when one of them is set).
std::uint64_t EqualBytes(std::uint64_t word, unsigned char byte) {
  const std::uint64_t x = word ^ (0x0101010101010101ULL * byte);  // zero where `byte` was
  return ~(((x & kLow7) + kLow7) | x) & kHigh;
}

std::uint64_t SpaceBytes(std::uint64_t word) { return EqualBytes(word, ' '); }

// The index of the first byte at or after `i` where a run of CollapseWhitespace may end, or
// `n`: a control byte (below 0x20), or a space not followed by a byte above 0x20. A single
// space between words is passed over, so English text is scanned eight bytes at a time
// rather than stopped at every word; the caller decides at each index returned.
std::size_t NextRunEnd(const char* s, std::size_t i, std::size_t n) {
  if constexpr (std::endian::native == std::endian::little) {
    for (; i + 9 <= n; i += 8) {
      std::uint64_t word;
      std::uint64_t next;  // the same eight bytes, one on: byte k is the one after word's k
      std::memcpy(&word, s + i, 8);
      std::memcpy(&next, s + i + 1, 8);
      const std::uint64_t ends =
          ControlBytes(word) | (SpaceBytes(word) & (SpaceBytes(next) | ControlBytes(next)));
      if (ends != 0) return i + std::size_t(std::countr_zero(ends)) / 8;
    }
  }
  for (; i < n; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x20) return i;
    if (b == ' ' && (i + 1 == n || static_cast<unsigned char>(s[i + 1]) <= 0x20)) return i;
  }
  return n;
}

}  // namespace

char32_t DecodeUtf8Sequence(std::string_view ch) {
  const auto b0 = static_cast<unsigned char>(ch[0]);
  if (ch.size() == 1) return b0;
  char32_t cp = b0 & (ch.size() == 2 ? 0x1F : ch.size() == 3 ? 0x0F : 0x07);
  for (std::size_t i = 1; i < ch.size(); ++i) cp = (cp << 6) | (ch[i] & 0x3F);
  return cp;
}

bool IsControlOrBidi(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) ||  // C0, DEL, C1
         cp == 0x061C ||                              // Arabic letter mark
         cp == 0x200E || cp == 0x200F ||              // LRM, RLM
         (cp >= 0x2028 && cp <= 0x202E) ||            // line/paragraph separators, bidi
         (cp >= 0x2066 && cp <= 0x2069);              // bidi isolates
}

bool IsTerminalUnsafe(char32_t cp) {
  return IsControlOrBidi(cp) ||
         cp == 0x180E ||                    // Mongolian vowel separator
         cp == 0x200B ||                    // zero-width space
         (cp >= 0x2060 && cp <= 0x206F) ||  // word joiner, invisible operators, deprecated
         cp == 0xFEFF ||                    // zero-width no-break space (BOM)
         (cp >= 0xFFF9 && cp <= 0xFFFB) ||  // interlinear annotations
         (cp >= 0xE0000 && cp <= 0xE007F);  // tag characters (hidden text)
}

std::size_t ValidUtf8SequenceLength(std::string_view bytes) {
  return bytes.empty() ? 0 : ValidSequenceLength(bytes);
}

std::string ToValidUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  AppendValidUtf8(out, bytes, [](std::string& to, std::string_view run) { to.append(run); });
  return out;
}

std::string ToValidUtf8(std::string&& bytes) {
  if (ValidPrefixLength(bytes) == bytes.size()) return std::move(bytes);
  return ToValidUtf8(std::string_view(bytes));
}

bool IsValidUtf8(std::string_view bytes) { return ValidPrefixLength(bytes) == bytes.size(); }

std::size_t ValidUtf8PrefixLength(std::string_view bytes) { return ValidPrefixLength(bytes); }

std::string CollapseWhitespace(std::string_view text) {
  return CollapseWhitespace(std::string(text));
}

std::string CollapseWhitespace(std::string&& text) {
  // In place, a run at a time: a run is text whose only whitespace is single spaces between
  // words, which stay as they are, so most text is one run and never moves. Writing never
  // overtakes reading: a run moves left by the whitespace dropped before it.
  char* s = text.data();
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n && IsAsciiSpace(s[i])) ++i;
  std::size_t write = 0;
  while (i < n) {
    const std::size_t start = i;
    for (;;) {
      i = NextRunEnd(s, i, n);
      if (i == n) break;
      const bool single_space = s[i] == ' ' && i + 1 < n && !IsAsciiSpace(s[i + 1]);
      if (IsAsciiSpace(s[i]) && !single_space) break;
      ++i;  // a control that is no whitespace, or one space before a word: the run goes on
    }
    if (write != start) std::memmove(s + write, s + start, i - start);
    write += i - start;
    while (i < n && IsAsciiSpace(s[i])) ++i;
    if (i < n) s[write++] = ' ';
  }
  text.resize(write);
  return std::move(text);
}

std::size_t CountByte(std::string_view bytes, char byte) {
  const auto b = static_cast<unsigned char>(byte);
  std::size_t count = 0;
  std::size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    // One per byte found, summed into the top byte by the multiply (at most eight: no carry).
    // std::popcount would be a library call on the baseline x86-64 this is built for.
    count += static_cast<std::size_t>(((EqualBytes(word, b) >> 7) * 0x0101010101010101ULL) >> 56);
  }
  for (; i < bytes.size(); ++i) count += bytes[i] == byte ? 1 : 0;
  return count;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsAsciiSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsAsciiSpace(text.back())) text.remove_suffix(1);
  return text;
}

std::string TerminalSafe(std::string_view text, std::size_t max_bytes, bool keep_newlines) {
  std::string repaired;
  if (!IsValidUtf8(text)) {
    repaired = ToValidUtf8(text);
    text = repaired;
  }
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  // Characters are copied a run at a time: from `kept` up to the next one replaced.
  std::size_t kept = 0;
  std::size_t size = 0;  // of `out` once the run is copied
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t len = std::min<std::size_t>(lead < 0x80   ? 1
                                                  : lead < 0xe0 ? 2
                                                  : lead < 0xf0 ? 3
                                                                : 4,
                                                  text.size() - i);
    if (size + len > max_bytes) {
      out.append(text, kept, i - kept);
      out += "...";
      return out;
    }
    bool unsafe;
    if (lead < 0x80) {
      unsafe = (lead < 0x20 || lead == 0x7f) && !(keep_newlines && lead == '\n');
    } else if (lead >= 0xe3 && lead <= 0xee) {
      unsafe = false;  // U+3000..U+EFFF (CJK, Hangul): none is a control or format character
    } else {
      unsafe = IsTerminalUnsafe(DecodeUtf8Sequence(text.substr(i, len)));
    }
    if (unsafe) {
      out.append(text, kept, i - kept);
      out += ' ';
      kept = i + len;
      size += 1;
    } else {
      size += len;
    }
    i += len;
  }
  out.append(text, kept, text.size() - kept);
  return out;
}

}  // namespace digestd
