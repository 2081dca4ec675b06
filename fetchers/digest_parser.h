// ParseDigest: a source kind (CONFIG.md `kind`) to its parser, through its Source
// (fetchers/source.h).
// Pure; thread-safe.
#pragma once

#include <string_view>

#include "core/paper.h"
#include "fetchers/parse_limits.h"

namespace digestd {

// True for the formats of core/digest_format.h (markdown, hf-daily, arxiv, feed).
bool IsDigestFormat(std::string_view format);

// True when the format carries vote counts (DigestFormat::carries_votes): `min_votes` means
// something only for those.
bool FormatHasVotes(std::string_view format);

// Parses `bytes` as `format`; an unknown format gives an empty digest and one warning.
// Whatever the bytes, the digest keeps the limits of fetchers/parse_limits.h: papers past
// kMaxPapersPerDigest are dropped, long fields cut on a character boundary, extra authors
// dropped (authors_truncated set), each with a warning naming the limit and the paper.
// When `budget` runs out the parse stops early and keeps what it read, with a warning.
ParseResult ParseDigest(std::string_view format, std::string_view bytes,
                        const ParseBudget& budget = {});

// Applies those limits to a parsed digest (ParseDigest does it); exposed for tests.
void ApplyParseLimits(ParseResult& result);

}  // namespace digestd
