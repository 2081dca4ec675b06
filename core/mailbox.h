// Mailbox: one e-mail address with an optional display name ("Ana Kim <ana@example.org>" or
// "ana@example.org"), as the `email` notifier's from/to/cc/bcc keys give it. One parser for
// the config loader (which rejects bad ones with file:line:col) and the email channel (which
// writes them into headers and the SMTP envelope). Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace digestd {

struct Mailbox {
  std::string display_name;  // HeaderText of the name given; may be empty
  std::string address;       // local@domain: printable ASCII, no spaces, quotes or brackets
};

// `text` as it may stand in a header: valid UTF-8, every C0 and C1 control character (CR,
// LF, NUL, TAB, ESC, ...) and DEL made a space, runs of whitespace one space, ends trimmed.
// A display name is kept so (nothing of it can break a header), and the email channel writes
// every header value it is given so.
std::string HeaderText(std::string_view text);

// Parses "Name <local@domain>", "<local@domain>" or "local@domain". The display name may be
// in double quotes (backslash escapes a quote). Fails, saying why (without echoing the
// value), when the address is missing, has no single '@' with text on both sides, holds
// characters an SMTP envelope cannot carry (space, control, quote, bracket, comma, non-ASCII:
// no SMTPUTF8), or text follows the closing '>'.
Result<Mailbox> ParseMailbox(std::string_view text);

// The domain of an address ("example.org" for "ana@example.org"); empty without '@'.
std::string_view MailDomain(std::string_view address);

}  // namespace digestd
