// LoadConfig: reads a digestd.toml (and its includes), validates every key against
// CONFIG.md, resolves relative paths and ${SECRETS}, and returns an immutable Config.
// Pure apart from reading the files and the environment it names. Thread-compatible.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/result.h"

namespace digestd {

// One problem found in a config file, positioned for "file:line:col: message" output.
struct ConfigDiagnostic {
  std::string file;
  int line = 0;                       // 1-based; 0 when the problem has no position
  int column = 0;
  std::string message;
  bool warning = false;               // warnings do not fail the load

  std::string ToString() const;       // "file:line:col: message" (with "warning: ")
};

struct ConfigLoad {
  std::shared_ptr<const Config> config;             // null when any error was found
  std::vector<ConfigDiagnostic> diagnostics;        // all errors and warnings, in file order
};

// Loads `path`. Every error found is reported (not only the first). Arbitrary bytes in the
// file give diagnostics, never a crash. `config` is set only when there is no error.
ConfigLoad LoadConfig(const std::string& path);

// As LoadConfig, with `text` standing for the contents of `path` (which is not read; its
// directory still anchors relative paths and includes, which are read from disk).
ConfigLoad LoadConfigText(std::string_view text, const std::string& path);

// The default config path: $DIGESTD_CONFIG, else /etc/digestd/digestd.toml when it exists,
// else ./digestd.toml.
std::string DefaultConfigPath();

}  // namespace digestd
