// The texts a notifier's messages are written with (issue 9 point 5, README "Templates"):
// one paper's entry, the message's heading and its "and N more" line, each a Mustache
// MessageTemplate: the notifier's template_file sections where it gives them, the kind's
// built-ins elsewhere. Immutable values and pure functions: thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/notification.h"
#include "core/notifier_config.h"
#include "core/result.h"
#include "notifiers/template.h"

namespace digestd {

struct MessageTexts {
  MessageTemplate paper;    // one paper's entry
  MessageTemplate heading;  // the message's heading, one line
  MessageTemplate footer;   // "and N more", one line; rendered only when papers were left out
};

// The built-in heading and footer of every kind: digestd's own wording, as a template.
inline constexpr std::string_view kBuiltInHeading = "{{heading}}";
inline constexpr std::string_view kBuiltInFooter = "{{more_line}}";

// `notifier`'s texts: the sections of its template_file (ParseTemplateFile; errors name the
// file's PATH:LINE:COL), with `paper`, `heading` and `footer` (built-in texts) for the
// sections it does not give, or for all three without a template_file.
Result<MessageTexts> LoadMessageTexts(const NotifierConfig& notifier, std::string_view paper,
                                      std::string_view heading = kBuiltInHeading,
                                      std::string_view footer = kBuiltInFooter);

// What a heading or footer template is given, besides the notification itself.
struct FrameFacts {
  std::string heading;     // digestd's heading wording, safe already
  std::string more_line;   // digestd's "and N more papers", safe already; "" when none
  std::size_t count = 0;   // papers in the notification
  std::size_t shown = 0;   // papers in the message
  std::string digest_url;  // the digest's http(s) link (made safe), or ""
  std::string date;        // "YYYY-MM-DD" of the papers, or ""
};

// The values a heading or footer sees (README "Templates"): heading, more_line, count,
// shown, more, digest_url, kind, event, watches, watch_list, source, alert, date, notifier.
// Text taken from `n` goes through `clean` (the kind's making-safe of untrusted text); the
// platform's escaping is applied when rendered.
TemplateData FrameData(const Notification& n, const FrameFacts& facts, TemplateEscape clean);

}  // namespace digestd
