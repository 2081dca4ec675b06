// Every chat payload (notifiers/chat_channels.h: slack, discord, teams, telegram, matrix,
// mattermost, googlechat, ntfy) and the JSON notifiers (webhook, file), for a notification
// made from the fuzz bytes (fuzz_notification.h): each body is valid JSON, within its
// platform's limits (core/channel_limits.h: body bytes, text in the platform's unit, blocks,
// embeds, fields, titles), and no string in it carries a terminal control or a bidi override.
// The second byte's low bit renders through a template_file that prints every field, in its
// heading, paper and footer sections (a webhook's "text" is then checked like a chat text).
#include <boost/json.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/channel_limits.h"
#include "notifiers/registry.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_notification.h"

namespace digestd::fuzz {
namespace {

namespace json = boost::json;

std::size_t CodePoints(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::size_t Utf16Units(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u & 0xC0) != 0x80) n += u >= 0xF0 ? 2 : 1;
  }
  return n;
}

std::size_t Count(std::string_view s, TextUnit unit) {
  switch (unit) {
    case TextUnit::kBytes: return s.size();
    case TextUnit::kCodePoints: return CodePoints(s);
    case TextUnit::kUtf16: return Utf16Units(s);
  }
  return s.size();
}

// Telegram counts its limit after entity parsing: the text without tags, entities decoded.
std::string TelegramVisible(std::string_view html) {
  std::string out;
  for (std::size_t i = 0; i < html.size(); ++i) {
    if (html[i] == '<') {
      const std::size_t end = html.find('>', i);
      if (end != std::string_view::npos) { i = end; continue; }
    }
    if (html[i] == '&') {
      const std::size_t end = html.find(';', i);
      if (end != std::string_view::npos && end - i <= 6) { out += '?'; i = end; continue; }
    }
    out += html[i];
  }
  return out;
}

std::string_view Str(const json::value* v) {
  if (v == nullptr || !v->is_string()) return {};
  return {v->as_string().data(), v->as_string().size()};
}

// No string anywhere in `v` holds a C0 control other than TAB/LF, DEL, a C1 control or a
// bidi override/isolate.
void CheckStrings(const json::value& v, std::string_view kind) {
  if (v.is_object()) {
    for (const auto& kv : v.as_object()) CheckStrings(kv.value(), kind);
  } else if (v.is_array()) {
    for (const auto& e : v.as_array()) CheckStrings(e, kind);
  } else if (v.is_string()) {
    const std::string_view s = Str(&v);
    for (std::size_t i = 0; i < s.size(); ++i) {
      const auto u = static_cast<unsigned char>(s[i]);
      FUZZ_CHECK(u >= 0x20 || u == '\n' || u == '\t', std::string(kind) + " carries a control");
      FUZZ_CHECK(u != 0x7F, std::string(kind) + " carries DEL");
      if (u == 0xC2 && i + 1 < s.size()) {
        FUZZ_CHECK(static_cast<unsigned char>(s[i + 1]) >= 0xA0, std::string(kind) + " carries C1");
      }
      if (u == 0xE2 && i + 2 < s.size()) {
        const auto b1 = static_cast<unsigned char>(s[i + 1]);
        const auto b2 = static_cast<unsigned char>(s[i + 2]);
        const bool bidi = (b1 == 0x80 && b2 >= 0xAA && b2 <= 0xAE) ||
                          (b1 == 0x81 && b2 >= 0xA6 && b2 <= 0xA9);
        FUZZ_CHECK(!bidi, std::string(kind) + " carries a bidi control");
      }
    }
  }
}

