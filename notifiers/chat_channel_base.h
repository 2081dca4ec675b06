// What the chat channels share (internal to notifiers/): rendering through a ChatFormat into
// one Payload per part. Immutable: thread-safe.
#pragma once

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "core/notifier_config.h"
#include "notifiers/channel.h"
#include "notifiers/chat_message.h"
#include "notifiers/message_texts.h"
#include "notifiers/template.h"

namespace digestd {

// The template a notifier's papers are written with: its template_file's paper section when
// it has one (compiled with the whole file, naming that file in errors), else the platform's
// `built_in` text.
Result<MessageTemplate> PaperTemplate(const NotifierConfig& notifier, std::string_view built_in);

// What a paper template sees (README "Templates"): title, url, votes, event, change, meta,
// authors, author_list, watches, watch_list, summary, image_url, source, date, notifier.
// Every value is ChatLine-safe; the platform's escaping is applied when rendered.
TemplateData PaperData(const ChatPaper& paper, const std::string& notifier);

// True when `value` is an http(s) link SafeUrl leaves as it is: such a value holds no
// character any markup reads, and escapers that would mangle a link (markdown's backslashes,
// Slack's &amp;) pass it through.
bool IsSafeLink(std::string_view value);

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
  const MessageTexts frame_;  // heading and footer (paper: the Format's own)
};

// A chat target reached by POSTing to one incoming-webhook URL (Slack, Mattermost, Teams):
// the URL is the secret, shown by its host only, and a deleted hook (404, 410) disables the
// target. `FormatT` is built in place from `format_args`.
template <typename FormatT>
class WebhookChatChannel : public ChatChannel {
 public:
  template <typename... FormatArgs>
  WebhookChatChannel(const NotifierConfig& notifier, std::string url, FormatArgs&&... format_args)
      : ChatChannel(notifier),
        url_(std::move(url)),
        format_(std::forward<FormatArgs>(format_args)...) {}

  Outcome Classify(const Payload&, const Response& response) const override {
    return ClassifyChat(response, kGoneHook);
  }

 protected:
  static constexpr std::array<long, 2> kGoneHook = {404, 410};

  const ChatFormat& Format() const override { return format_; }
  Payload Request(std::string body, const std::string&) const override {
    return HttpPost(url_, ShownTarget(url_), std::move(body));
  }

 private:
  const std::string url_;
  const FormatT format_;
};

}  // namespace digestd
