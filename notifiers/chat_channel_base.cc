#include "notifiers/chat_channel_base.h"

#include <utility>

#include "notifiers/chat_text.h"

namespace digestd {

Result<MessageTemplate> PaperTemplate(const NotifierConfig& notifier, std::string_view built_in) {
  if (notifier.template_file.empty()) {
    return MessageTemplate::Compile(std::string(built_in), std::string());
  }
  return MessageTemplate::Compile(notifier.template_text, notifier.template_file);
}

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
      ca_file_(notifier.ca_file) {}

Result<std::vector<Payload>> ChatChannel::Render(const Notification& notification,
                                                 const RenderContext& context) const {
  if (context.id.empty()) return Unexpected(std::string("notification id is empty"));
  const ChatMessage message = BuildChatMessage(notification, max_papers_, context.now);
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
