// MIME for the email channel (platforms.md §2.1): RFC 2047 encoded words for subjects and
// display names (UTF-8, "B" encoding, split only between characters, each word at most 75
// characters), header values cleaned of anything that could end a header, and a
// multipart/alternative message (text/plain, then text/html, both UTF-8, each quoted-printable
// or base64, whichever is shorter) with CRLF line ends and no line over 76 octets but a few
// header lines (never over 998). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/mailbox.h"

namespace digestd {

// The longest an encoded word may be (RFC 2047 §2), and a line holding encoded words (§2).
inline constexpr std::size_t kMaxEncodedWord = 75;
inline constexpr std::size_t kMaxEncodedLine = 76;

// The unstructured header value (a Subject) for "Name: value": HeaderText (core/mailbox.h)
// of `text`, folded with CRLF SP. Printable ASCII stays as it is, folded between words;
// anything else (or a word too long to fold, or text that looks like an encoded word) becomes
// UTF-8 "B" encoded words, each holding whole characters, the first sized to follow "Name: "
// (`name_size` is the length of Name), every line at most kMaxEncodedLine characters.
std::string EncodeUnstructured(std::string_view text, std::size_t name_size);

// A mailbox for an address header: `"Name" <addr>` (quoted, escaped) for a short ASCII name,
// encoded words then <addr> for any other name, or the bare address without one. May hold
// CRLF SP folds between encoded words.
std::string FormatMailbox(const Mailbox& mailbox);

// Appends `bytes` in base64 to `out`, lines of 76 characters, each ended by CRLF:
// Base64LinesSize(bytes.size()) characters.
void AppendBase64Lines(std::string& out, std::string_view bytes);
std::size_t Base64LinesSize(std::size_t bytes);

// Appends `bytes` (CRLF line ends) in quoted-printable (RFC 2045 §6.7) to `out`: each CRLF a
// hard line break; printable ASCII but "=" as it is, and a space or tab not before a line
// break; every other byte =XX (a UTF-8 character's on one line), and a line's first "." and
// the "F" of a line starting "From "; lines of at most 76 characters, soft breaks ("=" CRLF)
// between.
// QuotedPrintableSize(bytes) characters.
void AppendQuotedPrintable(std::string& out, std::string_view bytes);
std::size_t QuotedPrintableSize(std::string_view bytes);

// RFC 5322 date-time in UTC: "Mon, 29 Jan 2024 08:00:00 +0000".
std::string MailDate(std::int64_t unix_seconds);

// A whole message. Header values must already be encoded (EncodeUnstructured,
// FormatMailbox); an address header's mailboxes are folded one per line when they do not fit.
struct MimeMessage {
  std::vector<std::pair<std::string, std::string>> headers;  // in order, before MIME ones
  // Must not occur in an encoded part: "=_digestd_<id>" (base64 has no "_", and a quoted
  // "=" is followed by a hex digit or a line break).
  std::string boundary;
  std::string text;      // UTF-8 plain text; any line ends
  std::string html;      // UTF-8 HTML
};

// The RFC 5322 bytes: the headers, MIME-Version, Content-Type multipart/alternative, then the
// text part and the HTML part (preferred, so last: RFC 2046 §5.1.4), each quoted-printable or
// base64, whichever is shorter (QuotedPrintableSize, Base64LinesSize). CRLF only.
std::string BuildMimeMessage(const MimeMessage& message);
// The same, each part's text given back as soon as it is encoded: a long digest's text part
// is a megabyte, and the message another. `message` keeps its headers and boundary.
std::string BuildMimeMessage(MimeMessage&& message);

// Joins formatted mailboxes into one address-list value, folding after a comma before a
// line would pass 76 characters (`name_size` as for EncodeUnstructured).
std::string JoinAddressList(const std::vector<std::string>& mailboxes, std::size_t name_size);

}  // namespace digestd
