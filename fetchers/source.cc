#include "fetchers/source.h"

#include <algorithm>
#include <chrono>

#include "core/utf8.h"
#include "fetchers/arxiv_parser.h"
#include "fetchers/digest_parser.h"
#include "fetchers/feed_parser.h"
#include "fetchers/hf_daily_parser.h"
#include "fetchers/markdown_parser.h"

namespace digestd {
namespace {

using PiecesFunction = ParseResult (*)(const ByteSource&, const ParseBudget&);
using RereadFunction = ParseResult (*)(const RereadableBody&, const ParseBudget&, std::string*);

// Every format's Source differs only by its parser, which reads the bytes in pieces, in
// order, or (`reread`, where the format has one) from wherever it needs.
class FormatSource final : public Source {
 public:
  FormatSource(std::string_view name, PiecesFunction parse, RereadFunction reread = nullptr)
      : Source(*FindDigestFormat(name)), parse_(parse), reread_(reread) {}

 private:
  ParseResult ParseFormat(const RereadableBody& body, const ParseBudget& budget,
                          std::string* unread) const override {
    if (reread_ != nullptr) return reread_(body, budget, unread);
    return parse_(body.from(0, unread), budget);
  }

  PiecesFunction parse_;
  RereadFunction reread_;
};

// The feed parser's own entry for a body it can read from any point (in two parts at once).
ParseResult ParseFeedBody(const RereadableBody& body, const ParseBudget& budget,
                          std::string* unread) {
  return ParseFeed(body, budget, unread);
}

bool IsBlank(const Spool& body) {
  if (!body.in_file()) return Trim(body.memory()).empty();
  const ByteSource next = body.Reader();
  for (std::string_view piece = next(); !piece.empty(); piece = next()) {
    if (!Trim(piece).empty()) return false;
  }
  return true;
}

}  // namespace

Result<FetchPlan> Source::PlanFetches(const FetchWindow& w) const {
  FetchPlan plan{.dated = HasDatePlaceholder(w.url_template)};
  std::vector<Date> dates =
      plan.dated ? DatesToCheck(w.today, w.lookback_days, w.backfill_days, w.last_success)
                 : std::vector<Date>{w.today};
  std::reverse(dates.begin(), dates.end());
  if (plan.dated && w.last_success && !dates.empty()) {
    // The days between the last digest and the oldest date planned were missed and are past
    // backfill_days: named, so that a long outage is not silently a hole.
    using std::chrono::days;
    using std::chrono::sys_days;
    for (sys_days d = sys_days{*w.last_success} + days{1}; d < sys_days{dates.front()};
         d += days{1}) {
      plan.beyond_backfill.push_back(Date{d});
    }
  }
  for (const Date& date : dates) {
    auto url = ExpandUrlTemplate(w.url_template, date);
    if (!url) return Unexpected(url.error());
    plan.fetches.push_back(SourceFetch{.date = date, .url = std::move(*url)});
  }
  return plan;
}

ParseResult Source::Parse(std::string_view body, const ParseBudget& budget) const {
  ParseResult result = ParseFormat(RereadableOf(body), budget, nullptr);
  ApplyParseLimits(result);
  return result;
}

ParseResult Source::Parse(const Spool& body, const ParseBudget& budget) const {
  if (!body.in_file()) return Parse(body.memory(), budget);
  std::string error;
  ParseResult result = ParseFormat(body.Rereadable(), budget, &error);
  result.unread = std::move(error);
  ApplyParseLimits(result);
  return result;
}

std::optional<std::string> Source::Unreadable(std::string_view body, std::string_view content_type,
                                              const ParseResult& parsed) const {
  if (!parsed.digest.papers.empty()) return std::nullopt;
  return UnreadableWhy(Trim(body).empty(), content_type, parsed);
}

std::optional<std::string> Source::Unreadable(const Spool& body, std::string_view content_type,
                                              const ParseResult& parsed) const {
  if (!parsed.digest.papers.empty()) return std::nullopt;
  return UnreadableWhy(IsBlank(body), content_type, parsed);
}

std::optional<std::string> Source::UnreadableWhy(bool blank, std::string_view content_type,
                                                 const ParseResult& parsed) const {
  if (!parsed.digest.papers.empty() || blank) return std::nullopt;
  if (parsed.warnings.empty() && !(format_.dated && parsed.digest.date.empty())) {
    return std::nullopt;
  }
  std::string why = "not a readable " + std::string(format_.name) + " digest";
  if (!content_type.empty()) why += " (Content-Type " + std::string(content_type) + ")";
  if (!parsed.warnings.empty()) why += ": " + parsed.warnings.front().message;
  return why;
}

const Source* SourceFor(std::string_view kind) {
  static const FormatSource kSources[] = {
      {"markdown", ParseMarkdownDigest},
      {"hf-daily", ParseHfDaily},
      {"arxiv", ParseArxiv},
      {"feed", ParseFeed, ParseFeedBody},
  };
  for (const FormatSource& s : kSources) {
    if (s.format().name == kind) return &s;
  }
  return nullptr;
}

}  // namespace digestd
