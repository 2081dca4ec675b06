// The `slack` notifier (platforms.md §1.1): Block Kit over an incoming webhook.
#include <array>

#include "core/json_writer.h"
#include "notifiers/chat_channel_base.h"
#include "notifiers/chat_channels.h"
#include "notifiers/chat_text.h"
#include "notifiers/limits.h"

namespace digestd {
namespace {

constexpr ChannelLimits kLimits = LimitsFor("slack");

// A mrkdwn link: the URL may not hold | or > (SafeUrl encodes them), the text is escaped.
std::string Link(const std::string& url, const std::string& text) {
  if (url.empty()) return EscapeSlack(text);
  return "<" + url + "|" + EscapeSlack(text) + ">";
}

// A paper's mrkdwn section text (README "Templates").
constexpr std::string_view kBuiltInTemplate =
    "*{{#url}}<{{url}}|{{title}}>{{/url}}{{^url}}{{title}}{{/url}}*\n{{meta}}"
    "{{#authors}}\n{{authors}}{{/authors}}{{#watches}}\nMatched: {{watches}}{{/watches}}"
    "{{#summary}}\n>{{summary}}{{/summary}}";

// Slack's escaping; a SafeUrl link goes into <url|text> as it is.
std::string Escape(std::string_view value) {
  return IsSafeLink(value) ? std::string(value) : EscapeSlack(value);
}

class SlackFormat final : public ChatFormat {
 public:
  SlackFormat(MessageTemplate paper, std::string notifier)
      : paper_(std::move(paper)), notifier_(std::move(notifier)) {}

  ChatPiece Piece(const ChatPaper& p) const override {
    const std::string text = paper_.Render(PaperData(p, notifier_), &Escape);
    JsonWriter json;
    json.BeginObject().Key("type").String("section");
    json.Key("text").BeginObject().Key("type").String("mrkdwn").Key("text").String(text);
    json.EndObject();
    if (!p.image_url.empty()) {
      json.Key("accessory").BeginObject().Key("type").String("image");
      json.Key("image_url").String(p.image_url).Key("alt_text").String("thumbnail").EndObject();
    }
    json.EndObject();
    return {.markup = json.Take(),
            .text = TextLength(text, kLimits.unit),
            .blocks = 1,
            .link = p.url,
            .image = p.image_url};
  }

  std::string Body(const ChatFrame& frame, std::span<const ChatPiece> pieces) const override {
    const ChatMessage& m = *frame.message;
    JsonWriter json;
    json.BeginObject();
    json.Key("text").String(EscapeSlack(Heading(frame)));
    json.Key("blocks").BeginArray();
    json.BeginObject().Key("type").String("header");
    json.Key("text").BeginObject().Key("type").String("plain_text");
    json.Key("text").String(Heading(frame)).Key("emoji").Bool(false).EndObject();
    json.EndObject();
    if (!m.alert.empty()) Section(json, EscapeSlack(m.alert));
    for (const ChatPiece& piece : pieces) json.Raw(piece.markup);
    if (const std::string more = Footer(frame); !more.empty()) {
      json.BeginObject().Key("type").String("context").Key("elements").BeginArray();
      json.BeginObject().Key("type").String("mrkdwn").Key("text").String(more).EndObject();
      json.EndArray().EndObject();
    }
    json.EndArray();
    json.EndObject();
    return json.Take();
  }

  bool Fits(const ChatFrame& frame, std::span<const ChatPiece> pieces,
            std::string_view body) const override {
    const ChatMessage& m = *frame.message;
    std::size_t blocks = 1 + (m.alert.empty() ? 0 : 1) + (Footer(frame).empty() ? 0 : 1);
    std::size_t text = TextLength(Heading(frame), kLimits.unit) +
                       TextLength(EscapeSlack(m.alert), kLimits.unit) +
                       TextLength(Footer(frame), kLimits.unit);
    if (TextLength(EscapeSlack(m.alert), kLimits.unit) > kLimits.max_block_text) return false;
    for (const ChatPiece& piece : pieces) {
      if (piece.text > kLimits.max_block_text) return false;
      blocks += piece.blocks;
      text += piece.text;
    }
    return blocks <= kLimits.max_blocks && text <= kLimits.max_total_text &&
           body.size() <= kLimits.max_body_bytes;
  }

 private:
  static std::string Heading(const ChatFrame& frame) {
    return CutText(frame.message->heading + frame.Label(), kLimits.max_title, kLimits.unit);
  }

  static std::string Footer(const ChatFrame& frame) {
    const ChatMessage& m = *frame.message;
    if (!frame.last || m.more <= 0) return {};
    return Link(m.more_url, MoreLine(m)) + (m.more_url.empty() ? "" : " in the digest");
  }

  static void Section(JsonWriter& json, const std::string& mrkdwn) {
    json.BeginObject().Key("type").String("section");
    json.Key("text").BeginObject().Key("type").String("mrkdwn").Key("text").String(mrkdwn);
    json.EndObject().EndObject();
  }

  const MessageTemplate paper_;
  const std::string notifier_;
};


}  // namespace

Result<std::unique_ptr<Channel>> MakeSlackChannel(const NotifierConfig& notifier,
                                                  const SlackSettings& settings) {
  if (settings.url.empty()) return Unexpected("notifier '" + notifier.name + "': url is empty");
  auto paper = PaperTemplate(notifier, kBuiltInTemplate);
  if (!paper) return Unexpected(paper.error());
  return std::unique_ptr<Channel>(std::make_unique<WebhookChatChannel<SlackFormat>>(
      notifier, settings.url, std::move(*paper), notifier.name));
}

}  // namespace digestd
