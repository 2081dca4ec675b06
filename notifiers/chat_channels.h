// The chat notifier kinds (DESIGN.md §7, reference/platforms.md §1): slack, discord, teams,
// telegram, matrix, mattermost, googlechat and ntfy. Each renders a Notification through
// BuildChatMessage and PackChat into its platform's payload (limits from
// core/channel_limits.h), escapes for its markup, neutralises mentions, names its target in
// logs without the secret in its URL (Payload::shown_url), and classifies answers with
// ClassifyChat plus its own success shape. Immutable channels: thread-safe.
#pragma once

#include <memory>

#include "core/notifier_config.h"
#include "core/result.h"
#include "notifiers/channel.h"

namespace digestd {

// Incoming webhook, Block Kit (header, one section per paper with its thumbnail as image
// accessory, context for "and N more") and a `text` fallback. 404/410 disable.
Result<std::unique_ptr<Channel>> MakeSlackChannel(const NotifierConfig& notifier,
                                                  const SlackSettings& settings);

// Execute Webhook with ?wait=true: one embed per paper (thumbnail), content for the heading,
// allowed_mentions {"parse": []}; the message id is the remote id. 404/410 disable.
Result<std::unique_ptr<Channel>> MakeDiscordChannel(const NotifierConfig& notifier,
                                                    const DiscordSettings& settings);

// Workflows webhook: a "message" with one Adaptive Card 1.2 attachment; 202 is delivered
// (accepted, unconfirmed). 404/410 disable.
Result<std::unique_ptr<Channel>> MakeTeamsChannel(const NotifierConfig& notifier,
                                                  const TeamsSettings& settings);

// Bot API sendMessage in HTML parse mode; the token is never shown. The message_id is the
// remote id. 401/403/404/410 disable (token revoked, bot removed from the chat).
Result<std::unique_ptr<Channel>> MakeTelegramChannel(const NotifierConfig& notifier,
                                                     const TelegramSettings& settings);

// PUT /_matrix/client/v3/rooms/{room}/send/m.room.message/{txnId}, txnId = the part id (a
// retry is idempotent); m.notice with formatted_body and "m.mentions": {}. The event id is
// the remote id. 401 disables (the token is gone).
Result<std::unique_ptr<Channel>> MakeMatrixChannel(const NotifierConfig& notifier,
                                                   const MatrixSettings& settings);

// Incoming webhook, markdown `text`. 404/410 disable.
Result<std::unique_ptr<Channel>> MakeMattermostChannel(const NotifierConfig& notifier,
                                                       const MattermostSettings& settings);

// Space webhook: cardsV2, one thread per day (threadKey "digestd-YYYY-MM-DD",
// REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD). The message name is the remote id. 404/410 disable.
Result<std::unique_ptr<Channel>> MakeGoogleChatChannel(const NotifierConfig& notifier,
                                                       const GoogleChatSettings& settings);

// JSON publish to the server root (topic, title, message, tags, click, attach, priority),
// plain text, Bearer token when set. A 429 without Retry-After waits the kind's pace.
Result<std::unique_ptr<Channel>> MakeNtfyChannel(const NotifierConfig& notifier,
                                                 const NtfySettings& settings);

}  // namespace digestd
