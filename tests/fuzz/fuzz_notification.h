// A Notification from fuzz bytes, for the renderer targets: the papers the markdown parser
// reads from the bytes (at most 60), plus one paper whose fields are the raw lines of the
// bytes (title, url, media, authors by ',', then summary bullets; invalid UTF-8 and control
// characters left in), so renderers see both parsed and raw hostile text. The first byte
// picks the kind (instant, digest, highlights, alert) and event.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/notification.h"
#include "fetchers/markdown_parser.h"

namespace digestd::fuzz {

inline std::vector<std::string_view> Lines(std::string_view bytes) {
  std::vector<std::string_view> lines;
  while (!bytes.empty()) {
    const std::size_t nl = bytes.find('\n');
    lines.push_back(bytes.substr(0, nl));
    if (nl == std::string_view::npos) break;
    bytes.remove_prefix(nl + 1);
  }
  return lines;
}

inline Notification NotificationFrom(std::string_view bytes) {
  static const char* const kKinds[] = {"instant", "digest", "highlights", "alert"};
  static const char* const kEvents[] = {"new", "updated", "threshold", "new_version"};
  const unsigned char pick = bytes.empty() ? 0 : static_cast<unsigned char>(bytes[0]);
  Notification n;
  n.notifier = "fuzz";
  n.kind = kKinds[pick & 3];
  n.event = kEvents[(pick >> 2) & 3];
  n.dedupe_key = "fuzz";
  n.id = NotificationId(n.dedupe_key);
  n.digest_url = "https://huggingface.co/papers?date=2024-01-29";
  const std::vector<std::string_view> lines = Lines(bytes);
  n.watches = {"fuzz", lines.empty() ? std::string() : std::string(lines.back())};
  if (n.kind == "alert") {
    n.event = "source_failing";
    n.source = lines.size() > 1 ? std::string(lines[1]) : "src";
    n.message = std::string(bytes.substr(0, 4096));
    return n;
  }
  ParseResult parsed = ParseMarkdownDigest(bytes);
  int index = 0;
  for (Paper& p : parsed.digest.papers) {
    if (index++ >= 60) break;
    SourcedPaper sp{.paper = std::move(p), .source = "markdown", .date = "2024-01-29"};
    sp.event = kEvents[index & 3];
    sp.SetPrior({.votes = index, .version = "v1", .title = "old"});
    n.papers.push_back(std::move(sp));
  }
  Paper raw;
  raw.key = "arxiv:2401.00001";
  const auto line = [&](std::size_t i) { return i < lines.size() ? std::string(lines[i]) : ""; };
  raw.title = line(0);
  raw.url = line(1);
  raw.media_url = line(2);
  for (std::string_view rest = lines.size() > 3 ? lines[3] : ""; !rest.empty();) {
    const std::size_t comma = rest.find(',');
    raw.authors.emplace_back(rest.substr(0, comma));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  for (std::size_t i = 4; i < lines.size() && i < 40; ++i) raw.summary.emplace_back(lines[i]);
  if (pick & 0x10) raw.votes = static_cast<int>(bytes.size());
  raw.authors_truncated = (pick & 0x20) != 0;
  raw.version = "v2";
  SourcedPaper sp{.paper = std::move(raw), .source = line(1), .date = "2024-01-29"};
  sp.SetPrior({.votes = 3, .version = "v1"});
  n.papers.push_back(std::move(sp));
  return n;
}

}  // namespace digestd::fuzz
