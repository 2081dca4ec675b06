#include "config/config_loader.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "config/time_zone.h"
#include "core/channel_limits.h"
#include "core/cron.h"
#include "core/digest_format.h"
#include "core/mailbox.h"
#include "core/query.h"
#include "core/state_location.h"

namespace digestd {
namespace {

namespace fs = std::filesystem;

// How a key's value is type-checked where nothing reads it yet (the keys of a notifier kind
// that is documented but not built). Built kinds read their keys with their own checks.
enum class KeyType {
  kString,
  kStrings,
  kStringOrStrings,
  kStringOrInt,
  kInt,
  kBool,
  kDuration,
  kPath,
  kTable
};

// A key a table accepts. `file_form`: the key may instead be given as KEY_file (a secret
// read from a file). Adding a key later is one line in these tables plus where it is read.
struct KeySpec {
  std::string_view name;
  bool file_form = false;
  KeyType type = KeyType::kString;
  bool required = false;  // notifier kinds: reported as missing when neither KEY nor KEY_file
};

constexpr KeySpec kTopKeys[] = {{"include"},  {"daemon"}, {"source"},
                                {"notifier"}, {"watch"},  {"highlights"}};
constexpr KeySpec kIncludedTopKeys[] = {{"source"}, {"notifier"}, {"watch"}};
constexpr KeySpec kDaemonKeys[] = {{"state", true},         {"timezone"},       {"log_level"},
                                   {"contact", true}, {"metrics_listen"}, {"alert_notify"},
                                   {"retention_days"}, {"leader_lease"}};
constexpr KeySpec kSourceKeys[] = {{"name"},
                                   {"kind"},
                                   {"url", true},
                                   {"schedule"},
                                   {"jitter"},
                                   {"timezone"},
                                   {"lookback_days"},
                                   {"backfill_days"},
                                   {"first_run"},
                                   {"timeout"},
                                   {"max_bytes"},
                                   {"headers"},
                                   {"tls_verify"},
                                   {"alert_after_failures"},
                                   {"alert_after_hours"},
                                   {"alert_after_missing_days"},
                                   {"enabled"}};

// Notifier keys (CONFIG.md "Notifier kinds and their keys"): those every kind has, those of
// the kinds that reach a process or the network, and each kind's own (kNotifierKinds below).
constexpr KeySpec kNotifierCommonKeys[] = {{.name = "name"},
                                           {.name = "kind"},
                                           {.name = "enabled", .type = KeyType::kBool},
                                           {.name = "max_papers", .type = KeyType::kInt},
                                           {.name = "group"},
                                           {.name = "max_in_flight", .type = KeyType::kInt},
                                           {.name = "min_interval", .type = KeyType::kDuration},
                                           {.name = "retry_max_attempts", .type = KeyType::kInt},
                                           {.name = "retry_max_age", .type = KeyType::kDuration}};
constexpr KeySpec kNotifierTemplateKeys[] = {{.name = "template_file", .type = KeyType::kPath}};
constexpr KeySpec kNotifierTimeoutKeys[] = {{.name = "timeout", .type = KeyType::kDuration}};
constexpr KeySpec kNotifierTlsKeys[] = {{.name = "tls_verify", .type = KeyType::kBool},
                                        {.name = "ca_file", .type = KeyType::kPath}};
constexpr KeySpec kFileKeys[] = {{.name = "path", .type = KeyType::kPath, .required = true}};
constexpr KeySpec kWebhookKeys[] = {
    {.name = "url", .file_form = true, .required = true},
    {.name = "secret", .file_form = true, .type = KeyType::kStringOrStrings},
    {.name = "headers", .type = KeyType::kTable},
    {.name = "method"}};
constexpr KeySpec kExecKeys[] = {{.name = "command", .type = KeyType::kStrings, .required = true},
                                 {.name = "env", .type = KeyType::kStrings}};
constexpr KeySpec kEmailKeys[] = {{.name = "url", .file_form = true, .required = true},
                                  {.name = "from", .file_form = true, .required = true},
                                  {.name = "to", .type = KeyType::kStrings, .required = true},
                                  {.name = "cc", .type = KeyType::kStrings},
                                  {.name = "bcc", .type = KeyType::kStrings},
                                  {.name = "username", .file_form = true},
                                  {.name = "password", .file_form = true},
                                  {.name = "starttls"},
                                  {.name = "subject_prefix"},
                                  {.name = "list_unsubscribe", .type = KeyType::kStringOrStrings}};
// slack, discord, teams, mattermost, googlechat: an incoming-webhook URL, a secret itself.
constexpr KeySpec kChatUrlKeys[] = {{.name = "url", .file_form = true, .required = true}};
constexpr KeySpec kTelegramKeys[] = {
    {.name = "token", .file_form = true, .required = true},
    {.name = "chat_id", .type = KeyType::kStringOrInt, .required = true},
    {.name = "api_url"}};
constexpr KeySpec kMatrixKeys[] = {{.name = "homeserver", .required = true},
                                   {.name = "room_id", .required = true},
                                   {.name = "access_token", .file_form = true, .required = true}};
constexpr KeySpec kNtfyKeys[] = {{.name = "url", .file_form = true, .required = true},
                                 {.name = "token", .file_form = true},
                                 {.name = "priority", .type = KeyType::kStringOrInt}};

// What a notifier kind reaches, which decides the transport keys it takes.
enum class Reach {
  kLocal,    // console, file: no timeout, no TLS
  kProcess,  // exec: `timeout`
  kNetwork,  // `timeout`, `tls_verify`, `ca_file`
};

constexpr KeySpec kWatchKeys[] = {{"name"},    {"query"},     {"keywords"},        {"authors"},
                                  {"exclude"}, {"min_votes"}, {"sources"},         {"events"},
                                  {"notify"},  {"delivery"},  {"digest_schedule"}, {"timezone"},
                                  {"enabled"}};

constexpr KeySpec kHighlightsKeys[] = {{"name"},     {"sources"},  {"top"},   {"schedule"},
                                       {"timezone"}, {"on_empty"}, {"notify"}};

constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error"};
constexpr std::string_view kEvents[] = {"new", "updated", "threshold", "new_version"};
constexpr std::string_view kGroups[] = {"paper", "digest"};
constexpr std::string_view kWebhookMethods[] = {"POST", "PUT"};
constexpr std::string_view kStartTlsModes[] = {"required", "if-offered", "never"};

template <typename Named>
const std::string& NameOf(const Named& item) {
  return item.name;
}
const std::string& NameOf(const WatchConfig& watch) { return watch.spec.name; }

// "markdown and hf-daily": the formats that carry votes, for messages.
std::string FormatsWithVotes() {
  std::vector<std::string_view> names;
  for (const DigestFormat& f : DigestFormats()) {
    if (f.carries_votes) names.push_back(f.name);
  }
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " and " : ", ";
    out += names[i];
  }
  return out;
}

// Whether `key` (as written in a table) is `spec`, or its KEY_file form.
bool Names(const KeySpec& spec, std::string_view key) {
  return key == spec.name || (spec.file_form && key.size() == spec.name.size() + 5 &&
                              key.starts_with(spec.name) && key.ends_with("_file"));
}

constexpr std::size_t kMaxConfigBytes = 16 << 20;
constexpr std::size_t kMaxSecretBytes = 1 << 20;
// A message template (`template_file`): far more than any chat message holds.
constexpr std::size_t kMaxTemplateBytes = 64 << 10;

template <typename Range>
bool Contains(const Range& range, std::string_view v) {
  return std::find(std::begin(range), std::end(range), v) != std::end(range);
}

// Shows user text in a message: quoted, control bytes escaped, long values cut.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  std::size_t shown = 0;
  for (char c : s) {
    if (++shown > 80) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string Join(const std::string_view* begin, const std::string_view* end) {
  std::string out;
  for (const std::string_view* it = begin; it != end; ++it) {
    if (!out.empty()) out += it + 1 == end ? " or " : ", ";
    out += *it;
  }
  return out;
}

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// " (did you mean 'X'?)" for the closest candidate within two edits, else "".
template <typename Range, typename Name>
std::string Suggest(std::string_view word, const Range& candidates, Name name_of) {
  if (word.size() > 64) return "";
  std::string_view best;
  std::size_t best_distance = 3;
  for (const auto& c : candidates) {
    const std::string_view name = name_of(c);
    const std::size_t d = EditDistance(word, name);
    if (d < best_distance && d < std::max(word.size(), name.size())) {
      best = name;
      best_distance = d;
    }
  }
  return best.empty() ? "" : " (did you mean '" + std::string(best) + "'?)";
}

std::string SuggestValue(std::string_view word, const std::string_view* begin,
                         const std::string_view* end) {
  return Suggest(word, std::vector<std::string_view>(begin, end),
                 [](std::string_view s) { return s; });
}

std::string TypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

// "30s", "5m", "24h", "1h30m", "250ms", "2d": one or more number+unit pairs.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    std::int64_t n = 0;
    const std::size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      if (i - start >= 9) return std::nullopt;
      n = n * 10 + (s[i++] - '0');
    }
    if (i == start) return std::nullopt;
    std::int64_t unit = 0;
    if (s.substr(i, 2) == "ms") {
      unit = 1;
      i += 2;
    } else if (i < s.size()) {
      switch (s[i]) {
        case 's':
          unit = 1000;
          break;
        case 'm':
          unit = 60'000;
          break;
        case 'h':
          unit = 3'600'000;
          break;
        case 'd':
          unit = 86'400'000;
          break;
        default:
          return std::nullopt;
      }
      ++i;
    } else {
      return std::nullopt;
    }
    total += n * unit;
    if (total > std::int64_t{100} * 365 * 86'400'000) return std::nullopt;
  }
  return std::chrono::milliseconds(total);
}

// "20MB", "512KB", "1GiB", "1024" (bytes). KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024.
std::optional<std::uint64_t> ParseSize(std::string_view s) {
  std::size_t i = 0;
  std::uint64_t n = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    if (i >= 15) return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(s[i++] - '0');
  }
  if (i == 0) return std::nullopt;
  std::string unit(s.substr(i));
  if (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::pair<std::string_view, std::uint64_t> kUnits[] = {{"", 1},
                                                                      {"b", 1},
                                                                      {"kb", 1000},
                                                                      {"mb", 1000'000},
                                                                      {"gb", 1000'000'000},
                                                                      {"kib", 1ull << 10},
                                                                      {"mib", 1ull << 20},
                                                                      {"gib", 1ull << 30}};
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) return n * factor;
  }
  return std::nullopt;
}

// Checks a URL template's braces: only {date} and {date:FORMAT} with date conversions.
std::string CheckUrlTemplate(std::string_view url) {
  std::size_t i = 0;
  while (i < url.size()) {
    if (url[i] == '}') return "has an unbalanced '}'";
    if (url[i] != '{') {
      ++i;
      continue;
    }
    const std::size_t close = url.find_first_of("{}", i + 1);
    if (close == std::string_view::npos || url[close] == '{') return "has an unbalanced '{'";
    const std::string_view inner = url.substr(i + 1, close - i - 1);
    const std::size_t colon = inner.find(':');
    const std::string_view name = inner.substr(0, colon);
    if (name != "date") {
      return "has an unknown placeholder " + Quote("{" + std::string(inner) + "}") +
             " (expected {date} or {date:FORMAT})";
    }
    if (colon != std::string_view::npos) {
      const std::string_view format = inner.substr(colon + 1);
      if (format.empty()) return "has an empty {date:} format";
      for (std::size_t k = 0; k < format.size(); ++k) {
        if (format[k] != '%') continue;
        if (k + 1 >= format.size() ||
            std::string_view("YmdyjeBbAaFuwGgVU%").find(format[k + 1]) == std::string_view::npos) {
          return "has an unsupported conversion in " + Quote("{" + std::string(inner) + "}") +
                 " (use %Y %m %d %y %j %e %B %b %A %a %F %u %w %G %g %V %U %%)";
        }
        ++k;
      }
    }
    i = close + 1;
  }
  return "";
}

bool IsSourceName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

bool IsHeaderName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) ||
          std::string_view("!#$%&'*+.^_`|~-").find(c) != std::string_view::npos)) {
      return false;
    }
  }
  return true;
}

