// The libxml2 layer shared by the arXiv and feed parsers: a hardened parse (no entity
// expansion, no external entities, no network, errors as ParseWarnings) into a light tree of
// our own that hands each item over as soon as it is read, and helpers that read its text,
// in which entity references are never substituted. Thread-safe: every parse has its own
// context and nothing global changes after the one-time xmlInitParser.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/paper.h"
#include "core/spool.h"
#include "fetchers/parse_limits.h"

namespace digestd {

class XmlTree;

// One element of an XmlTree: its name, namespace, attributes and line, and where the text
// below it is. Valid while its tree is and the parse does not add to it (inside an
// XmlElementSink call, or once ParseXml has returned).
class XmlElement {
 public:
  std::string_view local_name() const;
  std::string_view namespace_uri() const;  // "" when it has none
  int line() const { return line_; }       // of its start tag
  const XmlElement* parent() const;        // null for the root
  const XmlElement* first_child() const;   // elements only: text is not a node
  const XmlElement* next_sibling() const;
  // The text and CDATA below it, in document order, as libxml2 decoded them (entity
  // references skipped): one run, since the text of a subtree is written in one piece.
  std::string_view text() const;
  // The value of its attribute `name` without a namespace, entity references skipped; ""
  // when it has none.
  std::string_view attribute(std::string_view name) const;
  const XmlTree& tree() const { return *tree_; }

 private:
  friend class XmlTree;
  static constexpr std::uint32_t kNone = UINT32_MAX;

  const XmlTree* tree_ = nullptr;
  std::uint32_t parent_ = kNone;
  std::uint32_t first_child_ = kNone;
  std::uint32_t last_child_ = kNone;
  std::uint32_t previous_ = kNone;
  std::uint32_t next_ = kNone;
  std::uint32_t name_at_ = 0;  // in the tree's strings
  std::uint32_t name_size_ = 0;
  std::uint32_t namespace_ = 0;  // in the tree's namespace URIs; 0 is none
  std::uint32_t attributes_begin_ = 0;
  std::uint32_t attributes_end_ = 0;
  std::size_t text_begin_ = 0;
  std::size_t text_end_ = 0;  // while it is open, the tree's text so far
  bool open_ = true;
  int line_ = 0;
};

// A parsed document as the feed parsers read it: elements, their non-namespaced attributes
// and their text, held in a few buffers that a parse reuses: an element read and dropped
// (XmlElementSink) gives its room back to the next, so reading a feed item by item allocates
// nothing per item. Comments, processing instructions and entity references are not kept.
class XmlTree {
 public:
  XmlTree() = default;
  XmlTree(const XmlTree&) = delete;
  XmlTree& operator=(const XmlTree&) = delete;

  // The document element, or null before its start tag.
  const XmlElement* root() const { return elements_.empty() ? nullptr : &elements_.front(); }

  // What the parse does with libxml2's SAX2 events (fetchers/feed_xml.cc), naming elements
  // and attributes and resolving their prefixes as libxml2's own tree builder would. Start
  // opens an element below the innermost open one: `declarations` are its namespace
  // declarations as (prefix, URI) pairs, `attributes` its attributes as (name, prefix, URI,
  // value, value's end) quintuples. False when `uri` is given but no declaration of
  // `prefix` is in scope (libxml2 warns, and leaves the element without a namespace).
  bool Start(const unsigned char* local_name, const unsigned char* prefix, const unsigned char* uri,
             const unsigned char** declarations, int declaration_count,
             const unsigned char** attributes, int attribute_count, int line);
  void AddText(std::string_view text);
  std::size_t open_elements() const { return open_.size(); }
  // The innermost open element, or null when none is open.
  const XmlElement* innermost_open() const { return open_.empty() ? nullptr : At(open_.back()); }
  // Closes the innermost open element and returns it with its depth (the root's is 0),
  // or null when none is open.
  const XmlElement* End(int& depth);
  // Drops `element`, which End just returned, with its subtree and the text that stood
  // before it in its parent.
  void DropLast(const XmlElement& element);

 private:
  friend class XmlElement;
  // An attribute without a namespace (the only ones read), as spans of strings_.
  struct Attr {
    std::uint32_t name_at;
    std::uint32_t name_size;
    std::uint32_t value_at;
    std::uint32_t value_size;
  };

  const XmlElement* At(std::uint32_t index) const {
    return index == XmlElement::kNone ? nullptr : &elements_[index];
  }
  std::string_view String(std::uint32_t at, std::uint32_t size) const {
    return std::string_view(strings_).substr(at, size);
  }

  std::vector<XmlElement> elements_;  // in document order; [0] is the root
  std::vector<std::uint32_t> open_;   // the open elements, innermost last
  std::vector<Attr> attributes_;      // of the elements, in their order
  std::string strings_;               // element and attribute names, attribute values
  std::string text_;                  // the elements' text, in document order
  std::vector<std::string> namespaces_ = {std::string()};  // the URIs seen; [0] is none
  // The namespace declarations in scope, innermost last: prefix ("" for the default) and
  // URI; in_scope_marks_ holds, for each open element, where its own begin.
  std::vector<std::pair<std::string, std::uint32_t>> in_scope_;
  std::vector<std::size_t> in_scope_marks_;

