// ParseHfDaily: the Hugging Face `GET /api/daily_papers?date=...` JSON (FORMATS.md §2) into a
// Digest. A pure function of its input; safe from any thread.
#pragma once

#include <string_view>

#include "core/paper.h"
#include "core/spool.h"
#include "fetchers/parse_limits.h"

namespace digestd {

// Parses `bytes` (a JSON array of items). Every field but `paper.id` and `paper.title` may
// be missing or of the wrong type and is then left empty; an item without a usable id or
// title is skipped with a warning naming its index. Input that is not JSON, or JSON that is
// not an array, gives an empty digest and one warning. `digest.source` is left empty;
// `digest.date` is the date part of the first item's `paper.submittedOnDailyAt`, else empty.
// All strings in the result are valid UTF-8.
// Reads the array item by item, a piece of the bytes at a time: beyond the result it holds
// one item's JSON tree and one piece (repaired where it has unpaired \uD800-\uDFFF escapes).
// Stops early, keeping what it read, with a warning, when `budget` runs out.
ParseResult ParseHfDaily(std::string_view bytes, const ParseBudget& budget = {});
// The same, from a body read in pieces (a spooled one): the same result as for its bytes in
// one piece.
ParseResult ParseHfDaily(const ByteSource& pieces, const ParseBudget& budget = {});

}  // namespace digestd
