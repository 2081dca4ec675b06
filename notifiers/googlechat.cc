// The `googlechat` notifier (platforms.md §1.7): cardsV2 to a space webhook, one thread a day.
#include <array>

#include "core/json_writer.h"
#include "notifiers/chat_channel_base.h"
#include "notifiers/chat_channels.h"
#include "notifiers/chat_text.h"
#include "notifiers/limits.h"

namespace digestd {
namespace {

constexpr ChannelLimits kLimits = LimitsFor("googlechat");

// Card text reads a small HTML subset; escaping < also keeps <users/all> from mentioning.
std::string Html(std::string_view text) { return EscapeHtml(text); }

void Paragraph(JsonWriter& json, const std::string& html) {
  json.BeginObject().Key("textParagraph").BeginObject().Key("text").String(html);
  json.EndObject().EndObject();
}

// The paragraph under a paper's decorated title, in Chat's HTML subset (README
// "Templates"); the title, votes and authors widget stays digestd's.
constexpr std::string_view kBuiltInTemplate =
    "{{#watches}}<i>Matched: {{watches}}</i>{{#summary}}<br>{{/summary}}{{/watches}}{{summary}}";

class GoogleChatFormat final : public ChatFormat {
 public:
  GoogleChatFormat(MessageTemplate paper, std::string notifier)
      : paper_(std::move(paper)), notifier_(std::move(notifier)) {}

  ChatPiece Piece(const ChatPaper& p) const override {
    JsonWriter json;
    json.BeginObject().Key("widgets").BeginArray();
    json.BeginObject().Key("decoratedText").BeginObject();
    json.Key("topLabel").String(Html(MetaLine(p)));
    json.Key("text").String(p.url.empty() ? "<b>" + Html(p.title) + "</b>"
                                          : "<b><a href=\"" + Html(p.url) + "\">" +
                                                Html(p.title) + "</a></b>");
    if (const std::string authors = AuthorsLine(p); !authors.empty()) {
      json.Key("bottomLabel").String(Html(authors));
    }
    json.Key("wrapText").Bool(true);
    if (!p.image_url.empty()) {
      json.Key("startIcon").BeginObject().Key("iconUrl").String(p.image_url);
      json.Key("altText").String("thumbnail").EndObject();
    }
    json.EndObject().EndObject();
    std::size_t widgets = 1;
    const std::string detail = paper_.Render(PaperData(p, notifier_), &Html);
    if (!detail.empty()) {
      Paragraph(json, detail);
      ++widgets;
    }
    json.EndArray().EndObject();
    return {.markup = json.Take(), .blocks = widgets, .link = p.url, .image = p.image_url};
  }

  std::string Body(const ChatFrame& frame, std::span<const ChatPiece> pieces) const override {
    const ChatMessage& m = *frame.message;
    JsonWriter json;
    json.BeginObject().Key("cardsV2").BeginArray().BeginObject();
    json.Key("cardId").String("digestd-" + std::to_string(frame.index));
    json.Key("card").BeginObject();
    json.Key("header").BeginObject().Key("title").String(m.heading + frame.Label());
    json.Key("subtitle").String(m.date).EndObject();
    json.Key("sections").BeginArray();
    if (!m.alert.empty()) {
      json.BeginObject().Key("widgets").BeginArray();
      Paragraph(json, Html(m.alert));
      json.EndArray().EndObject();
    }
    for (const ChatPiece& piece : pieces) json.Raw(piece.markup);
    if (frame.last && m.more > 0) {
      json.BeginObject().Key("widgets").BeginArray();
      if (m.more_url.empty()) {
        Paragraph(json, Html(MoreLine(m)));
      } else {
        json.BeginObject().Key("buttonList").BeginObject().Key("buttons").BeginArray();
        json.BeginObject().Key("text").String(MoreLine(m) + " in the digest");
        json.Key("onClick").BeginObject().Key("openLink").BeginObject();
        json.Key("url").String(m.more_url).EndObject().EndObject().EndObject();
        json.EndArray().EndObject().EndObject();
      }
      json.EndArray().EndObject();
    }
    json.EndArray().EndObject().EndObject().EndArray();
    // Every message of one day in one thread.
    json.Key("thread").BeginObject().Key("threadKey").String("digestd-" + m.date).EndObject();
    json.EndObject();
    return json.Take();
  }

  bool Fits(const ChatFrame&, std::span<const ChatPiece> pieces,
            std::string_view body) const override {
    std::size_t widgets = 2;
    for (const ChatPiece& piece : pieces) widgets += piece.blocks;
    return widgets <= kLimits.max_blocks && body.size() <= kLimits.max_body_bytes;
  }

 private:
  const MessageTemplate paper_;
  const std::string notifier_;
};

class GoogleChatChannel final : public WebhookChatChannel<GoogleChatFormat> {
 public:
  GoogleChatChannel(const NotifierConfig& notifier, const GoogleChatSettings& settings,
                    MessageTemplate paper)
      : WebhookChatChannel(notifier, WithReplyOption(settings.url), std::move(paper),
                           notifier.name) {}

  Outcome Classify(const Payload& payload, const Response& response) const override {
    Outcome out = WebhookChatChannel::Classify(payload, response);
    if (out.kind == Outcome::Kind::kDelivered) out.remote_id = JsonMember(response.body, "name");
    return out;
  }

 private:
  // A threadKey starts a thread or, when it exists, replies in it.
  static std::string WithReplyOption(const std::string& url) {
    if (url.find("messageReplyOption=") != std::string::npos) return url;
    return url + (url.find('?') == std::string::npos ? "?" : "&") +
           "messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD";
  }
};

}  // namespace

Result<std::unique_ptr<Channel>> MakeGoogleChatChannel(const NotifierConfig& notifier,
                                                       const GoogleChatSettings& settings) {
  if (settings.url.empty()) return Unexpected("notifier '" + notifier.name + "': url is empty");
  auto paper = PaperTemplate(notifier, kBuiltInTemplate);
  if (!paper) return Unexpected(paper.error());
  return std::unique_ptr<Channel>(
      std::make_unique<GoogleChatChannel>(notifier, settings, std::move(*paper)));
}

}  // namespace digestd
