// Per-kind limits of notifier targets (reference/platforms.md): the largest body a target
// takes (splitting is driven by it), and the defaults for `max_papers` and `min_interval`
// when the config says nothing. One table, read by the channels and the config loader.
// Compile-time constants: thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <string_view>

namespace digestd {

// Standard Webhooks: "keep payloads under 20 KB" (platforms.md §3.1). 20,000 bytes meets
// both readings of "KB".
inline constexpr std::size_t kWebhookMaxBodyBytes = 20'000;

struct ChannelLimits {
  std::string_view kind;
  std::size_t max_body_bytes = 0;                     // one payload's body; 0: no limit
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
};

// The limits of `kind`; an unknown kind has no body limit and the general defaults.
constexpr ChannelLimits LimitsFor(std::string_view kind) {
  for (const ChannelLimits& limits : kChannelLimits) {
    if (limits.kind == kind) return limits;
  }
  return ChannelLimits{.kind = kind};
}

}  // namespace digestd
