#include "notifiers/email_render.h"

#include <cmark-gfm.h>

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/heap_growth.h"
#include "core/notifier_config.h"
#include "core/utf8.h"

namespace digestd {
namespace {

constexpr int kAuthorsShown = 3;
constexpr std::size_t kWatchesInSubject = 3;
// Bytes kept free for the "and N more" block and the footer while cards are added, and for
// one-line links when not every paper fits as a card.
constexpr std::size_t kTailReserve = 2048;
constexpr std::size_t kLinksReserve = 16 * 1024;

// Colours and fonts, inline on each element: many mail clients drop <style> blocks.
constexpr std::string_view kFont =
    "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,'Noto Sans KR',"
    "'Noto Sans CJK KR','Apple SD Gothic Neo','Malgun Gothic',Arial,sans-serif";
constexpr std::string_view kMuted = "#57606a";
constexpr std::string_view kLink = "#0969da";

struct CmarkNodeDeleter {
  void operator()(cmark_node* node) const { cmark_node_free(node); }
};
struct CmarkIterDeleter {
  void operator()(cmark_iter* iter) const { cmark_iter_free(iter); }
};

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Text from a source, made fit to show: valid UTF-8, control characters and bidi overrides
// replaced, one line.
std::string Clean(std::string_view text) { return TerminalSafe(text); }

// Only http(s) links and images are written; anything else is left out.
bool IsWebUrl(std::string_view url) {
  return url.starts_with("https://") || url.starts_with("http://");
}

bool IsVideo(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  for (std::string_view ext : {".mp4", ".webm", ".mov", ".m4v"}) {
    if (url.size() >= ext.size()) {
      std::string tail(url.substr(url.size() - ext.size()));
      std::transform(tail.begin(), tail.end(), tail.begin(), ::tolower);
      if (tail == ext) return true;
    }
  }
  return false;
}

std::string Plural(std::size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

std::string JoinList(const std::vector<std::string>& items, std::string_view sep = ", ") {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

std::string Authors(const Paper& p) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < p.authors.size() && i < std::size_t(kAuthorsShown); ++i) {
    names.push_back(Clean(p.authors[i]));
  }
  std::string out = JoinList(names);
  if (!out.empty() && (p.authors.size() > std::size_t(kAuthorsShown) || p.authors_truncated)) {
    out += " et al.";
  }
  return out;
}

// One paper as the message shows it: the first sighting of its key, with every watch and
// event it came with. The lists are the notification's own (Notification::WatchesOf and
// EventOf of the sighting), or, for a key it lists more than once, Grouped::merged: a long
// day's ten thousand entries hold no copy of them.
struct Entry {
  const SourcedPaper* sighting = nullptr;
  std::span<const std::string> watches;
  std::span<const std::string> events;
};

struct Section {
  std::string watch;  // empty: no watch heading (highlights, a message without watches)
  std::vector<Entry> entries;
};

struct Grouped {
  std::vector<Section> sections;
  // The watches and events of each paper listed more than once, by entry; never changed
  // once made, as the entries view them.
  struct Lists {
    std::vector<std::string> watches;
    std::vector<std::string> events;
  };
  std::map<std::size_t, Lists> merged;
};

void AddUnique(std::vector<std::string>& list, const std::string& item) {
  if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
}

// Papers merged by key, then put in the section of their first watch in the notification's
// watch order (papers of no watch last). A long day's lists are sized once, and a day of one
// section moves its list there whole: ten thousand entries are not held twice.
Grouped Group(const Notification& n) {
  Grouped out;
  std::vector<Entry> entries;
  entries.reserve(n.papers.size());
  PopulateLargeBlock(entries.data(), n.papers.size() * sizeof(Entry));  // an entry a paper
  {
    std::unordered_map<std::string_view, std::size_t> by_key;  // keys of n's papers
    by_key.reserve(n.papers.size());
    for (const SourcedPaper& p : n.papers) {
      auto [it, fresh] = by_key.emplace(p.paper->key, entries.size());
      if (fresh) {
        entries.push_back({.sighting = &p});
        continue;
      }
      auto [merged, second] = out.merged.try_emplace(it->second);
      Grouped::Lists& lists = merged->second;
      if (second) {  // the key's second sighting: the first's lists come first
        const SourcedPaper& first = *entries[it->second].sighting;
        for (const std::string& w : n.WatchesOf(first)) AddUnique(lists.watches, w);
        lists.events.push_back(n.EventOf(first));
      }
      for (const std::string& w : n.WatchesOf(p)) AddUnique(lists.watches, w);
      AddUnique(lists.events, n.EventOf(p));
    }
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    Entry& e = entries[i];
    if (const auto it = out.merged.find(i); it != out.merged.end()) {
      e.watches = it->second.watches;
      e.events = it->second.events;
    } else {
      e.watches = n.WatchesOf(*e.sighting);
      e.events = std::span<const std::string>(&n.EventOf(*e.sighting), 1);
    }
  }
  if (n.kind == "highlights") {
    out.sections.push_back(Section{.watch = "", .entries = std::move(entries)});
    return out;
  }
  std::vector<std::string> order = n.watches;
  for (const Entry& e : entries) {
    for (const std::string& w : e.watches) AddUnique(order, w);
  }
  std::vector<Section>& sections = out.sections;
  for (const std::string& w : order) sections.push_back({.watch = w});
  sections.push_back({});  // papers of no watch, last
  std::vector<std::size_t> homes(entries.size(), sections.size() - 1);
  std::vector<std::size_t> counts(sections.size(), 0);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::span<const std::string> watches = entries[i].watches;
    for (std::size_t k = 0; k + 1 < sections.size(); ++k) {
      if (std::find(watches.begin(), watches.end(), sections[k].watch) != watches.end()) {
        homes[i] = k;
        break;
      }
    }
    ++counts[homes[i]];
  }
  if (const auto all = std::find(counts.begin(), counts.end(), entries.size());
      all != counts.end()) {
    sections[std::size_t(all - counts.begin())].entries = std::move(entries);
  } else {
    for (std::size_t k = 0; k < sections.size(); ++k) sections[k].entries.reserve(counts[k]);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      sections[homes[i]].entries.push_back(std::move(entries[i]));
    }
  }
  std::erase_if(sections, [](const Section& s) { return s.entries.empty(); });
  return out;
}

