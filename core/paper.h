// The neutral model every source parses into and every later stage reads: Paper and Digest.
// Plain data, no invariants beyond the field comments. Thread-compatible.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace digestd {

struct Paper {
  std::string key;                    // "arxiv:2401.15024"; else a GUID or canonical URL
  std::string title;                  // as the source wrote it, whitespace collapsed
  std::string url;                    // absolute
  std::vector<std::string> authors;   // "+" removed, duplicates removed keeping the first
  bool authors_truncated = false;     // the source elided names ("+")
  std::vector<std::string> summary;   // bullets in order, or one paragraph
  std::string media_url;              // image or video; empty when none
  std::optional<int> votes;           // "Vote: -" and absent are both nullopt
  std::string version;                // "v2" where the source says; else empty
  std::vector<std::string> tags;      // arXiv categories, HF ai_keywords
  std::map<std::string, std::string> extra;  // github repo, comments, ...

  bool operator==(const Paper&) const = default;
};

struct Digest {
  std::string source;                 // the source name, or the parsed file/URL
  std::string date;                   // "YYYY-MM-DD"; empty where the format has none
  std::vector<Paper> papers;
};

// A parse problem that skipped one entry (or part of one) but kept the rest.
struct ParseWarning {
  int line = 0;                       // 1-based line in the input; 0 when unknown
  std::string message;
};

struct ParseResult {
  Digest digest;
  std::vector<ParseWarning> warnings;
};

}  // namespace digestd
