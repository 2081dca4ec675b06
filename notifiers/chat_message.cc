#include "notifiers/chat_message.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>

#include "core/shown_url.h"
#include "core/text.h"
#include "notifiers/chat_text.h"
#include "notifiers/message_texts.h"

namespace digestd {
namespace {

constexpr TextUnit kCp = TextUnit::kCodePoints;

// How much each detail level shows (index: the level).
struct Detail {
  std::size_t title;     // code points
  std::size_t summary;   // code points; 0: none
  std::size_t authors;   // names
  std::size_t watches;   // names
  bool image;
};
constexpr std::array<Detail, kLeastDetail + 1> kDetails = {{
    {300, 500, 8, 5, true},
    {300, 250, 5, 3, true},
    {200, 100, 3, 2, true},
    {150, 0, 1, 2, false},
    {80, 0, 0, 1, false},
}};
constexpr std::size_t kWatchChars = 60;
constexpr std::size_t kHeadingChars = 140;
constexpr std::size_t kAlertChars = 1000;
constexpr std::size_t kAuthorChars = 80;

std::string Join(const std::vector<std::string>& list, std::string_view sep) {
  std::string out;
  for (const std::string& s : list) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string Change(const SourcedPaper& p, const std::string& event) {
  if (event == "threshold") {
    if (p.Prior().votes && p.paper->votes) {
      return "votes " + std::to_string(*p.Prior().votes) + " → " +
             std::to_string(*p.paper->votes);
    }
    return p.paper->votes ? "reached " + std::to_string(*p.paper->votes) + " votes"
                         : "reached the vote threshold";
  }
  if (event == "new_version") {
    const std::string now = ChatLine(p.paper->version);
    const std::string before = ChatLine(p.Prior().version);
    if (!before.empty() && !now.empty()) return before + " → " + now;
    return now.empty() ? "new version" : "new version " + now;
  }
  if (event == "updated") return "updated";
  return {};
}

std::string EventWords(const std::string& event, std::size_t count) {
  const bool one = count == 1;
  if (event == "new") return one ? "New paper" : std::to_string(count) + " new papers";
  if (event == "updated") return one ? "Updated paper" : std::to_string(count) + " updated papers";
  if (event == "threshold") {
    return one ? "Paper passed its vote threshold"
               : std::to_string(count) + " papers passed their vote threshold";
  }
  if (event == "new_version") {
    return one ? "New version of a paper" : std::to_string(count) + " papers with a new version";
  }
  return one ? "1 paper" : std::to_string(count) + " papers";
}

std::string Heading(const Notification& n, std::size_t total, const std::string& date) {
  std::string heading;
  const std::string watches = ChatLine(Join(n.watches, ", "));
  if (n.kind == "alert") {
    const std::string source = ChatLine(n.source);
    if (n.event == "source_failing") {
      heading = "Source " + source + " is failing";
    } else if (n.event == "source_recovered") {
      heading = "Source " + source + " recovered";
    } else {
      heading = "Alert: " + source;
    }
  } else if (n.kind == "highlights") {
    // A highlights entry with on_empty = "note" says so on a day without a digest.
    heading = total == 0 ? std::string("No papers today")
                         : "Top " + std::to_string(total) + (total == 1 ? " paper" : " papers");
    if (!watches.empty()) heading += " · " + watches;
    if (!date.empty()) heading += " · " + date;
  } else {
    heading = EventWords(n.event, total);
    if (!watches.empty()) heading += " · " + watches;
  }
  return CutText(heading, kHeadingChars, kCp);
}

std::string UtcDate(std::int64_t now) {
  using namespace std::chrono;
  const year_month_day d{floor<days>(sys_seconds{seconds{now}})};
  char out[16];
  std::snprintf(out, sizeof out, "%04d-%02u-%02u", int(d.year()), unsigned(d.month()),
                unsigned(d.day()));
  return out;
}

std::string ChatLineOf(std::string_view text) { return ChatLine(text); }

// `built_in`, or what `text` renders over `data` as one ChatLine-safe line of at most `max`.
std::string TemplatedLine(const MessageTemplate* text, const TemplateData& data,
                          std::string built_in, std::size_t max) {
  if (text == nullptr) return built_in;
  std::string line = CutText(ChatLine(text->Render(data, &NoEscape)), max, kCp);
  return line.empty() ? built_in : line;
}

std::string BuiltInMoreLine(std::int64_t more) {
  if (more <= 0) return {};
  return "and " + std::to_string(more) + (more == 1 ? " more paper" : " more papers");
}

}  // namespace

ChatMessage BuildChatMessage(const Notification& n, int max_papers, std::int64_t now,
                             const MessageTemplate* heading, const MessageTemplate* footer) {
  ChatMessage m;
  m.kind = n.kind;
  m.event = n.event;
  const std::size_t shown = std::min(n.papers.size(), std::size_t(std::max(1, max_papers)));
  m.more = static_cast<std::int64_t>(n.papers.size() - shown);
  m.more_url = SafeUrl(n.digest_url);
  m.date = n.papers.empty() || n.papers.front().date.empty() ? UtcDate(now)
                                                             : ChatLine(n.papers.front().date);
  m.heading = Heading(n, n.papers.size(), n.papers.empty() ? "" : m.date);
  m.more_line = BuiltInMoreLine(m.more);
  if (heading != nullptr || footer != nullptr) {
    const FrameFacts facts{.heading = m.heading,
                           .more_line = m.more_line,
                           .count = n.papers.size(),
                           .shown = shown,
                           .digest_url = m.more_url,
                           .date = m.date};
    const TemplateData data = FrameData(n, facts, &ChatLineOf);
    m.heading = TemplatedLine(heading, data, m.heading, kHeadingChars);
    if (m.more > 0) m.more_line = TemplatedLine(footer, data, m.more_line, kHeadingChars);
  }
  m.alert = CutText(ChatLine(n.message), kAlertChars, kCp);
  const Detail& full = kDetails[kFullDetail];
  for (std::size_t i = 0; i < shown; ++i) {
    const SourcedPaper& sp = n.papers[i];
    const Paper& p = sp.paper;
    ChatPaper c;
    c.title = CutText(ChatLine(p.title), full.title, kCp);
    if (c.title.empty()) c.title = "(untitled)";
    c.url = SafeUrl(p.url);
    c.votes = p.votes;
    c.event = ChatLine(n.EventOf(sp));
    c.change = Change(sp, n.EventOf(sp));
    for (const std::string& a : p.authors) {
      if (c.authors.size() == full.authors) break;
      std::string name = CutText(ChatLine(a), kAuthorChars, kCp);
      if (!name.empty()) c.authors.push_back(std::move(name));
    }
    c.authors_hidden = p.authors.size() - c.authors.size();
    c.authors_elided = p.authors_truncated;
    for (const std::string& w : n.WatchesOf(sp)) {
      if (c.watches.size() == full.watches) {
        ++c.watches_hidden;
        continue;
      }
      c.watches.push_back(CutText(ChatLine(w), kWatchChars, kCp));
    }
    std::string summary;
    for (const std::string& bullet : p.summary) {
      if (summary.size() > 4 * full.summary) break;  // enough to cut from
      const std::string line = ChatLine(CleanSummary(bullet));
      if (line.empty()) continue;
      if (!summary.empty()) summary += ' ';
      summary += line;
    }
    c.summary = CutText(summary, full.summary, kCp);
    const std::string media = SafeUrl(p.media_url);
    if (LooksLikeImage(media)) c.image_url = media;
    c.source = ChatLine(sp.source);
    c.date = ChatLine(sp.date);
    m.papers.push_back(std::move(c));
  }
  return m;
}

ChatPaper AtDetail(const ChatPaper& paper, int detail) {
  const Detail& d = kDetails[std::size_t(std::clamp(detail, kFullDetail, kLeastDetail))];
  ChatPaper out = paper;
  out.title = CutText(out.title, d.title, kCp);
  out.summary = d.summary == 0 ? std::string() : CutText(out.summary, d.summary, kCp);
  if (out.authors.size() > d.authors) {
    out.authors_hidden += out.authors.size() - d.authors;
    out.authors.resize(d.authors);
  }
  if (out.watches.size() > d.watches) {
    out.watches_hidden += out.watches.size() - d.watches;
    out.watches.resize(d.watches);
  }
  if (!d.image) out.image_url.clear();
  return out;
}

std::string MetaLine(const ChatPaper& p) {
  std::vector<std::string> parts;
  parts.push_back(p.change.empty() ? p.event : p.change);
  if (p.votes && p.event != "threshold") {
    parts.push_back(std::to_string(*p.votes) + (*p.votes == 1 ? " vote" : " votes"));
  }
  if (!p.source.empty()) parts.push_back(p.source);
  if (!p.date.empty()) parts.push_back(p.date);
  std::erase(parts, std::string());
  return Join(parts, " · ");
}

std::string AuthorsLine(const ChatPaper& p) {
  std::string line = Join(p.authors, ", ");
  if (p.authors_hidden > 0) {
    line += (line.empty() ? "" : " and ") + std::to_string(p.authors_hidden) +
            (line.empty() ? (p.authors_hidden == 1 ? " author" : " authors") : " more");
  } else if (p.authors_elided && !line.empty()) {
    line += " et al.";
  }
  return line;
}

std::string WatchesLine(const ChatPaper& p) {
  std::string line = Join(p.watches, ", ");
  if (p.watches_hidden > 0) line += " +" + std::to_string(p.watches_hidden);
  return line;
}

std::string MoreLine(const ChatMessage& m) {
  if (m.more <= 0) return {};
  return m.more_line.empty() ? BuiltInMoreLine(m.more) : m.more_line;
}

std::string ChatFrame::Label() const {
  if (count <= 1) return {};
  return " (" + std::to_string(index + 1) + "/" + std::to_string(count) + ")";
}

Result<std::vector<std::string>> PackChat(const ChatFormat& format, const ChatMessage& m) {
  const int most = std::max<int>(1, int(m.papers.size()));
  const ChatFrame widest{.message = &m, .index = most - 1, .count = most, .last = true};
  if (m.papers.empty()) {
    const ChatFrame only{.message = &m};
    std::string body = format.Body(only, {});
    if (!format.Fits(only, {}, body)) {
      return Unexpected("the message '" + m.heading + "' does not fit the target's limits");
    }
    return std::vector<std::string>{std::move(body)};
  }
  // Each paper at the most detail with which a part holding only it fits.
  std::vector<ChatPiece> pieces;
  for (const ChatPaper& paper : m.papers) {
    bool placed = false;
    for (int detail = kFullDetail; detail <= kLeastDetail && !placed; ++detail) {
      ChatPiece piece = format.Piece(AtDetail(paper, detail));
      const std::span<const ChatPiece> one(&piece, 1);
      if (format.Fits(widest, one, format.Body(widest, one))) {
        pieces.push_back(std::move(piece));
        placed = true;
      }
    }
    if (!placed) {
      return Unexpected("paper '" + paper.title + "' does not fit the target's limits");
    }
  }
  // As many papers per part as fit, in order.
  std::vector<std::pair<std::size_t, std::size_t>> ranges;  // [first, count)
  std::size_t first = 0;
  for (std::size_t end = 1; end <= pieces.size(); ++end) {
    const std::span<const ChatPiece> trial(pieces.data() + first, end - first);
    if (end - first > 1 && !format.Fits(widest, trial, format.Body(widest, trial))) {
      ranges.emplace_back(first, end - 1 - first);
      first = end - 1;
    }
  }
  ranges.emplace_back(first, pieces.size() - first);
  std::vector<std::string> bodies;
  for (std::size_t k = 0; k < ranges.size(); ++k) {
    const ChatFrame frame{.message = &m,
                          .index = int(k),
                          .count = int(ranges.size()),
                          .last = k + 1 == ranges.size()};
    const std::span<const ChatPiece> part(pieces.data() + ranges[k].first, ranges[k].second);
    std::string body = format.Body(frame, part);
    if (!format.Fits(frame, part, body)) {
      return Unexpected("part " + std::to_string(k + 1) + " does not fit the target's limits");
    }
    bodies.push_back(std::move(body));
  }
  return bodies;
}

std::string ChatPartId(const std::string& id, std::size_t index) {
  return index == 0 ? id : id + "-" + std::to_string(index);
}

std::string ShownTarget(std::string_view url) { return ShownByHost(url); }

std::optional<std::chrono::seconds> BodyRetryAfter(std::string_view body) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto number = [](const boost::json::value* n) -> std::optional<double> {
    if (n == nullptr) return std::nullopt;
    if (n->is_int64()) return double(n->get_int64());
    if (n->is_uint64()) return double(n->get_uint64());
    if (n->is_double()) return n->get_double();
    return std::nullopt;
  };
  const boost::json::object& o = v.get_object();
  std::optional<double> seconds = number(o.if_contains("retry_after"));
  if (!seconds) {
    if (const auto* p = o.if_contains("parameters"); p && p->is_object()) {
      seconds = number(p->get_object().if_contains("retry_after"));
    }
  }
  if (!seconds) {
    if (auto ms = number(o.if_contains("retry_after_ms"))) seconds = *ms / 1000.0;
  }
  if (!seconds || !(*seconds >= 0)) return std::nullopt;
  const double capped = std::min(std::ceil(*seconds), double(kMaxRetryAfter.count()));
  return std::chrono::seconds(static_cast<std::int64_t>(capped));
}

std::string JsonMember(std::string_view body, std::string_view path) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(body, ec);
  if (ec) return {};
  const boost::json::value* at = &v;
  while (!path.empty()) {
    const std::size_t dot = path.find('.');
    const std::string_view key = path.substr(0, dot);
    if (!at->is_object()) return {};
    at = at->get_object().if_contains(key);
    if (at == nullptr) return {};
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
  }
  if (at->is_string()) return std::string(at->get_string());
  if (at->is_int64()) return std::to_string(at->get_int64());
  if (at->is_uint64()) return std::to_string(at->get_uint64());
  return {};
}

Outcome ClassifyChat(const Response& response, std::span<const long> disable,
                     std::optional<std::chrono::seconds> default_retry_after) {
  Outcome out = ClassifyHttp(response);
  if (response.failure) return out;
  const long status = response.status;
  if (std::find(disable.begin(), disable.end(), status) != disable.end()) {
    out.kind = Outcome::Kind::kDisable;
    return out;
  }
  if (out.kind == Outcome::Kind::kRetry && (status == 429 || status == 503)) {
    const auto asked = BodyRetryAfter(response.body);
    if (asked && (!out.retry_after || *asked > *out.retry_after)) out.retry_after = asked;
    if (!out.retry_after && status == 429) out.retry_after = default_retry_after;
  }
  return out;
}

}  // namespace digestd
