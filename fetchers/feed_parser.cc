#include "fetchers/feed_parser.h"

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
constexpr const char* kContentNs = "http://purl.org/rss/1.0/modules/content/";
constexpr const char* kMediaNs = "http://search.yahoo.com/mrss/";
// A summary is what a notification quotes, not the article: full-text feeds put whole
// posts in content:encoded.
constexpr std::size_t kMaxSummaryBytes = 4096;

enum class Format { kRss, kRdf, kAtom };

void AddUnique(std::vector<std::string>& list, std::string value) {
  if (value.empty()) return;
  for (const std::string& existing : list) {
    if (existing == value) return;
  }
  list.push_back(std::move(value));
}

int LineOf(const xmlNode* node) { return static_cast<int>(xmlGetLineNo(node)); }

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// `text` cut to kMaxSummaryBytes on a character boundary, with an ellipsis when cut.
std::string CapSummary(std::string text) {
  if (text.size() <= kMaxSummaryBytes) return text;
  std::size_t end = kMaxSummaryBytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  text.resize(end);
  return text + "\u2026";
}

// `ref` resolved against the absolute `base` (RFC 3986 in its common cases: absolute,
// scheme-relative, root-relative and path-relative references; dot segments are left).
std::string ResolveUrl(std::string_view base, std::string_view ref) {
  ref = Trim(ref);
  if (ref.empty()) return {};
  const std::size_t colon = ref.find(':');
  const std::size_t delimiter = ref.find_first_of("/?#");
  if (colon != std::string_view::npos && colon > 0 &&
      (delimiter == std::string_view::npos || colon < delimiter)) {
    return std::string(ref);  // has a scheme
  }
  const std::size_t scheme_end = base.find("://");
  if (scheme_end == std::string_view::npos) return std::string(ref);
  if (ref.starts_with("//")) return std::string(base.substr(0, scheme_end + 1)) + std::string(ref);
  const std::size_t path_start = base.find_first_of("/?#", scheme_end + 3);
  const std::string_view origin = base.substr(0, path_start);
  if (ref.starts_with("/")) return std::string(origin) + std::string(ref);
  std::string_view base_path =
      path_start == std::string_view::npos ? std::string_view("/") : base.substr(path_start);
  base_path = base_path.substr(0, base_path.find_first_of("?#"));
  if (ref.starts_with("?") || ref.starts_with("#")) {
    return std::string(origin) + std::string(base_path) + std::string(ref);
  }
  const std::size_t last_slash = base_path.rfind('/');
  const std::string_view directory = last_slash == std::string_view::npos
                                         ? std::string_view("/")
                                         : base_path.substr(0, last_slash + 1);
  return std::string(origin) + std::string(directory) + std::string(ref);
}

// Text of a construct that may hold HTML: RSS description/content and Atom text constructs
// with type="html". Atom type="xhtml" is markup already parsed into elements: its text is
// read directly; type="text" (the default) is plain.
std::string ConstructText(const xmlNode* node, Format format) {
  if (node == nullptr) return {};
  if (format == Format::kAtom) {
    const std::string type = Attribute(node, "type");
    if (type == "html" || type == "text/html") return HtmlToText(NodeText(node));
    return CollapsedText(node);
  }
  return HtmlToText(NodeText(node));
}

// The RSS 2.0 <author> is an e-mail address, usually "x@example.org (Name)".
std::string RssAuthorName(std::string_view text) {
  text = Trim(text);
  const std::size_t open = text.find('(');
  const std::size_t close = text.rfind(')');
  if (open != std::string_view::npos && close != std::string_view::npos && close > open) {
    return CollapseWhitespace(text.substr(open + 1, close - open - 1));
  }
  return CollapseWhitespace(text);
}

bool IsImageOrVideo(std::string_view type) {
  return StartsWith(type, "image/") || StartsWith(type, "video/");
}