// What changed, one line per event other than `new` ("" for none).
std::vector<std::string> Changes(const Entry& e) {
  const SourcedPaper& p = *e.sighting;
  const PriorState& prior = p.Prior();
  std::vector<std::string> out;
  for (const std::string& ev : e.events) {
    if (ev == "new_version") {
      out.push_back("New version: " +
                    (prior.version.empty() ? std::string() : Clean(prior.version) + " → ") +
                    (p.paper->version.empty() ? std::string("a new one") : Clean(p.paper->version)));
    } else if (ev == "threshold") {
      std::string line = "Votes ";
      if (prior.votes) line += std::to_string(*prior.votes) + " → ";
      line += p.paper->votes ? std::to_string(*p.paper->votes) : std::string("-");
      out.push_back(line + ": passed the watch's minimum");
    } else if (ev == "updated") {
      out.push_back(prior.title.empty()
                        ? std::string("Updated: the authors, summary or link changed")
                        : "Updated: new title (was “" + Clean(prior.title) + "”)");
    }
  }
  return out;
}

bool AllEvents(const std::vector<Section>& sections, std::string_view event) {
  for (const Section& s : sections) {
    for (const Entry& e : s.entries) {
      if (e.events.size() != 1 || e.events.front() != event) return false;
    }
  }
  return true;
}

