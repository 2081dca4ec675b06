// The email MIME encoder (notifiers/mime.h) and the whole email message (notifiers/email.h):
// what it encodes decodes to the same text. A Subject's encoded words or folded ASCII decode
// to HeaderText of the input; a display name decodes to HeaderText of the name; the text
// and HTML parts decode (base64 or quoted-printable) to the bytes given; lines end in CRLF
// only, encoded lines stay within 76 characters (a quoted one ends in no white space) and
// no line passes 998; the message a notification renders to has one
// header per line (no injected header) and parts that decode to valid UTF-8.
#include <map>
#include <set>

#include "core/mailbox.h"
#include "notifiers/email.h"
#include "notifiers/mime.h"
#include "notifiers/registry.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_notification.h"
#include "tests/notifiers/mime_decode.h"

namespace digestd::fuzz {
namespace {

std::string Base64Decode(std::string_view text) {
  auto decoded = test::DecodeBase64(text);
  FUZZ_CHECK(decoded.has_value(), "not base64: " + std::string(text));
  return *decoded;
}

// Lines of `value` split at CRLF; a bare CR or LF is a finding.
std::vector<std::string_view> CrlfLines(std::string_view value) {
  std::vector<std::string_view> lines;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t crlf = value.find("\r\n", begin);
    const std::string_view line = value.substr(begin, crlf - begin);
    FUZZ_CHECK(line.find('\r') == std::string_view::npos && line.find('\n') == std::string_view::npos,
               "a bare CR or LF in " + std::string(value.substr(0, 300)));
    lines.push_back(line);
    if (crlf == std::string_view::npos) return lines;
    begin = crlf + 2;
  }
}

// An unstructured header value back to text (RFC 5322 unfolding, RFC 2047 §6.2: the space
// between two adjacent encoded words is not part of the text).
std::string DecodeUnstructured(std::string_view value) {
  std::string unfolded;
  for (std::string_view line : CrlfLines(value)) unfolded.append(line);
  std::string out;
  bool last_encoded = false;
  std::size_t begin = 0;
  bool first = true;
  while (begin <= unfolded.size()) {
    std::size_t end = unfolded.find(' ', begin);
    if (end == std::string::npos) end = unfolded.size();
    const std::string_view word = std::string_view(unfolded).substr(begin, end - begin);
    const bool encoded = word.starts_with("=?UTF-8?B?") && word.ends_with("?=") && word.size() >= 12;
    if (!first && !(encoded && last_encoded)) out += ' ';
    out += encoded ? Base64Decode(word.substr(10, word.size() - 12)) : std::string(word);
    last_encoded = encoded;
    first = false;
    begin = end + 1;
  }
  return out;
}

void CheckUnstructured(std::string_view text, std::size_t name_size) {
  const std::string value = EncodeUnstructured(text, name_size);
  const std::string expected = HeaderText(text);
  FUZZ_CHECK(DecodeUnstructured(value) == expected,
             "subject round trip: [" + expected + "] became [" + value + "]");
  const bool encoded = value.find("=?UTF-8?B?") != std::string::npos;
  const std::vector<std::string_view> lines = CrlfLines(value);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::size_t used = lines[i].size() + (i == 0 ? name_size + 2 : 0);
    if (encoded && name_size <= 40) FUZZ_CHECK(used <= kMaxEncodedLine, "encoded line over 76: " + value);
    FUZZ_CHECK(used <= 998, "header line over 998");
    if (i > 0) FUZZ_CHECK(lines[i].starts_with(" "), "a fold without white space");
  }
}

void CheckMailbox(std::string_view name) {
  const Mailbox mailbox{.display_name = std::string(name), .address = "a@example.org"};
  const std::string value = FormatMailbox(mailbox);
  const std::string expected = HeaderText(name);
  if (expected.empty()) {
    FUZZ_CHECK(value == "a@example.org", "a bare address expected: " + value);
    return;
  }
  FUZZ_CHECK(value.ends_with(" <a@example.org>"), "mailbox without its address: " + value);
  std::string shown(value.substr(0, value.size() - 16));
  std::string decoded;
  if (shown.starts_with("\"")) {
    FUZZ_CHECK(shown.size() >= 2 && shown.ends_with("\""), "unterminated quoted name: " + value);
    for (std::size_t i = 1; i + 1 < shown.size(); ++i) {
      if (shown[i] == '\\') ++i;
      else FUZZ_CHECK(shown[i] != '"', "an unescaped quote: " + value);
      decoded += shown[i];
    }
  } else {
    FUZZ_CHECK(shown.ends_with("\r\n"), "encoded name not on its own line: " + value);
    decoded = DecodeUnstructured(shown.substr(0, shown.size() - 2));
  }
  FUZZ_CHECK(decoded == expected, "display name round trip: [" + expected + "] became [" + value + "]");
}