bool IsEnvName(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// The parts of a target URL the loader judges: its scheme and host, both lowercased.
struct UrlTarget {
  std::string scheme;
  std::string host;  // without brackets for an IPv6 literal
};

// Splits "scheme://[user@]host[:port][/path...]"; nullopt when there is no "scheme://".
std::optional<UrlTarget> SplitUrl(std::string_view url) {
  const std::size_t colon = url.find("://");
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  UrlTarget out;
  for (char c : url.substr(0, colon)) {
    out.scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::string_view authority = url.substr(colon + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  std::string_view host;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return out;  // no host
    host = authority.substr(1, close - 1);
  } else {
    host = authority.substr(0, authority.find(':'));
  }
  for (char c : host) out.host += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// localhost, 127.0.0.0/8 and ::1: where plain http:// and smtp:// stay on the machine.
bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "localhost.") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

// "" when `secret` is a Standard Webhooks secret: "whsec_" and the standard base64 of 24 to
// 64 bytes (padding optional); else what is wrong, without showing any of it.
std::string CheckWebhookSecret(std::string_view secret) {
  constexpr std::string_view kPrefix = "whsec_";
  if (!secret.starts_with(kPrefix)) return "must start with \"whsec_\"";
  std::string_view b64 = secret.substr(kPrefix.size());
  std::size_t padding = 0;
  while (b64.ends_with('=')) {
    b64.remove_suffix(1);
    ++padding;
  }
  const bool alphabet = std::all_of(b64.begin(), b64.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
  });
  if (!alphabet || padding > 2 || b64.size() % 4 == 1 ||
      (padding > 0 && (b64.size() + padding) % 4 != 0)) {
    return "is not \"whsec_\" followed by valid base64";
  }
  const std::size_t bytes = b64.size() / 4 * 3 + (b64.size() % 4 == 0 ? 0 : b64.size() % 4 - 1);
  if (bytes < 24 || bytes > 64) {
    return "decodes to " + std::to_string(bytes) +
           " bytes; a Standard Webhooks secret has 24 to 64";
  }
  return "";
}

// What a file that is not a regular one is, for errors.
std::string FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "is a directory";
  if (S_ISFIFO(mode)) return "is a FIFO, not a regular file";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "is a device, not a regular file";
  if (S_ISSOCK(mode)) return "is a socket, not a regular file";
  return "is not a regular file";
}

// Opens `path` for reading without ever blocking (a FIFO, a terminal) and only when it is a
// regular file. The descriptor is the caller's to close.
Result<int> OpenRegular(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return Unexpected(std::string(std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const std::string why = FileTypeName(st.st_mode);
    ::close(fd);
    return Unexpected(why);
  }
  return fd;
}

// Reads a whole regular file, refusing anything else and anything larger than `limit`.
Result<std::string> ReadFile(const fs::path& path, std::size_t limit) {
  Result<int> fd = OpenRegular(path);
  if (!fd) return Unexpected(fd.error().message);
  std::string data;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(*fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = std::strerror(errno);
      ::close(*fd);
      return Unexpected("read error: " + why);
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > limit) {
      ::close(*fd);
      return Unexpected("is larger than " + std::to_string(limit) + " bytes");
    }
  }
  ::close(*fd);
  return data;
}

// Whether `path` can be opened for reading and is a regular file.
Status CheckReadable(const fs::path& path) {
  Result<int> fd = OpenRegular(path);
  if (!fd) return Unexpected(fd.error().message);
  ::close(*fd);
  return Ok();
}

// Whether `text` holds a control character (C0, NUL included, or DEL).
bool HasControl(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7f;
  });
}

// Limits on a config's shape, checked on its bytes before toml++ sees them: toml++ parses
// dotted keys recursively (40,000 parts overflow its stack).
constexpr std::size_t kMaxKeyParts = 32;
constexpr std::size_t kMaxKeyBytes = 1024;
constexpr std::size_t kMaxTables = 200000;  // 100,000 watches and their notifiers fit (issue 12)
constexpr std::size_t kMaxNesting = 32;
constexpr std::size_t kMaxIncludedFiles = 1000;

struct ShapeError {
  int line = 0;
  int column = 0;
  std::string message;
};

// Scans TOML text for keys with too many parts or too long a part, too many tables, and
// arrays or inline tables nested too deep. Strings and comments are skipped; the scan is
// linear and lets through what it does not understand (toml++ reports that).
std::optional<ShapeError> CheckTomlShape(std::string_view text) {
  int line = 1;
  std::size_t line_start = 0;
  std::size_t tables = 0;
  std::string nesting;     // brackets open in a value: '[' arrays, '{' inline tables
  bool in_key = true;      // at a key: line start, a header, after '{' or ',' in '{'
  bool in_header = false;
  std::size_t key_parts = 1;
  std::size_t part_bytes = 0;
  auto error = [&](std::size_t at, std::string message) {
    return ShapeError{.line = line,
                      .column = static_cast<int>(at - line_start) + 1,
                      .message = std::move(message)};
  };
  auto start_key = [&] {
    in_key = true;
    key_parts = 1;
    part_bytes = 0;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      line_start = i + 1;
      if (nesting.empty()) start_key();
      in_header = false;
      continue;
    }
    if (c == '#') {
      const std::size_t nl = text.find('\n', i);
      if (nl == std::string_view::npos) break;
      i = nl - 1;
      continue;
    }
    if (c == '"' || c == '\'') {
      const std::string_view triple = c == '"' ? "\"\"\"" : "'''";
      const std::string_view close = text.substr(i, 3) == triple ? triple : triple.substr(0, 1);
      std::size_t j = i + close.size();
      while (j < text.size() && text.substr(j, close.size()) != close) {
        if (c == '"' && text[j] == '\\') ++j;
        if (j < text.size() && text[j] == '\n') {
          if (close.size() == 1) break;  // unterminated: toml++ says so
          ++line;
          line_start = j + 1;
        }
        ++j;
      }
      if (in_key) {
        part_bytes += j - i;
        if (part_bytes > kMaxKeyBytes) {
          return error(i, "a key longer than " + std::to_string(kMaxKeyBytes) + " bytes");
        }
      }
      if (j >= text.size()) break;
      i = text[j] == '\n' ? j - 1 : j + close.size() - 1;
      continue;
    }
    if (in_key) {
      if (c == '[' && !in_header && key_parts == 1 && part_bytes == 0) {
        in_header = true;
        if (++tables > kMaxTables) {
          return error(i, "more than " + std::to_string(kMaxTables) + " tables");
        }
      } else if (c == '.') {
        if (++key_parts > kMaxKeyParts) {
          return error(i, "a dotted key of more than " + std::to_string(kMaxKeyParts) + " parts");
        }
        part_bytes = 0;
      } else if ((c == '=' && !in_header) || (c == ']' && in_header)) {
        in_key = false;
      } else if (c != ' ' && c != '\t' && c != '\r' && c != '[') {
        if (++part_bytes > kMaxKeyBytes) {
          return error(i, "a key longer than " + std::to_string(kMaxKeyBytes) + " bytes");
        }
      }
      continue;
    }
    if (c == '[' || c == '{') {
      nesting += c;
      if (nesting.size() > kMaxNesting) {
        return error(i, "arrays or inline tables nested more than " +
                            std::to_string(kMaxNesting) + " deep");
      }
      if (c == '{') {
        if (++tables > kMaxTables) {
          return error(i, "more than " + std::to_string(kMaxTables) + " tables");
        }
        start_key();
      }
    } else if ((c == ']' || c == '}') && !nesting.empty()) {
      nesting.pop_back();
    } else if (c == ',' && !nesting.empty() && nesting.back() == '{') {
      start_key();
    }
  }
  return std::nullopt;
}

std::string GlobEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

struct FileCtx {
  fs::path path;        // absolute; empty when the text came from no file
  std::string display;  // as diagnostics name it
  fs::path dir;         // absolute directory, anchors relative paths
  int order = 0;        // position in file order
};

struct Where {
  const FileCtx* file = nullptr;
  int line = 0;
  int column = 0;
};

struct NamedAt {
  std::string name;
  Where where;
};

// A string value and, when it came from a secret, how to refer to it without showing it.
struct Str {
  std::string value;
  std::string secret;  // "" for a literal, else "${NAME}" or "password_file"
  Where where;

  std::string Shown() const { return secret.empty() ? Quote(value) : "the value of " + secret; }
};

class Loader {
 public:
  ConfigLoad Load(std::string_view text, const std::string& path);
  // The text given to Load is the file's own (its mode says who else can read it).
  void TextIsFromFile() { main_text_from_file_ = true; }

 private:
  struct SourceRefs {
    Where name;
  };
  struct NotifierRefs {
    Where name;
    Where table;
  };
  struct WatchRefs {
    Where name;
    std::vector<NamedAt> notify;
    std::vector<NamedAt> sources;
  };
  using HighlightsRefs = WatchRefs;

