// The `webhook` notifier: a versioned JSON body (docs/webhook.md, docs/webhook.schema.json)
// POSTed with Standard Webhooks headers and HMAC-SHA256 signatures (platforms.md §3.1), split
// into parts that fit kWebhookMaxBodyBytes. The body renderer is shared with `exec`. Pure
// functions and an immutable channel: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/notification.h"
#include "core/notifier_config.h"
#include "core/result.h"
#include "notifiers/channel.h"
#include "notifiers/message_texts.h"

namespace digestd {

// The body's "version": raised only when a field changes meaning or goes away.
inline constexpr int kWebhookBodyVersion = 1;
inline constexpr std::string_view kWebhookBodyType = "digestd.notification";

struct WebhookPart {
  std::string id;    // context.id for part 0, context.id + "-k" for part k
  std::string body;  // the JSON document
};

// The JSON bodies carrying `notification`: at most `max_papers` papers in all (the rest
// counted in "more"), spread over as few parts as keep each body within `max_body_bytes`
// (0: no limit, always one part), in paper order, each paper in exactly one part. A paper
// too large for a part alone loses, until it fits: authors past the tenth (then
// authors_truncated is true), the end of its summary (cut on a character boundary and
// marked "…"), its other authors, tags, extra, media_url and the end of its title. An
// alert's message is shortened the same way. Fails when context.id is empty or holds '.',
// or when a part cannot fit even so (e.g. a huge watch list).
// With `texts` (a notifier with a template_file, README "Templates") each body also has a
// "text" member: the part's message as plain text, written by those templates over the
// values the chat targets see (one line each, controls removed, mentions defused): the
// heading (with " (k/n)" when there are parts), an alert's message, each paper's entry, and
// in the last part the footer and the digest link, separated by blank lines. It counts toward
// `max_body_bytes`; JSON escaping is the writer's, so no template can break the body.
Result<std::vector<WebhookPart>> RenderWebhookBodies(const Notification& notification,
                                                     const RenderContext& context, int max_papers,
                                                     std::size_t max_body_bytes,
                                                     const MessageTexts* texts = nullptr);

// The entry of a paper in a templated body's "text" when the template_file has no paper
// section (README "Templates").
inline constexpr std::string_view kWebhookBuiltInPaper =
    "{{title}}{{#url}}\n{{url}}{{/url}}\n{{meta}}{{#authors}}\n{{authors}}{{/authors}}"
    "{{#watches}}\nMatched: {{watches}}{{/watches}}{{#summary}}\n{{summary}}{{/summary}}";

// The texts of a webhook or exec body's "text": nullopt without a template_file (no "text"
// member); fails when the file does not compile, naming its PATH:LINE:COL.
Result<std::optional<MessageTexts>> WebhookTexts(const NotifierConfig& notifier);

// The signing key of a "whsec_<base64>" secret (the bytes the base64 stands for); fails on
// another prefix, bad base64 or an empty key.
Result<std::string> DecodeWebhookSecret(std::string_view secret);

// "v1,<base64 HMAC-SHA256(key, id "." timestamp "." body)>": one Standard Webhooks signature;
// empty only when libgcrypt cannot start (that key's signature is then left out, and a
// target that checks it refuses the request).
std::string SignWebhook(std::string_view key, std::string_view id, std::int64_t timestamp,
                        std::string_view body);

// The webhook channel. Payloads: settings.method to settings.url with Content-Type
// application/json, webhook-id (the part id), webhook-timestamp (context.now),
// webhook-signature (one "v1,..." per secret, space-separated; absent without secrets), then
// the custom headers; timeout, tls_verify and ca_file from `notifier`. Classify is
// ClassifyHttp. Fails on a malformed secret, a method other than POST or PUT, or a custom
// header that is malformed or names Content-Type or a webhook-* header.
Result<std::unique_ptr<Channel>> MakeWebhookChannel(const NotifierConfig& notifier,
                                                    const WebhookSettings& settings);

}  // namespace digestd
