#include "config/config_loader.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace digestd {
namespace {

namespace fs = std::filesystem;

using test::TempDir;

const std::string kData = std::string(DIGESTD_TEST_DATA) + "/config";

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

std::vector<ConfigDiagnostic> Errors(const ConfigLoad& load) {
  std::vector<ConfigDiagnostic> out;
  for (const ConfigDiagnostic& d : load.diagnostics) {
    if (!d.warning) out.push_back(d);
  }
  return out;
}

std::string Dump(const ConfigLoad& load) {
  std::string out;
  for (const ConfigDiagnostic& d : load.diagnostics) out += "\n  " + d.ToString();
  return out;
}

// A valid prefix the error cases build on: one source, one notifier, one watch (lines 1-10).
constexpr const char* kBase =
    "[[source]]\n"                               // 1
    "name = \"s\"\n"                             // 2
    "kind = \"markdown\"\n"                      // 3
    "url = \"https://example.org/{date}.md\"\n"  // 4
    "[[notifier]]\n"                             // 5
    "name = \"n\"\n"                             // 6
    "kind = \"console\"\n"                       // 7
    "[[watch]]\n"                                // 8
    "name = \"w\"\n"                             // 9
    "keywords = [\"x\"]\n";                      // 10
// Line 11 closes the watch; error cases append from line 12 on.
constexpr const char* kBaseEnd = "notify = [\"n\"]\n";

TEST(ConfigLoader, BaseIsValid) {
  TempDir dir;
  ConfigLoad load = LoadConfigText(std::string(kBase) + kBaseEnd, dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  EXPECT_TRUE(load.diagnostics.empty()) << Dump(load);
}

struct ErrorCase {
  std::string text;
  int line;
  int column;
  std::string message;  // a key part of the message
};

TEST(ConfigLoader, ErrorsArePositioned) {
  const std::string base = std::string(kBase) + kBaseEnd;
  const ErrorCase cases[] = {
      // TOML syntax
      {"a = \n", 1, 5, "expected"},
      {base + "x = [1,\n", 12, 9, "end-of-file"},
      {"a = 1\na = 2\n", 2, 5, "redefine"},
      // types
      {base + "[daemon]\nretention_days = \"ninety\"\n", 13, 18,
       "\"retention_days\": expected an integer, got a string"},
      {base + "[daemon]\nalert_notify = \"n\"\n", 13, 16,
       "\"alert_notify\": expected an array of strings, got a string"},
      {base + "[daemon]\nalert_notify = [\"n\", 3]\n", 13, 22, "got an element that is an integer"},
      {"daemon = 3\n" + base, 1, 10, "\"daemon\": expected a table"},
      {"source = 3\n", 1, 10, "expected an array of tables ([[source]])"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"file:///x\"\n"
              "tls_verify = \"no\"\n",
       16, 14, "expected a boolean"},
      {base + "[daemon]\nretention_days = 0\n", 13, 18, "0 is out of range 1..36500"},
      // missing required keys
      {"[[source]]\nkind = \"markdown\"\nurl = \"https://x\"\n", 1, 1,
       "missing required key \"name\""},
      {"[[source]]\nname = \"s\"\nurl = \"https://x\"\n", 1, 1,
       "source \"s\" is missing required key \"kind\""},
      {"[[source]]\nname = \"s\"\nkind = \"markdown\"\n", 1, 1, "missing required key \"url\""},
      {base + "[[notifier]]\nkind = \"console\"\n", 12, 1,
       "[[notifier]] is missing required key \"name\""},
      {base + "[[notifier]]\nname = \"f\"\nkind = \"file\"\n", 12, 1,
       "missing required key \"path\" (kind \"file\")"},
      {base + "[[notifier]]\nname = \"m\"\n", 12, 1, "missing required key \"kind\""},
      {base + "[[watch]]\nname = \"v\"\nkeywords = [\"y\"]\n", 12, 1,
       "watch \"v\" is missing required key \"notify\""},
      {base + "[[watch]]\nkeywords = [\"y\"]\nnotify = [\"n\"]\n", 12, 1,
       "missing required key \"name\""},
      {base + "[[watch]]\nname = \"v\"\nnotify = [\"n\"]\nexclude = [\"z\"]\n", 12, 1,
       "needs at least one of \"query\", \"keywords\" or \"authors\""},
      {base + "[[watch]]\nname = \"v\"\nkeywords = []\nnotify = [\"n\"]\n", 12, 1,
       "needs at least one of"},
      {base + "[[watch]]\nname = \"v\"\nkeywords = [\"y\"]\nnotify = []\n", 15, 10,
       "must name at least one notifier"},
      // duplicates
      {base + "[[source]]\nname = \"s\"\nkind = \"markdown\"\nurl = \"file:///x\"\n", 13, 8,
       "duplicate source name \"s\" (first defined at line 2)"},
      {base + "[[notifier]]\nname = \"n\"\nkind = \"console\"\n", 13, 8,
       "duplicate notifier name \"n\" (first defined at line 6)"},
      {base + "[[watch]]\nname = \"w\"\nkeywords = [\"y\"]\nnotify = [\"n\"]\n", 13, 8,
       "duplicate watch name \"w\" (first defined at line 9)"},
      // references
      {std::string(kBase) + "notify = [\"n\", \"nn\"]\n", 11, 16,
       "watch \"w\" names unknown notifier \"nn\" (did you mean 'n'?)"},
      {base + "sources = [\"s\", \"hf\"]\n", 12, 17, "watch \"w\" names unknown source \"hf\""},
      {base + "[daemon]\nalert_notify = [\"me\"]\n", 13, 17,
       "\"alert_notify\" names unknown notifier \"me\""},
      // names
      {base + "[[source]]\nname = \"Hf Ko\"\nkind = \"markdown\"\nurl = \"file:///x\"\n", 13, 8,
       "source name \"Hf Ko\" is not valid"},
      // unknown keys
      {base + "nofity = [\"n\"]\n", 12, 1,
       "unknown key \"nofity\" in [[watch]] (did you mean 'notify'?)"},
      {base + "[deamon]\n", 12, 2,
       "unknown key \"deamon\" in the top level (did you mean 'daemon'?)"},
      {base + "[daemon]\ntimezon = \"UTC\"\n", 13, 1, "(did you mean 'timezone'?)"},
      {base + "[daemon]\ncolour = \"red\"\n", 13, 1, "unknown key \"colour\" in [daemon]"},
      {base + "[daemon]\nstate_file = \"x\"\n", 13, 1, "unknown key \"state_file\""},
      // enums
      {base + "[daemon]\nlog_level = \"verbose\"\n", 13, 13,
       "\"log_level\": \"verbose\" is not one of trace, debug, info, warn or error"},
      {base + "[daemon]\nlog_level = \"eror\"\n", 13, 13, "(did you mean 'error'?)"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"file:///x\"\n"
              "first_run = \"latest:0\"\n",
       16, 13, "not one of baseline, notify or latest:N"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"file:///x\"\n"
              "first_run = \"everything\"\n",
       16, 13, "\"everything\" is not one of baseline"},
      {base + "events = [\"new\", \"updatd\"]\n", 12, 18,
       "\"updatd\" is not one of new, updated, threshold or new_version (did you mean 'updated'?)"},
      {base + "delivery = \"weekly\"\n", 12, 12, "\"weekly\" is not one of instant or digest"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdwon\"\nurl = \"file:///x\"\n", 14, 8,
       "unknown source kind \"markdwon\" (expected markdown, hf-daily, arxiv or feed) "
       "(did you mean 'markdown'?)"},
      {base + "[[notifier]]\nname = \"m\"\nkind = \"pager\"\n", 14, 8, "unknown notifier kind"},
      // durations and sizes
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"file:///x\"\n"
              "timeout = \"30\"\n",
       16, 11, "\"timeout\": \"30\" is not a positive duration"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"file:///x\"\n"
              "timeout = \"1h30x\"\n",
       16, 11, "is not a positive duration"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"file:///x\"\n"
              "timeout = \"0s\"\n",
       16, 11, "is not a positive duration"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"file:///x\"\n"
              "timeout = 30\n",
       16, 11, "expected a duration string like \"30s\", got an integer"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"file:///x\"\n"
              "max_bytes = \"20 XB\"\n",
       16, 13, "\"max_bytes\": \"20 XB\" is not a positive size"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"file:///x\"\n"
              "max_bytes = -1\n",
       16, 13, "-1 is not a positive size"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"file:///x\"\n"
              "max_bytes = 1.5\n",
       16, 13, "got a float"},
      // time zones and schedules
      {base + "[daemon]\ntimezone = \"Mars/Olympus\"\n", 13, 12,
       "\"timezone\": \"Mars/Olympus\" is not an IANA time zone"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"file:///x\"\n"
              "schedule = \"61 * * * *\"\n",
       16, 12, "invalid schedule \"61 * * * *\": cron minute: \"61\" is out of range 0-59"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"file:///x\"\n"
              "schedule = \"0 0 30 FEB *\"\n",
       16, 12, "never occurs"},
      // urls
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"ftp://x/{date}\"\n", 15, 7,
       "must start with http://, https:// or file://"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"https://x/{day}.md\"\n", 15,
       7, "unknown placeholder \"{day}\""},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"https://x/{date.md\"\n", 15,
       7, "unbalanced '{'"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"https://x/date}.md\"\n", 15,
       7, "unbalanced '}'"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"https://x/{date:%Q}\"\n", 15,
       7, "unsupported conversion"},
      // documented but not built
      {base + "[[notifier]]\nname = \"e\"\nkind = \"email\"\nurl = \"smtps://x\"\n"
              "username = \"u\"\npassword = \"p\"\nfrom = \"f\"\nto = [\"t\"]\n"
              "max_in_flight = 2\nmin_interval = \"1s\"\nretry_max_attempts = 3\n"
              "retry_max_age = \"24h\"\n",
       14, 8, "notifier kind \"email\" is not supported yet"},
      {base + "[[notifier]]\nname = \"k\"\nkind = \"slack\"\nurl = \"https://x\"\n", 14, 8,
       "not supported yet"},
      {base + "[[notifier]]\nname = \"t\"\nkind = \"ntfy\"\n", 14, 8, "not supported yet"},
      {base + "[[notifier]]\nname = \"t\"\nkind = \"file\"\npath = \"x\"\nurl = \"https://x\"\n",
       16, 1, "\"url\" does not apply to notifier kind \"file\""},
      {base + "[[notifier]]\nname = \"t\"\nkind = \"console\"\npath = \"x\"\n", 15, 1,
       "\"path\" does not apply to notifier kind \"console\""},
      {std::string(kBase) + "notify = [\"n\"]\nquery = \"a OR (b\"\n", 12, 15,
       "watch \"w\": query: '(' is never closed\na OR (b\n     ^"},
      {std::string(kBase) + "notify = [\"n\"]\nquery = 'title:/[a/'\n", 12, 16,
       "watch \"w\": query: "},
      {base + "delivery = \"digest\"\n", 12, 12, "delivery = \"digest\" is not supported yet"},
      {base + "digest_schedule = \"0 8 * * *\"\n", 12, 1,
       "\"digest_schedule\" applies only with delivery = \"digest\""},
      {base + "timezone = \"Asia/Seoul\"\n", 12, 1, "\"timezone\" applies only with delivery"},
      {base + "[[highlights]]\nname = \"top\"\n", 12, 1, "[[highlights]] is not supported yet"},
      {base + "[daemon]\nmetrics_listen = \"127.0.0.1:9464\"\n", 13, 18,
       "\"metrics_listen\" is not supported yet"},
      // secrets
      {base + "[daemon]\ncontact = \"${DIGESTD_TEST_UNSET}\"\n", 13, 11,
       "environment variable DIGESTD_TEST_UNSET (for \"contact\") is not set"},
      {base + "[daemon]\ncontact = \"a\"\ncontact_file = \"c\"\n", 14, 16,
       "give either \"contact\" or \"contact_file\", not both"},
      {base + "[daemon]\ncontact_file = \"no-such-file\"\n", 13, 16,
       "cannot read \"contact_file\""},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"file:///x\"\n"
              "headers = { \"Bad Name\" = \"v\" }\n",
       16, 13, "\"Bad Name\" is not a valid header name"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"file:///x\"\n"
              "headers = { A = 1 }\n",
       16, 17, "\"headers\": \"A\": expected a string, got an integer"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"file:///x\"\n"
              "headers = \"A\"\n",
       16, 11, "expected a table of strings"},
      // includes
      {"include = [\"missing.toml\"]\n" + base, 1, 12,
       "included file \"missing.toml\" does not exist"},
  };
  ScopedEnv unset("DIGESTD_TEST_UNSET", nullptr);
  ScopedEnv no_credentials("CREDENTIALS_DIRECTORY", nullptr);
  for (const ErrorCase& c : cases) {
    TempDir dir;
    const std::string path = dir.File("digestd.toml");
    ConfigLoad load = LoadConfigText(c.text, path);
    EXPECT_FALSE(load.config) << c.text;
    std::vector<ConfigDiagnostic> errors = Errors(load);
    ASSERT_EQ(errors.size(), 1u) << c.text << Dump(load);
    EXPECT_EQ(errors[0].file, path);
    EXPECT_EQ(errors[0].line, c.line) << c.text << Dump(load);
    EXPECT_EQ(errors[0].column, c.column) << c.text << Dump(load);
    EXPECT_NE(errors[0].message.find(c.message), std::string::npos) << c.text << Dump(load);
  }
}

