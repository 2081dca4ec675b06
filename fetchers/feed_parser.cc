#include "fetchers/feed_parser.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "core/heap_growth.h"
#include "core/identity.h"
#include "core/two_threads.h"
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

int LineOf(const XmlElement* node) { return node == nullptr ? 0 : node->line(); }

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

// The bytes of a construct, and how they become text: HTML for RSS description/content and
// for Atom text constructs with type="html"; plain for Atom type="text" (the default) and
// type="xhtml" (markup already parsed into elements, whose text is read directly).
struct Construct {
  std::string bytes;
  bool html = false;
};

Construct ConstructOf(const XmlElement* node, Format format) {
  if (node == nullptr) return {};
  bool html = true;
  if (format == Format::kAtom) {
    const std::string type = Attribute(node, "type");
    html = type == "html" || type == "text/html";
  }
  return {.bytes = NodeBytes(node), .html = html};
}

std::string TextOf(Construct&& construct) {
  if (construct.html) return HtmlToText(std::move(construct.bytes));
  return CollapseWhitespace(ToValidUtf8(std::move(construct.bytes)));
}

std::string ConstructText(const XmlElement* node, Format format) {
  return TextOf(ConstructOf(node, format));
}

// An item's summary: its description (RSS) or summary (Atom), else its whole content. Making
// it text is most of the cost of an item, so when there is only the first to read it is left
// as bytes (`pending`), for a helper thread to make text while libxml2 reads on (Summaries).
struct Summary {
  Construct pending;
  std::string text;
};

// The items' summaries as text, in the order of the papers: made on a helper thread, a batch
// at a time, while the feed is read; empty once the budget has run out.
using Summaries = BatchHelper<Summary, std::string>;
constexpr std::size_t kSummaryBatch = 128;

Summaries MakeSummaries(const ParseBudget& budget) {
  return Summaries(kSummaryBatch, [&budget](Summary&& summary) {
    std::string text = std::move(summary.text);
    if (text.empty() && !budget.Exhausted()) text = TextOf(std::move(summary.pending));
    return text.empty() ? text : CapSummary(std::move(text));
  });
}

