#include "fetchers/arxiv_parser.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/identity.h"
#include "core/utf8.h"
#include "fetchers/feed_xml.h"

namespace digestd {
namespace {

constexpr const char* kDcNs = "http://purl.org/dc/elements/1.1/";

void AddUnique(std::vector<std::string>& list, std::string value) {
  if (value.empty()) return;
  for (const std::string& existing : list) {
    if (existing == value) return;
  }
  list.push_back(std::move(value));
}

void PutExtra(Paper& paper, const char* name, std::string value) {
  if (!value.empty()) paper.extra[name] = std::move(value);
}

int LineOf(const XmlElement* node) { return node == nullptr ? 0 : node->line(); }

// Fills key, version and url from an arXiv identity.
void SetIdentity(Paper& paper, ArxivIdentity identity) {
  paper.url = "https://arxiv.org/abs/" + identity.key.substr(6);
  paper.key = std::move(identity.key);
  paper.version = std::move(identity.version);
}

// The parts of an arXiv RSS description: "arXiv:IDvN Announce Type: TYPE \nAbstract: TEXT".
struct Announcement {
  std::optional<ArxivIdentity> id;
  std::string announce_type;
  std::string abstract;
  bool matched = false;  // the text had the "Announce Type:" layout
};

Announcement ParseAnnouncement(std::string_view text) {
  Announcement out;
  text = Trim(text);
  const std::size_t type_at = text.find("Announce Type:");
  if (!text.starts_with("arXiv:") || type_at == std::string_view::npos) return out;
  out.matched = true;
  out.id = ExtractArxivId(Trim(text.substr(0, type_at)));
  std::string_view rest = text.substr(type_at + 14);
  const std::size_t abstract_at = rest.find("Abstract:");
  out.announce_type = CollapseWhitespace(rest.substr(0, abstract_at));
  if (abstract_at != std::string_view::npos) {
    out.abstract = CollapseWhitespace(rest.substr(abstract_at + 9));
  }
  return out;
}

// Splits an RSS dc:creator list ("A, B, C"); the RSS 1.0 feed wrapped each name in an
// escaped HTML anchor, which HtmlToText strips.
void AddCreators(std::string_view creators, std::vector<std::string>& authors) {
  const std::string text = creators.find('<') != std::string_view::npos
                               ? HtmlToText(creators)
                               : CollapseWhitespace(creators);
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    AddUnique(authors, std::string(Trim(rest.substr(0, comma))));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
}

// An export API entry (or an rss.arxiv.org/atom entry, whose summary is an announcement).
void ParseApiEntry(const XmlElement* entry, ParseResult& result) {
  const std::string id_text = CollapsedText(FirstChild(entry, "id"));
  // The API answers unknown ids with entries holding only empty categories: normal.
  if (id_text.empty()) return;
  auto identity = ExtractArxivId(id_text);
  if (!identity) {
    result.warnings.push_back(ParseWarning{
        .line = LineOf(entry), .message = "arxiv: entry id is no arXiv id: " + id_text});
    return;
  }
  Paper paper;
  SetIdentity(paper, std::move(*identity));
  paper.title = CollapsedText(FirstChild(entry, "title"));
  if (paper.title.empty()) {
    result.warnings.push_back(
        ParseWarning{.line = LineOf(entry), .message = "arxiv: entry without a title"});
  }
  for (const XmlElement* author : Children(entry, "author")) {
    AddUnique(paper.authors, CollapsedText(FirstChild(author, "name")));
  }
  std::string summary = CollapsedText(FirstChild(entry, "summary"));
  const Announcement announcement = ParseAnnouncement(summary);
  if (announcement.matched) {
    summary = announcement.abstract;
    PutExtra(paper, "announce_type", announcement.announce_type);
  }
  if (!summary.empty()) paper.summary.push_back(std::move(summary));

  // Primary category first; empty terms (unknown-id placeholders) dropped; non-arXiv codes
  // such as the MSC class "35" kept, since they are what the API lists.
  AddUnique(paper.tags,
            std::string(Trim(Attribute(FirstChild(entry, "primary_category"), "term"))));
  for (const XmlElement* category : Children(entry, "category")) {
    AddUnique(paper.tags, std::string(Trim(Attribute(category, "term"))));
  }
  PutExtra(paper, "announce_type", CollapsedText(FirstChild(entry, "announce_type")));
  PutExtra(paper, "comment", CollapsedText(FirstChild(entry, "comment")));
  PutExtra(paper, "journal_ref", CollapsedText(FirstChild(entry, "journal_ref")));
  PutExtra(paper, "doi", CollapsedText(FirstChild(entry, "doi")));
  PutExtra(paper, "published", CollapsedText(FirstChild(entry, "published")));
  PutExtra(paper, "updated", CollapsedText(FirstChild(entry, "updated")));
  AppendToDay(result.digest.papers, std::move(paper));
}

// The RSS 1.0 title "Title. (arXiv:1805.08875v1 [hep-ex] UPDATED)": the title, the version,
// the category as a tag and the announce type the suffix implies.
void SplitRdfTitle(Paper& paper) {
  const std::size_t open = paper.title.rfind("(arXiv:");
  if (open == std::string::npos || paper.title.back() != ')') return;
  const std::string inside = paper.title.substr(open + 1, paper.title.size() - open - 2);
  paper.title = std::string(Trim(std::string_view(paper.title).substr(0, open)));
  if (paper.title.ends_with('.')) paper.title.pop_back();
  // The link carries no version; the title's id does.
  if (auto id = ExtractArxivId(inside.substr(0, inside.find(' ')))) {
    if (id->key == paper.key && paper.version.empty()) paper.version = std::move(id->version);
  }
  const std::size_t bracket = inside.find('[');
  const std::size_t close = inside.find(']');
  if (bracket != std::string::npos && close != std::string::npos && close > bracket) {
    AddUnique(paper.tags, inside.substr(bracket + 1, close - bracket - 1));
  }
  std::string type = "new";
  if (inside.find("CROSS LISTED") != std::string::npos) type = "cross";
  if (inside.find("UPDATED") != std::string::npos) type = "replace";
  paper.extra["announce_type"] = type;
}

// An RSS 2.0 <item> or RSS 1.0 <item rdf:about=...>.
void ParseRssItem(const XmlElement* item, bool rdf, ParseResult& result) {
  const std::string guid = CollapsedText(FirstChild(item, "guid"));
  const std::string link = CollapsedText(FirstChild(item, "link"));
  const std::string description = NodeText(FirstChild(item, "description"));
  const Announcement announcement = ParseAnnouncement(description);

  // The GUID carries the version; the link does not.
  std::optional<ArxivIdentity> identity = ExtractArxivId(guid);
  if (!identity) identity = announcement.id;
  if (!identity) identity = ExtractArxivId(link);
  if (!identity && rdf) identity = ExtractArxivId(Attribute(item, "about"));
  if (!identity) {
    result.warnings.push_back(
        ParseWarning{.line = LineOf(item), .message = "arxiv: item without an arXiv id skipped"});
    return;
  }
  if (identity->version.empty() && announcement.id) identity->version = announcement.id->version;

  Paper paper;
  SetIdentity(paper, std::move(*identity));
  paper.title = CollapsedText(FirstChild(item, "title"));
  if (rdf) SplitRdfTitle(paper);
  if (paper.title.empty()) {
    result.warnings.push_back(
        ParseWarning{.line = LineOf(item), .message = "arxiv: item without a title"});
  }
  for (const XmlElement* creator : Children(item, "creator", kDcNs)) {
    AddCreators(NodeText(creator), paper.authors);
  }
  std::string abstract;
  if (announcement.matched) {
    abstract = announcement.abstract;
    PutExtra(paper, "announce_type", announcement.announce_type);
  } else {
    // The RSS 1.0 description was HTML (<p>abstract</p>).
    abstract = rdf ? HtmlToText(description) : CollapseWhitespace(description);
  }
  if (!abstract.empty()) paper.summary.push_back(std::move(abstract));
  for (const XmlElement* category : Children(item, "category")) {
    AddUnique(paper.tags, CollapsedText(category));
  }
  PutExtra(paper, "announce_type", CollapsedText(FirstChild(item, "announce_type")));
  PutExtra(paper, "doi", CollapsedText(FirstChild(item, "DOI")));
  PutExtra(paper, "journal_ref", CollapsedText(FirstChild(item, "journal_reference")));
  std::string published = CollapsedText(FirstChild(item, "pubDate"));
  if (published.empty()) published = CollapsedText(FirstChild(item, "date", kDcNs));
  if (!published.empty()) {
    const std::string normalized = NormalizeFeedDate(published);
    paper.extra["published"] = normalized.empty() ? published : normalized;
  }
  AppendToDay(result.digest.papers, std::move(paper));
}

std::string ChannelDate(const XmlElement* channel) {
  std::string date = CollapsedText(FirstChild(channel, "pubDate"));
  if (date.empty()) date = CollapsedText(FirstChild(channel, "date", kDcNs));
  const std::string normalized = NormalizeFeedDate(date);
  return normalized.size() >= 10 ? normalized.substr(0, 10) : std::string();
}

}  // namespace

ParseResult ParseArxiv(std::string_view bytes, const ParseBudget& budget) {
  return ParseArxiv(PiecesOf(bytes), budget);
}

ParseResult ParseArxiv(const ByteSource& next, const ParseBudget& budget) {
  ParseResult result;
  // Each entry or item is read as soon as libxml2 has it, and dropped (fetchers/feed_xml.h);
  // the ones left open at the end are read below from what stays in the tree.
  const auto on_element = [&result](const XmlElement* element) {
    const XmlElement* root = element->tree().root();
    const std::string_view root_name = LocalName(root);
    const std::string_view name = LocalName(element);
    if (root_name == "feed" && name == "entry" && element->parent() == root) {
      ParseApiEntry(element, result);
    } else if (root_name == "rss" && name == "item" &&
               element->parent() == FirstChild(root, "channel")) {
      ParseRssItem(element, false, result);
    } else if (root_name == "RDF" && name == "item" && element->parent() == root) {
      ParseRssItem(element, true, result);
    } else {
      return false;
    }
    return true;
  };
  const XmlTreePtr doc = ParseXml(next, result.warnings, budget, on_element);
  if (doc == nullptr) return result;
  const XmlElement* root = doc->root();
  const std::string_view root_name = LocalName(root);
  if (root_name == "feed") {
    for (const XmlElement* entry : Children(root, "entry")) ParseApiEntry(entry, result);
  } else if (root_name == "rss") {
    const XmlElement* channel = FirstChild(root, "channel");
    result.digest.date = ChannelDate(channel);
    for (const XmlElement* item : Children(channel, "item")) ParseRssItem(item, false, result);
  } else if (root_name == "RDF") {
    result.digest.date = ChannelDate(FirstChild(root, "channel"));
    for (const XmlElement* item : Children(root, "item")) ParseRssItem(item, true, result);
  } else {
    result.warnings.push_back(ParseWarning{
        .line = LineOf(root),
        .message =
            "arxiv: not an arXiv API or RSS document (root <" + ToValidUtf8(root_name) + ">)"});
  }
  return result;
}

}  // namespace digestd
