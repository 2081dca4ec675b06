#include "notifiers/webhook.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>
#include <span>
#include <utility>

#include "core/base64.h"
#include "core/crypto.h"
#include "core/dates.h"
#include "core/json_writer.h"
#include "core/paper_json.h"
#include "core/utf8.h"
#include "notifiers/chat_channel_base.h"
#include "notifiers/chat_message.h"
#include "notifiers/limits.h"

namespace digestd {
namespace {

constexpr std::string_view kSecretPrefix = "whsec_";
constexpr std::string_view kEllipsis = "…";

// Headers digestd sets itself; a configured header may not replace them.
constexpr std::array<std::string_view, 6> kReservedHeaders = {
    "content-type", "content-length",    "transfer-encoding",
    "webhook-id",   "webhook-timestamp", "webhook-signature"};

void WritePaper(JsonWriter& json, const Notification& n, const SourcedPaper& p) {
  json.BeginObject();
  WritePaperMembers(json, p.paper);
  json.Key("source").StringOrNull(p.source);
  json.Key("date").StringOrNull(p.date);
  json.Key("event").String(n.EventOf(p));
  json.Key("watches").StringArray(n.WatchesOf(p));
  json.EndObject();
}

std::string PaperJson(const Notification& n, const SourcedPaper& p) {
  JsonWriter json;
  WritePaper(json, n, p);
  return json.Take();
}

struct Part {
  std::string id;
  int index = 0;
  int count = 1;
  std::span<const std::string> papers;  // each paper's JSON, rendered once (PaperJson)
  std::size_t first = 0;                // the index of papers.front() among all papers
  bool last = true;
};

// The pieces of a templated body's "text" (RenderWebhookBodies).
struct TextPieces {
  std::string heading;
  std::string alert;                 // an alert's message, cut as chat targets cut it
  std::vector<std::string> entries;  // one per paper shown, in order
  std::string footer;                // "" when no paper was left out
};

TextPieces MakeTextPieces(const Notification& n, const RenderContext& context, int max_papers,
                          const MessageTexts& texts) {
  const ChatMessage m = BuildChatMessage(n, max_papers, context.now, &texts.heading,
                                         &texts.footer);
  TextPieces out{.heading = m.heading, .alert = m.alert};
  for (const ChatPaper& p : m.papers) {
    out.entries.push_back(texts.paper.Render(PaperData(p, n.notifier), &NoEscape));
  }
  if (m.more > 0) out.footer = MoreLine(m) + (m.more_url.empty() ? "" : ": " + m.more_url);
  return out;
}

// What "\n\n" + entry adds to a body's JSON.
std::size_t EntryCost(const std::string& entry) { return JsonQuote("\n\n" + entry).size() - 2; }

std::string PartText(const TextPieces& t, const Part& part) {
  std::string text = t.heading;
  if (part.count > 1) {
    text += " (" + std::to_string(part.index + 1) + "/" + std::to_string(part.count) + ")";
  }
  if (!t.alert.empty()) text += "\n\n" + t.alert;
  for (std::size_t i = part.first; i < part.first + part.papers.size() && i < t.entries.size();
       ++i) {
    text += "\n\n" + t.entries[i];
  }
  if (part.last && !t.footer.empty()) text += "\n\n" + t.footer;
  return text;
}

std::string Body(const Notification& n, const RenderContext& context, const Part& part,
                 std::int64_t more, std::string_view alert_message,
                 const TextPieces* text = nullptr) {
  // Room for the envelope and the papers, so that the body is not copied as it grows.
  std::size_t size = 512 + part.id.size() + context.id.size() + n.digest_url.size();
  for (const std::string& p : part.papers) size += p.size() + 1;
  std::string buffer;
  buffer.reserve(size);
  JsonWriter json(std::move(buffer));
  json.BeginObject();
  json.Key("version").Int(kWebhookBodyVersion);
  json.Key("type").String(kWebhookBodyType);
  json.Key("id").String(part.id);
  json.Key("notification").String(context.id);
  json.Key("part").Int(part.index);
  json.Key("parts").Int(part.count);
  json.Key("timestamp").String(UtcTimestamp(context.now));
  json.Key("notifier").String(n.notifier);
  json.Key("kind").String(n.kind);
  json.Key("event").String(n.event);
  json.Key("watches").StringArray(n.watches);
  json.Key("papers").BeginArray();
  for (const std::string& p : part.papers) json.Raw(p);
  json.EndArray();
  json.Key("more").Int(more);
  json.Key("digest_url").StringOrNull(n.digest_url);
  json.Key("alert");
  if (n.kind == "alert") {
    json.BeginObject();
    json.Key("source").StringOrNull(n.source);
    json.Key("message").StringOrNull(alert_message);
    json.EndObject();
  } else {
    json.Null();
  }
  if (text != nullptr) json.Key("text").String(PartText(*text, part));
  json.EndObject();
  return json.Take();
}

std::string PartId(const std::string& id, std::size_t index) {
  return index == 0 ? id : id + "-" + std::to_string(index);
}

// Bytes `c` takes inside a JSON string written by JsonWriter.
std::size_t JsonCost(unsigned char c) {
  switch (c) {
    case '"':
    case '\\':
    case '\n':
    case '\r':
    case '\t':
    case '\b':
    case '\f':
      return 2;
    default:
      return c < 0x20 ? 6 : 1;
  }
}

// Shortens `text` (made valid UTF-8) on a character boundary so that its JSON form is at
// least `json_drop` bytes shorter, and appends "…" (3 bytes) when anything is left.
void CutEnd(std::string& text, std::size_t json_drop) {
  text = ToValidUtf8(text);
  std::size_t total = 0;
  for (char c : text) total += JsonCost(static_cast<unsigned char>(c));
  const std::size_t budget = total > json_drop ? total - json_drop : 0;
  std::size_t keep = 0;
  std::size_t used = 0;
  while (keep < text.size()) {
    std::size_t end = keep + 1;  // one whole character: the lead byte and its continuations
    while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
    std::size_t cost = 0;
    for (std::size_t i = keep; i < end; ++i) cost += JsonCost(static_cast<unsigned char>(text[i]));
    if (used + cost > budget) break;
    used += cost;
    keep = end;
  }
  text.resize(keep);
  if (!text.empty()) text += kEllipsis;
}

// Makes `p` small enough that its JSON takes at most `room` bytes, losing the least useful
// text first: authors past the first kKeptAuthors, the end of the summary, the other
// authors, tags, extra, media_url, the end of the title. Each step removes at least the
// excess or one element, so the loop ends. Returns the paper's JSON as it fits; nullopt when
// nothing is left to remove.
std::optional<std::string> ShrinkToFit(const Notification& n, SourcedPaper& p,
                                       std::size_t room) {
  constexpr std::size_t kKeptAuthors = 10;
  // Drops elements from the end of `list` (keeping `keep`) until `excess` JSON bytes are gone.
  auto drop_from_end = [](std::vector<std::string>& list, std::size_t excess, std::size_t keep) {
    std::size_t freed = 0;
    do {
      freed += JsonQuote(list.back()).size() + 1;
      list.pop_back();
    } while (freed < excess && list.size() > keep);
  };
  std::string json = PaperJson(n, p);
  if (json.size() <= room) return json;  // the usual case: the shared paper is not copied
  Paper& paper = p.paper.Edit();  // a copy: the shared paper stays whole for other messages
  for (;; json = PaperJson(n, p)) {
    if (json.size() <= room) return json;
    const std::size_t excess = json.size() - room;
    if (paper.authors.size() > kKeptAuthors) {
      drop_from_end(paper.authors, excess, kKeptAuthors);
      paper.authors_truncated = true;
    } else if (!paper.summary.empty()) {
      std::string& last = paper.summary.back();
      if (JsonQuote(last).size() <= excess + kEllipsis.size()) {
        paper.summary.pop_back();
      } else {
        CutEnd(last, excess + kEllipsis.size());
      }
    } else if (!paper.authors.empty()) {
      drop_from_end(paper.authors, excess, 0);
      paper.authors_truncated = true;
    } else if (!paper.tags.empty()) {
      drop_from_end(paper.tags, excess, 0);
    } else if (!paper.extra.empty()) {
      paper.extra.erase(std::prev(paper.extra.end()));
    } else if (!paper.media_url.empty()) {
      paper.media_url.clear();
    } else if (!paper.title.empty()) {
      CutEnd(paper.title, excess + kEllipsis.size());
    } else {
      return std::nullopt;
    }
  }
}

// Groups papers into parts greedily, in order. `sizes[i]` fits `room` for every i.
std::vector<std::pair<std::size_t, std::size_t>> Pack(const std::vector<std::size_t>& sizes,
                                                      std::size_t room) {
  std::vector<std::pair<std::size_t, std::size_t>> parts;  // [first, count)
  std::size_t used = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::size_t need = sizes[i] + 1;  // with the comma before it
    if (parts.empty() || used + need > room) {
      parts.emplace_back(i, 1);
      used = sizes[i];
    } else {
      ++parts.back().second;
      used += need;
    }
  }
  if (parts.empty()) parts.emplace_back(0, 0);
  return parts;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  }
  return out;
}