TEST(ConfigLoader, ReportsEveryErrorInFileOrder) {
  TempDir dir;
  const std::string text =
      "[daemon]\n"
      "log_level = \"loud\"\n"         // 2
      "timezone = \"Nowhere/City\"\n"  // 3
      "[[source]]\n"
      "name = \"BAD\"\n"  // 5
      "kind = \"markdown\"\n"
      "url = \"gopher://x\"\n"  // 7
      "[[watch]]\n"             // 8: no selector, no notify
      "name = \"w\"\n";
  ConfigLoad load = LoadConfigText(text, dir.File("d.toml"));
  ASSERT_FALSE(load.config);
  std::vector<ConfigDiagnostic> errors = Errors(load);
  std::vector<int> lines;
  for (const ConfigDiagnostic& d : errors) lines.push_back(d.line);
  EXPECT_EQ(lines, (std::vector<int>{2, 3, 5, 7, 8, 8})) << Dump(load);
}

TEST(ConfigLoader, LoadsFullConfigWithIncludes) {
  ScopedEnv token("DIGESTD_TEST_TOKEN", "Bearer sekrit");
  ScopedEnv state("STATE_DIRECTORY", nullptr);
  ConfigLoad load = LoadConfig(kData + "/valid.toml");
  ASSERT_TRUE(load.config) << Dump(load);
  const Config& c = *load.config;
  EXPECT_EQ(c.path, fs::path(kData + "/valid.toml").lexically_normal().string());
  EXPECT_EQ(c.daemon.state_path, (fs::path(kData) / "var/state.db").lexically_normal().string());
  EXPECT_EQ(c.daemon.timezone, "Asia/Seoul");
  EXPECT_EQ(c.daemon.log_level, "debug");
  EXPECT_EQ(c.daemon.contact, "mailto:admin@example.org");
  EXPECT_EQ(c.daemon.alert_notify, std::vector<std::string>{"log"});
  EXPECT_EQ(c.daemon.retention_days, 30);

  ASSERT_EQ(c.sources.size(), 2u);
  const SourceConfig& hf = c.sources[0];
  EXPECT_EQ(hf.name, "hf-ko");
  EXPECT_EQ(hf.schedule, "0 */2 * * MON-FRI");
  EXPECT_EQ(hf.timezone, "Asia/Seoul");  // the daemon's
  EXPECT_EQ(hf.lookback_days, 3);
  EXPECT_EQ(hf.backfill_days, 10);
  EXPECT_EQ(hf.first_run, FirstRun::kLatest);
  EXPECT_EQ(hf.first_run_latest, 5);
  EXPECT_EQ(hf.timeout, std::chrono::milliseconds(90'000));
  EXPECT_EQ(hf.max_bytes, 512u * 1024);
  EXPECT_EQ(hf.headers.at("Authorization"), "Bearer sekrit");
  EXPECT_EQ(hf.headers.at("X-Trace"), "on");
  EXPECT_EQ(hf.alert_after_failures, 3);
  EXPECT_EQ(hf.alert_after_hours, 12);
  EXPECT_TRUE(hf.enabled);
  const SourceConfig& local = c.sources[1];
  EXPECT_EQ(local.timezone, "UTC");
  EXPECT_EQ(local.first_run, FirstRun::kNotify);
  EXPECT_EQ(local.max_bytes, 4096u);
  EXPECT_EQ(local.schedule, "*/30 * * * *");
  EXPECT_EQ(local.timeout, std::chrono::milliseconds(30'000));
  EXPECT_FALSE(local.enabled);

  ASSERT_EQ(c.notifiers.size(), 3u);
  EXPECT_EQ(c.notifiers[0].path,
            (fs::path(kData) / "out/matches.jsonl").lexically_normal().string());
  EXPECT_EQ(c.notifiers[0].max_papers, 10);
  EXPECT_EQ(c.notifiers[1].kind, "console");
  EXPECT_EQ(c.notifiers[2].name, "spare");  // from watches.d/20-agents.toml
  ASSERT_NE(c.FindNotifier("spare"), nullptr);
  EXPECT_EQ(c.FindNotifier("nobody"), nullptr);
  ASSERT_NE(c.FindSource("local_digest"), nullptr);
  EXPECT_EQ(c.FindSource("nope"), nullptr);

  ASSERT_EQ(c.watches.size(), 3u);
  const WatchConfig& w = c.watches[0];
  EXPECT_EQ(w.name, "sparsity");
  EXPECT_EQ(w.keywords, (std::vector<std::string>{"희소화", "sparsity"}));
  EXPECT_EQ(w.min_votes, 5);
  EXPECT_EQ(w.events.size(), 4u);
  EXPECT_EQ(w.line, 45);
  EXPECT_EQ(w.column, 1);
  // Included in sorted order.
  EXPECT_EQ(c.watches[1].name, "speculative decoding");
  EXPECT_EQ(c.watches[1].events, (std::vector<std::string>{"new", "threshold"}));
  EXPECT_EQ(c.watches[1].file, kData + "/watches.d/10-decoding.toml");
  EXPECT_EQ(c.watches[2].name, "agents");
  EXPECT_FALSE(c.watches[2].enabled);

  // Warnings: the disabled source and the unused notifier; no secret in any of them.
  std::vector<std::string> warnings;
  for (const ConfigDiagnostic& d : load.diagnostics) {
    EXPECT_TRUE(d.warning);
    EXPECT_EQ(d.ToString().find("sekrit"), std::string::npos);
    warnings.push_back(d.ToString());
  }
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_EQ(warnings[0], kData +
                             "/valid.toml:33:11: warning: source \"local_digest\" is "
                             "disabled: its state is kept, nothing is fetched");
  EXPECT_EQ(warnings[1], kData +
                             "/watches.d/20-agents.toml:7:1: warning: notifier \"spare\" is "
                             "not used by any watch or alert_notify");
}

TEST(ConfigLoader, IncludedFilesNameThemselvesAndHoldOnlyTables) {
  ConfigLoad load = LoadConfig(kData + "/bad_include.toml");
  ASSERT_FALSE(load.config);
  std::vector<std::string> errors;
  for (const ConfigDiagnostic& d : Errors(load)) errors.push_back(d.ToString());
  ASSERT_EQ(errors.size(), 2u) << Dump(load);
  EXPECT_EQ(errors[0], kData +
                           "/bad.d/one.toml:4:21: watch \"w\" names unknown notifier "
                           "\"nobody\"");
  EXPECT_EQ(errors[1].rfind(kData + "/bad.d/one.toml:6:2: an included file may hold only", 0), 0u)
      << errors[1];
}

TEST(ConfigLoader, DuplicateAcrossFilesNamesTheFirstFile) {
  TempDir dir;
  dir.Write("more/x.toml", "[[notifier]]\nname = \"n\"\nkind = \"console\"\n");
  const std::string main =
      dir.Write("digestd.toml", "include = [\"more/x.toml\"]\n" + std::string(kBase) + kBaseEnd);
  ConfigLoad load = LoadConfig(main);
  std::vector<ConfigDiagnostic> errors = Errors(load);
  ASSERT_EQ(errors.size(), 1u) << Dump(load);
  EXPECT_EQ(errors[0].ToString(), dir.File("more/x.toml") +
                                      ":2:8: duplicate notifier name \"n\" (first defined at " +
                                      main + ":7)");
}

TEST(ConfigLoader, SecretsComeFromEnvAndFilesAndNeverShow) {
  TempDir dir;
  TempDir credentials;
  dir.Write("url.txt", "https://example.org/{date}.md\n");
  dir.Write("contact", "from-config-dir\n");
  credentials.Write("contact", "from-credentials\r\n");
  ScopedEnv creds("CREDENTIALS_DIRECTORY", credentials.path().c_str());
  ScopedEnv level("DIGESTD_TEST_LEVEL", "sekrit-level");
  const std::string text =
      "[daemon]\ncontact_file = \"contact\"\nlog_level = \"${DIGESTD_TEST_LEVEL}\"\n"
      "[[source]]\nname = \"s\"\nkind = \"markdown\"\nurl_file = \"" +
      dir.File("url.txt") + "\"\n";
  ConfigLoad load = LoadConfigText(text, dir.File("digestd.toml"));
  std::vector<ConfigDiagnostic> errors = Errors(load);
  ASSERT_EQ(errors.size(), 1u) << Dump(load);
  EXPECT_EQ(errors[0].line, 3);
  EXPECT_NE(errors[0].message.find("the value of ${DIGESTD_TEST_LEVEL} is not one of"),
            std::string::npos)
      << errors[0].message;
  for (const ConfigDiagnostic& d : load.diagnostics) {
    EXPECT_EQ(d.ToString().find("sekrit"), std::string::npos) << d.ToString();
  }

  ScopedEnv good_level("DIGESTD_TEST_LEVEL", "warn");
  load = LoadConfigText(text, dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  EXPECT_EQ(load.config->daemon.contact, "from-credentials");
  EXPECT_EQ(load.config->daemon.log_level, "warn");
  EXPECT_EQ(load.config->sources[0].url, "https://example.org/{date}.md");

  ScopedEnv no_creds("CREDENTIALS_DIRECTORY", nullptr);
  load = LoadConfigText(text, dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  EXPECT_EQ(load.config->daemon.contact, "from-config-dir");
}

TEST(ConfigLoader, StateDefaults) {
  TempDir dir;
  const std::string path = dir.File("digestd.toml");
  {
    ScopedEnv state("STATE_DIRECTORY", nullptr);
    ConfigLoad load = LoadConfigText("", path);
    ASSERT_TRUE(load.config) << Dump(load);
    EXPECT_EQ(load.config->daemon.state_path, dir.File("digestd.db"));
    EXPECT_EQ(load.config->daemon.timezone, "UTC");
    EXPECT_EQ(load.config->daemon.log_level, "info");
    EXPECT_EQ(load.config->daemon.retention_days, 90);
  }
  {
    ScopedEnv state("STATE_DIRECTORY", "/var/lib/digestd:/var/lib/other");
    ConfigLoad load = LoadConfigText("", path);
    ASSERT_TRUE(load.config) << Dump(load);
    EXPECT_EQ(load.config->daemon.state_path, "/var/lib/digestd/state.db");
  }
}

TEST(ConfigLoader, UnreadableFileIsADiagnostic) {
  TempDir dir;
  ConfigLoad load = LoadConfig(dir.File("absent.toml"));
  ASSERT_FALSE(load.config);
  ASSERT_EQ(load.diagnostics.size(), 1u);
  EXPECT_EQ(load.diagnostics[0].line, 0);
  EXPECT_NE(load.diagnostics[0].ToString().find("absent.toml: cannot read config file"),
            std::string::npos);
}

TEST(ConfigLoader, EverySourceKindIsBuilt) {
  TempDir dir;
  std::string text = std::string(kBase) + kBaseEnd;
  for (const char* kind : {"hf-daily", "arxiv", "feed"}) {
    text += std::string("[[source]]\nname = \"") + kind + "\"\nkind = \"" + kind +
            "\"\nurl = \"https://example.org/" + kind + "\"\n";
  }
  ConfigLoad load = LoadConfigText(text, dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  EXPECT_EQ(load.config->sources.size(), 4u);
}

TEST(ConfigLoader, WarnsWhenMinVotesCanNeverBeMet) {
  TempDir dir;
  const std::string text =
      std::string(kBase) + kBaseEnd +
      "[[source]]\nname = \"cl\"\nkind = \"arxiv\"\nurl = \"https://example.org/rss\"\n"
      "[[watch]]\nname = \"popular arxiv\"\nkeywords = [\"x\"]\nmin_votes = 5\n"
      "sources = [\"cl\"]\nnotify = [\"n\"]\n"
      "[[watch]]\nname = \"popular anywhere\"\nkeywords = [\"x\"]\nmin_votes = 5\n"
      "notify = [\"n\"]\n";
  ConfigLoad load = LoadConfigText(text, dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  int warned = 0;
  for (const ConfigDiagnostic& d : load.diagnostics) {
    if (d.warning && d.message.find("min_votes") != std::string::npos) {
      ++warned;
      EXPECT_NE(d.message.find("popular arxiv"), std::string::npos) << d.message;
      EXPECT_EQ(d.line, 17) << d.ToString();
    }
  }
  EXPECT_EQ(warned, 1) << Dump(load);
}

TEST(ConfigLoader, RelativeFileUrlIsAnchoredAtTheConfigFolder) {
  TempDir dir;
  const std::string text = std::string(kBase) + kBaseEnd +
                           "[[source]]\nname = \"local\"\nkind = \"markdown\"\n"
                           "url = \"file://digests/{date:%Y/%m/%d}.md\"\n";
  ConfigLoad load = LoadConfigText(text, dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  EXPECT_EQ(load.config->FindSource("local")->url,
            "file://" + dir.File("digests/{date:%Y/%m/%d}.md"));
  EXPECT_EQ(load.config->FindSource("s")->url, "https://example.org/{date}.md");
}

TEST(ConfigLoader, DurationsAndSizes) {
  struct Case {
    const char* timeout;
    long long ms;
    const char* max_bytes;
    unsigned long long bytes;
  };
  const Case cases[] = {
      {"30s", 30'000, "20MB", 20'000'000},     {"5m", 300'000, "512KB", 512'000},
      {"24h", 86'400'000, "1GiB", 1ull << 30}, {"1h30m", 5'400'000, "1024", 1024},
      {"250ms", 250, "2MiB", 2ull << 20},      {"2d", 172'800'000, "100B", 100},
  };
  for (const Case& c : cases) {
    TempDir dir;
    const std::string text = std::string("[[source]]\nname = \"s\"\nkind = \"markdown\"\n") +
                             "url = \"file:///x\"\ntimeout = \"" + c.timeout +
                             "\"\nmax_bytes = \"" + c.max_bytes + "\"\n";
    ConfigLoad load = LoadConfigText(text, dir.File("d.toml"));
    ASSERT_TRUE(load.config) << c.timeout << Dump(load);
    EXPECT_EQ(load.config->sources[0].timeout.count(), c.ms) << c.timeout;
    EXPECT_EQ(load.config->sources[0].max_bytes, c.bytes) << c.max_bytes;
  }
}

TEST(ConfigLoader, DefaultConfigPathPrefersTheEnvironment) {
  {
    ScopedEnv env("DIGESTD_CONFIG", "/somewhere/my.toml");
    EXPECT_EQ(DefaultConfigPath(), "/somewhere/my.toml");
  }
  ScopedEnv env("DIGESTD_CONFIG", nullptr);
  const std::string expected =
      fs::exists("/etc/digestd/digestd.toml") ? "/etc/digestd/digestd.toml" : "./digestd.toml";
  EXPECT_EQ(DefaultConfigPath(), expected);
}

}  // namespace
}  // namespace digestd