// The body of the part of `type` in a BuildMimeMessage message, decoded as its
// Content-Transfer-Encoding says.
std::string PartBody(std::string_view message, std::string_view boundary, std::string_view type) {
  // After the message's headers: a folded Subject may hold the same words.
  const std::size_t headers_end = message.find("\r\n\r\n");
  FUZZ_CHECK(headers_end != std::string_view::npos, "no end of headers");
  const std::string marker = "\r\nContent-Type: " + std::string(type) + "; charset=UTF-8\r\n";
  const std::size_t at = message.find(marker, headers_end);
  FUZZ_CHECK(at != std::string_view::npos, "no part " + std::string(type));
  const std::size_t body = message.find("\r\n\r\n", at);
  FUZZ_CHECK(body != std::string_view::npos, "part without body");
  const std::size_t end = message.find("\r\n--" + std::string(boundary), body);
  FUZZ_CHECK(end != std::string_view::npos, "part without boundary");
  const std::string_view encoded = message.substr(body + 4, end - body - 4);
  const std::string_view headers = message.substr(at, body - at);
  if (headers.ends_with("\r\nContent-Transfer-Encoding: base64")) return Base64Decode(encoded);
  FUZZ_CHECK(headers.ends_with("\r\nContent-Transfer-Encoding: quoted-printable"),
             "a part neither base64 nor quoted-printable: " + std::string(headers));
  for (std::string_view line : CrlfLines(encoded)) {
    FUZZ_CHECK(line.size() <= 76, "a quoted-printable line over 76: " + std::string(line));
    FUZZ_CHECK(!line.ends_with(" ") && !line.ends_with("\t"), "trailing white space");
  }
  auto decoded = test::DecodeQuotedPrintable(encoded);
  FUZZ_CHECK(decoded.has_value(), "not quoted-printable: " + std::string(encoded.substr(0, 300)));
  return *decoded;
}

void CheckMessageShape(std::string_view message) {
  const std::vector<std::string_view> lines = CrlfLines(message);
  bool in_headers = true;
  std::set<std::string> seen;
  for (std::string_view line : lines) {
    FUZZ_CHECK(line.size() <= 998, "a line over 998 octets");
    if (!in_headers) {
      continue;
    }
    if (line.empty()) {
      in_headers = false;
      continue;
    }
    if (line.starts_with(" ") || line.starts_with("\t")) continue;  // a fold
    const std::size_t colon = line.find(": ");
    FUZZ_CHECK(colon != std::string_view::npos && colon > 0,
               "a header line that is no header: " + std::string(line.substr(0, 200)));
    static const std::set<std::string> kHeaders = {
        "Date", "From", "To", "Cc", "Subject", "Message-ID", "Auto-Submitted", "List-Id",
        "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Content-Type",
        "X-Auto-Response-Suppress", "Precedence", "Reply-To"};
    const std::string name(line.substr(0, colon));
    FUZZ_CHECK(kHeaders.contains(name), "an unexpected (injected?) header: " + name);
    FUZZ_CHECK(seen.insert(name).second, "a header twice: " + name);
  }
}

}  // namespace
}  // namespace digestd::fuzz

DIGESTD_FUZZ_TARGET {
  using namespace digestd;
  const std::string_view bytes = fuzz::Bytes(data, size);
  const std::size_t name_size = bytes.empty() ? 7 : static_cast<unsigned char>(bytes[0]) % 48;
  fuzz::CheckUnstructured(bytes, name_size);
  fuzz::CheckMailbox(bytes.substr(0, 512));

  // BuildMimeMessage: the parts decode to exactly what was given.
  const std::size_t half = bytes.size() / 2;
  MimeMessage m{.headers = {{"Subject", EncodeUnstructured(bytes, 7)}},
                .boundary = "=_digestd_fuzz",
                .text = std::string(bytes.substr(0, half)),
                .html = std::string(bytes.substr(half))};
  const std::string built = BuildMimeMessage(m);
  fuzz::CheckMessageShape(built);
  FUZZ_CHECK(fuzz::PartBody(built, m.boundary, "text/plain") == m.text, "text part round trip");
  FUZZ_CHECK(fuzz::PartBody(built, m.boundary, "text/html") == m.html, "html part round trip");

  // The whole email a notification renders to.
  EmailSettings settings{.url = "smtp://127.0.0.1:2525",
                         .from = "digestd <digestd@example.org>",
                         .to = {"Reader <reader@example.org>"},
                         .subject_prefix = "[papers]"};
  const Notification n = fuzz::NotificationFrom(bytes);
  auto message = BuildEmailMessage(n, RenderContext{.id = n.id, .now = 1706515200}, "fuzz",
                                   settings, 1 + static_cast<int>(name_size));
  FUZZ_CHECK(message.has_value(), message ? "" : message.error().message);
  fuzz::CheckMessageShape(*message);
  const std::size_t b = message->find("boundary=\"");
  FUZZ_CHECK(b != std::string::npos, "no boundary");
  const std::string boundary = message->substr(b + 10, message->find('"', b + 10) - b - 10);
  for (const char* type : {"text/plain", "text/html"}) {
    const std::string part = fuzz::PartBody(*message, boundary, type);
    FUZZ_CHECK(IsValidUtf8(part), std::string(type) + ": " + fuzz::AroundInvalidUtf8(part));
  }
  const std::size_t subject = message->find("\r\nSubject: ");
  FUZZ_CHECK(subject != std::string::npos, "no Subject");
  std::size_t end = subject + 11;
  while (true) {
    end = message->find("\r\n", end);
    if (message->compare(end + 2, 1, " ") != 0) break;
    end += 2;
  }
  const std::string decoded = fuzz::DecodeUnstructured(
      std::string_view(*message).substr(subject + 11, end - subject - 11));
  FUZZ_CHECK(IsValidUtf8(decoded) && decoded.starts_with("[papers]"), "subject: " + decoded);
  return 0;
}