// The item's image or video: an image/video enclosure, then media:thumbnail, then an
// image/video media:content (also inside media:group).
std::string MediaUrl(const xmlNode* item, Format format) {
  if (format == Format::kAtom) {
    for (const xmlNode* link : Children(item, "link")) {
      if (Attribute(link, "rel") == "enclosure" && IsImageOrVideo(Attribute(link, "type"))) {
        return Attribute(link, "href");
      }
    }
  } else {
    for (const xmlNode* enclosure : Children(item, "enclosure")) {
      if (IsImageOrVideo(Attribute(enclosure, "type"))) return Attribute(enclosure, "url");
    }
  }
  std::vector<const xmlNode*> scopes = {item};
  for (const xmlNode* group : Children(item, "group", kMediaNs)) scopes.push_back(group);
  for (const xmlNode* scope : scopes) {
    if (const xmlNode* thumbnail = FirstChild(scope, "thumbnail", kMediaNs)) {
      const std::string url = Attribute(thumbnail, "url");
      if (!Trim(url).empty()) return url;
    }
  }
  for (const xmlNode* scope : scopes) {
    for (const xmlNode* content : Children(scope, "content", kMediaNs)) {
      const std::string medium = Attribute(content, "medium");
      const std::string type = Attribute(content, "type");
      if (medium == "image" || medium == "video" || IsImageOrVideo(type)) {
        return Attribute(content, "url");
      }
    }
  }
  return {};
}

// The Atom link an entry or feed points readers at: rel="alternate" or no rel.
std::string AtomLink(const xmlNode* node) {
  for (const xmlNode* link : Children(node, "link")) {
    const std::string rel = Attribute(link, "rel");
    if (rel.empty() || rel == "alternate") return std::string(Trim(Attribute(link, "href")));
  }
  return {};
}

