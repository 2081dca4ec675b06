#include "notifiers/registry.h"

#include <array>
#include <string>
#include <variant>

#include "notifiers/chat_channels.h"
#include "notifiers/email.h"
#include "notifiers/exec.h"
#include "notifiers/local_channels.h"
#include "notifiers/webhook.h"

namespace digestd {
namespace {

using Factory = Result<std::unique_ptr<Channel>> (*)(const NotifierConfig&);

// Calls `Make` with the notifier's settings when they are of its kind's type.
template <typename Settings,
          Result<std::unique_ptr<Channel>> (*Make)(const NotifierConfig&, const Settings&)>
Result<std::unique_ptr<Channel>> WithSettings(const NotifierConfig& notifier) {
  const Settings* settings = std::get_if<Settings>(&notifier.settings);
  if (!settings) {
    return Unexpected("notifier '" + notifier.name + "': the settings given are not those of " +
                      "kind '" + notifier.kind + "'");
  }
  return Make(notifier, *settings);
}

struct Entry {
  std::string_view kind;
  Factory make;
};

constexpr std::array<Entry, 13> kEntries = {{
    {"console", &WithSettings<ConsoleSettings, &MakeConsoleChannel>},
    {"file", &WithSettings<FileSettings, &MakeFileChannel>},
    {"webhook", &WithSettings<WebhookSettings, &MakeWebhookChannel>},
    {"exec", &WithSettings<ExecSettings, &MakeExecChannel>},
    {"email", &WithSettings<EmailSettings, &MakeEmailChannel>},
    {"slack", &WithSettings<SlackSettings, &MakeSlackChannel>},
    {"discord", &WithSettings<DiscordSettings, &MakeDiscordChannel>},
    {"teams", &WithSettings<TeamsSettings, &MakeTeamsChannel>},
    {"telegram", &WithSettings<TelegramSettings, &MakeTelegramChannel>},
    {"matrix", &WithSettings<MatrixSettings, &MakeMatrixChannel>},
    {"mattermost", &WithSettings<MattermostSettings, &MakeMattermostChannel>},
    {"googlechat", &WithSettings<GoogleChatSettings, &MakeGoogleChatChannel>},
    {"ntfy", &WithSettings<NtfySettings, &MakeNtfyChannel>},
}};

}  // namespace

Result<std::unique_ptr<Channel>> MakeChannel(const NotifierConfig& notifier) {
  for (const Entry& entry : kEntries) {
    if (entry.kind == notifier.kind) return entry.make(notifier);
  }
  std::string known;
  for (const Entry& entry : kEntries) {
    if (!known.empty()) known += ", ";
    known += entry.kind;
  }
  return Unexpected("notifier '" + notifier.name + "': kind '" + notifier.kind +
                    "' has no channel (known: " + known + ")");
}

std::vector<ChannelProblem> ChannelProblems(const std::vector<NotifierConfig>& notifiers) {
  std::vector<ChannelProblem> problems;
  for (const NotifierConfig& n : notifiers) {
    auto channel = MakeChannel(n);
    if (channel) continue;
    const std::string& message = channel.error().message;
    if (!n.template_file.empty() && message.starts_with(n.template_file + ":")) {
      problems.push_back({.message = message + " (template_file of notifier \"" + n.name + "\")",
                          .in_template = true});
    } else {
      problems.push_back({.message = "notifier \"" + n.name + "\": " + message});
    }
  }
  return problems;
}

std::vector<std::string_view> ChannelKinds() {
  std::vector<std::string_view> kinds;
  for (const Entry& entry : kEntries) kinds.push_back(entry.kind);
  return kinds;
}

}  // namespace digestd
