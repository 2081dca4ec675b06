#include "notifiers/chat_channel_base.h"

#include <utility>

namespace digestd {

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