// RFC 9110 §5.1: a field name is a token.
bool IsToken(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

class WebhookChannel final : public Channel {
 public:
  WebhookChannel(const NotifierConfig& notifier, const WebhookSettings& settings,
                 std::vector<std::string> keys, std::optional<MessageTexts> texts)
      : url_(settings.url),
        method_(settings.method),
        custom_headers_(settings.headers.begin(), settings.headers.end()),
        keys_(std::move(keys)),
        max_papers_(notifier.max_papers),
        timeout_(notifier.timeout),
        tls_verify_(notifier.tls_verify),
        ca_file_(notifier.ca_file),
        texts_(std::move(texts)) {}

  Result<std::vector<Payload>> Render(const Notification& notification,
                                      const RenderContext& context) const override {
    auto parts = RenderWebhookBodies(notification, context, max_papers_,
                                     LimitsFor("webhook").max_body_bytes,
                                     texts_ ? &*texts_ : nullptr);
    if (!parts) return Unexpected(parts.error());
    std::vector<Payload> payloads;
    for (WebhookPart& part : *parts) {
      Payload p{.part_id = part.id,
                .transfer = Transfer::kHttp,
                .url = url_,
                .method = method_,
                .timeout = timeout_,
                .tls_verify = tls_verify_,
                .ca_file = ca_file_};
      const std::string timestamp = std::to_string(context.now);
      p.headers.emplace_back("Content-Type", "application/json");
      p.headers.emplace_back("webhook-id", part.id);
      p.headers.emplace_back("webhook-timestamp", timestamp);
      if (!keys_.empty()) {
        std::string signatures;
        for (const std::string& key : keys_) {
          const std::string signature = SignWebhook(key, part.id, context.now, part.body);
          if (signature.empty()) continue;
          if (!signatures.empty()) signatures += ' ';
          signatures += signature;
        }
        p.headers.emplace_back("webhook-signature", std::move(signatures));
      }
      p.headers.insert(p.headers.end(), custom_headers_.begin(), custom_headers_.end());
      p.body = std::move(part.body);
      payloads.push_back(std::move(p));
    }
    return payloads;
  }

  Outcome Classify(const Payload& /*payload*/, const Response& response) const override {
    return ClassifyHttp(response);
  }

 private:
  const std::string url_;
  const std::string method_;
  const std::vector<std::pair<std::string, std::string>> custom_headers_;
  const std::vector<std::string> keys_;  // decoded secrets, in the configured order
  const int max_papers_;
  const std::chrono::milliseconds timeout_;
  const bool tls_verify_;
  const std::string ca_file_;
  const std::optional<MessageTexts> texts_;  // with a template_file only
};

}  // namespace

