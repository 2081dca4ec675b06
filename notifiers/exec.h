// The `exec` notifier: runs the configured command (no shell) with the webhook JSON body
// (docs/webhook.md; one part, `max_papers` applied) on stdin and a fixed, small environment,
// and judges it by its exit status. The channel is immutable: thread-safe.
#pragma once

#include <memory>

#include "core/notifier_config.h"
#include "core/result.h"
#include "notifiers/channel.h"

namespace digestd {

// The exit status a command returns to ask for a later retry (sysexits.h EX_TEMPFAIL).
inline constexpr int kExecTempFail = 75;

// The exec channel. Payload: Transfer::kExec, argv = settings.command, body = the JSON body,
// env = PATH=/usr/local/bin:/usr/bin:/bin, LANG=C.UTF-8, DIGESTD_NOTIFICATION_ID (the part
// id), DIGESTD_NOTIFIER, DIGESTD_KIND, DIGESTD_EVENT; pass_env = settings.env; timeout from
// `notifier`. Classify: exit 0 delivered; 75 retry; any other exit permanent; a timeout or
// another failure to run retries, except a command that does not exist (start_errno ENOENT),
// which is permanent. Reasons carry the end of the command's output. Fails when the command
// is empty or a pass-through name is malformed or starts with DIGESTD_.
Result<std::unique_ptr<Channel>> MakeExecChannel(const NotifierConfig& notifier,
                                                 const ExecSettings& settings);

}  // namespace digestd