std::string SourcesAndDates(const Notification& n) {
  std::vector<std::string> seen;
  for (const SourcedPaper& p : n.papers) {
    std::string s = Clean(p.source);
    if (!p.date.empty()) s += (s.empty() ? "" : " ") + Clean(p.date);
    if (!s.empty()) AddUnique(seen, s);
    if (seen.size() > 3) break;
  }
  if (seen.size() > 3) {
    seen.resize(3);
    seen.push_back("…");
  }
  return JoinList(seen);
}

// The headline: how many papers, of what, for which watches (and the title of a lone one).
std::string Headline(const Notification& n, const std::vector<Section>& sections,
                     std::size_t papers) {
  if (n.kind == "alert") {
    const std::string what = n.event == "source_recovered" ? "recovered" : "is failing";
    return "digestd: source " + Clean(n.source) + " " + what;
  }
  if (n.kind == "highlights") {
    std::string out = papers == 0 ? "No papers today" : "Top " + Plural(papers, "paper", "papers");
    const std::string where = SourcesAndDates(n);
    if (!where.empty()) out += " of " + where;
    if (!n.watches.empty()) out += " (" + Clean(n.watches.front()) + ")";
    return out;
  }
  std::string adjective;
  if (AllEvents(sections, "new")) adjective = "new ";
  else if (AllEvents(sections, "updated")) adjective = "updated ";
  else if (AllEvents(sections, "new_version")) adjective = "new versions of ";
  std::string out = (n.kind == "digest" ? "Digest: " : "") + std::to_string(papers) + " " +
                    adjective + (papers == 1 ? "paper" : "papers");
  // Every watch that matched, in the sections' order (a paper's other watches too).
  std::vector<std::string> watches;
  for (const Section& s : sections) {
    if (!s.watch.empty()) AddUnique(watches, Clean(s.watch));
    for (const Entry& e : s.entries) {
      for (const std::string& w : e.watches) AddUnique(watches, Clean(w));
    }
  }
  if (!watches.empty()) {
    const std::size_t extra = watches.size() > kWatchesInSubject ? watches.size() - kWatchesInSubject : 0;
    watches.resize(std::min(watches.size(), kWatchesInSubject));
    out += " for " + JoinList(watches);
    if (extra > 0) out += " and " + Plural(extra, "more watch", "more watches");
  }
  if (papers == 1 && !sections.empty() && !sections.front().entries.empty()) {
    out += ": " + Clean(sections.front().entries.front().sighting->paper->title);
  }
  return out;
}

std::string WithStyles(std::string html) {
  const auto replace_all = [&](std::string_view from, std::string_view to) {
    for (std::size_t at = html.find(from); at != std::string::npos;
         at = html.find(from, at + to.size())) {
      html.replace(at, from.size(), to);
    }
  };
  replace_all("<a href=", "<a style=\"color:#0969da\" href=");
  replace_all("<code>", "<code style=\"font-family:Menlo,Consolas,monospace;font-size:90%;"
                        "background:#eff1f3;padding:0 3px;border-radius:3px\">");
  replace_all("<img src=", "<img style=\"max-width:100%;height:auto\" src=");
  return html;
}

std::string NoChange(std::string_view text) { return std::string(text); }

