#include "notifiers/exec.h"

#include <cerrno>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "notifiers/webhook.h"

namespace digestd {
namespace {

constexpr std::size_t kOutputReasonBytes = 500;

// The end of the output: a failing script's error is usually its last line.
std::string WithOutput(std::string reason, const Response& response) {
  if (std::string tail = ReasonExcerpt(response.body, kOutputReasonBytes, true); !tail.empty()) {
    reason += ": " + tail;
  }
  return reason;
}

class ExecChannel final : public Channel {
 public:
  ExecChannel(const NotifierConfig& notifier, const ExecSettings& settings,
              std::optional<MessageTexts> texts)
      : argv_(settings.command),
        pass_env_(settings.env),
        max_papers_(notifier.max_papers),
        timeout_(notifier.timeout),
        texts_(std::move(texts)) {}

  Result<std::vector<Payload>> Render(const Notification& notification,
                                      const RenderContext& context) const override {
    auto parts = RenderWebhookBodies(notification, context, max_papers_, 0,
                                     texts_ ? &*texts_ : nullptr);
    if (!parts) return Unexpected(parts.error());
    WebhookPart& part = parts->front();
    Payload payload{.part_id = part.id,
                    .transfer = Transfer::kExec,
                    .method = "",
                    .body = std::move(part.body),
                    .argv = argv_,
                    .pass_env = pass_env_,
                    .timeout = timeout_};
    payload.env = {
        {"PATH", "/usr/local/bin:/usr/bin:/bin"},     {"LANG", "C.UTF-8"},
        {"DIGESTD_NOTIFICATION_ID", payload.part_id}, {"DIGESTD_NOTIFIER", notification.notifier},
        {"DIGESTD_KIND", notification.kind},          {"DIGESTD_EVENT", notification.event}};
    return OnePayload(std::move(payload));
  }

  Outcome Classify(const Payload& /*payload*/, const Response& response) const override {
    using Kind = Outcome::Kind;
    if (response.failure) {
      // A missing command stays missing; anything else (a timeout, no memory, too many
      // processes, a signal) may pass.
      const bool missing = !response.timed_out && response.start_errno == ENOENT;
      return {.kind = missing ? Kind::kPermanent : Kind::kRetry,
              .reason = WithOutput(*response.failure, response)};
    }
    if (response.status == 0) return {.kind = Kind::kDelivered};
    std::string reason = "exit status " + std::to_string(response.status);
    if (response.status == kExecTempFail) {
      return {.kind = Kind::kRetry, .reason = WithOutput(reason + " (EX_TEMPFAIL)", response)};
    }
    return {.kind = Kind::kPermanent, .reason = WithOutput(std::move(reason), response)};
  }

 private:
  const std::vector<std::string> argv_;
  const std::vector<std::string> pass_env_;
  const int max_papers_;
  const std::chrono::milliseconds timeout_;
  const std::optional<MessageTexts> texts_;  // with a template_file only: the body's "text"
};

bool IsEnvName(const std::string& name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<Channel>> MakeExecChannel(const NotifierConfig& notifier,
                                                 const ExecSettings& settings) {
  const std::string where = "notifier '" + notifier.name + "': ";
  if (settings.command.empty() || settings.command.front().empty()) {
    return Unexpected(where + "command is empty");
  }
  for (const std::string& name : settings.env) {
    if (!IsEnvName(name)) {
      return Unexpected(where + "env: '" + name + "' is not a variable name");
    }
    if (name.starts_with("DIGESTD_")) {
      return Unexpected(where + "env: '" + name + "': DIGESTD_* variables are set by digestd");
    }
  }
  auto texts = WebhookTexts(notifier);
  if (!texts) return Unexpected(texts.error());
  return std::unique_ptr<Channel>(
      std::make_unique<ExecChannel>(notifier, settings, std::move(*texts)));
}

}  // namespace digestd
