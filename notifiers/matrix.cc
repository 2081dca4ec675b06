// The `matrix` notifier (platforms.md §1.6): an m.notice event, PUT with the part id as its
// transaction id so that a retried request is recognised by the homeserver.
#include <array>

#include "core/json_writer.h"
#include "notifiers/chat_channel_base.h"
#include "notifiers/chat_channels.h"
#include "notifiers/chat_text.h"
#include "notifiers/limits.h"

namespace digestd {
namespace {

constexpr ChannelLimits kLimits = LimitsFor("matrix");
constexpr std::array<long, 2> kDisable = {401, 410};

std::string Html(std::string_view text) { return EscapeHtml(text); }

// Percent-encodes everything but unreserved characters: one path segment.
std::string PathSegment(std::string_view text) { return PercentEncoded(text, "-._~"); }

// A paper's formatted_body, in HTML (README "Templates"). The plain `body` keeps digestd's
// text for the built-in; with a template_file it is the template's HTML as text.
constexpr std::string_view kBuiltInTemplate =
    "<b>{{#url}}<a href=\"{{url}}\">{{title}}</a>{{/url}}{{^url}}{{title}}{{/url}}</b>"
    "<br><i>{{meta}}</i>{{#authors}}<br>{{authors}}{{/authors}}"
    "{{#watches}}<br>Matched: {{watches}}{{/watches}}{{#summary}}<br>{{summary}}{{/summary}}";

class MatrixFormat final : public ChatFormat {
 public:
  MatrixFormat(MessageTemplate paper, std::string notifier)
      : paper_(std::move(paper)), notifier_(std::move(notifier)) {}

  ChatPiece Piece(const ChatPaper& p) const override {
    const std::string html = paper_.Render(PaperData(p, notifier_), &Html);
    std::string plain;
    if (paper_.path().empty()) {
      plain = p.title + (p.url.empty() ? "" : " <" + p.url + ">") + "\n" + MetaLine(p);
      if (const std::string authors = AuthorsLine(p); !authors.empty()) plain += "\n" + authors;
      if (const std::string watches = WatchesLine(p); !watches.empty()) {
        plain += "\nMatched: " + watches;
      }
      if (!p.summary.empty()) plain += "\n" + p.summary;
    } else {
      plain = HtmlAsText(html);
    }
    return {.markup = "<p>" + html + "</p>", .plain = plain, .link = p.url, .image = p.image_url};
  }

  std::string Body(const ChatFrame& frame, std::span<const ChatPiece> pieces) const override {
    const ChatMessage& m = *frame.message;
    const std::string heading = m.heading + frame.Label();
    std::string html = "<h4>" + Html(heading) + "</h4>";
    std::string plain = heading;
    if (!m.alert.empty()) {
      html += "<p>" + Html(m.alert) + "</p>";
      plain += "\n" + m.alert;
    }
    for (const ChatPiece& piece : pieces) {
      html += piece.markup;
      plain += "\n\n" + piece.plain;
    }
    if (frame.last && m.more > 0) {
      const std::string more = MoreLine(m);
      if (m.more_url.empty()) {
        html += "<p>" + Html(more) + "</p>";
        plain += "\n\n" + more;
      } else {
        html += "<p><a href=\"" + Html(m.more_url) + "\">" + Html(more) + "</a> in the digest</p>";
        plain += "\n\n" + more + " in the digest: " + m.more_url;
      }
    }
    JsonWriter json;
    json.BeginObject();
    json.Key("msgtype").String("m.notice");  // from a bot: never answered automatically
    json.Key("body").String(plain);
    json.Key("format").String("org.matrix.custom.html");
    json.Key("formatted_body").String(html);
    // Present and empty: nobody is mentioned, whatever the text says.
    json.Key("m.mentions").BeginObject().EndObject();
    json.EndObject();
    return json.Take();
  }

  bool Fits(const ChatFrame&, std::span<const ChatPiece>, std::string_view body) const override {
    return body.size() <= kLimits.max_body_bytes;
  }

 private:
  const MessageTemplate paper_;
  const std::string notifier_;
};

class MatrixChannel final : public ChatChannel {
 public:
  MatrixChannel(const NotifierConfig& notifier, const MatrixSettings& settings,
                MessageTemplate paper)
      : ChatChannel(notifier),
        base_(settings.homeserver + "/_matrix/client/v3/rooms/" + PathSegment(settings.room_id) +
              "/send/m.room.message/"),
        shown_base_(ShownTarget(settings.homeserver) + "_matrix/client/v3/rooms/" +
                    PathSegment(settings.room_id) + "/send/m.room.message/"),
        authorization_("Bearer " + settings.access_token),
        format_(std::move(paper), notifier.name) {}

  Outcome Classify(const Payload&, const Response& response) const override {
    Outcome out = ClassifyChat(response, kDisable);
    if (out.kind == Outcome::Kind::kDelivered) {
      out.remote_id = JsonMember(response.body, "event_id");
    }
    return out;
  }

 protected:
  const ChatFormat& Format() const override { return format_; }
  Payload Request(std::string body, const std::string& part_id) const override {
    const std::string txn = PathSegment(part_id);
    Payload p = HttpPost(base_ + txn, shown_base_ + txn, std::move(body));
    p.method = "PUT";
    p.headers.emplace_back("Authorization", authorization_);
    return p;
  }

 private:
  const std::string base_;
  const std::string shown_base_;
  const std::string authorization_;  // holds the token
  const MatrixFormat format_;
};

}  // namespace

Result<std::unique_ptr<Channel>> MakeMatrixChannel(const NotifierConfig& notifier,
                                                   const MatrixSettings& settings) {
  const std::string where = "notifier '" + notifier.name + "': ";
  if (settings.homeserver.empty()) return Unexpected(where + "homeserver is empty");
  if (settings.room_id.empty()) return Unexpected(where + "room_id is empty");
  if (settings.access_token.empty() ||
      settings.access_token.find_first_of("\r\n") != std::string::npos) {
    return Unexpected(where + "access_token is empty or holds a line break");
  }
  auto paper = PaperTemplate(notifier, kBuiltInTemplate);
  if (!paper) return Unexpected(paper.error());
  return std::unique_ptr<Channel>(
      std::make_unique<MatrixChannel>(notifier, settings, std::move(*paper)));
}

}  // namespace digestd
