// The `mattermost` notifier (platforms.md §1.5): markdown text to an incoming webhook.
#include <array>

#include "core/json_writer.h"
#include "notifiers/chat_channel_base.h"
#include "notifiers/chat_channels.h"
#include "notifiers/chat_text.h"
#include "notifiers/limits.h"

namespace digestd {
namespace {

constexpr ChannelLimits kLimits = LimitsFor("mattermost");
constexpr std::array<long, 2> kDisable = {404, 410};

// Mattermost reads Slack's <!channel> before markdown: & < > as entities, the rest escaped.
std::string Md(std::string_view text) { return EscapeMarkdown(text, /*angle_entities=*/true); }

class MattermostFormat final : public ChatFormat {
 public:
  ChatPiece Piece(const ChatPaper& p) const override {
    std::string text = p.url.empty() ? "**" + Md(p.title) + "**"
                                     : "**[" + Md(p.title) + "](" + p.url + ")**";
    text += "\n_" + Md(MetaLine(p)) + "_";
    if (const std::string authors = AuthorsLine(p); !authors.empty()) text += "\n" + Md(authors);
    if (const std::string watches = WatchesLine(p); !watches.empty()) {
      text += "\nMatched: " + Md(watches);
    }
    if (!p.summary.empty()) text += "\n> " + Md(p.summary);
    return {.markup = text, .text = TextLength(text, kLimits.unit), .link = p.url};
  }

  std::string Body(const ChatFrame& frame, std::span<const ChatPiece> pieces) const override {
    JsonWriter json;
    json.BeginObject().Key("text").String(Text(frame, pieces)).EndObject();
    return json.Take();
  }

  bool Fits(const ChatFrame& frame, std::span<const ChatPiece> pieces,
            std::string_view body) const override {
    return TextLength(Text(frame, pieces), kLimits.unit) <= kLimits.max_text &&
           body.size() <= kLimits.max_body_bytes;
  }

 private:
  static std::string Text(const ChatFrame& frame, std::span<const ChatPiece> pieces) {
    const ChatMessage& m = *frame.message;
    std::string text = "#### " + Md(m.heading + frame.Label());
    if (!m.alert.empty()) text += "\n" + Md(m.alert);
    for (const ChatPiece& piece : pieces) text += "\n\n" + piece.markup;
    if (frame.last && m.more > 0) {
      const std::string more = Md(MoreLine(m));
      text += m.more_url.empty() ? "\n\n" + more
                                 : "\n\n[" + more + "](" + m.more_url + ") in the digest";
    }
    return text;
  }
};

class MattermostChannel final : public ChatChannel {
 public:
  MattermostChannel(const NotifierConfig& notifier, const MattermostSettings& settings)
      : ChatChannel(notifier), url_(settings.url) {}

  Outcome Classify(const Payload&, const Response& response) const override {
    return ClassifyChat(response, kDisable);
  }

 protected:
  const ChatFormat& Format() const override { return format_; }
  Payload Request(std::string body, const std::string&) const override {
    return HttpPost(url_, ShownTarget(url_), std::move(body));
  }

 private:
  const std::string url_;
  const MattermostFormat format_;
};

}  // namespace

Result<std::unique_ptr<Channel>> MakeMattermostChannel(const NotifierConfig& notifier,
                                                       const MattermostSettings& settings) {
  if (settings.url.empty()) return Unexpected("notifier '" + notifier.name + "': url is empty");
  return std::unique_ptr<Channel>(std::make_unique<MattermostChannel>(notifier, settings));
}

}  // namespace digestd
