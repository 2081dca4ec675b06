#include "notifiers/chat_text.h"

#include <algorithm>

#include "core/utf8.h"

namespace digestd {
namespace {

constexpr std::string_view kEllipsis = "…";
constexpr std::string_view kWordJoiner = "\u2060";

// The code point of the valid UTF-8 sequence of `length` bytes at `s`.
char32_t Decode(const char* s, std::size_t length) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  switch (length) {
    case 1:
      return b(0);
    case 2:
      return (char32_t(b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3:
      return (char32_t(b(0) & 0x0F) << 12) | (char32_t(b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default:
      return (char32_t(b(0) & 0x07) << 18) | (char32_t(b(1) & 0x3F) << 12) |
             (char32_t(b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

bool IsRemoved(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x061C || cp == 0x200E ||
         cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

bool IsSpace(char32_t cp) {
  return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f';
}

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::size_t Units(std::size_t bytes, char32_t cp, TextUnit unit) {
  switch (unit) {
    case TextUnit::kBytes:
      return bytes;
    case TextUnit::kCodePoints:
      return 1;
    case TextUnit::kUtf16:
      return cp > 0xFFFF ? 2 : 1;
  }
  return bytes;
}

}  // namespace

std::string ChatLine(std::string_view text) {
  const std::string valid = ToValidUtf8(text);
  std::string out;
  out.reserve(valid.size());
  bool space = false;  // a space is owed before the next kept character
  for (std::size_t i = 0; i < valid.size();) {
    const std::size_t length = ValidUtf8SequenceLength(std::string_view(valid).substr(i));
    const char32_t cp = Decode(valid.data() + i, length);
    if (IsSpace(cp)) {
      space = !out.empty();
    } else if (!IsRemoved(cp)) {
      if (space) out += ' ';
      space = false;
      out.append(valid, i, length);
      if (cp == '@' && i + 1 < valid.size() && IsNameStart(valid[i + 1])) out += kWordJoiner;
      // <!here>, <@U123>, <#C123>, <users/all>: the mention syntaxes that start with '<'.
      if (cp == '<' && i + 1 < valid.size() &&
          (valid[i + 1] == '!' || valid[i + 1] == '@' || valid[i + 1] == '#' ||
           std::string_view(valid).substr(i + 1).starts_with("users/"))) {
        out += kWordJoiner;
      }
    }
    i += length;
  }
  return out;
}

std::size_t TextLength(std::string_view text, TextUnit unit) {
  if (unit == TextUnit::kBytes) return text.size();
  std::size_t total = 0;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t length = ValidUtf8SequenceLength(text.substr(i));
    if (length == 0) length = 1;
    total += Units(length, Decode(text.data() + i, length), unit);
    i += length;
  }
  return total;
}

std::string CutText(std::string_view text, std::size_t max, TextUnit unit) {
  if (TextLength(text, unit) <= max) return std::string(text);
  const std::size_t ellipsis = TextLength(kEllipsis, unit);
  if (max < ellipsis) return {};
  const std::size_t budget = max - ellipsis;
  std::size_t used = 0;
  std::size_t keep = 0;
  while (keep < text.size()) {
    std::size_t length = ValidUtf8SequenceLength(text.substr(keep));
    if (length == 0) length = 1;
    const std::size_t cost = Units(length, Decode(text.data() + keep, length), unit);
    if (used + cost > budget) break;
    used += cost;
    keep += length;
  }
  std::string out(text.substr(0, keep));
  while (!out.empty() && out.back() == ' ') out.pop_back();
  // A cut right after '@' would leave it free to join what follows the "…".
  if (out.ends_with("@")) out.pop_back();
  return out + std::string(kEllipsis);
}

std::string EscapeHtml(std::string_view text, bool apostrophe) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += apostrophe ? "&#39;" : "'";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeSlack(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeMarkdown(std::string_view text, bool angle_entities) {
  constexpr std::string_view kSpecial = "\\`*_~[]()#+-!|{}";
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    if (angle_entities && (c == '&' || c == '<' || c == '>')) {
      out += c == '&' ? "&amp;" : c == '<' ? "&lt;" : "&gt;";
    } else if (kSpecial.find(c) != std::string_view::npos || c == '<' || c == '>') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

std::string PercentEncoded(std::string_view text, std::string_view kept) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || kept.find(ch) != std::string_view::npos) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string SafeUrl(std::string_view url) {
  std::string lower(url.substr(0, 8));
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  if (!lower.starts_with("https://") && !lower.starts_with("http://")) return {};
  return PercentEncoded(url, "-._~:/?#@!$&+,;=%");
}

bool LooksLikeImage(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  std::string lower(url.substr(url.size() > 5 ? url.size() - 5 : 0));
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  for (std::string_view ext : {".png", ".jpg", ".jpeg", ".gif", ".webp"}) {
    if (lower.ends_with(ext)) return true;
  }
  return false;
}

std::string HtmlAsText(std::string_view html) {
  static constexpr std::pair<std::string_view, char> kEntities[] = {
      {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&#39;", '\''}};
  std::string out;
  for (std::size_t i = 0; i < html.size();) {
    if (html[i] == '<') {
      const std::size_t end = html.find('>', i);
      if (end == std::string_view::npos) break;
      const std::string_view tag = html.substr(i, end + 1 - i);
      if (tag == "<br>" || tag == "<br/>" || tag == "<br />" || tag == "</p>") out += '\n';
      i = end + 1;
      continue;
    }
    bool entity = false;
    for (const auto& [name, ch] : kEntities) {
      if (html.substr(i).starts_with(name)) {
        out += ch;
        i += name.size();
        entity = true;
        break;
      }
    }
    if (!entity) out += html[i++];
  }
  return out;
}

}  // namespace digestd
