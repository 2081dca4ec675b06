// Fixtures and golden files shared by the notifier tests: fixed notifications (one paper,
// a digest-grouped message, an alert, many large papers), a fixed render context, notifier
// configs per kind, and ExpectGolden (DIGESTD_UPDATE_GOLDEN=1 rewrites the goldens under
// tests/data/notifiers instead of comparing). Header-only; each test binary's own state.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/notification.h"
#include "core/notifier_config.h"
#include "notifiers/channel.h"
#include "notifiers/registry.h"
#include "tests/support/temp_dir.h"

namespace digestd::test {

// 2024-01-29T08:00:00Z.
inline constexpr std::int64_t kNow = 1706515200;

inline Paper MakePaper(int i) {
  Paper p;
  const std::string id = "2401.1500" + std::to_string(i);
  p.key = "arxiv:" + id;
  p.title = "Paper " + std::to_string(i) + ": \"Sparse\" attention \x1b[31mfor\x1b[0m LLMs";
  p.url = "https://arxiv.org/abs/" + id;
  p.authors = {"James Hensman", "Kim Min-jun", "A. N. Other", "Zoë Ørsted", "Li Wei"};
  p.summary = {"첫 요약: sparse attention cuts memory by 4x.", "Second bullet\twith a tab."};
  p.media_url = "https://cdn-uploads.huggingface.co/" + id + ".png";
  p.votes = 40 + i;
  p.version = "v2";
  p.tags = {"cs.CL", "cs.LG"};
  p.extra = {{"github", "https://github.com/example/sparse"}};
  return p;
}

inline Notification MakeInstant() {
  Notification n;
  n.dedupe_key = std::string("speedy") + '\x1f' + "arxiv:2401.15001" + '\x1f' + "new";
  n.id = NotificationId(n.dedupe_key);
  n.notifier = "speedy";
  n.kind = "instant";
  n.event = "new";
  n.watches = {"sparse attention"};
  n.papers.push_back({.paper = MakePaper(1), .source = "hf-daily", .date = "2024-01-29"});
  return n;
}

// Three instant notifications of one digest merged for a `group = "digest"` notifier: a new
// paper for one watch, an updated one for another, and a paper both watches matched.
inline Notification MakeDigestGrouped() {
  std::vector<Notification> instants;
  const std::vector<std::pair<std::string, std::vector<std::string>>> plan = {
      {"new", {"sparse attention"}},
      {"updated", {"agents"}},
      {"new", {"agents", "sparse attention"}},
      {"new", {"sparse attention"}}};
  for (std::size_t i = 0; i < plan.size(); ++i) {
    Notification n;
    n.notifier = "team";
    n.event = plan[i].first;
    n.watches = plan[i].second;
    n.digest_url = "https://huggingface.co/papers?date=2024-01-29";
    n.dedupe_key = "team-" + std::to_string(i);
    n.id = NotificationId(n.dedupe_key);
    n.papers.push_back(
        {.paper = MakePaper(int(i) + 2), .source = "hf-daily", .date = "2024-01-29"});
    instants.push_back(std::move(n));
  }
  std::vector<Notification> merged = GroupByDigest(std::move(instants), {"team"});
  EXPECT_EQ(merged.size(), 1u);
  return merged.front();
}

inline Notification MakeAlert() {
  Notification n;
  n.dedupe_key = std::string("ops") + '\x1f' + "hf-daily" + '\x1f' + "source_failing";
  n.id = NotificationId(n.dedupe_key);
  n.notifier = "ops";
  n.kind = "alert";
  n.event = "source_failing";
  n.source = "hf-daily";
  n.message = "3 fetches failed since 2024-01-28T06:00:00Z: HTTP status 503";
  return n;
}

// `count` papers whose summaries take about `summary_bytes` each.
inline Notification MakeLarge(int count, std::size_t summary_bytes) {
  Notification n = MakeInstant();
  n.papers.clear();
  for (int i = 0; i < count; ++i) {
    Paper p = MakePaper(i);
    p.key = "arxiv:2402." + std::to_string(10000 + i);
    std::string text;
    while (text.size() < summary_bytes) text += "요약 \"quoted\" text " + std::to_string(i) + ". ";
    p.summary = {text};
    n.papers.push_back({.paper = p, .source = "hf-daily", .date = "2024-01-29"});
  }
  return n;
}

inline RenderContext ContextFor(const Notification& n) { return {.id = n.id, .now = kNow}; }

// The payloads the registry's channel for `config` renders for `n` at kNow; empty (with a
// test failure) when the channel cannot be made or render.
inline std::vector<Payload> RenderWith(const NotifierConfig& config, const Notification& n) {
  auto channel = MakeChannel(config);
  EXPECT_TRUE(channel) << channel.error().message;
  if (!channel) return {};
  auto payloads = (*channel)->Render(n, ContextFor(n));
  EXPECT_TRUE(payloads) << payloads.error().message;
  return payloads ? *payloads : std::vector<Payload>{};
}

inline NotifierConfig MakeNotifierConfig(const std::string& name, KindSettings settings) {
  NotifierConfig config;
  config.name = name;
  config.settings = std::move(settings);
  config.kind = std::visit(
      [](const auto& s) -> std::string {
        using S = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<S, ConsoleSettings>) return "console";
        if constexpr (std::is_same_v<S, FileSettings>) return "file";
        if constexpr (std::is_same_v<S, WebhookSettings>) return "webhook";
        if constexpr (std::is_same_v<S, ExecSettings>) return "exec";
        if constexpr (std::is_same_v<S, EmailSettings>) return "email";
        if constexpr (std::is_same_v<S, SlackSettings>) return "slack";
        if constexpr (std::is_same_v<S, DiscordSettings>) return "discord";
        if constexpr (std::is_same_v<S, TeamsSettings>) return "teams";
        if constexpr (std::is_same_v<S, TelegramSettings>) return "telegram";
        if constexpr (std::is_same_v<S, MatrixSettings>) return "matrix";
        if constexpr (std::is_same_v<S, MattermostSettings>) return "mattermost";
        if constexpr (std::is_same_v<S, GoogleChatSettings>) return "googlechat";
        if constexpr (std::is_same_v<S, NtfySettings>) return "ntfy";
        return "";
      },
      config.settings);
  return config;
}

