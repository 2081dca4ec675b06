#include "fetchers/digest_parser.h"

#include <string>
#include <utility>

#include "core/digest_format.h"
#include "core/utf8.h"
#include "fetchers/source.h"

namespace digestd {
namespace {

// `text` cut to at most `max` bytes on a UTF-8 character boundary; true when it was cut.
bool Cut(std::string& text, std::size_t max) {
  if (text.size() <= max) return false;
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  text.resize(end);
  return true;
}

// Names a paper in a warning: its key, or its index when the key is too long to quote.
std::string PaperLabel(const Paper& paper, std::size_t index) {
  if (!paper.key.empty() && paper.key.size() <= 200) return TerminalSafe(paper.key);
  return "paper " + std::to_string(index + 1);
}

void LimitPaper(Paper& paper, std::size_t index, std::vector<ParseWarning>& warnings) {
  std::vector<std::string> cut;  // which limits this paper hit
  auto limit = [&](std::string& field, std::size_t max, const char* what) {
    if (Cut(field, max)) cut.push_back(std::string(what) + " (" + std::to_string(max) + " bytes)");
  };
  limit(paper.key, kMaxUrlBytes, "key");
  limit(paper.url, kMaxUrlBytes, "url");
  limit(paper.media_url, kMaxUrlBytes, "media_url");
  limit(paper.title, kMaxTitleBytes, "title");
  limit(paper.version, kMaxNameBytes, "version");
  if (paper.authors.size() > kMaxAuthorsPerPaper) {
    paper.authors.resize(kMaxAuthorsPerPaper);
    paper.authors_truncated = true;
    cut.push_back("authors (" + std::to_string(kMaxAuthorsPerPaper) + " per paper)");
  }
  bool name_cut = false;
  for (std::string& author : paper.authors) name_cut |= Cut(author, kMaxNameBytes);
  if (paper.tags.size() > kMaxTagsPerPaper) {
    paper.tags.resize(kMaxTagsPerPaper);
    cut.push_back("tags (" + std::to_string(kMaxTagsPerPaper) + " per paper)");
  }
  for (std::string& tag : paper.tags) name_cut |= Cut(tag, kMaxNameBytes);
  if (name_cut) cut.push_back("author or tag (" + std::to_string(kMaxNameBytes) + " bytes)");
  std::size_t summary_left = kMaxSummaryBytes;
  for (std::size_t b = 0; b < paper.summary.size(); ++b) {
    if (paper.summary[b].size() > summary_left) {
      Cut(paper.summary[b], summary_left);
      paper.summary.resize(paper.summary[b].empty() ? b : b + 1);
      cut.push_back("summary (" + std::to_string(kMaxSummaryBytes) + " bytes)");
      break;
    }
    summary_left -= paper.summary[b].size();
  }
  bool extra_cut = false;
  for (auto& [name, value] : paper.extra) extra_cut |= Cut(value, kMaxExtraBytes);
  if (extra_cut) cut.push_back("extra value (" + std::to_string(kMaxExtraBytes) + " bytes)");
  if (cut.empty()) return;
  std::string message = PaperLabel(paper, index) + ": over the limit of its ";
  for (std::size_t k = 0; k < cut.size(); ++k) message += (k ? ", " : "") + cut[k];
  warnings.push_back(ParseWarning{.message = message + "; the rest is dropped"});
}

}  // namespace

void ApplyParseLimits(ParseResult& result) {
  std::vector<Paper>& papers = result.digest.papers;
  if (papers.size() > kMaxPapersPerDigest) {
    result.warnings.push_back(
        ParseWarning{.message = std::to_string(papers.size()) + " entries, over the limit of " +
                                std::to_string(kMaxPapersPerDigest) +
                                " per digest; the ones past it are dropped"});
    papers.resize(kMaxPapersPerDigest);
  }
  std::vector<ParseWarning> limited;
  for (std::size_t i = 0; i < papers.size(); ++i) LimitPaper(papers[i], i, limited);
  // One warning per paper can be 20,000 lines: the first few say enough.
  constexpr std::size_t kMaxLimitWarnings = 10;
  if (limited.size() > kMaxLimitWarnings) {
    const std::size_t more = limited.size() - kMaxLimitWarnings;
    limited.resize(kMaxLimitWarnings);
    limited.push_back(ParseWarning{.message = std::to_string(more) +
                                              " more papers over the field limits"});
  }
  for (ParseWarning& w : limited) result.warnings.push_back(std::move(w));
}

bool IsDigestFormat(std::string_view format) { return FindDigestFormat(format) != nullptr; }

bool FormatHasVotes(std::string_view format) {
  const DigestFormat* f = FindDigestFormat(format);
  return f != nullptr && f->carries_votes;
}

ParseResult ParseDigest(std::string_view format, std::string_view bytes,
                        const ParseBudget& budget) {
  if (const Source* source = SourceFor(format)) return source->Parse(bytes, budget);
  ParseResult result;
  result.warnings.push_back(
      {.line = 0, .message = "unknown format '" + TerminalSafe(format, 64) + "'"});
  return result;
}

}  // namespace digestd
