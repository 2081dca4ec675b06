#include "daemon/cli.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "config/config_loader.h"
#include "core/dates.h"
#include "core/paper_json.h"
#include "daemon/cycle.h"
#include "daemon/logging.h"
#include "daemon/service.h"
#include "fetchers/markdown_parser.h"
#include "net/http_client.h"
#include "store/state_store.h"

namespace digestd {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConfig = 78;  // EX_CONFIG

constexpr const char* kUsage = R"(usage:
  digestd run     [--config F]
  digestd once    [--config F] [--date YYYY-MM-DD] [--dry-run] [--json]
  digestd check   [--config F]
  digestd parse   --format markdown FILE|URL [--json]
  digestd outbox  list|retry ID|drop ID [--config F]
  digestd status  [--config F] [--json]
  digestd --version | --help

Exit codes: 0 ok, 1 runtime failure, 2 usage, 78 configuration error.
Default config: $DIGESTD_CONFIG, else /etc/digestd/digestd.toml, else ./digestd.toml.
)";

// The command line after the command word: --flags (with or without a value) and
// positional words.
struct Args {
  std::string command;
  std::map<std::string, std::string> options;
  std::vector<std::string> positional;
  bool Has(const std::string& name) const { return options.count(name) > 0; }
  std::string Get(const std::string& name) const {
    auto it = options.find(name);
    return it == options.end() ? std::string() : it->second;
  }
};

const std::map<std::string, bool>& KnownFlags() {  // flag -> takes a value
  static const std::map<std::string, bool> flags = {
      {"--config", true}, {"--date", true}, {"--dry-run", false}, {"--json", false},
      {"--format", true}, {"--paper", true}, {"--state", true}};
  return flags;
}

std::optional<Args> ParseArgs(int argc, char** argv, std::string& error) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word.rfind("--", 0) == 0 && word.size() > 2) {
      std::string value;
      const auto eq = word.find('=');
      if (eq != std::string::npos) {
        value = word.substr(eq + 1);
        word = word.substr(0, eq);
      }
      const auto known = KnownFlags().find(word);
      if (known == KnownFlags().end()) {
        error = "unknown option '" + word + "'";
        return std::nullopt;
      }
      if (known->second && eq == std::string::npos) {
        if (i + 1 >= argc) {
          error = "option '" + word + "' needs a value";
          return std::nullopt;
        }
        value = argv[++i];
      }
      args.options[word] = value;
    } else if (args.command.empty()) {
      args.command = word;
    } else {
      args.positional.push_back(word);
    }
  }
  return args;
}

std::int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Loads the config named by --config (or the default), printing its diagnostics to stderr.
std::shared_ptr<const Config> LoadOrReport(const Args& args) {
  const std::string path = args.Has("--config") ? args.Get("--config") : DefaultConfigPath();
  ConfigLoad load = LoadConfig(path);
  for (const ConfigDiagnostic& d : load.diagnostics) std::cerr << d.ToString() << "\n";
  return load.config;
}

int Check(const Args& args) {
  const std::string path = args.Has("--config") ? args.Get("--config") : DefaultConfigPath();
  ConfigLoad load = LoadConfig(path);
  for (const ConfigDiagnostic& d : load.diagnostics) std::cerr << d.ToString() << "\n";
  if (!load.config) return kExitConfig;
  auto matcher = WatchMatcher::Compile(WatchSpecsFrom(*load.config));
  if (!matcher) {
    std::cerr << path << ": " << matcher.error().message << "\n";
    return kExitConfig;
  }
  std::cout << path << ": ok (" << load.config->sources.size() << " sources, "
            << load.config->notifiers.size() << " notifiers, " << load.config->watches.size()
            << " watches)\n";
  return kExitOk;
}

int Parse(const Args& args) {
  const std::string format = args.Get("--format");
  if (args.positional.size() != 1 || format.empty()) {
    std::cerr << "digestd parse: give --format and one FILE or URL\n" << kUsage;
    return kExitUsage;
  }
  if (format != "markdown") {
    if (format == "hf-daily" || format == "arxiv" || format == "feed") {
      std::cerr << "digestd parse: format '" << format << "' is not supported yet\n";
    } else {
      std::cerr << "digestd parse: unknown format '" << format
                << "' (markdown, hf-daily, arxiv, feed)\n";
    }
    return kExitUsage;
  }
  const std::string& input = args.positional[0];
  std::string url = input;
  if (input.find("://") == std::string::npos) {
    std::error_code ec;
    url = "file://" + std::filesystem::absolute(input, ec).string();
  }
  HttpClient http;
  HttpResponse response = http.Fetch(HttpRequest{.url = url, .max_bytes = 256'000'000});
  if (response.error != TransferError::kNone) {
    std::cerr << "digestd parse: " << response.error_message << "\n";
    return kExitFailure;
  }
  if (response.status != 200) {
    std::cerr << "digestd parse: " << input << ": "
              << (response.status == 404 ? std::string("not found")
                                         : "HTTP status " + std::to_string(response.status))
              << "\n";
    return kExitFailure;
  }
  ParseResult parsed = ParseMarkdownDigest(response.body);
  for (const ParseWarning& w : parsed.warnings) {
    std::cerr << input << ":" << w.line << ": warning: " << w.message << "\n";
  }
  parsed.digest.source = input;
  if (args.Has("--json")) {
    std::cout << DigestToJson(parsed.digest) << "\n";
    return kExitOk;
  }
  std::cout << input << ": " << parsed.digest.papers.size() << " papers"
            << (parsed.digest.date.empty() ? "" : " on " + parsed.digest.date) << "\n";
  for (const Paper& p : parsed.digest.papers) {
    std::cout << "  " << p.key << "  " << p.title;
    if (p.votes) std::cout << "  (" << *p.votes << " votes)";
    std::cout << "\n";
  }
  return kExitOk;
}

