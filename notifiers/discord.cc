// The `discord` notifier (platforms.md §1.2): Execute Webhook with ?wait=true and embeds.
#include <array>

#include "core/json_writer.h"
#include "notifiers/chat_channel_base.h"
#include "notifiers/chat_channels.h"
#include "notifiers/chat_text.h"
#include "notifiers/limits.h"

namespace digestd {
namespace {

constexpr ChannelLimits kLimits = LimitsFor("discord");
constexpr int kEmbedColor = 0x4F6BED;

std::string Md(std::string_view text) { return EscapeMarkdown(text); }

// A paper's embed description, in Discord markdown (README "Templates"). The embed's title
// and link stay digestd's.
constexpr std::string_view kBuiltInTemplate =
    "*{{meta}}*{{#authors}}\n{{authors}}{{/authors}}{{#watches}}\nMatched: {{watches}}{{/watches}}"
    "{{#summary}}\n\n{{summary}}{{/summary}}";

// Markdown escaping; a SafeUrl link stays a link.
std::string Escape(std::string_view value) {
  return IsSafeLink(value) ? std::string(value) : Md(value);
}

class DiscordFormat final : public ChatFormat {
 public:
  DiscordFormat(MessageTemplate paper, std::string notifier)
      : paper_(std::move(paper)), notifier_(std::move(notifier)) {}

  ChatPiece Piece(const ChatPaper& p) const override {
    // Escaping lengthens the title: cut the text until its escaped form fits.
    std::string escaped_title = Md(p.title);
    for (std::size_t keep = kLimits.max_title;
         TextLength(escaped_title, kLimits.unit) > kLimits.max_title && keep > 1;) {
      keep -= std::min<std::size_t>(keep - 1, 16);
      escaped_title = Md(CutText(p.title, keep, kLimits.unit));
    }
    const std::string description = CutText(paper_.Render(PaperData(p, notifier_), &Escape),
                                            kLimits.max_block_text, kLimits.unit);
    JsonWriter json;
    json.BeginObject();
    json.Key("title").String(escaped_title);
    if (!p.url.empty()) json.Key("url").String(p.url);
    json.Key("description").String(description);
    json.Key("color").Int(kEmbedColor);
    if (!p.image_url.empty()) {
      json.Key("thumbnail").BeginObject().Key("url").String(p.image_url).EndObject();
    }
    json.EndObject();
    return {.markup = json.Take(),
            .text = TextLength(escaped_title, kLimits.unit) +
                    TextLength(description, kLimits.unit),
            .blocks = 1,
            .link = p.url,
            .image = p.image_url};
  }

  std::string Body(const ChatFrame& frame, std::span<const ChatPiece> pieces) const override {
    JsonWriter json;
    json.BeginObject();
    json.Key("content").String(Content(frame));
    json.Key("embeds").BeginArray();
    for (const ChatPiece& piece : pieces) json.Raw(piece.markup);
    json.EndArray();
    // No @everyone, @here, user or role mention is ever parsed, whatever the text says.
    json.Key("allowed_mentions").BeginObject().Key("parse").BeginArray().EndArray().EndObject();
    json.EndObject();
    return json.Take();
  }

  bool Fits(const ChatFrame& frame, std::span<const ChatPiece> pieces,
            std::string_view body) const override {
    std::size_t text = 0;
    for (const ChatPiece& piece : pieces) text += piece.text;
    return pieces.size() <= kLimits.max_blocks && text <= kLimits.max_total_text &&
           TextLength(Content(frame), kLimits.unit) <= kLimits.max_text &&
           body.size() <= kLimits.max_body_bytes;
  }

 private:
  static std::string Content(const ChatFrame& frame) {
    const ChatMessage& m = *frame.message;
    std::string content = "**" + Md(m.heading + frame.Label()) + "**";
    if (!m.alert.empty()) content += "\n" + Md(m.alert);
    if (frame.last && m.more > 0) {
      content += "\n" + Md(MoreLine(m));
      // <url> links without a preview embed.
      if (!m.more_url.empty()) content += " in the digest: <" + m.more_url + ">";
    }
    return content;
  }

  const MessageTemplate paper_;
  const std::string notifier_;
};

class DiscordChannel final : public WebhookChatChannel<DiscordFormat> {
 public:
  DiscordChannel(const NotifierConfig& notifier, const DiscordSettings& settings,
                 MessageTemplate paper)
      : WebhookChatChannel(notifier, WithWait(settings.url), std::move(paper), notifier.name) {}

  Outcome Classify(const Payload& payload, const Response& response) const override {
    Outcome out = WebhookChatChannel::Classify(payload, response);
    if (out.kind == Outcome::Kind::kDelivered) out.remote_id = JsonMember(response.body, "id");
    return out;
  }

 private:
  // With wait=true Discord answers only once the message is saved, with its id.
  static std::string WithWait(const std::string& url) {
    const std::size_t query = url.find('?');
    if (query != std::string::npos) {
      const std::string_view q = std::string_view(url).substr(query);
      if (q.find("?wait=") != std::string_view::npos ||
          q.find("&wait=") != std::string_view::npos) {
        return url;
      }
      return url + "&wait=true";
    }
    return url + "?wait=true";
  }
};

}  // namespace

Result<std::unique_ptr<Channel>> MakeDiscordChannel(const NotifierConfig& notifier,
                                                    const DiscordSettings& settings) {
  if (settings.url.empty()) return Unexpected("notifier '" + notifier.name + "': url is empty");
  auto paper = PaperTemplate(notifier, kBuiltInTemplate);
  if (!paper) return Unexpected(paper.error());
  return std::unique_ptr<Channel>(
      std::make_unique<DiscordChannel>(notifier, settings, std::move(*paper)));
}

}  // namespace digestd
