// The `email` notifier (CONFIG.md, platforms.md §2): one multipart/alternative message per
// notification (RenderEmailContent, BuildMimeMessage), sent as one SMTP transaction per
// recipient — each transaction a part, "ID", "ID-1", ... in to, cc, bcc order — so a refusal
// names its recipient (libcurl 7.88 does not say which RCPT failed) and a retry resumes at
// the recipient not yet served. Every transaction carries the same bytes: one Message-ID
// (the outbox id), To and Cc headers, never Bcc. Immutable channel: thread-safe.
#pragma once

#include <memory>
#include <string>

#include "core/notification.h"
#include "core/notifier_config.h"
#include "core/result.h"
#include "notifiers/channel.h"
#include "notifiers/email_render.h"

namespace digestd {

// The whole RFC 5322 message for `notification` from `settings`: Date (context.now),
// From, To, Cc, Subject (subject_prefix first), Message-ID <context.id@from-domain>,
// Auto-Submitted, List-Id (per notifier), List-Unsubscribe (when configured), then the
// text and HTML parts, written with `texts` (EmailTexts; null: the built-ins). Fails on an
// empty id or an address that does not parse. `content`, when given, receives what the
// parts were made of (the subject unencoded, the text part as written).
struct EmailTexts {
  MessageTexts texts;
  bool html_paper = false;  // the file has a paper section: it writes the HTML card's text too
};
Result<std::string> BuildEmailMessage(const Notification& notification,
                                      const RenderContext& context, const std::string& notifier,
                                      const EmailSettings& settings, int max_papers,
                                      const EmailTexts* texts = nullptr,
                                      EmailContent* content = nullptr);

// What an SMTP transaction's response means: accepted (2xx) delivered; no connection,
// TLS, a timeout, refused credentials (reported as such) or a 4xx retry; a 5xx permanent for
// this part only — the other recipients still get the message, and the reason names the
// recipient ("recipient bob@example.org refused: RCPT failed: 550 5.1.1 ...").
Outcome ClassifySmtp(const Payload& payload, const Response& response);

// The email channel over `settings`; timeout, tls_verify and ca_file from `notifier`.
// Fails when from, to, cc or bcc hold an address that does not parse, or nothing to send to,
// or when its template_file does not compile (naming the file's PATH:LINE:COL).
Result<std::unique_ptr<Channel>> MakeEmailChannel(const NotifierConfig& notifier,
                                                  const EmailSettings& settings);

}  // namespace digestd
