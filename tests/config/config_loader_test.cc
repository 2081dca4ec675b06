#include "config/config_loader.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/channel_limits.h"
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
  // Issue 11: valid, but with sources and no alert_notify nobody hears of failures.
  ASSERT_EQ(load.diagnostics.size(), 1u) << Dump(load);
  EXPECT_TRUE(load.diagnostics[0].warning);
  EXPECT_EQ(load.diagnostics[0].line, 2);
  EXPECT_NE(load.diagnostics[0].message.find("alert_notify is not set"), std::string::npos);
  load = LoadConfigText(std::string("[daemon]\nalert_notify = [\"n\"]\n") + kBase + kBaseEnd,
                        dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  EXPECT_TRUE(load.diagnostics.empty()) << Dump(load);
}

// Issue 10 points 1 and 3: a source's jitter, and a digest watch's schedule and zone (the
// [daemon] one when it names none).
TEST(Issue10, JitterAndDigestDeliveryAreRead) {
  TempDir dir;
  const std::string text = std::string("[daemon]\ntimezone = \"Asia/Seoul\"\n") + kBase +
                           kBaseEnd +
                           "delivery = \"digest\"\ndigest_schedule = \"30 7 * * MON\"\n"
                           "[[watch]]\nname = \"v\"\nkeywords = [\"y\"]\nnotify = [\"n\"]\n"
                           "delivery = \"digest\"\ntimezone = \"Europe/Berlin\"\n"
                           "[[source]]\nname = \"t\"\nkind = \"markdown\"\n"
                           "url = \"https://example.org/t.md\"\njitter = \"90s\"\n";
  ConfigLoad load = LoadConfigText(text, dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  EXPECT_EQ(load.config->sources[0].jitter, std::chrono::seconds(0));
  EXPECT_EQ(load.config->sources[1].jitter, std::chrono::seconds(90));
  ASSERT_EQ(load.config->watches.size(), 2u);
  const WatchConfig& w = load.config->watches[0];
  EXPECT_EQ(w.delivery, "digest");
  EXPECT_EQ(w.digest_schedule, "30 7 * * MON");
  EXPECT_EQ(w.timezone, "Asia/Seoul");
  const WatchConfig& v = load.config->watches[1];
  EXPECT_EQ(v.digest_schedule, "0 8 * * *");
  EXPECT_EQ(v.timezone, "Europe/Berlin");
}

// Issue 11, point 2: for the system unit's config, a path the service may not write
// (ProtectSystem=strict, PrivateTmp=yes) is a warning naming where it may write.
TEST(Issue11, PathsOutsideTheUnitAreWarned) {
  ScopedEnv state("STATE_DIRECTORY", nullptr);
  ScopedEnv logs("LOGS_DIRECTORY", nullptr);
  const auto warnings_for = [](const std::string& config_path, const std::string& file_path) {
    const std::string text = "[daemon]\nstate = \"/var/lib/digestd/state.db\"\n"
                             "alert_notify = [\"f\"]\n" +
                             std::string(kBase) + kBaseEnd +
                             "[[notifier]]\nname = \"f\"\nkind = \"file\"\npath = \"" +
                             file_path + "\"\n";
    ConfigLoad load = LoadConfigText(text, config_path);
    EXPECT_TRUE(load.config) << Dump(load);
    std::string out;
    for (const ConfigDiagnostic& d : load.diagnostics) {
      if (d.message.find("service") != std::string::npos) out += d.message + "\n";
    }
    return out;
  };
  const std::string outside = warnings_for(kSystemConfigPath, "/srv/digestd/matches.jsonl");
  EXPECT_NE(outside.find("notifier \"f\": \"path\": \"/srv/digestd/matches.jsonl\" is outside "
                         "what the digestd service may write"),
            std::string::npos)
      << outside;
  EXPECT_NE(outside.find("/var/lib/digestd or /var/log/digestd"), std::string::npos) << outside;
  // A relative path is under /etc/digestd, read-only for the service.
  EXPECT_NE(warnings_for(kSystemConfigPath, "matches.jsonl").find("/etc/digestd/matches.jsonl"),
            std::string::npos);
  EXPECT_NE(warnings_for(kSystemConfigPath, "/tmp/m.jsonl").find("private /tmp"),
            std::string::npos);
  EXPECT_EQ(warnings_for(kSystemConfigPath, "/var/log/digestd/matches.jsonl"), "");
  EXPECT_EQ(warnings_for(kSystemConfigPath, "/var/lib/digestd/sub/matches.jsonl"), "");
  EXPECT_EQ(warnings_for(kSystemConfigPath, "/var/lib/digestdx/matches.jsonl").empty(), false);
  // Another config is not the unit's: nothing said.
  EXPECT_EQ(warnings_for("/home/someone/digestd.toml", "/srv/digestd/matches.jsonl"), "");
  // Under systemd, the directories the unit passes are the ones that count.
  ScopedEnv given_state("STATE_DIRECTORY", "/var/lib/digestd");
  ScopedEnv given_logs("LOGS_DIRECTORY", "/srv/digestd:/srv/other");
  EXPECT_EQ(warnings_for(kSystemConfigPath, "/srv/digestd/matches.jsonl"), "");
  EXPECT_NE(warnings_for(kSystemConfigPath, "/var/log/digestd/m.jsonl")
                .find("under /var/lib/digestd or /srv/digestd or /srv/other"),
            std::string::npos);
}

// Issue 10 point 2: a [[highlights]] table is read into HighlightsConfig, with its defaults
// and the [daemon] timezone when it names none.
TEST(Issue10, HighlightsAreRead) {
  TempDir dir;
  const std::string text = std::string("[daemon]\ntimezone = \"Asia/Seoul\"\n") + kBase +
                           kBaseEnd +
                           "[[highlights]]\nname = \"morning\"\nsources = [\"s\"]\ntop = 5\n"
                           "schedule = \"0 9 * * MON-FRI\"\ntimezone = \"Europe/Berlin\"\n"
                           "on_empty = \"note\"\nnotify = [\"n\"]\n"
                           "[[highlights]]\nname = \"plain\"\nnotify = [\"n\"]\n";
  ConfigLoad load = LoadConfigText(text, dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  ASSERT_EQ(load.config->highlights.size(), 2u);
  const HighlightsConfig& h = load.config->highlights[0];
  EXPECT_EQ(h.name, "morning");
  EXPECT_EQ(h.sources, std::vector<std::string>{"s"});
  EXPECT_EQ(h.top, 5);
  EXPECT_EQ(h.schedule, "0 9 * * MON-FRI");
  EXPECT_EQ(h.timezone, "Europe/Berlin");
  EXPECT_TRUE(h.note_when_empty);
  EXPECT_EQ(h.notify, std::vector<std::string>{"n"});
  EXPECT_EQ(h.line, 14);
  const HighlightsConfig& plain = load.config->highlights[1];
  EXPECT_TRUE(plain.sources.empty());
  EXPECT_EQ(plain.top, 10);
  EXPECT_EQ(plain.schedule, "0 9 * * *");
  EXPECT_EQ(plain.timezone, "Asia/Seoul");
  EXPECT_FALSE(plain.note_when_empty);
}

// Issue 9 point 5: template_file is read relative to the config file, its text kept for the
// channel to compile.
TEST(Issue9, TemplateFileIsReadBesideTheConfig) {
  TempDir dir;
  dir.Write("tpl/paper.mustache", "{{title}} ({{votes}})\n");
  const std::string text = std::string(kBase) + kBaseEnd +
                           "[[notifier]]\nname = \"s\"\nkind = \"slack\"\n"
                           "url = \"https://hooks.slack.com/services/T\"\n"
                           "template_file = \"tpl/paper.mustache\"\n";
  ConfigLoad load = LoadConfigText(text, dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  const NotifierConfig& n = load.config->notifiers.back();
  EXPECT_EQ(n.template_file, dir.File("tpl/paper.mustache"));
  EXPECT_EQ(n.template_text, "{{title}} ({{votes}})\n");
}

TEST(Issue10, MetricsListenForms) {
  TempDir dir;
  const std::string head = std::string(kBase) + kBaseEnd;
  struct Form {
    std::string text, host;
    int port;
  };
  for (const Form& f : {Form{"127.0.0.1:9464", "127.0.0.1", 9464}, Form{"9100", "127.0.0.1", 9100},
                        Form{"localhost:1", "127.0.0.1", 1}, Form{"[::1]:9464", "::1", 9464}}) {
    ConfigLoad load =
        LoadConfigText("[daemon]\nmetrics_listen = \"" + f.text + "\"\n" + head,
                       dir.File("digestd.toml"));
    ASSERT_TRUE(load.config) << f.text << Dump(load);
    EXPECT_EQ(load.config->daemon.metrics_host, f.host) << f.text;
    EXPECT_EQ(load.config->daemon.metrics_port, f.port) << f.text;
    EXPECT_EQ(Dump(load).find("loopback"), std::string::npos) << Dump(load);
  }
  ConfigLoad open = LoadConfigText("[daemon]\nmetrics_listen = \"0.0.0.0:9464\"\n" + head,
                                   dir.File("digestd.toml"));
  ASSERT_TRUE(open.config) << Dump(open);
  EXPECT_NE(Dump(open).find("not a loopback address"), std::string::npos) << Dump(open);
  ConfigLoad none = LoadConfigText(head, dir.File("digestd.toml"));
  ASSERT_TRUE(none.config) << Dump(none);
  EXPECT_TRUE(none.config->daemon.metrics_host.empty());
}

TEST(Issue11, FileNotifierThatCannotWriteIsSaidByCheck) {
  TempDir dir;
  const std::string head = std::string("[daemon]\nalert_notify = [\"n\"]\n") + kBase + kBaseEnd;
  ConfigLoad load = LoadConfigText(
      head + "[[notifier]]\nname = \"f\"\nkind = \"file\"\npath = \"nope/m.jsonl\"\n",
      dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  std::string all = Dump(load);
  EXPECT_NE(all.find(":17:8: warning: notifier \"f\": \"path\": the folder"), std::string::npos)
      << all;
  EXPECT_NE(all.find("does not exist"), std::string::npos) << all;
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
      // issue 14: the PostgreSQL lease has bounds
      {base + "[daemon]\nleader_lease = \"1s\"\n", 13, 16,
       "\"leader_lease\": between 3s and 1h"},
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
      {base + "[daemon]\nstate_file = \"x\"\n", 13, 14, "cannot read \"state_file\""},
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
      {base + "[[notifier]]\nname = \"e\"\nkind = \"pagerduty\"\nurl = \"https://x\"\n"
              "max_in_flight = 2\nmin_interval = \"1s\"\nretry_max_attempts = 3\n"
              "retry_max_age = \"24h\"\n",
       14, 8, "unknown notifier kind \"pagerduty\""},
      {base + "[[notifier]]\nname = \"k\"\nkind = \"slack\"\nurl = \"http://x.example\"\n", 15,
       7, "\"url\": plain http:// is refused except to loopback"},
      {base + "[[notifier]]\nname = \"t\"\nkind = \"ntfy\"\n", 12, 1,
       "notifier \"t\" is missing required key \"url\" (kind \"ntfy\")"},
      {base + "[[notifier]]\nname = \"t\"\nkind = \"file\"\npath = \"x\"\nurl = \"https://x\"\n",
       16, 1, "\"url\" does not apply to notifier kind \"file\""},
      {base + "[[notifier]]\nname = \"t\"\nkind = \"console\"\npath = \"x\"\n", 15, 1,
       "\"path\" does not apply to notifier kind \"console\""},
      {std::string(kBase) + "notify = [\"n\"]\nquery = \"a OR (b\"\n", 12, 15,
       "watch \"w\": query: '(' is never closed\na OR (b\n     ^"},
      {std::string(kBase) + "notify = [\"n\"]\nquery = 'title:/[a/'\n", 12, 16,
       "watch \"w\": query: "},
      {base + "delivery = \"digest\"\ndigest_schedule = \"0 25 * * *\"\n", 13, 19,
       "invalid schedule"},
      {base + "delivery = \"digest\"\ntimezone = \"Mars/Base\"\n", 13, 12,
       "is not an IANA time zone"},
      {base + "[[source]]\nname = \"t\"\nkind = \"markdown\"\nurl = \"https://x/a\"\n"
              "jitter = \"soon\"\n",
       16, 10, "\"jitter\""},
      {base + "digest_schedule = \"0 8 * * *\"\n", 12, 1,
       "\"digest_schedule\" applies only with delivery = \"digest\""},
      {base + "timezone = \"Asia/Seoul\"\n", 12, 1, "\"timezone\" applies only with delivery"},
      // Issue 10 point 2: [[highlights]]
      {base + "[[highlights]]\nname = \"top\"\n", 12, 1,
       "highlights \"top\" is missing required key \"notify\""},
      {base + "[[highlights]]\nname = \"h\"\nnotify = [\"n\"]\nsources = [\"x\"]\n", 15, 12,
       "highlights \"h\" names unknown source \"x\""},
      {base + "[[highlights]]\nname = \"h\"\nnotify = [\"m\"]\n", 14, 11,
       "highlights \"h\" names unknown notifier \"m\""},
      {base + "[[highlights]]\nname = \"h\"\nnotify = [\"n\"]\ntop = 0\n", 15, 7, "\"top\""},
      {base + "[[highlights]]\nname = \"h\"\nnotify = [\"n\"]\nschedule = \"0 25 * * *\"\n", 15,
       12, "invalid schedule"},
      {base + "[[highlights]]\nname = \"h\"\nnotify = [\"n\"]\ntimezone = \"Mars/Base\"\n", 15,
       12, "is not an IANA time zone"},
      {base + "[[highlights]]\nname = \"h\"\nnotify = [\"n\"]\non_empty = \"never\"\n", 15,
       12, "\"on_empty\": \"never\" is not one of"},
      {base + "[[highlights]]\nname = \"h\"\nnotify = [\"n\"]\nsorces = [\"s\"]\n", 15, 1,
       "sorces"},
      {base + "[[highlights]]\nname = \"h\"\nnotify = [\"n\"]\n[[highlights]]\nname = \"h\"\n"
              "notify = [\"n\"]\n",
       16, 8, "duplicate highlights name \"h\""},
      {"highlights = 3\n" + base, 1, 14, "expected an array of tables"},
      {base + "[daemon]\nmetrics_listen = \"example.org:9464\"\n", 13, 18,
       "metrics_listen \"example.org:9464\": expected \"HOST:PORT\""},
      {base + "[daemon]\nmetrics_listen = \"127.0.0.1:0\"\n", 13, 18, "a port 1-65535"},
      {base + "[daemon]\nmetrics_listen = 9464\n", 13, 18, "expected a string"},
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

  ASSERT_EQ(c.notifiers.size(), 5u);
  ASSERT_TRUE(std::holds_alternative<FileSettings>(c.notifiers[0].settings));
  EXPECT_EQ(std::get<FileSettings>(c.notifiers[0].settings).path,
            (fs::path(kData) / "out/matches.jsonl").lexically_normal().string());
  EXPECT_EQ(c.notifiers[0].max_papers, 10);
  EXPECT_EQ(c.notifiers[0].max_in_flight, 512) << "a local kind writes a batch at once";
  EXPECT_EQ(c.notifiers[1].kind, "console");
  EXPECT_TRUE(std::holds_alternative<ConsoleSettings>(c.notifiers[1].settings));
  const NotifierConfig& hook = c.notifiers[2];
  EXPECT_EQ(hook.kind, "webhook");
  EXPECT_EQ(hook.group, Grouping::kDigest);
  EXPECT_EQ(hook.max_in_flight, 2);
  EXPECT_EQ(hook.min_interval, std::chrono::seconds(1));
  EXPECT_EQ(hook.retry_max_attempts, 5);
  EXPECT_EQ(hook.retry_max_age, std::chrono::hours(6));
  EXPECT_EQ(hook.timeout, std::chrono::seconds(10));
  ASSERT_TRUE(std::holds_alternative<WebhookSettings>(hook.settings));
  const auto& webhook = std::get<WebhookSettings>(hook.settings);
  EXPECT_EQ(webhook.url, "https://hooks.example.org/digestd");
  EXPECT_EQ(webhook.secrets.size(), 2u);
  EXPECT_EQ(webhook.headers.at("Authorization"), "Bearer sekrit");
  EXPECT_EQ(webhook.method, "PUT");
  const NotifierConfig& script = c.notifiers[3];
  ASSERT_TRUE(std::holds_alternative<ExecSettings>(script.settings));
  EXPECT_EQ(std::get<ExecSettings>(script.settings).command,
            (std::vector<std::string>{"post-papers", "--quiet"}));
  EXPECT_EQ(std::get<ExecSettings>(script.settings).env,
            (std::vector<std::string>{"HOME", "LANG"}));
  EXPECT_EQ(script.timeout, std::chrono::minutes(1));
  EXPECT_EQ(script.group, Grouping::kPaper);
  EXPECT_EQ(c.notifiers[4].name, "spare");  // from watches.d/20-agents.toml
  ASSERT_NE(c.FindNotifier("spare"), nullptr);
  EXPECT_EQ(c.FindNotifier("nobody"), nullptr);
  ASSERT_NE(c.FindSource("local_digest"), nullptr);
  EXPECT_EQ(c.FindSource("nope"), nullptr);

  ASSERT_EQ(c.watches.size(), 3u);
  const WatchConfig& w = c.watches[0];
  EXPECT_EQ(w.spec.name, "sparsity");
  EXPECT_EQ(w.spec.keywords, (std::vector<std::string>{"희소화", "sparsity"}));
  EXPECT_EQ(w.spec.min_votes, 5);
  EXPECT_EQ(w.spec.events.size(), 4u);
  EXPECT_EQ(w.line, 66);
  EXPECT_EQ(w.column, 1);
  // Included in sorted order.
  EXPECT_EQ(c.watches[1].spec.name, "speculative decoding");
  EXPECT_EQ(c.watches[1].spec.events, (std::vector<std::string>{"new", "threshold"}));
  EXPECT_EQ(c.watches[1].file, kData + "/watches.d/10-decoding.toml");
  EXPECT_EQ(c.watches[2].spec.name, "agents");
  EXPECT_FALSE(c.watches[2].enabled);

  // Warnings: the disabled source and the unused notifier; no secret in any of them.
  std::vector<std::string> warnings;
  for (const ConfigDiagnostic& d : load.diagnostics) {
    EXPECT_TRUE(d.warning);
    EXPECT_EQ(d.ToString().find("sekrit"), std::string::npos);
    // The fixture's mode is the checkout's (umask): issue 13's mode warnings are tested in
    // the black-box suite on files whose mode the test sets.
    if (d.message.find("by others (mode") != std::string::npos) continue;
    warnings.push_back(d.ToString());
  }
  ASSERT_EQ(warnings.size(), 3u) << Dump(load);
  EXPECT_EQ(warnings[0], kData +
                             "/valid.toml:33:11: warning: source \"local_digest\" is "
                             "disabled: its state is kept, nothing is fetched");
  // Issue 11: a file notifier whose folder does not exist is said at once.
  EXPECT_EQ(warnings[1], kData +
                             "/valid.toml:38:8: warning: notifier \"log\": \"path\": the folder \"" +
                             kData + "/out\" does not exist; every line waits in the outbox "
                             "until it does");
  EXPECT_EQ(warnings[2], kData +
                             "/watches.d/20-agents.toml:7:1: warning: notifier \"spare\" is "
                             "not used by any watch, highlights or alert_notify");
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

TEST(Issue13, EnvInsideStringsWithDollarDollarForALiteralDollar) {
  TempDir dir;
  ScopedEnv token("DIGESTD_TEST_TOKEN13", "sekrit13");
  const std::string source =
      "[[source]]\nname = \"s\"\nkind = \"markdown\"\nurl = \"https://example.org/{date}.md\"\n";
  ConfigLoad load = LoadConfigText(
      source + "headers = { Authorization = \"Bearer ${DIGESTD_TEST_TOKEN13}\", "
               "X-Price = \"$$5 and $x and $${DIGESTD_TEST_TOKEN13}\" }\n",
      dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  const auto& headers = load.config->sources.at(0).headers;
  EXPECT_EQ(headers.at("Authorization"), "Bearer sekrit13");
  EXPECT_EQ(headers.at("X-Price"), "$5 and $x and ${DIGESTD_TEST_TOKEN13}");

  for (const std::string bad : {"${1X}", "${}", "${UNCLOSED", "a ${B-C} b"}) {
    load = LoadConfigText(source + "headers = { A = \"" + bad + "\" }\n", dir.File("digestd.toml"));
    EXPECT_FALSE(load.config) << bad;
    EXPECT_NE(Dump(load).find("starts no ${NAME} (letters, digits, _); write $$ for a literal $"),
              std::string::npos)
        << Dump(load);
  }
  // An unset variable inside a string names it, and no value shows in any message.
  load = LoadConfigText(source + "headers = { A = \"Bearer ${DIGESTD_TEST_UNSET}\" }\n",
                        dir.File("digestd.toml"));
  EXPECT_NE(Dump(load).find("environment variable DIGESTD_TEST_UNSET (for \"A\") is not set"),
            std::string::npos)
      << Dump(load);
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
    ScopedEnv xdg("XDG_STATE_HOME", "/xdg-state");
    ConfigLoad load = LoadConfigText("", path);
    ASSERT_TRUE(load.config) << Dump(load);
    // CONFIG.md: the CLI and the service open the same database.
    EXPECT_EQ(load.config->daemon.state_path, "/xdg-state/digestd/state.db");
    EXPECT_EQ(DefaultStatePath(kSystemConfigPath), "/var/lib/digestd/state.db");
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

// Issue 14: a PostgreSQL state by URL, its password from the environment or the whole URL
// from state_file, and the leader lease.
TEST(Issue14, PostgresStateAndLeaderLeaseAreRead) {
  TempDir dir;
  const std::string path = dir.File("digestd.toml");
  {
    ScopedEnv password("PGPASS", "s3cret");
    ConfigLoad load = LoadConfigText(
        "[daemon]\nstate = \"postgresql://digestd:${PGPASS}@db/digestd?sslmode=require\"\n"
        "leader_lease = \"10s\"\n",
        path);
    ASSERT_TRUE(load.config) << Dump(load);
    EXPECT_EQ(load.config->daemon.state_path,
              "postgresql://digestd:s3cret@db/digestd?sslmode=require");
    EXPECT_EQ(load.config->daemon.leader_lease, std::chrono::seconds(10));
    EXPECT_EQ(Dump(load).find("s3cret"), std::string::npos) << Dump(load);
  }
  {
    dir.Write("pg-url", "postgresql://digestd:filed@db/digestd\n");
    ConfigLoad load = LoadConfigText("[daemon]\nstate_file = \"pg-url\"\n", path);
    ASSERT_TRUE(load.config) << Dump(load);
    EXPECT_EQ(load.config->daemon.state_path, "postgresql://digestd:filed@db/digestd");
    EXPECT_EQ(load.config->daemon.leader_lease, std::chrono::seconds(30)) << "the default";
  }
  {
    dir.Write("not-a-url", "/var/lib/digestd/state.db\n");
    ConfigLoad load = LoadConfigText("[daemon]\nstate_file = \"not-a-url\"\n", path);
    EXPECT_FALSE(load.config);
    EXPECT_NE(Dump(load).find("must hold a postgresql:// URL"), std::string::npos) << Dump(load);
  }
  {
    // On a SQLite state the lease means nothing: said, not refused.
    ConfigLoad load = LoadConfigText("[daemon]\nleader_lease = \"10s\"\n", path);
    ASSERT_TRUE(load.config) << Dump(load);
    EXPECT_NE(Dump(load).find("applies to a PostgreSQL state only"), std::string::npos)
        << Dump(load);
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

// Issue 11 (CONFIG.md "Command line"): the search order, and an error naming every path tried.
TEST(Issue11, ConfigSearchFollowsConfigMdAndNamesEveryPathTried) {
  TempDir dir;
  {
    ScopedEnv env("DIGESTD_CONFIG", "/somewhere/my.toml");
    ScopedEnv xdg("XDG_CONFIG_HOME", "/xdg");
    EXPECT_EQ(ConfigSearchPaths(),
              (std::vector<std::string>{"/somewhere/my.toml", "./digestd.toml",
                                        "/xdg/digestd/digestd.toml", kSystemConfigPath}));
  }
  ScopedEnv env("DIGESTD_CONFIG", nullptr);
  ScopedEnv xdg("XDG_CONFIG_HOME", nullptr);
  ScopedEnv home("HOME", dir.path().c_str());
  EXPECT_EQ(ConfigSearchPaths()[1], dir.File(".config/digestd/digestd.toml"));
  if (!fs::exists("./digestd.toml") && !fs::exists(kSystemConfigPath)) {
    auto missing = FindConfigPath();
    ASSERT_FALSE(missing);
    for (const std::string& path : ConfigSearchPaths()) {
      EXPECT_NE(missing.error().message.find(path), std::string::npos) << missing.error().message;
    }
    dir.Write(".config/digestd/digestd.toml", "");
    EXPECT_EQ(*FindConfigPath(), dir.File(".config/digestd/digestd.toml"));
  }
}

// Notifiers: the error cases append one [[notifier]] table to the valid base, so its header
// is line 12, `name` line 13, `kind` line 14 and the keys under test start at line 15.
std::string Notifier(const std::string& kind, const std::string& keys) {
  return std::string(kBase) + kBaseEnd + "[[notifier]]\nname = \"x\"\nkind = \"" + kind + "\"\n" +
         keys;
}

// A webhook whose url (line 15) is valid, so the keys under test start at line 16.
std::string Webhook(const std::string& keys) {
  return Notifier("webhook", "url = \"https://hooks.example.org/T0KEN\"\n" + keys);
}

// Standard Webhooks secrets: "whsec_" and the base64 of N bytes (0, 1, 2, ... N-1).
const std::string kSecret24 = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";
const std::string kSecret32 = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const std::string kSecret64 =
    "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+"
    "Pw==";
const std::string kSecret16 = "whsec_AAECAwQFBgcICQoLDA0ODw==";
const std::string kSecret65 =
    "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+"
    "P0A=";

TEST(ConfigLoaderNotifiers, ErrorsArePositioned) {
  const ErrorCase cases[] = {
      // kinds
      {Notifier("webhok", ""), 14, 8,
       "unknown notifier kind \"webhok\" (expected email, webhook, exec, slack, discord, teams, "
       "telegram, matrix, mattermost, googlechat, ntfy, console or file) "
       "(did you mean 'webhook'?)"},
      {Notifier("Exec", ""), 14, 8, "unknown notifier kind \"Exec\""},
      {Notifier("telegram", "token = \"123:abc/x\"\nchat_id = 1\n"), 15, 9,
       "\"token\": the value is not a bot token"},
      {Notifier("telegram", "token = \"123:abc\"\nchat_id = \"me\"\n"), 16, 11,
       "\"chat_id\": expected a chat number"},
      {Notifier("matrix",
                "homeserver = \"https://m.org\"\nroom_id = \"#alias:m.org\"\naccess_token = \"t\"\n"),
       16, 11, "\"room_id\": \"#alias:m.org\" is not a room id"},
      {Notifier("ntfy", "url = \"https://ntfy.sh/\"\n"), 15, 7,
       "\"url\": give the server and the topic"},
      {Notifier("ntfy", "url = \"https://ntfy.sh/t\"\npriority = \"loud\"\n"), 16, 12,
       "\"priority\": expected 1-5 or min, low, default, high, max, urgent; got \"loud\""},
      {Notifier("ntfy", "url = \"https://ntfy.sh/t\"\npriority = 9\n"), 16, 12,
       "\"priority\": 9 is out of range 1..5"},
      // required keys
      {Notifier("webhook", ""), 12, 1,
       "notifier \"x\" is missing required key \"url\" (kind \"webhook\")"},
      {Notifier("exec", ""), 12, 1,
       "notifier \"x\" is missing required key \"command\" (kind \"exec\")"},
      {Notifier("file", ""), 12, 1, "missing required key \"path\" (kind \"file\")"},
      // keys of other kinds, unknown keys
      {Webhook("command = [\"a\"]\n"), 16, 1,
       "\"command\" does not apply to notifier kind \"webhook\""},
      {Webhook("path = \"x\"\n"), 16, 1, "\"path\" does not apply to notifier kind \"webhook\""},
      {Webhook("to = [\"a@example.org\"]\n"), 16, 1,
       "\"to\" does not apply to notifier kind \"webhook\""},
      {Notifier("exec", "command = [\"a\"]\nurl = \"https://x\"\n"), 16, 1,
       "\"url\" does not apply to notifier kind \"exec\""},
      {Notifier("exec", "command = [\"a\"]\ntls_verify = false\n"), 16, 1,
       "\"tls_verify\" does not apply to notifier kind \"exec\""},
      {Notifier("exec", "command = [\"a\"]\nca_file = \"ca.pem\"\n"), 16, 1,
       "\"ca_file\" does not apply to notifier kind \"exec\""},
      {Notifier("console", "timeout = \"5s\"\n"), 15, 1,
       "\"timeout\" does not apply to notifier kind \"console\""},
      {Notifier("file", "path = \"x\"\ntemplate_file = \"t.mustache\"\n"), 16, 1,
       "\"template_file\" does not apply to notifier kind \"file\""},
      {Webhook("secrets = \"x\"\n"), 16, 1,
       "unknown key \"secrets\" in [[notifier]] (did you mean 'secret'?)"},
      {Notifier("exec", "command = [\"a\"]\nenvs = [\"A\"]\n"), 16, 1,
       "unknown key \"envs\" in [[notifier]] (did you mean 'env'?)"},
      {Notifier("console", "max_paper = 3\n"), 15, 1, "(did you mean 'max_papers'?)"},
      // template_file: every kind but file reads it (issue 9 point 5)
      {Notifier("console", "template_file = \"t.mustache\"\n"), 15, 17,
       "\"template_file\": cannot read"},
      {Notifier("slack", "url = \"https://hooks.slack.com/services/T\"\n"
                         "template_file = \"missing.mustache\"\n"),
       16, 17, "\"template_file\": cannot read"},
      {Webhook("template_file = \"t.mustache\"\n"), 16, 17, "\"template_file\": cannot read"},
      {Notifier("exec", "command = [\"a\"]\ntemplate_file = \"t.mustache\"\n"), 16, 17,
       "\"template_file\": cannot read"},
      // keys every notifier has
      {Notifier("console", "enabled = \"yes\"\n"), 15, 11, "\"enabled\": expected a boolean"},
      {Notifier("console", "max_papers = 0\n"), 15, 14,
       "\"max_papers\": 0 is out of range 1..100000"},
      {Notifier("console", "max_papers = 100001\n"), 15, 14, "is out of range 1..100000"},
      {Notifier("console", "group = \"papers\"\n"), 15, 9,
       "\"group\": \"papers\" is not one of paper or digest (did you mean 'paper'?)"},
      {Notifier("console", "group = 1\n"), 15, 9, "\"group\": expected a string, got an integer"},
      {Notifier("console", "max_in_flight = 0\n"), 15, 17,
       "\"max_in_flight\": 0 is out of range 1..1000"},
      {Webhook("max_in_flight = 1001\n"), 16, 17, "1001 is out of range 1..1000"},
      {Notifier("console", "min_interval = \"fast\"\n"), 15, 16,
       "\"min_interval\": \"fast\" is not a duration"},
      {Notifier("console", "min_interval = 5\n"), 15, 16,
       "\"min_interval\": expected a duration string like \"30s\", got an integer"},
      {Notifier("console", "retry_max_attempts = 0\n"), 15, 22,
       "\"retry_max_attempts\": 0 is out of range 1..1000"},
      {Notifier("console", "retry_max_age = \"0s\"\n"), 15, 17,
       "\"retry_max_age\": \"0s\" is not a positive duration"},
      // network keys
      {Webhook("timeout = \"soon\"\n"), 16, 11, "\"timeout\": \"soon\" is not a positive duration"},
      {Webhook("tls_verify = \"no\"\n"), 16, 14, "\"tls_verify\": expected a boolean"},
      {Webhook("ca_file = \"missing.pem\"\n"), 16, 11, "\"ca_file\": cannot read \""},
      {Webhook("ca_file = \".\"\n"), 16, 11, "is a directory"},
      {Webhook("ca_file = \"\"\n"), 16, 11, "\"ca_file\" must not be empty"},
      // webhook url
      {Notifier("webhook", "url = 3\n"), 15, 7, "\"url\": expected a string, got an integer"},
      {Notifier("webhook", "url = \"ftp://example.org/hook\"\n"), 15, 7,
       "\"url\": must be an https:// URL (or http:// to a loopback host)"},
      {Notifier("webhook", "url = \"hooks.example.org/T0KEN\"\n"), 15, 7,
       "\"url\": must be an https:// URL"},
      {Notifier("webhook", "url = \"http://example.org/T0KEN\"\n"), 15, 7,
       "\"url\": plain http:// is refused except to loopback; use https://"},
      {Notifier("webhook", "url = \"https:///T0KEN\"\n"), 15, 7, "\"url\": the URL has no host"},
      {Notifier("webhook", "url = \"https://example.org/a b\"\n"), 15, 7,
       "\"url\": the URL contains a space or a control character"},
      {Notifier("webhook", "url = \"https://x\"\nurl_file = \"u\"\n"), 16, 12,
       "give either \"url\" or \"url_file\", not both"},
      {Notifier("webhook", "url_file = \"no-such-file\"\n"), 15, 12, "cannot read \"url_file\""},
      {Notifier("webhook", "url = \"${DIGESTD_TEST_UNSET}\"\n"), 15, 7,
       "environment variable DIGESTD_TEST_UNSET (for \"url\") is not set"},
      // webhook secret
      {Webhook("secret = \"s3cret\"\n"), 16, 10,
       "\"secret\": the value must start with \"whsec_\""},
      {Webhook("secret = \"whsec_!!!!\"\n"), 16, 10,
       "\"secret\": the value is not \"whsec_\" followed by valid base64"},
      {Webhook("secret = \"whsec_AAAA=\"\n"), 16, 10, "followed by valid base64"},
      {Webhook("secret = \"whsec_AAAAA\"\n"), 16, 10, "followed by valid base64"},
      {Webhook("secret = \"" + kSecret16 + "\"\n"), 16, 10,
       "\"secret\": the value decodes to 16 bytes; a Standard Webhooks secret has 24 to 64"},
      {Webhook("secret = \"" + kSecret65 + "\"\n"), 16, 10, "decodes to 65 bytes"},
      {Webhook("secret = [\"" + kSecret24 + "\", \"bad\"]\n"), 16, 53,
       "\"secret\": entry 2 must start with \"whsec_\""},
      {Webhook("secret = []\n"), 16, 10, "\"secret\" must hold at least one \"whsec_...\" secret"},
      {Webhook("secret = 5\n"), 16, 10,
       "\"secret\": expected a \"whsec_...\" string or an array of them, got an integer"},
      {Webhook("secret = [\"" + kSecret24 + "\"]\nsecret_file = \"s\"\n"), 17, 15,
       "give either \"secret\" or \"secret_file\", not both"},
      {Webhook("secret = [\"" + kSecret24 + "\", 5]\n"), 16, 53, "got an element that is"},
      {Webhook("secret = \"${DIGESTD_TEST_UNSET}\"\n"), 16, 10,
       "environment variable DIGESTD_TEST_UNSET (for \"secret\") is not set"},
      // webhook headers and method
      {Webhook("headers = { \"Bad Name\" = \"v\" }\n"), 16, 13,
       "\"headers\": \"Bad Name\" is not a valid header name"},
      {Webhook("headers = { A = 1 }\n"), 16, 17, "\"headers\": \"A\": expected a string"},
      {Webhook("headers = { A_file = 1 }\n"), 16, 22,
       "\"headers\": \"A_file\": expected a path string"},
      {Webhook("headers = { A_file = \"missing\" }\n"), 16, 22, "cannot read \"A_file\""},
      {Webhook("headers = { A = \"1\", A_file = \"f\" }\n"), 16, 31,
       "give either \"A\" or \"A_file\", not both"},
      {Webhook("headers = { A = \"${DIGESTD_TEST_UNSET}\" }\n"), 16, 17,
       "environment variable DIGESTD_TEST_UNSET (for \"A\") is not set"},
      {Webhook("headers = [\"A\"]\n"), 16, 11, "\"headers\": expected a table of strings"},
      {Webhook("method = \"GET\"\n"), 16, 10, "\"method\": \"GET\" is not one of POST or PUT"},
      {Webhook("method = \"post\"\n"), 16, 10, "(did you mean 'POST'?)"},
      // email (issue 8): line 15 on; secrets never shown
      {Notifier("email", "url = \"https://x\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n"), 15, 7,
       "\"url\": must be smtps://host:465 (TLS) or smtp://host:587 (STARTTLS)"},
      {Notifier("email", "url = \"smtp://mail.example.org\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n"
                         "starttls = \"never\"\n"),
       18, 12, "\"starttls\": \"never\" sends mail and password in plain text"},
      {Notifier("email", "url = \"smtps://x\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n"
                         "starttls = \"maybe\"\n"),
       18, 12, "\"starttls\": \"maybe\" is not one of required, if-offered or never"},
      {Notifier("email", "url = \"smtps://x\"\nfrom = \"no at sign\"\nto = [\"c@d\"]\n"), 16, 8,
       "\"from\": \"no at sign\": the address may hold only printable ASCII"},
      {Notifier("email", "url = \"smtps://x\"\nfrom = \"A <a@b\"\nto = [\"c@d\"]\n"), 16, 8,
       "has '<' but no closing '>'"},
      {Notifier("email", "url = \"smtps://x\"\nfrom = \"a@b\"\nto = []\n"), 17, 6,
       "\"to\" must hold at least one address"},
      {Notifier("email", "url = \"smtps://x\"\nfrom = \"a@b\"\nto = [\"c@d\", \"x@y@z\"]\n"), 17,
       14, "\"to\": \"x@y@z\": the address must be local@domain"},
      {Notifier("email", "url = \"smtps://x\"\nfrom = \"a@b\"\nto = [\"c@d\"]\nbcc = [\"\"]\n"),
       18, 8, "\"bcc\": entries must not be empty"},
      {Notifier("email", "url = \"smtps://x\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n"
                         "password = \"${DIGESTD_TEST_UNSET}\"\n"),
       18, 12, "environment variable DIGESTD_TEST_UNSET (for \"password\") is not set"},
      {Notifier("email", "url = \"smtps://x\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n"
                         "password = \"hunter2\"\n"),
       18, 12, "\"password\" is given without \"username\""},
      {Notifier("email", "url = \"smtps://x\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n"
                         "username = \"u\"\npassword_file = \"missing\"\n"),
       19, 17, "cannot read \"password_file\""},
      {Notifier("email", "url = \"smtps://x\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n"
                         "list_unsubscribe = \"http://x/u\"\n"),
       18, 20, "\"list_unsubscribe\": \"http://x/u\" must be an https:// URL or a mailto:"},
      {Notifier("email", "url = \"smtps://x\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n"
                         "subject_prefix = \"a\\nb\"\n"),
       18, 18, "\"subject_prefix\": must not hold a line break"},
      // exec
      {Notifier("exec", "command = []\n"), 15, 11,
       "\"command\" must name the program and its arguments"},
      {Notifier("exec", "command = \"/bin/notify --all\"\n"), 15, 11,
       "\"command\": expected an array of strings, got a string"},
      {Notifier("exec", "command = [\"a\", 1]\n"), 15, 17, "got an element that is an integer"},
      {Notifier("exec", "command = [\"a\", \"\"]\n"), 15, 17, "entries must not be empty"},
      {Notifier("exec", "command = [\"a\"]\nenv = [\"HOME\", \"1BAD\"]\n"), 16, 16,
       "\"env\": \"1BAD\" is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"},
      {Notifier("exec", "command = [\"a\"]\nenv = [\"A-B\"]\n"), 16, 8, "\"A-B\" is not an"},
      {Notifier("exec", "command = [\"a\"]\nenv = \"HOME\"\n"), 16, 7,
       "\"env\": expected an array of strings"},
      {Notifier("exec", "command = [\"a\"]\ntimeout = \"0s\"\n"), 16, 11,
       "\"timeout\": \"0s\" is not a positive duration"},
      // file
      {Notifier("file", "path = \"\"\n"), 15, 8, "\"path\" must not be empty"},
      {Notifier("file", "path = 1\n"), 15, 8, "\"path\": expected a string, got an integer"},
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
    EXPECT_EQ(errors[0].line, c.line) << c.text << Dump(load);
    EXPECT_EQ(errors[0].column, c.column) << c.text << Dump(load);
    EXPECT_NE(errors[0].message.find(c.message), std::string::npos) << c.text << Dump(load);
    for (const ConfigDiagnostic& d : load.diagnostics) {
      // Neither the token in a URL nor any part of a secret is ever shown.
      EXPECT_EQ(d.message.find("T0KEN"), std::string::npos) << d.ToString();
      EXPECT_EQ(d.message.find("s3cret"), std::string::npos) << d.ToString();
      EXPECT_EQ(d.message.find("AAEC"), std::string::npos) << d.ToString();
      EXPECT_EQ(d.message.find("!!!!"), std::string::npos) << d.ToString();
    }
  }
}

TEST(ConfigLoaderNotifiers, DefaultsPerKind) {
  struct Case {
    std::string kind;
    std::string keys;
    int max_in_flight;
    std::size_t settings_index;  // the KindSettings alternative
  };
  const Case cases[] = {
      {"console", "", 512, 1},
      {"file", "path = \"out.jsonl\"\n", 512, 2},
      {"webhook", "url = \"https://hooks.example.org/x\"\n", 4, 3},
      {"exec", "command = [\"notify-papers\"]\n", 4, 4},
  };
  for (const Case& c : cases) {
    TempDir dir;
    ConfigLoad load = LoadConfigText(Notifier(c.kind, c.keys), dir.File("digestd.toml"));
    ASSERT_TRUE(load.config) << c.kind << Dump(load);
    const NotifierConfig& n = load.config->notifiers.back();
    EXPECT_EQ(n.name, "x");
    EXPECT_EQ(n.kind, c.kind);
    EXPECT_TRUE(n.enabled) << c.kind;
    EXPECT_EQ(n.max_papers, 50) << c.kind;
    EXPECT_EQ(n.group, Grouping::kPaper) << c.kind;
    EXPECT_EQ(n.max_in_flight, c.max_in_flight) << c.kind;
    EXPECT_EQ(n.min_interval, std::chrono::milliseconds(0)) << c.kind;
    EXPECT_EQ(n.retry_max_attempts, 12) << c.kind;
    EXPECT_EQ(n.retry_max_age, std::chrono::hours(24)) << c.kind;
    EXPECT_EQ(n.timeout, std::chrono::seconds(30)) << c.kind;
    EXPECT_TRUE(n.tls_verify) << c.kind;
    EXPECT_EQ(n.ca_file, "") << c.kind;
    EXPECT_EQ(n.settings.index(), c.settings_index) << c.kind;
  }
  TempDir dir;
  ConfigLoad load = LoadConfigText(Notifier("webhook", "url = \"https://h.example.org/\"\n"),
                                   dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  const auto& webhook = std::get<WebhookSettings>(load.config->notifiers.back().settings);
  EXPECT_EQ(webhook.url, "https://h.example.org/");
  EXPECT_EQ(webhook.method, "POST");
  EXPECT_TRUE(webhook.secrets.empty());
  EXPECT_TRUE(webhook.headers.empty());
}

TEST(ConfigLoaderNotifiers, CommonKeysAreRead) {
  struct Case {
    std::string kind;
    std::string keys;
  };
  const std::string common =
      "enabled = false\nmax_papers = 7\ngroup = \"digest\"\nmax_in_flight = 2\n"
      "min_interval = \"1500ms\"\nretry_max_attempts = 3\nretry_max_age = \"90m\"\n";
  const Case cases[] = {
      {"console", ""},
      {"file", "path = \"m.jsonl\"\n"},
      {"webhook", "url = \"https://h.example.org/\"\ntimeout = \"5s\"\n"},
      {"exec", "command = [\"notify\"]\ntimeout = \"5s\"\n"},
  };
  for (const Case& c : cases) {
    TempDir dir;
    ConfigLoad load = LoadConfigText(Notifier(c.kind, common + c.keys), dir.File("digestd.toml"));
    ASSERT_TRUE(load.config) << c.kind << Dump(load);
    const NotifierConfig& n = load.config->notifiers.back();
    EXPECT_FALSE(n.enabled);
    EXPECT_EQ(n.max_papers, 7);
    EXPECT_EQ(n.group, Grouping::kDigest);
    EXPECT_EQ(n.max_in_flight, 2);
    EXPECT_EQ(n.min_interval, std::chrono::milliseconds(1500));
    EXPECT_EQ(n.retry_max_attempts, 3);
    EXPECT_EQ(n.retry_max_age, std::chrono::minutes(90));
    if (!c.keys.empty() && c.kind != "file") {
      EXPECT_EQ(n.timeout, std::chrono::seconds(5)) << c.kind;
    }
  }
  // "0s" is a pace of none; "group = paper" overrides a digest default as well.
  TempDir dir;
  ConfigLoad load = LoadConfigText(
      Notifier("console", "min_interval = \"0s\"\ngroup = \"paper\"\n"), dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  EXPECT_EQ(load.config->notifiers.back().min_interval, std::chrono::milliseconds(0));
  EXPECT_EQ(load.config->notifiers.back().group, Grouping::kPaper);
}

TEST(ConfigLoaderNotifiers, TlsVerifyWarnsAndCaFileIsAnchored) {
  TempDir dir;
  dir.Write("certs/ca.pem", "-----BEGIN CERTIFICATE-----\n");
  ConfigLoad load = LoadConfigText(Webhook("tls_verify = false\nca_file = \"certs/ca.pem\"\n"),
                                   dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  const NotifierConfig& n = load.config->notifiers.back();
  EXPECT_FALSE(n.tls_verify);
  EXPECT_EQ(n.ca_file, dir.File("certs/ca.pem"));
  int warned = 0;
  for (const ConfigDiagnostic& d : load.diagnostics) {
    if (d.message == "notifier \"x\": TLS certificates are not verified") {
      ++warned;
      EXPECT_TRUE(d.warning);
      EXPECT_EQ(d.line, 16);
      EXPECT_EQ(d.column, 14);
    }
  }
  EXPECT_EQ(warned, 1) << Dump(load);
}

TEST(ConfigLoaderNotifiers, PlainHttpOnlyToLoopback) {
  struct Case {
    std::string url;
    bool accepted;
  };
  const Case cases[] = {
      {"https://hooks.example.org/T0KEN", true},
      {"HTTPS://hooks.example.org:8443/T0KEN?x=1", true},
      {"https://user:T0KEN@hooks.example.org/", true},
      {"http://127.0.0.1:8080/T0KEN", true},
      {"http://127.255.1.2/T0KEN", true},
      {"http://localhost/T0KEN", true},
      {"http://LocalHost:9000", true},
      {"http://[::1]:9000/T0KEN", true},
      {"http://user:T0KEN@127.0.0.1/", true},
      {"http://hooks.example.org/T0KEN", false},
      {"http://10.0.0.1/T0KEN", false},
      {"http://128.0.0.1/T0KEN", false},
      {"http://127.0.0.1.example.org/T0KEN", false},
      {"http://localhost.example.org/T0KEN", false},
      {"http://[::2]/T0KEN", false},
      {"http://127.0.0.1@example.org/T0KEN", false},
      {"http://example.org#@127.0.0.1/T0KEN", false},
      {"file:///tmp/T0KEN", false},
      {"smtp://127.0.0.1/T0KEN", false},
  };
  for (const Case& c : cases) {
    TempDir dir;
    ConfigLoad load =
        LoadConfigText(Notifier("webhook", "url = \"" + c.url + "\"\n"), dir.File("digestd.toml"));
    EXPECT_EQ(load.config != nullptr, c.accepted) << c.url << Dump(load);
    if (c.accepted && load.config) {
      EXPECT_EQ(std::get<WebhookSettings>(load.config->notifiers.back().settings).url, c.url);
    }
    for (const ConfigDiagnostic& d : load.diagnostics) {
      EXPECT_EQ(d.message.find("T0KEN"), std::string::npos) << d.ToString();
      EXPECT_EQ(d.message.find(c.url), std::string::npos) << d.ToString();
    }
  }
}

TEST(ConfigLoaderNotifiers, WebhookSecrets) {
  struct Case {
    std::string secret;                // the TOML value
    std::vector<std::string> secrets;  // what is read; empty: an error
  };
  const Case cases[] = {
      {"\"" + kSecret24 + "\"", {kSecret24}},
      {"\"" + kSecret32 + "\"", {kSecret32}},
      {"\"" + kSecret64 + "\"", {kSecret64}},
      // Padding is optional.
      {"\"" + kSecret32.substr(0, kSecret32.size() - 1) + "\"",
       {kSecret32.substr(0, kSecret32.size() - 1)}},
      // Rotation: several at once.
      {"[\"" + kSecret32 + "\", \"" + kSecret24 + "\"]", {kSecret32, kSecret24}},
      {"\"" + kSecret16 + "\"", {}},
      {"\"" + kSecret65 + "\"", {}},
      {"\"whsec" + kSecret24.substr(6) + "\"", {}},
      {"\"WHSEC_" + kSecret24.substr(6) + "\"", {}},
      {"\"" + kSecret24 + "=\"", {}},   // padding where none belongs
      {"\"" + kSecret32 + "==\"", {}},  // too much padding
      {"\"" + kSecret24 + "-_\"", {}},  // the URL-safe alphabet is not standard base64
      {"\"whsec_\"", {}},
      {"\"\"", {}},
  };
  for (const Case& c : cases) {
    TempDir dir;
    ConfigLoad load = LoadConfigText(Webhook("secret = " + c.secret + "\n"), dir.File("d.toml"));
    if (c.secrets.empty()) {
      EXPECT_FALSE(load.config) << c.secret;
    } else {
      ASSERT_TRUE(load.config) << c.secret << Dump(load);
      EXPECT_EQ(std::get<WebhookSettings>(load.config->notifiers.back().settings).secrets,
                c.secrets);
    }
    for (const ConfigDiagnostic& d : load.diagnostics) {
      EXPECT_EQ(d.message.find("AAEC"), std::string::npos) << d.ToString();
    }
  }
}

TEST(ConfigLoaderNotifiers, WebhookSecretFormsAndHeaders) {
  TempDir dir;
  TempDir credentials;
  dir.Write("hook-url", "https://hooks.example.org/services/T0KEN\n");
  dir.Write("hook-secret", kSecret24 + "\n");
  // Rotation through a file: one secret per line, blank lines skipped.
  credentials.Write("hook-secret", kSecret32 + "\r\n\n" + kSecret24 + "\n");
  credentials.Write("api-key", "k3y-from-credentials\n");
  ScopedEnv creds("CREDENTIALS_DIRECTORY", credentials.path().c_str());
  ScopedEnv token("DIGESTD_TEST_TOKEN", "Bearer env-t0ken");
  const std::string text =
      Notifier("webhook",
               "url_file = \"hook-url\"\n"
               "secret_file = \"hook-secret\"\n"
               "headers = { Authorization = \"${DIGESTD_TEST_TOKEN}\", X-Api-Key_file = "
               "\"api-key\", X-Plain = \"on\" }\n"
               "method = \"PUT\"\n");
  ConfigLoad load = LoadConfigText(text, dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  auto webhook = std::get<WebhookSettings>(load.config->notifiers.back().settings);
  EXPECT_EQ(webhook.url, "https://hooks.example.org/services/T0KEN");
  EXPECT_EQ(webhook.secrets, (std::vector<std::string>{kSecret32, kSecret24}));
  EXPECT_EQ(webhook.headers,
            (std::map<std::string, std::string>{{"Authorization", "Bearer env-t0ken"},
                                                {"X-Api-Key", "k3y-from-credentials"},
                                                {"X-Plain", "on"}}));
  EXPECT_EQ(webhook.method, "PUT");

  // Without $CREDENTIALS_DIRECTORY, relative *_file paths are anchored at the config file.
  ScopedEnv no_creds("CREDENTIALS_DIRECTORY", nullptr);
  dir.Write("api-key", "k3y-from-config-dir");
  load = LoadConfigText(text, dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  webhook = std::get<WebhookSettings>(load.config->notifiers.back().settings);
  EXPECT_EQ(webhook.secrets, std::vector<std::string>{kSecret24});
  EXPECT_EQ(webhook.headers.at("X-Api-Key"), "k3y-from-config-dir");

  // A secret file with a bad line names the line, never its text; a plain http:// URL read
  // from a file is refused without showing it.
  dir.Write("hook-secret", kSecret24 + "\nwhsec_sh0rt0AA\n");
  dir.Write("hook-url", "http://hooks.example.org/services/T0KEN\n");
  load = LoadConfigText(text, dir.File("digestd.toml"));
  ASSERT_FALSE(load.config);
  std::vector<ConfigDiagnostic> errors = Errors(load);
  ASSERT_EQ(errors.size(), 2u) << Dump(load);
  EXPECT_EQ(errors[0].line, 15);
  EXPECT_EQ(errors[0].column, 12);
  EXPECT_NE(errors[0].message.find("plain http:// is refused"), std::string::npos);
  EXPECT_EQ(errors[1].line, 16);
  EXPECT_EQ(errors[1].column, 15);
  EXPECT_EQ(errors[1].message,
            "\"secret\": line 2 of \"secret_file\" decodes to 6 bytes; a Standard Webhooks "
            "secret has 24 to 64");
  for (const ConfigDiagnostic& d : load.diagnostics) {
    for (const char* hidden : {"T0KEN", "sh0rt", "t0ken", "k3y", "AAEC"}) {
      EXPECT_EQ(d.ToString().find(hidden), std::string::npos) << d.ToString();
    }
  }
}

TEST(ConfigLoaderNotifiers, SourceHeadersTakeTheFileFormToo) {
  TempDir dir;
  dir.Write("hf-token", "Bearer from-file\n");
  const std::string text = std::string(kBase) + kBaseEnd +
                           "[[source]]\nname = \"t\"\nkind = \"hf-daily\"\n"
                           "url = \"https://example.org/{date}\"\n"
                           "headers = { Authorization_file = \"hf-token\" }\n";
  ScopedEnv no_creds("CREDENTIALS_DIRECTORY", nullptr);
  ConfigLoad load = LoadConfigText(text, dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  EXPECT_EQ(load.config->FindSource("t")->headers.at("Authorization"), "Bearer from-file");
}

TEST(ConfigLoaderNotifiers, ExecCommandIsResolved) {
  TempDir dir;
  dir.Write("bin/notify", "#!/bin/sh\ncat >/dev/null\n");
  ASSERT_EQ(::chmod(dir.File("bin/notify").c_str(), 0755), 0);
  dir.Write("bin/not-executable", "");
  struct Case {
    std::string program;   // command[0] as written
    std::string resolved;  // as read
    bool warns;            // "is not an executable file"
  };
  const Case cases[] = {
      {"notify-papers", "notify-papers", false},  // a bare name: looked up in PATH at run time
      {"/bin/sh", "/bin/sh", false},
      {"bin/notify", dir.File("bin/notify"), false},
      {"./bin/notify", dir.File("bin/notify"), false},
      {"bin/../bin/notify", dir.File("bin/notify"), false},
      {"bin/not-executable", dir.File("bin/not-executable"), true},
      {"bin/missing", dir.File("bin/missing"), true},
      {"/nonexistent/digestd-notify", "/nonexistent/digestd-notify", true},
      {"./bin", dir.File("bin"), true},  // a directory
  };
  for (const Case& c : cases) {
    ConfigLoad load = LoadConfigText(
        Notifier("exec", "command = [\"" + c.program +
                             "\", \"--flag\", \"two words\"]\nenv = [\"HOME\", \"_X1\"]\n"),
        dir.File("digestd.toml"));
    ASSERT_TRUE(load.config) << c.program << Dump(load);
    const NotifierConfig& n = load.config->notifiers.back();
    const auto& exec = std::get<ExecSettings>(n.settings);
    EXPECT_EQ(exec.command, (std::vector<std::string>{c.resolved, "--flag", "two words"}));
    EXPECT_EQ(exec.env, (std::vector<std::string>{"HOME", "_X1"}));
    int warned = 0;
    for (const ConfigDiagnostic& d : load.diagnostics) {
      if (d.message.find("is not an executable file") != std::string::npos) {
        ++warned;
        EXPECT_EQ(d.line, 15);
        EXPECT_EQ(d.column, 12);
      }
    }
    EXPECT_EQ(warned, c.warns ? 1 : 0) << c.program << Dump(load);
  }
  ConfigLoad load = LoadConfigText(Notifier("exec", "command = [\"notify\"]\ntimeout = \"2m\"\n"),
                                   dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  EXPECT_EQ(load.config->notifiers.back().timeout, std::chrono::minutes(2));
}

TEST(ConfigLoaderNotifiers, KindsNotBuiltAreStillTypeChecked) {
  struct Case {
    std::string text;
    std::vector<std::pair<int, std::string>> errors;  // line and message part, in order
  };
  const Case cases[] = {
      // Every kind is built: its own errors, and no "not supported yet".
      {Notifier("email", "url = \"smtps://x\"\nfrom = \"a@example.org\"\nto = \"me@example.org\"\n"),
       {{17, "\"to\": expected an array of strings, got a string"}}},
      {Notifier("email",
                "url = \"smtps://x\"\nfrom = \"a@example.org\"\nto = [\"t@example.org\"]\ncc = [1]\n"),
       {{18, "\"cc\": expected an array of strings"}}},
      {Notifier("slack", "url = 3\n"), {{15, "\"url\": expected a string, got an integer"}}},
      {Notifier("slack", "url_file = \"missing\"\n"), {{15, "cannot read \"url_file\""}}},
      {Notifier("telegram", "token = \"t\"\nchat_id = 12345\n"), {{15, "is not a bot token"}}},
      {Notifier("telegram", "token = \"1:t\"\nchat_id = true\n"),
       {{16, "\"chat_id\": expected a string, got a boolean"}}},
      {Notifier("ntfy", "url = \"https://ntfy.sh/papers\"\npriority = 4\ntimeout = \"x\"\n"),
       {{17, "\"timeout\": \"x\" is not a positive duration"}}},
      {Notifier("matrix",
                "homeserver = \"https://m.org\"\nroom_id = \"!r:m.org\"\n"
                "access_token = \"a\"\ncommand = [\"a\"]\n"),
       {{18, "\"command\" does not apply to notifier kind \"matrix\""}}},
  };
  for (const Case& c : cases) {
    TempDir dir;
    ConfigLoad load = LoadConfigText(c.text, dir.File("digestd.toml"));
    EXPECT_FALSE(load.config);
    std::vector<ConfigDiagnostic> errors = Errors(load);
    ASSERT_EQ(errors.size(), c.errors.size()) << c.text << Dump(load);
    for (std::size_t i = 0; i < errors.size(); ++i) {
      EXPECT_EQ(errors[i].line, c.errors[i].first) << c.text << Dump(load);
      EXPECT_NE(errors[i].message.find(c.errors[i].second), std::string::npos)
          << c.text << Dump(load);
    }
  }
}

TEST(ConfigLoaderNotifiers, BundledExampleLoads) {
  const fs::path examples = fs::path(DIGESTD_TEST_DATA) / "../../examples";
  for (const char* name : {"digestd.toml", "demo/digestd.toml"}) {
    ConfigLoad load = LoadConfig((examples / name).lexically_normal().string());
    EXPECT_TRUE(load.config) << name << Dump(load);
    // The real-world example writes under /var/lib/digestd, made by the package: on a
    // machine without it, that one warning is right.
    for (const ConfigDiagnostic& d : load.diagnostics) {
      EXPECT_NE(d.message.find("the folder \"/var/lib/digestd\" does not exist"), std::string::npos)
          << name << Dump(load);
    }
  }
}

}  // namespace
}  // namespace digestd

namespace digestd {
namespace {

TEST(Issue8, EmailSettingsAreRead) {
  TempDir dir;
  const std::string password_path = dir.File("smtp-password");
  { std::ofstream(password_path) << "pa ss\n"; }
  ConfigLoad load = LoadConfigText(
      std::string("[daemon]\nalert_notify = [\"n\"]\n") + kBase + kBaseEnd +
          "[[notifier]]\nname = \"me\"\nkind = \"email\"\nurl = \"smtp://mail.example.org:587\"\n"
          "from = \"다이제스트 <bot@example.org>\"\nto = [\"Ana <ana@example.org>\"]\n"
          "cc = [\"c@example.org\"]\nbcc = [\"b@example.org\"]\nusername = \"bot\"\n"
          "password_file = \"smtp-password\"\nsubject_prefix = \"[papers]\"\n"
          "list_unsubscribe = [\"https://example.org/u\", \"mailto:u@example.org\"]\n"
          "[[notifier]]\nname = \"local\"\nkind = \"email\"\nurl = \"smtp://127.0.0.1:2525\"\n"
          "from = \"bot@example.org\"\nto = [\"a@example.org\"]\n",
      dir.File("digestd.toml"));
  ASSERT_TRUE(load.config) << Dump(load);
  const NotifierConfig& me = load.config->notifiers[1];
  EXPECT_EQ(me.group, Grouping::kDigest) << "email groups by digest unless told";
  const auto& email = std::get<EmailSettings>(me.settings);
  EXPECT_EQ(email.url, "smtp://mail.example.org:587");
  EXPECT_EQ(email.from, "다이제스트 <bot@example.org>");
  EXPECT_EQ(email.to, std::vector<std::string>{"Ana <ana@example.org>"});
  EXPECT_EQ(email.cc, std::vector<std::string>{"c@example.org"});
  EXPECT_EQ(email.bcc, std::vector<std::string>{"b@example.org"});
  EXPECT_EQ(email.username, "bot");
  EXPECT_EQ(email.password, "pa ss");
  EXPECT_EQ(email.starttls, StartTls::kRequired);
  EXPECT_EQ(email.subject_prefix, "[papers]");
  EXPECT_EQ(email.list_unsubscribe.size(), 2u);
  // On loopback STARTTLS is used when offered (CONFIG.md).
  EXPECT_EQ(std::get<EmailSettings>(load.config->notifiers[2].settings).starttls,
            StartTls::kIfOffered);
}

TEST(Issue8, EmailSecretsNeverShowInErrors) {
  TempDir dir;
  ConfigLoad load = LoadConfigText(
      std::string(kBase) + kBaseEnd +
          "[[notifier]]\nname = \"me\"\nkind = \"email\"\nurl = \"ftp://user:TOPSECRET@x\"\n"
          "from = \"a@b\"\nto = [\"c@d\"]\npassword = \"TOPSECRET\"\n",
      dir.File("digestd.toml"));
  EXPECT_FALSE(load.config);
  EXPECT_EQ(Dump(load).find("TOPSECRET"), std::string::npos) << Dump(load);
}

TEST(Issue9, ChatKindsReadTheirSettingsAndTheirDefaultsComeFromTheLimitsTable) {
  TempDir dir;
  {
    ConfigLoad load = LoadConfigText(
        Notifier("telegram", "token = \"123456:AbC-d_E\"\nchat_id = -1001234\n"
                             "api_url = \"http://127.0.0.1:9/\"\n"),
        dir.File("digestd.toml"));
    ASSERT_TRUE(load.config) << Dump(load);
    const NotifierConfig& n = load.config->notifiers.back();
    const auto& s = std::get<TelegramSettings>(n.settings);
    EXPECT_EQ(s.token, "123456:AbC-d_E");
    EXPECT_EQ(s.chat_id, "-1001234");
    EXPECT_EQ(s.api_url, "http://127.0.0.1:9");
    EXPECT_EQ(n.max_papers, LimitsFor("telegram").default_max_papers);
    EXPECT_EQ(n.min_interval, LimitsFor("telegram").default_min_interval);
    EXPECT_EQ(n.group, Grouping::kDigest);
  }
  {
    ConfigLoad load = LoadConfigText(
        Notifier("ntfy", "url = \"https://ntfy.example.org/papers\"\ntoken = \"tk_x\"\n"
                         "priority = \"high\"\nmax_papers = 2\nmin_interval = \"7s\"\n"),
        dir.File("digestd.toml"));
    ASSERT_TRUE(load.config) << Dump(load);
    const NotifierConfig& n = load.config->notifiers.back();
    const auto& s = std::get<NtfySettings>(n.settings);
    EXPECT_EQ(s.url, "https://ntfy.example.org/papers");
    EXPECT_EQ(s.token, "tk_x");
    EXPECT_EQ(s.priority, 4);
    EXPECT_EQ(n.max_papers, 2);  // the config wins over the table
    EXPECT_EQ(n.min_interval, std::chrono::seconds(7));
  }
  {
    ConfigLoad load = LoadConfigText(
        Notifier("matrix", "homeserver = \"https://m.example.org/\"\nroom_id = \"!r:m.org\"\n"
                           "access_token = \"syt_x\"\n"),
        dir.File("digestd.toml"));
    ASSERT_TRUE(load.config) << Dump(load);
    const auto& s = std::get<MatrixSettings>(load.config->notifiers.back().settings);
    EXPECT_EQ(s.homeserver, "https://m.example.org");
    EXPECT_EQ(s.room_id, "!r:m.org");
  }
  for (const char* kind : {"slack", "discord", "teams", "mattermost", "googlechat"}) {
    ConfigLoad load = LoadConfigText(
        Notifier(kind, "url = \"https://hooks.example.org/T0KEN\"\n"), dir.File("digestd.toml"));
    ASSERT_TRUE(load.config) << kind << Dump(load);
    const NotifierConfig& n = load.config->notifiers.back();
    EXPECT_EQ(n.max_papers, LimitsFor(kind).default_max_papers) << kind;
    EXPECT_GT(n.min_interval.count(), 0) << kind;
  }
}

TEST(Issue9, ChatSecretsNeverAppearInDiagnostics) {
  TempDir dir;
  const std::string texts[] = {
      Notifier("telegram", "token = \"T0KEN-but-not-a-bot-token\"\nchat_id = 1\n"),
      Notifier("matrix", "homeserver = \"https://m.org\"\nroom_id = \"!r:m.org\"\n"
                         "access_token = \"T0KEN with space\"\n"),
      Notifier("ntfy", "url = \"ftp://ntfy.sh/T0KEN\"\n"),
      Notifier("discord", "url = \"http://discord.example/T0KEN\"\n"),
  };
  for (const std::string& text : texts) {
    ConfigLoad load = LoadConfigText(text, dir.File("digestd.toml"));
    EXPECT_FALSE(load.config) << text;
    for (const ConfigDiagnostic& d : load.diagnostics) {
      EXPECT_EQ(d.message.find("T0KEN"), std::string::npos) << d.ToString();
    }
  }
}

}  // namespace
}  // namespace digestd