Result<std::vector<WebhookPart>> RenderWebhookBodies(const Notification& n,
                                                     const RenderContext& context, int max_papers,
                                                     std::size_t max_body_bytes,
                                                     const MessageTexts* texts) {
  // Standard Webhooks signs "id.timestamp.body": an id with a '.' would be ambiguous.
  if (context.id.empty() || context.id.find('.') != std::string::npos) {
    return Unexpected("notification id '" + context.id + "' is empty or contains '.'");
  }
  const std::size_t shown_count = std::min(n.papers.size(), std::size_t(std::max(1, max_papers)));
  const auto more = static_cast<std::int64_t>(n.papers.size() - shown_count);
  std::vector<SourcedPaper> shown(n.papers.begin(), n.papers.begin() + long(shown_count));
  std::string alert_message = n.message;
  std::optional<TextPieces> pieces;
  if (texts != nullptr) pieces = MakeTextPieces(n, context, max_papers, *texts);
  const TextPieces* text = pieces ? &*pieces : nullptr;

  if (max_body_bytes == 0) {
    std::vector<std::string> papers;
    for (const SourcedPaper& p : shown) papers.push_back(PaperJson(n, p));
    Part whole{.id = context.id, .papers = papers};
    return std::vector<WebhookPart>{
        {context.id, Body(n, context, whole, more, alert_message, text)}};
  }

  // The envelope at its largest: part numbers and the id suffix can only be shorter.
  const std::size_t most_parts = std::max<std::size_t>(1, shown_count);
  const Part widest{
      .id = PartId(context.id, most_parts), .index = int(most_parts), .count = int(most_parts)};
  std::size_t envelope = Body(n, context, widest, more, alert_message, text).size();
  if (n.kind == "alert" && envelope > max_body_bytes && !alert_message.empty()) {
    CutEnd(alert_message, envelope - max_body_bytes + kEllipsis.size());
    envelope = Body(n, context, widest, more, alert_message, text).size();
  }
  if (envelope > max_body_bytes) {
    return Unexpected("notification " + context.id + ": its message without papers takes " +
                      std::to_string(envelope) + " bytes, more than the target's " +
                      std::to_string(max_body_bytes));
  }
  const std::size_t room = max_body_bytes - envelope;
  std::vector<std::string> papers;
  std::vector<std::size_t> sizes;
  for (std::size_t i = 0; i < shown.size(); ++i) {
    SourcedPaper& p = shown[i];
    // A templated entry is cut already (chat lengths); the paper's JSON makes room for it.
    const std::size_t entry = text && i < text->entries.size() ? EntryCost(text->entries[i]) : 0;
    std::optional<std::string> json =
        entry < room ? ShrinkToFit(n, p, room - entry) : std::nullopt;
    if (!json) {
      return Unexpected("notification " + context.id + ": paper '" + p.paper->key +
                        "' does not fit in " + std::to_string(max_body_bytes) + " bytes");
    }
    sizes.push_back(json->size() + entry);
    papers.push_back(std::move(*json));
  }

  const auto packed = Pack(sizes, room);
  std::vector<WebhookPart> parts;
  for (std::size_t k = 0; k < packed.size(); ++k) {
    const Part part{
        .id = PartId(context.id, k),
        .index = int(k),
        .count = int(packed.size()),
        .papers = std::span<const std::string>(papers).subspan(packed[k].first, packed[k].second),
        .first = packed[k].first,
        .last = k + 1 == packed.size()};
    parts.push_back({part.id, Body(n, context, part, more, alert_message, text)});
  }
  return parts;
}

