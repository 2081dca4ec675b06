// The `teams` notifier (platforms.md §1.3): an Adaptive Card to a Workflows webhook.
#include <array>

#include "core/json_writer.h"
#include "notifiers/chat_channel_base.h"
#include "notifiers/chat_channels.h"
#include "notifiers/chat_text.h"
#include "notifiers/limits.h"

namespace digestd {
namespace {

constexpr ChannelLimits kLimits = LimitsFor("teams");

// Adaptive Card TextBlocks read a markdown subset (HTML is shown as text): escape it.
std::string Md(std::string_view text) { return EscapeMarkdown(text); }

void TextBlock(JsonWriter& json, const std::string& text, bool subtle = false,
               std::string_view size = {}, bool bold = false) {
  json.BeginObject().Key("type").String("TextBlock").Key("text").String(text);
  json.Key("wrap").Bool(true);
  if (subtle) json.Key("isSubtle").Bool(true);
  if (!size.empty()) json.Key("size").String(size);
  if (bold) json.Key("weight").String("Bolder");
  json.EndObject();
}

// A paper's TextBlocks under its linked title, each a template in the card's markdown
// (README "Templates"): the built-in writes four small subtle blocks; a template_file
// writes one block.
struct Block {
  MessageTemplate text;
  bool subtle = false;
  std::string_view size;
};

std::vector<Block> BuiltInBlocks() {
  const auto make = [](std::string_view text, bool subtle, std::string_view size) {
    return Block{.text = *MessageTemplate::Compile(std::string(text), std::string()),
                 .subtle = subtle,
                 .size = size};
  };
  return {make("{{meta}}", true, "Small"), make("{{authors}}", true, "Small"),
          make("{{#watches}}Matched: {{watches}}{{/watches}}", true, "Small"),
          make("{{summary}}", false, {})};
}

// Markdown escaping; a SafeUrl link stays a link.
std::string Escape(std::string_view value) {
  return IsSafeLink(value) ? std::string(value) : Md(value);
}

class TeamsFormat final : public ChatFormat {
 public:
  TeamsFormat(std::vector<Block> blocks, std::string notifier)
      : blocks_(std::move(blocks)), notifier_(std::move(notifier)) {}

  ChatPiece Piece(const ChatPaper& p) const override {
    JsonWriter json;
    json.BeginObject().Key("type").String("Container").Key("separator").Bool(true);
    json.Key("items").BeginArray();
    std::size_t elements = 2;  // the container and the title
    if (!p.image_url.empty()) {
      json.BeginObject().Key("type").String("Image").Key("url").String(p.image_url);
      json.Key("size").String("Medium").Key("altText").String("thumbnail").EndObject();
      ++elements;
    }
    const std::string title = p.url.empty() ? "**" + Md(p.title) + "**"
                                            : "**[" + Md(p.title) + "](" + p.url + ")**";
    TextBlock(json, title);
    const TemplateData data = PaperData(p, notifier_);
    for (const Block& block : blocks_) {
      const std::string text = block.text.Render(data, &Escape);
      if (text.empty()) continue;
      TextBlock(json, text, block.subtle, block.size);
      ++elements;
    }
    json.EndArray().EndObject();
    return {.markup = json.Take(), .blocks = elements, .link = p.url, .image = p.image_url};
  }

  std::string Body(const ChatFrame& frame, std::span<const ChatPiece> pieces) const override {
    const ChatMessage& m = *frame.message;
    JsonWriter json;
    json.BeginObject().Key("type").String("message").Key("attachments").BeginArray();
    json.BeginObject().Key("contentType").String("application/vnd.microsoft.card.adaptive");
    json.Key("contentUrl").Null();
    json.Key("content").BeginObject();
    json.Key("$schema").String("http://adaptivecards.io/schemas/adaptive-card.json");
    json.Key("type").String("AdaptiveCard").Key("version").String("1.2");
    json.Key("msteams").BeginObject().Key("width").String("Full").EndObject();
    json.Key("body").BeginArray();
    TextBlock(json, Md(m.heading + frame.Label()), false, "Medium", /*bold=*/true);
    if (!m.alert.empty()) TextBlock(json, Md(m.alert));
    for (const ChatPiece& piece : pieces) json.Raw(piece.markup);
    if (frame.last && m.more > 0) {
      const std::string more = Md(MoreLine(m));
      TextBlock(json, m.more_url.empty() ? more : "[" + more + "](" + m.more_url + ") in the digest",
                /*subtle=*/true);
    }
    json.EndArray().EndObject().EndObject().EndArray().EndObject();
    return json.Take();
  }

  bool Fits(const ChatFrame&, std::span<const ChatPiece> pieces,
            std::string_view body) const override {
    std::size_t elements = 3;
    for (const ChatPiece& piece : pieces) elements += piece.blocks;
    return elements <= kLimits.max_blocks && body.size() <= kLimits.max_body_bytes;
  }

 private:
  const std::vector<Block> blocks_;
  const std::string notifier_;
};

// Teams posts through a Workflows webhook like the others; only its legacy throttling
// answer differs.
class TeamsChannel final : public WebhookChatChannel<TeamsFormat> {
 public:
  TeamsChannel(const NotifierConfig& notifier, const TeamsSettings& settings,
               std::vector<Block> blocks)
      : WebhookChatChannel(notifier, settings.url, std::move(blocks), notifier.name) {}

  Outcome Classify(const Payload& payload, const Response& response) const override {
    // Legacy connectors answered 200 with the throttling in the body.
    if (response.status == 200 &&
        response.body.find("HTTP error 429") != std::string::npos) {
      Response throttled = response;
      throttled.status = 429;
      return WebhookChatChannel::Classify(payload, throttled);
    }
    // A Workflows trigger answers 202 before the flow posts: accepted, not confirmed.
    return WebhookChatChannel::Classify(payload, response);
  }
};

}  // namespace

Result<std::unique_ptr<Channel>> MakeTeamsChannel(const NotifierConfig& notifier,
                                                  const TeamsSettings& settings) {
  if (settings.url.empty()) return Unexpected("notifier '" + notifier.name + "': url is empty");
  std::vector<Block> blocks = BuiltInBlocks();
  if (!notifier.template_file.empty()) {
    auto paper = PaperTemplate(notifier, {});
    if (!paper) return Unexpected(paper.error());
    blocks = {Block{.text = std::move(*paper)}};
  }
  return std::unique_ptr<Channel>(
      std::make_unique<TeamsChannel>(notifier, settings, std::move(blocks)));
}

}  // namespace digestd
