#include "daemon/logging.h"

#include <cstdlib>
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

void SetUpLogging(const std::string& level) {
  // _mt: `run` logs from the event loop and from its worker thread.
  auto logger = spdlog::stderr_logger_mt("digestd");
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (std::getenv("JOURNAL_STREAM") != nullptr) {
    formatter->add_flag<JournalPriorityFlag>('*');
    formatter->add_flag<SafeMessageFlag>('&').set_pattern("%*%l: %&");
  } else {
    formatter->add_flag<SafeMessageFlag>('&').set_pattern("digestd: %l: %&");
  }
  logger->set_formatter(std::move(formatter));
  const auto parsed = spdlog::level::from_str(level);
  logger->set_level(parsed == spdlog::level::off && level != "off" ? spdlog::level::info
                                                                   : parsed);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace digestd
