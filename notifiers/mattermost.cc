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

// Mattermost reads Slack's <!channel> before markdown: & < > as entities, the rest escaped.
std::string Md(std::string_view text) { return EscapeMarkdown(text, /*angle_entities=*/true); }

// A paper's markdown text (README "Templates").
constexpr std::string_view kBuiltInTemplate =
    "**{{#url}}[{{title}}]({{url}}){{/url}}{{^url}}{{title}}{{/url}}**\n_{{meta}}_"
    "{{#authors}}\n{{authors}}{{/authors}}{{#watches}}\nMatched: {{watches}}{{/watches}}"
    "{{#summary}}\n> {{summary}}{{/summary}}";

// Markdown escaping; a SafeUrl link goes into (url) as it is.
std::string Escape(std::string_view value) {
  return IsSafeLink(value) ? std::string(value) : Md(value);
}

class MattermostFormat final : public ChatFormat {
 public:
  MattermostFormat(MessageTemplate paper, std::string notifier)
      : paper_(std::move(paper)), notifier_(std::move(notifier)) {}

  ChatPiece Piece(const ChatPaper& p) const override {
    const std::string text = paper_.Render(PaperData(p, notifier_), &Escape);
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

  const MessageTemplate paper_;
  const std::string notifier_;
};


}  // namespace

Result<std::unique_ptr<Channel>> MakeMattermostChannel(const NotifierConfig& notifier,
                                                       const MattermostSettings& settings) {
  if (settings.url.empty()) return Unexpected("notifier '" + notifier.name + "': url is empty");
  auto paper = PaperTemplate(notifier, kBuiltInTemplate);
  if (!paper) return Unexpected(paper.error());
  return std::unique_ptr<Channel>(std::make_unique<WebhookChatChannel<MattermostFormat>>(
      notifier, settings.url, std::move(*paper), notifier.name));
}

}  // namespace digestd