  std::uint32_t NamespaceIndex(std::string_view uri);
  // The namespace the innermost declaration of `prefix` gives, or null when none does.
  const std::uint32_t* Resolve(std::string_view prefix) const;
};

// Parses `bytes` in recovery mode, decoding the encoding the XML declaration names. Entity
// declarations are ignored (one warning), so neither "billion laughs" nor external entities
// (XXE) are ever expanded or loaded; only the five predefined entities and character
// references are decoded. Parser errors are appended to `warnings` with their line (at most
// a few dozen). Null when no document element could be read (a warning says why).
// Before libxml2 sees the bytes, start tags over kMaxXmlAttributesPerElement or
// kMaxXmlAttributeBytes lose the excess (one warning each, with its line), so no element
// costs quadratic time. When `budget` runs out the parse stops, keeping what it read.
// libxml2 builds no tree: its SAX events write the XmlTree directly.
//
// `on_element`, when given, is called for each element one or two levels below the root (an
// RSS channel and its items, an Atom entry, an RDF item) as soon as its end tag is read, with
// its whole subtree. When it returns true the element is dropped at once (with the text
// before it), so a caller that takes each item as it comes holds one item at a time,
// whatever the length of the feed. Elements left open (a cut-off document, a budget that ran
// out) are not passed: they stay in the returned tree.
using XmlElementSink = std::function<bool(const XmlElement* element)>;
using XmlTreePtr = std::unique_ptr<XmlTree>;
XmlTreePtr ParseXml(std::string_view bytes, std::vector<ParseWarning>& warnings,
                    const ParseBudget& budget = {}, const XmlElementSink& on_element = {});

// An element start one or two levels below the root, told to an XmlStartHook before the
// element is read.
struct XmlStart {
  static constexpr std::uint64_t kUnknownOffset = UINT64_MAX;

  const XmlElement* parent = nullptr;  // the innermost open element, valid during the call
  std::string_view local_name;
  std::string_view prefix;  // as written; "" when none
  int depth = 0;            // 1 or 2
  int line = 0;
  // Where in the document its start tag's "/>" or closing '>' is: a byte offset, where
  // libxml2 reads the bytes as they are (no encoding to convert from); kUnknownOffset where
  // it does not.
  std::uint64_t tag_close = kUnknownOffset;
  // Nothing was warned of so far, and every byte before the tag reached libxml2 as it was
  // (no attribute blanked by the shape guard, no NUL made a space).
  bool clean = false;
};
// Returns true to stop the parse before the element: neither the tree nor the sink sees it,
// and the parse ends as the document had (no warning says so).
using XmlStartHook = std::function<bool(const XmlStart& start)>;

// The same, reading the document a piece at a time from `next`: memory holds the pieces
// libxml2 has not read yet, never the whole document. `on_start`, when given, is told of
// the elements one or two levels below the root as they start.
XmlTreePtr ParseXml(const ByteSource& next, std::vector<ParseWarning>& warnings,
                    const ParseBudget& budget = {}, const XmlElementSink& on_element = {},
                    const XmlStartHook& on_start = {});

// The local name of an element, "" for null or non-elements.
std::string_view LocalName(const XmlElement* node);
// The namespace URI of an element, "" when it has none.
std::string_view NamespaceUri(const XmlElement* node);

// The first element child of `parent` with this local name (any namespace when `ns_uri` is
// null), or null.
const XmlElement* FirstChild(const XmlElement* parent, std::string_view name,
                             const char* ns_uri = nullptr);
// All element children of `parent` with this local name (same namespace rule).
std::vector<const XmlElement*> Children(const XmlElement* parent, std::string_view name,
                                        const char* ns_uri = nullptr);

// The concatenated text and CDATA below `node`, entity references skipped; valid UTF-8.
std::string NodeText(const XmlElement* node);
// The same text before that check, for a caller that makes it valid itself (HtmlToText).
std::string NodeBytes(const XmlElement* node);
// NodeText with whitespace collapsed ("" for null).
std::string CollapsedText(const XmlElement* node);
// The value of attribute `name` (no namespace), entity references skipped; "" when absent.
std::string Attribute(const XmlElement* node, const char* name);

// `html` as plain text: tags removed (script/style content too), block tags and <br> made
// spaces, HTML entities decoded (numeric and the common named ones), whitespace collapsed.
std::string HtmlToText(std::string_view html);
// The same for text the caller gives up: plain text is cleaned in place.
std::string HtmlToText(std::string&& html);
inline std::string HtmlToText(const char* html) { return HtmlToText(std::string_view(html)); }

// An RFC 822 date ("Thu, 24 Sep 2026 00:00:00 -0400") as ISO 8601
// ("2026-09-24T00:00:00-04:00"), or an ISO 8601 date passed through (trimmed); "" when
// `text` is neither. The date part (first 10 bytes) is the date in the text's own offset.
std::string NormalizeFeedDate(std::string_view text);

}  // namespace digestd
