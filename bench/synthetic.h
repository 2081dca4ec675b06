// Synthetic inputs for the benchmarks: digests in the canonical markdown layout
// (FORMATS.md §1.2) and watch sets, generated deterministically from a seed.
#pragma once

#include <string>
#include <vector>

#include "core/watch.h"

namespace digestd::bench {

// A digest of `papers` entries (about 1 KB each: title, image, votes, authors, three Korean
// bullets mixed with English terms) dated `date`.
std::string MarkdownDigest(int papers, const std::string& date = "2024-01-29",
                           unsigned seed = 1);

// The same kind of day as the Hugging Face daily-papers JSON (FORMATS.md §2): an array of
// `papers` items of about 3 KB each (paper id, title, abstract, AI summary and keywords,
// 2 to 12 authors, upvotes, GitHub fields, thumbnail, submitter).
std::string HfDailyJson(int papers, const std::string& date = "2024-01-29", unsigned seed = 1);

// `count` keyword watches drawn from the same vocabulary, so some of them hit.
std::vector<WatchSpec> KeywordWatches(int count, unsigned seed = 2);

// `count` watches written in the query language (fields, phrases, prefixes, OR, NOT,
// votes), drawn from the same vocabulary as KeywordWatches.
std::vector<WatchSpec> QueryWatches(int count, unsigned seed = 3);

// The vocabulary the generators draw from.
const std::vector<std::string>& Vocabulary();

}  // namespace digestd::bench
