// ParseFeed: any RSS 2.0, RSS 1.0/RDF or Atom 1.0 feed (DESIGN.md §5, kind "feed") into a
// Digest. A pure function of its input; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
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

// From this size on a feed is read in two parts at once (the overload below).
inline constexpr std::uint64_t kFeedHalvesAbove = 1 << 20;

// The same for a body that can be read from any point (a fetched body in memory or in its
// spool file), with the same result. One of `halves_above` bytes or more is read in two
// parts at once, on the caller's thread and a helper: from the start, and from an item start
// past the middle; where the second part cannot be told to start at an item (the split fell
// in a comment, a warning on the way, a feed-level element after the items), the caller's
// parse reads on to the end alone. A read error of the body is put in `unread` (when
// given); `read_in_halves`, when given, says whether the second part was read apart.
ParseResult ParseFeed(const RereadableBody& body, const ParseBudget& budget = {},
                      std::string* unread = nullptr, std::uint64_t halves_above = kFeedHalvesAbove,
                      bool* read_in_halves = nullptr);

}  // namespace digestd