Summary SummaryOf(const XmlElement* item, Format format) {
  const XmlElement* first =
      format == Format::kAtom ? FirstChild(item, "summary") : FirstChild(item, "description");
  const XmlElement* whole = format == Format::kAtom ? FirstChild(item, "content")
                                                 : FirstChild(item, "encoded", kContentNs);
  if (whole == nullptr) return {.pending = ConstructOf(first, format)};
  // Whether the first is read depends on its text: both are read here, while the item is.
  std::string text = ConstructText(first, format);
  if (text.empty()) text = ConstructText(whole, format);
  return {.text = std::move(text)};
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
std::string MediaUrl(const XmlElement* item, Format format) {
  if (format == Format::kAtom) {
    for (const XmlElement* link : Children(item, "link")) {
      if (Attribute(link, "rel") == "enclosure" && IsImageOrVideo(Attribute(link, "type"))) {
        return Attribute(link, "href");
      }
    }
  } else {
    for (const XmlElement* enclosure : Children(item, "enclosure")) {
      if (IsImageOrVideo(Attribute(enclosure, "type"))) return Attribute(enclosure, "url");
    }
  }
  std::vector<const XmlElement*> scopes = {item};
  for (const XmlElement* group : Children(item, "group", kMediaNs)) scopes.push_back(group);
  for (const XmlElement* scope : scopes) {
    if (const XmlElement* thumbnail = FirstChild(scope, "thumbnail", kMediaNs)) {
      const std::string url = Attribute(thumbnail, "url");
      if (!Trim(url).empty()) return url;
    }
  }
  for (const XmlElement* scope : scopes) {
    for (const XmlElement* content : Children(scope, "content", kMediaNs)) {
      const std::string medium = Attribute(content, "medium");
      const std::string type = Attribute(content, "type");
      if (medium == "image" || medium == "video" || IsImageOrVideo(type)) {
        return Attribute(content, "url");
      }
    }
  }
  return {};
}

// The Atom link element an entry or feed points readers at: rel="alternate" or no rel.
const XmlElement* AtomLinkNode(const XmlElement* node) {
  for (const XmlElement* link : Children(node, "link")) {
    const std::string rel = Attribute(link, "rel");
    if (rel.empty() || rel == "alternate") return link;
  }
  return nullptr;
}

std::string AtomLink(const XmlElement* node) {
  const XmlElement* link = AtomLinkNode(node);
  return link == nullptr ? std::string() : std::string(Trim(Attribute(link, "href")));
}

// Whether resolving `ref` depends on the base (a relative reference).
bool NeedsBase(std::string_view ref) {
  ref = Trim(ref);
  if (ref.empty()) return false;
  return ResolveUrl("https://a.invalid/b", ref) != ref;
}

// The feed-level context an item is read in. The base is null until the element that sets it
// has been read: an item whose links are relative waits for it.
struct FeedContext {
  Format format = Format::kRss;
  const std::string* base = nullptr;
};

enum class ItemOutcome { kRead, kNeedsBase };

// Reads one item into `result` (a paper, or a warning when it is skipped), and its summary
// into `summaries`. Without a base (`context.base` null), an item whose link or media is
// relative is left unread: kNeedsBase. A paper without an author of its own is listed in
// `authorless` (it inherits the feed's).
ItemOutcome ParseItem(const XmlElement* item, const FeedContext& context, ParseResult& result,
                      Summaries& summaries, std::vector<std::size_t>& authorless) {
  const Format format = context.format;
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
  const std::string media = CollapseWhitespace(MediaUrl(item, format));
  if (context.base == nullptr && (NeedsBase(link) || NeedsBase(media))) {
    return ItemOutcome::kNeedsBase;
  }
  const std::string& base = context.base != nullptr ? *context.base : std::string();
  link = ResolveUrl(base, link);
  if (link.empty() && format == Format::kRss && !guid.empty()) {
    // RSS GUIDs are permalinks unless isPermaLink="false".
    const XmlElement* guid_node = FirstChild(item, "guid");
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
    return ItemOutcome::kRead;
  }
  paper.url = std::move(link);
  if (paper.url.empty() && paper.key.starts_with("arxiv:")) {
    paper.url = "https://arxiv.org/abs/" + paper.key.substr(6);
  }

  paper.title = format == Format::kAtom ? ConstructText(FirstChild(item, "title"), format)
                                        : CollapsedText(FirstChild(item, "title"));

  Summary summary = SummaryOf(item, format);

  if (format == Format::kAtom) {
    for (const XmlElement* author : Children(item, "author")) {
      AddUnique(paper.authors, CollapsedText(FirstChild(author, "name")));
    }
  } else {
    for (const XmlElement* author : Children(item, "author")) {
      AddUnique(paper.authors, RssAuthorName(NodeText(author)));
    }
  }
  for (const XmlElement* creator : Children(item, "creator", kDcNs)) {
    AddUnique(paper.authors, HtmlToText(NodeBytes(creator)));
  }
  if (paper.authors.empty()) authorless.push_back(result.digest.papers.size());

  for (const XmlElement* category : Children(item, "category")) {
    AddUnique(paper.tags, format == Format::kAtom ? CollapseWhitespace(Attribute(category, "term"))
                                                  : CollapsedText(category));
  }
  for (const XmlElement* subject : Children(item, "subject", kDcNs)) {
    AddUnique(paper.tags, CollapsedText(subject));
  }

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
  AppendToDay(result.digest.papers, std::move(paper));
  summaries.Add(std::move(summary));
  return ItemOutcome::kRead;
}

Format FormatOf(std::string_view root_name) {
  if (root_name == "RDF") return Format::kRdf;
  if (root_name == "feed") return Format::kAtom;
  return Format::kRss;
}

// Where a format's items are: RSS in the first <channel>, RDF and Atom under the root.
const XmlElement* ItemParent(const XmlElement* root, Format format) {
  return format == Format::kRss ? FirstChild(root, "channel") : root;
}

std::string_view ItemName(Format format) { return format == Format::kAtom ? "entry" : "item"; }

// The element whose children a feed's items are (an RSS channel, the root of Atom and RDF),
// or null when `tree`'s root is not a feed's.
const XmlElement* ItemParentOf(const XmlTree& tree) {
  const std::string_view root_name = LocalName(tree.root());
  if (root_name != "rss" && root_name != "RDF" && root_name != "feed") return nullptr;
  return ItemParent(tree.root(), FormatOf(root_name));
}

// Whether an element named `local_name` below `parent` is an item of its feed (and not, say,
// of a second channel): what the reader takes, and where a feed read in two parts may split.
bool IsFeedItem(const XmlElement* parent, std::string_view local_name) {
  if (parent == nullptr || parent != ItemParentOf(parent->tree())) return false;
  return local_name == ItemName(FormatOf(LocalName(parent->tree().root())));
}

// The feed's own link, against which relative item links resolve; null while the element
// that gives it has not been read yet.
const XmlElement* BaseNode(const XmlElement* root, Format format) {
  switch (format) {
    case Format::kRss:
      return FirstChild(FirstChild(root, "channel"), "link");
    case Format::kRdf:
      return FirstChild(FirstChild(root, "channel"), "link");
    case Format::kAtom:
      return AtomLinkNode(root);
  }
  return nullptr;
}

std::string BaseOf(const XmlElement* root, Format format) {
  std::string base =
      format == Format::kAtom ? AtomLink(root) : CollapsedText(BaseNode(root, format));
  if (base.find("://") == std::string::npos) base.clear();
  return base;
}

// Takes each item as libxml2 finishes reading it (fetchers/feed_xml.h), so that only one
// item is held at a time, in room the next one reuses. An item that must wait for the feed's
// link, and every item after it (to keep the feed's order), stays in the tree for Finish.
class FeedReader {
 public:
  FeedReader(ParseResult& result, const ParseBudget& budget)
      : result_(result), summaries_(MakeSummaries(budget)) {}

  // The XmlElementSink: true when `element` was an item and has been read.
  bool OnElement(const XmlElement* element) {
    if (waiting_ || !IsFeedItem(element->parent(), LocalName(element))) return false;
    const XmlElement* root = element->tree().root();
    const Format format = FormatOf(LocalName(root));
    ++items_seen_;
    std::string base;
    const bool base_known = BaseNode(root, format) != nullptr;
    if (base_known) base = BaseOf(root, format);
    const FeedContext context{.format = format, .base = base_known ? &base : nullptr};
    if (ParseItem(element, context, result_, summaries_, authorless_) == ItemOutcome::kNeedsBase) {
      waiting_ = true;
      return false;
    }
    return true;
  }

  // Reads what stayed in `doc` (items left open or waiting) and gives the papers without an
  // author of their own the feed's.
  void Finish(const XmlTree* doc) {
    const XmlElement* root = doc->root();
    const std::string_view root_name = LocalName(root);
    if (root_name != "rss" && root_name != "RDF" && root_name != "feed") {
      result_.warnings.push_back(ParseWarning{
          .line = LineOf(root),
          .message = "feed: not an RSS or Atom document (root <" + ToValidUtf8(root_name) + ">)"});
      return;
    }
    const Format format = FormatOf(root_name);
    std::vector<const XmlElement*> items = Children(ItemParent(root, format), ItemName(format));
    if (format == Format::kRss && items.empty() && items_seen_ == 0) {
      items = Children(root, "item");  // RSS 0.9x variants
    }
    const std::string base = BaseOf(root, format);
    const FeedContext context{.format = format, .base = &base};
    for (const XmlElement* item : items) ParseItem(item, context, result_, summaries_, authorless_);
    if (format != Format::kAtom) return;
    // Atom entries without their own <author> inherit the feed's.
    std::vector<std::string> feed_authors;
    for (const XmlElement* author : Children(root, "author")) {
      AddUnique(feed_authors, CollapsedText(FirstChild(author, "name")));
    }
    if (feed_authors.empty()) return;
    for (std::size_t index : authorless_) result_.digest.papers[index].authors = feed_authors;
  }

  // Gives each paper read its summary.
  void ReadSummaries() {
    std::vector<Paper>& papers = result_.digest.papers;
    std::vector<std::string> texts = summaries_.Finish();
    for (std::size_t i = 0; i < papers.size() && i < texts.size(); ++i) {
      if (!texts[i].empty()) papers[i].summary.push_back(std::move(texts[i]));
    }
  }

  // Whether an item waits for the feed's link (it and every later item stay in the tree).
  bool waiting() const { return waiting_; }

  // The summaries are made on this thread, a batch at a time: another thread reads beside it.
  void SummariesHere() { summaries_.StayOnCallersThread(); }

  // Takes the papers `later` read, with their summaries, after this reader's own: the items
  // read on from where this reader stopped (ParseFeed over a RereadableBody). Their warnings
  // follow this reader's, with their lines moved by `line_shift`.
  void Append(FeedReader& later, int line_shift) {
    std::vector<Paper>& papers = result_.digest.papers;
    std::vector<Paper>& more = later.result_.digest.papers;
    for (std::size_t index : later.authorless_) authorless_.push_back(papers.size() + index);
    papers.reserve(papers.size() + more.size());
    papers.insert(papers.end(), std::make_move_iterator(more.begin()),
                  std::make_move_iterator(more.end()));
    for (ParseWarning& w : later.result_.warnings) {
      if (w.line > 0) w.line += line_shift;
      result_.warnings.push_back(std::move(w));
    }
    items_seen_ += later.items_seen_;
    more.clear();
    later.result_.warnings.clear();
  }

 private:
  ParseResult& result_;
  Summaries summaries_;
  std::vector<std::size_t> authorless_;
  std::size_t items_seen_ = 0;
  bool waiting_ = false;
};

// `first`, then the pieces of `rest`.
ByteSource Joined(std::string first, ByteSource rest) {
  return [first = std::move(first), rest = std::move(rest), given = false]() mutable {
    if (!given) {
      given = true;
      if (!first.empty()) return std::string_view(first);
    }
    return rest();
  };
}

// Bytes [from, to) of `body`, fewer where it ends or cannot be read.
std::string ReadSpan(const RereadableBody& body, std::uint64_t from, std::uint64_t to) {
  std::string out;
  const ByteSource next = body.from(from, nullptr);
  for (std::string_view piece = next(); !piece.empty() && from + out.size() < to; piece = next()) {
    out.append(piece.substr(0, std::size_t(to - from - out.size())));
  }
  return out;
}

// Where the first "<`qname`" followed by a space, '/' or '>' begins at or after `from`,
// looking no further than `within` bytes on; nullopt when there is none.
std::optional<std::uint64_t> FindStartTag(const RereadableBody& body, std::string_view qname,
                                          std::uint64_t from, std::uint64_t within) {
  const std::string needle = "<" + std::string(qname);
  std::string window;  // the end of the pieces before (a tag they cut) and the last piece
  std::uint64_t window_at = from;
  const ByteSource next = body.from(from, nullptr);
  for (std::string_view piece = next(); !piece.empty(); piece = next()) {
    window.append(piece);
    for (std::size_t at = window.find(needle); at != std::string::npos;
         at = window.find(needle, at + 1)) {
      const std::size_t after = at + needle.size();
      if (after >= window.size()) break;  // the next piece tells
      const char c = window[after];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '/' || c == '>') {
        return window_at + at;
      }
    }
    if (window_at + window.size() - from > within) return std::nullopt;
    const std::size_t keep = std::min(window.size(), needle.size());
    window_at += window.size() - keep;
    window.erase(0, window.size() - keep);
  }
  return std::nullopt;
}

