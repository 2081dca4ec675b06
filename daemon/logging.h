// Logging set-up: spdlog to stderr, with sd-daemon "<N>" priority prefixes when stderr is
// the journal ($JOURNAL_STREAM). Call once from main before other threads start.
#pragma once

#include <string>

namespace digestd {

// `level` is trace|debug|info|warn|error; unknown values mean info.
void SetUpLogging(const std::string& level);

}  // namespace digestd
