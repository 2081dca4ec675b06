// The neutral model every source parses into and every later stage reads: Paper and Digest.
// Plain data, no invariants beyond the field comments. Thread-compatible.
#pragma once

#include <map>
#include <memory>
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

// A paper that several messages hold without copying it: copied by a reference count, and
// never changed while shared (Edit copies it first). The planner gives every notification
// about a paper the same one, and the store writes its snapshot once. Reads like a pointer
// (`shared->title`) and converts to `const Paper&`; a default one is an empty paper.
// Thread-compatible.
class SharedPaper {
 public:
  SharedPaper();
  SharedPaper(Paper paper);  // NOLINT(google-explicit-constructor): a Paper is a value of it

  const Paper& operator*() const { return *paper_; }
  const Paper* operator->() const { return paper_.get(); }
  operator const Paper&() const { return *paper_; }  // NOLINT(google-explicit-constructor)
  // The paper to change, copied first if anything else holds it (copy on write).
  Paper& Edit();
  // The same object: what a copy of this shares.
  bool SameAs(const SharedPaper& other) const { return paper_ == other.paper_; }

  bool operator==(const SharedPaper& other) const {
    return SameAs(other) || *paper_ == *other.paper_;
  }
  bool operator==(const Paper& other) const { return *paper_ == other; }

 private:
  friend std::vector<SharedPaper> SharePapers(std::vector<Paper> papers);
  explicit SharedPaper(std::shared_ptr<Paper> paper) : paper_(std::move(paper)) {}

  std::shared_ptr<Paper> paper_;  // never null; changed only by Edit, when not shared
};

// `papers` shared where they are: one block holds them all, each SharedPaper keeps the block,
// and none is moved or copied. A long day's papers are not each moved into a block of their
// own (a second 3 MB for 10,000, in pages touched for the first time, while the first is still
// held). Edit copies a paper first, as any paper shared with others.
std::vector<SharedPaper> SharePapers(std::vector<Paper> papers);

struct Digest {
  std::string source;                 // the source name, or the parsed file/URL
  std::string date;                   // "YYYY-MM-DD"; empty where the format has none
  std::vector<Paper> papers;
};

// A parse problem that skipped one entry (or part of one) but kept the rest.
struct ParseWarning {
  int line = 0;                       // 1-based line in the input; 0 when unknown
  std::string message;
  bool operator==(const ParseWarning&) const = default;
};

struct ParseResult {
  Digest digest;
  std::vector<ParseWarning> warnings;
  // Why the body's bytes ended before its end (a spool file that could not be read back);
  // "" when every byte was read. What was parsed of it is then not the digest.
  std::string unread;
};

}  // namespace digestd
