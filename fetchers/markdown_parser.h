// ParseMarkdownDigest: the Korean "Daily Papers" markdown digest (FORMATS.md §1) into a
// Digest. A pure function of its input; safe from any thread.
#pragma once

#include <string_view>

#include "core/paper.h"

namespace digestd {

// Parses `bytes` (any bytes: invalid UTF-8 becomes U+FFFD). Entries that cannot be read are
// skipped with a warning naming their line; the rest is kept. `digest.source` is left empty
// for the caller to fill; `digest.date` is the first `## Daily Papers (DATE)` header's date.
ParseResult ParseMarkdownDigest(std::string_view bytes);

}  // namespace digestd