// What a card's template sees (README "Templates"): values made safe, not escaped.
TemplateData CardData(const Notification& n, const Entry& e, const std::string& section_watch,
                      int number) {
  const SourcedPaper& sp = *e.sighting;
  const Paper& p = sp.paper;
  TemplateData d;
  std::vector<std::string> meta;
  if (p.votes) meta.push_back(Plural(std::size_t(std::max(0, *p.votes)), "vote", "votes"));
  if (const std::string authors = Authors(p); !authors.empty()) meta.push_back(authors);
  std::vector<std::string> others;
  std::vector<std::string> watches;
  for (const std::string& w : e.watches) {
    watches.push_back(Clean(w));
    if (w != section_watch) others.push_back(Clean(w));
  }
  std::string matched;
  if (!others.empty()) {
    matched = (section_watch.empty() ? "Matched: " : "Also matched: ") + JoinList(others);
  }
  std::vector<std::string> bullets;
  for (const std::string& bullet : p.summary) bullets.push_back(Clean(bullet));
  std::vector<std::string> authors;
  for (const std::string& a : p.authors) authors.push_back(Clean(a));
  std::vector<std::string> events;
  for (const std::string& ev : e.events) events.push_back(Clean(ev));
  const std::vector<std::string> changes = Changes(e);
  const bool media = IsWebUrl(p.media_url);
  d.values = {
      {"title", Clean(p.title.empty() ? p.key : p.title)},
      {"url", IsWebUrl(p.url) ? Clean(p.url) : std::string()},
      {"votes", p.votes ? std::to_string(*p.votes) : std::string()},
      {"event", JoinList(events)},
      {"change", JoinList(changes, " · ")},
      {"meta", JoinList(meta, " · ")},
      {"matched", matched},
      {"authors", Authors(p)},
      {"watches", JoinList(watches)},
      {"summary", JoinList(bullets, " · ")},
      {"image_url", media && !IsVideo(p.media_url) ? Clean(p.media_url) : std::string()},
      {"media_line", media ? (IsVideo(p.media_url) ? "Video: " : "Image: ") + Clean(p.media_url)
                           : std::string()},
      {"key", Clean(p.key)},
      {"source", Clean(sp.source)},
      {"date", Clean(sp.date)},
      {"notifier", Clean(n.notifier)},
      {"number", number > 0 ? std::to_string(number) : std::string()}};
  d.lists = {{"author_list", std::move(authors)},
             {"watch_list", std::move(watches)},
             {"change_list", changes},
             {"summary_list", std::move(bullets)}};
  return d;
}

// A card's text from its template: the template's literal text is the user's, values are
// safe; one more pass makes the whole safe (controls) while keeping its lines.
std::string CardText(const MessageTexts& texts, const Notification& n, const Entry& e,
                     const std::string& section_watch, int number) {
  std::string text = TerminalSafe(
      texts.paper.Render(CardData(n, e, section_watch, number), &NoChange), std::string::npos,
      /*keep_newlines=*/true);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// ---- HTML pieces ----

// A card's templated text in HTML: every character escaped, line breaks kept.
std::string TextAsHtml(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\n') {
      out += "<br>";
    } else if (c != '\r') {
      out += Escape(std::string_view(&c, 1));
    }
  }
  return out;
}

