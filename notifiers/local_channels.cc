#include "notifiers/local_channels.h"

#include <algorithm>
#include <utility>
#include <vector>

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

// Terminal output must not carry control characters from upstream data: escape sequences
// (C0 ESC, C1 CSI) could rewrite the user's screen, bidi overrides reorder what is shown.
std::string Printable(std::string_view text) { return TerminalSafe(text); }

std::string WatchList(const std::vector<std::string>& watches) {
  std::string out = "watch ";
  for (std::size_t i = 0; i < watches.size(); ++i) {
    if (i) out += ", ";
    out += "\"" + Printable(watches[i]) + "\"";
  }
  return out;
}

// One paper, its first line indented by `indent` and the rest two columns deeper.
void AppendPaper(std::string& out, const SourcedPaper& sp, const std::string& indent,
                 const std::string& event) {
  const Paper& p = sp.paper;
  const std::string more = indent + "  ";
  out += indent + (event.empty() ? "" : "[" + Printable(event) + "] ") + Printable(p.title) + "\n";
  out += more + Printable(p.url);
  if (p.votes) out += "  (" + std::to_string(*p.votes) + " votes)";
  out += "  [" + Printable(sp.source) + (sp.date.empty() ? "" : " " + Printable(sp.date)) + "]\n";
  if (!p.authors.empty()) out += more + Printable(AuthorLine(p)) + "\n";
  if (!p.summary.empty()) out += more + "- " + Printable(p.summary.front()) + "\n";
}

bool GroupedByDigest(const Notification& n) {
  return std::any_of(n.papers.begin(), n.papers.end(),
                     [](const SourcedPaper& p) { return !p.event.empty() || !p.watches.empty(); });
}

class LocalChannel final : public Channel {
 public:
  LocalChannel(Transfer transfer, std::string path, int max_papers)
      : transfer_(transfer), path_(std::move(path)), max_papers_(max_papers) {}

  Result<std::vector<Payload>> Render(const Notification& notification,
                                      const RenderContext& context) const override {
    Payload payload{.part_id = context.id, .transfer = transfer_, .url = path_};
    payload.body = transfer_ == Transfer::kConsole ? RenderConsole(notification, max_papers_)
                                                   : RenderJsonLines(notification);
    return std::vector<Payload>{std::move(payload)};
  }

  Outcome Classify(const Payload& /*payload*/, const Response& response) const override {
    if (response.failure) return {.kind = Outcome::Kind::kRetry, .reason = *response.failure};
    return {.kind = Outcome::Kind::kDelivered};
  }

 private:
  const Transfer transfer_;
  const std::string path_;
  const int max_papers_;
};

}  // namespace

std::string RenderConsole(const Notification& n, int max_papers) {
  std::string out;
  if (n.kind == "alert") {
    out += "[" + Printable(n.event) + "] source " + Printable(n.source) + ": " +
           Printable(n.message) + "\n";
    return out;
  }
  out += "[" + Printable(n.event) + "]";
  if (!n.watches.empty()) out += " " + WatchList(n.watches);
  out += "\n";
  const std::size_t shown = std::min(n.papers.size(), std::size_t(std::max(1, max_papers)));
  if (!GroupedByDigest(n)) {
    for (std::size_t i = 0; i < shown; ++i) AppendPaper(out, n.papers[i], "  ", "");
  } else {
    // Groups keyed by the paper's whole watch set, in order of first appearance: each paper
    // is listed once, under every watch it matched.
    std::vector<std::pair<const std::vector<std::string>*, std::vector<std::size_t>>> groups;
    for (std::size_t i = 0; i < shown; ++i) {
      const std::vector<std::string>& watches = n.WatchesOf(n.papers[i]);
      auto it = std::find_if(groups.begin(), groups.end(),
                             [&](const auto& group) { return *group.first == watches; });
      if (it == groups.end()) it = groups.insert(groups.end(), {&watches, {}});
      it->second.push_back(i);
    }
    for (const auto& [watches, members] : groups) {
      out += "  " + (watches->empty() ? std::string("no watch") : WatchList(*watches)) + ":\n";
      for (std::size_t i : members) AppendPaper(out, n.papers[i], "    ", n.EventOf(n.papers[i]));
    }
  }
  if (n.papers.size() > shown) {
    out += "  and " + std::to_string(n.papers.size() - shown) + " more";
    if (!n.digest_url.empty()) out += ": " + Printable(n.digest_url);
    out += "\n";
  }
  return out;
}

std::string RenderJsonLines(const Notification& n) {
  std::string out;
  for (const std::string& line : NotificationJsonLines(n)) (out += line) += '\n';
  return out;
}

Result<std::unique_ptr<Channel>> MakeConsoleChannel(const NotifierConfig& notifier,
                                                    const ConsoleSettings& /*settings*/) {
  return std::unique_ptr<Channel>(
      std::make_unique<LocalChannel>(Transfer::kConsole, "", notifier.max_papers));
}

Result<std::unique_ptr<Channel>> MakeFileChannel(const NotifierConfig& notifier,
                                                 const FileSettings& settings) {
  if (settings.path.empty() || settings.path.front() != '/') {
    return Unexpected("notifier '" + notifier.name + "': path '" + settings.path +
                      "' is not an absolute path");
  }
  return std::unique_ptr<Channel>(
      std::make_unique<LocalChannel>(Transfer::kAppend, settings.path, notifier.max_papers));
}

}  // namespace digestd