void ParseItem(const xmlNode* item, Format format, const std::string& base,
               const std::vector<std::string>& feed_authors, ParseResult& result) {
  Paper paper;
  std::string link;
  std::string guid;
  if (format == Format::kAtom) {
    link = AtomLink(item);
    guid = CollapsedText(FirstChild(item, "id"));
  } else {
    link = CollapsedText(FirstChild(item, "link"));
    guid = CollapsedText(FirstChild(item, "guid"));
    if (format == Format::kRdf && guid.empty()) guid = CollapseWhitespace(Attribute(item, "about"));
  }
  link = ResolveUrl(base, link);
  if (link.empty() && format == Format::kRss && !guid.empty()) {
    // RSS GUIDs are permalinks unless isPermaLink="false".
    const xmlNode* guid_node = FirstChild(item, "guid");
    if (Attribute(guid_node, "isPermaLink") != "false" && guid.find("://") != std::string::npos) {
      link = guid;
    }
  }

  std::optional<ArxivIdentity> arxiv = ExtractArxivId(link);
  const std::optional<ArxivIdentity> guid_arxiv = ExtractArxivId(guid);
  if (!arxiv) {
    arxiv = guid_arxiv;
  } else if (arxiv->version.empty() && guid_arxiv && guid_arxiv->key == arxiv->key) {
    arxiv->version = guid_arxiv->version;  // arXiv links carry no version, their GUIDs do
  }
  if (arxiv) {
    paper.key = std::move(arxiv->key);
    paper.version = std::move(arxiv->version);
  } else if (!guid.empty()) {
    paper.key = guid;
  } else {
    paper.key = CanonicalUrl(link);
  }
  if (paper.key.empty()) {
    result.warnings.push_back(
        ParseWarning{.line = LineOf(item), .message = "feed: item without link or guid skipped"});
    return;
  }
  paper.url = std::move(link);
  if (paper.url.empty() && paper.key.starts_with("arxiv:")) {
    paper.url = "https://arxiv.org/abs/" + paper.key.substr(6);
  }

  paper.title = format == Format::kAtom ? ConstructText(FirstChild(item, "title"), format)
                                        : CollapsedText(FirstChild(item, "title"));

  std::string summary;
  if (format == Format::kAtom) {
    summary = ConstructText(FirstChild(item, "summary"), format);
    if (summary.empty()) summary = ConstructText(FirstChild(item, "content"), format);
  } else {
    summary = ConstructText(FirstChild(item, "description"), format);
    if (summary.empty()) summary = ConstructText(FirstChild(item, "encoded", kContentNs), format);
  }
  if (!summary.empty()) paper.summary.push_back(CapSummary(std::move(summary)));

  if (format == Format::kAtom) {
    for (const xmlNode* author : Children(item, "author")) {
      AddUnique(paper.authors, CollapsedText(FirstChild(author, "name")));
    }
  } else {
    for (const xmlNode* author : Children(item, "author")) {
      AddUnique(paper.authors, RssAuthorName(NodeText(author)));
    }
  }
  for (const xmlNode* creator : Children(item, "creator", kDcNs)) {
    AddUnique(paper.authors, HtmlToText(NodeText(creator)));
  }
  if (paper.authors.empty()) paper.authors = feed_authors;

  for (const xmlNode* category : Children(item, "category")) {
    AddUnique(paper.tags, format == Format::kAtom ? CollapseWhitespace(Attribute(category, "term"))
                                                  : CollapsedText(category));
  }
  for (const xmlNode* subject : Children(item, "subject", kDcNs)) {
    AddUnique(paper.tags, CollapsedText(subject));
  }

  const std::string media = CollapseWhitespace(MediaUrl(item, format));
  paper.media_url = ResolveUrl(base, media);

  std::string published;
  if (format == Format::kAtom) {
    published = CollapsedText(FirstChild(item, "published"));
    const std::string updated = CollapsedText(FirstChild(item, "updated"));
    if (!updated.empty()) paper.extra["updated"] = updated;
    if (published.empty()) published = updated;
  } else {
    published = CollapsedText(FirstChild(item, "pubDate"));
    if (published.empty()) published = CollapsedText(FirstChild(item, "date", kDcNs));
  }
  if (!published.empty()) {
    const std::string normalized = NormalizeFeedDate(published);
    paper.extra["published"] = normalized.empty() ? published : normalized;
  }
  result.digest.papers.push_back(std::move(paper));
}

}  // namespace

ParseResult ParseFeed(std::string_view bytes, const ParseBudget& budget) {
  ParseResult result;
  const XmlDocPtr doc = ParseXml(bytes, result.warnings, budget);
  if (doc == nullptr) return result;
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  const std::string_view root_name = LocalName(root);

  std::vector<const xmlNode*> items;
  std::vector<std::string> feed_authors;
  std::string base;
  Format format = Format::kRss;
  if (root_name == "rss") {
    const xmlNode* channel = FirstChild(root, "channel");
    base = CollapsedText(FirstChild(channel, "link"));
    items = Children(channel, "item");
    if (items.empty()) items = Children(root, "item");  // RSS 0.9x variants
  } else if (root_name == "RDF") {
    format = Format::kRdf;
    base = CollapsedText(FirstChild(FirstChild(root, "channel"), "link"));
    items = Children(root, "item");
  } else if (root_name == "feed") {
    format = Format::kAtom;
    base = AtomLink(root);
    items = Children(root, "entry");
    // Atom entries without their own <author> inherit the feed's.
    for (const xmlNode* author : Children(root, "author")) {
      AddUnique(feed_authors, CollapsedText(FirstChild(author, "name")));
    }
  } else {
    result.warnings.push_back(ParseWarning{
        .line = LineOf(root),
        .message = "feed: not an RSS or Atom document (root <" + ToValidUtf8(root_name) + ">)"});
    return result;
  }
  if (base.find("://") == std::string::npos) base.clear();
  for (const xmlNode* item : items) ParseItem(item, format, base, feed_authors, result);
  return result;
}

}  // namespace digestd