Result<std::optional<MessageTexts>> WebhookTexts(const NotifierConfig& notifier) {
  if (notifier.template_file.empty()) return std::optional<MessageTexts>();
  auto texts = LoadMessageTexts(notifier, kWebhookBuiltInPaper);
  if (!texts) return Unexpected(texts.error());
  return std::optional<MessageTexts>(std::move(*texts));
}

Result<std::string> DecodeWebhookSecret(std::string_view secret) {
  if (!secret.starts_with(kSecretPrefix)) {
    return Unexpected(std::string("a webhook secret must start with \"whsec_\""));
  }
  // Unpadded base64 is taken too.
  std::optional<std::string> key = DecodeBase64(secret.substr(kSecretPrefix.size()));
  if (!key || key->empty()) {
    return Unexpected(std::string("a webhook secret must be \"whsec_\" followed by base64"));
  }
  return std::move(*key);
}

std::string SignWebhook(std::string_view key, std::string_view id, std::int64_t timestamp,
                        std::string_view body) {
  std::string signed_content;
  signed_content.reserve(id.size() + body.size() + 24);
  signed_content.append(id).append(1, '.').append(std::to_string(timestamp)).append(1, '.');
  signed_content.append(body);
  const std::optional<Sha256Digest> mac = HmacSha256(key, signed_content);
  if (!mac) return {};
  return "v1," + Base64(std::string_view(reinterpret_cast<const char*>(mac->data()), mac->size()));
}

Result<std::unique_ptr<Channel>> MakeWebhookChannel(const NotifierConfig& notifier,
                                                    const WebhookSettings& settings) {
  const std::string where = "notifier '" + notifier.name + "': ";
  if (settings.url.empty()) return Unexpected(where + "url is empty");
  if (settings.method != "POST" && settings.method != "PUT") {
    return Unexpected(where + "method '" + settings.method + "' is not POST or PUT");
  }
  for (const auto& [name, value] : settings.headers) {
    if (!IsToken(name)) return Unexpected(where + "header name '" + name + "' is not valid");
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return Unexpected(where + "header '" + name + "' has a line break or NUL in its value");
    }
    const std::string lower = Lower(name);
    if (std::find(kReservedHeaders.begin(), kReservedHeaders.end(), lower) !=
        kReservedHeaders.end()) {
      return Unexpected(where + "header '" + name + "' is set by digestd and cannot be replaced");
    }
  }
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < settings.secrets.size(); ++i) {
    auto key = DecodeWebhookSecret(settings.secrets[i]);
    if (!key) {
      return Unexpected(where + "secret " + std::to_string(i + 1) + ": " + key.error().message);
    }
    keys.push_back(std::move(*key));
  }
  auto texts = WebhookTexts(notifier);
  if (!texts) return Unexpected(texts.error());
  return std::unique_ptr<Channel>(
      std::make_unique<WebhookChannel>(notifier, settings, std::move(keys), std::move(*texts)));
}

}  // namespace digestd
