#include "notifiers/local_channels.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "core/text.h"
#include "core/utf8.h"
#include "notifiers/chat_text.h"

namespace digestd {
namespace {

constexpr std::size_t kMaxAuthorsShown = 4;
// A summary line on a terminal: about three lines of an 80-column screen.
constexpr std::size_t kSummaryShown = 240;  // code points

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

// The first summary bullet as a person reads it: markdown syntax and a leading bold label
// (`***What's New***:`) dropped, control characters blanked, one line. Text longer than
// kSummaryShown (an hf-daily or arXiv abstract is one long paragraph) keeps the whole
// sentences that fit and ends in " …"; a first sentence too long by itself is cut with "…".
std::string ConsoleSummary(std::string_view bullet) {
  const std::string safe = TerminalSafe(CleanSummary(bullet));
  std::string text;
  for (char c : safe) {
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (space && (text.empty() || text.back() == ' ')) continue;
    text += space ? ' ' : c;
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  if (TextLength(text, TextUnit::kCodePoints) <= kSummaryShown) return text;
  // Sentence ends: '.', '!', '?' before a space, and the ideographic full stop.
  std::size_t fits = 0;  // bytes of the whole sentences that fit
  for (std::size_t i = 0; i < text.size(); ++i) {
    std::size_t end = std::string::npos;
    if ((text[i] == '.' || text[i] == '!' || text[i] == '?') && i + 1 < text.size() &&
        text[i + 1] == ' ') {
      end = i + 1;
    } else if (text.compare(i, 3, "\u3002") == 0) {
      end = i + 3;
    }
    if (end == std::string::npos) continue;
    if (TextLength(std::string_view(text).substr(0, end), TextUnit::kCodePoints) + 2 >
        kSummaryShown) {
      break;
    }
    fits = end;
  }
  if (fits > 0) return text.substr(0, fits) + " \u2026";
  return CutText(text, kSummaryShown, TextUnit::kCodePoints);
}

std::string WatchList(const std::vector<std::string>& watches) {
  std::string out = "watch ";
  for (std::size_t i = 0; i < watches.size(); ++i) {
    if (i) out += ", ";
    out += "\"" + Printable(watches[i]) + "\"";
  }
  return out;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

// What a console paper entry sees (README "Templates"); values raw, escaped when rendered.
TemplateData ConsolePaperData(const Notification& n, const SourcedPaper& sp, bool grouped) {
  const Paper& p = sp.paper;
  TemplateData d;
  // Read by a person: markdown and bold labels dropped, a long abstract cut to sentences.
  std::string summary = p.summary.empty() ? std::string() : ConsoleSummary(p.summary.front());
  d.values = {{"title", p.title},
              {"url", p.url},
              {"votes", p.votes ? std::to_string(*p.votes) : std::string()},
              {"meta", p.votes ? Counted(*p.votes, "vote") : std::string()},
              {"event", n.EventOf(sp)},
              {"authors", p.authors.empty() ? std::string() : AuthorLine(p)},
              {"watches", JoinNames(n.WatchesOf(sp))},
              {"summary", summary},
              {"image_url", p.media_url},
              {"key", p.key},
              {"source", sp.source},
              {"date", sp.date},
              {"notifier", n.notifier},
              {"grouped", grouped ? "yes" : ""}};
  d.lists = {{"author_list", p.authors},
             {"watch_list", n.WatchesOf(sp)},
             {"summary_list", p.summary}};
  return d;
}

// One paper's entry, each of its lines indented by `indent`.
void AppendPaper(std::string& out, const MessageTexts& texts, const Notification& n,
                 const SourcedPaper& sp, const std::string& indent, bool grouped) {
  const std::string entry = TerminalSafe(
      texts.paper.Render(ConsolePaperData(n, sp, grouped), &Printable), std::string::npos,
      /*keep_newlines=*/true);
  std::size_t at = 0;
  while (at <= entry.size()) {
    std::size_t end = entry.find('\n', at);
    if (end == std::string::npos) end = entry.size();
    out += indent + entry.substr(at, end - at) + "\n";
    at = end + 1;
  }
}

const MessageTexts& BuiltInConsoleTexts() {
  static const MessageTexts texts = *LoadMessageTexts(NotifierConfig{}, kConsoleBuiltInPaper);
  return texts;
}

// One line of a heading or footer: the template's, terminal-safe, one line.
std::string Line(const MessageTemplate& text, const TemplateData& data) {
  return Printable(text.Render(data, &Printable));
}

bool GroupedByDigest(const Notification& n) {
  return std::any_of(n.papers.begin(), n.papers.end(),
                     [](const SourcedPaper& p) { return !p.event.empty() || !p.watches.empty(); });
}

class LocalChannel final : public Channel {
 public:
  LocalChannel(Transfer transfer, std::string path, int max_papers,
               std::optional<MessageTexts> texts = std::nullopt)
      : transfer_(transfer),
        path_(std::move(path)),
        max_papers_(max_papers),
        texts_(std::move(texts)) {}

  Result<std::vector<Payload>> Render(const Notification& notification,
                                      const RenderContext& context) const override {
    Payload payload{.part_id = context.id, .transfer = transfer_, .url = path_};
    payload.body = transfer_ == Transfer::kConsole
                       ? RenderConsole(notification, max_papers_, texts_ ? &*texts_ : nullptr)
                       : RenderJsonLines(notification);
    return OnePayload(std::move(payload));
  }

  Outcome Classify(const Payload& /*payload*/, const Response& response) const override {
    if (response.failure) return {.kind = Outcome::Kind::kRetry, .reason = *response.failure};
    return {.kind = Outcome::Kind::kDelivered};
  }

 private:
  const Transfer transfer_;
  const std::string path_;
  const int max_papers_;
  const std::optional<MessageTexts> texts_;  // console: the notifier's; nullopt: built-ins
};

}  // namespace

std::string RenderConsole(const Notification& n, int max_papers, const MessageTexts* texts) {
  const MessageTexts& t = texts != nullptr ? *texts : BuiltInConsoleTexts();
  const std::size_t shown = std::min(n.papers.size(), std::size_t(std::max(1, max_papers)));
  std::string heading;
  if (n.kind == "alert") {
    heading = "[" + Printable(n.event) + "] source " + Printable(n.source) + ": " +
              Printable(n.message);
  } else {
    heading = "[" + Printable(n.event) + "]";
    if (!n.watches.empty()) heading += " " + WatchList(n.watches);
  }
  const std::size_t more = n.papers.size() - shown;
  const FrameFacts facts{
      .heading = heading,
      .more_line = more > 0 ? "and " + std::to_string(more) + " more" : std::string(),
      .count = n.papers.size(),
      .shown = shown,
      .digest_url = Printable(n.digest_url),
      .date = n.papers.empty() ? std::string() : Printable(n.papers.front().date)};
  const TemplateData frame = FrameData(n, facts, &Printable);
  std::string out = Line(t.heading, frame) + "\n";
  if (n.kind == "alert") return out;
  if (!GroupedByDigest(n)) {
    for (std::size_t i = 0; i < shown; ++i) AppendPaper(out, t, n, n.papers[i], "  ", false);
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
      for (std::size_t i : members) AppendPaper(out, t, n, n.papers[i], "    ", true);
    }
  }
  if (more > 0) {
    out += "  " + Line(t.footer, frame);
    if (!n.digest_url.empty()) out += ": " + Printable(n.digest_url);
    out += "\n";
  }
  return out;
}

std::string RenderJsonLines(const Notification& n) {
  std::string out;
  AppendNotificationJsonLines(n, out);
  return out;
}

Result<std::unique_ptr<Channel>> MakeConsoleChannel(const NotifierConfig& notifier,
                                                    const ConsoleSettings& /*settings*/) {
  std::optional<MessageTexts> texts;
  if (!notifier.template_file.empty()) {
    auto loaded = LoadMessageTexts(notifier, kConsoleBuiltInPaper);
    if (!loaded) return Unexpected(loaded.error());
    texts = std::move(*loaded);
  }
  return std::unique_ptr<Channel>(std::make_unique<LocalChannel>(
      Transfer::kConsole, "", notifier.max_papers, std::move(texts)));
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
