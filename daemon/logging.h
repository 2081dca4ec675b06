// Logging set-up: spdlog to stderr in one of three forms. Under journald ($JOURNAL_STREAM
// names our stderr) each line starts with its sd-daemon "<N>" priority and carries no time
// (the journal stamps it); elsewhere a plain line with a UTC timestamp; or, asked for, one
// JSON object per line. Set up from main before other threads start.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/config_loader.h"

namespace digestd {

enum class LogFormat { kAuto, kPlain, kJournal, kJson };

// "auto" | "plain" | "journal" | "json"; nullopt for anything else.
std::optional<LogFormat> ParseLogFormat(std::string_view name);

// `level` is trace|debug|info|warn|error; unknown values mean info. kAuto is journal when
// stderr is the stream $JOURNAL_STREAM names, else plain. May be called again (a reload's
// new level); the logger is made once.
void SetUpLogging(const std::string& level, LogFormat format = LogFormat::kAuto);

// A config's diagnostics on stderr: as `check` prints them (FILE:LINE:COL: ...), or as
// warn/error records when `format` is kJson (then logging is set up at info first).
void PrintDiagnostics(const ConfigLoad& load, LogFormat format);

// The JSON line one message becomes under --log-format json (no newline): "time" (UTC,
// RFC 3339 with microseconds), "level", "logger", "message", "pid", "thread", and "source"
// with "line" when spdlog was given a location.
std::string JsonLogLine(std::string_view time_utc, std::string_view level,
                        std::string_view logger, std::string_view message, long pid,
                        std::size_t thread, std::string_view file, int line);

}  // namespace digestd
