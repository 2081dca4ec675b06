#include "daemon/cli.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config_loader.h"
#include "core/dates.h"
#include "core/dedupe_key.h"
#include "core/heap_growth.h"
#include "core/identity.h"
#include "core/json_writer.h"
#include "core/paper_json.h"
#include "core/text.h"
#include "core/utf8.h"
#include "daemon/cycle.h"
#include "daemon/delivery.h"
#include "daemon/digest_job.h"
#include "daemon/highlights_job.h"
#include "daemon/leader_lease.h"
#include "daemon/live_transport.h"
#include "daemon/logging.h"
#include "daemon/service.h"
#include "daemon/state_lock.h"
#include "fetchers/digest_parser.h"
#include "net/http_client.h"
#include "notifiers/registry.h"
#include "store/state_store.h"

namespace digestd {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConfig = 78;  // EX_CONFIG

// Every command: how it is called and what it does. `digestd --help` lists them all;
// `digestd COMMAND --help` (or -h) prints one.
struct CommandHelp {
  std::string_view name;
  std::string_view usage;
  std::string_view about;
};
constexpr CommandHelp kCommands[] = {
    {"run", "digestd run     [-c F]",
     "The service: fetches every source at start, then on its schedule, and delivers the\n"
     "outbox. SIGHUP reloads the config, SIGUSR1 looks at the outbox again, SIGTERM stops."},
    {"once", "digestd once    [-c F] [--date YYYY-MM-DD] [--dry-run] [--json]",
     "One cycle: fetch every enabled source, commit what is new, send what is due, exit.\n"
     "--date replaces today; --dry-run commits and sends nothing; --json prints one line per\n"
     "notification. Exit 1 when a source or a delivery failed (the rest is committed)."},
    {"check", "digestd check   [-c F]",
     "Validates the config: exit 0, or 78 with file:line:col: message for every problem."},
    {"parse", "digestd parse   --format markdown|hf-daily|arxiv|feed FILE|URL [--json]",
     "Parses one digest and prints its papers (CONFIG.md's JSON shape with --json)."},
    {"explain", "digestd explain [-c F] [--date D] [--paper KEY] [--json]",
     "Why each stored paper was or was not notified to each watch: the planner's own\n"
     "decision, replayed. A date lists the matched papers, then those no watch matched;\n"
     "--paper (a key, 2401.15024, or a URL) shows every watch. Exit 1 when nothing is stored."},
    {"status", "digestd status  [-c F] [--json]",
     "The state file, each source's health and the outbox; exit 1 when something needs a\n"
     "person (a source failing, a notifier disabled by its target, rows dead)."},
    {"test-notify", "digestd test-notify NOTIFIER [-c F]",
     "Sends a sample, marked as one, through the notifier's real channel and prints what the\n"
     "target answered."},
    {"preview", "digestd preview NOTIFIER [-c F] [--date D] [--paper KEY] [--raw]",
     "Prints what the notifier would be sent for the stored papers of a date (default today)\n"
     "that its watches match, or for one paper, as one message: the requests, without sending.\n"
     "An email shows its subject and text part; --raw shows every body as it would be sent."},
    {"outbox",
     "digestd outbox  list [--state S] [--notifier N] [--json] [-c F]\n"
     "  digestd outbox  show ID | retry ID|--dead | drop ID|--dead [--notifier N] [-c F]",
     "What waits and what was sent; show one row with its parts; make rows due now (waking a\n"
     "running digestd) or drop them. ID may be a unique prefix."},
    {"backup", "digestd backup  PATH [-c F]",
     "Writes a consistent copy of the state to PATH, also while the service runs."},
    {"migrate", "digestd migrate --from STATE --to STATE [-c F]",
     "Copies a whole state into a fresh one (a SQLite file into an empty PostgreSQL database,\n"
     "say: postgresql://USER@HOST/DB) in one transaction and checks every table's count. The\n"
     "copy needs no new baseline and sends nothing twice. A STATE left out is the config's.\n"
     "Stop every digestd run on the source first; the source is left as it was."},
};

const CommandHelp* FindCommand(std::string_view name) {
  for (const CommandHelp& c : kCommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string Usage() {
  std::string out = "usage:\n";
  for (const CommandHelp& c : kCommands) (out += "  ").append(c.usage) += "\n";
  out +=
      "  digestd --version | --help | COMMAND --help\n\n"
      "-c F is --config F. Without it the config is the first of: $DIGESTD_CONFIG,\n"
      "./digestd.toml, ${XDG_CONFIG_HOME:-~/.config}/digestd/digestd.toml,\n"
      "/etc/digestd/digestd.toml.\n"
      "--log-format auto|plain|journal|json: how logs go to stderr (auto: journal under\n"
      "journald, else plain lines with a UTC time).\n"
      "Exit codes: 0 ok, 1 runtime failure, 2 usage, 78 configuration error.\n";
  return out;
}

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
      {"--config", true}, {"--date", true},  {"--dry-run", false}, {"--json", false},
      {"--format", true}, {"--paper", true}, {"--state", true},    {"--notifier", true},
      {"--dead", false},  {"--help", false}, {"--log-format", true}, {"--raw", false},
      {"--from", true},   {"--to", true}};
  return flags;
}

// Short options, as their long forms.
const std::map<std::string, std::string>& ShortFlags() {
  static const std::map<std::string, std::string> flags = {{"-c", "--config"}, {"-h", "--help"}};
  return flags;
}

std::optional<Args> ParseArgs(int argc, char** argv, std::string& error) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (const auto short_form = ShortFlags().find(word); short_form != ShortFlags().end()) {
      word = short_form->second;
    }
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

// --log-format, checked by RunCli before any command runs.
LogFormat LogFormatOf(const Args& args) {
  return ParseLogFormat(args.Get("--log-format")).value_or(LogFormat::kAuto);
}

std::int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The config named by --config, or the first that exists of the search paths; nullopt (after
// saying every path tried) when there is none.
std::optional<std::string> ConfigPath(const Args& args) {
  if (args.Has("--config")) return args.Get("--config");
  auto found = FindConfigPath();
  if (!found) {
    std::cerr << "digestd: " << found.error().message << "\n";
    return std::nullopt;
  }
  return *found;
}

// Loads the config named by --config (or found), printing its diagnostics to stderr.
std::shared_ptr<const Config> LoadOrReport(const Args& args) {
  const std::optional<std::string> path = ConfigPath(args);
  if (!path) return nullptr;
  ConfigLoad load = LoadConfig(*path);
  PrintDiagnostics(load, LogFormatOf(args));
  return load.config;
}

// A watch whose `exclude` terms are all in Latin script, on a source whose stored
// summaries are mostly Hangul, lets through a paper whose Korean summary says the excluded
// thing in Korean (`exclude = ["video"]` and 비디오). The language is read from what the
// source said (its recent sightings in the state), not guessed from a word list. Nothing is
// said when there is no state yet.
void WarnLatinOnlyExcludes(const Config& config, const std::string& path) {
  std::error_code ec;
  if (!IsPostgresLocation(config.daemon.state_path) &&
      !std::filesystem::exists(config.daemon.state_path, ec)) {
    return;
  }
  auto store = StateStore::Open(config.daemon.state_path, /*read_only=*/true);
  if (!store) return;
  constexpr int kSample = 200;
  std::map<std::string, double> hangul_share;  // by source, computed when first needed
  const auto share_of = [&](const std::string& source) {
    auto it = hangul_share.find(source);
    if (it != hangul_share.end()) return it->second;
    ScriptCounts counts;
    if (auto papers = (*store)->RecentPapers(source, kSample)) {
      for (const Paper& p : *papers) {
        for (const std::string& bullet : p.summary) {
          const ScriptCounts c = CountScripts(bullet);
          counts.hangul += c.hangul;
          counts.latin += c.latin;
        }
      }
    }
    const long long letters = counts.hangul + counts.latin;
    const double share = letters > 0 ? double(counts.hangul) / double(letters) : 0.0;
    return hangul_share[source] = share;
  };
  for (const WatchConfig& config_watch : config.watches) {
    if (!config_watch.enabled || config_watch.spec.exclude.empty()) continue;
    const WatchSpec& w = config_watch.spec;
    const bool latin_only = std::all_of(w.exclude.begin(), w.exclude.end(), [](const auto& t) {
      const ScriptCounts c = CountScripts(t);
      return c.hangul == 0 && c.latin > 0;
    });
    if (!latin_only) continue;
    for (const SourceConfig& source : config.sources) {
      if (!w.sources.empty() &&
          std::find(w.sources.begin(), w.sources.end(), source.name) == w.sources.end()) {
        continue;
      }
      const double share = share_of(source.name);
      if (share <= 0.5) continue;
      std::string terms;
      for (const std::string& t : w.exclude) terms += (terms.empty() ? "\"" : ", \"") + t + "\"";
      std::cerr << ConfigDiagnostic{
                       .file = config_watch.file.empty() ? path : config_watch.file,
                       .line = config_watch.line,
                       .column = config_watch.column,
                       .message = TerminalSafe(
                           "watch \"" + w.name + "\": exclude = [" + terms +
                           "] has only Latin-script terms, but source \"" + source.name +
                           "\" writes its summaries mostly in Korean (" +
                           std::to_string(int(share * 100 + 0.5)) +
                           "% Hangul in its recent papers): a Korean summary may say it in "
                           "Korean (add those terms too)"),
                       .warning = true}
                       .ToString()
                << "\n";
    }
  }
}

int Check(const Args& args) {
  const std::shared_ptr<const Config> config = LoadOrReport(args);
  if (!config) return kExitConfig;
  const std::string path = args.Has("--config") ? args.Get("--config") : config->path;
  const std::vector<WatchSpec> specs = WatchSpecsFrom(*config);
  auto matcher = WatchMatcher::Compile(specs);
  if (!matcher) {
    std::cerr << path << ": " << matcher.error().message << "\n";
    return kExitConfig;
  }
  // Each notifier's channel is made as delivery will make it: what its kind refuses (a
  // reserved header, say) fails here, not at the first match.
  const std::vector<ChannelProblem> problems = ChannelProblems(config->notifiers);
  for (const ChannelProblem& problem : problems) {
    // A template's problem already leads with its file:line:col, as editors expect.
    std::cerr << (problem.in_template ? "" : path + ": ") << problem.message << "\n";
  }
  const bool channels_ok = problems.empty();
  if (!channels_ok) return kExitConfig;
  // Lint: watches that can never match, cancel themselves, or repeat another. Warnings only.
  std::vector<const WatchConfig*> enabled;
  for (const WatchConfig& w : config->watches) {
    if (w.enabled) enabled.push_back(&w);
  }
  for (const WatchLint& lint : LintWatches(specs)) {
    const WatchConfig& w = *enabled.at(lint.watch);
    std::cerr << ConfigDiagnostic{.file = w.file.empty() ? path : w.file,
                                  .line = w.line,
                                  .column = w.column,
                                  .message = lint.message,
                                  .warning = true}
                     .ToString()
              << "\n";
  }
  WarnLatinOnlyExcludes(*config, path);
  std::cout << path << ": ok ("
            << Counted(static_cast<long long>(config->sources.size()), "source") << ", "
            << Counted(static_cast<long long>(config->notifiers.size()), "notifier") << ", "
            << Counted(static_cast<long long>(config->watches.size()), "watch", "watches")
            << ")\n";
  return kExitOk;
}

int Parse(const Args& args) {
  const std::string format = args.Get("--format");
  if (args.positional.size() != 1 || format.empty()) {
    std::cerr << "digestd parse: give --format and one FILE or URL\n" << Usage();
    return kExitUsage;
  }
  if (!IsDigestFormat(format)) {
    std::cerr << "digestd parse: unknown format '" << format
              << "' (markdown, hf-daily, arxiv, feed)\n";
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
    std::cerr << "digestd parse: " << TerminalSafe(response.error_message) << "\n";
    return kExitFailure;
  }
  if (response.status != 200) {
    std::cerr << "digestd parse: " << input << ": "
              << (response.status == 404 ? std::string("not found")
                                         : "HTTP status " + std::to_string(response.status))
              << "\n";
    return kExitFailure;
  }
  ParseResult parsed = ParseDigest(format, response.body);
  for (const ParseWarning& w : parsed.warnings) {
    std::cerr << input << ":" << w.line << ": warning: " << TerminalSafe(w.message) << "\n";
  }
  parsed.digest.source = input;
  if (args.Has("--json")) {
    std::cout << DigestToJson(parsed.digest) << "\n";
    return kExitOk;
  }
  std::cout << input << ": "
            << Counted(static_cast<long long>(parsed.digest.papers.size()), "paper")
            << (parsed.digest.date.empty() ? "" : " on " + parsed.digest.date) << "\n";
  for (const Paper& p : parsed.digest.papers) {
    std::cout << "  " << TerminalSafe(p.key) << "  " << TerminalSafe(p.title);
    if (p.votes) std::cout << "  (" << Counted(*p.votes, "vote") << ")";
    std::cout << "\n";
  }
  return kExitOk;
}

// Whether a cycle of `config` fetches over the network: a source that is not a local file.
bool FetchesOverNetwork(const Config& config) {
  return std::any_of(config.sources.begin(), config.sources.end(), [](const SourceConfig& s) {
    return s.enabled && !s.url.starts_with("file:");
  });
}

int Once(const Args& args) {
  auto config = LoadOrReport(args);
  if (!config) return kExitConfig;
  SetUpLogging(config->daemon.log_level, LogFormatOf(args));
  // A run that will fetch over the network loads libcurl first, as a linked one was: loaded
  // at the first fetch, its and OpenSSL's own allocations (2 MB) landed among the config's
  // and the state's, and an HTTP feed to one email peaked 0.5-0.8 MiB higher. One that only
  // sends does not: libcurl then loads after the day is planned and its messages rendered.
  // The loading (libcurl, its thirty libraries and OpenSSL's start: 5-8 ms) runs on a thread
  // while this one compiles the watches and opens the state; the first fetch waits for it.
  const std::future<bool> transfers =
      FetchesOverNetwork(*config) ? LoadTransfersAside() : std::future<bool>();
  CycleOptions options{
      .dry_run = args.Has("--dry-run"), .json = args.Has("--json"), .now = NowSeconds()};
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
  // On a shared state, `once` fetches and plans only while no `run` instance leads: it
  // takes the lease for its run, fenced like a leader, and gives it back at the end.
  std::optional<LeaderLease> lease;
  if ((*store)->shared()) {
    auto taken = LeaderLease::Take(**store, config->daemon.leader_lease);
    if (!taken) {
      spdlog::error("{}", taken.error().message);
      return kExitFailure;
    }
    lease.emplace(std::move(*taken));
  }
  const auto print = [](const std::string& line) { std::cout << line << "\n" << std::flush; };
  CycleOutput output{.json_line = print, .text_line = print};
  // The delivery pass below sends what this cycle queues: handed over, not claimed again.
  options.hand_over = true;
  const CycleReport report = [&] {
    // The fetches' connections and receive buffers (half a megabyte each) go before the
    // delivery, which peaks with a long day's messages.
    HttpBatch http;
    return RunCycle(*config, *matcher, **store, http, options, output);
  }();
  // Highlights whose schedule has passed for their date (CONFIG.md `[[highlights]]`).
  bool highlights_failed = false;
  if (auto highlights =
          QueueDueHighlights(*config, **store, options.now, options.date, options.dry_run);
      !highlights) {
    spdlog::error("highlights: {}", highlights.error().message);
    highlights_failed = true;
  } else if (options.dry_run && options.json) {
    for (const Notification& n : *highlights) {
      for (const std::string& line : NotificationJsonLines(n)) output.json_line(line);
    }
  }
  // Digests of `delivery = "digest"` watches whose schedule has passed.
  if (auto digests = QueueDueDigests(*config, **store, options.now, nullptr, options.dry_run);
      !digests) {
    spdlog::error("digest: {}", digests.error().message);
    highlights_failed = true;
  } else if (options.dry_run && options.json) {
    for (const Notification& n : *digests) {
      for (const std::string& line : NotificationJsonLines(n)) output.json_line(line);
    }
  }
  DeliveryReport delivered;
  // What the cycle freed (a long day's parse, plan and commit) goes back before the delivery
  // renders its messages, as a service's worker does after each job: the free chunks lie
  // between the few the delivery still holds, where the heap's top trim never reaches.
  ReturnHeap();
  if (!options.dry_run) {
    // The cycle only wrote the outbox; the engine sends what is due (new rows, retries whose
    // time has come), as `run` does.
    LiveTransport transport(
        [json = options.json](const std::string& text) {
          (json ? std::cerr : std::cout) << text << std::flush;
        },
        UserAgent(*config));
    DeliveryOptions delivery;
    if (options.json) {
      delivery.on_delivered = [](const Notification& n) {
        for (const std::string& line : NotificationJsonLines(n)) std::cout << line << "\n";
        std::cout << std::flush;
      };
    }
    delivered = DeliveryEngine(*config, **store, transport, std::move(delivery)).Run();
  }
  // What a person wants to know first: nothing new (unchanged), only recorded (baseline),
  // or what was planned and delivered.
  std::string papers = Counted(report.papers_seen, "paper");
  if (report.papers_seen == 0 && report.digests_unchanged > 0) {
    papers = "unchanged since the last run";
  } else if (report.papers_baseline > 0) {
    papers += " (" + std::to_string(report.papers_baseline) + " recorded as the baseline)";
  }
  spdlog::info("cycle done: {} ok, {} failed; {}; {} planned; {} delivered, {} to retry, {} "
               "dead{}",
               Counted(report.sources_ok, "source"), report.sources_failed, papers,
               Counted(report.notifications_planned, "notification"), delivered.sent,
               delivered.retried, delivered.dead,
               options.dry_run ? " (dry run: nothing committed or sent)" : "");
  return report.failed() || delivered.failed() || highlights_failed ? kExitFailure : kExitOk;
}

std::string FormatTime(std::optional<std::int64_t> t) { return t ? UtcTimestamp(*t) : "-"; }

// The paper titles of an outbox row, for listings ("" for an alert).
std::string Titles(const OutboxRow& row, std::size_t max_chars) {
  const Notification* n = &row.notification;
  if (n->papers.empty()) return TerminalSafe(n->source + ": " + n->message, max_chars);
  std::string titles;
  for (const SourcedPaper& p : n->papers) {
    if (!titles.empty()) titles += " | ";
    titles += p.paper->title;
  }
  return TerminalSafe(titles, max_chars);
}

void WriteRowJson(JsonWriter& out, const OutboxRow& r) {
  out.BeginObject().Key("id").String(r.id).Key("notifier").String(r.notifier);
  out.Key("kind").String(r.kind).Key("event").String(r.event).Key("state").String(r.state);
  out.Key("attempts").Int(r.attempts).Key("parts_sent").Int(r.parts_sent);
  out.Key("created").String(FormatTime(r.created_at));
  out.Key("next_attempt").StringOrNull(r.state == "pending" ? FormatTime(r.next_attempt_at) : "");
  out.Key("sent").StringOrNull(r.sent_at ? FormatTime(r.sent_at) : "");
  out.Key("remote_id").StringOrNull(r.remote_id).Key("last_error").StringOrNull(r.last_error);
  out.Key("titles").BeginArray();
  for (const SourcedPaper& p : r.notification.papers) out.String(p.paper->title);
  out.EndArray().EndObject();
}

// Tells a running `digestd run` on this state to look at the outbox again: SIGUSR1 to the
// lock holder of a SQLite state; on a PostgreSQL state the store announced the rows already
// (NOTIFY), and every instance listening hears it.
void WakeDaemon(const std::string& state_path) {
  if (IsPostgresLocation(state_path)) {
    std::cerr << "digestd outbox: announced to the instances running on this state\n";
    return;
  }
  if (const std::optional<pid_t> pid = StateLock::Holder(state_path)) {
    if (::kill(*pid, SIGUSR1) == 0) {
      std::cerr << "digestd outbox: woke the running digestd (pid " << *pid << ")\n";
    }
  }
}

// The one row whose id starts with `prefix`, or an error naming what went wrong.
Result<OutboxRow> UniqueRow(StateStore& store, const std::string& prefix) {
  if (prefix.empty()) return Unexpected("give an outbox id (or a unique prefix of one)");
  auto rows = store.FindOutbox(prefix);
  if (!rows) return Unexpected(rows.error());
  if (rows->empty()) return Unexpected("no outbox row '" + prefix + "'");
  if (rows->size() > 1) {
    return Unexpected("'" + prefix + "' is ambiguous (" + (*rows)[0].id + ", " + (*rows)[1].id +
                      ", ...): give more of the id");
  }
  return rows->front();
}

constexpr const char* kOutboxUsage =
    "digestd outbox: list [--state S] [--notifier N] [--json] | show ID | retry ID|--dead | "
    "drop ID|--dead [--notifier N]\n";

int Outbox(const Args& args) {
  if (args.positional.empty()) {
    std::cerr << kOutboxUsage;
    return kExitUsage;
  }
  const std::string& verb = args.positional[0];
  const bool read_only = verb == "list" || verb == "show";
  if (!read_only && verb != "retry" && verb != "drop") {
    std::cerr << kOutboxUsage;
    return kExitUsage;
  }
  auto config = LoadOrReport(args);
  if (!config) return kExitConfig;
  SetUpLogging(config->daemon.log_level, LogFormatOf(args));
  auto store = StateStore::Open(config->daemon.state_path, read_only);
  if (!store) {
    std::cerr << "digestd outbox: " << store.error().message << "\n";
    return kExitFailure;
  }
  const std::string notifier = args.Get("--notifier");
  if (verb == "list") {
    auto rows = (*store)->ListOutbox(args.Get("--state"), notifier, 1000);
    if (!rows) {
      std::cerr << "digestd outbox: " << rows.error().message << "\n";
      return kExitFailure;
    }
    for (const OutboxRow& r : *rows) {
      if (args.Has("--json")) {
        JsonWriter out;
        WriteRowJson(out, r);
        std::cout << out.str() << "\n";
        continue;
      }
      std::cout << r.id.substr(0, 12) << "  " << FormatTime(r.created_at) << "  " << r.notifier
                << "  " << r.state << "  attempts=" << r.attempts;
      if (r.state == "pending") std::cout << "  next=" << FormatTime(r.next_attempt_at);
      std::cout << "  " << Titles(r, 100);
      if (!r.last_error.empty()) std::cout << "  error: " << TerminalSafe(r.last_error, 200);
      std::cout << "\n";
    }
    return kExitOk;
  }
  // `show ID`, `retry ID`, `drop ID`: the one row ID names, or the exit code that says why not.
  const auto named_row = [&]() -> std::variant<OutboxRow, int> {
    if (args.positional.size() != 2) {
      std::cerr << kOutboxUsage;
      return kExitUsage;
    }
    auto row = UniqueRow(**store, args.positional[1]);
    if (!row) {
      std::cerr << "digestd outbox: " << row.error().message << "\n";
      return kExitFailure;
    }
    return std::move(*row);
  };
  if (verb == "show") {
    auto named = named_row();
    if (const int* code = std::get_if<int>(&named)) return *code;
    const OutboxRow* row = &std::get<OutboxRow>(named);
    JsonWriter out;
    WriteRowJson(out, *row);
    std::cout << out.str() << "\n";
    // The parts as the channel renders them now (a webhook's timestamp and signature are
    // those of this moment; everything else is what an attempt sends).
    const NotifierConfig* n = config->FindNotifier(row->notifier);
    const Notification* notification = &row->notification;
    if (!n || !row->unreadable.empty()) {
      std::cout << "(no configured notifier '" << row->notifier << "' to render it)\n";
      return kExitOk;
    }
    auto channel = MakeChannel(*n);
    if (!channel) {
      std::cout << "(" << channel.error().message << ")\n";
      return kExitOk;
    }
    auto parts = (*channel)->Render(*notification, {.id = row->id, .now = NowSeconds()});
    if (!parts) {
      std::cout << "(cannot render: " << parts.error().message << ")\n";
      return kExitOk;
    }
    for (std::size_t i = 0; i < parts->size(); ++i) {
      const Payload& p = (*parts)[i];
      std::cout << "--- part " << i << " (" << p.part_id << ")"
                << (int(i) < row->parts_sent ? ", accepted" : "") << "\n";
      std::cout << TerminalSafe(p.body, 1 << 20, true) << "\n";
    }
    return kExitOk;
  }
  // retry | drop
  const bool retry = verb == "retry";
  if (args.Has("--dead")) {
    if (args.positional.size() != 1) {
      std::cerr << kOutboxUsage;
      return kExitUsage;
    }
    auto count = retry ? (*store)->RetryDead(notifier, NowSeconds()) : (*store)->DropDead(notifier);
    if (!count) {
      std::cerr << "digestd outbox: " << count.error().message << "\n";
      return kExitFailure;
    }
    std::cout << (retry ? "due now: " : "dropped: ") << *count << " dead rows\n";
    if (retry && *count > 0) WakeDaemon(config->daemon.state_path);
    return kExitOk;
  }
  auto named = named_row();
  if (const int* code = std::get_if<int>(&named)) return *code;
  const OutboxRow* row = &std::get<OutboxRow>(named);
  auto changed = retry ? (*store)->RetryNow(row->id, NowSeconds()) : (*store)->Drop(row->id);
  if (!changed) {
    std::cerr << "digestd outbox: " << changed.error().message << "\n";
    return kExitFailure;
  }
  if (!*changed) {
    std::cerr << "digestd outbox: row " << row->id << " is " << row->state
              << (retry ? "; only pending and dead rows can be retried" : "") << "\n";
    return kExitFailure;
  }
  std::cout << (retry ? "due now: " : "dropped: ") << row->id << "\n";
  if (retry) WakeDaemon(config->daemon.state_path);
  return kExitOk;
}

// The state as it is, opened read-only for a command that only reads it; null once the user
// has been told why not ("digestd COMMAND: no state yet at PATH" and `hint`, or the open
// error). A reading command never creates a state file.
std::unique_ptr<StateStore> OpenStateToRead(const Config& config, std::string_view command,
                                            std::string_view hint = "") {
  const std::string& path = config.daemon.state_path;
  if (!IsPostgresLocation(path) && !std::filesystem::exists(path)) {
    std::cerr << "digestd " << command << ": no state yet at " << path << hint << "\n";
    return nullptr;
  }
  auto store = StateStore::Open(path, /*read_only=*/true);
  if (!store) {
    std::cerr << "digestd " << command << ": " << store.error().message << "\n";
    return nullptr;
  }
  return std::move(*store);
}

int ShowStatus(const Args& args) {
  auto config = LoadOrReport(args);
  if (!config) return kExitConfig;
  SetUpLogging(config->daemon.log_level, LogFormatOf(args));
  const std::string& path = config->daemon.state_path;
  auto store = OpenStateToRead(*config, "status", " (run `digestd once` first)");
  if (!store) return kExitFailure;
  auto counts = store->OutboxCounts();
  if (!counts) {
    std::cerr << "digestd status: " << counts.error().message << "\n";
    return kExitFailure;
  }
  const bool json = args.Has("--json");
  JsonWriter out;
  const std::string shown = DisplayedStateLocation(path);
  out.BeginObject().Key("state").String(shown).Key("backend").String(store->backend());
  if (!json) std::cout << "state: " << shown << " (" << store->backend() << ")\n";
  // Who runs the fetch jobs (several instances on a shared state; the one `run` otherwise).
  auto leader = store->Leader();
  if (!leader) {
    std::cerr << "digestd status: " << leader.error().message << "\n";
    return kExitFailure;
  }
  out.Key("leader");
  if (*leader) {
    const Leadership& l = **leader;
    const bool active = l.expires_ms > l.now_ms;
    out.BeginObject().Key("holder").String(l.holder).Key("active").Bool(active);
    out.Key("since").String(FormatTime(l.since_ms / 1000));
    out.Key("expires").String(FormatTime(l.expires_ms / 1000)).EndObject();
    if (!json) {
      std::cout << "leader: " << l.holder << (active ? "" : " (lease expired)") << " since "
                << FormatTime(l.since_ms / 1000) << ", lease until "
                << FormatTime(l.expires_ms / 1000) << "\n";
    }
  } else {
    out.Null();
    if (!json) std::cout << "leader: none yet\n";
  }
  out.Key("sources").BeginArray();
  // CONFIG.md: exit 1 when something needs a person: a source past its alert threshold, a
  // notifier its target disabled, or rows gone dead.
  bool troubled = false;
  for (const SourceConfig& source : config->sources) {
    auto st = store->GetSourceState(source.name);
    if (!st) {
      std::cerr << "digestd status: " << st.error().message << "\n";
      return kExitFailure;
    }
    out.BeginObject().Key("name").String(source.name).Key("enabled").Bool(source.enabled);
    out.Key("first_run_done").Bool(st->first_run_at.has_value());
    out.Key("last_success")
        .StringOrNull(st->last_success_at ? FormatTime(st->last_success_at) : "");
    out.Key("last_success_date").StringOrNull(st->last_success_date);
    out.Key("failures").Int(st->failures).Key("last_error").StringOrNull(st->last_error);
    out.Key("alerted").Bool(st->alerted);
    troubled |= st->alerted;
    out.Key("retry_at").StringOrNull(st->retry_at ? FormatTime(st->retry_at) : "");
    // When `run` fetches it next: its schedule's next slot, or later while it backs off.
    std::string next_run;
    if (auto schedule = ParseCron(source.schedule); schedule && source.enabled) {
      using Clock = std::chrono::system_clock;
      auto at = NextFire(*schedule, source.timezone, Clock::now());
      if (st->retry_at) at = std::max(at, Clock::time_point(std::chrono::seconds(*st->retry_at)));
      if (at != Clock::time_point::max()) next_run = ShowTime(at, source.timezone);
    }
    out.Key("next_run").StringOrNull(next_run);
    out.EndObject();
    if (!json) {
      std::cout << "source " << source.name << (source.enabled ? "" : " (disabled)")
                << ": last success " << FormatTime(st->last_success_at)
                << (st->last_success_date.empty() ? "" : " (digest " + st->last_success_date + ")")
                << (st->first_run_at ? "" : ", first run pending")
                << (next_run.empty() ? "" : ", next run " + next_run);
      if (st->failures > 0) {
        std::cout << ", " << st->failures << " failures in a row ("
                  << TerminalSafe(st->last_error, 500) << ")"
                  << ", retry " << FormatTime(st->retry_at) << (st->alerted ? ", alerted" : "");
      }
      std::cout << "\n";
    }
  }
  out.EndArray().Key("notifiers").BeginArray();
  auto healths = store->LoadNotifierHealth();
  if (!healths) {
    std::cerr << "digestd status: " << healths.error().message << "\n";
    return kExitFailure;
  }
  for (const NotifierConfig& n : config->notifiers) {
    const auto found = healths->find(n.name);
    const NotifierHealth none;
    const NotifierHealth* health = found == healths->end() ? &none : &found->second;
    // Disabled by its target for the configuration it still has (a changed one sends again).
    const bool disabled = !health->disabled_fingerprint.empty() &&
                          health->disabled_fingerprint == NotifierFingerprint(n);
    troubled |= disabled;
    out.BeginObject().Key("name").String(n.name).Key("kind").String(n.kind);
    out.Key("enabled").Bool(n.enabled).Key("disabled_by_target").Bool(disabled);
    out.Key("disabled_reason").StringOrNull(disabled ? health->disabled_reason : "");
    out.Key("failing_since")
        .StringOrNull(health->failing_since ? FormatTime(health->failing_since) : "");
    out.EndObject();
    if (!json && (disabled || health->failing_since || !n.enabled)) {
      std::cout << "notifier " << n.name << ": "
                << (!n.enabled ? "disabled in the config"
                    : disabled
                        ? "disabled by its target (" + TerminalSafe(health->disabled_reason, 300) +
                              "); change its configuration to send again"
                        : "notifications going dead since " + FormatTime(health->failing_since))
                << "\n";
    }
  }
  auto count = [&](const char* state) { return counts->count(state) ? counts->at(state) : 0; };
  out.EndArray().Key("outbox").BeginObject();
  for (const char* state : {"pending", "sending", "sent", "dead"}) out.Key(state).Int(count(state));
  out.EndObject().EndObject();
  if (json) {
    std::cout << out.str() << "\n";
  } else {
    std::cout << "outbox: " << count("pending") << " pending, " << count("sending") << " sending, "
              << count("sent") << " sent, " << count("dead") << " dead\n";
  }
  return troubled || count("dead") > 0 ? kExitFailure : kExitOk;
}

// The config, with logging set up, and the notifier that `command` names (its one
// argument); or, with no notifier, the exit code, the reason said on stderr.
struct NamedNotifier {
  std::shared_ptr<const Config> config;
  const NotifierConfig* notifier = nullptr;
  int exit_code = kExitOk;
};

NamedNotifier LoadNamedNotifier(const Args& args, std::string_view command) {
  if (args.positional.size() != 1) {
    std::cerr << "digestd " << command << ": name one notifier\n";
    return {.exit_code = kExitUsage};
  }
  std::shared_ptr<const Config> config = LoadOrReport(args);
  if (!config) return {.exit_code = kExitConfig};
  SetUpLogging(config->daemon.log_level, LogFormatOf(args));
  const NotifierConfig* notifier = config->FindNotifier(args.positional[0]);
  if (!notifier) {
    std::cerr << "digestd " << command << ": no notifier named '"
              << TerminalSafe(args.positional[0]) << "'\n";
    return {.exit_code = kExitUsage};
  }
  return {.config = std::move(config), .notifier = notifier};
}

// Sends a fixed sample notification straight to one notifier, bypassing state: shows that
// the target is reachable and how a message looks there.
int TestNotify(const Args& args) {
  const NamedNotifier named = LoadNamedNotifier(args, "test-notify");
  if (!named.notifier) return named.exit_code;
  const std::shared_ptr<const Config>& config = named.config;
  const NotifierConfig* notifier = named.notifier;
  // A sample no real paper can be mistaken for: its key is not an arXiv id, a DOI or a URL,
  // and its id is new at every call.
  const std::int64_t now = NowSeconds();
  Notification n;
  n.notifier = notifier->name;
  n.event = "new";
  n.watches = {"test-notify"};
  n.dedupe_key =
      JoinKey({"test-notify", notifier->name, std::to_string(now), std::to_string(::getpid())});
  n.id = NotificationId(n.dedupe_key);
  Paper p;
  p.key = "test-notify:sample";
  p.title = "digestd test notification (a sample, not a paper)";
  p.url = "https://example.org/digestd-test-notify";
  p.authors = {"digestd"};
  p.summary = {"If you can read this, notifier '" + notifier->name + "' works."};
  n.papers.push_back({.paper = p, .source = "test-notify"});
  LiveTransport transport([](const std::string& text) { std::cout << text << std::flush; },
                          UserAgent(*config));
  auto outcomes = SendDirect(*notifier, n, transport, now);
  if (!outcomes) {
    std::cerr << "digestd test-notify: " << outcomes.error().message << "\n";
    return kExitFailure;
  }
  bool delivered = !outcomes->empty();
  for (const auto& [part, outcome] : *outcomes) {
    switch (outcome.kind) {
      case Outcome::Kind::kDelivered:
        std::cerr << "digestd test-notify: " << part << ": delivered to " << notifier->name
                  << (outcome.remote_id.empty() ? "" : " (remote id " + outcome.remote_id + ")")
                  << "\n";
        break;
      case Outcome::Kind::kRetry:
        delivered = false;
        std::cerr << "digestd test-notify: " << part << ": failed, a real notification would be "
                  << "retried: " << TerminalSafe(outcome.reason, 2000) << "\n";
        break;
      case Outcome::Kind::kPermanent:
      case Outcome::Kind::kDisable:
        delivered = false;
        std::cerr << "digestd test-notify: " << part << ": refused"
                  << (outcome.kind == Outcome::Kind::kDisable ? " (the target is gone)" : "")
                  << ": " << TerminalSafe(outcome.reason, 2000) << "\n";
        break;
    }
  }
  if (!delivered) return kExitFailure;
  return kExitOk;
}

// What NOTIFIER would be sent for a stored date (or one paper), rendered by its real channel
// and printed, never sent (issue 9). The papers are those its watches match, as one message
// of the date; with --paper, that paper whether or not a watch matches it.
int Preview(const Args& args) {
  const NamedNotifier named = LoadNamedNotifier(args, "preview");
  if (!named.notifier) return named.exit_code;
  const std::shared_ptr<const Config>& config = named.config;
  const NotifierConfig* notifier = named.notifier;
  std::string date = args.Get("--date");
  if (!date.empty() && !ParseIsoDate(date)) {
    std::cerr << "digestd preview: --date wants YYYY-MM-DD, got '" << TerminalSafe(date) << "'\n";
    return kExitUsage;
  }
  std::string paper = args.Get("--paper");
  if (!paper.empty()) {
    if (auto id = ExtractArxivId(paper)) paper = id->key;
  }
  if (date.empty() && paper.empty()) {
    date = FormatIsoDate(TodayIn(config->daemon.timezone, NowSeconds()));
  }
  auto matcher = WatchMatcher::Compile(WatchSpecsFrom(*config));
  if (!matcher) {
    std::cerr << config->path << ": " << matcher.error().message << "\n";
    return kExitConfig;
  }
  auto store = OpenStateToRead(*config, "preview");
  if (!store) return kExitFailure;
  auto sightings = store->LoadSightings(date, paper);
  if (!sightings) {
    std::cerr << "digestd preview: " << sightings.error().message << "\n";
    return kExitFailure;
  }
  Notification n;
  n.notifier = notifier->name;
  n.event = "new";
  for (const StoredSighting& s : *sightings) {
    std::vector<std::string> watches;
    for (const WatchVerdict& v : matcher->Explain(s.paper, s.source)) {
      const WatchSpec& w = matcher->specs()[v.watch];
      if (v.outcome == WatchVerdict::Outcome::kMatched &&
          std::find(w.notify.begin(), w.notify.end(), notifier->name) != w.notify.end()) {
        watches.push_back(w.name);
      }
    }
    if (watches.empty() && paper.empty()) continue;
    for (const std::string& w : watches) {
      if (std::find(n.watches.begin(), n.watches.end(), w) == n.watches.end()) {
        n.watches.push_back(w);
      }
    }
    n.papers.push_back({.paper = s.paper, .source = s.source, .date = s.date, .watches = watches});
  }
  if (n.papers.empty()) {
    std::cerr << "digestd preview: nothing for " << notifier->name << " on " << date
              << " (no stored paper its watches match; `digestd explain` says why)\n";
    return kExitFailure;
  }
  n.dedupe_key = JoinKey({"preview", notifier->name, date, paper});
  n.id = NotificationId(n.dedupe_key);
  auto channel = MakeChannel(*notifier);
  if (!channel) {
    std::cerr << "digestd preview: " << channel.error().message << "\n";
    return kExitConfig;
  }
  auto payloads =
      (*channel)->Render(n, RenderContext{.id = n.id, .now = NowSeconds(),
                                          .readable = !args.Has("--raw")});
  if (!payloads) {
    std::cerr << "digestd preview: " << payloads.error().message << "\n";
    return kExitFailure;
  }
  for (const Payload& p : *payloads) {
    std::cout << "part " << p.part_id << ": ";
    if (p.transfer == Transfer::kHttp) {
      std::cout << p.method << " " << (p.shown_url.empty() ? RedactUrl(p.url) : p.shown_url)
                << "\n";
      for (const auto& [name, value] : p.headers) {
        // Authorization and custom header values may be secrets.
        std::cout << name << ": " << (name == "Content-Type" ? value : "(not shown)") << "\n";
      }
    } else {
      std::cout << (p.transfer == Transfer::kExec ? "exec" : "local") << "\n";
    }
    std::cout << "\n"
              << TerminalSafe(p.readable.empty() ? p.body : p.readable, std::string::npos,
                              /*keep_newlines=*/true)
              << "\n\n";
  }
  std::cerr << "digestd preview: " << Counted(static_cast<long long>(n.papers.size()), "paper")
            << " in " << Counted(static_cast<long long>(payloads->size()), "request")
            << "; nothing was sent\n";
  return kExitOk;
}

// The planner's verdict for each (paper, watch) hit of one stored digest, by paper key then
// watch: the digest of `source` dated `date` (`papers`) planned again as it was applied.
// A paper's first sighting replays against nothing notified before; a later one (another
// source saw it first) against what is recorded now. A "notified" the record does not hold
// says why it was not (issue 11, point 5: the verdicts are the planner's own decisions).
using Verdicts = std::map<std::string, std::map<std::string, std::string>>;
Verdicts ReplayPlan(const Config& config, const WatchMatcher& matcher, const std::string& source,
                    const std::string& date, const std::vector<SharedPaper>& papers,
                    const std::set<std::string>& first_sightings, FirstRunMode first_run,
                    const std::set<std::string>& recorded) {
  std::set<std::string> before;
  for (const std::string& key : recorded) {
    const auto k = DedupeKey::Decode(key);
    if (k && !first_sightings.count(k->paper_key)) before.insert(key);
  }
  const std::map<std::string, PriorSighting> no_prior;
  PlanInput input{.source = source,
                  .date = date,
                  .papers = &papers,
                  .prior = &no_prior,
                  .notified = &before,
                  .matcher = &matcher,
                  .first_run = first_run,
                  .latest_n = 0,
                  .record_decisions = true};
  if (const SourceConfig* s = config.FindSource(source)) input.latest_n = s->first_run_latest;
  for (const NotifierConfig& n : config.notifiers) {
    if (n.enabled) input.enabled_notifiers.insert(n.name);
  }
  const Plan plan = PlanDigest(input);
  Verdicts verdicts;
  for (const Decision& d : plan.decisions) {
    std::string verdict = d.verdict;
    if (verdict == "notified") {
      bool held = false;
      for (const NotifiedMark& k : plan.notified) {
        held |= k.paper_key == d.paper_key && k.watch == d.watch && recorded.count(k.Encode()) > 0;
      }
      if (!held) verdict = "not notified (the watch or its notifier came after the paper)";
    }
    // A paper may raise several events for one watch: the first decision speaks for it.
    verdicts[d.paper_key].emplace(d.watch, std::move(verdict));
  }
  return verdicts;
}

// Why each stored paper was or was not notified to each watch (issue #4 "explain").
int Explain(const Args& args) {
  auto config = LoadOrReport(args);
  if (!config) return kExitConfig;
  SetUpLogging(config->daemon.log_level, LogFormatOf(args));
  const std::vector<WatchSpec> specs = WatchSpecsFrom(*config);
  auto matcher = WatchMatcher::Compile(specs);
  if (!matcher) {
    std::cerr << config->path << ": " << matcher.error().message << "\n";
    return kExitConfig;
  }
  std::string date = args.Get("--date");
  if (!date.empty() && !ParseIsoDate(date)) {
    std::cerr << "digestd explain: --date wants YYYY-MM-DD, got '" << TerminalSafe(date) << "'\n";
    return kExitUsage;
  }
  if (date.empty() && !args.Has("--paper")) {
    date = FormatIsoDate(TodayIn(config->daemon.timezone, NowSeconds()));
  }
  auto store = OpenStateToRead(*config, "explain");
  if (!store) return kExitFailure;
  // --paper takes whatever names the paper: a key, a bare or versioned arXiv id, an arXiv or
  // Hugging Face URL.
  std::string paper = args.Get("--paper");
  if (!paper.empty()) {
    if (auto id = ExtractArxivId(paper)) paper = id->key;
  }
  auto sightings = store->LoadSightings(date, paper);
  if (!sightings) {
    std::cerr << "digestd explain: " << sightings.error().message << "\n";
    return kExitFailure;
  }
  if (sightings->empty()) {
    // Nothing to explain is a mistake to say, not an empty success.
    std::cerr << "digestd explain: "
              << (!paper.empty() ? "no stored paper " + TerminalSafe(paper)
                                 : "no digest stored for " + date)
              << (!date.empty() && !paper.empty() ? " on " + date : "")
              << "; `digestd status` shows the dates each source has"
              << (paper.empty() ? ", or give --date" : "") << "\n";
    return kExitFailure;
  }
  std::vector<std::string> keys;
  std::map<std::string, std::int64_t> earliest;  // paper -> first sighting from any source
  for (const StoredSighting& s : *sightings) {
    keys.push_back(s.paper->key);
    auto [it, fresh] = earliest.emplace(s.paper->key, s.first_seen);
    if (!fresh) it->second = std::min(it->second, s.first_seen);
  }
  auto notified = store->LoadNotified(keys);
  if (!notified) {
    std::cerr << "digestd explain: " << notified.error().message << "\n";
    return kExitFailure;
  }
  std::map<std::string, SourceState> states;
  for (const SourceConfig& source : config->sources) {
    if (auto st = store->GetSourceState(source.name)) states[source.name] = *st;
  }
  // Each stored digest (source, date) planned again, once.
  std::map<std::pair<std::string, std::string>, Verdicts> replayed;
  const auto verdicts_of = [&](const StoredSighting& s) -> const Verdicts& {
    const auto at = std::make_pair(s.source, s.date);
    if (auto it = replayed.find(at); it != replayed.end()) return it->second;
    const SourceConfig* source = config->FindSource(s.source);
    const SourceState& state = states[s.source];
    const bool first_run = source && state.first_run_at && s.first_seen == *state.first_run_at;
    const FirstRunMode mode =
        source ? FirstRunModeFor(*source, first_run, true) : FirstRunMode::kNotFirst;
    std::vector<SharedPaper> papers;
    std::set<std::string> first_sightings;
    const auto add = [&](const StoredSighting& t) {
      papers.push_back(t.paper);
      const auto e = earliest.find(t.paper->key);
      if (e == earliest.end() || t.first_seen <= e->second) first_sightings.insert(t.paper->key);
    };
    if (mode == FirstRunMode::kLatest && !paper.empty()) {
      // "latest" chose among the whole digest: plan all of it.
      if (auto all = store->LoadSightings(s.date, ""); all) {
        for (const StoredSighting& t : *all) {
          if (t.source == s.source) add(t);
        }
      }
    } else {
      for (const StoredSighting& t : *sightings) {
        if (t.source == s.source && t.date == s.date) add(t);
      }
    }
    return replayed[at] = ReplayPlan(*config, *matcher, s.source, s.date, papers,
                                     first_sightings, mode, *notified);
  };
  const bool json = args.Has("--json");
  std::vector<const StoredSighting*> unmatched;  // text mode lists these last, in one line each
  for (const StoredSighting& s : *sightings) {
    const Paper& p = s.paper;
    const Verdicts& verdicts = verdicts_of(s);
    const std::vector<WatchVerdict> explained = matcher->Explain(p, s.source);
    const bool any = std::any_of(explained.begin(), explained.end(), [](const auto& v) {
      return v.outcome != WatchVerdict::Outcome::kNoMatch;
    });
    if (!json && !any && paper.empty()) {
      unmatched.push_back(&s);
      continue;
    }
    JsonWriter out;
    out.BeginObject().Key("paper").String(p.key).Key("title").StringOrNull(p.title);
    out.Key("source").String(s.source).Key("date").StringOrNull(s.date);
    out.Key("watches").BeginArray();
    if (!json) {
      std::cout << TerminalSafe(p.key) << "  " << TerminalSafe(p.title) << "\n    [" << s.source
                << " " << TerminalSafe(s.date)
                << (p.votes ? ", " + Counted(*p.votes, "vote") : "") << "]\n";
    }
    for (const WatchVerdict& v : explained) {
      const WatchSpec& w = specs[v.watch];
      std::string verdict(OutcomeName(v.outcome));
      if (v.outcome == WatchVerdict::Outcome::kMatched) {
        const auto by_paper = verdicts.find(p.key);
        if (by_paper != verdicts.end()) {
          if (auto it = by_paper->second.find(w.name); it != by_paper->second.end()) {
            verdict = it->second;
          }
        }
      }
      out.BeginObject().Key("watch").String(w.name).Key("verdict").String(verdict);
      out.Key("terms").StringArray(v.terms).Key("excluded_by").StringArray(v.excluded_by);
      out.EndObject();
      // With --paper, every watch says why, "no match" too: the question was about this paper.
      if (!json && (v.outcome != WatchVerdict::Outcome::kNoMatch || !paper.empty())) {
        std::cout << "  " << TerminalSafe(w.name) << ": " << verdict;
        std::string why;
        for (const auto& t : v.terms) why += (why.empty() ? "" : ", ") + t;
        if (!why.empty()) std::cout << " (hit: " << TerminalSafe(why) << ")";
        if (!v.excluded_by.empty()) {
          std::string by;
          for (const auto& t : v.excluded_by) by += (by.empty() ? "" : ", ") + t;
          std::cout << " (excluded by: " << TerminalSafe(by) << ")";
        }
        std::cout << "\n";
      }
    }
    out.EndArray().EndObject();
    if (json) std::cout << out.str() << "\n";
  }
  if (!unmatched.empty()) {
    std::cout << Counted(static_cast<long long>(unmatched.size()), "paper")
              << " no watch matched (--paper KEY says why for one):\n";
    for (const StoredSighting* s : unmatched) {
      std::cout << "  " << TerminalSafe(s->paper->key) << "  " << TerminalSafe(s->paper->title)
                << "  [" << s->source << "]\n";
    }
  }
  return kExitOk;
}

// `digestd backup PATH`: a consistent copy of the state, taken through a read-only
// connection (SQLite's online backup), so it works while the service writes.
int Backup(const Args& args) {
  if (args.positional.size() != 1) {
    std::cerr << "usage: " << FindCommand("backup")->usage << "\n";
    return kExitUsage;
  }
  auto config = LoadOrReport(args);
  if (!config) return kExitConfig;
  SetUpLogging(config->daemon.log_level, LogFormatOf(args));
  const std::string& path = config->daemon.state_path;
  auto store = OpenStateToRead(*config, "backup");
  if (!store) return kExitFailure;
  if (auto st = store->BackupTo(args.positional[0]); !st) {
    std::cerr << "digestd backup: " << st.error().message << "\n";
    return kExitFailure;
  }
  std::cout << "backup of " << path << " written to " << args.positional[0] << "\n";
  return kExitOk;
}

// `digestd migrate --from STATE --to STATE`: the whole state copied into a fresh one
// (StateStore::CopyInto), with the counts it verified. A SQLite side is locked as `run`
// locks it, so no `run` works on either while the copy is taken.
int Migrate(const Args& args) {
  const auto usage = [] {
    std::cerr << "usage: " << FindCommand("migrate")->usage << "\n";
    return kExitUsage;
  };
  if (!args.positional.empty() || (!args.Has("--from") && !args.Has("--to"))) return usage();
  std::string from = args.Get("--from");
  std::string to = args.Get("--to");
  std::string level = "info";
  if (from.empty() || to.empty() || args.Has("--config")) {
    auto config = LoadOrReport(args);
    if (!config) return kExitConfig;
    level = config->daemon.log_level;
    if (from.empty()) {
      from = config->daemon.state_path;
    } else if (to.empty()) {
      to = config->daemon.state_path;
    }
  }
  SetUpLogging(level, LogFormatOf(args));
  if (from.empty() || to.empty()) return usage();
  const std::string shown_from = DisplayedStateLocation(from);
  const std::string shown_to = DisplayedStateLocation(to);
  if (from == to) {
    std::cerr << "digestd migrate: --from and --to are both " << shown_from << "\n";
    return kExitUsage;
  }
  if (!IsPostgresLocation(from) && !std::filesystem::exists(from)) {
    std::cerr << "digestd migrate: no state at " << from << "\n";
    return kExitFailure;
  }
  // A copy taken beside a running `run` would miss what it writes afterwards.
  std::vector<std::unique_ptr<StateLock>> locks;
  for (const std::string& state : {from, to}) {
    if (IsPostgresLocation(state)) continue;
    auto lock = StateLock::Acquire(state);
    if (!lock) {
      std::cerr << "digestd migrate: " << lock.error().message
                << "; stop it first (a copy taken beside it would miss what it writes)\n";
      return kExitFailure;
    }
    locks.push_back(std::move(*lock));
  }
  auto source = StateStore::Open(from);
  if (!source) {
    std::cerr << "digestd migrate: " << source.error().message << "\n";
    return kExitFailure;
  }
  const int found = (*source)->SchemaVersionAtOpen();
  if (found == 0) {
    std::cerr << "digestd migrate: " << shown_from << " holds no state (an empty database)\n";
    return kExitFailure;
  }
  std::cout << "from: " << shown_from << " (" << (*source)->backend() << ", schema "
            << StateStore::kSchemaVersion << ")\n";
  if (found < StateStore::kSchemaVersion) {
    std::cout << "  (upgraded from schema " << found << " first, as `digestd once` would)\n";
  }
  // Instances on a shared state: one of them leads while any runs.
  if ((*source)->shared()) {
    auto leader = (*source)->Leader();
    if (!leader) {
      std::cerr << "digestd migrate: " << shown_from << ": " << leader.error().message << "\n";
      return kExitFailure;
    }
    if (*leader && (*leader)->expires_ms > (*leader)->now_ms) {
      std::cerr << "digestd migrate: " << shown_from << ": an instance leads it ("
                << (*leader)->holder << "); stop every digestd run on it first\n";
      return kExitFailure;
    }
  }
  auto destination = StateStore::Open(to);
  if (!destination) {
    std::cerr << "digestd migrate: " << destination.error().message << "\n";
    return kExitFailure;
  }
  std::cout << "to:   " << shown_to << " (" << (*destination)->backend() << ")\n";
  auto report = (*source)->CopyInto(**destination);
  if (!report) {
    std::cerr << "digestd migrate: " << shown_to << ": " << report.error().message
              << "; nothing was written there\n";
    return kExitFailure;
  }
  for (const StateStore::TableCount& t : report->tables) {
    const std::size_t pad = t.table.size() < 17 ? 17 - t.table.size() : 1;
    std::cout << "  " << t.table << std::string(pad, ' ') << t.rows << "\n";
  }
  if (report->released > 0) {
    std::cout << Counted(static_cast<long long>(report->released), "outbox row")
              << " being sent copied as pending: sent again from " << shown_to
              << ", under the same id\n";
  }
  std::cout << "verified: every table of " << shown_to << " holds as many rows as "
            << shown_from << "'s (the leader lease is not copied); " << shown_from
            << " is left as it was\n";
  return kExitOk;
}

// Lets a delivery pass hold as many connections as its caps allow (1,024 transfers at
// once): the soft limit on open files rises to the hard one (at most 65,536).
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 65536);
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

}  // namespace

