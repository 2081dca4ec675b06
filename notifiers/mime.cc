#include "notifiers/mime.h"

#include <algorithm>
#include <utility>

#include "core/base64.h"
#include "core/dates.h"
#include "core/heap_growth.h"
#include "core/utf8.h"

namespace digestd {
namespace {

constexpr std::string_view kWordOpen = "=?UTF-8?B?";
constexpr std::string_view kWordClose = "?=";
// Headers of printable ASCII are folded at spaces to stay under RFC 5322's 78.
constexpr std::size_t kFoldAt = 78;
constexpr std::size_t kBase64LineChars = 76;

bool IsPrintableAscii(std::string_view text) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return false;
  }
  return true;
}

// Encoded words for all of `text` (valid UTF-8), separated by CRLF SP. The first word may
// take `first_room` characters (at least enough for one character), the others
// kMaxEncodedWord (a line is SP + word).
std::string EncodedWords(std::string_view text, std::size_t first_room) {
  constexpr std::size_t kOneCharacter = 20;  // "=?UTF-8?B?" + base64 of 4 bytes + "?="
  std::string out;
  std::size_t room = std::max(first_room, kOneCharacter);
  std::size_t begin = 0;
  do {
    std::size_t end = begin;
    while (end < text.size()) {
      const std::size_t len = std::max<std::size_t>(1, ValidUtf8SequenceLength(text.substr(end)));
      const std::size_t next = std::min(text.size(), end + len);
      if (kWordOpen.size() + Base64Size(next - begin) + kWordClose.size() > room) break;
      end = next;
    }
    if (!out.empty()) out += "\r\n ";
    out.append(kWordOpen).append(Base64(text.substr(begin, end - begin))).append(kWordClose);
    begin = end;
    room = kMaxEncodedWord;
  } while (begin < text.size());
  return out;
}

// Printable ASCII folded at spaces; empty when a word is too long to fold.
std::string FoldAscii(std::string_view text, std::size_t first_used) {
  std::string out;
  std::size_t line = first_used;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = text.find(' ', begin);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(begin, end - begin);
    if (word.size() + 1 > kFoldAt - 1) return {};
    if (out.empty()) {
      out.append(word);
      line += word.size();
    } else if (line + 1 + word.size() > kFoldAt) {
      out.append("\r\n ").append(word);
      line = 1 + word.size();
    } else {
      out.append(" ").append(word);
      line += 1 + word.size();
    }
    begin = end + 1;
  }
  return out;
}

}  // namespace

std::string EncodeUnstructured(std::string_view text, std::size_t name_size) {
  const std::string clean = HeaderText(text);
  const std::size_t used = name_size + 2;  // "Name: "
  if (IsPrintableAscii(clean) && clean.find("=?") == std::string::npos) {
    std::string folded = FoldAscii(clean, used);
    if (!folded.empty() || clean.empty()) return folded;
  }
  return EncodedWords(clean, kMaxEncodedLine > used ? kMaxEncodedLine - used : 0);
}

std::string FormatMailbox(const Mailbox& mailbox) {
  const std::string name = HeaderText(mailbox.display_name);
  if (name.empty()) return mailbox.address;
  if (IsPrintableAscii(name) && name.size() <= 60 && name.find("=?") == std::string::npos) {
    std::string quoted = "\"";
    for (char c : name) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    return quoted + "\" <" + mailbox.address + ">";
  }
  // Each word on its own line keeps every line within 76 whatever precedes it.
  return EncodedWords(name, kMaxEncodedWord) + "\r\n <" + mailbox.address + ">";
}

std::string JoinAddressList(const std::vector<std::string>& mailboxes, std::size_t name_size) {
  std::string out;
  std::size_t line = name_size + 2;
  for (const std::string& m : mailboxes) {
    const std::size_t first_line = m.find("\r\n") == std::string::npos ? m.size() : m.find("\r\n");
    if (!out.empty()) {
      out += ',';
      if (line + 2 + first_line > kMaxEncodedLine) {
        out += "\r\n ";
        line = 1;
      } else {
        out += ' ';
        line += 2;
      }
    }
    out += m;
    const std::size_t last_break = m.rfind("\r\n");
    line = last_break == std::string::npos ? line + m.size() : m.size() - last_break - 2;
  }
  return out;
}

// Each line encodes kBase64LineChars / 4 * 3 input bytes.
constexpr std::size_t kBase64LineBytes = kBase64LineChars / 4 * 3;

std::size_t Base64LinesSize(std::size_t bytes) {
  const std::size_t lines = (bytes + kBase64LineBytes - 1) / kBase64LineBytes;
  return Base64Size(bytes) + 2 * lines;
}

void AppendBase64Lines(std::string& out, std::string_view bytes) {
  const std::size_t from = out.size();
  out.resize(from + Base64LinesSize(bytes.size()));
  char* at = out.data() + from;
  for (std::size_t i = 0; i < bytes.size(); i += kBase64LineBytes) {
    at = EncodeBase64(bytes.substr(i, kBase64LineBytes), at);
    *at++ = '\r';
    *at++ = '\n';
  }
}

