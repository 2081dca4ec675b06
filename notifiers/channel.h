// Channel: what one notifier kind knows about its target, and nothing about moving bytes
// (DESIGN.md §7). A channel renders a Notification into the payloads the target accepts
// (split to fit its limits, each part with its stable id) and classifies what the target
// answered. The delivery engine (daemon/) sends the payloads; net/ and the exec runner move
// the bytes. Channels are immutable once made: every method is const and thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/notification.h"
#include "core/notifier_config.h"
#include "core/result.h"

namespace digestd {

// How a payload travels.
enum class Transfer {
  kHttp,     // an HTTP(S) request: url, method, headers, body
  kExec,     // run argv (no shell) with `body` on stdin; environment: `env` + `pass_env`
  kAppend,   // append `body` to the file `url` (a path), durably
  kConsole,  // write `body` to the user's terminal
  kSmtp,     // one SMTP transaction to `url`: `body` (the whole message) from `mail_from`
             // to `recipients`, with AUTH when `username` is set
};

// One request to a target: one part of one notification.
struct Payload {
  std::string part_id;                // "ID" for part 0, "ID-k" for part k (CONFIG.md)
  Transfer transfer = Transfer::kHttp;
  std::string url;                    // kHttp: the URL (may hold a secret); kAppend: a path
  std::string shown_url;              // kHttp: the URL as logs and errors may show it, where
                                      // its path holds a secret; "": net's RedactUrl(url)
  std::string method = "POST";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // With RenderContext::readable, where `body` is not for reading (an email's MIME with
  // base64 parts): what a person would see, decoded. "": `body` reads as it is.
  std::string readable;
  std::vector<std::string> argv;      // kExec
  // kExec: the child's whole environment is `env` (fixed variables the channel sets: PATH,
  // LANG, DIGESTD_*) plus, for each name in `pass_env` that is set in the daemon's own
  // environment, that variable with the daemon's value (replacing an `env` entry of the same
  // name). Channels are pure and never read the environment; the daemon resolves `pass_env`.
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> pass_env;
  std::chrono::milliseconds timeout{30000};
  bool tls_verify = true;
  std::string ca_file;
  // kSmtp: the envelope and the account. `password` is a secret.
  std::string mail_from;
  std::vector<std::string> recipients;
  std::string username;
  std::string password;
  StartTls starttls = StartTls::kRequired;
};

// A message of one part, as Render returns it. (A braced list would copy the payload: an
// initializer_list's elements cannot be moved from.)
inline std::vector<Payload> OnePayload(Payload payload) {
  std::vector<Payload> parts;
  parts.push_back(std::move(payload));
  return parts;
}

// What came back from one payload's transfer.
struct Response {
  // Set when the transfer itself failed (no connection, timeout, the command could not
  // start, a write error): the message names the target (URL redacted) and what happened.
  std::optional<std::string> failure;
  bool timed_out = false;
  long status = 0;                    // kHttp: the HTTP status; kExec: the exit code
  std::string body;                   // kHttp: the body; kExec: stdout+stderr (bounded)
  std::string retry_after;            // kHttp: the raw Retry-After header
  std::int64_t received_at = 0;       // kHttp: unix seconds of the answer (Retry-After dates
                                      // count from it; 0: dates are ignored)
  int start_errno = 0;                // kExec: the errno that kept the command from starting
};

// What a response means for the row.
struct Outcome {
  enum class Kind {
    kDelivered,  // the target accepted this part
    kRetry,      // try again later, not before `retry_after` when it is set
    kPermanent,  // this message will never be accepted: the row goes dead
    kDisable,    // the target is gone (HTTP 410): stop sending until its config changes
  };
  Kind kind = Kind::kDelivered;
  std::string remote_id;              // kDelivered: the target's message id, when it gives one
  std::optional<std::chrono::seconds> retry_after;  // kRetry
  std::string reason;                 // every kind but kDelivered: why, for the last error
  // kPermanent: only this part can never be delivered (one recipient of an email); the
  // parts after it still go, and the row ends dead with every such reason.
  bool part_only = false;
};

// What a rendering needs besides the notification.
struct RenderContext {
  std::string id;                     // the outbox row's id: part 0's id
  std::int64_t now = 0;               // unix seconds of this attempt (signatures carry it)
  // For `digestd preview`: also fill Payload::readable where the body is not for reading.
  bool readable = false;
};

class Channel {
 public:
  virtual ~Channel() = default;

  // The payloads that carry `notification`, in part order; never empty on success. Pure:
  // the same notification and context give the same bytes. Fails only when the
  // notification cannot be shown on this target at all (the row then goes dead).
  virtual Result<std::vector<Payload>> Render(const Notification& notification,
                                              const RenderContext& context) const = 0;

  // What `response` to `payload` means.
  virtual Outcome Classify(const Payload& payload, const Response& response) const = 0;
};

// The outcome rules every HTTP target shares (platforms.md §0, §3.1): 2xx delivered; 410
// disable; 408, 425, 429 and 5xx retry (after Retry-After when given, read against
// `received_at`); a transfer failure retry; other statuses (1xx, 3xx: redirects are not
// followed, other 4xx) permanent. Reasons: "HTTP status N: <first 200 bytes of the body>".
Outcome ClassifyHttp(const Response& response);

// Retry-After as seconds from `now`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3: the
// IMF-fixdate, RFC 850 and asctime forms); nullopt when absent or unreadable. A date in the
// past gives 0; anything past kMaxRetryAfter gives kMaxRetryAfter.
inline constexpr std::chrono::seconds kMaxRetryAfter{7 * 24 * 3600};
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value, std::int64_t now);

// At most `max_bytes` of `text` (its start, or its end when `tail`) for an Outcome reason:
// cut on a UTF-8 boundary, invalid bytes replaced, control characters and runs of
// whitespace made one space, trimmed; "…" marks a cut.
std::string ReasonExcerpt(std::string_view text, std::size_t max_bytes, bool tail = false);

}  // namespace digestd
