#include "core/utf8.h"

#include <algorithm>

#include <cstdint>

namespace digestd {
namespace {

// Length of the valid UTF-8 sequence at the start of `s`, or 0 when it is not valid.
std::size_t ValidSequenceLength(std::string_view s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return 1;
  std::size_t len;
  std::uint32_t min;
  std::uint32_t cp;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, min = 0x80, cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, min = 0x800, cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (std::size_t i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
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
  std::size_t run = 0;  // start of the valid bytes not yet copied
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t len = ValidSequenceLength(bytes.substr(i));
    if (len != 0) {
      i += len;
      continue;
    }
    out.append(bytes.data() + run, i - run);
    out += "\xEF\xBF\xBD";
    run = ++i;
  }
  out.append(bytes.data() + run, i - run);
  return out;
}

bool IsValidUtf8(std::string_view bytes) {
  while (!bytes.empty()) {
    const std::size_t len = ValidSequenceLength(bytes);
    if (len == 0) return false;
    bytes.remove_prefix(len);
  }
  return true;
}

std::string CollapseWhitespace(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (char c : text) {
    if (IsAsciiSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsAsciiSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsAsciiSpace(text.back())) text.remove_suffix(1);
  return text;
}

std::string TerminalSafe(std::string_view text, std::size_t max_bytes, bool keep_newlines) {
  const std::string valid = ToValidUtf8(text);
  std::string out;
  out.reserve(std::min(valid.size(), max_bytes));
  for (std::size_t i = 0; i < valid.size();) {
    const auto lead = static_cast<unsigned char>(valid[i]);
    const std::size_t len = lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
    std::string_view ch(valid.data() + i, std::min(len, valid.size() - i));
    i += ch.size();
    if (out.size() + ch.size() > max_bytes) {
      out += "...";
      break;
    }
    const bool unsafe = (len == 1 && keep_newlines && lead == '\n')
                            ? false
                            : IsTerminalUnsafe(DecodeUtf8Sequence(ch));
    if (unsafe) {
      out += ' ';
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace digestd
