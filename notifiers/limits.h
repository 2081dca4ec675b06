// The per-kind limits table of notifier targets. It lives in core/channel_limits.h so that
// the config loader, which may not include notifiers/, reads the same defaults.
#pragma once

#include "core/channel_limits.h"