int Once(const Args& args) {
  auto config = LoadOrReport(args);
  if (!config) return kExitConfig;
  SetUpLogging(config->daemon.log_level);
  CycleOptions options{.dry_run = args.Has("--dry-run"),
                       .json = args.Has("--json"),
                       .now = NowSeconds()};
  if (args.Has("--date")) {
    options.date = ParseIsoDate(args.Get("--date"));
    if (!options.date) {
      std::cerr << "digestd once: --date wants YYYY-MM-DD, got '" << args.Get("--date") << "'\n";
      return kExitUsage;
    }
  }
  auto matcher = WatchMatcher::Compile(WatchSpecsFrom(*config));
  if (!matcher) {
    std::cerr << config->path << ": " << matcher.error().message << "\n";
    return kExitConfig;
  }
  auto store = StateStore::Open(config->daemon.state_path);
  if (!store) {
    spdlog::error("{}", store.error().message);
    return kExitFailure;
  }
  HttpClient http;
  CycleOutput output{
      .json_line = [](const std::string& line) { std::cout << line << "\n" << std::flush; },
      .console = [json = options.json](const std::string& text) {
        (json ? std::cerr : std::cout) << text << std::flush;
      }};
  const CycleReport report = RunCycle(*config, *matcher, **store, http, options, output);
  spdlog::info("cycle done: {} sources ok, {} failed; {} papers; {} notifications planned; "
               "{} delivered, {} delivery failures{}",
               report.sources_ok, report.sources_failed, report.papers_seen,
               report.notifications_planned, report.deliveries_ok, report.deliveries_failed,
               options.dry_run ? " (dry run: nothing committed)" : "");
  return report.failed() ? kExitFailure : kExitOk;
}

std::string FormatTime(std::optional<std::int64_t> t) {
  if (!t) return "-";
  const std::time_t tt = std::time_t(*t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int Outbox(const Args& args) {
  if (args.positional.empty()) {
    std::cerr << "digestd outbox: list, retry ID or drop ID\n";
    return kExitUsage;
  }
  const std::string& verb = args.positional[0];
  auto config = LoadOrReport(args);
  if (!config) return kExitConfig;
  SetUpLogging(config->daemon.log_level);
  auto store = StateStore::Open(config->daemon.state_path, verb == "list");
  if (!store) {
    std::cerr << "digestd outbox: " << store.error().message << "\n";
    return kExitFailure;
  }
  if (verb == "list") {
    auto rows = (*store)->ListOutbox("", 1000);
    if (!rows) {
      std::cerr << "digestd outbox: " << rows.error().message << "\n";
      return kExitFailure;
    }
    for (const OutboxRow& r : *rows) {
      std::cout << r.id << "  " << r.state << "  " << r.notifier << "  " << r.kind << "/"
                << r.event << "  attempts=" << r.attempts
                << "  next=" << FormatTime(r.next_attempt_at) << "  sent=" << FormatTime(r.sent_at)
                << (r.last_error.empty() ? "" : "  error=" + r.last_error) << "\n";
    }
    return kExitOk;
  }
  if ((verb == "retry" || verb == "drop") && args.positional.size() == 2) {
    const std::string& id = args.positional[1];
    auto changed = verb == "retry" ? (*store)->RetryNow(id, NowSeconds()) : (*store)->Drop(id);
    if (!changed) {
      std::cerr << "digestd outbox: " << changed.error().message << "\n";
      return kExitFailure;
    }
    if (!*changed) {
      std::cerr << "digestd outbox: no outbox row '" << id << "'\n";
      return kExitFailure;
    }
    std::cout << (verb == "retry" ? "due now: " : "dropped: ") << id << "\n";
    return kExitOk;
  }
  std::cerr << "digestd outbox: list, retry ID or drop ID\n";
  return kExitUsage;
}

}  // namespace

int RunCli(int argc, char** argv) {
  if (argc == 2 && (std::string_view(argv[1]) == "--version" ||
                    std::string_view(argv[1]) == "--help")) {
    const bool version = std::string_view(argv[1]) == "--version";
    std::cout << (version ? "digestd " DIGESTD_VERSION "\n" : kUsage);
    return kExitOk;
  }
  std::string error;
  auto args = ParseArgs(argc, argv, error);
  if (!args) {
    std::cerr << "digestd: " << error << "\n" << kUsage;
    return kExitUsage;
  }
  const std::string& cmd = args->command;
  if (cmd == "version") {
    std::cout << "digestd " DIGESTD_VERSION "\n";
    return kExitOk;
  }
  if (cmd.empty() || cmd == "help" || cmd == "-h") {
    (cmd.empty() ? std::cerr : std::cout) << kUsage;
    return cmd.empty() ? kExitUsage : kExitOk;
  }
  if (cmd == "check") return Check(*args);
  if (cmd == "parse") return Parse(*args);
  if (cmd == "once") return Once(*args);
  if (cmd == "outbox") return Outbox(*args);
  if (cmd == "run") {
    return RunService(args->Has("--config") ? args->Get("--config") : DefaultConfigPath());
  }
  if (cmd == "explain" || cmd == "test-notify" || cmd == "status") {
    std::cerr << "digestd: '" << cmd << "' is not supported yet\n";
    return kExitUsage;
  }
  std::cerr << "digestd: unknown command '" << cmd << "'\n" << kUsage;
  return kExitUsage;
}

}  // namespace digestd