  Where At(const toml::source_region& r) const {
    return {file_, static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
  }
  Where At(const toml::node& n) const { return At(n.source()); }
  void Report(const Where& w, std::string message, bool warning = false);
  void Error(const Where& w, std::string message) { Report(w, std::move(message)); }
  void Warn(const Where& w, std::string message) { Report(w, std::move(message), true); }
  // Whether a key that may take a KEY_file form holds a secret: passwords, tokens, webhook
  // secrets, and a notifier's `url` (Slack, Discord, Teams ... carry the token in it).
  bool IsSecretKey(std::string_view key) const {
    return key == "password" || key == "token" || key == "access_token" || key == "secret" ||
           (key == "url" && in_notifier_);
  }
  // A warning at `w` when `path` can be read or written by others than its owner and group.
  void WarnIfOthersMayAccess(const fs::path& path, const Where& w, const std::string& what);
  // Warnings for config files writable by others, or readable by others while holding a
  // secret as written.
  void CheckFileModes();

  std::optional<toml::table> ParseToml(std::string_view text);
  void CheckKeys(const toml::table& t, std::span<const KeySpec> keys, std::string_view what);
  std::optional<Str> ExpandEnv(std::string raw, std::string_view key, const Where& w);
  std::optional<Str> GetString(const toml::table& t, std::string_view key, bool file_form = false);
  void ReadMetricsListen(const Str& v, DaemonConfig& d);
  std::optional<std::string> GetPath(const toml::table& t, std::string_view key);
  std::optional<std::int64_t> GetInt(const toml::table& t, std::string_view key, std::int64_t min,
                                     std::int64_t max);
  std::optional<bool> GetBool(const toml::table& t, std::string_view key);
  std::optional<std::vector<Str>> GetStrings(const toml::table& t, std::string_view key);
  // `allow_zero`: "0s" is accepted (a pace of none); otherwise the duration must be positive.
  std::optional<std::chrono::milliseconds> GetDuration(const toml::table& t, std::string_view key,
                                                       bool allow_zero = false);
  std::optional<std::uint64_t> GetSize(const toml::table& t, std::string_view key);
  std::optional<std::string> GetZone(const toml::table& t, std::string_view key);
  std::optional<std::string> GetSchedule(const toml::table& t, std::string_view key);
  std::optional<std::string> GetEnum(const toml::table& t, std::string_view key,
                                     const std::string_view* begin, const std::string_view* end);
  // A table of HTTP headers: each value a string (${ENV} allowed) or, as NAME_file, a file
  // holding it. Reports bad names, non-strings and line breaks in values.
  std::optional<std::map<std::string, std::string>> GetHeaders(const toml::table& t,
                                                               std::string_view key);
  // Reports a value of `spec`'s type that is malformed; for keys nothing reads yet.
  void TypeCheck(const toml::table& t, const KeySpec& spec);
  // Each element of an array of tables; reports non-arrays and non-table elements.
  std::vector<const toml::table*> Tables(const toml::table& root, std::string_view key);

  void ReadFileTables(const toml::table& root);
  void ReadDaemon(const toml::table& t);
  void ReadSource(const toml::table& t);
  void ReadNotifier(const toml::table& t);
  void ReadNotifierTable(const toml::table& t);
  void ReadWatch(const toml::table& t);
  void ReadHighlights(const toml::table& t);
  void ReadIncludes(const toml::table& root, std::vector<std::pair<fs::path, Where>>& files);
  void CrossCheck();

  // One notifier kind of CONFIG.md: the keys it owns and how it reads them. The table of
  // kinds (kNotifierKinds, after this class) is the only place a kind is named.
  struct NotifierKind {
    std::string_view name;
    std::span<const KeySpec> keys;  // its own keys, beside the common ones
    Reach reach = Reach::kNetwork;
    Grouping group = Grouping::kDigest;  // default `group`
    int max_in_flight = 4;               // default `max_in_flight`
    bool templates = true;               // `template_file` applies (issue 9 point 5)
    // Reads its own keys (present and required ones already checked) into typed settings,
    // reporting every problem; null while the kind is not built (its keys are type-checked).
    KindSettings (Loader::*read)(const toml::table& t, const std::string& label) = nullptr;
  };
  static const NotifierKind kNotifierKinds[];

  const NotifierKind* FindNotifierKind(std::string_view name) const;
  // The keys a notifier of `kind` takes; every notifier key when `kind` is null. Made once
  // per kind: a fan-out config names the same kind a thousand times.
  const std::vector<KeySpec>& NotifierKeys(const NotifierKind* kind);
  void CheckNotifierKeys(const toml::table& t, const NotifierKind* kind);
  void ReadNotifierCommon(const toml::table& t, const NotifierKind* kind, const std::string& label,
                          NotifierConfig& n);
  KindSettings ReadConsoleSettings(const toml::table& t, const std::string& label);
  KindSettings ReadFileSettings(const toml::table& t, const std::string& label);
  // A warning at `at` when this is the system unit's config and the service could not
  // write `path` there (systemd/digestd.service.in); `what` names the key.
  void WarnIfOutsideUnit(const fs::path& path, const Where& at, const std::string& what);
  KindSettings ReadWebhookSettings(const toml::table& t, const std::string& label);
  KindSettings ReadExecSettings(const toml::table& t, const std::string& label);
  KindSettings ReadEmailSettings(const toml::table& t, const std::string& label);
  // A list of mailboxes (`to`, `cc`, `bcc`), each checked by ParseMailbox.
  std::optional<std::vector<std::string>> GetMailboxes(const toml::table& t, std::string_view key);
  // slack, discord, teams, mattermost, googlechat: one incoming-webhook `url`.
  template <typename Settings>
  KindSettings ReadChatUrlSettings(const toml::table& t, const std::string& label);
  KindSettings ReadTelegramSettings(const toml::table& t, const std::string& label);
  KindSettings ReadMatrixSettings(const toml::table& t, const std::string& label);
  KindSettings ReadNtfySettings(const toml::table& t, const std::string& label);
  // A secret that goes into a request line or header: no spaces or control characters.
  // Never shows the value.
  bool CheckTokenText(const Str& token, std::string_view key);
  // An http(s) target URL; plain http:// only to loopback. Never shows the value.
  bool CheckTargetUrl(const Str& url, std::string_view key);
  // `secret`: one "whsec_..." value or an array of them, or secret_file (one per line).
  std::optional<std::vector<std::string>> GetWebhookSecrets(const toml::table& t);

  std::deque<FileCtx> files_;
  const FileCtx* file_ = nullptr;
  std::map<const NotifierKind*, std::vector<KeySpec>> notifier_keys_;  // NotifierKeys' lists
  std::set<int> literal_secret_files_;  // orders of files holding a secret as written
  bool in_notifier_ = false;            // reading a [[notifier]]: its `url` is a secret
  bool main_text_from_file_ = false;
  std::vector<ConfigDiagnostic> diags_;
  std::vector<int> diag_order_;
  bool failed_ = false;

  Config config_;
  std::vector<SourceRefs> source_refs_;
  std::vector<NotifierRefs> notifier_refs_;
  std::vector<WatchRefs> watch_refs_;
  std::vector<HighlightsRefs> highlights_refs_;
  std::vector<NamedAt> alert_notify_refs_;
};

void Loader::Report(const Where& w, std::string message, bool warning) {
  const FileCtx* f = w.file != nullptr ? w.file : file_;
  diags_.push_back(ConfigDiagnostic{.file = f->display,
                                    .line = w.line,
                                    .column = w.column,
                                    .message = std::move(message),
                                    .warning = warning});
  diag_order_.push_back(f->order);
  if (!warning) failed_ = true;
}

std::optional<toml::table> Loader::ParseToml(std::string_view text) {
  if (std::optional<ShapeError> shape = CheckTomlShape(text)) {
    Error(Where{.file = file_, .line = shape->line, .column = shape->column},
          shape->message + ": refused before parsing");
    return std::nullopt;
  }
  // toml++ reports syntax errors by exception; it stops here so none leaves this library.
  try {
    return toml::parse(text, std::string_view(file_->display));
  } catch (const toml::parse_error& e) {
    Error(At(e.source()), std::string(e.description()));
  } catch (const std::exception& e) {
    Error(Where{}, std::string("cannot parse: ") + e.what());
  }
  return std::nullopt;
}

void Loader::CheckKeys(const toml::table& t, std::span<const KeySpec> keys, std::string_view what) {
  for (const auto& [key, node] : t) {
    const std::string_view k = key.str();
    if (std::any_of(keys.begin(), keys.end(), [&](const KeySpec& s) { return Names(s, k); })) {
      continue;
    }
    Error(At(key.source()), "unknown key " + Quote(k) + " in " + std::string(what) +
                                Suggest(k, keys, [](const KeySpec& s) { return s.name; }));
  }
}

std::optional<Str> Loader::ExpandEnv(std::string raw, std::string_view key, const Where& w) {
  // CONFIG.md: ${NAME} anywhere inside a string is the variable's value, $$ a literal $;
  // any other $ stays as written (queries and titles have $...$ math).
  if (raw.find('$') == std::string::npos) return Str{.value = std::move(raw), .where = w};
  std::string out;
  std::string first_name;  // how messages refer to the value: the first variable in it
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '$' || i + 1 == raw.size()) {
      out += raw[i];
      continue;
    }
    if (raw[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (raw[i + 1] != '{') {
      out += '$';
      continue;
    }
    const std::size_t close = raw.find('}', i + 2);
    const std::string name =
        close == std::string::npos ? std::string() : raw.substr(i + 2, close - i - 2);
    const bool valid = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
                       std::all_of(name.begin(), name.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                       });
    if (!valid) {
      Error(w, Quote(key) + ": \"${\" starts no ${NAME} (letters, digits, _); write $$ for a "
                            "literal $");
      return std::nullopt;
    }
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) {
      Error(w, "environment variable " + name + " (for " + Quote(key) + ") is not set");
      return std::nullopt;
    }
    out += value;
    if (first_name.empty()) first_name = name;
    i = close;
  }
  return Str{.value = std::move(out),
             .secret = first_name.empty() ? "" : "${" + first_name + "}",
             .where = w};
}

std::optional<Str> Loader::GetString(const toml::table& t, std::string_view key, bool file_form) {
  const toml::node* n = t.get(key);
  const std::string file_key = std::string(key) + "_file";
  const toml::node* nf = file_form ? t.get(file_key) : nullptr;
  if (n != nullptr && nf != nullptr) {
    Error(At(*nf), "give either " + Quote(key) + " or " + Quote(file_key) + ", not both");
    return std::nullopt;
  }
  if (n != nullptr) {
    const auto* s = n->as_string();
    if (s == nullptr) {
      Error(At(*n), Quote(key) + ": expected a string, got " + TypeName(*n));
      return std::nullopt;
    }
    std::optional<Str> v = ExpandEnv(s->get(), key, At(*n));
    if (v && v->secret.empty() && file_form && IsSecretKey(key) && !v->value.empty()) {
      literal_secret_files_.insert(file_->order);
    }
    return v;
  }
  if (nf == nullptr) return std::nullopt;
  const auto* s = nf->as_string();
  if (s == nullptr) {
    Error(At(*nf), Quote(file_key) + ": expected a path string, got " + TypeName(*nf));
    return std::nullopt;
  }
  std::optional<Str> path_text = ExpandEnv(s->get(), file_key, At(*nf));
  if (!path_text) return std::nullopt;
  if (path_text->value.empty()) {
    Error(At(*nf), Quote(file_key) + " is empty");
    return std::nullopt;
  }
  if (HasControl(path_text->value)) {
    Error(At(*nf), Quote(file_key) + ": a path must not hold a NUL or other control character");
    return std::nullopt;
  }
  fs::path path(path_text->value);
  if (path.is_relative()) {
    const char* credentials = std::getenv("CREDENTIALS_DIRECTORY");
    std::error_code ec;
    if (credentials != nullptr && *credentials != '\0' &&
        fs::exists(fs::path(credentials) / path, ec)) {
      path = fs::path(credentials) / path;
    } else {
      path = file_->dir / path;
    }
  }
  Result<std::string> data = ReadFile(path, kMaxSecretBytes);
  if (!data) {
    // The path is configuration, not a secret; its contents never get printed.
    Error(At(*nf), "cannot read " + Quote(file_key) + " " +
                       (path_text->secret.empty() ? Quote(path.string()) : path_text->Shown()) +
                       ": " + data.error().message);
    return std::nullopt;
  }
  WarnIfOthersMayAccess(path, At(*nf), Quote(file_key) + " " + Quote(path.string()));
  std::string value = std::move(*data);
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  return Str{.value = std::move(value), .secret = file_key, .where = At(*nf)};
}

std::optional<std::string> Loader::GetPath(const toml::table& t, std::string_view key) {
  std::optional<Str> s = GetString(t, key);
  if (!s) return std::nullopt;
  if (s->value.empty()) {
    Error(s->where, Quote(key) + " must not be empty");
    return std::nullopt;
  }
  if (HasControl(s->value)) {
    Error(s->where, Quote(key) + ": a path must not hold a NUL or other control character");
    return std::nullopt;
  }
  fs::path p(s->value);
  if (p.is_relative()) p = file_->dir / p;
  return p.lexically_normal().string();
}

std::optional<std::int64_t> Loader::GetInt(const toml::table& t, std::string_view key,
                                           std::int64_t min, std::int64_t max) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return std::nullopt;
  const auto* i = n->as_integer();
  if (i == nullptr) {
    Error(At(*n), Quote(key) + ": expected an integer, got " + TypeName(*n));
    return std::nullopt;
  }
  const std::int64_t v = i->get();
  if (v < min || v > max) {
    Error(At(*n), Quote(key) + ": " + std::to_string(v) + " is out of range " +
                      std::to_string(min) + ".." + std::to_string(max));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> Loader::GetBool(const toml::table& t, std::string_view key) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return std::nullopt;
  const auto* b = n->as_boolean();
  if (b == nullptr) {
    Error(At(*n), Quote(key) + ": expected a boolean (true or false), got " + TypeName(*n));
    return std::nullopt;
  }
  return b->get();
}

std::optional<std::vector<Str>> Loader::GetStrings(const toml::table& t, std::string_view key) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return std::nullopt;
  const auto* a = n->as_array();
  if (a == nullptr) {
    Error(At(*n), Quote(key) + ": expected an array of strings, got " + TypeName(*n));
    return std::nullopt;
  }
  std::vector<Str> out;
  bool ok = true;
  for (const toml::node& e : *a) {
    const auto* s = e.as_string();
    if (s == nullptr) {
      Error(At(e),
            Quote(key) + ": expected an array of strings, got an element that is " + TypeName(e));
      ok = false;
      continue;
    }
    std::optional<Str> v = ExpandEnv(s->get(), key, At(e));
    if (!v) {
      ok = false;
    } else if (v->value.empty()) {
      Error(At(e), Quote(key) + ": entries must not be empty");
      ok = false;
    } else {
      out.push_back(std::move(*v));
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::chrono::milliseconds> Loader::GetDuration(const toml::table& t,
                                                             std::string_view key,
                                                             bool allow_zero) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return std::nullopt;
  if (!n->is_string()) {
    Error(At(*n), Quote(key) + ": expected a duration string like \"30s\", got " + TypeName(*n));
    return std::nullopt;
  }
  std::optional<Str> s = GetString(t, key);
  if (!s) return std::nullopt;
  std::optional<std::chrono::milliseconds> d = ParseDuration(s->value);
  if (!d || (d->count() == 0 && !allow_zero)) {
    Error(s->where, Quote(key) + ": " + s->Shown() + " is not a " +
                        (allow_zero ? "" : "positive ") +
                        "duration (use ms, s, m, h, d: \"30s\", \"1h30m\")");
    return std::nullopt;
  }
  return d;
}

std::optional<std::uint64_t> Loader::GetSize(const toml::table& t, std::string_view key) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return std::nullopt;
  if (const auto* i = n->as_integer()) {
    if (i->get() <= 0) {
      Error(At(*n), Quote(key) + ": " + std::to_string(i->get()) + " is not a positive size");
      return std::nullopt;
    }
    return static_cast<std::uint64_t>(i->get());
  }
  if (!n->is_string()) {
    Error(At(*n),
          Quote(key) + ": expected a size like \"20MB\" or a byte count, got " + TypeName(*n));
    return std::nullopt;
  }
  std::optional<Str> s = GetString(t, key);
  if (!s) return std::nullopt;
  std::optional<std::uint64_t> size = ParseSize(s->value);
  if (!size || *size == 0) {
    Error(s->where, Quote(key) + ": " + s->Shown() +
                        " is not a positive size (\"512KB\", \"20MB\", \"1GiB\" or bytes)");
    return std::nullopt;
  }
  return size;
}

