#include "notifiers/chat_channel_base.h"

#include <utility>

#include "notifiers/chat_text.h"

namespace digestd {

Result<MessageTemplate> PaperTemplate(const NotifierConfig& notifier, std::string_view built_in) {
  auto texts = LoadMessageTexts(notifier, built_in);
  if (!texts) return Unexpected(texts.error());
  return std::move(texts->paper);
}

namespace {

// The heading and footer of `notifier`: its file's, or the built-ins when it has none. Each
// chat factory compiles the file (PaperTemplate) before a channel is made, so the fallback
// to the built-ins is never taken for a file that does not compile.
MessageTexts FrameTexts(const NotifierConfig& notifier) {
  if (auto texts = LoadMessageTexts(notifier, "")) return std::move(*texts);
  NotifierConfig plain = notifier;
  plain.template_file.clear();
  return *LoadMessageTexts(plain, "");
}

}  // namespace

TemplateData PaperData(const ChatPaper& p, const std::string& notifier) {
  TemplateData d;
  d.values = {{"title", p.title},
              {"url", p.url},
              {"votes", p.votes ? std::to_string(*p.votes) : std::string()},
              {"event", p.event},
              {"change", p.change},
              {"meta", MetaLine(p)},
              {"authors", AuthorsLine(p)},
              {"watches", WatchesLine(p)},
              {"summary", p.summary},
              {"image_url", p.image_url},
              {"source", p.source},
              {"date", p.date},
              {"notifier", notifier}};
  d.lists = {{"author_list", p.authors}, {"watch_list", p.watches}};
  return d;
}

bool IsSafeLink(std::string_view value) { return !value.empty() && SafeUrl(value) == value; }

ChatChannel::ChatChannel(const NotifierConfig& notifier)
    : max_papers_(notifier.max_papers),
      timeout_(notifier.timeout),
      tls_verify_(notifier.tls_verify),
      ca_file_(notifier.ca_file),
      frame_(FrameTexts(notifier)) {}

Result<std::vector<Payload>> ChatChannel::Render(const Notification& notification,
                                                 const RenderContext& context) const {
  if (context.id.empty()) return Unexpected(std::string("notification id is empty"));
  const ChatMessage message =
      BuildChatMessage(notification, max_papers_, context.now, &frame_.heading, &frame_.footer);
  auto bodies = PackChat(Format(), message);
  if (!bodies) {
    return Unexpected("notification " + context.id + ": " + bodies.error().message);
  }
  std::vector<Payload> payloads;
  for (std::size_t k = 0; k < bodies->size(); ++k) {
    const std::string part_id = ChatPartId(context.id, k);
    Payload p = Request(std::move((*bodies)[k]), part_id);
    p.part_id = part_id;
    payloads.push_back(std::move(p));
  }
  return payloads;
}

Payload ChatChannel::HttpPost(std::string url, std::string shown_url, std::string body) const {
  Payload p{.transfer = Transfer::kHttp,
            .url = std::move(url),
            .shown_url = std::move(shown_url),
            .method = "POST",
            .body = std::move(body),
            .timeout = timeout_,
            .tls_verify = tls_verify_,
            .ca_file = ca_file_};
  p.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
  return p;
}

}  // namespace digestd
