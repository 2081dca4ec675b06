#include "fetchers/digest_parser.h"

#include <string>

#include "fetchers/arxiv_parser.h"
#include "fetchers/feed_parser.h"
#include "fetchers/hf_daily_parser.h"
#include "fetchers/markdown_parser.h"

namespace digestd {

bool IsDigestFormat(std::string_view format) {
  return format == "markdown" || format == "hf-daily" || format == "arxiv" || format == "feed";
}

bool FormatHasVotes(std::string_view format) {
  return format == "markdown" || format == "hf-daily";
}

ParseResult ParseDigest(std::string_view format, std::string_view bytes) {
  if (format == "markdown") return ParseMarkdownDigest(bytes);
  if (format == "hf-daily") return ParseHfDaily(bytes);
  if (format == "arxiv") return ParseArxiv(bytes);
  if (format == "feed") return ParseFeed(bytes);
  ParseResult unknown;
  unknown.warnings.push_back({.line = 0, .message = "unknown format '" + std::string(format) + "'"});
  return unknown;
}

}  // namespace digestd