std::optional<std::string> Loader::GetZone(const toml::table& t, std::string_view key) {
  std::optional<Str> s = GetString(t, key);
  if (!s) return std::nullopt;
  if (!IsKnownZone(s->value)) {
    Error(s->where, Quote(key) + ": " + s->Shown() +
                        " is not an IANA time zone (like \"UTC\" or \"Asia/Seoul\")");
    return std::nullopt;
  }
  return s->value;
}

std::optional<std::string> Loader::GetSchedule(const toml::table& t, std::string_view key) {
  std::optional<Str> s = GetString(t, key);
  if (!s) return std::nullopt;
  Result<CronSchedule> cron = ParseCron(s->value);
  if (!cron) {
    Error(s->where,
          Quote(key) + ": " +
              (s->secret.empty() ? "invalid schedule " + s->Shown() + ": " + cron.error().message
                                 : s->Shown() + " is not a valid cron schedule"));
    return std::nullopt;
  }
  return s->value;
}

std::optional<std::string> Loader::GetEnum(const toml::table& t, std::string_view key,
                                           const std::string_view* begin,
                                           const std::string_view* end) {
  std::optional<Str> s = GetString(t, key);
  if (!s) return std::nullopt;
  if (std::find(begin, end, s->value) == end) {
    Error(s->where, Quote(key) + ": " + s->Shown() + " is not one of " + Join(begin, end) +
                        (s->secret.empty() ? SuggestValue(s->value, begin, end) : ""));
    return std::nullopt;
  }
  return s->value;
}

std::optional<std::map<std::string, std::string>> Loader::GetHeaders(const toml::table& t,
                                                                     std::string_view key) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return std::nullopt;
  const auto* h = n->as_table();
  if (h == nullptr) {
    Error(At(*n), Quote(key) + ": expected a table of strings, got " + TypeName(*n));
    return std::nullopt;
  }
  std::map<std::string, std::string> out;
  bool ok = true;
  for (const auto& [header_key, value] : *h) {
    const std::string_view written = header_key.str();
    const bool file_form = written.size() > 5 && written.ends_with("_file");
    const std::string name(file_form ? written.substr(0, written.size() - 5) : written);
    if (!IsHeaderName(name)) {
      Error(At(header_key.source()),
            Quote(key) + ": " + Quote(written) + " is not a valid header name");
      ok = false;
      continue;
    }
    if (!value.is_string()) {
      Error(At(value), Quote(key) + ": " + Quote(written) + ": expected " +
                           (file_form ? "a path string" : "a string") + ", got " + TypeName(value));
      ok = false;
      continue;
    }
    // NAME and NAME_file together are reported once, while reading NAME.
    if (file_form && h->contains(name)) continue;
    std::optional<Str> v = GetString(*h, name, /*file_form=*/true);
    if (!v) {
      ok = false;
      continue;
    }
    if (v->value.find_first_of("\r\n") != std::string::npos) {
      Error(v->where, Quote(key) + ": the value of " + Quote(name) + " contains a line break");
      ok = false;
      continue;
    }
    // A header value may be a credential (Authorization, X-Api-Key): as written, it is one.
    if (v->secret.empty() && !v->value.empty()) literal_secret_files_.insert(file_->order);
    out[name] = std::move(v->value);
  }
  if (!ok) return std::nullopt;
  return out;
}

void Loader::TypeCheck(const toml::table& t, const KeySpec& spec) {
  const toml::node* n = t.get(spec.name);
  switch (spec.type) {
    case KeyType::kString:
      GetString(t, spec.name, spec.file_form);
      break;
    case KeyType::kStrings:
      GetStrings(t, spec.name);
      break;
    case KeyType::kStringOrStrings:
      if (n != nullptr && n->is_array()) {
        GetStrings(t, spec.name);
      } else {
        GetString(t, spec.name, spec.file_form);
      }
      break;
    case KeyType::kStringOrInt:
      if (n == nullptr || !n->is_integer()) GetString(t, spec.name, spec.file_form);
      break;
    case KeyType::kInt:
      GetInt(t, spec.name, std::numeric_limits<std::int64_t>::min(),
             std::numeric_limits<std::int64_t>::max());
      break;
    case KeyType::kBool:
      GetBool(t, spec.name);
      break;
    case KeyType::kDuration:
      GetDuration(t, spec.name);
      break;
    case KeyType::kPath:
      GetPath(t, spec.name);
      break;
    case KeyType::kTable:
      GetHeaders(t, spec.name);
      break;
  }
}

std::vector<const toml::table*> Loader::Tables(const toml::table& root, std::string_view key) {
  std::vector<const toml::table*> out;
  const toml::node* n = root.get(key);
  if (n == nullptr) return out;
  const auto* a = n->as_array();
  if (a == nullptr) {
    Error(At(*n), Quote(key) + ": expected an array of tables ([[" + std::string(key) +
                      "]]), got " + TypeName(*n));
    return out;
  }
  for (const toml::node& e : *a) {
    if (const auto* t = e.as_table()) {
      out.push_back(t);
    } else {
      Error(At(e), Quote(key) + ": expected a table, got " + TypeName(e));
    }
  }
  return out;
}

void Loader::ReadDaemon(const toml::table& t) {
  CheckKeys(t, kDaemonKeys, "[daemon]");
  DaemonConfig& d = config_.daemon;
  // A path, or a PostgreSQL URL (DESIGN.md §10), which may hold a password: "${NAME}"
  // inside it, or the whole URL in state_file. A URL is never quoted in a message.
  const toml::node* url_file = t.get("state_file");
  if (const toml::node* n = t.get("state");
      url_file != nullptr || (n != nullptr && n->is_string() &&
                              IsPostgresLocation(n->as_string()->get()))) {
    if (auto v = GetString(t, "state", /*file_form=*/true)) {
      if (IsPostgresLocation(v->value)) {
        d.state_path = v->value;
      } else {
        Error(v->where, "\"state_file\" must hold a postgresql:// URL; a SQLite state is a "
                        "path given as \"state\"");
      }
    }
  } else if (auto v = GetPath(t, "state")) {
    d.state_path = *v;
    WarnIfOutsideUnit(d.state_path, At(*t.get("state")), "[daemon] \"state\"");
  }
  if (auto v = GetDuration(t, "leader_lease")) {
    if (*v < std::chrono::seconds(3) || *v > std::chrono::hours(1)) {
      Error(At(*t.get("leader_lease")), "\"leader_lease\": between 3s and 1h");
    } else {
      d.leader_lease = *v;
      if (!IsPostgresLocation(d.state_path)) {
        Warn(At(*t.get("leader_lease")),
             "\"leader_lease\" applies to a PostgreSQL state only; a SQLite state has one "
             "`digestd run`");
      }
    }
  }
  if (auto v = GetZone(t, "timezone")) d.timezone = *v;
  if (auto v = GetEnum(t, "log_level", std::begin(kLogLevels), std::end(kLogLevels))) {
    d.log_level = *v;
  }
  if (auto v = GetString(t, "contact", true)) d.contact = v->value;
  if (auto v = GetString(t, "metrics_listen")) ReadMetricsListen(*v, d);
  if (auto v = GetStrings(t, "alert_notify")) {
    for (Str& s : *v) {
      alert_notify_refs_.push_back({s.value, s.where});
      d.alert_notify.push_back(std::move(s.value));
    }
  }
  if (auto v = GetInt(t, "retention_days", 1, 36500)) d.retention_days = static_cast<int>(*v);
}

// "HOST:PORT", "[V6]:PORT", or "PORT" alone (127.0.0.1). HOST is an IP literal or localhost;
// anything but loopback is allowed with a warning, since /metrics has no authentication.
void Loader::ReadMetricsListen(const Str& v, DaemonConfig& d) {
  std::string host = "127.0.0.1";
  std::string port = v.value;
  if (const auto colon = v.value.rfind(':'); colon != std::string::npos) {
    host = v.value.substr(0, colon);
    port = v.value.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
  }
  if (host == "localhost") host = "127.0.0.1";
  in_addr v4{};
  in6_addr v6{};
  const bool ip = ::inet_pton(AF_INET, host.c_str(), &v4) == 1 ||
                  ::inet_pton(AF_INET6, host.c_str(), &v6) == 1;
  int number = 0;
  const bool digits = !port.empty() && port.size() <= 5 &&
                      std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) number = std::stoi(port);
  if (!ip || !digits || number < 1 || number > 65535) {
    Error(v.where, "metrics_listen " + v.Shown() +
                       ": expected \"HOST:PORT\" with an IP address or localhost and a port "
                       "1-65535 (e.g. \"127.0.0.1:9464\")");
    return;
  }
  if (!IsLoopbackHost(host)) {
    Warn(v.where, "metrics_listen " + v.Shown() +
                      " is not a loopback address: /metrics has no authentication");
  }
  d.metrics_host = host;
  d.metrics_port = static_cast<std::uint16_t>(number);
}

