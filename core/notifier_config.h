// NotifierConfig: one validated [[notifier]] table (CONFIG.md "Notifier kinds and their
// keys"): the keys every notifier has, and the typed settings of its kind. Built by the config
// loader, read by the channel registry (notifiers/) and the delivery engine (daemon/). Plain
// data, immutable once loaded: any thread may read it.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace digestd {

// How instant matches are grouped into messages: one per paper, or one per fetched digest.
enum class Grouping { kPaper, kDigest };

struct ConsoleSettings {};

struct FileSettings {
  std::string path;  // absolute path of the JSON-lines file
};

struct WebhookSettings {
  std::string url;                             // secret: may carry a token
  std::vector<std::string> secrets;            // "whsec_..." values; several while rotating
  std::map<std::string, std::string> headers;  // secrets resolved
  std::string method = "POST";                 // POST | PUT
};

struct ExecSettings {
  std::vector<std::string> command;  // argv; command[0] is an absolute path or found on PATH
  std::vector<std::string> env;      // names of variables passed through from our environment
};

// How an smtp:// connection uses STARTTLS (CONFIG.md `starttls`). smtps:// is TLS from the
// first byte and ignores this.
enum class StartTls {
  kRequired,   // no STARTTLS offered: the attempt fails (and is retried)
  kIfOffered,  // TLS when the server offers it, else plain text (the default on loopback)
  kNever,      // plain text, said explicitly
};

struct EmailSettings {
  std::string url;                  // smtps://host[:465] or smtp://host[:587]; may hold a secret
  std::string from;                 // "Display Name <addr>" or "addr"; checked by ParseMailbox
  std::vector<std::string> to;      // mailboxes as `from`; at least one
  std::vector<std::string> cc;
  std::vector<std::string> bcc;     // envelope only, never in a header
  std::string username;             // empty: no AUTH
  std::string password;             // secret
  StartTls starttls = StartTls::kRequired;
  std::string subject_prefix;       // put before every subject, e.g. "[papers]"
  std::vector<std::string> list_unsubscribe;  // https:// URLs and mailto: addresses
};

// The chat kinds (notifiers/chat_channels.h). Each `Fingerprint` is every setting in one
// string, so a target disabled by its server is enabled again when any of them changes.

// slack, discord, teams, mattermost, googlechat: the incoming-webhook URL is the secret.
struct SlackSettings {
  std::string url;
  std::string Fingerprint() const { return url; }
};
struct DiscordSettings {
  std::string url;  // as configured; the channel adds ?wait=true
  std::string Fingerprint() const { return url; }
};
struct TeamsSettings {
  std::string url;  // a Workflows "When a Teams webhook request is received" URL
  std::string Fingerprint() const { return url; }
};
struct MattermostSettings {
  std::string url;
  std::string Fingerprint() const { return url; }
};
struct GoogleChatSettings {
  std::string url;  // the space webhook, key and token in its query
  std::string Fingerprint() const { return url; }
};

struct TelegramSettings {
  std::string token;  // secret: the bot token, which goes in the request path
  std::string chat_id;
  std::string api_url = "https://api.telegram.org";
  std::string Fingerprint() const { return token + '\x1f' + chat_id + '\x1f' + api_url; }
};

struct MatrixSettings {
  std::string homeserver;    // "https://matrix.example.org", no trailing slash
  std::string room_id;       // "!abc:example.org" (an alias is not resolved)
  std::string access_token;  // secret
  std::string Fingerprint() const {
    return homeserver + '\x1f' + room_id + '\x1f' + access_token;
  }
};

struct NtfySettings {
  std::string url;    // server and topic: "https://ntfy.sh/papers"; the topic is a secret
  std::string token;  // secret, optional: "tk_..." sent as a Bearer token
  int priority = 0;   // 1-5; 0: the server's default
  std::string Fingerprint() const {
    return url + '\x1f' + token + '\x1f' + std::to_string(priority);
  }
};

// One alternative per built kind; std::monostate only in a config that failed to load.
using KindSettings =
    std::variant<std::monostate, ConsoleSettings, FileSettings, WebhookSettings, ExecSettings,
                 EmailSettings, SlackSettings, DiscordSettings, TeamsSettings,
                 MattermostSettings, GoogleChatSettings, TelegramSettings, MatrixSettings,
                 NtfySettings>;

struct NotifierConfig {
  std::string name;
  std::string kind;  // the registry name: console | file | webhook | exec | email | slack | ...
  bool enabled = true;
  int max_papers = 50;  // papers in one message; the rest as "and N more". Default per kind
  Grouping group = Grouping::kPaper;              // default per kind (CONFIG.md)
  int max_in_flight = 4;                          // concurrent requests to this target
  std::chrono::milliseconds min_interval{0};  // pace between requests; default per kind
  int retry_max_attempts = 12;                    // then the row goes dead
  std::chrono::seconds retry_max_age{24 * 3600};  // ... or when the row is this old
  std::chrono::milliseconds timeout{30000};       // one attempt (a request, or an exec run)
  bool tls_verify = true;
  std::string ca_file;        // absolute; empty: the system's CAs
  std::string template_file;  // absolute; empty: the built-in text
  std::string template_text;  // template_file's contents (Mustache), read by the loader
  KindSettings settings;
};

}  // namespace digestd