std::string HtmlCard(const Entry& e, const std::string& section_watch, int number,
                     const std::string* templated) {
  const SourcedPaper& sp = *e.sighting;
  const Paper& p = sp.paper;
  const std::string title = Escape(Clean(p.title.empty() ? p.key : p.title));
  const bool link = IsWebUrl(p.url);
  const std::string url = Escape(Clean(p.url));
  std::string h;
  h += "<div style=\"background:#ffffff;border:1px solid #d0d7de;border-radius:8px;"
       "padding:12px;margin:0 0 12px\">";
  if (IsWebUrl(p.media_url) && !IsVideo(p.media_url)) {
    h += "<div style=\"display:inline-block;vertical-align:top;width:100%;max-width:200px;"
         "margin:0 12px 8px 0\">";
    if (link) h += "<a href=\"" + url + "\">";
    h += "<img src=\"" + Escape(Clean(p.media_url)) + "\" alt=\"Thumbnail: " + title +
         "\" width=\"200\" style=\"display:block;width:100%;max-width:200px;height:auto;"
         "border:0;border-radius:6px;background:#eff1f3\">";
    if (link) h += "</a>";
    h += "</div>";
  }
  h += "<div style=\"display:inline-block;vertical-align:top;width:100%;max-width:420px\">";
  h += "<div style=\"font-size:17px;line-height:1.35;font-weight:600;margin:0 0 4px\">";
  if (number > 0) h += std::to_string(number) + ". ";
  if (link) {
    h += "<a href=\"" + url + "\" style=\"color:#0969da;text-decoration:none\">" + title + "</a>";
  } else {
    h += title;
  }
  h += "</div>";
  if (templated != nullptr) {
    h += "<div style=\"font-size:14px;line-height:1.5;margin:0 0 4px;white-space:pre-wrap\">" +
         TextAsHtml(*templated) +
         "</div></div></div>\r\n";
    return h;
  }
  std::vector<std::string> meta;
  if (p.votes) meta.push_back("▲ " + Plural(std::size_t(std::max(0, *p.votes)), "vote", "votes"));
  if (const std::string authors = Authors(p); !authors.empty()) meta.push_back(Escape(authors));
  if (!meta.empty()) {
    h += "<div style=\"font-size:13px;line-height:1.4;color:#57606a;margin:0 0 4px\">" +
         JoinList(meta, " · ") + "</div>";
  }
  std::vector<std::string> others;
  for (const std::string& w : e.watches) {
    if (w != section_watch) others.push_back(Escape(Clean(w)));
  }
  if (!others.empty()) {
    h += "<div style=\"font-size:13px;color:#57606a;margin:0 0 4px\">" +
         std::string(section_watch.empty() ? "Matched: " : "Also matched: ") +
         JoinList(others) + "</div>";
  }
  for (const std::string& change : Changes(e)) {
    h += "<div style=\"font-size:13px;color:#9a6700;background:#fff8c5;border-radius:4px;"
         "padding:2px 6px;margin:0 0 4px;display:inline-block\">" +
         Escape(change) + "</div><br>";
  }
  if (!p.summary.empty()) {
    h += "<ul style=\"margin:6px 0 0;padding-left:20px;font-size:14px;line-height:1.5\">";
    for (const std::string& bullet : p.summary) {
      h += "<li style=\"margin:0 0 4px\">" + SummaryHtml(bullet) + "</li>";
    }
    h += "</ul>";
  }
  if (IsWebUrl(p.media_url) && IsVideo(p.media_url)) {
    h += "<div style=\"font-size:13px;margin:4px 0 0\"><a href=\"" + Escape(Clean(p.media_url)) +
         "\" style=\"color:#0969da\">▶ Watch the video</a></div>";
  }
  h += "</div></div>\r\n";
  return h;
}

std::string HtmlLink(const Entry& e) {
  const Paper& p = e.sighting->paper;
  const std::string title = Escape(Clean(p.title.empty() ? p.key : p.title));
  std::string h = "<li style=\"margin:0 0 4px\">";
  h += IsWebUrl(p.url) ? "<a href=\"" + Escape(Clean(p.url)) + "\" style=\"color:#0969da\">" + title + "</a>"
                       : title;
  if (p.votes) h += " <span style=\"color:#57606a\">▲ " + std::to_string(*p.votes) + "</span>";
  h += "</li>\r\n";
  return h;
}

// ---- text pieces ----

// "N. title", then the card's text (`body`, CardText) with each line indented.
std::string TextCard(const Entry& e, int number, const std::string& body) {
  const Paper& p = e.sighting->paper;
  std::string t = std::to_string(number) + ". " + Clean(p.title.empty() ? p.key : p.title) + "\n";
  const std::string indent(number < 10 ? 3 : number < 100 ? 4 : 5, ' ');
  for (std::size_t at = 0; at < body.size();) {
    std::size_t end = body.find('\n', at);
    if (end == std::string::npos) end = body.size();
    t += indent + body.substr(at, end - at) + "\n";
    at = end + 1;
  }
  return t + "\n";
}

const MessageTexts& BuiltInEmailTexts() {
  static const MessageTexts texts = *LoadMessageTexts(NotifierConfig{}, kEmailBuiltInPaper);
  return texts;
}

std::string TemplatedLine(const MessageTemplate& text, const TemplateData& data,
                          const std::string& built_in) {
  std::string line = Clean(text.Render(data, &NoChange));
  return line.empty() ? built_in : line;
}