// A long feed read in two parts at once: the caller's thread reads it from the start, as
// ever, and a helper thread reads the items from an item start past the middle (the split)
// to the end, as a document of its own: the feed's bytes up to its first item (the
// preamble: declaration, root, channel and its elements), then the bytes from the split.
// The caller's parse stops where it reaches the split, and the helper's papers follow its
// own. Since the split is found by looking for the item's start tag in the bytes, it could
// fall where the tag is not one (in a comment, a CDATA section): the helper's reading is
// taken only where the caller's parse finds an item whose start tag closes where the
// helper's first one does, neither parse warned of anything on the way, and the helper read
// nothing but items after the split (no feed-level element it would lack). Otherwise the
// caller's parse goes on to the end alone, and the result is the same either way.
class FeedHalves {
 public:
  FeedHalves(const RereadableBody& body, const ParseBudget& budget)
      : body_(body), outer_(budget), budget_{.deadline = budget.deadline, .cancel = &cancel_} {}

  ~FeedHalves() { Join(); }

  FeedHalves(const FeedHalves&) = delete;
  FeedHalves& operator=(const FeedHalves&) = delete;

  // The caller's XmlStartHook: true where its parse stops, the rest being the helper's.
  bool OnStart(const XmlStart& start, FeedReader& reader) {
    if (state_ == State::kDone || !IsFeedItem(start.parent, start.local_name)) return false;
    if (state_ == State::kNone) {
      state_ = State::kDone;
      // Two threads, each reading its part and making its summaries: a third (the summary
      // helper) would only take turns with them, and keep a heap of its own.
      if (start.clean && !reader.waiting() && Split(start)) reader.SummariesHere();
      return false;
    }
    if (!start.clean) {  // a warning on the way: the helper's part cannot be taken
      state_ = State::kDone;
      cancel_.store(true);
      Join();
      return false;
    }
    if (start.tag_close == XmlStart::kUnknownOffset || start.tag_close <= split_) return false;
    // The first item the caller reaches past the split: the helper's part is all read by now,
    // or about to be. A service that stops meanwhile stops it too.
    state_ = State::kDone;
    while (helper_done_.wait_for(std::chrono::milliseconds(5)) == std::future_status::timeout) {
      if (outer_.Exhausted()) cancel_.store(true);
    }
    Join();
    taken_ =
        helper_ok_ && start.tag_close == helper_first_close_ && start.clean && !reader.waiting();
    line_shift_ = start.line - helper_first_line_;
    return taken_;
  }

