// The digest formats a source may have (CONFIG.md `kind`) and the facts about each that more
// than one folder needs: config checks `kind` and `min_votes` against this table, fetchers
// pick a parser and judge a body by it. The one home of those facts. Immutable; thread-safe.
#pragma once

#include <span>
#include <string_view>

namespace digestd {

struct DigestFormat {
  std::string_view name;       // as written in `kind`
  bool carries_votes = false;  // papers come with vote counts: `min_votes` can be met
  // Each digest states the date it is for (a heading): a non-empty body that states no date
  // and gives no paper is not a digest of this format.
  bool dated = false;
};

// Every format, in the order CONFIG.md lists them.
std::span<const DigestFormat> DigestFormats();

// The format named `name`; nullptr when there is none.
const DigestFormat* FindDigestFormat(std::string_view name);

}  // namespace digestd