std::string TextLink(const Entry& e) {
  const Paper& p = e.sighting->paper;
  std::string t = "- " + Clean(p.title.empty() ? p.key : p.title);
  if (IsWebUrl(p.url)) t += " <" + Clean(p.url) + ">";
  return t + "\n";
}

// `text` appended to `out`, CR dropped and each LF made CRLF, a line at a time.
void AppendCrlf(std::string& out, std::string_view text) {
  while (!text.empty()) {
    const std::size_t end = text.find_first_of("\r\n");
    if (end == std::string_view::npos) {
      out.append(text);
      break;
    }
    out.append(text.substr(0, end));
    if (text[end] == '\n') out.append("\r\n");
    text.remove_prefix(end + 1);
  }
}

// `pieces` one after another, as AppendCrlf writes them, in one string sized once, with
// room for `more` bytes to come: a long digest's text part is a megabyte, and joining the
// pieces first would hold it twice more.
std::string ToCrlf(std::initializer_list<std::string_view> pieces, std::size_t more = 0) {
  std::size_t size = more;
  for (std::string_view text : pieces) size += text.size();
  std::string out;
  out.reserve(size + size / 40);
  PopulateLargeBlock(out.data(), size);  // written next (core/heap_growth.h)
  for (std::string_view text : pieces) AppendCrlf(out, text);
  return out;
}

}  // namespace

std::string SummaryHtml(std::string_view bullet) {
  // cmark-gfm passes invalid UTF-8 and controls through: the bullet is made valid first.
  const std::string markdown = TerminalSafe(bullet, std::string::npos, /*keep_newlines=*/true);
  std::unique_ptr<cmark_node, CmarkNodeDeleter> doc(
      cmark_parse_document(markdown.data(), markdown.size(), CMARK_OPT_DEFAULT));
  if (!doc) return Escape(markdown);
  // cmark-gfm's safe mode drops raw HTML ("<!-- raw HTML omitted -->"); digest text like
  // `<think>` must show. Each raw HTML node becomes a text node with the same characters,
  // which the renderer escapes.
  std::vector<cmark_node*> raw;
  {
    std::unique_ptr<cmark_iter, CmarkIterDeleter> it(cmark_iter_new(doc.get()));
    for (cmark_event_type ev; (ev = cmark_iter_next(it.get())) != CMARK_EVENT_DONE;) {
      cmark_node* node = cmark_iter_get_node(it.get());
      const cmark_node_type type = cmark_node_get_type(node);
      if (ev == CMARK_EVENT_ENTER &&
          (type == CMARK_NODE_HTML_INLINE || type == CMARK_NODE_HTML_BLOCK)) {
        raw.push_back(node);
      }
    }
  }
  for (cmark_node* node : raw) {
    const char* literal = cmark_node_get_literal(node);
    std::string text = literal ? literal : "";
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    cmark_node* replacement = cmark_node_new(CMARK_NODE_TEXT);
    cmark_node_set_literal(replacement, text.c_str());
    if (cmark_node_get_type(node) == CMARK_NODE_HTML_BLOCK) {
      cmark_node* paragraph = cmark_node_new(CMARK_NODE_PARAGRAPH);
      cmark_node_append_child(paragraph, replacement);
      replacement = paragraph;
    }
    cmark_node_replace(node, replacement);
    cmark_node_free(node);
  }
  char* rendered = cmark_render_html(doc.get(), CMARK_OPT_DEFAULT, nullptr);
  std::string html = rendered ? rendered : "";
  std::free(rendered);
  while (!html.empty() && html.back() == '\n') html.pop_back();
  // A bullet is one paragraph: its <p> would only add a margin inside the <li>.
  if (html.starts_with("<p>") && html.ends_with("</p>") &&
      html.find("<p>", 3) == std::string::npos) {
    html = html.substr(3, html.size() - 7);
  }
  return WithStyles(std::move(html));
}

