// ParseFeed: any RSS 2.0, RSS 1.0/RDF or Atom 1.0 feed (DESIGN.md §5, kind "feed") into a
// Digest. A pure function of its input; safe from any thread.
#pragma once

#include <string_view>

#include "core/paper.h"
#include "core/spool.h"
#include "fetchers/parse_limits.h"

namespace digestd {

// Parses `bytes`, telling the formats apart by the root element. Key: "arxiv:ID" when the
// link, GUID or Atom id names an arXiv paper; else the GUID/id as given; else the canonical
// link (core/identity.h CanonicalUrl). Relative links resolve against the feed's own link.
// Summary: the description/summary/content as plain text (HTML stripped, capped at 4 KiB).
// Items with neither link nor GUID are skipped with a warning. Malformed XML keeps what could
// be recovered, with warnings carrying line numbers; entities are never expanded (see
// fetchers/feed_xml.h). `digest.date` and `digest.source` are left empty.
// Stops early, keeping what it read, with a warning, when `budget` runs out.
ParseResult ParseFeed(std::string_view bytes, const ParseBudget& budget = {});
// The same, reading the document a piece at a time (a spooled body).
ParseResult ParseFeed(const ByteSource& next, const ParseBudget& budget = {});

}  // namespace digestd
