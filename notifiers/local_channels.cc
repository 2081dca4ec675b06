#include "notifiers/local_channels.h"

#include <algorithm>

#include "core/utf8.h"

namespace digestd {
namespace {

constexpr std::size_t kMaxAuthorsShown = 4;

std::string AuthorLine(const Paper& paper) {
  std::string line;
  const std::size_t shown = std::min(paper.authors.size(), kMaxAuthorsShown);
  for (std::size_t i = 0; i < shown; ++i) {
    if (i) line += ", ";
    line += paper.authors[i];
  }
  if (paper.authors.size() > shown || paper.authors_truncated) line += ", et al.";
  return line;
}

// Terminal output must not carry control characters from upstream data (escape sequences
// could rewrite the user's screen).
std::string Printable(std::string_view text) {
  std::string out = ToValidUtf8(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

}  // namespace

std::string RenderConsole(const Notification& n, int max_papers) {
  std::string out;
  if (n.kind == "alert") {
    out += "[" + Printable(n.event) + "] source " + Printable(n.source) + ": " +
           Printable(n.message) + "\n";
    return out;
  }
  out += "[" + n.event + "]";
  if (!n.watches.empty()) {
    out += " watch ";
    for (std::size_t i = 0; i < n.watches.size(); ++i) {
      if (i) out += ", ";
      out += "\"" + Printable(n.watches[i]) + "\"";
    }
  }
  out += "\n";
  const std::size_t limit = std::min(n.papers.size(), std::size_t(std::max(1, max_papers)));
  for (std::size_t i = 0; i < limit; ++i) {
    const SourcedPaper& sp = n.papers[i];
    const Paper& p = sp.paper;
    out += "  " + Printable(p.title) + "\n";
    out += "    " + Printable(p.url);
    if (p.votes) out += "  (" + std::to_string(*p.votes) + " votes)";
    out += "  [" + Printable(sp.source) + (sp.date.empty() ? "" : " " + sp.date) + "]\n";
    if (!p.authors.empty()) out += "    " + Printable(AuthorLine(p)) + "\n";
    if (!p.summary.empty()) out += "    - " + Printable(p.summary.front()) + "\n";
  }
  if (n.papers.size() > limit) {
    out += "  and " + std::to_string(n.papers.size() - limit) + " more\n";
  }
  return out;
}

std::string RenderJsonLines(const Notification& n) {
  std::string out;
  for (const std::string& line : NotificationJsonLines(n)) (out += line) += '\n';
  return out;
}

}  // namespace digestd
