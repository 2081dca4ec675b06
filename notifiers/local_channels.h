// Renderers for the two local notifier kinds: `console` (text for a person at a terminal)
// and `file` (JSON lines, CONFIG.md "JSON shapes"). Pure functions; the daemon writes the
// bytes. Thread-safe.
#pragma once

#include <string>

#include "core/notification.h"

namespace digestd {

// A short human-readable block: the event, the watches, then per paper its title, link,
// votes, authors (first few) and first summary line. Ends with a newline.
std::string RenderConsole(const Notification& notification, int max_papers);

// NotificationJsonLines joined, each line ending in '\n'.
std::string RenderJsonLines(const Notification& notification);

}  // namespace digestd
