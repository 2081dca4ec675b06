// ParseArxiv: the arXiv export API's Atom (old and new layouts, FORMATS.md §3) and arXiv RSS
// (rss.arxiv.org RSS 2.0 and the older RSS 1.0/RDF, §4) into a Digest. A pure function of
// its input; safe from any thread.
#pragma once

#include <string_view>

#include "core/paper.h"
#include "core/spool.h"
#include "fetchers/parse_limits.h"

namespace digestd {

// Parses `bytes`, telling the formats apart by the root element. Keys are "arxiv:ID" with
// the version in `Paper::version`. API entries without an <id> (the placeholders for unknown
// ids) are skipped silently, as are empty feeds; entries whose id is no arXiv id are skipped
// with a warning. Malformed XML keeps what could be recovered, with warnings carrying line
// numbers; entities are never expanded (see fetchers/feed_xml.h). `digest.date` is the RSS
// channel's pubDate in its own offset (YYYY-MM-DD), empty for the API. `source` is left empty.
// Stops early, keeping what it read, with a warning, when `budget` runs out.
ParseResult ParseArxiv(std::string_view bytes, const ParseBudget& budget = {});
// The same, reading the document a piece at a time (a spooled body).
ParseResult ParseArxiv(const ByteSource& next, const ParseBudget& budget = {});

}  // namespace digestd