// One payload as readable text for a golden file: the request line or argv, the headers or
// environment, a blank line, then the body.
inline std::string DescribePayload(const Payload& p) {
  std::string out = "part_id: " + p.part_id + "\n";
  switch (p.transfer) {
    case Transfer::kHttp:
      out += p.method + " " + p.url + "\n";
      break;
    case Transfer::kExec:
      out += "exec";
      for (const std::string& arg : p.argv) out += " " + arg;
      out += "\n";
      break;
    case Transfer::kAppend:
      out += "append " + p.url + "\n";
      break;
    case Transfer::kConsole:
      out += "console\n";
      break;
    case Transfer::kSmtp:
      out += "smtp " + p.url + " from " + p.mail_from + " to";
      for (const std::string& r : p.recipients) out += " " + r;
      out += "\n";
      break;
  }
  for (const auto& [name, value] : p.headers) out += name + ": " + value + "\n";
  for (const auto& [name, value] : p.env) out += "env " + name + "=" + value + "\n";
  for (const std::string& name : p.pass_env) out += "pass_env " + name + "\n";
  out += "\n" + p.body;
  if (out.back() != '\n') out += '\n';
  return out;
}

// Compares `actual` with tests/data/notifiers/<name>, or rewrites that file when the
// environment has DIGESTD_UPDATE_GOLDEN=1 (then review the diff before committing it).
inline void ExpectGolden(const std::string& name, const std::string& actual) {
  const std::string path = std::string(DIGESTD_TEST_DATA) + "/notifiers/" + name;
  const char* update = std::getenv("DIGESTD_UPDATE_GOLDEN");
  if (update && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << actual;
    std::cerr << "updated golden " << path << "\n";
    return;
  }
  ASSERT_TRUE(std::filesystem::is_regular_file(path))
      << "no golden " << path << "; create it with DIGESTD_UPDATE_GOLDEN=1";
  EXPECT_EQ(ReadFile(path), actual)
      << "differs from golden " << path
      << "; if the change is intended, rerun with DIGESTD_UPDATE_GOLDEN=1 and review the diff";
}

}  // namespace digestd::test