void Loader::ReadSource(const toml::table& t) {
  CheckKeys(t, kSourceKeys, "[[source]]");
  SourceConfig s;
  SourceRefs refs;
  const Where table_at = At(t);
  std::string label = "[[source]]";
  if (auto v = GetString(t, "name")) {
    refs.name = v->where;
    s.name = v->value;
    label = "source " + v->Shown();
    if (!IsSourceName(v->value)) {
      Error(v->where, "source name " + v->Shown() +
                          " is not valid: use lowercase letters, digits, '_' and '-'");
    }
  } else if (!t.contains("name")) {
    Error(table_at, "[[source]] is missing required key \"name\"");
  }
  if (auto v = GetString(t, "kind")) {
    s.kind = v->value;
    if (FindDigestFormat(v->value) == nullptr) {
      std::vector<std::string_view> kinds;
      for (const DigestFormat& f : DigestFormats()) kinds.push_back(f.name);
      Error(v->where, "unknown source kind " + v->Shown() + " (expected " +
                          Join(kinds.data(), kinds.data() + kinds.size()) + ")" +
                          SuggestValue(v->value, kinds.data(), kinds.data() + kinds.size()));
    }
  } else if (!t.contains("kind")) {
    Error(table_at, label + " is missing required key \"kind\"");
  }
  if (auto v = GetString(t, "url", true)) {
    s.url = v->value;
    s.url_secret = !v->secret.empty();
    const std::string_view u = v->value;
    if (!(u.starts_with("http://") || u.starts_with("https://") || u.starts_with("file://"))) {
      Error(v->where, "\"url\": " + v->Shown() + " must start with http://, https:// or file://");
    } else if (std::string problem = CheckUrlTemplate(u); !problem.empty()) {
      Error(v->where, "\"url\": " + (v->secret.empty() ? v->Shown() + " " + problem
                                                       : v->Shown() + " is not a valid template"));
    } else if (u.starts_with("file://") && u.size() > 7 && u[7] != '/') {
      // file://digests/{date}.md: a relative path, anchored like every other relative path
      // at the folder of the file that names it (local digests, the offline demo).
      s.url = "file://" + (file_->dir / std::string(u.substr(7))).lexically_normal().string();
    }
  } else if (!t.contains("url") && !t.contains("url_file")) {
    Error(table_at, label + " is missing required key \"url\"");
  }
  if (auto v = GetSchedule(t, "schedule")) s.schedule = *v;
  if (auto v = GetDuration(t, "jitter", /*allow_zero=*/true)) s.jitter = *v;
  if (auto v = GetZone(t, "timezone")) s.timezone = *v;
  if (auto v = GetInt(t, "lookback_days", 0, 366)) s.lookback_days = static_cast<int>(*v);
  if (auto v = GetInt(t, "backfill_days", 0, 3660)) s.backfill_days = static_cast<int>(*v);
  if (auto v = GetString(t, "first_run")) {
    const std::string& f = v->value;
    if (f == "baseline") {
      s.first_run = FirstRun::kBaseline;
    } else if (f == "notify") {
      s.first_run = FirstRun::kNotify;
    } else if (f.starts_with("latest:") && f.size() > 7 && f.size() <= 13 &&
               std::all_of(f.begin() + 7, f.end(),
                           [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) &&
               std::stoll(f.substr(7)) >= 1 && std::stoll(f.substr(7)) <= 100000) {
      s.first_run = FirstRun::kLatest;
      s.first_run_latest = static_cast<int>(std::stoll(f.substr(7)));
    } else {
      Error(v->where, "\"first_run\": " + v->Shown() +
                          " is not one of baseline, notify or latest:N (N >= 1)");
    }
  }
  if (auto v = GetDuration(t, "timeout")) s.timeout = *v;
  if (auto v = GetSize(t, "max_bytes")) s.max_bytes = *v;
  if (auto v = GetHeaders(t, "headers")) s.headers = std::move(*v);
  if (auto v = GetBool(t, "tls_verify")) {
    s.tls_verify = *v;
    if (!*v) Warn(At(*t.get("tls_verify")), label + ": TLS certificates are not verified");
  }
  if (auto v = GetInt(t, "alert_after_failures", 1, 1'000'000)) {
    s.alert_after_failures = static_cast<int>(*v);
  }
  if (auto v = GetInt(t, "alert_after_hours", 1, 1'000'000)) {
    s.alert_after_hours = static_cast<int>(*v);
  }
  if (auto v = GetInt(t, "alert_after_missing_days", 0, 3650)) {
    s.alert_after_missing_days = static_cast<int>(*v);
  }
  if (auto v = GetBool(t, "enabled")) {
    s.enabled = *v;
    if (!*v) {
      Warn(At(*t.get("enabled")), label + " is disabled: its state is kept, nothing is fetched");
    }
  }
  if (!refs.name.file) refs.name = table_at;
  config_.sources.push_back(std::move(s));
  source_refs_.push_back(refs);
}

const Loader::NotifierKind Loader::kNotifierKinds[] = {
    {.name = "email", .keys = kEmailKeys, .read = &Loader::ReadEmailSettings},
    {.name = "webhook",
     .keys = kWebhookKeys,
     .group = Grouping::kPaper,
     .read = &Loader::ReadWebhookSettings},
    {.name = "exec",
     .keys = kExecKeys,
     .reach = Reach::kProcess,
     .group = Grouping::kPaper,
     .read = &Loader::ReadExecSettings},
    {.name = "slack",
     .keys = kChatUrlKeys,
     .read = &Loader::ReadChatUrlSettings<SlackSettings>},
    {.name = "discord",
     .keys = kChatUrlKeys,
     .read = &Loader::ReadChatUrlSettings<DiscordSettings>},
    {.name = "teams",
     .keys = kChatUrlKeys,
     .read = &Loader::ReadChatUrlSettings<TeamsSettings>},
    {.name = "telegram",
     .keys = kTelegramKeys,
     .read = &Loader::ReadTelegramSettings},
    {.name = "matrix",
     .keys = kMatrixKeys,
     .read = &Loader::ReadMatrixSettings},
    {.name = "mattermost",
     .keys = kChatUrlKeys,
     .read = &Loader::ReadChatUrlSettings<MattermostSettings>},
    {.name = "googlechat",
     .keys = kChatUrlKeys,
     .read = &Loader::ReadChatUrlSettings<GoogleChatSettings>},
    {.name = "ntfy",
     .keys = kNtfyKeys,
     .read = &Loader::ReadNtfySettings},
    // Local kinds: every line "in flight" at once goes out in one write (and, for a file, one
    // fsync), so a high cap is a batch size, not a load on anyone: a delivery claim's 512
    // rows, one write each.
    {.name = "console",
     .reach = Reach::kLocal,
     .group = Grouping::kPaper,
     .max_in_flight = 512,
     .read = &Loader::ReadConsoleSettings},
    {.name = "file",
     .keys = kFileKeys,
     .reach = Reach::kLocal,
     .group = Grouping::kPaper,
     .max_in_flight = 512,
     .templates = false,
     .read = &Loader::ReadFileSettings},
};

const Loader::NotifierKind* Loader::FindNotifierKind(std::string_view name) const {
  for (const NotifierKind& kind : kNotifierKinds) {
    if (kind.name == name) return &kind;
  }
  return nullptr;
}

const std::vector<KeySpec>& Loader::NotifierKeys(const NotifierKind* kind) {
  const auto [it, fresh] = notifier_keys_.try_emplace(kind);
  std::vector<KeySpec>& keys = it->second;
  if (!fresh) return keys;
  keys.assign(std::begin(kNotifierCommonKeys), std::end(kNotifierCommonKeys));
  const auto add = [&](std::span<const KeySpec> more) {
    for (const KeySpec& k : more) {
      const bool seen = std::any_of(keys.begin(), keys.end(),
                                    [&](const KeySpec& have) { return have.name == k.name; });
      if (!seen) keys.push_back(k);
    }
  };
  if (kind == nullptr || kind->templates) add(kNotifierTemplateKeys);
  if (kind == nullptr || kind->reach != Reach::kLocal) add(kNotifierTimeoutKeys);
  if (kind == nullptr || kind->reach == Reach::kNetwork) add(kNotifierTlsKeys);
  if (kind != nullptr) {
    add(kind->keys);
  } else {
    for (const NotifierKind& k : kNotifierKinds) add(k.keys);
  }
  return keys;
}

void Loader::CheckNotifierKeys(const toml::table& t, const NotifierKind* kind) {
  const std::vector<KeySpec>& own = NotifierKeys(kind);
  for (const auto& [key, node] : t) {
    const std::string_view k = key.str();
    const auto named = [&](const KeySpec& s) { return Names(s, k); };
    if (std::any_of(own.begin(), own.end(), named)) continue;
    const std::vector<KeySpec>& every = NotifierKeys(nullptr);
    if (kind != nullptr && std::any_of(every.begin(), every.end(), named)) {
      Error(At(key.source()), Quote(k) + " does not apply to notifier kind " + Quote(kind->name));
      continue;
    }
    Error(At(key.source()), "unknown key " + Quote(k) + " in [[notifier]]" +
                                Suggest(k, own, [](const KeySpec& s) { return s.name; }));
  }
}

void Loader::ReadNotifierCommon(const toml::table& t, const NotifierKind* kind,
                                const std::string& label, NotifierConfig& n) {
  if (kind != nullptr) {
    n.group = kind->group;
    n.max_in_flight = kind->max_in_flight;
    const ChannelLimits limits = LimitsFor(kind->name);
    n.max_papers = limits.default_max_papers;
    n.min_interval = limits.default_min_interval;
  }
  if (auto v = GetBool(t, "enabled")) n.enabled = *v;
  if (auto v = GetInt(t, "max_papers", 1, 100000)) n.max_papers = static_cast<int>(*v);
  if (auto v = GetEnum(t, "group", std::begin(kGroups), std::end(kGroups))) {
    n.group = *v == "paper" ? Grouping::kPaper : Grouping::kDigest;
  }
  if (auto v = GetInt(t, "max_in_flight", 1, 1000)) n.max_in_flight = static_cast<int>(*v);
  if (auto v = GetDuration(t, "min_interval", /*allow_zero=*/true)) n.min_interval = *v;
  if (auto v = GetInt(t, "retry_max_attempts", 1, 1000)) {
    n.retry_max_attempts = static_cast<int>(*v);
  }
  if (auto v = GetDuration(t, "retry_max_age")) {
    n.retry_max_age = std::chrono::ceil<std::chrono::seconds>(*v);
  }
  // Keys that do not apply to this kind were reported by CheckNotifierKeys; not read here.
  const Reach reach = kind != nullptr ? kind->reach : Reach::kNetwork;
  if (reach != Reach::kLocal) {
    if (auto v = GetDuration(t, "timeout")) n.timeout = *v;
  }
  if (reach == Reach::kNetwork) {
    if (auto v = GetBool(t, "tls_verify")) {
      n.tls_verify = *v;
      if (!*v) Warn(At(*t.get("tls_verify")), label + ": TLS certificates are not verified");
    }
    if (auto v = GetPath(t, "ca_file")) {
      n.ca_file = *v;
      if (Status readable = CheckReadable(*v); !readable) {
        Error(At(*t.get("ca_file")),
              "\"ca_file\": cannot read " + Quote(*v) + ": " + readable.error().message);
      }
    }
  }
  if (kind == nullptr || kind->templates) {
    if (const toml::node* v = t.get("template_file"); v != nullptr) {
      // Read here so a missing file is reported at the key; compiled by `digestd check`
      // and by the channel (notifiers/template.h), which report the template's own lines.
      if (auto path = GetPath(t, "template_file")) {
        Result<std::string> text = ReadFile(*path, kMaxTemplateBytes);
        if (!text) {
          Error(At(*v), "\"template_file\": cannot read " + Quote(*path) + ": " +
                            text.error().message);
        } else {
          n.template_file = *path;
          n.template_text = std::move(*text);
        }
      }
    }
  }
}

void Loader::ReadNotifier(const toml::table& t) {
  in_notifier_ = true;
  ReadNotifierTable(t);
  in_notifier_ = false;
}

void Loader::ReadNotifierTable(const toml::table& t) {
  NotifierConfig n;
  NotifierRefs refs;
  refs.table = At(t);
  std::string label = "[[notifier]]";
  if (auto v = GetString(t, "name")) {
    refs.name = v->where;
    n.name = v->value;
    label = "notifier " + v->Shown();
    if (v->value.empty()) Error(v->where, "\"name\" must not be empty");
  } else if (!t.contains("name")) {
    Error(refs.table, "[[notifier]] is missing required key \"name\"");
  }
  const NotifierKind* kind = nullptr;
  if (auto v = GetString(t, "kind")) {
    n.kind = v->value;
    kind = FindNotifierKind(v->value);
    if (kind == nullptr) {
      std::vector<std::string_view> names;
      for (const NotifierKind& k : kNotifierKinds) names.push_back(k.name);
      const std::string_view* first = names.data();
      Error(v->where, "unknown notifier kind " + v->Shown() + " (expected " +
                          Join(first, first + names.size()) + ")" +
                          SuggestValue(v->value, first, first + names.size()));
    } else if (kind->read == nullptr) {
      Error(v->where, "notifier kind " + v->Shown() + " is not supported yet");
    }
  } else if (!t.contains("kind")) {
    Error(refs.table, label + " is missing required key \"kind\"");
  }
  CheckNotifierKeys(t, kind);
  ReadNotifierCommon(t, kind, label, n);
  if (kind != nullptr && kind->read != nullptr) {
    for (const KeySpec& k : kind->keys) {
      if (k.required && !t.contains(k.name) &&
          !(k.file_form && t.contains(std::string(k.name) + "_file"))) {
        Error(refs.table, label + " is missing required key " + Quote(k.name) + " (kind " +
                              Quote(kind->name) + ")");
      }
    }
    n.settings = (this->*kind->read)(t, label);
  } else if (kind != nullptr) {
    // Documented, not built: type-checked so `check` already catches mistakes in them.
    for (const KeySpec& k : kind->keys) TypeCheck(t, k);
  }
  if (!refs.name.file) refs.name = refs.table;
  config_.notifiers.push_back(std::move(n));
  notifier_refs_.push_back(refs);
}

KindSettings Loader::ReadConsoleSettings(const toml::table&, const std::string&) {
  return ConsoleSettings{};
}

KindSettings Loader::ReadFileSettings(const toml::table& t, const std::string& label) {
  FileSettings file;
  if (auto v = GetPath(t, "path")) {
    file.path = std::move(*v);
    // A file that cannot be written fails only at the first match: say so now. A warning,
    // not an error: the folder may be made later, and the lines wait in the outbox.
    const fs::path dir = fs::path(file.path).parent_path();
    std::error_code ec;
    const Where at = At(*t.get("path"));
    if (!fs::is_directory(dir, ec)) {
      Warn(at, label + ": \"path\": the folder " + Quote(dir.string()) +
                   " does not exist; every line waits in the outbox until it does");
    } else if (fs::exists(file.path, ec) ? ::access(file.path.c_str(), W_OK) != 0
                                         : ::access(dir.c_str(), W_OK) != 0) {
      Warn(at, label + ": \"path\": " + Quote(file.path) + " cannot be written by this user");
    }
    WarnIfOutsideUnit(file.path, at, label + ": \"path\"");
  }
  return file;
}

// The system unit (systemd/digestd.service.in) runs with ProtectSystem=strict: the service
// may write only its StateDirectory= and LogsDirectory=; ProtectHome=yes hides /home, /root
// and /run/user, and PrivateTmp=yes gives it a /tmp of its own. A path outside those works
// for `digestd once` run by root and fails in the service, so `check` says so for the
// unit's config (/etc/digestd/digestd.toml). Under systemd the unit names its directories
// in $STATE_DIRECTORY and $LOGS_DIRECTORY (colon-separated); those are used when set.
void Loader::WarnIfOutsideUnit(const fs::path& path, const Where& at, const std::string& what) {
  std::error_code ec;
  if (fs::weakly_canonical(config_.path, ec) != fs::path(kSystemConfigPath)) return;
  std::vector<fs::path> dirs;
  for (const char* name : {"STATE_DIRECTORY", "LOGS_DIRECTORY"}) {
    const char* value = std::getenv(name);
    if (value == nullptr) continue;
    std::string_view list(value);
    while (!list.empty()) {
      const std::size_t colon = list.find(':');
      if (colon != 0) dirs.emplace_back(std::string(list.substr(0, colon)));
      if (colon == std::string_view::npos) break;
      list.remove_prefix(colon + 1);
    }
  }
  if (dirs.empty()) dirs = {kUnitStateDirectory, kUnitLogsDirectory};
  const fs::path target = fs::weakly_canonical(path, ec).lexically_normal();
  const auto under = [&](const fs::path& dir) {
    const fs::path rel = target.lexically_relative(fs::path(dir).lexically_normal());
    return !rel.empty() && *rel.begin() != "..";
  };
  for (const fs::path& dir : dirs) {
    if (under(dir)) return;
  }
  std::string allowed;
  for (const fs::path& dir : dirs) allowed += (allowed.empty() ? "" : " or ") + dir.string();
  if (under("/tmp") || under("/var/tmp")) {
    Warn(at, what + ": " + Quote(target.string()) +
                 " is in the service's private /tmp (PrivateTmp=yes in digestd.service): "
                 "nothing written there is seen outside the service; use a path under " +
                 allowed);
    return;
  }
  Warn(at, what + ": " + Quote(target.string()) +
               " is outside what the digestd service may write (ProtectSystem=strict in "
               "digestd.service): it works from a shell but fails in the service; use a path "
               "under " +
               allowed + ", or add ReadWritePaths= for it in a drop-in");
}

KindSettings Loader::ReadWebhookSettings(const toml::table& t, const std::string&) {
  WebhookSettings webhook;
  if (auto v = GetString(t, "url", /*file_form=*/true)) {
    if (CheckTargetUrl(*v, "url")) webhook.url = std::move(v->value);
  }
  if (auto v = GetWebhookSecrets(t)) webhook.secrets = std::move(*v);
  if (auto v = GetHeaders(t, "headers")) webhook.headers = std::move(*v);
  if (auto v = GetEnum(t, "method", std::begin(kWebhookMethods), std::end(kWebhookMethods))) {
    webhook.method = *v;
  }
  return webhook;
}

KindSettings Loader::ReadExecSettings(const toml::table& t, const std::string& label) {
  ExecSettings exec;
  if (auto v = GetStrings(t, "command")) {
    if (v->empty()) {
      Error(At(*t.get("command")),
            "\"command\" must name the program and its arguments, like "
            "[\"/usr/local/bin/post-papers\", \"--quiet\"]");
    } else {
      // A bare name is looked up in PATH when it runs; a relative path with a slash is
      // anchored at this file's folder, like every other relative path.
      Str& program = v->front();
      if (program.value.find('/') != std::string::npos) {
        if (fs::path(program.value).is_relative()) {
          program.value = (file_->dir / program.value).lexically_normal().string();
        }
        std::error_code ec;
        if (::access(program.value.c_str(), X_OK) != 0 || fs::is_directory(program.value, ec)) {
          Warn(program.where,
               label + ": command " + program.Shown() + " is not an executable file");
        }
      }
      for (Str& s : *v) exec.command.push_back(std::move(s.value));
    }
  }
  if (auto v = GetStrings(t, "env")) {
    for (Str& s : *v) {
      if (!IsEnvName(s.value)) {
        Error(s.where, "\"env\": " + s.Shown() +
                           " is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
        continue;
      }
      exec.env.push_back(std::move(s.value));
    }
  }
  return exec;
}

KindSettings Loader::ReadEmailSettings(const toml::table& t, const std::string& label) {
  EmailSettings email;
  bool loopback = false;
  bool smtps = false;
  if (auto v = GetString(t, "url", /*file_form=*/true)) {
    // The URL may carry credentials: never shown.
    const std::string_view u = v->value;
    const std::optional<UrlTarget> target = SplitUrl(u);
    if (std::any_of(u.begin(), u.end(),
                    [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
      Error(v->where, "\"url\": the URL contains a space or a control character");
    } else if (!target || (target->scheme != "smtps" && target->scheme != "smtp")) {
      Error(v->where,
            "\"url\": must be smtps://host:465 (TLS) or smtp://host:587 (STARTTLS)");
    } else if (target->host.empty()) {
      Error(v->where, "\"url\": the URL has no host");
    } else {
      loopback = IsLoopbackHost(target->host);
      smtps = target->scheme == "smtps";
      email.url = std::move(v->value);
    }
  }
  // CONFIG.md: STARTTLS is required, except on loopback where it is used if offered.
  email.starttls = loopback ? StartTls::kIfOffered : StartTls::kRequired;
  if (auto v = GetEnum(t, "starttls", std::begin(kStartTlsModes), std::end(kStartTlsModes))) {
    const Where at = At(*t.get("starttls"));
    email.starttls = *v == "required"     ? StartTls::kRequired
                     : *v == "if-offered" ? StartTls::kIfOffered
                                          : StartTls::kNever;
    if (smtps) {
      Warn(at, label + ": \"starttls\" does not apply to smtps:// (TLS from the start)");
    } else if (!email.url.empty() && !loopback && email.starttls == StartTls::kNever) {
      Error(at, "\"starttls\": \"never\" sends mail and password in plain text; it is refused "
                "except to loopback (use smtps:// or starttls = \"required\")");
    } else if (!email.url.empty() && !loopback && email.starttls == StartTls::kIfOffered) {
      Warn(at, label + ": \"starttls\" = \"if-offered\" sends in plain text to a server that "
                       "does not offer STARTTLS");
    }
  }
  if (auto v = GetString(t, "from", /*file_form=*/true)) {
    if (auto box = ParseMailbox(v->value); !box) {
      Error(v->where, "\"from\": " + v->Shown() + ": " + box.error().message);
    } else {
      email.from = std::move(v->value);
    }
  }
  if (auto v = GetMailboxes(t, "to")) {
    if (v->empty()) Error(At(*t.get("to")), "\"to\" must hold at least one address");
    email.to = std::move(*v);
  }
  if (auto v = GetMailboxes(t, "cc")) email.cc = std::move(*v);
  if (auto v = GetMailboxes(t, "bcc")) email.bcc = std::move(*v);
  std::optional<Str> username = GetString(t, "username", /*file_form=*/true);
  std::optional<Str> password = GetString(t, "password", /*file_form=*/true);
  if (username) email.username = std::move(username->value);
  if (password) email.password = std::move(password->value);
  if (password && !username) {
    Error(password->where, "\"password\" is given without \"username\"");
  } else if (username && !password && !t.contains("password") && !t.contains("password_file")) {
    Error(username->where, "\"username\" is given without \"password\" (or \"password_file\")");
  }
  if (auto v = GetString(t, "subject_prefix")) {
    if (std::any_of(v->value.begin(), v->value.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      Error(v->where, "\"subject_prefix\": must not hold a line break or control character");
    } else {
      email.subject_prefix = std::move(v->value);
    }
  }
  if (const toml::node* n = t.get("list_unsubscribe")) {
    std::vector<Str> values;
    if (n->is_array()) {
      if (auto v = GetStrings(t, "list_unsubscribe")) values = std::move(*v);
    } else if (auto v = GetString(t, "list_unsubscribe")) {
      values.push_back(std::move(*v));
    }
    for (Str& s : values) {
      const std::string_view u = s.value;
      const bool ok_chars = std::none_of(u.begin(), u.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '<' || c == '>' ||
               c == ',';
      });
      if (!ok_chars || !(u.starts_with("https://") || u.starts_with("mailto:")) ||
          u.size() <= 8) {
        Error(s.where, "\"list_unsubscribe\": " + s.Shown() +
                           " must be an https:// URL or a mailto: address, without spaces, "
                           "commas or angle brackets");
        continue;
      }
      email.list_unsubscribe.push_back(std::move(s.value));
    }
  }
  return email;
}

std::optional<std::vector<std::string>> Loader::GetMailboxes(const toml::table& t,
                                                             std::string_view key) {
  std::optional<std::vector<Str>> values = GetStrings(t, key);
  if (!values) return std::nullopt;
  std::vector<std::string> out;
  bool ok = true;
  for (Str& s : *values) {
    if (auto box = ParseMailbox(s.value); !box) {
      Error(s.where, Quote(key) + ": " + s.Shown() + ": " + box.error().message);
      ok = false;
      continue;
    }
    out.push_back(std::move(s.value));
  }
  if (!ok) return std::nullopt;
  return out;
}

template <typename Settings>
KindSettings Loader::ReadChatUrlSettings(const toml::table& t, const std::string&) {
  Settings settings;
  if (auto v = GetString(t, "url", /*file_form=*/true)) {
    if (CheckTargetUrl(*v, "url")) settings.url = std::move(v->value);
  }
  return settings;
}

KindSettings Loader::ReadTelegramSettings(const toml::table& t, const std::string&) {
  TelegramSettings telegram;
  if (auto v = GetString(t, "token", /*file_form=*/true)) {
    // "123456:AbC-dEf...": it becomes part of the request path, so nothing else may be in it.
    const std::string& token = v->value;
    const std::size_t colon = token.find(':');
    const bool digits = colon != std::string::npos && colon > 0 &&
                        std::all_of(token.begin(), token.begin() + long(colon),
                                    [](char c) { return c >= '0' && c <= '9'; });
    const bool rest = colon != std::string::npos && colon + 1 < token.size() &&
                      std::all_of(token.begin() + long(colon) + 1, token.end(), [](char c) {
                        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
                      });
    if (!digits || !rest) {
      Error(v->where, "\"token\": " + (v->secret.empty() ? std::string("the value") : v->Shown()) +
                          " is not a bot token (digits, ':', then letters, digits, '_' or '-')");
    } else {
      telegram.token = token;
    }
  }
  if (const toml::node* n = t.get("chat_id")) {
    std::string id;
    if (const auto* i = n->as_integer()) {
      id = std::to_string(i->get());
    } else if (auto v = GetString(t, "chat_id")) {
      id = v->value;
    }
    const bool numeric = !id.empty() && id.find_first_not_of("-0123456789") == std::string::npos &&
                         id.find('-', 1) == std::string::npos && id != "-";
    const bool channel = id.size() > 1 && id[0] == '@' &&
                         std::all_of(id.begin() + 1, id.end(), [](char c) {
                           return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                         });
    if (numeric || channel) {
      telegram.chat_id = id;
    } else if (n->is_integer() || n->is_string()) {
      Error(At(*n), "\"chat_id\": expected a chat number (like -1001234567890) or "
                    "\"@channelname\"");
    }
  }
  if (auto v = GetString(t, "api_url")) {
    if (CheckTargetUrl(*v, "api_url")) {
      while (v->value.ends_with('/')) v->value.pop_back();
      telegram.api_url = std::move(v->value);
    }
  }
  return telegram;
}

KindSettings Loader::ReadMatrixSettings(const toml::table& t, const std::string&) {
  MatrixSettings matrix;
  if (auto v = GetString(t, "homeserver")) {
    if (CheckTargetUrl(*v, "homeserver")) {
      if (v->value.find_first_of("?#") != std::string::npos) {
        Error(v->where, "\"homeserver\": give the server's base URL, without a query");
      } else {
        while (v->value.ends_with('/')) v->value.pop_back();
        matrix.homeserver = std::move(v->value);
      }
    }
  }
  if (auto v = GetString(t, "room_id")) {
    const std::string& id = v->value;
    if (id.size() < 4 || id[0] != '!' || id.find(':') == std::string::npos ||
        std::any_of(id.begin(), id.end(), [](char c) {
          return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
        })) {
      Error(v->where, "\"room_id\": " + v->Shown() +
                          " is not a room id like \"!abcdef:example.org\" (a #alias is not "
                          "resolved: copy the id from the room's settings)");
    } else {
      matrix.room_id = id;
    }
  }
  if (auto v = GetString(t, "access_token", /*file_form=*/true)) {
    if (CheckTokenText(*v, "access_token")) matrix.access_token = std::move(v->value);
  }
  return matrix;
}

KindSettings Loader::ReadNtfySettings(const toml::table& t, const std::string&) {
  NtfySettings ntfy;
  if (auto v = GetString(t, "url", /*file_form=*/true)) {
    if (CheckTargetUrl(*v, "url")) {
      const std::string& url = v->value;
      const std::size_t path = url.find('/', url.find("://") + 3);
      const std::size_t last = url.rfind('/');
      if (url.find_first_of("?#") != std::string::npos || path == std::string::npos ||
          last + 1 >= url.size()) {
        Error(v->where, "\"url\": give the server and the topic, like "
                        "\"https://ntfy.sh/mytopic\", without a query");
      } else {
        ntfy.url = url;
      }
    }
  }
  if (auto v = GetString(t, "token", /*file_form=*/true)) {
    if (CheckTokenText(*v, "token")) ntfy.token = std::move(v->value);
  }
  if (const toml::node* n = t.get("priority")) {
    constexpr std::pair<std::string_view, int> kNames[] = {
        {"min", 1}, {"low", 2}, {"default", 3}, {"high", 4}, {"max", 5}, {"urgent", 5}};
    if (n->is_integer()) {
      if (auto v = GetInt(t, "priority", 1, 5)) ntfy.priority = static_cast<int>(*v);
    } else if (auto v = GetString(t, "priority")) {
      for (const auto& [name, level] : kNames) {
        if (v->value == name) ntfy.priority = level;
      }
      if (ntfy.priority == 0) {
        Error(v->where, "\"priority\": expected 1-5 or min, low, default, high, max, urgent; got " +
                            v->Shown());
      }
    }
  }
  return ntfy;
}

bool Loader::CheckTokenText(const Str& token, std::string_view key) {
  const std::string_view v = token.value;
  if (v.empty()) {
    Error(token.where, Quote(key) + " is empty");
    return false;
  }
  if (std::any_of(v.begin(), v.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
    Error(token.where, Quote(key) + ": the value contains a space or a control character");
    return false;
  }
  return true;
}

bool Loader::CheckTargetUrl(const Str& url, std::string_view key) {
  // The value may carry a token (in the path, the query or the user part): never shown.
  const std::string_view u = url.value;
  if (std::any_of(u.begin(), u.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
    Error(url.where, Quote(key) + ": the URL contains a space or a control character");
    return false;
  }
  const std::optional<UrlTarget> target = SplitUrl(u);
  if (!target || (target->scheme != "https" && target->scheme != "http")) {
    Error(url.where, Quote(key) + ": must be an https:// URL (or http:// to a loopback host)");
    return false;
  }
  if (target->host.empty()) {
    Error(url.where, Quote(key) + ": the URL has no host");
    return false;
  }
  if (target->scheme == "http" && !IsLoopbackHost(target->host)) {
    Error(url.where, Quote(key) + ": plain http:// is refused except to loopback; use https://");
    return false;
  }
  return true;
}

std::optional<std::vector<std::string>> Loader::GetWebhookSecrets(const toml::table& t) {
  const toml::node* n = t.get("secret");
  std::vector<Str> values;
  std::vector<std::string> which;  // how each value is named in a message (never its text)
  if (n != nullptr && n->is_array()) {
    if (const toml::node* nf = t.get("secret_file")) {
      Error(At(*nf), "give either \"secret\" or \"secret_file\", not both");
      return std::nullopt;
    }
    std::optional<std::vector<Str>> v = GetStrings(t, "secret");
    if (!v) return std::nullopt;
    if (v->empty()) {
      Error(At(*n), "\"secret\" must hold at least one \"whsec_...\" secret");
      return std::nullopt;
    }
    for (std::size_t i = 0; i < v->size(); ++i) {
      which.push_back((*v)[i].secret.empty() ? "entry " + std::to_string(i + 1) : (*v)[i].Shown());
    }
    values = std::move(*v);
  } else {
    if (n != nullptr && !n->is_string()) {
      Error(At(*n),
            "\"secret\": expected a \"whsec_...\" string or an array of them, got " + TypeName(*n));
      return std::nullopt;
    }
    std::optional<Str> v = GetString(t, "secret", /*file_form=*/true);
    if (!v) return std::nullopt;
    if (v->secret == "secret_file") {
      // Several secrets while rotating: one per line.
      std::size_t line_number = 0;
      std::size_t begin = 0;
      while (begin <= v->value.size()) {
        std::size_t end = v->value.find('\n', begin);
        if (end == std::string::npos) end = v->value.size();
        ++line_number;
        std::string line = v->value.substr(begin, end - begin);
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty()) {
          values.push_back(Str{.value = std::move(line), .secret = v->secret, .where = v->where});
          which.push_back("line " + std::to_string(line_number) + " of \"secret_file\"");
        }
        begin = end + 1;
      }
      if (values.empty()) {
        Error(v->where, "\"secret\": \"secret_file\" holds no secret");
        return std::nullopt;
      }
    } else {
      which.push_back(v->secret.empty() ? "the value" : v->Shown());
      values.push_back(std::move(*v));
    }
  }
  std::vector<std::string> out;
  bool ok = true;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (std::string problem = CheckWebhookSecret(values[i].value); !problem.empty()) {
      Error(values[i].where, "\"secret\": " + which[i] + " " + problem);
      ok = false;
      continue;
    }
    out.push_back(std::move(values[i].value));
  }
  if (!ok) return std::nullopt;
  return out;
}

void Loader::ReadWatch(const toml::table& t) {
  CheckKeys(t, kWatchKeys, "[[watch]]");
  WatchConfig w;
  WatchRefs refs;
  const Where table_at = At(t);
  w.line = table_at.line;
  w.column = table_at.column;
  w.file = file_->display;
  std::string label = "[[watch]]";
  if (auto v = GetString(t, "name")) {
    refs.name = v->where;
    w.spec.name = v->value;
    label = "watch " + v->Shown();
    if (v->value.empty()) Error(v->where, "\"name\" must not be empty");
  } else if (!t.contains("name")) {
    Error(table_at, "[[watch]] is missing required key \"name\"");
  }
  if (auto v = GetString(t, "query")) {
    w.spec.query = v->value;
    QueryError detail;
    if (!ParseQuery(v->value, &detail)) {
      // Point at the offending character: the value starts after its opening quote (exact
      // for one-line strings without escapes, which is how queries are written).
      Where at = v->where;
      at.column += detail.column;
      Error(at, label + ": query: " + detail.message + "\n" + RenderCaret(v->value, detail.column));
    }
  }
  if (auto v = GetStrings(t, "keywords")) {
    for (Str& s : *v) w.spec.keywords.push_back(std::move(s.value));
  }
  if (auto v = GetStrings(t, "authors")) {
    for (Str& s : *v) w.spec.authors.push_back(std::move(s.value));
  }
  if (auto v = GetStrings(t, "exclude")) {
    for (Str& s : *v) w.spec.exclude.push_back(std::move(s.value));
  }
  const auto empty_list = [&](std::string_view key) {
    const toml::node* n = t.get(key);
    return n == nullptr || (n->is_array() && n->as_array()->empty());
  };
  if (!t.contains("query") && empty_list("keywords") && empty_list("authors")) {
    Error(table_at, label + " needs at least one of \"query\", \"keywords\" or \"authors\"");
  }
  if (auto v = GetInt(t, "min_votes", 0, std::numeric_limits<int>::max())) {
    w.spec.min_votes = static_cast<int>(*v);
  }
  if (auto v = GetStrings(t, "sources")) {
    for (Str& s : *v) {
      refs.sources.push_back({s.value, s.where});
      w.spec.sources.push_back(std::move(s.value));
    }
  }
  if (auto v = GetStrings(t, "events")) {
    w.spec.events.clear();
    for (Str& s : *v) {
      if (!Contains(kEvents, s.value)) {
        Error(s.where,
              "\"events\": " + s.Shown() + " is not one of " +
                  Join(std::begin(kEvents), std::end(kEvents)) +
                  (s.secret.empty() ? SuggestValue(s.value, std::begin(kEvents), std::end(kEvents))
                                    : ""));
      }
      w.spec.events.push_back(std::move(s.value));
    }
    if (v->empty()) Error(At(*t.get("events")), "\"events\" must name at least one event");
  }
  if (auto v = GetStrings(t, "notify")) {
    for (Str& s : *v) {
      refs.notify.push_back({s.value, s.where});
      w.spec.notify.push_back(std::move(s.value));
    }
    if (v->empty()) Error(At(*t.get("notify")), "\"notify\" must name at least one notifier");
  } else if (!t.contains("notify")) {
    Error(table_at, label + " is missing required key \"notify\"");
  }
  constexpr std::string_view kDeliveries[] = {"instant", "digest"};
  if (auto v = GetEnum(t, "delivery", std::begin(kDeliveries), std::end(kDeliveries))) {
    w.delivery = *v;
  }
  for (std::string_view key : {"digest_schedule", "timezone"}) {
    const auto it = t.find(key);
    if (it == t.end()) continue;
    std::optional<std::string> value = key == "timezone" ? GetZone(t, key) : GetSchedule(t, key);
    if (value && w.delivery != "digest") {
      Error(At(it->first.source()), Quote(key) + " applies only with delivery = \"digest\"");
    } else if (value) {
      (key == "timezone" ? w.timezone : w.digest_schedule) = std::move(*value);
    }
  }
  if (auto v = GetBool(t, "enabled")) w.enabled = *v;
  if (!refs.name.file) refs.name = table_at;
  config_.watches.push_back(std::move(w));
  watch_refs_.push_back(std::move(refs));
}

void Loader::ReadHighlights(const toml::table& t) {
  CheckKeys(t, kHighlightsKeys, "[[highlights]]");
  HighlightsConfig h;
  HighlightsRefs refs;
  const Where table_at = At(t);
  h.line = table_at.line;
  h.column = table_at.column;
  h.file = file_->display;
  std::string label = "[[highlights]]";
  if (auto v = GetString(t, "name")) {
    refs.name = v->where;
    h.name = v->value;
    label = "highlights " + v->Shown();
    if (v->value.empty()) Error(v->where, "\"name\" must not be empty");
  } else if (!t.contains("name")) {
    Error(table_at, "[[highlights]] is missing required key \"name\"");
  }
  if (auto v = GetStrings(t, "sources")) {
    for (Str& s : *v) {
      refs.sources.push_back({s.value, s.where});
      h.sources.push_back(std::move(s.value));
    }
    if (v->empty()) Error(At(*t.get("sources")), "\"sources\" must name at least one source");
  }
  if (auto v = GetInt(t, "top", 1, 100)) h.top = static_cast<int>(*v);
  if (auto v = GetSchedule(t, "schedule")) h.schedule = *v;
  if (auto v = GetZone(t, "timezone")) h.timezone = *v;
  constexpr std::string_view kOnEmpty[] = {"skip", "note"};
  if (auto v = GetEnum(t, "on_empty", std::begin(kOnEmpty), std::end(kOnEmpty))) {
    h.note_when_empty = *v == "note";
  }
  if (auto v = GetStrings(t, "notify")) {
    for (Str& s : *v) {
      refs.notify.push_back({s.value, s.where});
      h.notify.push_back(std::move(s.value));
    }
    if (v->empty()) Error(At(*t.get("notify")), "\"notify\" must name at least one notifier");
  } else if (!t.contains("notify")) {
    Error(table_at, label + " is missing required key \"notify\"");
  }
  if (!refs.name.file) refs.name = table_at;
  config_.highlights.push_back(std::move(h));
  highlights_refs_.push_back(std::move(refs));
}

void Loader::ReadFileTables(const toml::table& root) {
  for (const toml::table* t : Tables(root, "source")) ReadSource(*t);
  for (const toml::table* t : Tables(root, "notifier")) ReadNotifier(*t);
  for (const toml::table* t : Tables(root, "watch")) ReadWatch(*t);
}

void Loader::ReadIncludes(const toml::table& root, std::vector<std::pair<fs::path, Where>>& found) {
  std::optional<std::vector<Str>> patterns = GetStrings(root, "include");
  if (!patterns) return;
  for (const Str& pattern : *patterns) {
    if (HasControl(pattern.value)) {
      Error(pattern.where, "\"include\": a path must not hold a NUL or other control character");
      continue;
    }
    const fs::path p(pattern.value);
    const bool wildcard = pattern.value.find_first_of("*?[") != std::string::npos;
    const std::string full =
        p.is_absolute() ? pattern.value : GlobEscape(file_->dir.string()) + "/" + pattern.value;
    if (!wildcard) {
      const fs::path path = (p.is_absolute() ? p : file_->dir / p).lexically_normal();
      std::error_code ec;
      if (!fs::exists(path, ec)) {
        Error(pattern.where, "included file " + pattern.Shown() + " does not exist");
      } else {
        found.push_back({path, pattern.where});
      }
      continue;
    }
    glob_t g{};
    const int rc = ::glob(full.c_str(), 0, nullptr, &g);
    std::vector<std::string> matches;
    if (rc == 0) {
      for (std::size_t i = 0; i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
    } else if (rc != GLOB_NOMATCH) {
      Error(pattern.where, "cannot expand include pattern " + pattern.Shown());
    }
    ::globfree(&g);
    // Byte order, not the locale's collation, so every machine loads in the same order.
    std::sort(matches.begin(), matches.end());
    if (found.size() + matches.size() > kMaxIncludedFiles) {
      Error(pattern.where, "include pattern " + pattern.Shown() + " matches more than " +
                               std::to_string(kMaxIncludedFiles) + " files");
      continue;
    }
    for (const std::string& m : matches) {
      std::error_code ec;
      if (fs::is_directory(m, ec)) continue;
      found.push_back({fs::path(m).lexically_normal(), pattern.where});
    }
  }
}

std::string ModeText(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

void Loader::WarnIfOthersMayAccess(const fs::path& path, const Where& w, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || (st.st_mode & (S_IROTH | S_IWOTH)) == 0) return;
  Warn(w, what + " is " +
              ((st.st_mode & S_IROTH) && (st.st_mode & S_IWOTH) ? "readable and writable"
               : (st.st_mode & S_IROTH)                         ? "readable"
                                                                : "writable") +
              " by others (mode " + ModeText(st.st_mode) + "); chmod o-rw it");
}

void Loader::CheckFileModes() {
  for (const FileCtx& f : files_) {
    struct stat st {};
    if (f.path.empty() || (f.order == 0 && !main_text_from_file_) ||
        ::stat(f.path.c_str(), &st) != 0) {
      continue;
    }
    const Where where{.file = &f};
    if (st.st_mode & S_IWOTH) {
      Warn(where, "this file is writable by others (mode " + ModeText(st.st_mode) +
                      "): anyone can change what digestd fetches, runs and sends; chmod o-w it");
    }
    if ((st.st_mode & S_IROTH) && literal_secret_files_.count(f.order) > 0) {
      Warn(where, "this file holds secrets as written and is readable by others (mode " +
                      ModeText(st.st_mode) + "); chmod o-r it, or give them as KEY_file or "
                      "\"${NAME}\"");
    }
  }
}

void Loader::CrossCheck() {
  const auto first_at = [](const Where& first, const Where& second) {
    return first.file == second.file ? "line " + std::to_string(first.line)
                                     : first.file->display + ":" + std::to_string(first.line);
  };
  for (SourceConfig& source : config_.sources) {
    if (source.timezone.empty()) source.timezone = config_.daemon.timezone;
  }
  for (HighlightsConfig& h : config_.highlights) {
    if (h.timezone.empty()) h.timezone = config_.daemon.timezone;
  }
  for (WatchConfig& w : config_.watches) {
    if (w.timezone.empty()) w.timezone = config_.daemon.timezone;
  }
  // Each name an earlier entry of the same kind already has, with where the first is: one
  // pass with a hash map, so 100,000 watches cost 100,000 lookups, not 5 billion compares.
  const auto check_unique = [&](const auto& items, const auto& refs, std::string_view what) {
    std::unordered_map<std::string_view, std::size_t> first;
    first.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string& name = NameOf(items[i]);
      if (name.empty()) continue;
      const auto [it, fresh] = first.emplace(name, i);
      if (fresh) continue;
      Error(refs[i].name, "duplicate " + std::string(what) + " name " + Quote(name) +
                              " (first defined at " + first_at(refs[it->second].name, refs[i].name) +
                              ")");
    }
  };
  check_unique(config_.sources, source_refs_, "source");
  check_unique(config_.notifiers, notifier_refs_, "notifier");
  check_unique(config_.watches, watch_refs_, "watch");
  check_unique(config_.highlights, highlights_refs_, "highlights");
  // Names looked up by hash, not by a scan of the config: a watch that names each of 1,000
  // notifiers costs 1,000 lookups, not a million compares.
  const auto names_of = [](const auto& items) {
    std::unordered_set<std::string_view> names;
    names.reserve(items.size());
    for (const auto& item : items) names.insert(NameOf(item));
    return names;
  };
  const std::unordered_set<std::string_view> notifier_names = names_of(config_.notifiers);
  const std::unordered_set<std::string_view> source_names = names_of(config_.sources);
  std::unordered_set<std::string_view> used;
  const auto check_notifier = [&](const NamedAt& ref, std::string_view who) {
    used.insert(ref.name);
    if (!notifier_names.contains(ref.name)) {
      Error(ref.where, std::string(who) + " names unknown notifier " + Quote(ref.name) +
                           Suggest(ref.name, config_.notifiers, [](const NotifierConfig& n) {
                             return std::string_view(n.name);
                           }));
    }
  };
  for (const NamedAt& ref : alert_notify_refs_) check_notifier(ref, "\"alert_notify\"");
  const auto check_source = [&](const NamedAt& ref, const std::string& who) {
    if (source_names.contains(ref.name)) return;
    Error(ref.where, who + " names unknown source " + Quote(ref.name) +
                         Suggest(ref.name, config_.sources, [](const SourceConfig& s) {
                           return std::string_view(s.name);
                         }));
  };
  for (std::size_t i = 0; i < watch_refs_.size(); ++i) {
    const std::string who = "watch " + Quote(config_.watches[i].spec.name);
    for (const NamedAt& ref : watch_refs_[i].notify) check_notifier(ref, who);
    for (const NamedAt& ref : watch_refs_[i].sources) check_source(ref, who);
    const WatchSpec& watch = config_.watches[i].spec;
    if (watch.min_votes) {
      // CONFIG.md: a paper without votes never meets min_votes; say so when no selected
      // source carries votes at all.
      bool any_votes = false;
      for (const SourceConfig& s : config_.sources) {
        const bool selected =
            watch.sources.empty() ||
            std::find(watch.sources.begin(), watch.sources.end(), s.name) != watch.sources.end();
        const DigestFormat* format = FindDigestFormat(s.kind);
        if (selected && format != nullptr && format->carries_votes) any_votes = true;
      }
      if (!any_votes && !config_.sources.empty()) {
        Warn(watch_refs_[i].name, who +
                                      ": min_votes is set, but none of its sources carries "
                                      "votes (only " + FormatsWithVotes() +
                                      " do), so it never fires");
      }
    }
  }
  for (std::size_t i = 0; i < highlights_refs_.size(); ++i) {
    const std::string who = "highlights " + Quote(config_.highlights[i].name);
    for (const NamedAt& ref : highlights_refs_[i].notify) check_notifier(ref, who);
    for (const NamedAt& ref : highlights_refs_[i].sources) check_source(ref, who);
  }
  for (std::size_t i = 0; i < config_.notifiers.size(); ++i) {
    const std::string& name = config_.notifiers[i].name;
    if (!name.empty() && !used.contains(name)) {
      Warn(notifier_refs_[i].table,
           "notifier " + Quote(name) + " is not used by any watch, highlights or alert_notify");
    }
  }
  if (!config_.sources.empty() && config_.daemon.alert_notify.empty()) {
    Warn(source_refs_.front().name,
         "[daemon] alert_notify is not set: nobody hears when a source keeps failing or a "
         "notifier's messages go dead (name a notifier there)");
  }
}

ConfigLoad Loader::Load(std::string_view text, const std::string& path) {
  std::error_code ec;
  fs::path absolute = fs::absolute(fs::path(path), ec).lexically_normal();
  if (ec) absolute = fs::path(path);
  config_.path = absolute.string();
  files_.push_back(
      FileCtx{.path = absolute, .display = path, .dir = absolute.parent_path(), .order = 0});
  file_ = &files_.back();

  config_.daemon.state_path = DefaultStatePath(config_.path);

  std::optional<toml::table> root = ParseToml(text);
  std::vector<std::pair<fs::path, Where>> includes;
  if (root) {
    CheckKeys(*root, kTopKeys, "the top level");
    ReadIncludes(*root, includes);
    if (const toml::node* n = root->get("daemon")) {
      if (const auto* t = n->as_table()) {
        ReadDaemon(*t);
      } else {
        Error(At(*n), "\"daemon\": expected a table ([daemon]), got " + TypeName(*n));
      }
    }
    ReadFileTables(*root);
    for (const toml::table* t : Tables(*root, "highlights")) ReadHighlights(*t);
  }

  std::set<fs::path> loaded = {absolute};
  for (const auto& [include_path, where] : includes) {
    if (!loaded.insert(include_path).second) continue;
    file_ = &files_.front();
    fs::path rel = include_path.lexically_relative(files_.front().dir);
    const std::string display =
        !rel.empty() && *rel.begin() != ".."
            ? (fs::path(path).parent_path() / rel).lexically_normal().string()
            : include_path.string();
    Result<std::string> data = ReadFile(include_path, kMaxConfigBytes);
    if (!data) {
      Error(where, "cannot read included file " + Quote(display) + ": " + data.error().message);
      continue;
    }
    files_.push_back(FileCtx{.path = include_path,
                             .display = display,
                             .dir = include_path.parent_path(),
                             .order = static_cast<int>(files_.size())});
    file_ = &files_.back();
    std::optional<toml::table> inc = ParseToml(*data);
    if (!inc) continue;
    for (const auto& [key, node] : *inc) {
      if (!Contains(std::vector<std::string_view>{"source", "notifier", "watch"}, key.str())) {
        Error(At(key.source()),
              "an included file may hold only [[source]], [[notifier]] and [[watch]] tables, "
              "not " +
                  Quote(key.str()) +
                  Suggest(key.str(), kIncludedTopKeys, [](const KeySpec& s) { return s.name; }));
      }
    }
    ReadFileTables(*inc);
  }
  file_ = &files_.front();
  CrossCheck();
  CheckFileModes();

  // File order: the main file, then each include as loaded; by position within a file.
  std::vector<std::size_t> index(diags_.size());
  for (std::size_t i = 0; i < index.size(); ++i) index[i] = i;
  std::stable_sort(index.begin(), index.end(), [&](std::size_t a, std::size_t b) {
    return std::tie(diag_order_[a], diags_[a].line, diags_[a].column) <
           std::tie(diag_order_[b], diags_[b].line, diags_[b].column);
  });
  ConfigLoad out;
  for (std::size_t i : index) out.diagnostics.push_back(std::move(diags_[i]));
  if (!failed_) out.config = std::make_shared<const Config>(std::move(config_));
  return out;
}

}  // namespace

std::string ConfigDiagnostic::ToString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (warning) out += "warning: ";
  return out + message;
}

ConfigLoad LoadConfigText(std::string_view text, const std::string& path) {
  return Loader().Load(text, path);
}

ConfigLoad LoadConfig(const std::string& path) {
  Result<std::string> data = ReadFile(path, kMaxConfigBytes);
  if (!data) {
    ConfigLoad out;
    out.diagnostics.push_back(ConfigDiagnostic{
        .file = path, .message = "cannot read config file: " + data.error().message});
    return out;
  }
  Loader loader;
  loader.TextIsFromFile();
  return loader.Load(*data, path);
}

namespace {

// $NAME when set and not empty, else ~/FALLBACK ("" when there is no $HOME either).
std::string XdgDir(const char* name, const char* fallback) {
  if (const char* v = std::getenv(name); v != nullptr && *v != '\0') return v;
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return (fs::path(home) / fallback).string();
  }
  return {};
}

}  // namespace

std::vector<std::string> ConfigSearchPaths() {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("DIGESTD_CONFIG"); env != nullptr && *env != '\0') {
    paths.emplace_back(env);
  }
  paths.emplace_back("./digestd.toml");
  if (const std::string dir = XdgDir("XDG_CONFIG_HOME", ".config"); !dir.empty()) {
    paths.push_back((fs::path(dir) / "digestd" / "digestd.toml").string());
  }
  paths.emplace_back(kSystemConfigPath);
  return paths;
}

Result<std::string> FindConfigPath() {
  const std::vector<std::string> paths = ConfigSearchPaths();
  std::string tried;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (fs::exists(path, ec)) return path;
    tried += "\n  " + path;
  }
  return Unexpected("no configuration file found; tried (give one with --config):" + tried);
}

std::string DefaultStatePath(const std::string& config_path) {
  if (const char* dir = std::getenv("STATE_DIRECTORY"); dir != nullptr && *dir != '\0') {
    // systemd passes a colon-separated list when several StateDirectory= are set.
    const std::string first(std::string_view(dir).substr(0, std::string_view(dir).find(':')));
    return (fs::path(first) / "state.db").lexically_normal().string();
  }
  std::error_code ec;
  if (fs::weakly_canonical(config_path, ec) == fs::path(kSystemConfigPath)) {
    return "/var/lib/digestd/state.db";
  }
  const std::string dir = XdgDir("XDG_STATE_HOME", ".local/state");
  if (dir.empty()) return (fs::path(config_path).parent_path() / "state.db").string();
  return (fs::path(dir) / "digestd" / "state.db").string();
}

}  // namespace digestd