void CheckLimits(std::string_view kind, const json::object& o, std::string_view body) {
  const ChannelLimits l = LimitsFor(kind);
  const auto within = [&](std::string_view what, std::string_view text, std::size_t max) {
    FUZZ_CHECK(max == 0 || Count(text, l.unit) <= max,
               std::string(kind) + " " + std::string(what) + " over " + std::to_string(max) +
                   ": " + std::to_string(Count(text, l.unit)) + "\n" + std::string(body.substr(0, 4000)));
  };
  if (kind == "slack") {
    within("text", Str(o.if_contains("text")), l.max_text);
    const json::array* blocks = o.if_contains("blocks") ? o.at("blocks").if_array() : nullptr;
    FUZZ_CHECK(blocks != nullptr, "slack without blocks");
    FUZZ_CHECK(blocks->size() <= l.max_blocks, "slack: too many blocks");
    std::size_t total = 0;
    for (const json::value& b : *blocks) {
      const json::object& block = b.as_object();
      const json::value* text = block.if_contains("text");
      std::string_view t;
      if (text && text->is_object()) t = Str(text->as_object().if_contains("text"));
      if (Str(block.if_contains("type")) == "header") within("header", t, l.max_title);
      else within("section", t, l.max_block_text);
      total += Count(t, l.unit);
    }
    FUZZ_CHECK(total <= l.max_total_text, "slack: block text over the total");
  } else if (kind == "discord") {
    within("content", Str(o.if_contains("content")), l.max_text);
    const json::array* embeds = o.if_contains("embeds") ? o.at("embeds").if_array() : nullptr;
    std::size_t total = 0;
    if (embeds != nullptr) {
      FUZZ_CHECK(embeds->size() <= l.max_blocks, "discord: too many embeds");
      for (const json::value& e : *embeds) {
        const json::object& embed = e.as_object();
        within("embed title", Str(embed.if_contains("title")), l.max_title);
        within("embed description", Str(embed.if_contains("description")), l.max_block_text);
        total += Count(Str(embed.if_contains("title")), l.unit) +
                 Count(Str(embed.if_contains("description")), l.unit);
        if (const json::value* fields = embed.if_contains("fields")) {
          FUZZ_CHECK(fields->as_array().size() <= l.max_fields, "discord: too many fields");
          for (const json::value& f : fields->as_array()) {
            within("field", Str(f.as_object().if_contains("value")), l.max_field_text);
            total += Count(Str(f.as_object().if_contains("value")), l.unit) +
                     Count(Str(f.as_object().if_contains("name")), l.unit);
          }
        }
        if (const json::value* footer = embed.if_contains("footer")) {
          total += Count(Str(footer->as_object().if_contains("text")), l.unit);
        }
      }
    }
    FUZZ_CHECK(total <= l.max_total_text, "discord: embed text over 6000");
  } else if (kind == "telegram") {
    within("text", TelegramVisible(Str(o.if_contains("text"))), l.max_text);
    FUZZ_CHECK(!Str(o.if_contains("text")).empty(), "telegram: empty text");
  } else if (kind == "mattermost") {
    within("text", Str(o.if_contains("text")), l.max_text);
  } else if (kind == "ntfy") {
    within("message", Str(o.if_contains("message")), l.max_text);
    within("title", Str(o.if_contains("title")), l.max_title);
  } else if (kind == "teams") {
    const json::value& body_array =
        o.at("attachments").as_array().at(0).as_object().at("content").as_object().at("body");
    std::size_t elements = 0;
    for (const json::value& e : body_array.as_array()) {
      ++elements;
      if (const json::value* items = e.as_object().if_contains("items")) {
        elements += items->as_array().size();
      }
    }
    FUZZ_CHECK(elements <= l.max_blocks, "teams: too many card elements");
  } else if (kind == "googlechat") {
    std::size_t widgets = 0;
    for (const json::value& c : o.at("cardsV2").as_array()) {
      const json::object& card = c.as_object().at("card").as_object();
      if (const json::value* sections = card.if_contains("sections")) {
        for (const json::value& s : sections->as_array()) {
          if (const json::value* w = s.as_object().if_contains("widgets")) {
            widgets += w->as_array().size();
          }
        }
      }
    }
    FUZZ_CHECK(widgets <= l.max_blocks, "googlechat: too many widgets");
  }
}

KindSettings SettingsFor(std::string_view kind) {
  if (kind == "slack") return SlackSettings{.url = "https://hooks.slack.test/services/T0/B0/S"};
  if (kind == "discord") return DiscordSettings{.url = "https://discord.test/api/webhooks/1/S"};
  if (kind == "teams") return TeamsSettings{.url = "https://flow.test/workflows/1?sig=S"};
  if (kind == "telegram") {
    return TelegramSettings{.token = "1:S", .chat_id = "-1", .api_url = "https://api.telegram.test"};
  }
  if (kind == "matrix") {
    return MatrixSettings{
        .homeserver = "https://matrix.test", .room_id = "!r:matrix.test", .access_token = "S"};
  }
  if (kind == "mattermost") return MattermostSettings{.url = "https://mm.test/hooks/S"};
  if (kind == "googlechat") return GoogleChatSettings{.url = "https://chat.test/v1/spaces/A/messages"};
  if (kind == "ntfy") return NtfySettings{.url = "https://ntfy.test/topic", .token = "tk", .priority = 3};
  if (kind == "webhook") return WebhookSettings{.url = "https://hook.test/x", .secrets = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}};
  return FileSettings{.path = "/nonexistent-digestd-fuzz/out.jsonl"};
}

}  // namespace
}  // namespace digestd::fuzz

