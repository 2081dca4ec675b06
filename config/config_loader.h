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
  int line = 0;  // 1-based; 0 when the problem has no position
  int column = 0;
  std::string message;
  bool warning = false;  // warnings do not fail the load

  std::string ToString() const;  // "file:line:col: message" (with "warning: ")
};

struct ConfigLoad {
  std::shared_ptr<const Config> config;       // null when any error was found
  std::vector<ConfigDiagnostic> diagnostics;  // all errors and warnings, in file order
};

// Loads `path`. Every error found is reported (not only the first). Arbitrary bytes in the
// file give diagnostics, never a crash. `config` is set only when there is no error.
ConfigLoad LoadConfig(const std::string& path);

// As LoadConfig, with `text` standing for the contents of `path` (which is not read; its
// directory still anchors relative paths and includes, which are read from disk).
ConfigLoad LoadConfigText(std::string_view text, const std::string& path);

inline constexpr const char* kSystemConfigPath = "/etc/digestd/digestd.toml";
// What the system unit (systemd/digestd.service.in) lets the service write:
// StateDirectory=digestd and LogsDirectory=digestd.
inline constexpr const char* kUnitStateDirectory = "/var/lib/digestd";
inline constexpr const char* kUnitLogsDirectory = "/var/log/digestd";

// Where a command looks for its config when --config is not given, in order (CONFIG.md):
// $DIGESTD_CONFIG, ./digestd.toml, ${XDG_CONFIG_HOME:-~/.config}/digestd/digestd.toml,
// /etc/digestd/digestd.toml.
std::vector<std::string> ConfigSearchPaths();

// The first of ConfigSearchPaths that exists; fails listing every path tried.
Result<std::string> FindConfigPath();

// The state file when [daemon] state is not given (CONFIG.md): $STATE_DIRECTORY/state.db
// when that is set (the unit sets it); /var/lib/digestd/state.db for the system config;
// else ${XDG_STATE_HOME:-~/.local/state}/digestd/state.db. So the CLI and the service open
// the same database.
std::string DefaultStatePath(const std::string& config_path);

}  // namespace digestd
