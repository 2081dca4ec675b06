// What the chat channels share (internal to notifiers/): rendering through a ChatFormat into
// one Payload per part. Immutable: thread-safe.
#pragma once

#include <string>
#include <vector>

#include "core/notifier_config.h"
#include "notifiers/channel.h"
#include "notifiers/chat_message.h"

namespace digestd {

class ChatChannel : public Channel {
 public:
  Result<std::vector<Payload>> Render(const Notification& notification,
                                      const RenderContext& context) const override;

 protected:
  explicit ChatChannel(const NotifierConfig& notifier);

  virtual const ChatFormat& Format() const = 0;
  // The request that carries `body`, missing only part_id (set by Render).
  virtual Payload Request(std::string body, const std::string& part_id) const = 0;

  // A kHttp POST with this notifier's timeout and TLS settings.
  Payload HttpPost(std::string url, std::string shown_url, std::string body) const;

  const int max_papers_;

 private:
  const std::chrono::milliseconds timeout_;
  const bool tls_verify_;
  const std::string ca_file_;
};

}  // namespace digestd