int RunCli(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--version") {
    std::cout << "digestd " DIGESTD_VERSION "\n";
    return kExitOk;
  }
  std::string error;
  auto args = ParseArgs(argc, argv, error);
  if (!args) {
    std::cerr << "digestd: " << error << "\n" << Usage();
    return kExitUsage;
  }
  const std::string& cmd = args->command;
  if (args->Has("--log-format") && !ParseLogFormat(args->Get("--log-format"))) {
    std::cerr << "digestd: --log-format: expected auto, plain, journal or json, not '"
              << args->Get("--log-format") << "'\n";
    return kExitUsage;
  }
  if (cmd == "version") {
    std::cout << "digestd " DIGESTD_VERSION "\n";
    return kExitOk;
  }
  if (cmd.empty() || cmd == "help") {
    const bool asked = cmd == "help" || args->Has("--help");
    (asked ? std::cout : std::cerr) << Usage();
    return asked ? kExitOk : kExitUsage;
  }
  const CommandHelp* command = FindCommand(cmd);
  if (!command) {
    std::cerr << "digestd: unknown command '" << cmd << "'\n" << Usage();
    return kExitUsage;
  }
  // `digestd COMMAND --help` (or -h) anywhere on the line: that command's usage, nothing run.
  if (args->Has("--help")) {
    std::cout << "usage: " << command->usage << "\n\n" << command->about << "\n";
    return kExitOk;
  }
  if (cmd == "check") return Check(*args);
  if (cmd == "parse") return Parse(*args);
  if (cmd == "once" || cmd == "run" || cmd == "test-notify") RaiseOpenFileLimit();
  if (cmd == "once") return Once(*args);
  if (cmd == "outbox") return Outbox(*args);
  if (cmd == "run") {
    const std::optional<std::string> path = ConfigPath(*args);
    return path ? RunService(*path, LogFormatOf(*args)) : kExitConfig;
  }
  if (cmd == "status") return ShowStatus(*args);
  if (cmd == "test-notify") return TestNotify(*args);
  if (cmd == "explain") return Explain(*args);
  if (cmd == "preview") return Preview(*args);
  if (cmd == "migrate") return Migrate(*args);
  return Backup(*args);
}

}  // namespace digestd