EmailContent RenderEmailContent(const Notification& n, const EmailRenderOptions& options) {
  EmailContent out;
  const Grouped grouped = Group(n);
  const std::vector<Section>& sections = grouped.sections;
  std::size_t total = 0;
  for (const Section& s : sections) total += s.entries.size();
  out.papers = int(total);
  const MessageTexts& texts = options.texts != nullptr ? *options.texts : BuiltInEmailTexts();
  const std::size_t cap_shown = std::min(total, std::size_t(std::max(1, options.max_papers)));
  const auto frame_data = [&](std::string heading, std::size_t unlisted) {
    const FrameFacts facts{
        .heading = std::move(heading),
        .more_line = unlisted > 0 ? "and " + Plural(unlisted, "more paper", "more papers")
                                  : std::string(),
        .count = total,
        .shown = total - unlisted,
        .digest_url = IsWebUrl(n.digest_url) ? Clean(n.digest_url) : std::string(),
        .date = n.papers.empty() ? std::string() : Clean(n.papers.front().date)};
    return FrameData(n, facts, &Clean);
  };
  const std::string built_in_headline = Headline(n, sections, total);
  const std::string headline = TemplatedLine(
      texts.heading, frame_data(built_in_headline, total - cap_shown), built_in_headline);
  const std::string prefix = Clean(options.subject_prefix);
  out.subject = prefix.empty() ? headline : prefix + " " + headline;

  std::string html_head =
      "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      "<title>" + Escape(headline) + "</title></head>\r\n"
      "<body style=\"margin:0;padding:0;background:#f6f8fa\">\r\n"
      "<div style=\"max-width:680px;margin:0 auto;padding:16px 12px;color:#1f2328;" +
      std::string(kFont) + "\">\r\n";
  html_head += "<h1 style=\"font-size:20px;line-height:1.3;margin:0 0 4px\">" + Escape(headline) +
               "</h1>\r\n";
  std::string text = headline + "\n";
  const std::string where = SourcesAndDates(n);
  if (n.kind != "alert" && !where.empty()) {
    html_head += "<p style=\"margin:0 0 16px;font-size:14px;color:#57606a\">" + Escape(where) +
                 "</p>\r\n";
    text += where + "\n";
  }
  text += std::string(std::min<std::size_t>(headline.size(), 60), '=') + "\n\n";

  std::string footer_text = "--\nSent by digestd for notifier \"" + Clean(n.notifier) + "\".";
  std::string html_footer = "<p style=\"margin:24px 0 0;font-size:12px;color:#57606a\">Sent by "
                            "digestd for notifier “" + Escape(Clean(n.notifier)) + "”.</p>\r\n"
                            "</div></body></html>\r\n";

  if (n.kind == "alert") {
    html_head += "<p style=\"font-size:15px;line-height:1.5\">" + Escape(Clean(n.message)) +
                 "</p>\r\n";
    text += Clean(n.message) + "\n\n";
    out.html = ToCrlf({html_head, html_footer});
    out.text = ToCrlf({text, footer_text, "\n"});
    return out;
  }

  // Cards in section order while the HTML budget lasts, then one-line links, then a count.
  // When not every paper fits as a card, the cards leave kLinksReserve for links.
  const std::size_t cap = std::min(total, std::size_t(std::max(1, options.max_papers)));
  std::size_t budget = options.max_html_bytes;
  std::size_t used = 0;
  std::string cards_html;
  std::string text_cards;
  std::vector<const Entry*> overflow;  // within `cap`, shown as links
  std::size_t placed = 0;
  int number = 0;
  const auto lay_out = [&](std::size_t card_budget) {
    used = html_head.size() + html_footer.size() + kTailReserve;
    cards_html.clear();
    text_cards.clear();
    overflow.clear();
    placed = 0;
    number = 0;
    out.cards = 0;
    for (const Section& s : sections) {
      bool heading_written = false;
      for (const Entry& e : s.entries) {
        if (placed >= cap) break;
        ++placed;
        if (!overflow.empty()) {
          overflow.push_back(&e);
          continue;
        }
        std::string heading;
        if (!heading_written && !s.watch.empty()) {
          heading = "<h2 style=\"font-size:16px;margin:20px 0 8px;padding:0 0 4px;"
                    "border-bottom:2px solid #d0d7de\">" + Escape(Clean(s.watch)) +
                    " <span style=\"font-weight:normal;color:#57606a\">(" +
                    std::to_string(s.entries.size()) + ")</span></h2>\r\n";
        }
        const bool numbered = n.kind == "highlights";
        const std::string body = CardText(texts, n, e, s.watch, number + 1);
        std::string card = HtmlCard(e, s.watch, numbered ? number + 1 : 0,
                                    options.html_paper_from_texts ? &body : nullptr);
        if (used + heading.size() + card.size() > card_budget) {
          overflow.push_back(&e);
          continue;
        }
        if (!heading.empty()) {
          text_cards +=
              "== " + Clean(s.watch) + " (" + std::to_string(s.entries.size()) + ") ==\n\n";
          heading_written = true;
        }
        used += heading.size() + card.size();
        cards_html += heading + card;
        ++number;
        ++out.cards;
        text_cards += TextCard(e, number, body);
      }
    }
  };
  lay_out(budget);
  if (!overflow.empty() && budget > kLinksReserve) lay_out(budget - kLinksReserve);
  // The text part lists every paper: on a long day, a line for each of thousands. Its lines
  // go straight into the part, which has room for them from the start.
  std::size_t links_size = 0;
  for (const Entry* e : overflow) {
    const Paper& p = e->sighting->paper;
    links_size += p.title.size() + p.url.size() + 8;
  }
  out.text = ToCrlf({text, text_cards}, links_size + footer_text.size() + 256);
  std::string more_html;
  if (!overflow.empty()) {
    std::string links;
    std::size_t linked = 0;
    const std::size_t links_budget = budget > used ? budget - used + kTailReserve / 2 : 0;
    for (const Entry* e : overflow) {
      std::string line = HtmlLink(*e);
      if (links.size() + line.size() > links_budget) break;
      links += line;
      ++linked;
    }
    out.links = int(linked);
    if (linked > 0) {
      more_html += "<h2 style=\"font-size:16px;margin:20px 0 8px\">" +
                   Plural(linked, "more paper", "more papers") + "</h2>\r\n"
                   "<ul style=\"margin:0;padding-left:20px;font-size:14px;line-height:1.5\">\r\n" +
                   links + "</ul>\r\n";
    }
    AppendCrlf(out.text, "== " + Plural(overflow.size(), "more paper", "more papers") + " ==\n\n");
    for (const Entry* e : overflow) AppendCrlf(out.text, TextLink(*e));
    AppendCrlf(out.text, "\n");
  }
  const std::size_t unlisted_html = total - std::size_t(out.cards) - std::size_t(out.links);
  const std::size_t unlisted_text = total - placed;
  const auto and_more = [&](std::size_t count) {
    const std::string built_in = "and " + Plural(count, "more paper", "more papers");
    return TemplatedLine(texts.footer, frame_data(headline, count), built_in);
  };
  if (unlisted_html > 0) {
    more_html += "<p style=\"margin:16px 0 0;font-size:15px\">… " + and_more(unlisted_html);
    if (IsWebUrl(n.digest_url)) {
      more_html += ": <a href=\"" + Escape(Clean(n.digest_url)) +
                   "\" style=\"color:#0969da\">see the whole digest</a>";
    }
    more_html += "</p>\r\n";
  }
  if (unlisted_text > 0) {
    std::string more_text = "… " + and_more(unlisted_text);
    if (IsWebUrl(n.digest_url)) more_text += ": " + Clean(n.digest_url);
    AppendCrlf(out.text, more_text + "\n\n");
  }
  AppendCrlf(out.text, footer_text + "\n");
  out.html = ToCrlf({html_head, cards_html, more_html, html_footer});
  return out;
}

}  // namespace digestd
