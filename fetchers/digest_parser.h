// ParseDigest: the one entry point from a source kind (CONFIG.md `kind`) to its parser.
// Pure; thread-safe.
#pragma once

#include <string_view>

#include "core/paper.h"

namespace digestd {

// True for markdown, hf-daily, arxiv and feed.
bool IsDigestFormat(std::string_view format);

// True when the format carries vote counts (markdown, hf-daily): `min_votes` means
// something only for those.
bool FormatHasVotes(std::string_view format);

// Parses `bytes` as `format`; an unknown format gives an empty digest and one warning.
ParseResult ParseDigest(std::string_view format, std::string_view bytes);

}  // namespace digestd
