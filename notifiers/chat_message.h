// What every chat target shows, before any platform's markup: a Notification turned into a
// heading, paper entries (linked title, votes, what changed, authors, watches, summary,
// thumbnail) and an "and N more" link, all untrusted text already made ChatLine-safe. Also
// the one packer every chat channel splits with, and the response rules they share.
// Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/notification.h"
#include "core/result.h"
#include "notifiers/channel.h"
#include "notifiers/template.h"

namespace digestd {

struct ChatPaper {
  std::string title;                 // ChatLine-safe, never empty ("(untitled)")
  std::string url;                   // SafeUrl of the paper's link; may be ""
  std::optional<int> votes;
  std::string event;                 // new | updated | threshold | new_version
  std::string change;                // what changed: "votes 3 → 12", "v1 → v2", "updated"; ""
  std::vector<std::string> authors;  // the ones shown
  std::size_t authors_hidden = 0;    // authors not shown (also when the source elided some)
  bool authors_elided = false;       // the source itself elided names
  std::vector<std::string> watches;  // the watches it matched (the ones shown)
  std::size_t watches_hidden = 0;
  std::string summary;               // bullets joined by " · ", cut
  std::string image_url;             // SafeUrl of an image thumbnail; "" when none
  std::string source;
  std::string date;
};

struct ChatMessage {
  std::string kind;                  // instant | digest | highlights | alert
  std::string event;                 // the notification's event
  std::string heading;               // one line, e.g. "3 new papers · sparse attention"
  std::vector<ChatPaper> papers;     // at most max_papers
  std::int64_t more = 0;             // papers left out
  std::string more_url;              // SafeUrl of the digest; may be ""
  std::string more_line;             // "and 250 more papers" (or the footer template's line)
  std::string alert;                 // alerts: what happened (cut)
  std::string date;                  // "YYYY-MM-DD" of the papers, else of `now` (UTC)
};

// How much of a paper a chat message shows, from kFullDetail down to kLeastDetail.
inline constexpr int kFullDetail = 0;
inline constexpr int kLeastDetail = 4;

// The message for `n`: at most max(1, max_papers) papers (the rest counted in `more`),
// texts ChatLine-safe and cut to what a chat post shows at kFullDetail. With `heading` or
// `footer` (a template_file's sections, message_texts.h), the heading or the "and N more"
// words are that template's, rendered over ChatLine-safe values, made one ChatLine-safe
// line and cut like the built-in; a template that renders nothing keeps the built-in.
ChatMessage BuildChatMessage(const Notification& n, int max_papers, std::int64_t now,
                             const MessageTemplate* heading = nullptr,
                             const MessageTemplate* footer = nullptr);

// `paper` with less shown at `detail` (kFullDetail: as built; each level a shorter summary,
// fewer authors and watches, then no summary or thumbnail and a shorter title).
ChatPaper AtDetail(const ChatPaper& paper, int detail);

// Plain-text pieces every platform arranges in its own markup (already ChatLine-safe, not
// escaped): "new · 42 votes", "votes 3 → 12 · 12 votes", ...
std::string MetaLine(const ChatPaper& paper);
// "A, B, C and 4 more" (or "" without authors).
std::string AuthorsLine(const ChatPaper& paper);
// "sparse attention, agents" (or "").
std::string WatchesLine(const ChatPaper& paper);
// "and 250 more papers" for the digest link (or "" when nothing was left out): the
// message's more_line.
std::string MoreLine(const ChatMessage& message);

// Where one part stands in its message.
struct ChatFrame {
  const ChatMessage* message = nullptr;
  int index = 0;     // 0-based
  int count = 1;
  bool last = true;  // the part that carries "and N more"
  std::string Label() const;  // "" for a single part, else " (2/3)"
};

// One paper as a platform renders it, with what the platform's limits count.
struct ChatPiece {
  std::string markup;     // the platform's text, or JSON, for this paper
  std::string plain;      // a plain-text twin where the platform sends one (Matrix)
  std::size_t text = 0;   // its text as the platform's limit counts it
  std::size_t blocks = 0; // blocks, embeds, widgets or card elements it takes
  std::string link;       // the paper's SafeUrl link
  std::string image;      // its thumbnail, where it has one
};

// A platform's layout: how a paper and a whole part look, and whether a part is within the
// platform's limits. Implementations are immutable.
class ChatFormat {
 public:
  virtual ~ChatFormat() = default;
  virtual ChatPiece Piece(const ChatPaper& paper) const = 0;
  virtual std::string Body(const ChatFrame& frame, std::span<const ChatPiece> pieces) const = 0;
  // Whether `body` (made by Body from `frame` and `pieces`) is one the platform accepts.
  virtual bool Fits(const ChatFrame& frame, std::span<const ChatPiece> pieces,
                    std::string_view body) const = 0;
};

// The bodies that carry `message` on `format`: each paper at the most detail that fits a
// part on its own, papers in order, as many per part as fit, "and N more" in the last part.
// Fails only when even a paper at kLeastDetail, or a message without papers, does not fit.
Result<std::vector<std::string>> PackChat(const ChatFormat& format, const ChatMessage& message);

// "ID" for part 0, "ID-k" for part k (CONFIG.md).
std::string ChatPartId(const std::string& id, std::size_t index);

// scheme://host[:port] of `url` with the rest elided: how logs and errors show a URL whose
// path or query is a secret (webhook URLs, bot tokens, ntfy topics).
std::string ShownTarget(std::string_view url);

// Response rules of a chat target (platforms.md §1): ClassifyHttp, then
// - a 429 (or 503) also reads the delay a JSON body asks for: "retry_after" (seconds, may
//   be fractional: Discord), "parameters.retry_after" (Telegram) or "retry_after_ms"
//   (Matrix); the longer of header and body wins; with neither, `default_retry_after`;
//   plus one second, since the engine schedules in whole seconds from the current one;
// - the statuses in `disable` (404/410 on a webhook URL: the hook was deleted) disable the
//   target.
Outcome ClassifyChat(const Response& response, std::span<const long> disable,
                     std::optional<std::chrono::seconds> default_retry_after = std::nullopt);

// The delay a JSON body asks for (see ClassifyChat), rounded up; nullopt when none.
std::optional<std::chrono::seconds> BodyRetryAfter(std::string_view body);

// The string or integer member `path` ("id", "result.message_id") of a JSON object body, as
// text; "" when absent.
std::string JsonMember(std::string_view body, std::string_view path);

}  // namespace digestd