namespace {

// A line of quoted-printable holds at most 76 characters, a soft break's "=" included.
constexpr std::size_t kQuotedLineChars = 76;

// The quoted-printable (RFC 2045 §6.7) of `bytes`, given to `put` a piece at a time. Each
// CRLF is a hard line break. Printable ASCII but "=" stays as it is, and so do a space and a
// tab unless a line break or the end follows them; every other byte is =XX, a UTF-8
// character's bytes together on one line, and so is a line's first "." or the "F" of a line
// starting "From ". A soft break ("=" CRLF) comes before what would take a line past
// kQuotedLineChars.
template <typename Put>
void QuotedPrintable(std::string_view bytes, Put&& put) {
  static constexpr std::string_view kHex = "0123456789ABCDEF";
  constexpr std::size_t kRoom = kQuotedLineChars - 1;  // a soft break's "=" ends a full line
  const auto is_crlf = [&](std::size_t i) {
    return i + 1 < bytes.size() && bytes[i] == '\r' && bytes[i + 1] == '\n';
  };
  // Whether bytes[i] stands as it is at column `column` of a line. A line's first "." or the
  // "F" of "From " does not: a relay that does not escape them would end the message there or
  // quote the line (mbox).
  const auto plain = [&](std::size_t i, std::size_t column) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (column == 0 && (c == '.' || (c == 'F' && bytes.substr(i, 5) == "From "))) return false;
    if (c == ' ' || c == '\t') return i + 1 < bytes.size() && !is_crlf(i + 1);
    return c > ' ' && c < 0x7F && c != '=';
  };
  std::size_t line = 0;  // characters on the line being written
  for (std::size_t i = 0; i < bytes.size();) {
    if (is_crlf(i)) {
      put(std::string_view("\r\n"));
      line = 0;
      i += 2;
      continue;
    }
    if (line == kRoom) {
      put(std::string_view("=\r\n"));
      line = 0;
    }
    // What stands as it is goes a run at a time, as much as the line has room for.
    std::size_t end = i;
    while (end < bytes.size() && line + (end - i) < kRoom && plain(end, line + (end - i))) ++end;
    if (end > i) {
      put(bytes.substr(i, end - i));
      line += end - i;
      i = end;
      continue;
    }
    const auto c = static_cast<unsigned char>(bytes[i]);
    const std::size_t taken =
        c >= 0x80 ? std::max<std::size_t>(1, ValidUtf8SequenceLength(bytes.substr(i))) : 1;
    if (line + 3 * taken > kRoom) {  // on the next line, where the rules are those of its start
      put(std::string_view("=\r\n"));
      line = 0;
      continue;
    }
    char token[12];
    for (std::size_t k = 0; k < taken; ++k) {
      const auto b = static_cast<unsigned char>(bytes[i + k]);
      token[3 * k] = '=';
      token[3 * k + 1] = kHex[b >> 4];
      token[3 * k + 2] = kHex[b & 15];
    }
    put(std::string_view(token, 3 * taken));
    line += 3 * taken;
    i += taken;
  }
}

}  // namespace

std::size_t QuotedPrintableSize(std::string_view bytes) {
  std::size_t size = 0;
  QuotedPrintable(bytes, [&](std::string_view piece) { size += piece.size(); });
  return size;
}

void AppendQuotedPrintable(std::string& out, std::string_view bytes) {
  QuotedPrintable(bytes, [&](std::string_view piece) { out.append(piece); });
}

std::string MailDate(std::int64_t unix_seconds) { return ImfDate(unix_seconds, "+0000"); }

namespace {

// BuildMimeMessage of `m`; with `spent` (`m` itself), each part's text is given back once it
// is encoded.
std::string BuildMime(const MimeMessage& m, MimeMessage* spent) {
  // Each part in the shorter of the two encodings: quoted-printable for text mostly ASCII
  // (English titles, links, markup), which stays readable and a quarter smaller; base64 for
  // the rest (Korean takes three bytes a character, nine characters quoted).
  const auto encoding = [](std::string_view body) {
    const std::size_t quoted = QuotedPrintableSize(body);
    const std::size_t base64 = Base64LinesSize(body.size());
    return quoted <= base64 ? std::pair<bool, std::size_t>{true, quoted}
                            : std::pair<bool, std::size_t>{false, base64};
  };
  const auto [text_quoted, text_size] = encoding(m.text);
  const auto [html_quoted, html_size] = encoding(m.html);
  // Sized once: the parts are most of a long message, which grown by doubling would be held
  // twice over while the last part was added.
  std::size_t headers = 0;
  for (const auto& [name, value] : m.headers) headers += name.size() + value.size() + 4;
  std::string out;
  out.reserve(headers + text_size + html_size + 4 * m.boundary.size() + 512);
  // All of it is written next: its pages are made present at once (core/heap_growth.h).
  PopulateLargeBlock(out.data(), headers + text_size + html_size);
  for (const auto& [name, value] : m.headers) out.append(name).append(": ").append(value).append("\r\n");
  out.append("MIME-Version: 1.0\r\n");
  out.append("Content-Type: multipart/alternative;\r\n boundary=\"").append(m.boundary).append("\"\r\n");
  out.append("\r\n");
  out.append("This is a MIME message: a plain text part and an HTML part.\r\n");
  const auto part = [&](std::string_view type, std::string_view body, bool quoted) {
    out.append("\r\n--").append(m.boundary).append("\r\n");
    out.append("Content-Type: ").append(type).append("; charset=UTF-8\r\n");
    if (quoted) {
      out.append("Content-Transfer-Encoding: quoted-printable\r\n\r\n");
      AppendQuotedPrintable(out, body);
    } else {
      out.append("Content-Transfer-Encoding: base64\r\n\r\n");
      AppendBase64Lines(out, body);
    }
  };
  part("text/plain", m.text, text_quoted);
  if (spent) std::string().swap(spent->text);
  part("text/html", m.html, html_quoted);
  if (spent) std::string().swap(spent->html);
  out.append("\r\n--").append(m.boundary).append("--\r\n");
  return out;
}

}  // namespace

std::string BuildMimeMessage(const MimeMessage& m) { return BuildMime(m, nullptr); }

std::string BuildMimeMessage(MimeMessage&& m) { return BuildMime(m, &m); }

}  // namespace digestd
