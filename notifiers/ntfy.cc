// The `ntfy` notifier (platforms.md §1.8): a JSON publish to the server root, plain text
// (markdown stays off, so nothing in a title or summary is read as markup).
#include <array>

#include "core/json_writer.h"
#include "notifiers/chat_channel_base.h"
#include "notifiers/chat_channels.h"
#include "notifiers/chat_text.h"
#include "notifiers/limits.h"

namespace digestd {
namespace {

constexpr ChannelLimits kLimits = LimitsFor("ntfy");
constexpr std::array<long, 1> kDisable = {410};

// An emoji tag per event (ntfy shows known tag names as emoji).
std::string_view TagFor(const ChatMessage& m) {
  if (m.event == "source_failing") return "warning";
  if (m.event == "source_recovered") return "white_check_mark";
  if (m.kind == "highlights") return "star";
  if (m.event == "threshold") return "chart_with_upwards_trend";
  if (m.event == "new_version") return "new";
  if (m.event == "updated") return "pencil2";
  return "page_facing_up";
}

// A paper's plain text (README "Templates").
constexpr std::string_view kBuiltInTemplate =
    "{{title}}\n{{meta}}{{#authors}}\n{{authors}}{{/authors}}"
    "{{#watches}}\nMatched: {{watches}}{{/watches}}{{#summary}}\n{{summary}}{{/summary}}"
    "{{#url}}\n{{url}}{{/url}}";

class NtfyFormat final : public ChatFormat {
 public:
  NtfyFormat(std::string topic, int priority, MessageTemplate paper, std::string notifier)
      : topic_(std::move(topic)),
        priority_(priority),
        paper_(std::move(paper)),
        notifier_(std::move(notifier)) {}

  ChatPiece Piece(const ChatPaper& p) const override {
    // Plain text: no markup to escape (values are ChatLine-safe).
    const std::string text = paper_.Render(PaperData(p, notifier_), &NoEscape);
    return {.markup = text, .text = text.size(), .link = p.url, .image = p.image_url};
  }

  std::string Body(const ChatFrame& frame, std::span<const ChatPiece> pieces) const override {
    const ChatMessage& m = *frame.message;
    JsonWriter json;
    json.BeginObject();
    json.Key("topic").String(topic_);
    json.Key("title").String(Title(frame));
    json.Key("message").String(Message(frame, pieces));
    json.Key("tags").BeginArray().String(TagFor(m)).EndArray();
    std::string click = pieces.size() == 1 ? pieces.front().link : std::string();
    if (click.empty()) click = m.more_url;
    if (click.empty() && !pieces.empty()) click = pieces.front().link;
    if (!click.empty()) json.Key("click").String(click);
    if (pieces.size() == 1 && !pieces.front().image.empty()) {
      json.Key("attach").String(pieces.front().image);
    }
    if (priority_ > 0) json.Key("priority").Int(priority_);
    json.EndObject();
    return json.Take();
  }

  bool Fits(const ChatFrame& frame, std::span<const ChatPiece> pieces,
            std::string_view body) const override {
    return Message(frame, pieces).size() <= kLimits.max_text &&
           body.size() <= kLimits.max_body_bytes;
  }

 private:
  static std::string Title(const ChatFrame& frame) {
    return CutText(frame.message->heading + frame.Label(), kLimits.max_title, kLimits.unit);
  }

  static std::string Message(const ChatFrame& frame, std::span<const ChatPiece> pieces) {
    const ChatMessage& m = *frame.message;
    std::string text = m.alert;
    for (const ChatPiece& piece : pieces) text += (text.empty() ? "" : "\n\n") + piece.markup;
    if (frame.last && m.more > 0) {
      text += "\n\n" + MoreLine(m) + (m.more_url.empty() ? "" : " in the digest: " + m.more_url);
    }
    if (text.empty()) text = m.heading;
    return text;
  }

  const std::string topic_;
  const int priority_;
  const MessageTemplate paper_;
  const std::string notifier_;
};

class NtfyChannel final : public ChatChannel {
 public:
  NtfyChannel(const NotifierConfig& notifier, const NtfySettings& settings, std::string root,
              std::string topic, MessageTemplate paper)
      : ChatChannel(notifier),
        root_(std::move(root)),
        token_(settings.token),
        pace_(std::chrono::ceil<std::chrono::seconds>(
            std::max(notifier.min_interval, kLimits.default_min_interval))),
        format_(std::move(topic), settings.priority, std::move(paper), notifier.name) {}

  Outcome Classify(const Payload&, const Response& response) const override {
    // ntfy's 429 has no Retry-After: wait at least one refill of its request bucket.
    Outcome out = ClassifyChat(response, kDisable, pace_);
    if (out.kind == Outcome::Kind::kDelivered) out.remote_id = JsonMember(response.body, "id");
    return out;
  }

 protected:
  const ChatFormat& Format() const override { return format_; }
  Payload Request(std::string body, const std::string&) const override {
    Payload p = HttpPost(root_, ShownTarget(root_), std::move(body));
    if (!token_.empty()) p.headers.emplace_back("Authorization", "Bearer " + token_);
    return p;
  }

 private:
  const std::string root_;   // the server's base URL, where JSON is published
  const std::string token_;  // secret
  const std::chrono::seconds pace_;
  const NtfyFormat format_;
};

}  // namespace

Result<std::unique_ptr<Channel>> MakeNtfyChannel(const NotifierConfig& notifier,
                                                 const NtfySettings& settings) {
  const std::string where = "notifier '" + notifier.name + "': ";
  const std::size_t slash = settings.url.rfind('/');
  const std::size_t scheme = settings.url.find("://");
  if (scheme == std::string::npos || slash == std::string::npos || slash < scheme + 3 ||
      slash + 1 >= settings.url.size()) {
    return Unexpected(where + "url must be the server and a topic, like https://ntfy.sh/topic");
  }
  if (settings.token.find_first_of("\r\n") != std::string::npos) {
    return Unexpected(where + "token holds a line break");
  }
  auto paper = PaperTemplate(notifier, kBuiltInTemplate);
  if (!paper) return Unexpected(paper.error());
  return std::unique_ptr<Channel>(
      std::make_unique<NtfyChannel>(notifier, settings, settings.url.substr(0, slash + 1),
                                    settings.url.substr(slash + 1), std::move(*paper)));
}

}  // namespace digestd
