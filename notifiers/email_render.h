// The email renderer: a Notification as a subject, a plain-text body and an HTML body that
// say the same (DESIGN.md §7, issue 8). Instant messages grouped by digest, digest-mode and
// highlights messages all come through here: papers grouped by watch, each paper once with
// every watch it matched, what changed for updated/new_version/threshold entries, thumbnails,
// linked titles, votes, authors ("et al."), summary bullets through cmark-gfm with raw HTML
// shown as text. The HTML uses inline styles only and a fluid layout (phone and desktop), and
// stays within `max_html_bytes` (Gmail clips at ~102 KB): what does not fit becomes a list of
// links, then "and N more". Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string>

#include "core/notification.h"
#include "notifiers/message_texts.h"

namespace digestd {

// Gmail clips a message whose HTML passes ~102 KB (platforms.md §2); a margin under it.
inline constexpr std::size_t kEmailMaxHtmlBytes = 98 * 1024;

struct EmailRenderOptions {
  int max_papers = 50;                       // papers in the message; the rest "and N more"
  std::size_t max_html_bytes = kEmailMaxHtmlBytes;
  std::string subject_prefix;                // e.g. "[papers]"; put before the subject
  // The heading (subject, title, first line), each card's text and "and N more" (README
  // "Templates"); null: the built-ins (kEmailBuiltInPaper). Values are made safe
  // (TerminalSafe); in the HTML part the whole rendered text is HTML-escaped.
  const MessageTexts* texts = nullptr;
  // The card's text in the HTML part too: a template_file's paper section (its text under
  // the linked title and thumbnail, line breaks kept). Otherwise the HTML card is digestd's.
  bool html_paper_from_texts = false;
};

// The built-in text of one card in the text part: the lines under "N. title", indented.
inline constexpr std::string_view kEmailBuiltInPaper =
    "{{#url}}{{url}}\n{{/url}}{{#meta}}{{meta}}\n{{/meta}}{{#matched}}{{matched}}\n{{/matched}}"
    "{{#change_list}}{{.}}\n{{/change_list}}{{#summary_list}}- {{.}}\n{{/summary_list}}"
    "{{media_line}}";

struct EmailContent {
  std::string subject;  // UTF-8, one line, not yet encoded for the header
  std::string text;     // text/plain, CRLF line ends
  std::string html;     // text/html, CRLF line ends
  int papers = 0;       // distinct papers the notification carries
  int cards = 0;        // papers shown in full in the HTML
  int links = 0;        // papers shown as a one-line link in the HTML
};

EmailContent RenderEmailContent(const Notification& notification,
                                const EmailRenderOptions& options);

// One summary bullet (markdown) as inline HTML through cmark-gfm: emphasis, code and links
// rendered; raw HTML (`<think>`) escaped so it shows as text; unsafe link schemes dropped.
std::string SummaryHtml(std::string_view markdown);

}  // namespace digestd
