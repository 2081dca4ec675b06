#include "daemon/logging.h"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "core/utf8.h"

namespace digestd {
namespace {

// %*: the syslog priority of the message, as journald reads it from the line start.
class JournalPriorityFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static constexpr const char* kPriority[] = {"<7>", "<7>", "<6>", "<4>", "<3>", "<2>", ""};
    const std::string_view p = kPriority[int(msg.level)];
    dest.append(p.data(), p.data() + p.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JournalPriorityFlag>();
  }
};

// One JSON object per message.
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            msg.time.time_since_epoch())
                            .count();
    const std::time_t seconds = std::time_t(micros / 1000000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char stamp[96];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  int(micros % 1000000));
    const auto level = spdlog::level::to_string_view(msg.level);
    const std::string line = JsonLogLine(
        stamp, std::string_view(level.data(), level.size()),
        std::string_view(msg.logger_name.data(), msg.logger_name.size()),
        std::string_view(msg.payload.data(), msg.payload.size()), long(::getpid()),
        msg.thread_id, msg.source.filename ? msg.source.filename : "", msg.source.line);
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

// systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stream it connected; it counts only
// when that stream is still our stderr (a child's redirected stderr is not the journal).
bool StderrIsJournal() {
  const char* value = std::getenv("JOURNAL_STREAM");
  if (value == nullptr) return false;
  unsigned long long device = 0, inode = 0;
  if (std::sscanf(value, "%llu:%llu", &device, &inode) != 2) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == device &&
         static_cast<unsigned long long>(st.st_ino) == inode;
}

// %&: the message made safe for a terminal or the journal (TerminalSafe): log lines quote
// fetched bytes (titles in parser warnings, a server's Content-Type, error bodies), and no
// ESC, C1 control, bidi override or newline of theirs may reach a terminal or forge a line.
class SafeMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string safe =
        TerminalSafe(std::string_view(msg.payload.data(), msg.payload.size()), kMaxLogMessage);
    dest.append(safe.data(), safe.data() + safe.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SafeMessageFlag>();
  }

 private:
  static constexpr std::size_t kMaxLogMessage = 16 * 1024;
};

}  // namespace

std::optional<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "auto") return LogFormat::kAuto;
  if (name == "plain") return LogFormat::kPlain;
  if (name == "journal") return LogFormat::kJournal;
  if (name == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::string JsonLogLine(std::string_view time_utc, std::string_view level,
                        std::string_view logger, std::string_view message, long pid,
                        std::size_t thread, std::string_view file, int line) {
  boost::json::object o;
  o["time"] = time_utc;
  o["level"] = level;
  o["logger"] = logger;
  o["message"] = message;
  o["pid"] = pid;
  o["thread"] = thread;
  if (!file.empty()) {
    o["source"] = file;
    o["line"] = line;
  }
  return boost::json::serialize(o);
}

void PrintDiagnostics(const ConfigLoad& load, LogFormat format) {
  if (format != LogFormat::kJson) {
    for (const ConfigDiagnostic& d : load.diagnostics) std::cerr << d.ToString() << "\n";
    return;
  }
  SetUpLogging("info", format);
  for (const ConfigDiagnostic& d : load.diagnostics) {
    (d.warning ? spdlog::warn("{}", d.ToString()) : spdlog::error("{}", d.ToString()));
  }
}

void SetUpLogging(const std::string& level, LogFormat format) {
  if (format == LogFormat::kAuto) format = StderrIsJournal() ? LogFormat::kJournal : LogFormat::kPlain;
  // _mt: `run` logs from the event loop and from its worker thread.
  auto logger = spdlog::get("digestd");
  if (!logger) logger = spdlog::stderr_logger_mt("digestd");
  if (format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(
        spdlog::pattern_time_type::utc);
    if (format == LogFormat::kJournal) {
      formatter->add_flag<JournalPriorityFlag>('*');
      formatter->add_flag<SafeMessageFlag>('&').set_pattern("%*%l: %&");
    } else {
      formatter->add_flag<SafeMessageFlag>('&').set_pattern(
          "%Y-%m-%dT%H:%M:%S.%eZ digestd: %l: %&");
    }
    logger->set_formatter(std::move(formatter));
  }
  const auto parsed = spdlog::level::from_str(level);
  logger->set_level(parsed == spdlog::level::off && level != "off" ? spdlog::level::info
                                                                   : parsed);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace digestd