  // After the caller's parse: its papers followed by the helper's, where the helper's part
  // was taken; else nothing (the caller read it all).
  void Finish(FeedReader& reader) {
    cancel_.store(true);
    Join();
    if (taken_ && helper_reader_) reader.Append(*helper_reader_, line_shift_);
  }

  bool taken() const { return taken_; }

 private:
  enum class State { kNone, kRunning, kDone };

  // At the caller's first item: finds the preamble and the split, and starts the helper;
  // false when it did not.
  bool Split(const XmlStart& first) {
    if (first.tag_close == XmlStart::kUnknownOffset || first.tag_close >= body_.size) {
      return false;
    }
    // The item's start tag: from the last '<' before its close (a clean parse had no '<' in
    // a tag). A first item whose start tag is longer than this is read on alone.
    constexpr std::uint64_t kLongestTag = 4096;
    const std::uint64_t from = first.tag_close > kLongestTag ? first.tag_close - kLongestTag : 0;
    const std::string tail = ReadSpan(body_, from, first.tag_close + 1);
    if (tail.size() != first.tag_close + 1 - from) return false;
    if (tail.back() != '>' && tail.back() != '/') return false;
    const std::size_t lt = tail.rfind('<');
    if (lt == std::string::npos) return false;
    const std::string qname = first.prefix.empty()
                                  ? std::string(first.local_name)
                                  : std::string(first.prefix) + ":" + std::string(first.local_name);
    if (tail.compare(lt, qname.size() + 1, "<" + qname) != 0) return false;
    const std::uint64_t preamble_end = from + lt;
    if (preamble_end > kLongestPreamble) return false;
    const std::uint64_t middle = preamble_end + (body_.size - preamble_end) / 2;
    const auto split = FindStartTag(body_, qname, middle, kSplitSearch);
    if (!split) return false;
    split_ = *split;
    // Usually within the bytes read back for the tag already.
    preamble_ = from == 0 ? tail.substr(0, lt) : ReadSpan(body_, 0, preamble_end);
    if (preamble_.size() != preamble_end) return false;
    item_local_ = std::string(first.local_name);
    item_prefix_ = std::string(first.prefix);
    try {
      helper_done_ = helper_finished_.get_future();
      helper_ = std::thread([this] {
        ReadSecondPart();
        helper_finished_.set_value();
      });
    } catch (const std::system_error&) {
      return false;  // no thread to be had (a task limit): the caller reads it all
    }
    state_ = State::kRunning;
    return true;
  }

