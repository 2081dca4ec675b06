#include "core/notification.h"

#include <algorithm>
#include <map>

#include "core/hash.h"
#include "core/heap_growth.h"
#include "core/json_writer.h"
#include "core/paper_json.h"

namespace digestd {
namespace {

void WriteHeader(JsonWriter& json, const Notification& n, const std::string& event,
                 const std::vector<std::string>& watches) {
  json.Key("notification").String(n.id);
  json.Key("notifier").String(n.notifier);
  json.Key("kind").String(n.kind);
  json.Key("event").String(event);
  json.Key("watches").StringArray(watches);
}

// `own`: also the paper's own event, watches and previous values, when it has them (the
// outbox form).
void WriteSourcedPaper(JsonWriter& json, const SourcedPaper& p, bool own) {
  json.BeginObject();
  WritePaperMembers(json, p.paper);
  json.Key("source").StringOrNull(p.source);
  json.Key("date").StringOrNull(p.date);
  if (own && !p.event.empty()) json.Key("event").String(p.event);
  if (own && !p.watches.empty()) json.Key("watches").StringArray(p.watches);
  if (own && p.prior) WritePriorMembers(json, *p.prior);
  json.EndObject();
}

}  // namespace

void WritePriorMembers(JsonWriter& json, const PriorState& prior) {
  if (prior.votes) json.Key("prior_votes").Int(*prior.votes);
  if (!prior.version.empty()) json.Key("prior_version").String(prior.version);
  if (!prior.title.empty()) json.Key("prior_title").String(prior.title);
}

const PriorState& SourcedPaper::Prior() const {
  static const PriorState kNone;
  return prior ? *prior : kNone;
}

void SourcedPaper::SetPrior(PriorState state) {
  prior = state.empty() ? nullptr : std::make_shared<const PriorState>(std::move(state));
}

std::string NotificationId(std::string_view dedupe_key) { return Hash128Hex(dedupe_key); }

DigestGrouper::DigestGrouper(std::vector<std::string> grouped) : grouped_(std::move(grouped)) {}

void DigestGrouper::Add(Notification n) {
  const bool groups = n.kind == "instant" && !n.papers.empty() &&
                      std::find(grouped_.begin(), grouped_.end(), n.notifier) != grouped_.end();
  if (!groups) {
    if (!reserved_) {
      out_.reserve(out_.size() + expected_);
      reserved_ = true;
    }
    out_.push_back(std::move(n));
    return;
  }
  auto [it, fresh] = merged_.try_emplace(n.notifier, Merged{.index = out_.size()});
  Merged& merged = it->second;
  if (fresh) {
    Notification m;
    m.notifier = n.notifier;
    m.kind = "instant";
    m.event = n.event;
    m.digest_url = n.digest_url;
    m.dedupe_key = "digest";
    m.dedupe_key.append(1, '\x1f').append(n.notifier).append(1, '\x1f');
    m.dedupe_key.append(n.papers.front().source).append(1, '\x1f');
    m.dedupe_key.append(n.papers.front().date);
    merged.keys.Update(m.dedupe_key);
    m.papers.reserve(expected_);
    out_.push_back(std::move(m));
  }
  Notification& m = out_[merged.index];
  if (m.event != n.event) m.event = "mixed";
  for (const std::string& w : n.watches) {
    if (std::find(m.watches.begin(), m.watches.end(), w) == m.watches.end()) {
      m.watches.push_back(w);
    }
  }
  // The merged keys are hashed as they come, not kept: a long day's would be megabytes.
  merged.keys.Update('\x1e');
  merged.keys.Update(n.dedupe_key);
  for (std::size_t i = 0; i < n.papers.size(); ++i) {
    SourcedPaper& p = n.papers[i];
    p.event = n.event;
    p.watches = i + 1 == n.papers.size() ? std::move(n.watches) : n.watches;
    m.papers.push_back(std::move(p));
    PopulateNextEntries(m.papers);
  }
}

std::vector<Notification> DigestGrouper::Finish() {
  for (const auto& [notifier, merged] : merged_) {
    Notification& m = out_[merged.index];
    std::sort(m.watches.begin(), m.watches.end());
    // A paper whose watches are the whole message's keeps no copy of them (WatchesOf): on
    // a long day of one watch, every paper; the stored message is shorter by as much. Its
    // own event stays, and tells a merged message (local_channels.cc: GroupedByDigest).
    for (SourcedPaper& p : m.papers) {
      if (p.watches == m.watches) std::vector<std::string>().swap(p.watches);
    }
    // Room kept for a whole day's papers, where few matched, goes back.
    if (m.papers.capacity() > 2 * m.papers.size()) m.papers.shrink_to_fit();
    // The dedupe key stays short: what identifies it is the hash of everything it merged.
    m.dedupe_key.append(1, '\x1f').append(merged.keys.Hex());
    m.id = NotificationId(m.dedupe_key);
  }
  merged_.clear();
  return std::move(out_);
}

std::vector<Notification> GroupByDigest(std::vector<Notification> notifications,
                                        const std::vector<std::string>& grouped) {
  if (grouped.empty()) return notifications;  // the usual case, without a second list
  DigestGrouper grouper(grouped);
  for (Notification& n : notifications) grouper.Add(std::move(n));
  return grouper.Finish();
}

namespace {

// One line of NotificationJsonLines: `paper`'s, or the alert's when it is null.
void WriteJsonLine(JsonWriter& json, const Notification& n, const SourcedPaper* paper) {
  json.BeginObject();
  WriteHeader(json, n, paper ? n.EventOf(*paper) : n.event,
              paper ? n.WatchesOf(*paper) : n.watches);
  json.Key("paper");
  if (paper) {
    WriteSourcedPaper(json, *paper, false);
  } else {
    json.Null();
    json.Key("source").StringOrNull(n.source);
    json.Key("message").StringOrNull(n.message);
  }
  json.EndObject();
}

// Calls `line` with each paper of `n` in order, or once with null for an alert.
template <typename F>
void ForEachLine(const Notification& n, F line) {
  if (n.papers.empty()) line(nullptr);
  for (const SourcedPaper& p : n.papers) line(&p);
}

}  // namespace

std::vector<std::string> NotificationJsonLines(const Notification& n) {
  std::vector<std::string> lines;
  ForEachLine(n, [&](const SourcedPaper* paper) {
    JsonWriter json;
    WriteJsonLine(json, n, paper);
    lines.push_back(json.Take());
  });
  return lines;
}

void AppendNotificationJsonLines(const Notification& n, std::string& out) {
  // A line's header (ids, names, watches, source, date) and what a paper's members take.
  std::size_t size = 0;
  const auto header = [&](const std::vector<std::string>& watches) {
    std::size_t bytes = 128 + n.id.size() + n.notifier.size() + n.source.size() + n.message.size();
    for (const std::string& w : watches) bytes += w.size() + 3;
    return bytes;
  };
  ForEachLine(n, [&](const SourcedPaper* paper) {
    size += paper ? header(n.WatchesOf(*paper)) + PaperJsonSize(paper->paper) +
                        paper->source.size() + paper->date.size()
                  : header(n.watches);
  });
  out.reserve(out.size() + size);
  ForEachLine(n, [&](const SourcedPaper* paper) {
    JsonWriter json(std::move(out));
    WriteJsonLine(json, n, paper);
    out = json.Take();
    out += '\n';
  });
}

std::string NotificationToJson(const Notification& n) {
  JsonWriter json;
  json.BeginObject();
  WriteHeader(json, n, n.event, n.watches);
  json.Key("dedupe_key").String(n.dedupe_key);
  json.Key("papers").BeginArray();
  for (const SourcedPaper& p : n.papers) WriteSourcedPaper(json, p, true);
  json.EndArray();
  json.Key("source").StringOrNull(n.source);
  json.Key("message").StringOrNull(n.message);
  json.Key("digest_url").StringOrNull(n.digest_url);
  json.EndObject();
  return json.Take();
}

}  // namespace digestd
