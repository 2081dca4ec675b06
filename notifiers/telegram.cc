// The `telegram` notifier (platforms.md §1.4): Bot API sendMessage in HTML parse mode.
#include <array>

#include "core/json_writer.h"
#include "notifiers/chat_channel_base.h"
#include "notifiers/chat_channels.h"
#include "notifiers/chat_text.h"
#include "notifiers/limits.h"

namespace digestd {
namespace {

constexpr ChannelLimits kLimits = LimitsFor("telegram");
// 401: the token was revoked; 403: the bot was blocked or removed from the chat; 404: no
// such bot. None of them heals by retrying.
constexpr std::array<long, 4> kDisable = {401, 403, 404, 410};

// Telegram's HTML knows only &lt; &gt; &amp; &quot;.
std::string Html(std::string_view text) { return EscapeHtml(text, /*apostrophe=*/false); }

// Markup and its visible text (what the 4096 limit counts, "after entities parsing").
struct Text {
  std::string html;
  std::string plain;
  void Add(const std::string& visible, const std::string& markup) {
    plain += visible;
    html += markup;
  }
  void Add(const std::string& visible) { Add(visible, Html(visible)); }
};

// A paper's HTML text (README "Templates").
constexpr std::string_view kBuiltInTemplate =
    "<b>{{#url}}<a href=\"{{url}}\">{{title}}</a>{{/url}}{{^url}}{{title}}{{/url}}</b>\n"
    "<i>{{meta}}</i>{{#authors}}\n{{authors}}{{/authors}}"
    "{{#watches}}\nMatched: {{watches}}{{/watches}}{{#summary}}\n{{summary}}{{/summary}}";

class TelegramFormat final : public ChatFormat {
 public:
  TelegramFormat(std::string chat_id, MessageTemplate paper, std::string notifier)
      : chat_id_(std::move(chat_id)), paper_(std::move(paper)), notifier_(std::move(notifier)) {}

  ChatPiece Piece(const ChatPaper& p) const override {
    Text t;
    t.html = paper_.Render(PaperData(p, notifier_), &Html);
    t.plain = HtmlAsText(t.html);  // what Telegram shows, and counts
    return {.markup = std::move(t.html),
            .plain = t.plain,
            .text = TextLength(t.plain, kLimits.unit),
            .link = p.url,
            .image = p.image_url};
  }

  std::string Body(const ChatFrame& frame, std::span<const ChatPiece> pieces) const override {
    const Text t = Message(frame, pieces);
    JsonWriter json;
    json.BeginObject();
    json.Key("chat_id").String(chat_id_);
    json.Key("text").String(t.html);
    json.Key("parse_mode").String("HTML");
    json.Key("link_preview_options").BeginObject();
    // One paper with a thumbnail: its image as the preview; else no preview at all.
    if (pieces.size() == 1 && !pieces.front().image.empty()) {
      json.Key("url").String(pieces.front().image).Key("prefer_small_media").Bool(true);
    } else {
      json.Key("is_disabled").Bool(true);
    }
    json.EndObject();
    json.EndObject();
    return json.Take();
  }

  bool Fits(const ChatFrame& frame, std::span<const ChatPiece> pieces,
            std::string_view body) const override {
    return TextLength(Message(frame, pieces).plain, kLimits.unit) <= kLimits.max_text &&
           body.size() <= kLimits.max_body_bytes;
  }

 private:
  static Text Message(const ChatFrame& frame, std::span<const ChatPiece> pieces) {
    const ChatMessage& m = *frame.message;
    Text t;
    const std::string heading = m.heading + frame.Label();
    t.Add(heading, "<b>" + Html(heading) + "</b>");
    if (!m.alert.empty()) t.Add("\n" + m.alert);
    for (const ChatPiece& piece : pieces) t.Add("\n\n" + piece.plain, "\n\n" + piece.markup);
    if (frame.last && m.more > 0) {
      const std::string more = MoreLine(m);
      if (m.more_url.empty()) {
        t.Add("\n\n" + more);
      } else {
        t.Add("\n\n" + more + " in the digest",
              "\n\n<a href=\"" + Html(m.more_url) + "\">" + Html(more) + "</a> in the digest");
      }
    }
    return t;
  }

  const std::string chat_id_;
  const MessageTemplate paper_;
  const std::string notifier_;
};

class TelegramChannel final : public ChatChannel {
 public:
  TelegramChannel(const NotifierConfig& notifier, const TelegramSettings& settings,
                  MessageTemplate paper)
      : ChatChannel(notifier),
        url_(settings.api_url + "/bot" + settings.token + "/sendMessage"),
        shown_url_(settings.api_url + "/bot…/sendMessage"),
        format_(settings.chat_id, std::move(paper), notifier.name) {}

  Outcome Classify(const Payload&, const Response& response) const override {
    Outcome out = ClassifyChat(response, kDisable);
    if (out.kind == Outcome::Kind::kDelivered) {
      out.remote_id = JsonMember(response.body, "result.message_id");
    } else if (const std::string moved = JsonMember(response.body, "parameters.migrate_to_chat_id");
               !moved.empty()) {
      out.reason += "; the group became a supergroup: set chat_id = " + moved;
    }
    return out;
  }

 protected:
  const ChatFormat& Format() const override { return format_; }
  Payload Request(std::string body, const std::string&) const override {
    return HttpPost(url_, shown_url_, std::move(body));
  }

 private:
  const std::string url_;        // holds the token
  const std::string shown_url_;  // the same without it
  const TelegramFormat format_;
};

}  // namespace

Result<std::unique_ptr<Channel>> MakeTelegramChannel(const NotifierConfig& notifier,
                                                     const TelegramSettings& settings) {
  const std::string where = "notifier '" + notifier.name + "': ";
  if (settings.token.empty()) return Unexpected(where + "token is empty");
  if (settings.chat_id.empty()) return Unexpected(where + "chat_id is empty");
  if (settings.token.find_first_of("/?#% ") != std::string::npos) {
    return Unexpected(where + "the token holds characters a bot token never has");
  }
  auto paper = PaperTemplate(notifier, kBuiltInTemplate);
  if (!paper) return Unexpected(paper.error());
  return std::unique_ptr<Channel>(
      std::make_unique<TelegramChannel>(notifier, settings, std::move(*paper)));
}

}  // namespace digestd