  // The helper's part: the preamble and the bytes from the split, items only.
  void ReadSecondPart() {
    try {
      helper_result_ = std::make_unique<ParseResult>();
      helper_reader_ = std::make_unique<FeedReader>(*helper_result_, budget_);
      FeedReader& reader = *helper_reader_;
      reader.SummariesHere();
      std::string read_error;
      std::vector<ParseWarning> xml_warnings;
      bool items_begun = false;
      std::size_t items_read = 0;
      bool other = false;  // the split was not an item start, or a feed-level element followed
      const std::uint64_t preamble_size = preamble_.size();
      const XmlTreePtr doc = ParseXml(
          Joined(std::move(preamble_), body_.from(split_, &read_error)), xml_warnings, budget_,
          [&](const XmlElement* element) {
            if (reader.OnElement(element)) {
              // This thread's papers take pages of its own arena: made present a run at a time.
              if (++items_read % kItemsPerPopulate == 0) PopulateHelperHeap();
              return true;
            }
            const XmlElement* item_parent = ItemParentOf(element->tree());
            if (items_begun && element != item_parent &&
                (element->parent() == item_parent || element->parent() == element->tree().root())) {
              other = true;
            }
            return false;
          },
          [&](const XmlStart& start) {
            // What cannot be taken stops the helper at once, and the caller reads on alone.
            if (items_begun) return other || !start.clean;
            if (start.tag_close == XmlStart::kUnknownOffset || start.tag_close < preamble_size) {
              return false;
            }
            items_begun = true;
            if (!start.clean || !IsFeedItem(start.parent, start.local_name) ||
                start.local_name != item_local_ || start.prefix != item_prefix_) {
              other = true;
              return true;
            }
            helper_first_close_ = split_ + (start.tag_close - preamble_size);
            helper_first_line_ = start.line;
            return false;
          });
      reader.ReadSummaries();
      helper_ok_ = doc != nullptr && items_begun && !other && xml_warnings.empty() &&
                   read_error.empty() && !reader.waiting() && !cancel_.load();
    } catch (...) {
      helper_ok_ = false;  // std::bad_alloc: the caller reads it all
    }
  }

