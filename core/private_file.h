// The mode of files digestd creates that may hold secrets or private data (state.db, the
// `file` notifier's output): 0600, or 0640 when the systemd unit runs us (it sets
// STATE_DIRECTORY, and its group `digestd` is meant to read them). Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdlib>

namespace digestd {

inline mode_t NewPrivateFileMode() {
  const char* state_directory = std::getenv("STATE_DIRECTORY");
  return state_directory != nullptr && *state_directory != '\0' ? 0640 : 0600;
}

}  // namespace digestd
