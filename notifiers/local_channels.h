// The two local notifier kinds: `console` (text for a person at a terminal) and `file` (JSON
// lines, CONFIG.md "JSON shapes"). Their renderers are pure functions, also used directly
// by `once --json` and the daemon; their channels wrap them. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "core/notification.h"
#include "core/notifier_config.h"
#include "core/result.h"
#include "notifiers/channel.h"
#include "notifiers/message_texts.h"

namespace digestd {

// A short human-readable block: the event and the watches, then per paper its title, link,
// votes, source and date, authors (first few) and first summary line; after `max_papers`
// papers "and N more" (with the notification's digest_url when it has one). A message
// grouped by digest lists its papers under their watches, each once, with its own event.
// Control characters from the data are blanked. Ends with a newline. The first line, each
// paper's lines and the "and N more" line are written by `texts` (README "Templates"; null:
// the built-ins, kConsoleBuiltInPaper), every value made terminal-safe, each line of a
// paper's entry indented under its watch; the digest link follows the footer's line.
std::string RenderConsole(const Notification& notification, int max_papers,
                          const MessageTexts* texts = nullptr);

// The console's built-in paper entry (`grouped` is set in a message grouped by digest).
inline constexpr std::string_view kConsoleBuiltInPaper =
    "{{#grouped}}{{#event}}[{{event}}] {{/event}}{{/grouped}}{{title}}\n"
    "  {{url}}{{#meta}}  ({{meta}}){{/meta}}  [{{source}}{{#date}} {{date}}{{/date}}]"
    "{{#authors}}\n  {{authors}}{{/authors}}{{#summary}}\n  - {{summary}}{{/summary}}";


// NotificationJsonLines joined, each line ending in '\n'. Every paper: a file is a record,
// not a screen, so `max_papers` does not apply.
std::string RenderJsonLines(const Notification& notification);

// The `console` channel: one Transfer::kConsole payload whose body is RenderConsole. A
// response with `failure` set is retried; anything else is delivered. Fails only on a
// template_file that does not compile (its PATH:LINE:COL).
Result<std::unique_ptr<Channel>> MakeConsoleChannel(const NotifierConfig& notifier,
                                                    const ConsoleSettings& settings);

// The `file` channel: one Transfer::kAppend payload, url = the path, body = RenderJsonLines.
// Classified like the console. Fails when the path is empty or not absolute.
Result<std::unique_ptr<Channel>> MakeFileChannel(const NotifierConfig& notifier,
                                                 const FileSettings& settings);

}  // namespace digestd