  void Join() {
    if (helper_.joinable()) helper_.join();
  }

  // A preamble longer than this (a channel with megabytes of its own) is not read twice.
  static constexpr std::uint64_t kLongestPreamble = 1 << 20;
  // How often the helper makes the next pages of its heap present (PopulateHelperHeap): about
  // the room this many items take.
  static constexpr std::size_t kItemsPerPopulate = 32;
  // How far past the middle an item start is looked for.
  static constexpr std::uint64_t kSplitSearch = 4 << 20;

  const RereadableBody& body_;
  const ParseBudget& outer_;         // the caller's
  std::atomic<bool> cancel_{false};  // the caller's parse is done: the helper's is not needed
  const ParseBudget budget_;         // the caller's deadline; cancel_
  State state_ = State::kNone;       // the caller's
  std::uint64_t split_ = 0;
  bool taken_ = false;
  int line_shift_ = 0;
  // Set before the helper starts, then the helper's until it is joined.
  std::string preamble_;
  std::string item_local_;
  std::string item_prefix_;
  std::unique_ptr<ParseResult> helper_result_;
  std::unique_ptr<FeedReader> helper_reader_;
  bool helper_ok_ = false;
  std::uint64_t helper_first_close_ = XmlStart::kUnknownOffset;
  int helper_first_line_ = 0;
  std::promise<void> helper_finished_;  // set by the helper as it ends
  std::future<void> helper_done_;
  std::thread helper_;  // last: joined before the rest goes
};

// The feed in `next`, read in two parts where `halves` is given and takes the second.
ParseResult ReadFeed(const ByteSource& next, const ParseBudget& budget, FeedHalves* halves) {
  ParseResult result;
  FeedReader reader(result, budget);
  XmlStartHook on_start;
  if (halves != nullptr) {
    on_start = [halves, &reader](const XmlStart& start) { return halves->OnStart(start, reader); };
  }
  const XmlTreePtr doc = ParseXml(
      next, result.warnings, budget,
      [&reader](const XmlElement* element) { return reader.OnElement(element); }, on_start);
  if (halves != nullptr) halves->Finish(reader);
  if (doc != nullptr) reader.Finish(doc.get());
  reader.ReadSummaries();
  return result;
}

}  // namespace

ParseResult ParseFeed(std::string_view bytes, const ParseBudget& budget) {
  return ParseFeed(PiecesOf(bytes), budget);
}

ParseResult ParseFeed(const ByteSource& next, const ParseBudget& budget) {
  return ReadFeed(next, budget, nullptr);
}

ParseResult ParseFeed(const RereadableBody& body, const ParseBudget& budget, std::string* unread,
                      std::uint64_t halves_above, bool* read_in_halves) {
  if (read_in_halves != nullptr) *read_in_halves = false;
  if (body.size < halves_above) return ParseFeed(body.from(0, unread), budget);
  FeedHalves halves(body, budget);
  ParseResult result = ReadFeed(body.from(0, unread), budget, &halves);
  if (read_in_halves != nullptr) *read_in_halves = halves.taken();
  return result;
}

}  // namespace digestd
