// ParseMarkdownDigest: the Korean "Daily Papers" markdown digest (FORMATS.md §1) into a
// Digest. A pure function of its input; safe from any thread.
#pragma once

#include <string_view>

#include "core/paper.h"
#include "core/spool.h"
#include "fetchers/parse_limits.h"

namespace digestd {

// Parses `bytes` (any bytes: invalid UTF-8 becomes U+FFFD). Entries that cannot be read are
// skipped with a warning naming their line; the rest is kept. `digest.source` is left empty
// for the caller to fill; `digest.date` is the first `## Daily Papers (DATE)` header's date.
// Entries are the `### ` sections under a day header (or before any `## ` heading); any
// other `## ` heading (README wrapper: License, Citation, ...) ends them. Each summary item
// is one top-level bullet as written, without its marker; the lines after it that are not
// top-level bullets (nested or indented bullets, `1)` lines, stray paragraphs) are appended
// to it, each on its own line after a '\n', as written minus trailing blanks; blank lines
// are dropped. Lines before an entry's first bullet that are not media, `Vote:` or
// `Authors:` are ignored. An entry longer than 256 KiB is skipped with a warning; an
// unreadable `Vote:`, an empty URL (entry kept, empty key) and a dateless day header warn.
// Stops early, keeping what it read, with a warning, when `budget` runs out.
// The digest is read a piece at a time and never held whole: memory is a batch of entries,
// whatever the digest's length.
ParseResult ParseMarkdownDigest(std::string_view bytes, const ParseBudget& budget = {});
// The same, from a body read in pieces (a spooled one): the same result as for its bytes in
// one piece.
ParseResult ParseMarkdownDigest(const ByteSource& next, const ParseBudget& budget = {});

// The same parse with every entry's block structure read by cmark. ParseMarkdownDigest
// reads the common plain shape of an entry (media, `Vote:`, `Authors:`, "- " bullets) line
// by line and gives cmark only the lines before the bullets; the tests and the fuzz target
// check that both always give the same result.
ParseResult ParseMarkdownDigestWithCmark(std::string_view bytes, const ParseBudget& budget = {});

}  // namespace digestd