namespace {

constexpr const char* kKinds[] = {"slack",  "discord",    "teams",      "telegram", "matrix",
                                   "mattermost", "googlechat", "ntfy", "webhook", "file"};
constexpr std::size_t kKindCount = std::size(kKinds);

// The channel of kind `k`, plain or through the template; made once (channels are immutable).
const digestd::Channel& ChannelFor(std::size_t k, bool templated) {
  using namespace digestd;
  static std::vector<std::unique_ptr<Channel>> made(2 * kKindCount);
  std::unique_ptr<Channel>& slot = made[2 * k + (templated ? 1 : 0)];
  if (!slot) {
    const std::string_view kind = kKinds[k];
    NotifierConfig config;
    config.name = "fuzz";
    config.kind = std::string(kind);
    config.settings = fuzz::SettingsFor(kind);
    config.max_papers = std::max(1, LimitsFor(kind).default_max_papers);
    if (templated && kind != "file") {
      config.template_file = "/nonexistent-digestd-fuzz/paper.mustache";
      config.template_text =
          "{{! heading }}\n{{heading}} {{count}} {{watches}} {{source}} {{alert}} {{date}}\n"
          "{{! paper }}\n"
          "{{title}} {{url}} {{votes}} {{change}} {{#author_list}}{{.}}, {{/author_list}}"
          "{{watches}} {{summary}} {{source}} {{date}} {{notifier}}\n"
          "{{! footer }}\n{{more_line}} {{more}} {{digest_url}}\n";
    }
    auto channel = MakeChannel(config);
    FUZZ_CHECK(channel.has_value(), channel ? "" : channel.error().message);
    slot = std::move(*channel);
  }
  return *slot;
}

}  // namespace

DIGESTD_FUZZ_TARGET {
  using namespace digestd;
  namespace json = boost::json;
  const std::string_view bytes = fuzz::Bytes(data, size);
  const Notification n = fuzz::NotificationFrom(bytes);
  const bool templated = size > 1 && (data[1] & 1) != 0;
  for (std::size_t k = 0; k < kKindCount; ++k) {
    const std::string_view kind = kKinds[k];
    auto payloads = ChannelFor(k, templated).Render(n, RenderContext{.id = n.id, .now = 1706515200});
    if (!payloads) {
      // Only a message that cannot be shown at all may fail, with a reason.
      FUZZ_CHECK(!payloads.error().message.empty(), "a failed render without a reason");
      continue;
    }
    FUZZ_CHECK(!payloads->empty(), std::string(kind) + ": no payload");
    const ChannelLimits limits = LimitsFor(kind);
    for (const Payload& p : *payloads) {
      FUZZ_CHECK(limits.max_body_bytes == 0 || p.body.size() <= limits.max_body_bytes,
                 std::string(kind) + ": body of " + std::to_string(p.body.size()) + " bytes");
      std::vector<std::string_view> docs;
      if (std::string_view(kind) == "file") {
        docs = fuzz::Lines(p.body);
        if (!docs.empty() && docs.back().empty()) docs.pop_back();
      } else {
        docs = {p.body};
      }
      for (std::string_view doc : docs) {
        boost::system::error_code ec;
        const json::value v = json::parse(doc, ec);
        FUZZ_CHECK(!ec && v.is_object(),
                   std::string(kind) + ": not a JSON object: " + std::string(doc.substr(0, 2000)));
        fuzz::CheckLimits(kind, v.as_object(), doc);
        if (std::string_view(kind) != "webhook" && std::string_view(kind) != "file") {
          fuzz::CheckStrings(v, kind);
        } else if (const json::value* text = v.as_object().if_contains("text")) {
          FUZZ_CHECK(templated && text->is_string(), "webhook: a text member without a template");
          fuzz::CheckStrings(*text, kind);
        }
      }
    }
  }
  return 0;
}
