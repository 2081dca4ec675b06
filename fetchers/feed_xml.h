// The libxml2 layer shared by the arXiv and feed parsers: a hardened parse (no entity
// expansion, no external entities, no network, errors as ParseWarnings) that hands each item
// over as soon as it is read, and tree helpers that read text without ever substituting
// entity references. Thread-safe: every parse has its own context and nothing global changes
// after the one-time xmlInitParser.
#pragma once

#include <libxml/tree.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/paper.h"
#include "core/spool.h"
#include "fetchers/parse_limits.h"

namespace digestd {

struct XmlDocDeleter {
  void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};
using XmlDocPtr = std::unique_ptr<xmlDoc, XmlDocDeleter>;

// Parses `bytes` in recovery mode, decoding the encoding the XML declaration names. Entity
// declarations are ignored (one warning), so neither "billion laughs" nor external entities
// (XXE) are ever expanded or loaded; only the five predefined entities and character
// references are decoded. Parser errors are appended to `warnings` with their line (at most
// a few dozen). Null when nothing could be recovered (a warning says why).
// Before libxml2 sees the bytes, start tags over kMaxXmlAttributesPerElement or
// kMaxXmlAttributeBytes lose the excess (one warning each, with its line), so no element
// costs quadratic time. When `budget` runs out the parse stops, keeping what it read.
//
// `on_element`, when given, is called for each element one or two levels below the root (an
// RSS channel and its items, an Atom entry, an RDF item) as soon as its end tag is read, with
// its whole subtree. When it returns true the element is removed from the document and freed
// at once (with the whitespace before it), so a caller that takes each item as it comes holds
// one item's tree at a time, whatever the length of the feed. Elements left open (a cut-off
// document, a budget that ran out) are not passed: they stay in the returned document.
using XmlElementSink = std::function<bool(const xmlNode* element)>;
XmlDocPtr ParseXml(std::string_view bytes, std::vector<ParseWarning>& warnings,
                   const ParseBudget& budget = {}, const XmlElementSink& on_element = {});
// The same, reading the document a piece at a time from `next`: memory holds the pieces
// libxml2 has not read yet, never the whole document.
XmlDocPtr ParseXml(const ByteSource& next, std::vector<ParseWarning>& warnings,
                   const ParseBudget& budget = {}, const XmlElementSink& on_element = {});

// The local name of an element, "" for null or non-elements.
std::string_view LocalName(const xmlNode* node);
// The namespace URI of an element, "" when it has none.
std::string_view NamespaceUri(const xmlNode* node);

// The first element child of `parent` with this local name (any namespace when `ns_uri` is
// null), or null.
const xmlNode* FirstChild(const xmlNode* parent, std::string_view name,
                          const char* ns_uri = nullptr);
// All element children of `parent` with this local name (same namespace rule).
std::vector<const xmlNode*> Children(const xmlNode* parent, std::string_view name,
                                     const char* ns_uri = nullptr);

// The concatenated text and CDATA below `node`, entity references skipped; valid UTF-8.
std::string NodeText(const xmlNode* node);
// The same text before that check, for a caller that makes it valid itself (HtmlToText).
std::string NodeBytes(const xmlNode* node);
// NodeText with whitespace collapsed ("" for null).
std::string CollapsedText(const xmlNode* node);
// The value of attribute `name` (no namespace), entity references skipped; "" when absent.
std::string Attribute(const xmlNode* node, const char* name);

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
