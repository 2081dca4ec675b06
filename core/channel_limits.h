// Per-kind limits of notifier targets (reference/platforms.md §1, §3.1): the largest payload a
// target takes, its text, block, embed and field limits (the chat renderers split by them),
// and the defaults for `max_papers` and `min_interval` when the config says nothing. One table,
// in core so that both the channels (notifiers/) and the config loader (config/) read it.
// Vendor limits change: a number here is the one place to correct. Compile-time constants:
// thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <string_view>

namespace digestd {

// Standard Webhooks: "keep payloads under 20 KB" (platforms.md §3.1). 20,000 bytes meets
// both readings of "KB".
inline constexpr std::size_t kWebhookMaxBodyBytes = 20'000;

// How a platform counts the characters of a text limit.
enum class TextUnit {
  kBytes,       // UTF-8 bytes (ntfy)
  kCodePoints,  // Unicode scalar values, "runes" (Slack, Mattermost)
  kUtf16,       // UTF-16 code units (Discord and Telegram count conservatively this way)
};

struct ChannelLimits {
  std::string_view kind;
  std::size_t max_body_bytes = 0;  // one payload's whole body (UTF-8 bytes); 0: no limit
  TextUnit unit = TextUnit::kCodePoints;
  std::size_t max_text = 0;        // the message text (Slack fallback, Discord content,
                                   // Telegram text after entities, Mattermost text, ntfy
                                   // message); 0: no own limit
  std::size_t max_total_text = 0;  // all text of blocks/embeds together (Discord 6000,
                                   // Slack's observed budget); 0: none
  std::size_t max_blocks = 0;      // Slack blocks, Discord embeds, Google Chat widgets,
                                   // Adaptive Card elements; 0: none
  std::size_t max_block_text = 0;  // one block's text (Slack section, Discord description)
  std::size_t max_title = 0;       // a heading (Slack header, Discord embed title)
  std::size_t max_fields = 0;      // fields in one embed (Discord)
  std::size_t max_field_text = 0;  // one field's value (Discord)
  int default_max_papers = 50;                        // papers in one message
  std::chrono::milliseconds default_min_interval{0};  // pace between requests to one target
};

inline constexpr std::array kChannelLimits = {
    ChannelLimits{.kind = "console"},
    ChannelLimits{.kind = "file"},
    ChannelLimits{.kind = "webhook", .max_body_bytes = kWebhookMaxBodyBytes},
    ChannelLimits{.kind = "exec"},
    // Email is never split by size: the renderer keeps the HTML under Gmail's clipping
    // (kEmailMaxHtmlBytes in notifiers/email_render.h) and the rest becomes "and N more".
    ChannelLimits{.kind = "email"},
    // Block Kit: 50 blocks, section text 3000, header 150, text 40,000; users report
    // msg_blocks_too_long near 13.2k block characters, hence 12,000 in all. ~1 message/s.
    ChannelLimits{.kind = "slack",
                  .max_body_bytes = 60'000,
                  .unit = TextUnit::kCodePoints,
                  .max_text = 3'000,
                  .max_total_text = 12'000,
                  .max_blocks = 50,
                  .max_block_text = 3'000,
                  .max_title = 150,
                  .default_max_papers = 20,
                  .default_min_interval = std::chrono::milliseconds{1000}},
    // Execute Webhook: content 2000, 10 embeds, title 256, description 4096, 25 fields of
    // 1024, footer 2048, 6000 in all embeds. Rate limits come as headers; 1/s is gentle.
    ChannelLimits{.kind = "discord",
                  .max_body_bytes = 1'000'000,
                  .unit = TextUnit::kUtf16,
                  .max_text = 2'000,
                  .max_total_text = 6'000,
                  .max_blocks = 10,
                  .max_block_text = 4'096,
                  .max_title = 256,
                  .max_fields = 25,
                  .max_field_text = 1'024,
                  .default_max_papers = 20,
                  .default_min_interval = std::chrono::milliseconds{1000}},
    // Workflows webhook: 28 KB a message (27,000 bytes kept: a 202 hides a rejection),
    // at most 4 requests a second and 60 in 30 s.
    ChannelLimits{.kind = "teams",
                  .max_body_bytes = 27'000,
                  .unit = TextUnit::kBytes,
                  .max_blocks = 200,
                  .default_max_papers = 20,
                  .default_min_interval = std::chrono::milliseconds{500}},
    // sendMessage: 1-4096 characters after entity parsing; 20 messages a minute to a group.
    ChannelLimits{.kind = "telegram",
                  .max_body_bytes = 60'000,
                  .unit = TextUnit::kUtf16,
                  .max_text = 4'096,
                  .default_max_papers = 10,
                  .default_min_interval = std::chrono::milliseconds{3000}},
    // A whole event is at most 65,536 bytes with its signatures: 60,000 for the content.
    ChannelLimits{.kind = "matrix",
                  .max_body_bytes = 60'000,
                  .unit = TextUnit::kBytes,
                  .default_max_papers = 30,
                  .default_min_interval = std::chrono::milliseconds{1000}},
    // A post is at most 16,383 runes; rate limits are the server's.
    ChannelLimits{.kind = "mattermost",
                  .max_body_bytes = 100'000,
                  .unit = TextUnit::kCodePoints,
                  .max_text = 16'383,
                  .default_max_papers = 30,
                  .default_min_interval = std::chrono::milliseconds{1000}},
    // 32,000 bytes a message, 100 widgets a card; about 60 writes a minute in a space.
    ChannelLimits{.kind = "googlechat",
                  .max_body_bytes = 30'000,
                  .unit = TextUnit::kBytes,
                  .max_blocks = 100,
                  .default_max_papers = 20,
                  .default_min_interval = std::chrono::milliseconds{1000}},
    // A message is at most 4,096 bytes (longer becomes an attachment); a visitor gets one
    // request every 5 s once its burst is spent, and ntfy.sh 250 messages a day.
    ChannelLimits{.kind = "ntfy",
                  .max_body_bytes = 8'000,
                  .unit = TextUnit::kBytes,
                  .max_text = 4'096,
                  .max_title = 250,
                  .default_max_papers = 5,
                  .default_min_interval = std::chrono::milliseconds{5000}},
};

// The limits of `kind`; an unknown kind has no limits and the general defaults.
constexpr ChannelLimits LimitsFor(std::string_view kind) {
  for (const ChannelLimits& limits : kChannelLimits) {
    if (limits.kind == kind) return limits;
  }
  return ChannelLimits{.kind = kind};
}

}  // namespace digestd
